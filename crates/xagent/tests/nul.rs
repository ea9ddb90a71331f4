//! Issue 11, defect 1: U+0000 anywhere in the input is a 422 before anything reaches the store,
//! on both backends (Postgres used to answer 500, SQLite stored it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::{Ctx, ModelQuery, Registry};
use modelgate_http::app::mount;
use modelgate_testkit::{TestApp, TestResponse, backend_app_tests};
use modelgate_xagent::{Xagent, configure};
use serde_json::{Value, json};

fn got(response: &TestResponse) -> (u16, Value) {
    (response.status, response.json.clone())
}

/// Xagent's 422 for one NUL: its value errors carry the sentence in `ctx.error`.
fn refused(loc: Value, input: &str) -> (u16, Value) {
    (
        422,
        json!({"detail": [{
            "type": "value_error", "loc": loc, "msg": "Value error, Null characters are not allowed",
            "input": input, "ctx": {"error": "Null characters are not allowed"}
        }]}),
    )
}

/// Every custom model with its version and the length of its history.
fn state(app: &TestApp, ctx: &Ctx) -> Value {
    let store = &app.db.store;
    let page = store.list_models(ctx, &ModelQuery::custom_only()).unwrap();
    Value::Array(
        page.items
            .iter()
            .map(|v| {
                let history = store.model_history(ctx, v.model.uuid).unwrap().len();
                json!([v.model.key, v.model.version, history])
            })
            .collect(),
    )
}

backend_app_tests! {
    async fn nul_characters_are_refused_everywhere(db) {
        let (admin, key) = db.bootstrap();
        let app = TestApp::new(db, |cfg| {
            cfg.service(mount::<Xagent>("/xagent", configure));
        })
        .await;
        let k = Some(key.as_str());
        let created = app
            .post("/xagent/api/models", k, json!({"model_id": "m", "model_provider": "openai", "model_name": "gpt-4o"}))
            .await;
        assert_eq!(created.status, 200, "{created:?}");
        let before = state(&app, &admin);

        // The repro: `curl -H "Authorization: Bearer $K" "$B/xagent/api/models/a%00b"`.
        let repro = app.get("/xagent/api/models/a%00b", k).await;
        assert_eq!(got(&repro), refused(json!(["path", "model_id"]), "a\u{0}b"));
        assert!(repro.header("x-request-id").is_some());
        // Without a key, or with a bad one, authentication answers first.
        let anonymous = app.get("/xagent/api/models/a%00b", None).await;
        assert_eq!(got(&anonymous), (401, json!({"detail": "Not authenticated"})));
        let bad_key = app.put("/xagent/api/models/m", Some("nope"), json!({"description": "\u{0}"})).await;
        assert_eq!(got(&bad_key), (401, json!({"detail": "Invalid token"})));

        // Path: both id forms, every method.
        let by_id = app.get("/xagent/api/models/by-id/org/a%00b", k).await;
        assert_eq!(got(&by_id), refused(json!(["path", "model_id"]), "org/a\u{0}b"));
        let delete = app.delete("/xagent/api/models/m%00", k).await;
        assert_eq!(got(&delete), refused(json!(["path", "model_id"]), "m\u{0}"));
        // A path NUL wins over a body NUL (path and query come before the body, as in FastAPI).
        let put = app.put("/xagent/api/models/m%00", k, json!({"description": "\u{0}"})).await;
        assert_eq!(got(&put), refused(json!(["path", "model_id"]), "m\u{0}"));
        let default = app.get("/xagent/api/models/default/gen%00eral", k).await;
        assert_eq!(got(&default), refused(json!(["path", "config_type"]), "gen\u{0}eral"));

        // Query: values and keys, decoded (`%2500` is the text `%00`, not a NUL).
        let list = app.get("/xagent/api/models?category=llm%00", k).await;
        assert_eq!(got(&list), refused(json!(["query", "category"]), "llm\u{0}"));
        let key_nul = app.get("/xagent/api/models/m?x%00=1", k).await;
        assert_eq!(got(&key_nul), refused(json!(["query", "x\u{0}"]), "1"));
        assert_eq!(app.get("/xagent/api/models?category=%2500", k).await.status, 200);

        // Body: top level, inside a list, and in a key.
        let update = app.put("/xagent/api/models/m", k, json!({"description": "a\u{0}b"})).await;
        assert_eq!(got(&update), refused(json!(["body", "description"]), "a\u{0}b"));
        let create = app
            .post("/xagent/api/models", k, json!({
                "model_id": "n", "model_provider": "openai", "model_name": "gpt-4o",
                "abilities": ["chat", "vision\u{0}"], "api_key": "sk-\u{0}"
            }))
            .await;
        assert_eq!(got(&create), (422, json!({"detail": [
            {"type": "value_error", "loc": ["body", "abilities", 1], "msg": "Value error, Null characters are not allowed",
             "input": "vision\u{0}", "ctx": {"error": "Null characters are not allowed"}},
            {"type": "value_error", "loc": ["body", "api_key"], "msg": "Value error, Null characters are not allowed",
             "input": "sk-\u{0}", "ctx": {"error": "Null characters are not allowed"}}
        ]})));
        let in_key = app.put("/xagent/api/models/m", k, json!({"desc\u{0}": "x"})).await;
        assert_eq!(got(&in_key), refused(json!(["body", "desc\u{0}", "[key]"]), "desc\u{0}"));
        let default_body = app
            .post("/xagent/api/models/user-default", k, json!({"config_type": "general", "model_id": "1\u{0}"}))
            .await;
        assert_eq!(got(&default_body), refused(json!(["body", "model_id"]), "1\u{0}"));

        // Nothing was created or changed.
        assert_eq!(state(&app, &admin), before);
        let unchanged = app.get("/xagent/api/models/m", k).await;
        assert_eq!(unchanged.json["description"], created.json["description"]);
    }
}
