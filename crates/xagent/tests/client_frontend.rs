//! Xagent's current web client replayed against modelgate, on SQLite and on Postgres.
//!
//! Each test stands for one client function (lib/models.ts, the models page and its dialog, the
//! Settings → Default models page, the Home/Build task selection) and makes that function's calls
//! in the order the UI makes them: the same method, path, query and body. Answers are read the
//! way the client reads them; where the client is strict (`parseModelList`,
//! `parseUserDefaultModels`) the checkers below apply the same rules, so a response the client
//! would throw away fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use actix_web::http::Method;
use modelgate_core::{Ctx, MapChange, ModelChange, ModelRef, NewModel, Registry, Role};
use modelgate_http::app::mount;
use modelgate_testkit::{TestApp, TestDb, TestResponse, backend_app_tests};
use modelgate_xagent::{Xagent, configure};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

// ---- the strict parsers' rules, restated ----

/// JavaScript's `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Config types the client indexes its default map by; a second entry for one of them makes the
/// whole answer invalid.
const KNOWN_CONFIG_TYPES: [&str; 14] = [
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

/// A JSON number that JavaScript sees as a safe integer above zero.
fn is_positive_safe_int(v: &Value) -> bool {
    v.as_f64().is_some_and(|n| n.fract() == 0.0 && n > 0.0 && n <= MAX_SAFE_INTEGER)
}

fn is_nullable_string(v: &Value) -> bool {
    v.is_null() || v.is_string()
}

fn is_nullable_finite(v: &Value) -> bool {
    v.is_null() || v.as_f64().is_some_and(f64::is_finite)
}

fn is_nullable_int(v: &Value) -> bool {
    v.is_null() || v.as_f64().is_some_and(|n| n.fract() == 0.0)
}

/// Why one model fails the client's strict model check (`None`: it passes). A key that is absent
/// is `undefined` to the client, which no rule accepts.
fn model_problem(model: &Value) -> Option<String> {
    let Some(object) = model.as_object() else { return Some(format!("not an object: {model}")) };
    let mut problems = Vec::new();
    let mut rule = |key: &str, ok: fn(&Value) -> bool| match object.get(key) {
        None => problems.push(format!("`{key}` is missing")),
        Some(value) if !ok(value) => problems.push(format!("`{key}` is {value}")),
        Some(_) => {}
    };
    rule("id", is_positive_safe_int);
    for key in ["model_id", "category", "model_provider", "model_name"] {
        rule(key, Value::is_string);
    }
    rule("base_url", is_nullable_string);
    rule("temperature", is_nullable_finite);
    rule("context_window", is_nullable_int);
    rule("dimension", is_nullable_int);
    rule("abilities", |v| {
        v.is_null() || v.as_array().is_some_and(|items| items.iter().all(Value::is_string))
    });
    for key in ["description", "created_at", "updated_at"] {
        rule(key, is_nullable_string);
    }
    for key in ["is_active", "is_owner", "can_edit", "can_delete", "is_shared"] {
        rule(key, Value::is_boolean);
    }
    (!problems.is_empty()).then(|| format!("{} in {model}", problems.join(", ")))
}

/// `parseModelList`: an array whose every element passes; one bad element spoils all of it.
fn parse_model_list(value: &Value) -> Result<Vec<Value>, String> {
    let items = value.as_array().ok_or_else(|| format!("not an array: {value}"))?;
    for item in items {
        if let Some(problem) = model_problem(item) {
            return Err(problem);
        }
    }
    Ok(items.clone())
}

/// `parseUserDefaultModels`: an array of defaults, each with positive integer ids, timestamps
/// present, and a model that passes the model check; the known types indexed, at most once each.
fn parse_user_default_models(value: &Value) -> Result<BTreeMap<String, Value>, String> {
    let items = value.as_array().ok_or_else(|| format!("not an array: {value}"))?;
    let mut map = BTreeMap::new();
    for item in items {
        let object = item.as_object().ok_or_else(|| format!("not an object: {item}"))?;
        for key in ["id", "user_id", "model_id"] {
            if !object.get(key).is_some_and(is_positive_safe_int) {
                return Err(format!("`{key}` is not a positive safe integer in {item}"));
            }
        }
        let config_type = object
            .get("config_type")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`config_type` is not a string in {item}"))?;
        for key in ["created_at", "updated_at"] {
            if !object.get(key).is_some_and(is_nullable_string) {
                return Err(format!("`{key}` is missing or not a string in {item}"));
            }
        }
        let model = object.get("model").ok_or_else(|| format!("no `model` in {item}"))?;
        if let Some(problem) = model_problem(model) {
            return Err(format!("its model: {problem}"));
        }
        if KNOWN_CONFIG_TYPES.contains(&config_type)
            && map.insert(config_type.to_owned(), item.clone()).is_some()
        {
            return Err(format!("`{config_type}` appears twice"));
        }
    }
    Ok(map)
}

/// Asserts the client's strict parsers accept a response, and returns what they parsed.
fn strict_models(response: &TestResponse) -> Vec<Value> {
    assert_eq!(response.status, 200, "{response:?}");
    parse_model_list(&response.json).unwrap_or_else(|e| panic!("parseModelList rejects: {e}"))
}

fn strict_defaults(response: &TestResponse) -> BTreeMap<String, Value> {
    assert_eq!(response.status, 200, "{response:?}");
    parse_user_default_models(&response.json)
        .unwrap_or_else(|e| panic!("parseUserDefaultModels rejects: {e}"))
}

#[test]
fn the_checkers_reject_what_the_client_rejects() {
    let good = json!({
        "id": 1, "model_id": "m", "category": "llm", "model_provider": "openai", "model_name": "m",
        "base_url": null, "temperature": null, "context_window": null, "dimension": null,
        "abilities": null, "description": null, "created_at": null, "updated_at": null,
        "is_active": true, "is_owner": true, "can_edit": true, "can_delete": true, "is_shared": false
    });
    assert!(parse_model_list(&json!([good.clone()])).is_ok());
    for (key, bad) in [
        ("id", json!(0)),
        ("id", json!("1")),
        ("id", json!(1.5)),
        ("id", json!(9_007_199_254_740_992_u64)),
        ("model_provider", Value::Null),
        ("temperature", json!("0.5")),
        ("context_window", json!(1.5)),
        ("abilities", json!(["chat", 1])),
        ("is_shared", json!("true")),
    ] {
        let mut model = good.clone();
        model[key] = bad;
        assert!(parse_model_list(&json!([good.clone(), model])).is_err(), "{key}");
    }
    let mut without = good.clone();
    without.as_object_mut().unwrap().remove("context_window");
    assert!(parse_model_list(&json!([without])).is_err());
    assert!(parse_model_list(&json!({"models": []})).is_err());

    let default = json!({
        "id": 1, "user_id": 2, "model_id": 1, "config_type": "general",
        "created_at": null, "updated_at": null, "model": good
    });
    assert_eq!(parse_user_default_models(&json!([default.clone()])).unwrap().len(), 1);
    let mut other = default.clone();
    other["config_type"] = json!("not_a_known_type");
    assert_eq!(parse_user_default_models(&json!([default.clone(), other])).unwrap().len(), 1);
    assert!(parse_user_default_models(&json!([default.clone(), default.clone()])).is_err());
    for (key, bad) in [("id", Value::Null), ("user_id", json!("bob")), ("model_id", json!(-1))] {
        let mut broken = default.clone();
        broken[key] = bad;
        assert!(parse_user_default_models(&json!([broken])).is_err(), "{key}");
    }
    let mut no_time = default.clone();
    no_time.as_object_mut().unwrap().remove("updated_at");
    assert!(parse_user_default_models(&json!([no_time])).is_err());
    assert!(parse_user_default_models(&json!({"general": default})).is_err());
}

// ---- the client ----

/// What `encodeURIComponent` leaves alone: letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

fn encode_uri_component(text: &str) -> String {
    utf8_percent_encode(text, URI_COMPONENT).to_string()
}

/// `generateModelId`: `{model_name}-{model_provider}-{user id}-{8 hex digits}`.
fn generate_model_id(model_name: &str, model_provider: &str, suffix: &str) -> String {
    format!("{model_name}-{model_provider}-1-{suffix}")
}

/// `getModelDetailUrl`.
fn model_detail_url(model_id: &str) -> String {
    format!("/xagent/api/models/by-id/{}", encode_uri_component(model_id))
}

const API: &str = "/xagent/api/models";

/// The outcome of `resolveTaskLlmSelection`.
#[derive(Debug, PartialEq)]
enum Selection {
    /// `[general, small_fast, visual, compact]` model ids.
    Success([Option<String>; 4]),
    NoModel,
    OperationalError(String),
}

/// What the Auto card does after loading.
#[derive(Debug, PartialEq)]
enum AutoCard {
    Hidden,
    Shown,
    Failed(String),
}

/// One signed-in browser session: every request carries the user's bearer token, as
/// `apiRequest` adds it.
struct Browser<'a> {
    app: &'a TestApp,
    token: String,
}

