//! modelgate core: the canonical registry model, its commands, the one policy and the one error
//! type. No IO: the store implements [`Registry`], dialects call it.

pub mod audit;
pub mod endpoint;
pub mod error;
pub mod fields;
pub mod gateway;
pub mod identity;
pub mod model;
pub mod policy;
pub mod provider;
pub mod query;
pub mod registry;

pub use audit::AuditEvent;
pub use endpoint::{Endpoint, EndpointChange, NewEndpoint, ResponseType, UserDefault};
pub use error::{Denied, DomainError, DomainResult, Entity, FieldError, Subject, Violation};
pub use fields::{Field, FieldSet, MapChange, ModelChange, ProviderRefInput};
pub use identity::{Actor, ApiKey, Ctx, Group, Org, Role, Unconfirmed, User};
pub use model::{
    Grant, JsonMap, MAX_KEY_LEN, Model, ModelFields, ModelRef, ModelView, Permission, Pricing,
    PrincipalKind, Rights, SealedSecret, Sealer, Secret, Source,
};
pub use policy::Action;
pub use provider::{NewProvider, Provider, ProviderChange, ProviderRef};
pub use query::{
    Column, Condition, ModelEntry, ModelQuery, Op, Page, PageRequest, ScanCursor, Sort, Target,
    Value,
};
pub use registry::{
    Bootstrapped, CatalogModel, CatalogSync, FromMemory, IssuedKey, ModelCount, ModelUpdate,
    NewGroup, NewModel, NewUser, PoolTelemetry, Registry, SharedCheckWait, Telemetry, UpsertModel,
    Upserted, UserChange,
};
