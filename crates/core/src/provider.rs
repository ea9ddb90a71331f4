//! Custom providers: an org's named upstream credentials that models can point at.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::fields::MapChange;
use crate::model::{JsonMap, SealedSecret, Secret};

/// Longest `provider_id` slug accepted.
pub const MAX_PROVIDER_SLUG_LEN: usize = 255;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Provider {
    /// Stable integer id.
    pub seq: i64,
    pub org_id: String,
    /// Slug, unique per org, immutable.
    pub provider_id: String,
    pub name: String,
    pub api_key: Option<SealedSecret>,
    /// Provider settings other than the key: base_url, timeout…
    pub extra: JsonMap,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Clone, Debug, Default)]
pub struct ProviderChange {
    pub name: Option<String>,
    /// `Some(None)` removes the stored key.
    pub api_key: Option<Option<Secret>>,
    pub extra: Option<MapChange>,
}

#[derive(Clone, Debug)]
pub struct NewProvider {
    pub provider_id: String,
    pub name: String,
    pub api_key: Option<Secret>,
    pub extra: JsonMap,
}

/// How a request names a provider: its integer id or its slug.
pub use crate::fields::ProviderRefInput as ProviderRef;
