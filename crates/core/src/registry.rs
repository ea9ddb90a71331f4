//! The registry contract: every operation a dialect or the admin API can ask for.
//!
//! Implemented by the store. Every operation authorizes through [`crate::policy`] and every
//! change runs in one transaction that locks what it changes, bumps `version` and `updated_at`
//! and appends an audit row. Methods block: call them from a blocking pool, except inside
//! [`Registry::read_prechecked`] with `memory_only`.

use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::endpoint::{Endpoint, EndpointChange, NewEndpoint, UserDefault};
use crate::error::{DomainResult, found};
use crate::fields::{FieldSet, ModelChange};
use crate::gateway::{Upstream, UsageQuery, UsageRecord, UsageRow};
use crate::identity::{Actor, ApiKey, Ctx, Group, Org, Role, User};
use crate::model::{ModelRef, ModelView, SealedSecret, Secret};
use crate::provider::{NewProvider, Provider, ProviderChange, ProviderRef};
use crate::query::{ModelEntry, ModelQuery, Page, ScanCursor};

/// A model to create in the caller's org, owned by the caller.
#[derive(Clone, Debug)]
pub struct NewModel {
    pub key: String,
    pub change: ModelChange,
}

#[derive(Clone, Debug, Default)]
pub struct ModelUpdate {
    /// New key (must be free in the org).
    pub rename: Option<String>,
    /// `Some(view)`: a full replace of that view — fields of the view the change leaves unset
    /// are reset, and the change may set nothing outside it. `None`: a partial change.
    pub replace: Option<FieldSet>,
    pub change: ModelChange,
    /// Refuse with [`crate::DomainError::VersionMismatch`] unless the model is at this version.
    pub expected_version: Option<i64>,
}

impl ModelUpdate {
    pub fn patch(change: ModelChange) -> Self {
        Self { change, ..Self::default() }
    }

    pub fn replace(view: FieldSet, change: ModelChange) -> Self {
        Self { replace: Some(view), change, ..Self::default() }
    }
}

/// One model of an import or upsert: created when its key is free, else its view replaced.
#[derive(Clone, Debug)]
pub struct UpsertModel {
    pub key: String,
    /// The view replaced when the model exists (see [`ModelUpdate::replace`]); `None` patches.
    pub replace: Option<FieldSet>,
    pub change: ModelChange,
}

/// The result of an upsert.
#[derive(Clone, Debug, PartialEq)]
pub struct Upserted {
    pub view: ModelView,
    pub created: bool,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    /// Chosen id; a uuid is generated when absent.
    pub id: Option<String>,
    /// The org to create the user in; the caller's org when absent.
    pub org_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
}

#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub role: Option<Role>,
}

#[derive(Clone, Debug)]
pub struct NewGroup {
    /// Chosen id (unique in the org); a uuid is generated when absent.
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub member_ids: Vec<String>,
}

/// A freshly issued API key: the only time its plaintext exists.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub plaintext: Secret,
}

/// What start-up bootstrap created, when there was nothing yet.
#[derive(Debug)]
pub struct Bootstrapped {
    pub org: Org,
    pub admin: User,
    pub key: IssuedKey,
}

/// A model of the built-in catalog.
#[derive(Clone, Debug)]
pub struct CatalogModel {
    pub key: String,
    pub change: ModelChange,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatalogSync {
    pub created: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
}

/// What an operator watches: the connection pool, the caches and how many models each org has.
/// Counters count from the start of the process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Telemetry {
    pub pool: PoolTelemetry,
    /// (cache name, reads it answered).
    pub cache_hits: Vec<(&'static str, u64)>,
    pub models: Vec<ModelCount>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolTelemetry {
    pub max_connections: u32,
    pub connections: u32,
    pub idle: u32,
    pub checkouts: u64,
    /// Time spent waiting for a connection, summed over every checkout.
    pub wait_seconds: f64,
    /// Checkouts that gave up waiting.
    pub timeouts: u64,
}

/// What a read given to [`Registry::read_prechecked`] came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromMemory {
    /// `read` ran to its end and its answer stands.
    Answered,
    /// `read` found something cached that the shared check could let it serve: wait for the
    /// check and try again.
    NeedsCheck,
    /// `read` needs the database: run it on the blocking pool.
    NeedsDatabase,
}

/// See [`Registry::shared_check`].
pub type SharedCheckWait =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<u64>> + Send + 'static>>;

/// Models of one org, or of the built-in catalog (`org_id` `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCount {
    pub org_id: Option<String>,
    pub total: u64,
}

