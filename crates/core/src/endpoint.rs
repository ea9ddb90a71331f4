//! Endpoints: named, slugged entry points that serve a model (Syft Space's `connected_endpoints`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::model::ModelRef;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Endpoint {
    pub id: Uuid,
    pub org_id: String,
    pub name: String,
    /// Unique per org.
    pub slug: String,
    pub description: String,
    /// The model it serves (its `seq`), if any.
    pub model_seq: Option<i64>,
    pub owner_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub name: String,
    pub slug: String,
    pub description: String,
    pub model: Option<ModelRef>,
}

/// A user's chosen model for one purpose (Xagent's per-user defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct UserDefault {
    pub config_type: String,
    pub model: crate::model::ModelView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
