//! Reading Xagent's request bodies and query strings the way its pydantic models do, and turning
//! them into core changes.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use modelgate_core::{JsonMap, MapChange, ModelChange, ModelRef, Secret};
use modelgate_http::detail;
use modelgate_http::input::{Fields, Issue, IssueKind, Loc, Opt};
use serde_json::{Map, Value, json};

use crate::abilities::{CATEGORIES, DEFAULT_CATEGORY, capabilities_for, check_for_category};
use crate::errors::{not_an_object, unprocessable};

/// Why a request was refused before reaching the registry.
#[derive(Debug)]
pub enum Refusal {
    /// Validation problems: FastAPI's 422.
    Issues(Vec<Issue>),
    /// A body that is not a JSON object.
    NotAnObject(Value),
    /// A check of the endpoint's own, answered `{"detail": message}`.
    Detail(StatusCode, &'static str),
}

impl Refusal {
    pub fn render(self) -> HttpResponse {
        match self {
            Refusal::Issues(issues) => unprocessable(&issues),
            Refusal::NotAnObject(body) => not_an_object(&body),
            Refusal::Detail(status, message) => detail(status, message),
        }
    }
}

/// Xagent's create-only speech/rerank settings: no canonical field, so they live in the
/// dialect's `extra` namespace.
const CREATE_EXTRAS: [(&str, Kind); 6] = [
    ("top_n", Kind::Int),
    ("instruct", Kind::Text),
    ("language", Kind::Text),
    ("voice", Kind::Text),
    ("format", Kind::Text),
    ("sample_rate", Kind::Int),
];

/// The ones an update may change.
const UPDATE_EXTRAS: [(&str, Kind); 4] = [
    ("language", Kind::Text),
    ("voice", Kind::Text),
    ("format", Kind::Text),
    ("sample_rate", Kind::Int),
];

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
}

/// The config types `POST /user-default` accepts, in the order its message lists them (the
/// order Xagent's client knows them in).
pub const CONFIG_TYPES: [&str; 14] = [
    "general",
    "small_fast",
    "visual",
    "compact",
    "embedding",
    "image",
    "image_edit",
    "video",
    "asr",
    "tts",
    "speech",
    "sound_effect",
    "music",
    "rerank",
];

fn body_fields(body: &Value) -> Result<Fields<'_>, Refusal> {
    if body.is_object() {
        Ok(Fields::new(body, &[Loc::from("body")]))
    } else {
        Err(Refusal::NotAnObject(body.clone()))
    }
}

fn trim(s: String) -> String {
    s.trim().to_owned()
}

/// A `str` field with a default: absent gives the default, `null` is refused as pydantic does.
fn defaulted_string(f: &mut Fields<'_>, name: &str, default: &str) -> Option<String> {
    match f.string(name) {
        Opt::Value(s) => Some(s),
        Opt::Null => {
            f.issue(name, IssueKind::Null, Value::Null);
            None
        }
        // Absent after a type error (already recorded) or really absent.
        Opt::Absent => (!f.has(name)).then(|| default.to_owned()),
    }
}

fn defaulted_bool(f: &mut Fields<'_>, name: &str, default: bool) -> Option<bool> {
    match f.bool(name) {
        Opt::Value(b) => Some(b),
        Opt::Null => {
            f.issue(name, IssueKind::BoolType, Value::Null);
            None
        }
        Opt::Absent => (!f.has(name)).then_some(default),
    }
}

/// Reads the dialect-only settings: a value sets the key, `null` removes it.
fn extras(f: &mut Fields<'_>, names: &[(&str, Kind)], null_removes: bool) -> Option<MapChange> {
    let mut map = JsonMap::new();
    for (name, kind) in names {
        let value = match kind {
            Kind::Int => f.int(name).map(Value::from),
            Kind::Text => f.string(name).map(Value::String),
        };
        match value {
            Opt::Value(v) => {
                map.insert((*name).to_owned(), v);
            }
            Opt::Null if null_removes => {
                map.insert((*name).to_owned(), Value::Null);
            }
            _ => {}
        }
    }
    (!map.is_empty()).then_some(MapChange::Merge(map))
}

fn temperature_change(value: Value) -> MapChange {
    let mut map = Map::new();
    map.insert("temperature".to_owned(), value);
    MapChange::Merge(map)
}