/// The error message the client shows for a failed call: `detail` when it is a non-empty string.
fn detail_or(response: &TestResponse, fallback: &str) -> String {
    response.json["detail"]
        .as_str()
        .filter(|d| !d.is_empty())
        .map_or_else(|| fallback.to_owned(), str::to_owned)
}

impl Browser<'_> {
    fn key(&self) -> Option<&str> {
        Some(self.token.as_str())
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.app.send(method, path, self.key(), body).await
    }

    // -- the models page (pages/models.tsx) --

    /// `fetchModels`: the page's list; no validation, but every `model_provider` is lower-cased.
    async fn fetch_models(&self) -> Vec<Value> {
        let response = self.send(Method::GET, &format!("{API}/"), None).await;
        assert_eq!(response.status, 200, "{response:?}");
        let models = response.json.as_array().expect("models.filter needs an array").clone();
        for model in &models {
            assert!(model["model_provider"].is_string(), "toLowerCase on {model}");
            assert!(model["category"].is_string() && model["id"].is_number(), "{model}");
        }
        models
    }

    /// `loadDefaultModels`: `config_type → model` from the entries that have both.
    async fn load_default_models(&self) -> BTreeMap<String, Value> {
        let response = self.send(Method::GET, &format!("{API}/user-default"), None).await;
        if [401, 403, 404].contains(&response.status) {
            return BTreeMap::new();
        }
        assert_eq!(response.status, 200, "{response:?}");
        let mut map = BTreeMap::new();
        for entry in response.json.as_array().expect("an array") {
            let model = &entry["model"];
            if let Some(config_type) = entry["config_type"].as_str()
                && model.is_object()
            {
                map.insert(config_type.to_owned(), model.clone());
            }
        }
        map
    }

    /// `getSupportedProviders`: a bare array or `{providers: [...]}`; `category` defaults to llm.
    async fn get_supported_providers(&self) -> Result<Vec<Value>, String> {
        let response = self.send(Method::GET, &format!("{API}/providers/supported"), None).await;
        if response.status != 200 {
            return Err("Failed to fetch supported providers".into());
        }
        let list = match &response.json {
            Value::Array(items) => items.clone(),
            body => body["providers"].as_array().cloned().unwrap_or_default(),
        };
        Ok(list
            .into_iter()
            .map(|mut p| {
                if p.get("category").is_none() {
                    p["category"] = json!(["llm"]);
                }
                p
            })
            .collect())
    }

    /// `AutoModelConfigCard` on mount: config and profiles at once; the config is judged first,
    /// a 503 from the profiles hides the card.
    async fn load_auto_model_config(&self) -> AutoCard {
        let config = self.send(Method::GET, &format!("{API}/auto-config"), None).await;
        let profiles = self.send(Method::GET, &format!("{API}/auto-config/profiles"), None).await;
        if config.status != 200 {
            return AutoCard::Failed(detail_or(&config, "models.auto.errors.loadFailed"));
        }
        assert!(config.json["configured"].is_boolean(), "{config:?}");
        if profiles.status == 503 {
            return AutoCard::Hidden;
        }
        AutoCard::Shown
    }

    /// The "add model" wizard's default types for a model (`getModelDefaultTypes`).
    fn model_default_types(defaults: &BTreeMap<String, Value>, id: &Value) -> Vec<String> {
        defaults.iter().filter(|(_, m)| m["id"] == *id).map(|(t, _)| t.clone()).collect()
    }

    // -- the model dialog (model-management-dialog.tsx) --

    /// `handleFetchModels` → `getProviderModels`.
    async fn get_provider_models(
        &self,
        provider: &str,
        api_key: &str,
        base_url: &str,
        category: &str,
    ) -> Result<Vec<Value>, String> {
        let body = json!({"api_key": api_key, "base_url": base_url, "category": category});
        let path = format!("{API}/providers/{provider}/models");
        let response = self.send(Method::POST, &path, Some(body)).await;
        if response.status != 200 {
            return Err(detail_or(&response, "Failed to fetch provider models"));
        }
        Ok(response.json["models"].as_array().cloned().unwrap_or_default())
    }

    /// `handleTestConnection`: always parses the body as JSON.
    async fn test_connection(&self, form: &Value) -> Result<(), String> {
        let mut body = Map::new();
        for key in [
            "model_provider",
            "model_name",
            "api_key",
            "base_url",
            "category",
            "temperature",
            "dimension",
            "abilities",
        ] {
            // JSON.stringify leaves out the keys whose value is undefined.
            if let Some(value) = form.get(key) {
                body.insert(key.to_owned(), value.clone());
            }
        }
        let path = format!("{API}/test-connection");
        let response = self.send(Method::POST, &path, Some(Value::Object(body))).await;
        assert!(response.is_json(), "response.json() would throw: {response:?}");
        if response.status != 200 || response.json["status"] == "failed" {
            return Err(response.json["error"].as_str().unwrap_or("Test failed").to_owned());
        }
        Ok(())
    }

    /// `submitModelData`: create (POST /) or edit (PUT /by-id/…) with the whole form, then the
    /// default types removed and added, then the page refresh. Returns the saved model.
    async fn submit_model_data(
        &self,
        editing: Option<&Value>,
        form: Value,
        defaults_before: &BTreeMap<String, Value>,
    ) -> Result<Value, String> {
        let (method, path) = match editing {
            Some(model) => (Method::PUT, model_detail_url(model["model_id"].as_str().unwrap())),
            None => (Method::POST, format!("{API}/")),
        };
        let response = self.send(method, &path, Some(form.clone())).await;
        if response.status != 200 {
            return Err(detail_or(&response, "models.errors.saveFailed"));
        }
        let saved = response.json.clone();
        let id = saved["id"].clone();
        assert!(id.is_number(), "{saved}");
        let current = editing
            .map(|m| Self::model_default_types(defaults_before, &m["id"]))
            .unwrap_or_default();
        let wanted: Vec<String> = form["default_config_types"]
            .as_array()
            .map(|types| types.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        // The client does not look at these answers; the test does, so none fails silently.
        for config_type in current.iter().filter(|t| !wanted.contains(t)) {
            let path = format!("{API}/user-default/{config_type}");
            let removed = self.send(Method::DELETE, &path, None).await;
            assert_eq!(removed.status, 200, "{removed:?}");
        }
        for config_type in wanted.iter().filter(|t| !current.contains(t)) {
            let body = json!({"config_type": config_type, "model_id": id});
            let set = self.send(Method::POST, &format!("{API}/user-default"), Some(body)).await;
            assert_eq!(set.status, 200, "{set:?}");
        }
        // onSuccess: the page reloads its models and defaults.
        self.fetch_models().await;
        self.load_default_models().await;
        Ok(saved)
    }

    /// `submitDefaultConfigTypes`: removes and sets (all at once), each must succeed.
    async fn submit_default_config_types(
        &self,
        model: &Value,
        next: &[&str],
        defaults_before: &BTreeMap<String, Value>,
    ) -> Result<(), String> {
        let id = model["id"].as_i64().unwrap();
        let current = Self::model_default_types(defaults_before, &model["id"]);
        for config_type in current.iter().filter(|t| !next.contains(&t.as_str())) {
            self.remove_user_default_model(config_type).await?;
        }
        for config_type in next.iter().filter(|t| !current.iter().any(|c| c == *t)) {
            self.set_user_default_model(config_type, id).await?;
        }
        self.fetch_models().await;
        self.load_default_models().await;
        Ok(())
    }

    /// `confirmDeleteModel`.
    async fn confirm_delete_model(&self, model_id: &str) -> Result<(), String> {
        let response = self.send(Method::DELETE, &model_detail_url(model_id), None).await;
        if response.status != 200 {
            return Err(detail_or(&response, "models.errors.deleteFailed"));
        }
        self.fetch_models().await;
        self.load_default_models().await;
        Ok(())
    }

    // -- lib/models.ts, strict --

    /// `getUserModels`.
    async fn get_user_models(&self, category: Option<&str>) -> Result<Vec<Value>, String> {
        let path = match category {
            Some(c) => format!("{API}/?category={}", encode_uri_component(c)),
            None => format!("{API}/"),
        };
        let response = self.send(Method::GET, &path, None).await;
        if response.status != 200 {
            return Err("Failed to fetch models".into());
        }
        let models = parse_model_list(&response.json)
            .map_err(|problem| format!("Invalid models response ({problem})"))?;
        if let Some(category) = category
            && let Some(other) = models.iter().find(|m| m["category"] != category)
        {
            return Err(format!("Invalid models response (category of {other})"));
        }
        Ok(models)
    }

    /// `getUserDefaultModels`.
    async fn get_user_default_models(&self) -> Result<BTreeMap<String, Value>, String> {
        let response = self.send(Method::GET, &format!("{API}/user-default"), None).await;
        if response.status != 200 {
            return Err("Failed to fetch default models".into());
        }
        parse_user_default_models(&response.json)
            .map_err(|problem| format!("Invalid default models response ({problem})"))
    }

    /// `setUserDefaultModel`.
    async fn set_user_default_model(&self, config_type: &str, model_id: i64) -> Result<(), String> {
        let body = json!({"config_type": config_type, "model_id": model_id});
        let response = self.send(Method::POST, &format!("{API}/user-default"), Some(body)).await;
        if response.status != 200 {
            return Err(format!("Failed to set default model: {response:?}"));
        }
        Ok(())
    }

    /// `removeUserDefaultModel`.
    async fn remove_user_default_model(&self, config_type: &str) -> Result<(), String> {
        let path = format!("{API}/user-default/{config_type}");
        let response = self.send(Method::DELETE, &path, None).await;
        if response.status != 200 {
            return Err(format!("Failed to remove default model: {response:?}"));
        }
        Ok(())
    }

    /// `resolveTaskLlmSelection`: the llm models and the defaults, read together.
    async fn resolve_task_llm_selection(&self) -> Selection {
        let models = self.get_user_models(Some("llm")).await;
        let defaults = self.get_user_default_models().await;
        let default_id = |t: &str| {
            defaults
                .as_ref()
                .ok()
                .and_then(|d| d.get(t))
                .and_then(|e| e["model"]["model_id"].as_str())
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
        };
        let general = default_id("general").or_else(|| {
            models
                .as_ref()
                .ok()
                .and_then(|list| {
                    list.iter().filter_map(|m| m["model_id"].as_str()).find(|id| !id.is_empty())
                })
                .map(str::to_owned)
        });
        if let Some(general) = general {
            return Selection::Success([
                Some(general),
                default_id("small_fast"),
                default_id("visual"),
                default_id("compact"),
            ]);
        }
        match (models, &defaults) {
            (Err(e), _) => Selection::OperationalError(e),
            (Ok(_), Err(e)) => Selection::OperationalError(e.clone()),
            (Ok(_), Ok(_)) => Selection::NoModel,
        }
    }

    /// `getSystemDefaultModels`: the answers are used without looking at the status.
    async fn get_system_default_models(&self) -> Vec<(&'static str, TestResponse)> {
        let mut out = Vec::new();
        for name in [
            "general",
            "small-fast",
            "visual",
            "compact",
            "embedding",
            "video",
            "sound_effect",
            "music",
        ] {
            out.push((name, self.send(Method::GET, &format!("{API}/default/{name}"), None).await));
        }
        out
    }
}

