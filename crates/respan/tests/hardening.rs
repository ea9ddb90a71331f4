//! Issue 11, defect 7: booleans are not numbers (as DRF reads them), and every 405 carries
//! `Allow`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{Env, env, expect};
use modelgate_core::{ModelRef, Registry};
use modelgate_testkit::backend_app_tests;
use serde_json::{Value, json};

const MODELS: &str = "/respan/api/models/";

/// What must not change: the model's version, its history and what Respan shows of it
/// (`None`: no model).
fn state(env: &Env, name: &str) -> Option<(i64, usize, Value)> {
    let view = env.app.db.store.get_model(&env.admin_ctx, &ModelRef::Key(name.to_owned())).ok()?;
    let history = env.app.db.store.model_history(&env.admin_ctx, view.model.uuid).unwrap();
    let fields = json!([
        view.model.fields.context_window,
        view.model.fields.pricing.input,
        view.model.fields.capabilities
    ]);
    Some((view.model.version, history.len(), fields))
}

backend_app_tests! {
    async fn booleans_are_refused_for_numbers(db) {
        let env = env(db).await;
        let created = env.app.post(MODELS, env.admin(), json!({"model_name": "m", "max_context_window": 8192, "input_cost": 1})).await;
        assert_eq!(created.status, 201, "{created:?}");
        let before = state(&env, "m").unwrap();
        let path = format!("{MODELS}m/");

        // The repro, through every write.
        let integer = json!({"max_context_window": ["A valid integer is required."]});
        expect(&env.app.patch(&path, env.admin(), json!({"max_context_window": true})).await, 400, integer.clone());
        expect(&env.app.put(&path, env.admin(), json!({"max_context_window": false})).await, 400, integer.clone());
        expect(&env.app.post(MODELS, env.admin(), json!({"model_name": "m", "max_context_window": true})).await, 400, integer.clone());
        expect(&env.app.post(MODELS, env.admin(), json!({"model_name": "n", "max_context_window": true})).await, 400, integer);

        // The other numbers: costs (DecimalField's answer) and the 0/1 flags (ChoiceField's,
        // naming the value as Python prints it).
        expect(&env.app.patch(&path, env.admin(), json!({
            "input_cost": true, "output_cost": false, "cache_hit_input_cost": true,
            "cache_creation_input_cost": true, "streaming_support": true, "function_call": false,
            "image_support": true
        })).await, 400, json!({
            "input_cost": ["A valid number is required."],
            "output_cost": ["A valid number is required."],
            "cache_hit_input_cost": ["A valid number is required."],
            "cache_creation_input_cost": ["A valid number is required."],
            "streaming_support": ["\"True\" is not a valid choice."],
            "function_call": ["\"False\" is not a valid choice."],
            "image_support": ["\"True\" is not a valid choice."]
        }));
        assert_eq!(state(&env, "m").as_ref(), Some(&before));
        assert_eq!(state(&env, "n"), None);

        // Numbers in text and integral floats are still numbers, as DRF reads them.
        let patched = env.app.patch(&path, env.admin(), json!({"max_context_window": "4096", "input_cost": "2.5", "streaming_support": "1"})).await;
        assert_eq!(patched.status, 200, "{patched:?}");
        assert_eq!((patched.json["max_context_window"].clone(), patched.json["input_cost"].clone(), patched.json["streaming_support"].clone()),
            (json!(4096), json!(2.5), json!(1)));
    }

    async fn every_405_lists_the_methods_of_its_path(db) {
        let env = env(db).await;
        let models = "GET, PUT, PATCH, DELETE";
        for (method, path, allow) in [
            (Method::DELETE, "/respan/api/models/", "GET, POST"),
            (Method::PUT, "/respan/api/models", "GET, POST"),
            (Method::POST, "/respan/api/models/gpt-4/", models),
            (Method::OPTIONS, "/respan/api/models/openai/gpt-4o-mini", models),
            (Method::OPTIONS, "/respan/api/models/list/", "GET, POST, PUT, PATCH, DELETE"),
            (Method::OPTIONS, "/respan/api/models/summary/", "GET, POST, PUT, PATCH, DELETE"),
            (Method::POST, "/respan/api/models/public/", models),
            (Method::DELETE, "/respan/api/providers/", "GET, POST"),
            (Method::POST, "/respan/api/providers/p/", models),
            (Method::POST, "/respan/openapi.json", "GET"),
        ] {
            let refused = env.app.send(method.clone(), path, env.admin(), None).await;
            let body = json!({"detail": format!("Method \"{method}\" not allowed.")});
            assert_eq!((refused.status, &refused.json), (405, &body), "{method} {path}");
            assert_eq!(refused.header("allow"), Some(allow), "{method} {path}");
        }
        // HEAD is not served either, and says so the same way.
        let head = env.app.send(Method::HEAD, "/respan/api/models/", env.admin(), None).await;
        assert_eq!((head.status, head.header("allow")), (405, Some("GET, POST")));
    }
}