fn non_empty_key(key: String) -> Option<Option<Secret>> {
    let key = trim(key);
    // An empty key means "keep the stored one" in Xagent.
    (!key.is_empty()).then(|| Some(Secret::new(key)))
}

fn check_abilities(f: &mut Fields<'_>, abilities: &Opt<Vec<String>>, category: Option<&str>) {
    if let (Opt::Value(list), Some(category)) = (abilities, category)
        && let Err(message) = check_for_category(list, category)
    {
        f.issue("abilities", IssueKind::Value { message }, json!(list));
    }
}

/// A create (`POST /`, `POST /register`).
pub struct Create {
    pub key: String,
    pub change: ModelChange,
}

pub fn create(body: &Value) -> Result<Create, Refusal> {
    let mut f = body_fields(body)?;
    let model_id = f.required_string("model_id").map(trim);
    let category = defaulted_string(&mut f, "category", DEFAULT_CATEGORY);
    let provider = f.required_string("model_provider");
    let model_name = f.required_string("model_name").map(trim);
    let api_key = f.string("api_key").value();
    let base_url = f.string("base_url").value().map(trim);
    let temperature = f.float("temperature").value();
    let dimension = f.int("dimension").value();
    let abilities = f.string_list("abilities");
    // pydantic validates abilities against the category when it parsed, else against "llm".
    let checked_against = category.clone().unwrap_or_else(|| DEFAULT_CATEGORY.to_owned());
    check_abilities(&mut f, &abilities, Some(&checked_against));
    let description = f.string("description").value();
    let share = defaulted_bool(&mut f, "share_with_users", false);
    let extra = extras(&mut f, &CREATE_EXTRAS, false);
    let context_window = f.int("context_window").value();
    let is_active = f.bool("is_active").value();
    f.finish().map_err(Refusal::Issues)?;
    let (Some(key), Some(category), Some(provider), Some(model_name), Some(share)) =
        (model_id, category, provider, model_name, share)
    else {
        return Err(Refusal::Issues(Vec::new()));
    };
    if !CATEGORIES.contains(&category.trim().to_lowercase().as_str()) {
        return Err(Refusal::Detail(StatusCode::BAD_REQUEST, "Invalid model category"));
    }
    let change = ModelChange {
        category: Some(Some(category)),
        provider: Some(Some(provider)),
        base_model: Some(Some(model_name)),
        api_key: api_key.and_then(non_empty_key),
        base_url: base_url.map(Some),
        params: temperature.map(|t| temperature_change(json!(t))),
        dimension: dimension.map(Some),
        capabilities: abilities.value().map(|list| MapChange::Set(Some(capabilities_for(&list)))),
        description: description.map(Some),
        public: share.then_some(true),
        extra,
        context_window: context_window.map(Some),
        is_active,
        ..ModelChange::default()
    };
    Ok(Create { key, change })
}

/// A partial update (`PUT /{model_id}`): only what was sent changes.
pub fn update(body: &Value) -> Result<ModelChange, Refusal> {
    let mut f = body_fields(body)?;
    // `null` for a field Xagent stores as NOT NULL leaves it alone rather than failing.
    let category = f.string("category").value();
    let provider = f.string("model_provider").value();
    let model_name = f.string("model_name").value().map(trim);
    let api_key = f.string("api_key").value();
    let base_url = f.string("base_url").map(trim);
    let temperature = f.float("temperature");
    let dimension = f.int("dimension");
    let description = f.string("description");
    let abilities = f.string_list("abilities");
    // Xagent checks abilities against the category only when the update sends a category.
    check_abilities(&mut f, &abilities, category.as_deref());
    let share = f.bool("share_with_users").value();
    let extra = extras(&mut f, &UPDATE_EXTRAS, true);
    let context_window = f.int("context_window");
    let is_active = f.bool("is_active").value();
    f.finish().map_err(Refusal::Issues)?;
    Ok(ModelChange {
        category: category.map(Some),
        provider: provider.map(Some),
        base_model: model_name.map(Some),
        api_key: api_key.and_then(non_empty_key),
        base_url: base_url.into_patch(),
        params: match temperature {
            Opt::Value(t) => Some(temperature_change(json!(t))),
            Opt::Null => Some(temperature_change(Value::Null)),
            Opt::Absent => None,
        },
        dimension: dimension.into_patch(),
        description: description.into_patch(),
        capabilities: match abilities {
            Opt::Value(list) => Some(MapChange::Set(Some(capabilities_for(&list)))),
            Opt::Null => Some(MapChange::Set(None)),
            Opt::Absent => None,
        },
        public: share,
        extra,
        context_window: context_window.into_patch(),
        is_active,
        ..ModelChange::default()
    })
}

