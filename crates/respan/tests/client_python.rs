//! Respan's generated Python client (PyPI `respan-api` 0.1.49), replayed request by request.
//!
//! Every call below is what one method of `client.models` puts on the wire: the same method, the
//! same path (trailing slash, model names with a raw `/`), the same query (`page` always sent by
//! the filter pager, `page_size` only when given) and the same JSON body (optional arguments left
//! out, an explicit `None` sent as `null`). Each answer is then held to the rules the client's
//! pydantic models apply when they parse it, so a shape the client would refuse fails here.
//! `tests/client/replay.py` drives the real client against a running server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{Env, env};
use modelgate_testkit::{TestResponse, backend_app_tests};
use serde_json::{Map, Value, json};

// ---- what the client's response models accept ----

type Object = Map<String, Value>;

#[track_caller]
fn object<'a>(value: &'a Value, what: &str) -> &'a Object {
    value.as_object().unwrap_or_else(|| panic!("{what}: expected an object, got {value}"))
}

/// A key the model declares without a default: it must be there and not `null`.
#[track_caller]
fn required<'a>(obj: &'a Object, key: &str, what: &str) -> &'a Value {
    match obj.get(key) {
        None | Some(Value::Null) => panic!("{what}: `{key}` is required, got {obj:?}"),
        Some(value) => value,
    }
}

/// A key declared `Optional[...] = None`: absent and `null` are both fine; otherwise `ok` must
/// hold.
#[track_caller]
fn optional(obj: &Object, key: &str, what: &str, ok: fn(&Value) -> bool, expected: &str) {
    if let Some(value) = obj.get(key).filter(|v| !v.is_null()) {
        assert!(ok(value), "{what}: `{key}` should be {expected}, got {value}");
    }
}

fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}

/// pydantic's `float` takes JSON integers as well as decimals.
fn is_float(v: &Value) -> bool {
    v.is_number()
}

