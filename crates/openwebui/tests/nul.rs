//! Issue 11, defect 1: U+0000 anywhere in the input is a 422 before anything reaches the store,
//! on both backends (Postgres used to answer 500, SQLite stored it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{API, V1, model_body, world};
use modelgate_core::{Ctx, ModelQuery, Registry};
use modelgate_testkit::{TestApp, TestResponse, backend_app_tests};
use serde_json::{Value, json};

fn got(response: &TestResponse) -> (u16, Value) {
    (response.status, response.json.clone())
}

fn error(loc: Value, input: &str) -> Value {
    json!({
        "type": "value_error", "loc": loc, "msg": "Value error, Null characters are not allowed",
        "input": input, "ctx": {"error": "Null characters are not allowed"}
    })
}

/// Open WebUI's 422 for one NUL, in its pydantic shape.
fn refused(loc: Value, input: &str) -> (u16, Value) {
    (422, json!({ "detail": [error(loc, input)] }))
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
                json!([v.model.key, v.model.version, history, v.model.fields.description])
            })
            .collect(),
    )
}

backend_app_tests! {
    async fn nul_characters_are_refused_everywhere(db) {
        let w = world(db).await;
        let k = Some(w.admin.as_str());
        let created = w.app.post(&format!("{API}/create"), k, model_body("m", "M")).await;
        assert_eq!(created.status, 200, "{created:?}");
        let before = state(&w.app, &w.admin_ctx);

        // Ids travel in the query here: the repro, in this dialect's form.
        let get = w.app.get(&format!("{V1}/model?id=a%00b"), k).await;
        assert_eq!(got(&get), refused(json!(["query", "id"]), "a\u{0}b"));
        assert!(get.header("x-request-id").is_some());
        let anonymous = w.app.get(&format!("{V1}/model?id=a%00b"), None).await;
        assert_eq!(got(&anonymous), (401, json!({"detail": "Not authenticated"})));
        let toggle = w.app.post(&format!("{API}/model/toggle?id=m%00"), k, json!({})).await;
        assert_eq!(got(&toggle), refused(json!(["query", "id"]), "m\u{0}"));
        let delete = w.app.delete(&format!("{API}/model/delete?id=m%00"), k).await;
        assert_eq!(got(&delete), refused(json!(["query", "id"]), "m\u{0}"));
        let list = w.app.get(&format!("{V1}/list?query=x&tag=a%00"), k).await;
        assert_eq!(got(&list), refused(json!(["query", "tag"]), "a\u{0}"));
        let unknown_key = w.app.get(&format!("{V1}/?%00=1"), k).await;
        assert_eq!(got(&unknown_key), refused(json!(["query", "\u{0}"]), "1"));

        // Body: top level, nested in `meta`, in a list, and in a key.
        let mut body = model_body("m", "M\u{0}");
        body["meta"] = json!({"description": "d\u{0}", "tags": [{"name": "t\u{0}"}]});
        let update = w.app.post(&format!("{API}/model/update"), k, body).await;
        assert_eq!(got(&update), (422, json!({"detail": [
            error(json!(["body", "name"]), "M\u{0}"),
            error(json!(["body", "meta", "description"]), "d\u{0}"),
            error(json!(["body", "meta", "tags", 0, "name"]), "t\u{0}"),
        ]})));
        let mut nested = model_body("m", "M");
        nested["meta"] = json!({"description": "a\u{0}b"});
        let update = w.app.post(&format!("{V1}/model/update"), k, nested).await;
        assert_eq!(got(&update), refused(json!(["body", "meta", "description"]), "a\u{0}b"));
        let create = w.app.post(&format!("{API}/create"), k, model_body("n\u{0}", "N")).await;
        assert_eq!(got(&create), refused(json!(["body", "id"]), "n\u{0}"));
        let mut params = model_body("p", "P");
        params["params"] = json!({"system\u{0}": "x"});
        let create = w.app.post(&format!("{API}/create"), k, params).await;
        assert_eq!(got(&create), refused(json!(["body", "params", "system\u{0}", "[key]"]), "system\u{0}"));
        let import = w.app.post(&format!("{API}/import"), k, json!({"models": [model_body("i", "\u{0}")]})).await;
        assert_eq!(got(&import), refused(json!(["body", "models", 0, "name"]), "\u{0}"));
        let access = w.app
            .post(&format!("{API}/model/access/update"), k, json!({
                "id": "m", "access_grants": [{"principal_type": "user", "principal_id": "bob\u{0}", "permission": "read"}]
            }))
            .await;
        assert_eq!(got(&access), refused(json!(["body", "access_grants", 0, "principal_id"]), "bob\u{0}"));
        // A bad key wins over a bad body.
        let bad_key = w.app.post(&format!("{API}/create"), Some("nope"), model_body("n\u{0}", "N")).await;
        assert_eq!(got(&bad_key), (401, json!({"detail": "Not authenticated"})));

        // Nothing was created or changed.
        assert_eq!(state(&w.app, &w.admin_ctx), before);
    }
}
