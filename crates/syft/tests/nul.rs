//! Issue 11, defect 1: U+0000 anywhere in the input is a 422 before anything reaches the store,
//! on both backends (Postgres used to answer 500, SQLite stored it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ENDPOINTS, MODELS, app, create_endpoint, create_model, endpoint_path, model_path};
use modelgate_core::{Ctx, ModelQuery, Registry};
use modelgate_testkit::{TestApp, TestResponse, backend_app_tests};
use serde_json::{Value, json};

fn got(response: &TestResponse) -> (u16, Value) {
    (response.status, response.json.clone())
}

/// Syft's 422 for one NUL: like its other value errors, `ctx.error` is `{}` (FastAPI's encoding
/// of the exception).
fn refused(loc: Value, input: &str) -> (u16, Value) {
    (
        422,
        json!({"detail": [{
            "type": "value_error", "loc": loc, "msg": "Value error, Null characters are not allowed",
            "input": input, "ctx": {"error": {}}
        }]}),
    )
}

/// Every custom model (version, history length) and every endpoint.
fn state(app: &TestApp, ctx: &Ctx) -> Value {
    let store = &app.db.store;
    let page = store.list_models(ctx, &ModelQuery::custom_only()).unwrap();
    let models: Vec<Value> = page
        .items
        .iter()
        .map(|v| {
            let history = store.model_history(ctx, v.model.uuid).unwrap().len();
            json!([v.model.key, v.model.version, history])
        })
        .collect();
    let endpoints: Vec<Value> = store
        .list_endpoints(ctx)
        .unwrap()
        .iter()
        .map(|e| json!([e.slug, e.name, e.summary, e.updated_at.to_string()]))
        .collect();
    json!({ "models": models, "endpoints": endpoints })
}

backend_app_tests! {
    async fn nul_characters_are_refused_everywhere(db) {
        let (app, admin, key) = app(db).await;
        let k = Some(key.as_str());
        let model = create_model(&app, &key, "m").await;
        create_endpoint(&app, &key, "ep1", &model["id"]).await;
        let before = state(&app, &admin);

        // The repro, in this dialect's path.
        let get = app.get(&model_path("a%00b"), k).await;
        assert_eq!(got(&get), refused(json!(["path", "name"]), "a\u{0}b"));
        assert!(get.header("x-request-id").is_some());
        let anonymous = app.get(&model_path("a%00b"), None).await;
        assert_eq!(got(&anonymous), (401, json!({"detail": "Invalid or missing API key"})));
        let patch = app.patch(&model_path("m%00"), k, json!({"summary": "s"})).await;
        assert_eq!(got(&patch), refused(json!(["path", "name"]), "m\u{0}"));
        let delete = app.delete(&endpoint_path("ep1%00"), k).await;
        assert_eq!(got(&delete), refused(json!(["path", "slug"]), "ep1\u{0}"));
        let list = app.get(&format!("{MODELS}?tag=x%00"), k).await;
        assert_eq!(got(&list), refused(json!(["query", "tag"]), "x\u{0}"));

        // Body: top level, nested in `configuration`, and a renaming PATCH.
        let mut body = common::simple_model("n");
        body["configuration"]["api_key"] = json!("sk-\u{0}-secret");
        let create = app.post(MODELS, k, body).await;
        assert_eq!(got(&create), refused(json!(["body", "configuration", "api_key"]), "sk-\u{0}-secret"));
        let rename = app.patch(&model_path("m"), k, json!({"name": "m\u{0}2"})).await;
        assert_eq!(got(&rename), refused(json!(["body", "name"]), "m\u{0}2"));
        let summary = app.patch(&model_path("m"), k, json!({"summary": "\u{0}", "tags": "a,b"})).await;
        assert_eq!(got(&summary), refused(json!(["body", "summary"]), "\u{0}"));
        let endpoint = app
            .post(ENDPOINTS, k, json!({"name": "f", "slug": "ep2\u{0}", "model_id": model["id"], "response_type": "summary"}))
            .await;
        assert_eq!(got(&endpoint), refused(json!(["body", "slug"]), "ep2\u{0}"));
        let update = app.patch(&endpoint_path("ep1"), k, json!({"description": "d\u{0}"})).await;
        assert_eq!(got(&update), refused(json!(["body", "description"]), "d\u{0}"));
        let bad_key = app.patch(&model_path("m"), Some("nope"), json!({"summary": "\u{0}"})).await;
        assert_eq!(got(&bad_key), (401, json!({"detail": "Invalid or missing API key"})));

        // Nothing was created or changed.
        assert_eq!(state(&app, &admin), before);
    }
}