/// pydantic's `datetime` parses ISO 8601 strings.
fn is_datetime(v: &Value) -> bool {
    v.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[track_caller]
fn string_field(obj: &Object, key: &str, what: &str) {
    let value = required(obj, key, what);
    assert!(value.is_string(), "{what}: `{key}` must be a string, got {value}");
}

/// The provider object every provider method returns, and the items of the provider list.
#[track_caller]
fn check_provider(value: &Value) {
    let what = "provider";
    let p = object(value, what);
    for key in ["id", "provider_id", "provider_name"] {
        string_field(p, key, what);
    }
    optional(p, "extra_kwargs", what, Value::is_object, "an object");
    optional(p, "created_at", what, is_datetime, "a date-time");
    optional(p, "updated_at", what, is_datetime, "a date-time");
}

/// The model object of create/retrieve/replace/update and of each filter result.
#[track_caller]
fn check_model(value: &Value) {
    let what = "model";
    let m = object(value, what);
    string_field(m, "id", what);
    string_field(m, "model_name", what);
    optional(m, "base_model_name", what, Value::is_string, "a string");
    optional(m, "is_called_by_custom_name", what, Value::is_boolean, "a boolean");
    for key in ["input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost"] {
        optional(m, key, what, is_float, "a number");
    }
    for key in ["max_context_window", "function_call", "image_support"] {
        optional(m, key, what, is_int, "an integer");
    }
    optional(m, "supported_params", what, Value::is_object, "an object");
    // `provider` may be null; when it is not, it must be a whole provider object.
    if let Some(provider) = m.get("provider").filter(|p| !p.is_null()) {
        let p = object(provider, "model.provider");
        for key in ["id", "provider_id", "provider_name"] {
            string_field(p, key, "model.provider");
        }
        optional(p, "extra_kwargs", "model.provider", Value::is_object, "an object");
    }
}

/// The page envelope: `count` and `results` required, the links strings when present.
#[track_caller]
fn check_envelope(value: &Value, item: fn(&Value)) -> Vec<Value> {
    let what = "page";
    let page = object(value, what);
    let count = required(page, "count", what);
    assert!(is_int(count), "{what}: `count` must be an integer, got {count}");
    optional(page, "next", what, Value::is_string, "a string");
    optional(page, "previous", what, Value::is_string, "a string");
    optional(page, "current_filters", what, Value::is_object, "an object");
    let results = required(page, "results", what)
        .as_array()
        .unwrap_or_else(|| panic!("{what}: `results` must be a list"));
    results.iter().for_each(item);
    results.clone()
}

#[track_caller]
fn check_summary(value: &Value) -> (i64, i64, i64) {
    let body = object(value, "summary response");
    let summary = object(required(body, "summary", "summary response"), "summary");
    let count = |key: &str| {
        let v = required(summary, key, "summary");
        assert!(is_int(v), "summary: `{key}` must be an integer, got {v}");
        v.as_i64().unwrap()
    };
    (count("total_count"), count("global_count"), count("custom_count"))
}

/// One item of the public list; only `model_name` is required.
#[track_caller]
fn check_public_item(value: &Value) {
    let what = "public model";
    let m = object(value, what);
    string_field(m, "model_name", what);
    optional(m, "max_context_window", what, is_int, "an integer");
    for key in ["input_cost", "output_cost", "prompt_cost", "completion_cost"] {
        optional(m, key, what, is_float, "a number");
    }
    if let Some(provider) = m.get("provider").filter(|p| !p.is_null()) {
        let p = object(provider, "public model.provider");
        for key in ["provider_name", "provider_id", "moderation"] {
            optional(p, key, "public model.provider", Value::is_string, "a string");
        }
        optional(
            p,
            "credential_fields",
            "public model.provider",
            |v| v.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
            "a list of strings",
        );
    }
}

/// `list_models` takes either `{"models": [...]}` or a bare list.
#[track_caller]
fn check_public(value: &Value) -> Vec<Value> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Object(obj) => required(obj, "models", "public list")
            .as_array()
            .unwrap_or_else(|| panic!("public list: `models` must be a list"))
            .clone(),
        other => panic!("public list: expected an object or a list, got {other}"),
    };
    items.iter().for_each(check_public_item);
    items
}

/// A method whose body the client parses succeeds only on a 2xx with a JSON body.
#[track_caller]
fn success(response: &TestResponse, status: u16) -> &Value {
    assert_eq!(response.status, status, "{response:?}");
    assert!(response.is_json(), "not JSON: {response:?}");
    &response.json
}

// ---- the client's methods, as requests ----

/// `RespanClient(base_url=".../respan", respan_api_key=key).models`.
struct Client<'a> {
    env: &'a Env,
    key: Option<&'a str>,
}

const BASE: &str = "/respan/api";

