//! Response shapes: the model with the caller's access flags, and per-user defaults.

use chrono::{DateTime, Timelike, Utc};
use modelgate_core::{ModelView, UserDefault};
use serde::Serialize;
use serde_json::Value;

use crate::abilities::{abilities_of, category_of};

/// ISO 8601 as Python's `datetime.isoformat()` prints an aware UTC time: microseconds only
/// when there are any, and a `+00:00` offset.
pub fn iso(time: DateTime<Utc>) -> String {
    if time.nanosecond() / 1_000 == 0 {
        time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// A model as Xagent returns it (`ModelWithAccessInfo`), fields in Xagent's order.
#[derive(Debug, Serialize)]
pub struct ModelOut {
    pub id: i64,
    pub model_id: String,
    pub category: String,
    pub model_provider: String,
    pub model_name: String,
    pub base_url: Option<String>,
    pub temperature: Option<f64>,
    pub context_window: Option<i64>,
    pub dimension: Option<i64>,
    pub abilities: Option<Vec<String>>,
    pub description: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub is_active: bool,
    pub is_owner: bool,
    pub can_edit: bool,
    pub can_delete: bool,
    pub is_shared: bool,
}

impl ModelOut {
    pub fn of(view: &ModelView) -> Self {
        let model = &view.model;
        let fields = &model.fields;
        Self {
            id: model.seq,
            model_id: model.key.clone(),
            category: category_of(fields),
            // Required strings in Xagent: a model written by another dialect may lack them.
            model_provider: fields.provider.clone().unwrap_or_default(),
            model_name: fields.base_model.clone().unwrap_or_else(|| model.key.clone()),
            base_url: fields.base_url.clone(),
            temperature: fields.params.get("temperature").and_then(Value::as_f64),
            context_window: fields.context_window,
            dimension: fields.dimension,
            abilities: abilities_of(fields),
            description: fields.description.clone(),
            created_at: Some(iso(model.created_at)),
            updated_at: Some(iso(model.updated_at)),
            is_active: fields.is_active,
            is_owner: view.rights.is_owner,
            can_edit: view.rights.write,
            can_delete: view.rights.write,
            // Catalog models are visible to every user, which is what "shared" means to Xagent.
            is_shared: fields.public || model.is_builtin(),
        }
    }
}

/// A per-user default (`UserDefaultModelResponse`). Xagent's client insists on positive integers
/// for `id` and `user_id`: they are the default's and the user's stable numbers.
#[derive(Debug, Serialize)]
pub struct DefaultOut {
    pub id: i64,
    pub user_id: i64,
    pub model_id: i64,
    pub config_type: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelOut>,
}

impl DefaultOut {
    pub fn of(default: &UserDefault, with_model: bool) -> Self {
        Self {
            id: default.id,
            user_id: default.user_seq,
            model_id: default.model.model.seq,
            config_type: default.config_type.clone(),
            created_at: Some(iso(default.created_at)),
            updated_at: Some(iso(default.updated_at)),
            model: with_model.then(|| ModelOut::of(&default.model)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_print_like_python_isoformat() {
        let whole = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).single().unwrap_or_default();
        assert_eq!(iso(whole), "2025-03-04T05:06:07+00:00");
        let fraction = whole + chrono::Duration::microseconds(1234);
        assert_eq!(iso(fraction), "2025-03-04T05:06:07.001234+00:00");
    }
}