struct Setup {
    app: TestApp,
    admin: Ctx,
    admin_key: String,
}

impl Setup {
    fn admin(&self) -> Browser<'_> {
        Browser { app: &self.app, token: self.admin_key.clone() }
    }

    fn user(&self, id: &str, role: Role) -> Browser<'_> {
        let (_, token) = self.app.db.user(&self.admin, id, role);
        Browser { app: &self.app, token }
    }
}

async fn setup(db: TestDb) -> Setup {
    let (admin, admin_key) = db.bootstrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Xagent>("/xagent", configure));
    })
    .await;
    Setup { app, admin, admin_key }
}

/// The wizard's form for a new model, as `JSON.stringify` sends it: keys in the form's order,
/// undefined ones left out, the generated `model_id` and the extra `default_config_types`.
fn wizard_form(
    category: &str,
    provider: &str,
    model_name: &str,
    abilities: &[&str],
    defaults: &[&str],
) -> Value {
    json!({
        "model_id": generate_model_id(model_name, provider, "1a2b3c4d"),
        "category": category,
        "model_provider": provider,
        "model_name": model_name,
        "api_key": "sk-wizard-key-0123456789",
        "base_url": "",
        "abilities": abilities,
        "default_config_types": defaults,
    })
}

/// A model of each category the Settings page offers defaults for, created the way the dialog
/// creates them. Returns `model_id → id`.
async fn one_model_per_category(browser: &Browser<'_>) -> BTreeMap<String, i64> {
    let mut ids = BTreeMap::new();
    for (category, provider, name, abilities) in [
        ("llm", "openai", "gpt-4o", &["chat", "vision", "tool_calling"][..]),
        ("embedding", "openai", "text-embedding-3-small", &["embedding"][..]),
        ("image", "dashscope", "wanx-v1", &["generate", "edit"][..]),
        ("video", "volcengine-ark", "seedance-1-0-pro", &["generate"][..]),
        ("speech", "xinference", "whisper-and-tts", &["asr", "tts"][..]),
        ("sound_effect", "elevenlabs", "eleven_text_to_sound_v2", &["generate"][..]),
        ("music", "elevenlabs", "music_v1", &["generate"][..]),
        ("rerank", "dashscope", "gte-rerank", &["rerank"][..]),
    ] {
        let form = wizard_form(category, provider, name, abilities, &[]);
        let saved = browser.submit_model_data(None, form, &BTreeMap::new()).await.unwrap();
        ids.insert(saved["model_id"].as_str().unwrap().to_owned(), saved["id"].as_i64().unwrap());
    }
    ids
}