impl Client<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.env.app.send(method, &format!("{BASE}/{path}"), self.key, body).await
    }

    async fn create_custom_provider(&self, body: Value) -> TestResponse {
        self.send(Method::POST, "providers/", Some(body)).await
    }

    /// `list_custom_providers(page=..., page_size=...)`: each sent only when given.
    async fn list_custom_providers(
        &self,
        page: Option<i64>,
        page_size: Option<i64>,
    ) -> TestResponse {
        let mut query = Vec::new();
        if let Some(page) = page {
            query.push(format!("page={page}"));
        }
        if let Some(size) = page_size {
            query.push(format!("page_size={size}"));
        }
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        self.send(Method::GET, &format!("providers/{query}"), None).await
    }

    async fn retrieve_custom_provider(&self, id: &str) -> TestResponse {
        self.send(Method::GET, &format!("providers/{id}/"), None).await
    }

    async fn update_custom_provider(&self, id: &str, body: Value) -> TestResponse {
        self.send(Method::PATCH, &format!("providers/{id}/"), Some(body)).await
    }

    async fn replace_custom_provider(&self, id: &str, body: Value) -> TestResponse {
        self.send(Method::PUT, &format!("providers/{id}/"), Some(body)).await
    }

    async fn delete_custom_provider(&self, id: &str) -> TestResponse {
        self.send(Method::DELETE, &format!("providers/{id}/"), None).await
    }

    async fn create_custom_model(&self, body: Value) -> TestResponse {
        self.send(Method::POST, "models/", Some(body)).await
    }

    /// One request of `filter_models`: `page` is always in the query, then `page_size` and
    /// `sort_by` when given, in that order; the body holds `filters` when given (else `{}`).
    async fn filter_models(
        &self,
        page: i64,
        page_size: Option<i64>,
        sort_by: Option<&str>,
        filters: Option<&Value>,
    ) -> TestResponse {
        let mut query = format!("page={page}");
        if let Some(size) = page_size {
            query.push_str(&format!("&page_size={size}"));
        }
        if let Some(sort) = sort_by {
            query.push_str(&format!("&sort_by={sort}"));
        }
        let body = match filters {
            Some(filters) => json!({"filters": filters}),
            None => json!({}),
        };
        self.send(Method::POST, &format!("models/list/?{query}"), Some(body)).await
    }

    /// Iterates `filter_models(...)` as `SyncPager.__iter__` does: page 1, then the next page
    /// after every page it yielded, stopping at the first empty page. Any answer but a 200 the
    /// client can parse would raise inside the loop, so each one is asserted. Returns the items
    /// and the number of requests made.
    async fn filter_models_to_the_end(
        &self,
        page_size: Option<i64>,
        sort_by: Option<&str>,
        filters: Option<&Value>,
    ) -> (Vec<Value>, i64) {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let response = self.filter_models(page, page_size, sort_by, filters).await;
            let results = check_envelope(success(&response, 200), check_model);
            // Page 1 is yielded even when empty; later pages end the iteration when empty.
            if results.is_empty() && page > 1 {
                return (items, page);
            }
            items.extend(results);
            page += 1;
            assert!(page < 1000, "the pager never stops");
        }
    }

    async fn filter_models_summary(&self, filters: Option<&Value>) -> TestResponse {
        let body = match filters {
            Some(filters) => json!({"filters": filters}),
            None => json!({}),
        };
        self.send(Method::POST, "models/summary/", Some(body)).await
    }

    async fn retrieve_custom_model(&self, name: &str) -> TestResponse {
        self.send(Method::GET, &format!("models/{name}/"), None).await
    }

    async fn replace_custom_model(&self, name: &str, body: Value) -> TestResponse {
        self.send(Method::PUT, &format!("models/{name}/"), Some(body)).await
    }

    async fn update_custom_model(&self, name: &str, body: Value) -> TestResponse {
        self.send(Method::PATCH, &format!("models/{name}/"), Some(body)).await
    }

    async fn delete_custom_model(&self, name: &str) -> TestResponse {
        self.send(Method::DELETE, &format!("models/{name}/"), None).await
    }

    /// `list_models(unnest=...)`: `unnest` sent as `true`/`false` when given.
    async fn list_models(&self, unnest: Option<bool>) -> TestResponse {
        let query = unnest.map_or_else(String::new, |u| format!("?unnest={u}"));
        self.send(Method::GET, &format!("models/public/{query}"), None).await
    }
}

impl Env {
    fn client(&self) -> Client<'_> {
        Client { env: self, key: self.admin() }
    }

    fn client_as<'a>(&'a self, key: Option<&'a str>) -> Client<'a> {
        Client { env: self, key }
    }
}

const PROVIDER: &str = "replay-prov";
const MODEL: &str = "replay/model-a";

fn new_provider() -> Value {
    json!({
        "provider_id": PROVIDER,
        "provider_name": "Replay Provider",
        "extra_kwargs": {"base_url": "https://llm.example.com/v1", "timeout": 30}
    })
}

