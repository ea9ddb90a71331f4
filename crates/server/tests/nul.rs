//! Issue 11, defect 1: U+0000 anywhere in the input is refused before anything reaches the
//! store, on both backends, through the main listener: the admin API and `/v1` in their own
//! formats, and the repro as the server really mounts it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::{Ctx, ModelQuery, Registry};
use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, TestResponse, backend_app_tests};
use serde_json::{Value, json};

fn got(response: &TestResponse) -> (u16, Value) {
    (response.status, response.json.clone())
}

/// The admin API's 422 for NULs at these fields.
fn admin_refused(fields: &[&str]) -> (u16, Value) {
    let errors: Vec<Value> = fields
        .iter()
        .map(|field| json!({"field": field, "message": "Null characters are not allowed."}))
        .collect();
    (422, json!({"detail": "Invalid request", "code": "invalid", "errors": errors}))
}

/// `/v1`'s 400 for a NUL in `param`.
fn openai_refused(param: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {
            "message": "Null characters are not allowed.", "type": "invalid_request_error",
            "param": param, "code": null
        }}),
    )
}

/// Users, groups, keys and custom models (version and history length) of the org.
fn state(app: &TestApp, ctx: &Ctx) -> Value {
    let store = &app.db.store;
    let models: Vec<Value> = store
        .list_models(ctx, &ModelQuery::custom_only())
        .unwrap()
        .items
        .iter()
        .map(|v| {
            let history = store.model_history(ctx, v.model.uuid).unwrap().len();
            json!([v.model.key, v.model.version, history])
        })
        .collect();
    json!({
        "users": serde_json::to_value(store.list_users(ctx).unwrap()).unwrap(),
        "groups": serde_json::to_value(store.list_groups(ctx).unwrap()).unwrap(),
        "keys": serde_json::to_value(store.list_api_keys(ctx).unwrap()).unwrap(),
        "models": models,
    })
}

backend_app_tests! {
    async fn nul_characters_are_refused_by_the_admin_api_and_v1(db) {
        let (admin, key) = db.bootstrap();
        let app = TestApp::new(db, configure_main).await;
        let k = Some(key.as_str());
        let alice = app.post("/admin/v1/users", k, json!({"id": "alice", "name": "Alice"})).await;
        assert_eq!(alice.status, 201, "{alice:?}");
        let model = app
            .post("/xagent/api/models", k, json!({"model_id": "m", "model_provider": "openai", "model_name": "gpt-4o"}))
            .await;
        assert_eq!(model.status, 200, "{model:?}");
        let before = state(&app, &admin);

        // The repro verbatim, on the main listener.
        let repro = app.get("/xagent/api/models/a%00b", k).await;
        assert_eq!(got(&repro), (422, json!({"detail": [{
            "type": "value_error", "loc": ["path", "model_id"], "msg": "Value error, Null characters are not allowed",
            "input": "a\u{0}b", "ctx": {"error": "Null characters are not allowed"}
        }]})));
        // Every dialect's prefix refuses it too, in its own format.
        assert_eq!(app.get("/openwebui/api/models/model?id=a%00b", k).await.status, 422);
        assert_eq!(app.get("/syft/api/v1/models/a%00b", k).await.status, 422);
        assert_eq!(got(&app.get("/respan/api/models/a%00b/", k).await),
            (400, json!({"detail": "Null characters are not allowed."})));

        // Admin API: body values at any depth, path parameters, query keys and values.
        assert_eq!(got(&app.post("/admin/v1/users", k, json!({"id": "bob\u{0}", "name": "B\u{0}"})).await),
            admin_refused(&["id", "name"]));
        assert_eq!(got(&app.patch("/admin/v1/users/alice", k, json!({"email": "a\u{0}@example.com"})).await),
            admin_refused(&["email"]));
        assert_eq!(got(&app.post("/admin/v1/groups", k, json!({"name": "G", "member_ids": ["alice", "\u{0}"]})).await),
            admin_refused(&["member_ids.1"]));
        assert_eq!(got(&app.post("/admin/v1/orgs", k, json!({"name": "o", "meta": {"n\u{0}": 1}})).await),
            admin_refused(&["meta.n\u{0}"]));
        assert_eq!(got(&app.post("/admin/v1/keys", k, json!({"name": "ci\u{0}"})).await), admin_refused(&["name"]));
        assert_eq!(got(&app.get("/admin/v1/users/a%00b", k).await), admin_refused(&["path.id"]));
        assert_eq!(got(&app.delete("/admin/v1/users/alice%00", k).await), admin_refused(&["path.id"]));
        assert_eq!(got(&app.get("/admin/v1/models/a%00b/history", k).await), admin_refused(&["path.model"]));
        assert_eq!(got(&app.get("/admin/v1/users?q=%00", k).await), admin_refused(&["query.q"]));
        // Authentication answers first.
        assert_eq!(app.get("/admin/v1/users/a%00b", None).await.status, 401);
        assert_eq!(app.post("/admin/v1/users", Some("nope"), json!({"name": "\u{0}"})).await.status, 401);

        // /v1: OpenAI's error object, naming the parameter.
        assert_eq!(got(&app.get("/v1/models/a%00b", k).await), openai_refused("id"));
        assert_eq!(got(&app.get("/v1/models?after=%00", k).await), openai_refused("after"));
        assert_eq!(app.get("/v1/models/a%00b", None).await.status, 401);

        // Nothing was created or changed.
        assert_eq!(state(&app, &admin), before);
    }
}
