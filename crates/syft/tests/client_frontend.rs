//! Replays the model- and endpoint-management calls of Syft Space's current web UI, in the order
//! its pages make them, with the exact method, path (axios base `/api/v1`, here under `/syft`)
//! and body. Each test is named after the client function it stands for (`endpointsApi.list` is
//! `endpoints_list`, …) and checks every field the UI reads, with the type the UI needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{SECRET, detail};
use modelgate_testkit::{TestApp, TestDb, TestResponse, backend_app_tests};
use serde_json::{Value, json};

/// The UI's axios client: a base URL, a bearer token, JSON bodies.
struct Client {
    app: TestApp,
    token: String,
}

const BASE: &str = "/syft/api/v1";

impl Client {
    async fn new(db: TestDb) -> Self {
        let (app, _, token) = common::app(db).await;
        Self { app, token }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.app.send(method, &format!("{BASE}{path}"), Some(&self.token), body).await
    }

    // ---- modelsApi ----

    async fn models_list_types(&self) -> TestResponse {
        self.call(Method::GET, "/models/types/", None).await
    }

    async fn models_get_type(&self, name: &str) -> TestResponse {
        self.call(Method::GET, &format!("/models/types/{name}"), None).await
    }

    async fn models_get_type_schema(&self, name: &str) -> TestResponse {
        self.call(Method::GET, &format!("/models/types/{name}/schema"), None).await
    }

    async fn models_create(&self, body: Value) -> TestResponse {
        self.call(Method::POST, "/models/", Some(body)).await
    }

    async fn models_list(&self) -> TestResponse {
        self.call(Method::GET, "/models/", None).await
    }

    async fn models_get(&self, name: &str) -> TestResponse {
        self.call(Method::GET, &format!("/models/{name}"), None).await
    }

    async fn models_update(&self, name: &str, body: Value) -> TestResponse {
        self.call(Method::PATCH, &format!("/models/{name}"), Some(body)).await
    }

    async fn models_delete(&self, name: &str) -> TestResponse {
        self.call(Method::DELETE, &format!("/models/{name}"), None).await
    }

    // ---- endpointsApi ----

    async fn endpoints_list(&self) -> TestResponse {
        self.call(Method::GET, "/endpoints/", None).await
    }

    async fn endpoints_create(&self, body: Value) -> TestResponse {
        self.call(Method::POST, "/endpoints/", Some(body)).await
    }

    async fn endpoints_get(&self, slug: &str) -> TestResponse {
        self.call(Method::GET, &format!("/endpoints/{slug}"), None).await
    }

    async fn endpoints_update(&self, slug: &str, body: Value) -> TestResponse {
        self.call(Method::PATCH, &format!("/endpoints/{slug}"), Some(body)).await
    }

    async fn endpoints_delete(&self, slug: &str) -> TestResponse {
        self.call(Method::DELETE, &format!("/endpoints/{slug}"), None).await
    }

    async fn endpoints_validate_slug(&self, body: Value) -> TestResponse {
        self.call(Method::POST, "/endpoints/validate-slug", Some(body)).await
    }

    async fn endpoints_publish(&self, slug: &str) -> TestResponse {
        let body = json!({"publish_to_all_marketplaces": true});
        self.call(Method::POST, &format!("/endpoints/{slug}/publish"), Some(body)).await
    }

    async fn endpoints_unpublish(&self, slug: &str) -> TestResponse {
        self.call(Method::DELETE, &format!("/endpoints/{slug}/unpublish"), None).await
    }
}

// What the create-model-endpoint wizard's form holds.
const SLUG: &str = "support-assistant";
const SUMMARY: &str = "Answers customer questions";
const DESCRIPTION: &str = "# Support\nAnswers questions about orders.";
const PROMPT: &str = "Answer in two sentences.";

/// `useModelEndpointCreation.createModel`: the model is named after the endpoint, always
/// `openai`, tags joined with ", ".
fn wizard_model() -> Value {
    json!({
        "name": SLUG,
        "dtype": "openai",
        "configuration": {
            "api_key": SECRET,
            "model": "gpt-4o-mini",
            "base_url": "https://api.openai.com/v1",
            "system_prompt": ""
        },
        "summary": format!("Model for {SUMMARY}"),
        "tags": "support, orders"
    })
}

/// `useModelEndpointCreation.createEndpoint`: exactly what the wizard posts.
fn wizard_endpoint(model_id: &Value) -> Value {
    json!({
        "name": SLUG,
        "slug": SLUG,
        "summary": SUMMARY,
        "description": DESCRIPTION,
        "tags": "support,orders",
        "response_type": "summary",
        "model_id": model_id,
        "published": true,
        "system_prompt": PROMPT
    })
}