/// `create_custom_model(model_name=MODEL, base_model_name="gpt-4", custom_provider_id=PROVIDER,
/// input_cost=1.5, output_cost=3.0, max_context_window=8192, function_call=1, image_support=0,
/// supported_params_override={...})`, keys in the client's order.
fn new_model(name: &str) -> Value {
    json!({
        "model_name": name,
        "base_model_name": "gpt-4",
        "custom_provider_id": PROVIDER,
        "input_cost": 1.5,
        "output_cost": 3.0,
        "max_context_window": 8192,
        "function_call": 1,
        "image_support": 0,
        "supported_params_override": {"temperature": {"name": "temperature", "type": "number", "default": 0.7}}
    })
}

async fn with_provider(env: &Env) {
    let created = env.client().create_custom_provider(new_provider()).await;
    check_provider(success(&created, 201));
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|m| m["model_name"].as_str().unwrap()).collect()
}

backend_app_tests! {
    async fn create_custom_provider(db) {
        let env = env(db).await;
        let created = env.client().create_custom_provider(new_provider()).await;
        let body = success(&created, 201);
        check_provider(body);
        assert_eq!((body["id"].clone(), body["provider_name"].clone(), body["extra_kwargs"].clone()),
            (json!(PROVIDER), json!("Replay Provider"), json!({"base_url": "https://llm.example.com/v1", "timeout": 30})));
        // The client maps 400 and 403 to typed errors; both carry DRF bodies.
        let again = env.client().create_custom_provider(new_provider()).await;
        assert_eq!((again.status, &again.json),
            (400, &json!({"provider_id": ["custom provider with this provider id already exists."]})));
        let viewer = env.client_as(env.viewer()).create_custom_provider(json!({"provider_id": "v", "provider_name": "V"})).await;
        assert_eq!((viewer.status, &viewer.json), (403, &json!({"detail": common::NO_PERMISSION})));
    }

    async fn list_custom_providers(db) {
        let env = env(db).await;
        with_provider(&env).await;
        for n in 2..=3 {
            let created = env.client().create_custom_provider(json!({"provider_id": format!("replay-prov-{n}"), "provider_name": "More"})).await;
            check_provider(success(&created, 201));
        }
        // Without arguments: no query at all.
        let all = env.client().list_custom_providers(None, None).await;
        let results = check_envelope(success(&all, 200), check_provider);
        assert_eq!((results.len(), all.json["count"].clone()), (3, json!(3)));
        // With page and page_size, walking pages as a caller following the docstring would.
        let first = env.client().list_custom_providers(Some(1), Some(2)).await;
        assert_eq!(check_envelope(success(&first, 200), check_provider).len(), 2);
        assert_eq!(first.json["next"], json!("http://localhost:8080/respan/api/providers/?page=2&page_size=2"));
        let second = env.client().list_custom_providers(Some(2), Some(2)).await;
        assert_eq!(check_envelope(success(&second, 200), check_provider).len(), 1);
        assert_eq!(second.json["next"], Value::Null);
        let past = env.client().list_custom_providers(Some(3), Some(2)).await;
        assert!(check_envelope(success(&past, 200), check_provider).is_empty());
        // Each role reads the same list; another org sees none of it.
        for key in [env.member(), env.viewer()] {
            let listed = env.client_as(key).list_custom_providers(Some(1), Some(10)).await;
            assert_eq!(check_envelope(success(&listed, 200), check_provider).len(), 3);
        }
        let other = env.client_as(env.other()).list_custom_providers(Some(1), Some(10)).await;
        assert!(check_envelope(success(&other, 200), check_provider).is_empty());
        assert_eq!(other.json["count"], json!(0));
    }

    async fn retrieve_custom_provider(db) {
        let env = env(db).await;
        with_provider(&env).await;
        let read = env.client().retrieve_custom_provider(PROVIDER).await;
        check_provider(success(&read, 200));
        let missing = env.client().retrieve_custom_provider("nope").await;
        assert_eq!((missing.status, &missing.json), (404, &json!({"detail": "Not found."})));
        let other = env.client_as(env.other()).retrieve_custom_provider(PROVIDER).await;
        assert_eq!(other.status, 404);
    }

    async fn update_custom_provider(db) {
        let env = env(db).await;
        with_provider(&env).await;
        let patched = env.client().update_custom_provider(PROVIDER, json!({"provider_name": "Renamed"})).await;
        let body = success(&patched, 200);
        check_provider(body);
        assert_eq!((body["provider_name"].clone(), body["extra_kwargs"]["timeout"].clone()), (json!("Renamed"), json!(30)));
        let empty = env.client().update_custom_provider(PROVIDER, json!({})).await;
        check_provider(success(&empty, 200));
        let viewer = env.client_as(env.viewer()).update_custom_provider(PROVIDER, json!({"provider_name": "X"})).await;
        assert_eq!(viewer.status, 403);
    }

    async fn replace_custom_provider(db) {
        let env = env(db).await;
        with_provider(&env).await;
        let replaced = env.client().replace_custom_provider(PROVIDER, json!({"provider_name": "Replaced"})).await;
        let body = success(&replaced, 200);
        check_provider(body);
        assert_eq!((body["provider_name"].clone(), body["extra_kwargs"].clone()), (json!("Replaced"), json!({})));
        let with_kwargs = env.client().replace_custom_provider(PROVIDER, json!({"provider_name": "Replaced", "extra_kwargs": {"timeout": 5}})).await;
        assert_eq!(success(&with_kwargs, 200)["extra_kwargs"], json!({"timeout": 5}));
        let missing = env.client().replace_custom_provider("nope", json!({"provider_name": "N"})).await;
        assert_eq!(missing.status, 404);
    }

    async fn delete_custom_provider(db) {
        let env = env(db).await;
        with_provider(&env).await;
        // The admin created it: a member may not delete it (issue 11), its creator or an admin may.
        assert_eq!(env.client_as(env.member()).delete_custom_provider(PROVIDER).await.status, 403);
        assert_eq!(env.client().delete_custom_provider(PROVIDER).await.status, 204);
        assert_eq!(env.client().retrieve_custom_provider(PROVIDER).await.status, 404);
        assert_eq!(env.client().delete_custom_provider(PROVIDER).await.status, 404);
    }

    async fn create_custom_model(db) {
        let env = env(db).await;
        with_provider(&env).await;
        let created = env.client().create_custom_model(new_model(MODEL)).await;
        let body = success(&created, 201);
        check_model(body);
        assert_eq!((body["id"].clone(), body["provider"]["provider_id"].clone(), body["function_call"].clone()),
            (json!(MODEL), json!(PROVIDER), json!(1)));
        // An existing name updates the sent fields: 200.
        let again = env.client().create_custom_model(json!({"model_name": MODEL, "input_cost": 2.0})).await;
        let body = success(&again, 200);
        check_model(body);
        assert_eq!((body["input_cost"].clone(), body["output_cost"].clone()), (json!(2.0), json!(3.0)));
        // An explicit `custom_provider_id=None` goes out as null: no provider.
        let bare = env.client().create_custom_model(json!({"model_name": "replay/bare", "custom_provider_id": null})).await;
        let body = success(&bare, 201);
        check_model(body);
        assert_eq!(body["provider"], Value::Null);
        let unknown = env.client().create_custom_model(json!({"model_name": "replay/x", "custom_provider_id": "nope"})).await;
        assert_eq!((unknown.status, &unknown.json),
            (400, &json!({"custom_provider_id": ["Object with provider_id=nope does not exist."]})));
    }

    async fn filter_models_pager_to_the_end(db) {
        let env = env(db).await;
        with_provider(&env).await;
        for n in 1..=5 {
            check_model(success(&env.client().create_custom_model(new_model(&format!("replay/model-{n}"))).await, 201));
        }
        let filters = json!({"model_name": {"operator": "icontains", "value": ["replay"]}});
        // 5 matches, 2 a page: pages 1, 2 and 3 hold them, page 4 is the empty one that stops.
        let (items, requests) = env.client().filter_models_to_the_end(Some(2), Some("model_name"), Some(&filters)).await;
        assert_eq!(names(&items), ["replay/model-1", "replay/model-2", "replay/model-3", "replay/model-4", "replay/model-5"]);
        assert_eq!(requests, 4);
        // The page that stops the pager, as the client receives it.
        let stop = env.client().filter_models(4, Some(2), Some("model_name"), Some(&filters)).await;
        assert_eq!((stop.status, &stop.json), (200, &json!({
            "count": 5, "next": null,
            "previous": "http://localhost:8080/respan/api/models/list/?page=3&page_size=2&sort_by=model_name",
            "results": [], "current_filters": filters
        })));
        // An exact multiple of the page size: the empty page right after the last full one.
        let (items, requests) = env.client().filter_models_to_the_end(Some(5), None, Some(&filters)).await;
        assert_eq!((items.len(), requests), (5, 2));
        // Everything, with the client's defaults (no page_size, no filters): built-in models too.
        let (items, requests) = env.client().filter_models_to_the_end(None, None, None).await;
        assert_eq!((items.len(), requests), (8, 2));
        // A viewer and another org walk their own view to the end too.
        let (items, _) = env.client_as(env.viewer()).filter_models_to_the_end(Some(2), None, Some(&filters)).await;
        assert_eq!(items.len(), 5);
        let (items, _) = env.client_as(env.other()).filter_models_to_the_end(Some(2), None, Some(&filters)).await;
        assert!(items.is_empty());
    }

    async fn filter_models_pager_on_an_empty_result(db) {
        let env = env(db).await;
        let filters = json!({"model_name": {"operator": "", "value": ["no-such-model"]}});
        // Page 1 is empty and the pager still asks for page 2: both must be 200.
        let (items, requests) = env.client().filter_models_to_the_end(Some(10), None, Some(&filters)).await;
        assert_eq!((items.len(), requests), (0, 2));
        let second = env.client().filter_models(2, Some(10), None, Some(&filters)).await;
        assert_eq!((second.status, &second.json), (200, &json!({
            "count": 0, "next": null,
            "previous": "http://localhost:8080/respan/api/models/list/?page_size=10",
            "results": [], "current_filters": filters
        })));
        // Errors the client maps: 400 for bad filters.
        let bad = env.client().filter_models(1, None, None, Some(&json!({"colour": {"operator": "", "value": ["red"]}}))).await;
        assert_eq!((bad.status, &bad.json), (400, &json!({"filters": {"colour": ["\"colour\" is not a valid filter field."]}})));
    }

    async fn filter_models_summary(db) {
        let env = env(db).await;
        with_provider(&env).await;
        check_model(success(&env.client().create_custom_model(new_model(MODEL)).await, 201));
        let all = env.client().filter_models_summary(None).await;
        assert_eq!(check_summary(success(&all, 200)), (4, 3, 1));
        let chat = env.client().filter_models_summary(Some(&json!({"model_type": {"operator": "", "value": ["chat"]}}))).await;
        // The custom model sets no model_type of its own (filters use stored values).
        assert_eq!(check_summary(success(&chat, 200)), (2, 2, 0));
        let mine = env.client().filter_models_summary(Some(&json!({"affiliation_category": {"operator": "", "value": ["custom"]}}))).await;
        assert_eq!(check_summary(success(&mine, 200)), (1, 0, 1));
        let other = env.client_as(env.other()).filter_models_summary(None).await;
        assert_eq!(check_summary(success(&other, 200)), (3, 3, 0));
        let bad = env.client().filter_models_summary(Some(&json!({"status": {"operator": "", "value": ["active"]}}))).await;
        assert_eq!((bad.status, &bad.json), (400, &json!({"filters": {"status": ["\"status\" is not a valid filter field."]}})));
    }

    async fn retrieve_custom_model(db) {
        let env = env(db).await;
        with_provider(&env).await;
        check_model(success(&env.client().create_custom_model(new_model(MODEL)).await, 201));
        let read = env.client().retrieve_custom_model(MODEL).await;
        let body = success(&read, 200);
        check_model(body);
        assert_eq!(body["model_name"], json!(MODEL));
        // A built-in model, its name with a `/` as the client sends it.
        check_model(success(&env.client().retrieve_custom_model("openai/gpt-4o-mini").await, 200));
        let missing = env.client().retrieve_custom_model("replay/none").await;
        assert_eq!((missing.status, &missing.json), (404, &json!({"detail": "Not found."})));
        assert_eq!(env.client_as(env.other()).retrieve_custom_model(MODEL).await.status, 404);
    }

    async fn replace_custom_model(db) {
        let env = env(db).await;
        with_provider(&env).await;
        check_model(success(&env.client().create_custom_model(new_model(MODEL)).await, 201));
        let replaced = env.client().replace_custom_model(MODEL, json!({"custom_provider_id": PROVIDER, "input_cost": 2.0})).await;
        let body = success(&replaced, 200);
        check_model(body);
        // Everything not sent is reset.
        assert_eq!((body["input_cost"].clone(), body["output_cost"].clone(), body["base_model_name"].clone()), (json!(2.0), Value::Null, Value::Null));
        let builtin = env.client().replace_custom_model("gpt-4", json!({"input_cost": 1.0})).await;
        assert_eq!((builtin.status, &builtin.json), (403, &json!({"detail": common::MODIFY_HARDCODED})));
        let bad = env.client().replace_custom_model(MODEL, json!({"input_cost": -1.0})).await;
        assert_eq!((bad.status, &bad.json), (400, &json!({"input_cost": ["Ensure this value is greater than or equal to 0."]})));
    }

    async fn update_custom_model(db) {
        let env = env(db).await;
        with_provider(&env).await;
        check_model(success(&env.client().create_custom_model(new_model(MODEL)).await, 201));
        let patched = env.client().update_custom_model(MODEL, json!({"output_cost": 4.0, "image_support": 1})).await;
        let body = success(&patched, 200);
        check_model(body);
        assert_eq!((body["input_cost"].clone(), body["output_cost"].clone(), body["image_support"].clone()), (json!(1.5), json!(4.0), json!(1)));
        let viewer = env.client_as(env.viewer()).update_custom_model(MODEL, json!({"output_cost": 5.0})).await;
        assert_eq!((viewer.status, &viewer.json), (403, &json!({"detail": common::NO_PERMISSION})));
    }

    async fn delete_custom_model(db) {
        let env = env(db).await;
        with_provider(&env).await;
        check_model(success(&env.client().create_custom_model(new_model(MODEL)).await, 201));
        let builtin = env.client().delete_custom_model("gpt-4").await;
        assert_eq!((builtin.status, &builtin.json), (403, &json!({"detail": common::DELETE_HARDCODED})));
        let deleted = env.client().delete_custom_model(MODEL).await;
        assert_eq!((deleted.status, deleted.bytes.is_empty()), (204, true));
        assert_eq!(env.client().delete_custom_model(MODEL).await.status, 404);
    }

    async fn list_models(db) {
        let env = env(db).await;
        with_provider(&env).await;
        check_model(success(&env.client().create_custom_model(new_model(MODEL)).await, 201));
        let nested = env.client().list_models(None).await;
        let items = check_public(success(&nested, 200));
        assert!(nested.json.is_object());
        assert_eq!(names(&items), ["gpt-4", "openai/gpt-4o-mini", "text-embedding-3-small"]);
        let unnested = env.client().list_models(Some(true)).await;
        assert_eq!(check_public(success(&unnested, 200)), items);
        assert!(unnested.json.is_array());
        let explicit = env.client().list_models(Some(false)).await;
        assert_eq!(success(&explicit, 200), &nested.json);
        // The client always sends a key; upstream needs none, and neither does modelgate.
        let anonymous = env.client_as(None).list_models(None).await;
        assert_eq!(success(&anonymous, 200), &nested.json);
    }

    async fn a_whole_session_in_the_clients_order(db) {
        let env = env(db).await;
        let c = env.client();
        check_provider(success(&c.create_custom_provider(new_provider()).await, 201));
        let listed = c.list_custom_providers(Some(1), Some(10)).await;
        assert_eq!(check_envelope(success(&listed, 200), check_provider).len(), 1);
        check_model(success(&c.create_custom_model(new_model(MODEL)).await, 201));
        let filters = json!({"model_name": {"operator": "icontains", "value": ["replay"]}});
        let (items, _) = c.filter_models_to_the_end(Some(2), Some("model_name"), Some(&filters)).await;
        assert_eq!(names(&items), [MODEL]);
        assert_eq!(check_summary(success(&c.filter_models_summary(Some(&filters)).await, 200)), (1, 0, 1));
        check_model(success(&c.retrieve_custom_model(MODEL).await, 200));
        check_model(success(&c.replace_custom_model(MODEL, json!({"custom_provider_id": PROVIDER, "input_cost": 2.0})).await, 200));
        check_model(success(&c.update_custom_model(MODEL, json!({"output_cost": 4.0})).await, 200));
        assert_eq!(c.delete_custom_model(MODEL).await.status, 204);
        check_public(success(&c.list_models(None).await, 200));
        check_public(success(&c.list_models(Some(true)).await, 200));
        check_provider(success(&c.retrieve_custom_provider(PROVIDER).await, 200));
        check_provider(success(&c.update_custom_provider(PROVIDER, json!({"provider_name": "Renamed"})).await, 200));
        check_provider(success(&c.replace_custom_provider(PROVIDER, json!({"provider_name": "Replaced"})).await, 200));
        assert_eq!(c.delete_custom_provider(PROVIDER).await.status, 204);
        let (items, requests) = c.filter_models_to_the_end(Some(2), Some("model_name"), Some(&filters)).await;
        assert_eq!((items.len(), requests), (0, 2));
    }
}