/// `GET /` query parameters.
#[derive(Debug, PartialEq)]
pub struct ListQuery {
    pub skip: i64,
    pub limit: i64,
    pub provider: Option<String>,
    pub category: Option<String>,
    pub is_active: bool,
}

pub const MAX_LIMIT: i64 = 1000;

pub fn list_query(query_string: &str) -> Result<ListQuery, Refusal> {
    // The last occurrence of a repeated parameter wins.
    let params: Map<String, Value> = url::form_urlencoded::parse(query_string.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let params = Value::Object(params);
    let mut f = Fields::new(&params, &[Loc::from("query")]);
    let raw = |name: &str| params.get(name).cloned().unwrap_or(Value::Null);
    let skip = f.int("skip").value().unwrap_or(0);
    if skip < 0 {
        f.issue("skip", IssueKind::GreaterThanEqual { min: 0.0 }, raw("skip"));
    }
    let limit = f.int("limit").value().unwrap_or(100);
    if limit < 1 {
        f.issue("limit", IssueKind::GreaterThanEqual { min: 1.0 }, raw("limit"));
    } else if limit > MAX_LIMIT {
        f.issue("limit", IssueKind::LessThanEqual { max: MAX_LIMIT as f64 }, raw("limit"));
    }
    // Empty filters are no filters, as in Xagent (`if model_provider:`).
    let text = |v: Option<String>| v.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let provider = text(f.string("model_provider").value());
    let category = text(f.string("category").value());
    let is_active = f.bool("is_active").value().unwrap_or(true);
    f.finish().map_err(Refusal::Issues)?;
    Ok(ListQuery { skip, limit, provider, category, is_active })
}

/// `POST /user-default`: `{model_id: int, config_type: str}`.
pub fn user_default(body: &Value) -> Result<(i64, String), Refusal> {
    let mut f = body_fields(body)?;
    let model_id = f.required_int("model_id");
    let config_type = f.required_string("config_type");
    if let Some(config_type) = &config_type
        && !CONFIG_TYPES.contains(&config_type.as_str())
    {
        let valid: Vec<String> = CONFIG_TYPES.iter().map(|t| format!("'{t}'")).collect();
        let message = format!(
            "Invalid config_type: {config_type}. Valid types are: {{{}}}",
            valid.join(", ")
        );
        f.issue("config_type", IssueKind::Value { message }, json!(config_type));
    }
    f.finish().map_err(Refusal::Issues)?;
    match (model_id, config_type) {
        (Some(id), Some(config_type)) => Ok((id, config_type)),
        _ => Err(Refusal::Issues(Vec::new())),
    }
}

/// The model a path names: all digits is the integer `id`, anything else the `model_id`,
/// percent-decoded once more (as Xagent does) and trimmed.
pub fn model_ref(raw: &str) -> ModelRef {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let id = decoded.trim();
    if !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && let Ok(seq) = id.parse::<i64>()
    {
        return ModelRef::Seq(seq);
    }
    ModelRef::Key(id.to_owned())
}

/// Which category a default's config type needs (`None`: the type takes no model).
pub fn category_for_config_type(config_type: &str) -> Option<&'static str> {
    match config_type {
        "general" | "small_fast" | "visual" | "compact" => Some("llm"),
        "embedding" => Some("embedding"),
        "image" | "image_edit" => Some("image"),
        "asr" | "tts" | "speech" => Some("speech"),
        "rerank" => Some("rerank"),
        "video" => Some("video"),
        "sound_effect" => Some("sound_effect"),
        "music" => Some("music"),
        _ => None,
    }
}

