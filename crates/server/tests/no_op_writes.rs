//! Hardening (issue 11, defects 5 and 7): a write that changes nothing changes nothing — no
//! version bump, no new `updated_at`, no audit row — and still answers 200; and the history
//! carries nothing of a secret, not even its mask. Replayed through the dialects on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, TestDb, backend_app_tests};
use serde_json::{Value, json};

async fn app(db: TestDb) -> (TestApp, String) {
    let (_, key) = db.bootstrap();
    (TestApp::new(db, configure_main).await, key)
}

/// The model's history through the admin API, found by its Syft Space id (the model's uuid).
async fn history(app: &TestApp, key: &str, model_key: &str) -> Vec<Value> {
    let model = app.get(&format!("/syft/api/v1/models/{model_key}"), Some(key)).await;
    assert_eq!(model.status, 200, "{model:?}");
    let uuid = model.json["id"].as_str().unwrap();
    let history = app.get(&format!("/admin/v1/models/{uuid}/history"), Some(key)).await;
    assert_eq!(history.status, 200, "{history:?}");
    history.json.as_array().unwrap().clone()
}

backend_app_tests! {
    async fn respan_patches_that_change_nothing_write_nothing(db) {
        let (app, key) = app(db).await;
        let k = Some(key.as_str());
        let created = app.post("/respan/api/models/", k, json!({
            "model_name": "quiet", "display_name": "Quiet", "input_cost": 0.5, "max_context_window": 8192,
        })).await;
        assert_eq!(created.status, 201, "{created:?}");
        for body in [json!({}), json!({"display_name": "Quiet", "input_cost": 0.5}), json!({"max_context_window": 8192})] {
            let patched = app.patch("/respan/api/models/quiet/", k, body.clone()).await;
            assert_eq!(patched.status, 200, "{body}: {patched:?}");
            assert_eq!(patched.json["updated_at"], created.json["updated_at"], "{body}");
        }
        // An empty body reads as {} in DRF: the same answer.
        let empty = app.send_raw(actix_web::http::Method::PATCH, "/respan/api/models/quiet/", k, Vec::new()).await;
        assert_eq!(empty.status, 200, "{empty:?}");
        assert_eq!(empty.json["updated_at"], created.json["updated_at"]);
        let events = history(&app, &key, "quiet").await;
        assert_eq!(events.len(), 1, "only the create: {events:?}");
        assert_eq!(events[0]["after"]["version"], 1);
        // A real change is still one.
        let changed = app.patch("/respan/api/models/quiet/", k, json!({"input_cost": 0.6})).await;
        assert_eq!(changed.status, 200);
        assert_ne!(changed.json["updated_at"], created.json["updated_at"]);
        assert_eq!(history(&app, &key, "quiet").await.len(), 2);
    }

    async fn xagent_empty_puts_write_nothing_and_keys_stay_out_of_history(db) {
        let (app, key) = app(db).await;
        let k = Some(key.as_str());
        let created = app.post("/xagent/api/models/", k, json!({
            "model_id": "quiet-x", "model_provider": "openai", "model_name": "gpt-4o",
            "api_key": "sk-xagent-secret-123456", "temperature": 0.3,
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        for body in [json!({}), json!({"temperature": 0.3, "api_key": "sk-xagent-secret-123456"}), json!({"api_key": ""})] {
            let put = app.put("/xagent/api/models/quiet-x", k, body.clone()).await;
            assert_eq!(put.status, 200, "{body}: {put:?}");
            assert_eq!(put.json["updated_at"], created.json["updated_at"], "{body}");
        }
        assert_eq!(history(&app, &key, "quiet-x").await.len(), 1);
        // A new key is a change, recorded without anything of either key.
        let rotated = app.put("/xagent/api/models/quiet-x", k, json!({"api_key": "sk-xagent-rotated-654321"})).await;
        assert_eq!(rotated.status, 200);
        let events = history(&app, &key, "quiet-x").await;
        assert_eq!(events.len(), 2);
        let trail = serde_json::to_string(&events).unwrap();
        for fragment in ["sk-xagent", "123456", "654321", "sk-..."] {
            assert!(!trail.contains(fragment), "{fragment} in the history: {trail}");
        }
        assert_eq!(events[1]["after"]["api_key"], "[secret]");
    }

    async fn identical_openwebui_and_syft_updates_write_nothing(db) {
        let (app, key) = app(db).await;
        let k = Some(key.as_str());
        let form = json!({"id": "quiet-o", "name": "Quiet", "params": {"temperature": 0.1},
                          "meta": {"description": "d", "tags": [{"name": "t"}]}});
        let created = app.post("/openwebui/api/models/create", k, form.clone()).await;
        assert_eq!(created.status, 200, "{created:?}");
        let same = app.post("/openwebui/api/models/model/update", k, form).await;
        assert_eq!(same.status, 200, "{same:?}");
        assert_eq!(same.json["updated_at"], created.json["updated_at"]);
        let patch = app.patch("/syft/api/v1/models/quiet-o", k, json!({"summary": "d", "tags": "t"})).await;
        assert_eq!(patch.status, 200, "{patch:?}");
        assert_eq!(history(&app, &key, "quiet-o").await.len(), 1);
    }
}