#[test]
fn the_checkers_refuse_what_the_client_refuses() {
    let refused = |f: fn(&Value), v: Value| std::panic::catch_unwind(|| f(&v)).is_err();
    assert!(refused(check_model, json!({"model_name": "m"})), "id is required");
    assert!(refused(check_model, json!({"id": 1, "model_name": "m"})), "id is a string");
    assert!(refused(check_model, json!({"id": "m", "model_name": "m", "input_cost": "1"})));
    assert!(refused(check_model, json!({"id": "m", "model_name": "m", "max_context_window": 1.5})));
    assert!(refused(check_model, json!({"id": "m", "model_name": "m", "function_call": true})));
    assert!(refused(check_model, json!({"id": "m", "model_name": "m", "provider": "openai"})));
    assert!(refused(
        check_model,
        json!({"id": "m", "model_name": "m", "provider": {"id": "p", "provider_id": "p"}})
    ));
    assert!(!refused(
        check_model,
        json!({"id": "m", "model_name": "m", "input_cost": 1, "provider": null})
    ));
    assert!(refused(check_provider, json!({"id": "p", "provider_id": "p"})));
    assert!(refused(
        check_provider,
        json!({"id": "p", "provider_id": "p", "provider_name": "P", "created_at": "yesterday"})
    ));
    assert!(
        refused(
            |v| {
                check_envelope(v, check_provider);
            },
            json!([])
        ),
        "a bare array is no envelope"
    );
    assert!(
        refused(
            |v| {
                check_envelope(v, check_provider);
            },
            json!({"results": []})
        ),
        "count is required"
    );
    assert!(refused(
        |v| {
            check_summary(v);
        },
        json!({"total_count": 1, "global_count": 1, "custom_count": 0})
    ));
    assert!(refused(
        |v| {
            check_public(v);
        },
        json!({"models": [{"input_cost": 1}]})
    ));
    assert!(!refused(
        |v| {
            check_public(v);
        },
        json!([{"model_name": "m", "provider": {"provider_id": "x"}}])
    ));
}