/// The config type a `GET /default/{name}` asks for: the client spells some with `-`
/// (`small-fast`), and `llm` names the general default. `None`: not a config type.
pub fn default_lookup_type(name: &str) -> Option<String> {
    let name = name.replace('-', "_");
    let name = if name == "llm" { "general".to_owned() } else { name };
    CONFIG_TYPES.contains(&name.as_str()).then_some(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn path_ids() {
        assert_eq!(model_ref("42"), ModelRef::Seq(42));
        assert_eq!(model_ref(" 42 "), ModelRef::Seq(42));
        assert_eq!(model_ref("gpt-4o"), ModelRef::Key("gpt-4o".into()));
        assert_eq!(model_ref("org%2Fmodel"), ModelRef::Key("org/model".into()));
        assert_eq!(model_ref("99999999999999999999"), ModelRef::Key("99999999999999999999".into()));
        assert_eq!(model_ref("4o"), ModelRef::Key("4o".into()));
    }

    #[test]
    fn list_defaults_and_filters() {
        assert_eq!(
            list_query("").ok(),
            Some(ListQuery {
                skip: 0,
                limit: 100,
                provider: None,
                category: None,
                is_active: true
            })
        );
        assert_eq!(
            list_query("skip=5&limit=1000&model_provider=OpenAI&category=&is_active=false").ok(),
            Some(ListQuery {
                skip: 5,
                limit: 1000,
                provider: Some("openai".into()),
                category: None,
                is_active: false
            })
        );
        assert!(list_query("limit=0").is_err());
        assert!(list_query("skip=-1").is_err());
        assert!(list_query("is_active=maybe").is_err());
    }

    #[test]
    fn default_lookup_names() {
        assert_eq!(default_lookup_type("small-fast").as_deref(), Some("small_fast"));
        assert_eq!(default_lookup_type("small_fast").as_deref(), Some("small_fast"));
        assert_eq!(default_lookup_type("llm").as_deref(), Some("general"));
        assert_eq!(default_lookup_type("sound_effect").as_deref(), Some("sound_effect"));
        assert_eq!(default_lookup_type("sound-effect").as_deref(), Some("sound_effect"));
        assert_eq!(default_lookup_type("favourite"), None);
        assert_eq!(default_lookup_type("General"), None);
        // Every accepted config type has a category a model can have.
        for config_type in CONFIG_TYPES {
            assert!(category_for_config_type(config_type).is_some(), "{config_type}");
        }
    }

    #[test]
    fn update_leaves_unsent_fields_alone() {
        let change = update(&json!({"description": "d"})).ok().unwrap();
        assert_eq!(
            change.fields(),
            modelgate_core::FieldSet::of(&[modelgate_core::Field::Description])
        );
        let change = update(&json!({"api_key": "  ", "category": null})).ok().unwrap();
        assert!(change.fields().iter().next().is_none());
    }
}

/// `POST /test-connection`: a model's settings, tried before it is saved.
#[derive(Debug)]
pub struct ConnectionTest {
    pub provider: String,
    pub model_name: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub category: String,
    pub temperature: Option<f64>,
}

pub fn connection_test(body: &Value) -> Result<ConnectionTest, Refusal> {
    let mut f = body_fields(body)?;
    let provider = f.required_string("model_provider");
    let model_name = f.required_string("model_name");
    let api_key = f.string("api_key").value();
    let base_url = f.string("base_url").value();
    let category = defaulted_string(&mut f, "category", DEFAULT_CATEGORY);
    let temperature = f.float("temperature").value();
    // Read for their type errors only: the probe does not use them.
    let _ = (f.int("dimension"), f.string_list("abilities"), f.int("top_n"), f.string("instruct"));
    f.finish().map_err(Refusal::Issues)?;
    let (Some(provider), Some(model_name), Some(category)) = (provider, model_name, category)
    else {
        return Err(Refusal::Issues(Vec::new()));
    };
    Ok(ConnectionTest { provider, model_name, api_key, base_url, category, temperature })
}

/// `POST /providers/{provider}/models`: the key (required) and an optional base URL.
pub fn provider_models(body: &Value) -> Result<(String, Option<String>), Refusal> {
    let mut f = body_fields(body)?;
    let api_key = f.required_string("api_key");
    let base_url = f.string("base_url").value();
    f.finish().map_err(Refusal::Issues)?;
    let api_key = api_key.ok_or(Refusal::Issues(Vec::new()))?;
    Ok((api_key, base_url))
}
