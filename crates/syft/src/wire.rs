//! The Syft wire shapes of models and endpoints, and the mapping between `configuration` and
//! the canonical fields.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use modelgate_core::{Endpoint, JsonMap, MapChange, Model, ModelChange, Secret};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::types::{API_KEY, BASE_URL, CANONICAL_KEYS, MODEL, SYSTEM_PROMPT};

/// This dialect's `extra` key for configuration entries without a canonical field.
const EXTRA_CONFIGURATION: &str = "configuration";
const DIALECT: &str = "syft";

/// ISO 8601 in UTC as pydantic writes an aware datetime: `2024-03-15T10:30:00Z`, with
/// `.ffffff` only when there are microseconds (the store keeps microseconds).
pub fn iso(t: DateTime<Utc>) -> String {
    let micros = t.timestamp_subsec_micros();
    if micros == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        format!("{}.{micros:06}Z", t.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// `tags` on the wire: a comma-separated string, joined without spaces.
pub fn tags_out(tags: &[String]) -> String {
    tags.join(",")
}

pub fn tags_in(tags: &str) -> Vec<String> {
    tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// The configuration Syft shows: canonical keys first (api_key masked), then the dialect's own
/// keys verbatim.
pub fn configuration(model: &Model) -> Map<String, Value> {
    let fields = &model.fields;
    let mut out = Map::new();
    if let Some(key) = &fields.api_key {
        out.insert(API_KEY.into(), json!(key.mask));
    }
    if let Some(base_model) = &fields.base_model {
        out.insert(MODEL.into(), json!(base_model));
    }
    if let Some(base_url) = &fields.base_url {
        out.insert(BASE_URL.into(), json!(base_url));
    }
    if let Some(prompt) = fields.params.get(SYSTEM_PROMPT) {
        out.insert(SYSTEM_PROMPT.into(), prompt.clone());
    }
    if let Some(Value::Object(rest)) = fields.extra_for(DIALECT).get(EXTRA_CONFIGURATION) {
        for (key, value) in rest {
            if !out.contains_key(key) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// The configuration as it will be stored: canonical keys normalised the way core stores them
/// (trimmed, empty dropped), so what a client sent can be compared with what is stored.
pub fn normalized(configuration: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in configuration {
        let value = match (key.as_str(), value) {
            (API_KEY, Value::String(s)) if s.is_empty() => continue,
            (MODEL | BASE_URL, Value::String(s)) if s.trim().is_empty() => continue,
            (MODEL | BASE_URL, Value::String(s)) => json!(s.trim()),
            (_, other) => other.clone(),
        };
        out.insert(key.clone(), value);
    }
    out
}

/// The canonical change a create body makes. `configuration` has been checked: its canonical
/// keys are strings.
pub fn create_change(
    dtype: &str,
    configuration: &Map<String, Value>,
    summary: &str,
    tags: &str,
) -> ModelChange {
    let text = |key: &str| configuration.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut change = ModelChange {
        provider: Some(Some(dtype.to_owned())),
        description: Some(Some(summary.to_owned()).filter(|s| !s.is_empty())),
        tags: Some(tags_in(tags)),
        ..ModelChange::default()
    };
    if let Some(key) = text(API_KEY) {
        change.api_key = Some(Some(Secret::new(key)));
    }
    if let Some(model) = text(MODEL) {
        change.base_model = Some(Some(model));
    }
    if let Some(url) = text(BASE_URL) {
        change.base_url = Some(Some(url));
    }
    // Merge: other dialects' params (temperature…) are never wiped by Syft.
    if let Some(prompt) = configuration.get(SYSTEM_PROMPT) {
        change.params = Some(MapChange::Merge(JsonMap::from_iter([(
            SYSTEM_PROMPT.to_owned(),
            prompt.clone(),
        )])));
    }
    let rest: Map<String, Value> = configuration
        .iter()
        .filter(|(key, _)| !CANONICAL_KEYS.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        change.extra = Some(MapChange::Merge(JsonMap::from_iter([(
            EXTRA_CONFIGURATION.to_owned(),
            Value::Object(rest),
        )])));
    }
    change
}

/// `dtype`: the canonical provider type (empty for models created elsewhere without one).
pub fn dtype(model: &Model) -> &str {
    model.fields.provider.as_deref().unwrap_or_default()
}

/// Which of Syft Space's model schemas to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `ModelResponse` (create): no `connected_endpoints`.
    Model,
    /// `ModelResponseWithEndpoints` (get, PATCH).
    WithEndpoints,
    /// `ModelListItem`: no `updated_at`.
    ListItem,
}

pub fn endpoint_ref(endpoint: &Endpoint) -> Value {
    json!({ "id": endpoint.id, "name": endpoint.name, "slug": endpoint.slug })
}

pub fn model(model: &Model, connected: &[&Endpoint], shape: Shape) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(model.uuid));
    out.insert("name".into(), json!(model.key));
    out.insert("dtype".into(), json!(dtype(model)));
    out.insert("configuration".into(), Value::Object(configuration(model)));
    out.insert("summary".into(), json!(model.fields.description.as_deref().unwrap_or_default()));
    out.insert("tags".into(), json!(tags_out(&model.fields.tags)));
    out.insert("created_at".into(), json!(iso(model.created_at)));
    if shape != Shape::ListItem {
        out.insert("updated_at".into(), json!(iso(model.updated_at)));
    }
    if shape != Shape::Model {
        let refs: Vec<Value> = connected.iter().map(|e| endpoint_ref(e)).collect();
        out.insert("connected_endpoints".into(), Value::Array(refs));
    }
    Value::Object(out)
}

/// Endpoints grouped by the model they serve (its `seq`), in their listing order.
pub fn by_model(endpoints: &[Endpoint]) -> HashMap<i64, Vec<&Endpoint>> {
    let mut grouped: HashMap<i64, Vec<&Endpoint>> = HashMap::new();
    for endpoint in endpoints {
        if let Some(seq) = endpoint.model_seq {
            grouped.entry(seq).or_default().push(endpoint);
        }
    }
    grouped
}

/// `AttachedModel`: the model an endpoint serves, as the endpoint shows it.
#[derive(Debug, Serialize)]
pub struct AttachedModel {
    pub id: Uuid,
    pub name: String,
    pub dtype: String,
    /// As the models API shows it: `api_key` masked.
    pub configuration: Map<String, Value>,
}

impl AttachedModel {
    pub fn of(model: &Model) -> Self {
        Self {
            id: model.uuid,
            name: model.key.clone(),
            dtype: dtype(model).to_owned(),
            configuration: configuration(model),
        }
    }
}

/// The fields every endpoint answer starts with (Syft Space's `EndpointResponse`).
#[derive(Debug, Serialize)]
pub struct EndpointResponse {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub summary: String,
    pub response_type: &'static str,
    pub published: bool,
    pub tags: String,
    pub system_prompt: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointResponse {
    pub fn of(endpoint: &Endpoint) -> Self {
        Self {
            id: endpoint.id,
            name: endpoint.name.clone(),
            slug: endpoint.slug.clone(),
            description: endpoint.description.clone(),
            summary: endpoint.summary.clone(),
            response_type: endpoint.response_type.as_str(),
            published: endpoint.published,
            tags: tags_out(&endpoint.tags),
            system_prompt: endpoint.system_prompt.clone(),
            created_at: iso(endpoint.created_at),
            updated_at: iso(endpoint.updated_at),
        }
    }
}

/// modelgate has no datasets: every `dataset` and `dataset_id` is `null`.
type NoDataset = Option<()>;

/// What create answers (`EndpointCreateResponse`): the ids instead of embedded objects.
#[derive(Debug, Serialize)]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: EndpointResponse,
    pub model_id: Option<Uuid>,
    pub dataset_id: NoDataset,
}

/// What GET and PATCH of one endpoint answer (`EndpointDetailResponse`).
#[derive(Debug, Serialize)]
pub struct EndpointDetail {
    #[serde(flatten)]
    pub endpoint: EndpointResponse,
    pub model: Option<AttachedModel>,
    pub dataset: NoDataset,
    /// modelgate has no policies.
    pub policies: [(); 0],
}

impl EndpointDetail {
    pub fn of(endpoint: &Endpoint, model: Option<&Model>) -> Self {
        Self {
            endpoint: EndpointResponse::of(endpoint),
            model: model.map(AttachedModel::of),
            dataset: None,
            policies: [],
        }
    }
}

/// One endpoint of a listing (`EndpointListItem`): no `description`, no `updated_at`.
#[derive(Debug, Serialize)]
pub struct EndpointListItem {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub summary: String,
    pub response_type: &'static str,
    pub published: bool,
    pub tags: String,
    pub system_prompt: Option<String>,
    pub created_at: String,
    pub model: Option<AttachedModel>,
    pub dataset: NoDataset,
}

impl EndpointListItem {
    pub fn of(endpoint: &Endpoint, model: Option<&Model>) -> Self {
        Self {
            id: endpoint.id,
            name: endpoint.name.clone(),
            slug: endpoint.slug.clone(),
            summary: endpoint.summary.clone(),
            response_type: endpoint.response_type.as_str(),
            published: endpoint.published,
            tags: tags_out(&endpoint.tags),
            system_prompt: endpoint.system_prompt.clone(),
            created_at: iso(endpoint.created_at),
            model: model.map(AttachedModel::of),
            dataset: None,
        }
    }
}

/// One marketplace's answer to a slug check. modelgate has no marketplaces, so every id names
/// none.
#[derive(Debug, Serialize)]
pub struct MarketplaceAvailability {
    pub marketplace_id: Uuid,
    pub available: Option<bool>,
    pub error: Option<&'static str>,
}

/// `SlugAvailabilityResponse`.
#[derive(Debug, Serialize)]
pub struct SlugAvailability {
    pub slug: String,
    pub local_available: bool,
    pub marketplaces: Option<Vec<MarketplaceAvailability>>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_look_like_pydantic() {
        let whole = Utc.with_ymd_and_hms(2024, 3, 15, 10, 30, 0).single().unwrap_or_default();
        assert_eq!(iso(whole), "2024-03-15T10:30:00Z");
        let fraction = whole + chrono::Duration::microseconds(1500);
        assert_eq!(iso(fraction), "2024-03-15T10:30:00.001500Z");
    }

    #[test]
    fn tags_round_trip_without_spaces() {
        assert_eq!(tags_in(" openai, gpt-4,,production "), vec!["openai", "gpt-4", "production"]);
        assert_eq!(tags_out(&tags_in("a, b")), "a,b");
    }

    #[test]
    fn create_maps_canonical_keys_and_keeps_the_rest() {
        let configuration = json!({
            "api_key": "sk-proj-1234567890abcd", "model": "gpt-4",
            "base_url": "https://api.openai.com/v1", "system_prompt": "Be nice.", "organization": "org-1"
        });
        let change =
            create_change("openai", configuration.as_object().unwrap_or(&Map::new()), "", "a,b");
        assert_eq!(change.base_model, Some(Some("gpt-4".into())));
        assert_eq!(change.description, Some(None));
        assert!(matches!(change.api_key, Some(Some(_))));
        assert_eq!(
            change.extra,
            Some(MapChange::Merge(JsonMap::from_iter([(
                "configuration".to_owned(),
                json!({"organization": "org-1"})
            )])))
        );
        assert_eq!(
            change.params,
            Some(MapChange::Merge(JsonMap::from_iter([(
                "system_prompt".to_owned(),
                json!("Be nice.")
            )])))
        );
    }
}