backend_app_tests! {
    async fn fetch_models(db) {
        let s = setup(db).await;
        let admin = s.admin();
        assert!(admin.fetch_models().await.is_empty());
        one_model_per_category(&admin).await;
        let models = admin.fetch_models().await;
        assert_eq!(models.len(), 8);
        // The page's tabs: "audio" gathers speech, sound effects and music.
        let on_tab = |tab: &str| {
            models.iter().filter(|m| {
                let category = m["category"].as_str().unwrap();
                if tab == "audio" { ["speech", "sound_effect", "music"].contains(&category) } else { category == tab }
            }).count()
        };
        for (tab, count) in [("llm", 1), ("embedding", 1), ("rerank", 1), ("image", 1), ("video", 1), ("audio", 3)] {
            assert_eq!(on_tab(tab), count, "{tab}");
        }
        // The same list passes the strict check (the page's cards read every field of it).
        let response = s.app.get(&format!("{API}/"), admin.key()).await;
        strict_models(&response);

        // A member sees the models the admin shared, read-only.
        let bob = s.user("bob", Role::Member);
        assert!(bob.fetch_models().await.is_empty());
        let shared = json!({
            "model_id": generate_model_id("gpt-4o-mini", "openai", "00ff00ff"), "category": "llm",
            "model_provider": "openai", "model_name": "gpt-4o-mini", "api_key": "sk-shared-0000000000",
            "base_url": "https://api.openai.com/v1", "abilities": ["chat"], "default_config_types": [],
            "share_with_users": true
        });
        admin.submit_model_data(None, shared, &BTreeMap::new()).await.unwrap();
        let seen = bob.fetch_models().await;
        assert_eq!(seen.len(), 1);
        assert_eq!(
            [&seen[0]["is_owner"], &seen[0]["can_edit"], &seen[0]["can_delete"], &seen[0]["is_shared"]],
            [&json!(false), &json!(false), &json!(false), &json!(true)]
        );
    }

    async fn load_default_models(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        assert!(bob.load_default_models().await.is_empty());
        let ids = one_model_per_category(&bob).await;
        let llm = ids[&generate_model_id("gpt-4o", "openai", "1a2b3c4d")];
        bob.set_user_default_model("general", llm).await.unwrap();
        bob.set_user_default_model("visual", llm).await.unwrap();
        let defaults = bob.load_default_models().await;
        assert_eq!(defaults.keys().collect::<Vec<_>>(), ["general", "visual"]);
        // Default badges compare the default's model id with each card's id.
        assert_eq!(defaults["general"]["id"], json!(llm));
        assert_eq!(defaults["general"]["model_name"], "gpt-4o");
        // Without a session the page keeps an empty map.
        let anonymous = s.app.get(&format!("{API}/user-default"), None).await;
        assert_eq!(anonymous.status, 401);
    }

    async fn get_supported_providers(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        let providers = bob.get_supported_providers().await.unwrap();
        assert_eq!(providers.len(), 20);
        for provider in &providers {
            for key in ["id", "name", "description"] {
                assert!(provider[key].is_string(), "{key} of {provider}");
            }
            assert!(provider["requires_base_url"].is_boolean(), "{provider}");
            assert!(provider["category"].as_array().unwrap().iter().all(Value::is_string), "{provider}");
        }
        // Step 1 of the connect wizard lists the providers of the chosen category: none is empty,
        // so a model of every category can be added; the audio tab's explore list too.
        for category in ["llm", "embedding", "image", "video", "speech", "rerank", "sound_effect", "music"] {
            let offered: Vec<&str> = providers.iter()
                .filter(|p| p["category"].as_array().unwrap().contains(&json!(category)))
                .map(|p| p["id"].as_str().unwrap())
                .collect();
            assert!(!offered.is_empty(), "no provider for {category}");
        }
        // Step 2: Next needs a base URL for providers that require one; the others come pre-filled
        // when a default is known.
        let find = |id: &str| providers.iter().find(|p| p["id"] == id).unwrap();
        assert_eq!(find("openai-compatible")["requires_base_url"], true);
        assert_eq!(find("openai")["default_base_url"], "https://api.openai.com/v1");
    }

    async fn load_auto_model_config(db) {
        let s = setup(db).await;
        let (admin, bob) = (s.admin(), s.user("bob", Role::Member));
        let viewer = s.user("victor", Role::Viewer);
        for browser in [&admin, &bob, &viewer] {
            assert_eq!(browser.load_auto_model_config().await, AutoCard::Hidden);
        }
        // Were the card shown, saving would fail: the answer has no `auto_model`.
        let save = json!({
            "fallback_model_id": 1, "set_as_default": true,
            "candidates": [{"target_model_id": 1, "routing_model_id": "gpt-4o"}]
        });
        let saved = admin.send(Method::PUT, &format!("{API}/auto-config"), Some(save)).await;
        assert_eq!(saved.status, 503);
        assert!(saved.json.get("auto_model").is_none());
        assert!(saved.json["detail"].as_str().unwrap().contains("not available in modelgate"));
    }

    async fn handle_fetch_models(db) {
        let s = setup(db).await;
        let admin = s.admin();
        let failed = admin
            .get_provider_models("openai", "sk-wizard-key-0123456789", "https://api.openai.com/v1", "llm")
            .await;
        // Mounted without the server's provider client (the server's provider_calls tests call
        // a provider): the toast shows the server's sentence; the wizard still moves on.
        assert_eq!(failed, Err("This server cannot call model providers.".into()));
        let form = wizard_form("llm", "openai", "gpt-4o", &["chat"], &["general"]);
        assert!(admin.submit_model_data(None, form, &BTreeMap::new()).await.is_ok());
    }

    async fn handle_test_connection(db) {
        let s = setup(db).await;
        let admin = s.admin();
        let mut form = wizard_form("llm", "openai", "gpt-4o", &["chat"], &[]);
        form["temperature"] = json!(0.7);
        // The client shows `error` or "Test failed"; the optional step does not block saving.
        assert_eq!(admin.test_connection(&form).await, Err("Test failed".into()));
        let response = admin.send(Method::POST, &format!("{API}/test-connection"), Some(form.clone())).await;
        assert_eq!(response.status, 501);
        assert_eq!(response.json["detail"], "This server cannot call model providers.");
        assert!(admin.submit_model_data(None, form, &BTreeMap::new()).await.is_ok());
    }

    async fn submit_model_data_creates_a_model(db) {
        let s = setup(db).await;
        let admin = s.admin();
        // Page load, then the wizard: category, provider from the list, key, context window,
        // defaults, and (admins only) the share switch.
        admin.fetch_models().await;
        let defaults = admin.load_default_models().await;
        let providers = admin.get_supported_providers().await.unwrap();
        let openai = providers.iter().find(|p| p["id"] == "openai").unwrap();
        let mut form = wizard_form("llm", "openai", "gpt-4o", &["chat", "vision", "tool_calling"], &["general", "small_fast", "visual", "compact"]);
        form["base_url"] = openai["default_base_url"].clone();
        form["context_window"] = json!(128000);
        form["share_with_users"] = json!(false);
        let model_id = form["model_id"].as_str().unwrap().to_owned();
        let saved = admin.submit_model_data(None, form, &defaults).await.unwrap();
        assert!(model_problem(&saved).is_none(), "{saved}");
        assert_eq!(saved["model_id"], model_id.as_str());
        assert_eq!(saved["context_window"], 128000);
        assert_eq!(saved["base_url"], "https://api.openai.com/v1");
        assert_eq!(saved["abilities"], json!(["chat", "vision", "tool_calling"]));
        let stored = s.app.db.store.get_model(&s.admin, &ModelRef::Key(model_id.clone())).unwrap();
        assert!(s.app.db.store.secret_equals(stored.model.fields.api_key.as_ref().unwrap(), "sk-wizard-key-0123456789").unwrap());

        // The refresh shows the four default badges on the new card.
        let defaults = admin.load_default_models().await;
        assert_eq!(Browser::model_default_types(&defaults, &saved["id"]), ["compact", "general", "small_fast", "visual"]);

        // A member's embedding model, with an id holding a slash (an OpenRouter-style name).
        let bob = s.user("bob", Role::Member);
        let mut form = wizard_form("embedding", "openai", "openai/text-embedding-3-large", &["embedding"], &["embedding"]);
        form["dimension"] = json!(3072);
        let saved = bob.submit_model_data(None, form, &BTreeMap::new()).await.unwrap();
        assert_eq!(saved["model_id"], "openai/text-embedding-3-large-openai-1-1a2b3c4d");
        assert_eq!(saved["dimension"], 3072);
        assert_eq!(bob.load_default_models().await["embedding"]["id"], saved["id"]);

        // A member may not share; the toast shows the server's sentence.
        // (Each run of the wizard draws a new random suffix.)
        let mut form = wizard_form("llm", "openai", "gpt-4o", &["chat"], &[]);
        form["model_id"] = json!(generate_model_id("gpt-4o", "openai", "5e5e5e5e"));
        form["share_with_users"] = json!(true);
        assert_eq!(
            bob.submit_model_data(None, form, &BTreeMap::new()).await,
            Err("Only administrators can share models with all users".into())
        );
        // A viewer may not create at all.
        let viewer = s.user("victor", Role::Viewer);
        let mut form = wizard_form("llm", "openai", "gpt-4o", &["chat"], &[]);
        form["model_id"] = json!(generate_model_id("gpt-4o", "openai", "7a7a7a7a"));
        assert_eq!(viewer.submit_model_data(None, form, &BTreeMap::new()).await, Err("No permission to create models".into()));
    }

    async fn submit_model_data_edits_a_model(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        let mut form = wizard_form("llm", "openrouter", "meta-llama/llama-3.1-70b-instruct", &["chat"], &["general", "compact"]);
        form["base_url"] = json!("https://openrouter.ai/api/v1");
        let created = bob.submit_model_data(None, form, &BTreeMap::new()).await.unwrap();
        let model_id = created["model_id"].as_str().unwrap().to_owned();
        assert!(model_detail_url(&model_id).contains("%2F"));

        // handleEdit fills the form from the card; the key field starts empty.
        let defaults = bob.load_default_models().await;
        let card = bob.fetch_models().await.into_iter().find(|m| m["model_id"] == model_id.as_str()).unwrap();
        let form = json!({
            "model_id": card["model_id"],
            "category": card["category"],
            "model_provider": card["model_provider"],
            "model_name": card["model_name"],
            "api_key": "",
            "base_url": card["base_url"],
            "temperature": 0.3,
            "context_window": 131072,
            "dimension": card["dimension"],
            "abilities": ["chat", "tool_calling"],
            "default_config_types": ["general", "small_fast"],
            "share_with_users": card["is_shared"],
        });
        let saved = bob.submit_model_data(Some(&card), form, &defaults).await.unwrap();
        assert!(model_problem(&saved).is_none(), "{saved}");
        assert_eq!(saved["id"], created["id"]);
        assert_eq!(saved["temperature"], json!(0.3));
        assert_eq!(saved["context_window"], 131072);
        assert_eq!(saved["abilities"], json!(["chat", "tool_calling"]));
        assert_eq!(saved["base_url"], "https://openrouter.ai/api/v1");
        // The empty key kept the stored one.
        let stored = s.app.db.store.get_model(&s.admin, &ModelRef::Key(model_id.clone())).unwrap();
        assert!(s.app.db.store.secret_equals(stored.model.fields.api_key.as_ref().unwrap(), "sk-wizard-key-0123456789").unwrap());
        // compact was removed, small_fast added.
        let defaults = bob.get_user_default_models().await.unwrap();
        assert_eq!(defaults.keys().collect::<Vec<_>>(), ["general", "small_fast"]);

        // Someone who may only read it gets the server's sentence.
        let admin = s.admin();
        let shared = admin.submit_model_data(None, json!({
            "model_id": generate_model_id("gpt-4o", "openai", "cafecafe"), "category": "llm",
            "model_provider": "openai", "model_name": "gpt-4o", "api_key": "", "base_url": "",
            "abilities": ["chat"], "default_config_types": [], "share_with_users": true
        }), &BTreeMap::new()).await.unwrap();
        let mut form = json!({"model_id": shared["model_id"], "category": "llm", "model_provider": "openai",
            "model_name": "gpt-4o", "api_key": "", "base_url": "", "temperature": null, "context_window": null,
            "dimension": null, "abilities": ["chat"], "default_config_types": [], "share_with_users": true});
        assert_eq!(bob.submit_model_data(Some(&shared), form.clone(), &BTreeMap::new()).await, Err("No permission to edit this model".into()));
        // The admin edits it with nulls for the empty number fields.
        form["temperature"] = Value::Null;
        let edited = admin.submit_model_data(Some(&shared), form, &BTreeMap::new()).await.unwrap();
        assert_eq!([&edited["temperature"], &edited["context_window"], &edited["dimension"]], [&Value::Null; 3]);
    }

    async fn submit_default_config_types(db) {
        let s = setup(db).await;
        let admin = s.admin();
        let shared = admin.submit_model_data(None, json!({
            "model_id": generate_model_id("gpt-4o", "openai", "0badf00d"), "category": "llm",
            "model_provider": "openai", "model_name": "gpt-4o", "api_key": "sk-shared-0000000000",
            "base_url": "https://api.openai.com/v1", "abilities": ["chat", "vision"],
            "default_config_types": [], "share_with_users": true
        }), &BTreeMap::new()).await.unwrap();
        // Bob sets defaults on a model someone else shared ("Set default" button).
        let bob = s.user("bob", Role::Member);
        let card = bob.fetch_models().await.remove(0);
        assert_eq!(card["is_owner"], false);
        bob.submit_default_config_types(&card, &["general", "visual"], &BTreeMap::new()).await.unwrap();
        let defaults = bob.load_default_models().await;
        assert_eq!(Browser::model_default_types(&defaults, &shared["id"]), ["general", "visual"]);
        bob.submit_default_config_types(&card, &["small_fast"], &defaults).await.unwrap();
        let defaults = bob.get_user_default_models().await.unwrap();
        assert_eq!(defaults.keys().collect::<Vec<_>>(), ["small_fast"]);
        // Bob's defaults are his: the admin's list is untouched.
        assert!(admin.get_user_default_models().await.unwrap().is_empty());
    }

    async fn confirm_delete_model(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        let form = wizard_form("llm", "openrouter", "anthropic/claude-3.5-sonnet", &["chat"], &["general"]);
        let saved = bob.submit_model_data(None, form, &BTreeMap::new()).await.unwrap();
        let model_id = saved["model_id"].as_str().unwrap();
        bob.confirm_delete_model(model_id).await.unwrap();
        assert!(bob.fetch_models().await.is_empty());
        // Its default went with it, and the defaults still parse.
        assert!(bob.get_user_default_models().await.unwrap().is_empty());
        assert_eq!(bob.confirm_delete_model(model_id).await, Err("Model not found".into()));

        // A model shared by the admin: the member's delete is refused with the server's sentence.
        let admin = s.admin();
        let shared = admin.submit_model_data(None, json!({
            "model_id": "shared-model", "category": "llm", "model_provider": "openai", "model_name": "gpt-4o",
            "api_key": "", "base_url": "", "abilities": ["chat"], "default_config_types": [], "share_with_users": true
        }), &BTreeMap::new()).await.unwrap();
        assert_eq!(bob.confirm_delete_model("shared-model").await, Err("No permission to delete this model".into()));
        admin.confirm_delete_model(shared["model_id"].as_str().unwrap()).await.unwrap();
    }

    async fn get_user_models(db) {
        let s = setup(db).await;
        let admin = s.admin();
        assert_eq!(admin.get_user_models(None).await, Ok(vec![]));
        one_model_per_category(&admin).await;
        // Models another dialect wrote: no provider, no base model, an integer temperature, a
        // context window, foreign capabilities; one without a category at all.
        s.app.db.store.create_model(&s.admin, NewModel { key: "from-elsewhere".into(), change: ModelChange {
            params: Some(MapChange::Set(Some(json!({"temperature": 1}).as_object().unwrap().clone()))),
            capabilities: Some(MapChange::Set(Some(json!({"vision": true, "usage": false}).as_object().unwrap().clone()))),
            context_window: Some(Some(32768)),
            ..Default::default()
        }}).unwrap();
        let all = admin.get_user_models(None).await.unwrap();
        assert_eq!(all.len(), 9);
        let llm = admin.get_user_models(Some("llm")).await.unwrap();
        assert_eq!(llm.iter().map(|m| m["model_name"].as_str().unwrap()).collect::<Vec<_>>(), ["gpt-4o", "from-elsewhere"]);
        assert_eq!(llm[1]["context_window"], 32768);
        for category in ["embedding", "image", "video", "speech", "sound_effect", "music", "rerank"] {
            let models = admin.get_user_models(Some(category)).await.unwrap();
            assert_eq!(models.len(), 1, "{category}");
        }
        // Another org's user sees none of them, and still gets a valid (empty) answer.
        let (_, acme) = s.app.db.other_org(&s.admin, "acme");
        let other = Browser { app: &s.app, token: acme };
        assert_eq!(other.get_user_models(None).await, Ok(vec![]));
        // The raw answers pass the strict parser too.
        strict_models(&s.app.get(&format!("{API}/?category=llm"), admin.key()).await);
    }

    async fn get_user_default_models(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        assert_eq!(bob.get_user_default_models().await, Ok(BTreeMap::new()));
        let ids = one_model_per_category(&bob).await;
        let id = |name: &str, provider: &str| ids[&generate_model_id(name, provider, "1a2b3c4d")];
        for (config_type, model) in [
            ("general", id("gpt-4o", "openai")),
            ("small_fast", id("gpt-4o", "openai")),
            ("visual", id("gpt-4o", "openai")),
            ("compact", id("gpt-4o", "openai")),
            ("embedding", id("text-embedding-3-small", "openai")),
            ("image", id("wanx-v1", "dashscope")),
            ("image_edit", id("wanx-v1", "dashscope")),
            ("video", id("seedance-1-0-pro", "volcengine-ark")),
            ("asr", id("whisper-and-tts", "xinference")),
            ("tts", id("whisper-and-tts", "xinference")),
            ("speech", id("whisper-and-tts", "xinference")),
            ("sound_effect", id("eleven_text_to_sound_v2", "elevenlabs")),
            ("music", id("music_v1", "elevenlabs")),
            ("rerank", id("gte-rerank", "dashscope")),
        ] {
            bob.set_user_default_model(config_type, model).await.unwrap();
        }
        let response = s.app.get(&format!("{API}/user-default"), bob.key()).await;
        let defaults = strict_defaults(&response);
        assert_eq!(defaults.len(), 14);
        let entries = response.json.as_array().unwrap();
        // One user: one user number; each default its own id.
        let user_ids: Vec<&Value> = entries.iter().map(|e| &e["user_id"]).collect();
        assert!(user_ids.iter().all(|u| *u == user_ids[0]));
        let mut default_ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        default_ids.sort_unstable();
        default_ids.dedup();
        assert_eq!(default_ids.len(), 14);
        for (config_type, entry) in &defaults {
            assert_eq!(entry["model_id"], entry["model"]["id"], "{config_type}");
        }
        // Another user has other numbers.
        let carol = s.user("carol", Role::Member);
        let shared = s.admin().submit_model_data(None, json!({
            "model_id": "shared", "category": "llm", "model_provider": "openai", "model_name": "gpt-4o",
            "api_key": "", "base_url": "", "abilities": ["chat"], "default_config_types": [], "share_with_users": true
        }), &BTreeMap::new()).await.unwrap();
        carol.set_user_default_model("general", shared["id"].as_i64().unwrap()).await.unwrap();
        let carols = carol.get_user_default_models().await.unwrap();
        assert_ne!(carols["general"]["user_id"], *user_ids[0]);
        assert_eq!(carols["general"]["model"]["is_shared"], true);
    }

    async fn set_user_default_model(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        one_model_per_category(&bob).await;
        // Settings → Default models: models and defaults load together.
        let models = bob.get_user_models(None).await.unwrap();
        let defaults = bob.get_user_default_models().await.unwrap();
        assert!(defaults.is_empty());
        let has = |m: &Value, ability: &str| m["abilities"].as_array().is_some_and(|a| a.contains(&json!(ability)));
        // The page's candidates for each type it offers (rerank is not offered).
        let candidates = |config_type: &str| -> Vec<&Value> {
            models.iter().filter(|m| {
                let category = m["category"].as_str().unwrap();
                match config_type {
                    "embedding" | "image" | "sound_effect" | "music" => category == config_type,
                    "image_edit" => category == "image" && has(m, "edit"),
                    "video" => category == "video" && has(m, "generate"),
                    "asr" | "tts" => category == "speech" && has(m, config_type),
                    "speech" => category == "speech" && has(m, "asr") && has(m, "tts"),
                    _ => category == "llm",
                }
            }).collect()
        };
        for config_type in [
            "general", "small_fast", "visual", "compact", "embedding", "image", "image_edit", "video",
            "asr", "tts", "speech", "sound_effect", "music",
        ] {
            let offered = candidates(config_type);
            assert_eq!(offered.len(), 1, "{config_type}");
            bob.set_user_default_model(config_type, offered[0]["id"].as_i64().unwrap()).await.unwrap();
            // After each change the page reads the defaults again, strictly.
            let defaults = bob.get_user_default_models().await.unwrap();
            let current = &defaults[config_type]["model"];
            assert_eq!(current["model_name"], offered[0]["model_name"]);
            assert_eq!(current["model_provider"], offered[0]["model_provider"]);
            assert_eq!(current["category"], offered[0]["category"]);
        }
        assert_eq!(bob.get_user_default_models().await.unwrap().len(), 13);
        // A model of the wrong category is refused.
        let llm = candidates("general")[0]["id"].as_i64().unwrap();
        assert!(bob.set_user_default_model("music", llm).await.is_err());
    }

    async fn remove_user_default_model(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        let ids = one_model_per_category(&bob).await;
        let music = ids[&generate_model_id("music_v1", "elevenlabs", "1a2b3c4d")];
        let llm = ids[&generate_model_id("gpt-4o", "openai", "1a2b3c4d")];
        bob.set_user_default_model("music", music).await.unwrap();
        bob.set_user_default_model("general", llm).await.unwrap();
        bob.remove_user_default_model("music").await.unwrap();
        let defaults = bob.get_user_default_models().await.unwrap();
        assert_eq!(defaults.keys().collect::<Vec<_>>(), ["general"]);
        // Clearing what is not set fails (the page only offers "clear" for a set default).
        assert!(bob.remove_user_default_model("music").await.is_err());
        let response = s.app.delete(&format!("{API}/user-default/music"), bob.key()).await;
        assert_eq!((response.status, response.json.clone()), (404, json!({"detail": "Default configuration not found"})));
    }

    async fn resolve_task_llm_selection(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        // Nothing configured yet.
        assert_eq!(bob.resolve_task_llm_selection().await, Selection::NoModel);
        // Models but no defaults: the first llm model, in the order listed.
        let first = bob.submit_model_data(None, wizard_form("llm", "openai", "gpt-4o", &["chat"], &[]), &BTreeMap::new()).await.unwrap();
        let second = bob.submit_model_data(None, wizard_form("llm", "deepseek", "deepseek-v4-flash", &["chat"], &[]), &BTreeMap::new()).await.unwrap();
        bob.submit_model_data(None, wizard_form("embedding", "openai", "text-embedding-3-small", &["embedding"], &["embedding"]), &BTreeMap::new()).await.unwrap();
        let id = |m: &Value| Some(m["model_id"].as_str().unwrap().to_owned());
        assert_eq!(bob.resolve_task_llm_selection().await, Selection::Success([id(&first), None, None, None]));
        // Defaults win over the list.
        bob.set_user_default_model("general", second["id"].as_i64().unwrap()).await.unwrap();
        bob.set_user_default_model("small_fast", first["id"].as_i64().unwrap()).await.unwrap();
        bob.set_user_default_model("compact", first["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(
            bob.resolve_task_llm_selection().await,
            Selection::Success([id(&second), id(&first), None, id(&first)])
        );
        // The raw answers of both reads pass the strict parsers.
        strict_models(&s.app.get(&format!("{API}/?category=llm"), bob.key()).await);
        strict_defaults(&s.app.get(&format!("{API}/user-default"), bob.key()).await);
        // A session that is not accepted: both reads fail, the task cannot start.
        let stale = Browser { app: &s.app, token: "mg_not_a_key".into() };
        assert_eq!(stale.resolve_task_llm_selection().await, Selection::OperationalError("Failed to fetch models".into()));
    }

    async fn get_system_default_models(db) {
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        for (name, response) in bob.get_system_default_models().await {
            assert_eq!((response.status, response.json), (200, Value::Null), "{name}");
        }
        let ids = one_model_per_category(&bob).await;
        let llm = ids[&generate_model_id("gpt-4o", "openai", "1a2b3c4d")];
        let sfx = ids[&generate_model_id("eleven_text_to_sound_v2", "elevenlabs", "1a2b3c4d")];
        let video = ids[&generate_model_id("seedance-1-0-pro", "volcengine-ark", "1a2b3c4d")];
        bob.set_user_default_model("general", llm).await.unwrap();
        bob.set_user_default_model("small_fast", llm).await.unwrap();
        bob.set_user_default_model("sound_effect", sfx).await.unwrap();
        bob.set_user_default_model("video", video).await.unwrap();
        let mut found = BTreeMap::new();
        for (name, response) in bob.get_system_default_models().await {
            assert_eq!(response.status, 200, "{name}");
            if !response.json.is_null() {
                assert!(model_problem(&response.json).is_none(), "{name}: {response:?}");
                found.insert(name, response.json["id"].as_i64().unwrap());
            }
        }
        assert_eq!(found, BTreeMap::from([("general", llm), ("small-fast", llm), ("sound_effect", sfx), ("video", video)]));
    }

    async fn get_model_detail_by_integer_id(db) {
        // The agent chat page reads the agent's general model by its integer id.
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        let saved = bob.submit_model_data(None, wizard_form("llm", "openai", "gpt-4o", &["chat"], &[]), &BTreeMap::new()).await.unwrap();
        let url = model_detail_url(&saved["id"].as_i64().unwrap().to_string());
        let response = bob.send(Method::GET, &url, None).await;
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.json["model_id"], saved["model_id"]);
    }

    async fn read_embedding_and_speech_models(db) {
        // The knowledge-base pages and the voice input read lists by category.
        let s = setup(db).await;
        let bob = s.user("bob", Role::Member);
        one_model_per_category(&bob).await;
        let embedding = bob.send(Method::GET, &format!("{API}/?category=embedding"), None).await;
        assert_eq!(embedding.json[0]["model_id"], generate_model_id("text-embedding-3-small", "openai", "1a2b3c4d"));
        let speech = bob.send(Method::GET, &format!("{API}/?category=speech&limit=1000"), None).await;
        let asr = speech.json.as_array().unwrap().iter().any(|m| m["abilities"].as_array().unwrap().contains(&json!("asr")));
        assert!(asr, "{speech:?}");
    }
}