fn string(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_else(|| panic!("{field} is a string: {value}")).to_owned()
}

fn uuid(value: &Value, field: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(&string(value, field)).unwrap_or_else(|e| panic!("{field}: {e}"))
}

fn time(value: &Value, field: &str) {
    let text = string(value, field);
    assert!(chrono::DateTime::parse_from_rfc3339(&text).is_ok(), "{field}: {text}");
}

fn boolean(value: &Value, field: &str) -> bool {
    value[field].as_bool().unwrap_or_else(|| panic!("{field} is a bool: {value}"))
}

fn nullable_string(value: &Value, field: &str) -> Option<String> {
    let v = &value[field];
    assert!(v.is_null() || v.is_string(), "{field} is a string or null: {value}");
    v.as_str().map(str::to_owned)
}

/// The fields the UI reads from a model (`ModelResponse` and its relatives).
fn check_model(model: &Value) {
    uuid(model, "id");
    string(model, "name");
    assert_eq!(string(model, "dtype"), "openai");
    assert!(model["configuration"].is_object(), "{model}");
    string(model, "summary");
    string(model, "tags");
    time(model, "created_at");
}

/// The embedded `AttachedModel`: the detail page links `/models/{model.name}`, the store keeps
/// `model.id` and `model.dtype`.
fn check_attached_model(attached: &Value, model_id: &Value) {
    assert_eq!(attached["id"], *model_id);
    assert_eq!(string(attached, "name"), SLUG);
    assert_eq!(string(attached, "dtype"), "openai");
    assert_eq!(attached["configuration"]["api_key"], "sk-...abcd");
    assert_eq!(attached["configuration"]["model"], "gpt-4o-mini");
}

/// The endpoint fields both the list and the detail page read.
fn check_endpoint_common(endpoint: &Value, model_id: &Value) {
    uuid(endpoint, "id");
    assert_eq!(string(endpoint, "name"), SLUG);
    assert_eq!(string(endpoint, "slug"), SLUG);
    assert_eq!(string(endpoint, "summary"), SUMMARY);
    assert_eq!(string(endpoint, "response_type"), "summary");
    // The UI shows Published/Offline from it, and unpublishes before deleting when it is true.
    assert!(boolean(endpoint, "published"));
    // Split on "," for the domain/language chips.
    let tags = string(endpoint, "tags");
    assert_eq!(tags.split(',').collect::<Vec<_>>(), ["support", "orders"]);
    assert_eq!(nullable_string(endpoint, "system_prompt").as_deref(), Some(PROMPT));
    time(endpoint, "created_at");
    check_attached_model(&endpoint["model"], model_id);
    // `dataset?.id`, `dataset?.dtype`: absent.
    assert!(endpoint["dataset"].is_null());
}

fn check_detail(endpoint: &Value, model_id: &Value) {
    check_endpoint_common(endpoint, model_id);
    string(endpoint, "description");
    time(endpoint, "updated_at");
    // Filtered by `policy_type` on the detail page.
    assert_eq!(endpoint["policies"], json!([]));
}

/// The wizard up to the endpoint: the model form's lists, the model, the name check, the
/// endpoint. Returns the model's id.
async fn through_the_wizard(client: &Client) -> Value {
    assert_eq!(client.models_list_types().await.status, 200);
    assert_eq!(client.models_list().await.json, json!([]));
    let model = client.models_create(wizard_model()).await;
    assert_eq!(model.status, 201, "{model:?}");
    let checked =
        client.endpoints_validate_slug(json!({"slug": SLUG, "check_all_marketplaces": true})).await;
    assert_eq!(checked.status, 200, "{checked:?}");
    let created = client.endpoints_create(wizard_endpoint(&model.json["id"])).await;
    assert_eq!(created.status, 201, "{created:?}");
    model.json["id"].clone()
}

