//! The seeds' two example requests, sent verbatim, and every response field they document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{API, V1, answer, detail, grant, world};
use modelgate_testkit::backend_app_tests;
use serde_json::{Value, json};

const CREATE_EXAMPLE: &str = r#"{
    "id": "my-custom-gpt4",
    "name": "My Custom GPT-4",
    "base_model_id": "gpt-4",
    "params": {
      "temperature": 0.7,
      "max_tokens": 2000,
      "top_p": 1.0
    },
    "meta": {
      "description": "Custom GPT-4 model for code generation",
      "capabilities": {
        "vision": true,
        "function_calling": true
      }
    },
    "access_grants": [
      {
        "access_type": "group",
        "access_id": "developers",
        "permission": "read"
      }
    ],
    "is_active": true
  }"#;

const UPDATE_EXAMPLE: &str = r#"{
    "id": "my-custom-gpt4",
    "name": "Updated Custom GPT-4",
    "base_model_id": "gpt-4-turbo",
    "params": {
      "temperature": 0.8,
      "max_tokens": 4000,
      "top_p": 0.95
    },
    "meta": {
      "description": "Enhanced GPT-4 model with higher creativity",
      "capabilities": {
        "vision": true,
        "function_calling": true,
        "json_mode": true
      }
    },
    "access_grants": [
      {
        "access_type": "group",
        "access_id": "developers",
        "permission": "write"
      },
      {
        "access_type": "user",
        "access_id": "user456",
        "permission": "read"
      }
    ],
    "is_active": true
  }"#;

fn epoch_seconds(value: &Value) -> i64 {
    let n = value.as_i64().unwrap_or_else(|| panic!("{value} is not an integer"));
    // Plausible epoch seconds (2020…2100), not milliseconds.
    assert!((1_577_836_800..4_102_444_800).contains(&n), "{n} is not epoch seconds");
    n
}

fn without_times(value: &Value) -> Value {
    let mut value = value.clone();
    let object = value.as_object_mut().unwrap();
    object.remove("created_at");
    object.remove("updated_at");
    value
}

backend_app_tests! {
    async fn the_seed_examples_work_verbatim(db) {
        let w = world(db).await;
        let created = w
            .app
            .send_raw(
                actix_web::http::Method::POST,
                &format!("{API}/create"),
                Some(&w.alice),
                CREATE_EXAMPLE.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(created.status, 200, "{created:?}");
        assert!(created.is_json());
        let c = &created.json;
        assert_eq!(c["id"], "my-custom-gpt4");
        assert_eq!(c["user_id"], "alice", "the caller owns what it creates");
        assert_eq!(c["base_model_id"], "gpt-4");
        assert_eq!(c["name"], "My Custom GPT-4");
        assert_eq!(c["params"], json!({"temperature": 0.7, "max_tokens": 2000, "top_p": 1.0}));
        assert_eq!(
            c["meta"],
            json!({
                "profile_image_url": "/static/favicon.png",
                "description": "Custom GPT-4 model for code generation",
                "capabilities": {"vision": true, "function_calling": true}
            })
        );
        assert_eq!(c["access_grants"], json!([grant("group", "developers", "read")]));
        assert_eq!(c["is_active"], true);
        let created_at = epoch_seconds(&c["created_at"]);
        assert_eq!(epoch_seconds(&c["updated_at"]), created_at);
        // Nothing undocumented besides the grant's principal_* twins.
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["id", "user_id", "base_model_id", "name", "params", "meta", "access_grants",
             "is_active", "created_at", "updated_at"]
        );
        // Params keep their exact key order and number forms.
        assert!(created.text().contains(r#""params":{"temperature":0.7,"max_tokens":2000,"top_p":1.0}"#), "{}", created.text());

        let updated = w
            .app
            .send_raw(
                actix_web::http::Method::POST,
                &format!("{API}/model/update"),
                Some(&w.alice),
                UPDATE_EXAMPLE.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(updated.status, 200, "{updated:?}");
        let u = &updated.json;
        assert_eq!(
            without_times(u),
            json!({
                "id": "my-custom-gpt4",
                "user_id": "alice",
                "base_model_id": "gpt-4-turbo",
                "name": "Updated Custom GPT-4",
                "params": {"temperature": 0.8, "max_tokens": 4000, "top_p": 0.95},
                "meta": {
                    "profile_image_url": "/static/favicon.png",
                    "description": "Enhanced GPT-4 model with higher creativity",
                    "capabilities": {"vision": true, "function_calling": true, "json_mode": true}
                },
                "access_grants": [
                    grant("group", "developers", "write"),
                    grant("user", "user456", "read")
                ],
                "is_active": true
            })
        );
        assert_eq!(epoch_seconds(&u["created_at"]), created_at, "creation time is unchanged");
        assert!(epoch_seconds(&u["updated_at"]) >= created_at);

        // The same model through the other path family, and the grant given by the update works:
        // bob is in `developers`, which now has write.
        let read = w.app.get(&format!("{V1}/model?id=my-custom-gpt4"), Some(&w.bob)).await;
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(without_times(&read.json).get("write_access"), Some(&json!(true)));
        assert_eq!(read.json["name"], "Updated Custom GPT-4");

        // The documented errors of both seeds.
        let taken = w
            .app
            .send_raw(actix_web::http::Method::POST, &format!("{API}/create"), Some(&w.alice), CREATE_EXAMPLE.as_bytes().to_vec())
            .await;
        assert_eq!(answer(&taken), (400, detail("Model ID is already taken")));
        let too_long = w
            .app
            .post(&format!("{API}/create"), Some(&w.alice), json!({"id": "x".repeat(257), "name": "n", "params": {}, "meta": {}}))
            .await;
        assert_eq!(answer(&too_long), (400, detail("Model ID is too long (max 256 characters)")));
        let viewer = w
            .app
            .send_raw(actix_web::http::Method::POST, &format!("{API}/create"), Some(&w.victor), CREATE_EXAMPLE.replace("my-custom-gpt4", "v").into_bytes())
            .await;
        assert_eq!(answer(&viewer), (401, detail("Unauthorized")));
        let missing = w
            .app
            .send_raw(actix_web::http::Method::POST, &format!("{API}/model/update"), Some(&w.alice), UPDATE_EXAMPLE.replace("my-custom-gpt4", "nope").into_bytes())
            .await;
        assert_eq!(answer(&missing), (401, detail("Model not found")));
        let prohibited = w
            .app
            .send_raw(actix_web::http::Method::POST, &format!("{API}/model/update"), Some(&w.carol), UPDATE_EXAMPLE.as_bytes().to_vec())
            .await;
        // carol cannot even see the model: for her it does not exist.
        assert_eq!(answer(&prohibited), (401, detail("Model not found")));
    }
}
