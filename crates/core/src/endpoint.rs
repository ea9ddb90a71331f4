//! Endpoints: named, slugged entry points that serve a model (Syft Space's `connected_endpoints`
//! and its endpoints API).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::model::ModelRef;

/// What an endpoint answers with: the raw documents of a dataset, a model's summary, or both.
/// modelgate has no datasets, so only `Summary` endpoints can be created; the others exist so
/// that a client's value is refused with the right sentence rather than an unknown-value error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseType {
    Raw,
    Summary,
    Both,
}

impl ResponseType {
    pub const ALL: [Self; 3] = [Self::Raw, Self::Summary, Self::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Summary => "summary",
            Self::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Endpoint {
    pub id: Uuid,
    pub org_id: String,
    pub name: String,
    /// Unique per org.
    pub slug: String,
    pub description: String,
    /// A short text shown in listings.
    pub summary: String,
    pub response_type: ResponseType,
    /// Whether the owner marked it published (modelgate has no marketplace to publish to).
    pub published: bool,
    pub tags: Vec<String>,
    /// Overrides the model's system prompt for this endpoint.
    pub system_prompt: Option<String>,
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
    pub summary: String,
    pub response_type: ResponseType,
    pub published: bool,
    pub tags: Vec<String>,
    pub system_prompt: Option<String>,
    pub model: Option<ModelRef>,
}

impl NewEndpoint {
    /// An unpublished `summary` endpoint with no description, summary, tags or prompt.
    pub fn new(name: impl Into<String>, slug: impl Into<String>, model: Option<ModelRef>) -> Self {
        Self {
            name: name.into(),
            slug: slug.into(),
            description: String::new(),
            summary: String::new(),
            response_type: ResponseType::Summary,
            published: false,
            tags: Vec::new(),
            system_prompt: None,
            model,
        }
    }
}

/// A partial update of an endpoint: `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointChange {
    pub name: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the override.
    pub system_prompt: Option<Option<String>>,
}

impl EndpointChange {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.summary.is_none()
            && self.description.is_none()
            && self.system_prompt.is_none()
    }
}

/// A user's chosen model for one purpose (Xagent's per-user defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct UserDefault {
    /// Stable integer id of the choice (kept when the model is changed).
    pub id: i64,
    /// The user's stable integer number.
    pub user_seq: i64,
    pub config_type: String,
    pub model: crate::model::ModelView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
