//! Helpers shared by the endpoint and client-replay suites.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::Ctx;
use modelgate_http::app::mount;
use modelgate_syft::{Syft, configure};
use modelgate_testkit::{TestApp, TestDb};
use serde_json::{Value, json};

pub const MODELS: &str = "/syft/api/v1/models/";
pub const ENDPOINTS: &str = "/syft/api/v1/endpoints/";
pub const VALIDATE_SLUG: &str = "/syft/api/v1/endpoints/validate-slug";
pub const SECRET: &str = "sk-proj-SECRET-value-0123abcd";

pub fn model_path(name: &str) -> String {
    format!("/syft/api/v1/models/{name}")
}

pub fn endpoint_path(slug: &str) -> String {
    format!("/syft/api/v1/endpoints/{slug}")
}

/// The app with the dialect under `/syft`, and the bootstrap admin with its key.
pub async fn app(db: TestDb) -> (TestApp, Ctx, String) {
    let (admin, key) = db.bootstrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Syft>("/syft", configure));
    })
    .await;
    (app, admin, key)
}

pub fn simple_model(name: &str) -> Value {
    json!({"name": name, "dtype": "openai", "configuration": {"api_key": SECRET, "model": "gpt-4o"}})
}

pub async fn create_model(app: &TestApp, key: &str, name: &str) -> Value {
    let created = app.post(MODELS, Some(key), simple_model(name)).await;
    assert_eq!(created.status, 201, "{created:?}");
    created.json
}

/// A `summary` endpoint serving `model_id`: the only kind modelgate can create.
pub async fn create_endpoint(app: &TestApp, key: &str, slug: &str, model_id: &Value) -> Value {
    let body =
        json!({"name": slug, "slug": slug, "model_id": model_id, "response_type": "summary"});
    let created = app.post(ENDPOINTS, Some(key), body).await;
    assert_eq!(created.status, 201, "{created:?}");
    created.json
}

pub fn keys(value: &Value) -> Vec<&str> {
    value.as_object().unwrap().keys().map(String::as_str).collect()
}

pub fn detail(text: &str) -> Value {
    json!({ "detail": text })
}