pub trait Registry: Send + Sync + 'static {
    // ---- health and start-up ----

    /// Succeeds when the database answers.
    fn ping(&self) -> DomainResult<()>;

    // ---- reads answered from memory ----

    /// Where the requests of this replica share one freshness check (Postgres), a wait for
    /// the answer of a check that begins after this call, which holds no thread: an async
    /// worker awaits it, then hands it to [`Registry::read_prechecked`]. `None` where there is
    /// no such check (SQLite, whose look at its commits is a read of shared memory that a
    /// memory-only read makes itself).
    fn shared_check(&self) -> Option<SharedCheckWait>;

    /// Runs `read` against this registry with the request's shared check already answered
    /// (`answer`, from [`Registry::shared_check`]; `None` when it was not waited for), so that
    /// nothing in it waits for another. With `memory_only`, nothing in it waits for the database
    /// or for a check either — an async worker may run it: what would fails instead, and the
    /// answer says why, for the caller to wait for the check and try again, or to run `read`
    /// again without `memory_only` on the blocking pool, ignoring what it answered.
    fn read_prechecked(
        &self,
        answer: Option<Option<u64>>,
        memory_only: bool,
        read: &mut dyn FnMut(&dyn Registry),
    ) -> FromMemory;

    // ---- the inference gateway ----

    /// Where a call to `model` goes for this caller: the model must be readable and active, and
    /// have a base URL (its own, its custom provider's, or the org's credentials for its
    /// catalog provider). The key is decrypted for the call.
    fn upstream(&self, ctx: &Ctx, model: &str) -> DomainResult<Upstream>;

    /// Records metered calls, each with the context of the caller who made it (already
    /// authenticated by the call), in one transaction.
    fn record_usage(&self, calls: Vec<(Ctx, UsageRecord)>) -> DomainResult<()>;

    /// The org's usage over a time range, grouped (admins: every user's; others: their own).
    fn usage(&self, ctx: &Ctx, query: &UsageQuery) -> DomainResult<Vec<UsageRow>>;

    /// The pool, caches and model counts, for metrics. One cheap read of kept counts.
    fn telemetry(&self) -> DomainResult<Telemetry> {
        Ok(Telemetry::default())
    }

    /// Creates org `default`, an admin user and its API key when no user exists yet. With
    /// `admin_key` the key has that plaintext. Returns `None` when users already exist.
    fn bootstrap(&self, admin_key: Option<Secret>) -> DomainResult<Option<Bootstrapped>>;

    /// Makes the built-in models match `models`: creates, updates and removes.
    fn sync_catalog(&self, models: Vec<CatalogModel>) -> DomainResult<CatalogSync>;

    // ---- identity ----

    /// The caller behind a plaintext API key, or `None` for an unknown or revoked key.
    fn authenticate(&self, api_key: &str) -> DomainResult<Option<Actor>>;

    /// The caller behind a plaintext API key for a request through `dialect`, from memory alone:
    /// it never waits on IO, so it may be called on an async worker. The caller is marked
    /// [`Unconfirmed`](crate::Unconfirmed) and the registry confirms it in the request's first
    /// call. `None` when it is not remembered ([`Registry::authenticate`] then). Only for requests
    /// that call the registry before answering anything.
    fn remembered_caller(&self, _api_key: &str, _dialect: &'static str) -> Option<Ctx> {
        None
    }

    fn create_org(&self, ctx: &Ctx, id: Option<String>, name: String) -> DomainResult<Org>;
    fn list_orgs(&self, ctx: &Ctx) -> DomainResult<Vec<Org>>;
    fn get_org(&self, ctx: &Ctx, id: &str) -> DomainResult<Org>;

    fn create_user(&self, ctx: &Ctx, user: NewUser) -> DomainResult<User>;
    fn list_users(&self, ctx: &Ctx) -> DomainResult<Vec<User>>;
    fn get_user(&self, ctx: &Ctx, id: &str) -> DomainResult<User>;
    fn update_user(&self, ctx: &Ctx, id: &str, change: UserChange) -> DomainResult<User>;
    fn delete_user(&self, ctx: &Ctx, id: &str) -> DomainResult<()>;

    fn create_group(&self, ctx: &Ctx, group: NewGroup) -> DomainResult<Group>;
    fn list_groups(&self, ctx: &Ctx) -> DomainResult<Vec<Group>>;
    fn get_group(&self, ctx: &Ctx, id: &str) -> DomainResult<Group>;
    fn delete_group(&self, ctx: &Ctx, id: &str) -> DomainResult<()>;
    /// Replaces the members of a group.
    fn set_group_members(&self, ctx: &Ctx, id: &str, user_ids: Vec<String>) -> DomainResult<Group>;

    /// Issues a key for `user_id` (the caller when `None`): admins for anyone in the org, others
    /// for themselves.
    fn create_api_key(
        &self,
        ctx: &Ctx,
        user_id: Option<String>,
        name: String,
    ) -> DomainResult<IssuedKey>;
    /// The caller's keys; admins see every key of the org.
    fn list_api_keys(&self, ctx: &Ctx) -> DomainResult<Vec<ApiKey>>;
    /// Revokes at once: the next request with that key is refused.
    fn revoke_api_key(&self, ctx: &Ctx, id: &str) -> DomainResult<ApiKey>;

    // ---- models ----

    fn create_model(&self, ctx: &Ctx, model: NewModel) -> DomainResult<ModelView>;
    fn get_model(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<ModelView>;
    /// `model` and the model it runs on ([`Model::base_key`]), `None` for a base that is
    /// missing or that the caller cannot read. One call, so that a registry can check both at
    /// once.
    ///
    /// [`Model::base_key`]: crate::model::Model::base_key
    fn get_model_with_base(
        &self,
        ctx: &Ctx,
        model: &ModelRef,
    ) -> DomainResult<(ModelView, Option<ModelView>)> {
        read_with_base(model, |reference| self.get_model(ctx, reference))
    }
    fn update_model(
        &self,
        ctx: &Ctx,
        model: &ModelRef,
        update: ModelUpdate,
    ) -> DomainResult<ModelView>;
    /// Flips `is_active`.
    fn toggle_model(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<ModelView>;
    /// Deletes the model and the endpoints that serve it. Returns the model as it was.
    fn delete_model(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<ModelView>;
    /// Org admins only: deletes every custom model of the org, whoever owns it, in one
    /// transaction (each with its audit row). Catalog models stay. Returns how many went.
    fn delete_org_models(&self, ctx: &Ctx) -> DomainResult<usize>;
    fn list_models(&self, ctx: &Ctx, query: &ModelQuery) -> DomainResult<Page<ModelView>>;
    /// Up to `limit` models of `query` after `after`, for reading a long list in batches: sorted
    /// by the query's one ascending sort column (see [`ScanCursor::scannable`]; `seq` when it
    /// has none), ties by `seq`. No total, and the query's page is ignored.
    fn scan_models(
        &self,
        ctx: &Ctx,
        query: &ModelQuery,
        after: Option<&ScanCursor>,
        limit: i64,
    ) -> DomainResult<Vec<ModelView>>;
    /// [`Registry::scan_models`] reading only what [`ModelEntry`] names of each model.
    fn scan_model_entries(
        &self,
        ctx: &Ctx,
        query: &ModelQuery,
        after: Option<&ScanCursor>,
        limit: i64,
    ) -> DomainResult<Vec<ModelEntry>>;
    /// Whether a model exists in the caller's org (or the catalog), whether or not the caller may
    /// read it. For dialects whose wire format answers "not yours" differently from "missing";
    /// another org's models never exist.
    fn model_exists(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<bool>;
    fn upsert_model(&self, ctx: &Ctx, model: UpsertModel) -> DomainResult<Upserted>;
    /// Upserts every model in one transaction: all or nothing.
    fn import_models(&self, ctx: &Ctx, models: Vec<UpsertModel>) -> DomainResult<Vec<Upserted>>;
    /// Every change of a model, oldest first.
    fn model_history(&self, ctx: &Ctx, uuid: Uuid) -> DomainResult<Vec<AuditEvent>>;
    /// Whether a stored secret equals `candidate` (without ever returning the secret).
    fn secret_equals(&self, sealed: &SealedSecret, candidate: &str) -> DomainResult<bool>;

    // ---- custom providers ----

    fn create_provider(&self, ctx: &Ctx, provider: NewProvider) -> DomainResult<Provider>;
    fn get_provider(&self, ctx: &Ctx, provider: &ProviderRef) -> DomainResult<Provider>;
    fn list_providers(&self, ctx: &Ctx) -> DomainResult<Vec<Provider>>;
    fn update_provider(
        &self,
        ctx: &Ctx,
        provider: &ProviderRef,
        change: ProviderChange,
    ) -> DomainResult<Provider>;
    fn delete_provider(&self, ctx: &Ctx, provider: &ProviderRef) -> DomainResult<Provider>;

    // ---- endpoints ----

    fn create_endpoint(&self, ctx: &Ctx, endpoint: NewEndpoint) -> DomainResult<Endpoint>;
    fn get_endpoint(&self, ctx: &Ctx, slug: &str) -> DomainResult<Endpoint>;
    /// Every endpoint of the org, oldest first.
    fn list_endpoints(&self, ctx: &Ctx) -> DomainResult<Vec<Endpoint>>;
    /// The org's endpoints serving any of these models (by `seq`), oldest first.
    fn model_endpoints(&self, ctx: &Ctx, model_seqs: &[i64]) -> DomainResult<Vec<Endpoint>>;
    /// `model` and the org's endpoints that serve it ([`Registry::model_endpoints`]). One call,
    /// so that a registry can check both at once.
    fn get_model_with_endpoints(
        &self,
        ctx: &Ctx,
        model: &ModelRef,
    ) -> DomainResult<(ModelView, Vec<Endpoint>)> {
        let view = self.get_model(ctx, model)?;
        let endpoints = self.model_endpoints(ctx, &[view.model.seq])?;
        Ok((view, endpoints))
    }
    /// A partial change, by the endpoint's owner or an org admin.
    fn update_endpoint(
        &self,
        ctx: &Ctx,
        slug: &str,
        change: EndpointChange,
    ) -> DomainResult<Endpoint>;
    fn delete_endpoint(&self, ctx: &Ctx, slug: &str) -> DomainResult<Endpoint>;

    // ---- per-user defaults ----

    /// Sets the caller's default model for `config_type` (needs read access to the model).
    fn set_user_default(
        &self,
        ctx: &Ctx,
        config_type: &str,
        model: &ModelRef,
    ) -> DomainResult<UserDefault>;
    /// The caller's defaults whose models it can still read.
    fn list_user_defaults(&self, ctx: &Ctx) -> DomainResult<Vec<UserDefault>>;
    fn delete_user_default(&self, ctx: &Ctx, config_type: &str) -> DomainResult<()>;
}

/// `model` read by `get`, and the model it runs on ([`Model::base_key`]) read the same way,
/// `None` when that base is missing or unreadable: [`Registry::get_model_with_base`] for any way
/// of reading one model.
///
/// [`Model::base_key`]: crate::model::Model::base_key
pub fn read_with_base(
    model: &ModelRef,
    get: impl Fn(&ModelRef) -> DomainResult<ModelView>,
) -> DomainResult<(ModelView, Option<ModelView>)> {
    let view = get(model)?;
    let base = match view.model.base_key() {
        None => None,
        Some(base) => found(get(&ModelRef::Key(base.to_owned())))?,
    };
    Ok((view, base))
}
