//! The audit trail: one row per change, written in the change's own transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub org_id: Option<String>,
    /// `model`, `provider`, `endpoint`, `user`, `group`, `api_key`, `org`.
    pub entity: String,
    pub entity_id: String,
    /// `None` for changes the system made (catalog sync).
    pub actor_id: Option<String>,
    pub dialect: String,
    /// `create`, `update`, `replace`, `rename`, `toggle`, `delete`, `grants`, `import`, `sync`…
    pub action: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}