backend_app_tests! {
    async fn models_list_types(db) {
        let client = Client::new(db).await;
        let types = client.models_list_types().await;
        assert_eq!(types.status, 200);
        let openai = types.json.as_array().unwrap().iter().find(|t| t["name"] == "openai").unwrap();
        string(openai, "description");
        string(openai, "icon");
        assert!(boolean(openai, "enabled"));
        assert!(openai["config_schema"]["properties"]["api_key"].is_object());
    }

    async fn models_get_type(db) {
        let client = Client::new(db).await;
        let openai = client.models_get_type("openai").await;
        assert_eq!((openai.status, string(&openai.json, "name")), (200, "openai".to_owned()));
        assert!(openai.json["config_schema"].is_object());
        let missing = client.models_get_type("gemini").await;
        assert_eq!((missing.status, missing.json), (404, detail("Model type 'gemini' not found")));
    }

    async fn models_get_type_schema(db) {
        let client = Client::new(db).await;
        let schema = client.models_get_type_schema("openai").await;
        assert_eq!(schema.status, 200);
        assert_eq!(schema.json["type"], "object");
        assert!(schema.json["properties"]["base_url"].is_object());
    }

    async fn models_create(db) {
        let client = Client::new(db).await;
        let created = client.models_create(wizard_model()).await;
        assert_eq!(created.status, 201, "{created:?}");
        let model = &created.json;
        check_model(model);
        time(model, "updated_at");
        // The wizard keeps `id` (for the endpoint) and `name` (for the rollback's delete).
        assert_eq!(string(model, "name"), SLUG);
        assert_eq!(model["configuration"]["api_key"], "sk-...abcd");
        // modelgate normalizes ", " to ",".
        assert_eq!(string(model, "tags"), "support,orders");
        let again = client.models_create(wizard_model()).await;
        assert_eq!((again.status, again.json), (409, detail("Model 'support-assistant' already exists")));
    }

    async fn models_list(db) {
        let client = Client::new(db).await;
        let model_id = through_the_wizard(&client).await;
        let listed = client.models_list().await;
        assert_eq!(listed.status, 200);
        let models = listed.json.as_array().unwrap();
        assert_eq!(models.len(), 1);
        check_model(&models[0]);
        assert_eq!(models[0]["id"], model_id);
        let connected = &models[0]["connected_endpoints"][0];
        assert_eq!((string(connected, "slug"), string(connected, "name")), (SLUG.to_owned(), SLUG.to_owned()));
        uuid(connected, "id");
    }

    async fn endpoints_validate_slug(db) {
        let client = Client::new(db).await;
        // The name step: only "available" lets the wizard go on.
        let checked = client.endpoints_validate_slug(json!({"slug": SLUG, "check_all_marketplaces": true})).await;
        assert_eq!(checked.status, 200);
        let answer = &checked.json;
        assert_eq!(string(answer, "slug"), SLUG);
        assert!(boolean(answer, "local_available"));
        let marketplaces = answer["marketplaces"].as_array().unwrap();
        assert!(marketplaces.iter().all(|m| m["available"] != json!(false)));

        through_the_wizard(&client).await;
        let taken = client.endpoints_validate_slug(json!({"slug": SLUG, "check_all_marketplaces": true})).await;
        assert_eq!((taken.status, &taken.json), (200, &json!({"slug": SLUG, "local_available": false, "marketplaces": []})));
    }

    async fn endpoints_create(db) {
        let client = Client::new(db).await;
        let model = client.models_create(wizard_model()).await.json;
        let created = client.endpoints_create(wizard_endpoint(&model["id"])).await;
        assert_eq!(created.status, 201, "{created:?}");
        // The wizard keeps `id` (for policies) and `slug` (for publish and rollback).
        uuid(&created.json, "id");
        assert_eq!(string(&created.json, "slug"), SLUG);
        assert_eq!(created.json["model_id"], model["id"]);
        assert!(boolean(&created.json, "published"));

        // Without the optional prompt (`system_prompt: undefined` is left out of the JSON).
        let mut other = wizard_endpoint(&model["id"]);
        other["name"] = json!("second-assistant");
        other["slug"] = json!("second-assistant");
        other.as_object_mut().unwrap().remove("system_prompt");
        let second = client.endpoints_create(other).await;
        assert_eq!((second.status, &second.json["system_prompt"]), (201, &Value::Null));

        let again = client.endpoints_create(wizard_endpoint(&model["id"])).await;
        assert_eq!((again.status, again.json), (409, detail("Endpoint slug 'support-assistant' already exists")));
    }

    async fn endpoints_list(db) {
        let client = Client::new(db).await;
        let model_id = through_the_wizard(&client).await;
        let listed = client.endpoints_list().await;
        assert_eq!(listed.status, 200);
        let items = listed.json.as_array().unwrap();
        assert_eq!(items.len(), 1);
        check_endpoint_common(&items[0], &model_id);
    }

    async fn endpoints_get(db) {
        let client = Client::new(db).await;
        let model_id = through_the_wizard(&client).await;
        let got = client.endpoints_get(SLUG).await;
        assert_eq!(got.status, 200);
        check_detail(&got.json, &model_id);
        assert_eq!(string(&got.json, "description"), DESCRIPTION);
        // The "AI Model API" label shows because `model` is there; its link is the model page.
        let page = client.models_get(&string(&got.json["model"], "name")).await;
        assert_eq!(page.status, 200);
        let missing = client.endpoints_get("nope").await;
        assert_eq!((missing.status, missing.json), (404, detail("Endpoint 'nope' not found")));
    }

    async fn endpoints_update(db) {
        let client = Client::new(db).await;
        let model_id = through_the_wizard(&client).await;
        // The edit dialog: summary and description (`description || undefined`).
        let edited = client.endpoints_update(SLUG, json!({"summary": "Answers billing questions", "description": "# Billing"})).await;
        assert_eq!(edited.status, 200, "{edited:?}");
        assert_eq!(string(&edited.json, "summary"), "Answers billing questions");
        assert_eq!(string(&edited.json, "description"), "# Billing");
        // The detail page then passes the prompt too.
        let prompt = client.endpoints_update(SLUG, json!({"summary": SUMMARY, "system_prompt": PROMPT})).await;
        assert_eq!(prompt.status, 200);
        check_detail(&prompt.json, &model_id);
        assert_eq!(client.endpoints_get(SLUG).await.json, prompt.json);
        let nothing = client.endpoints_update(SLUG, json!({})).await;
        assert_eq!(nothing.status, 422);
    }

    async fn endpoints_delete(db) {
        let client = Client::new(db).await;
        through_the_wizard(&client).await;
        let deleted = client.endpoints_delete(SLUG).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted endpoint 'support-assistant'"})));
        assert_eq!(client.endpoints_list().await.json, json!([]));
        let again = client.endpoints_delete(SLUG).await;
        assert_eq!((again.status, again.json), (404, detail("Endpoint 'support-assistant' not found")));
    }

    async fn models_get(db) {
        let client = Client::new(db).await;
        let model_id = through_the_wizard(&client).await;
        let got = client.models_get(SLUG).await;
        assert_eq!(got.status, 200);
        check_model(&got.json);
        time(&got.json, "updated_at");
        assert_eq!(got.json["id"], model_id);
        assert_eq!(got.json["connected_endpoints"].as_array().unwrap().len(), 1);
    }

    async fn models_update(db) {
        let client = Client::new(db).await;
        through_the_wizard(&client).await;
        // The model edit dialog sends all three.
        let body = json!({"name": "support-model", "summary": "Support model", "tags": "support, billing"});
        let updated = client.models_update(SLUG, body).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        check_model(&updated.json);
        assert_eq!(string(&updated.json, "tags"), "support,billing");
        // The endpoint follows the rename.
        assert_eq!(client.endpoints_get(SLUG).await.json["model"]["name"], "support-model");
    }

    async fn models_delete(db) {
        let client = Client::new(db).await;
        through_the_wizard(&client).await;
        let deleted = client.models_delete(SLUG).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted model 'support-assistant'"})));
        // Its endpoint goes with it.
        assert_eq!(client.endpoints_list().await.json, json!([]));
        assert_eq!(client.models_list().await.json, json!([]));
    }

    // The whole create-model-endpoint page and what follows, call after call.
    async fn create_model_endpoint_wizard_then_manage(db) {
        let client = Client::new(db).await;
        let model_id = through_the_wizard(&client).await;

        // Step 4, publish, is not served: the UI would now roll back (endpoint, then model).
        let publish = client.endpoints_publish(SLUG).await;
        assert_eq!((publish.status, publish.json), (404, detail("Not Found")));

        // Without the rollback: the endpoints page, the detail page, the edit dialog.
        check_endpoint_common(&client.endpoints_list().await.json[0], &model_id);
        check_detail(&client.endpoints_get(SLUG).await.json, &model_id);
        let edited = client.endpoints_update(SLUG, json!({"summary": "Edited", "description": "Edited text"})).await;
        assert_eq!((edited.status, string(&edited.json, "summary")), (200, "Edited".to_owned()));
        // The dialog publishes after saving: not served either (the edit is kept).
        assert_eq!(client.endpoints_publish(SLUG).await.status, 404);
        assert_eq!(string(&client.endpoints_get(SLUG).await.json, "summary"), "Edited");

        // Deleting a published endpoint: the UI unpublishes first, which is not served.
        assert_eq!(client.endpoints_unpublish(SLUG).await.status, 404);
        let deleted = client.endpoints_delete(SLUG).await;
        assert_eq!(deleted.status, 200);

        // The model pages.
        assert_eq!(client.models_get(SLUG).await.json["connected_endpoints"], json!([]));
        let patched = client.models_update(SLUG, json!({"name": SLUG, "summary": "Kept", "tags": ""})).await;
        assert_eq!((patched.status, string(&patched.json, "summary")), (200, "Kept".to_owned()));
        let gone = client.models_delete(SLUG).await;
        assert_eq!(gone.status, 200);
        assert_eq!(client.models_list().await.json, json!([]));
    }
}
