//! Issue 11, defect 1: U+0000 anywhere in the input is a 400 before anything reaches the store,
//! on both backends (Postgres used to answer 500, SQLite stored it). Body fields get Django's
//! field error; the URL gets `detail`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{env, expect};
use modelgate_core::{Ctx, ModelQuery, Registry};
use modelgate_testkit::{TestApp, backend_app_tests};
use serde_json::{Value, json};

const MODELS: &str = "/respan/api/models/";
const PROVIDERS: &str = "/respan/api/providers/";
const SENTENCE: &str = "Null characters are not allowed.";

/// Every custom model with its version and the length of its history.
fn models(app: &TestApp, ctx: &Ctx) -> Value {
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
        let env = env(db).await;
        let k = env.admin();
        let app = &env.app;
        let provider = app.post(PROVIDERS, k, json!({"provider_id": "p1", "provider_name": "P"})).await;
        assert_eq!(provider.status, 201, "{provider:?}");
        let model = app
            .post(MODELS, k, json!({
                "model_name": "m", "base_model_name": "gpt-4o",
                "supported_params_override": {"temperature": {"type": "number"}}
            }))
            .await;
        assert_eq!(model.status, 201, "{model:?}");
        let before = models(app, &env.admin_ctx);
        let providers_before = app.db.store.list_providers(&env.admin_ctx).unwrap();
        let url_refused = json!({ "detail": SENTENCE });

        // The repro, in this dialect's path; then every method and the query.
        expect(&app.get("/respan/api/models/a%00b/", k).await, 400, url_refused.clone());
        expect(&app.get("/respan/api/models/a%00b/", None).await, 401,
            json!({"detail": "Authentication credentials were not provided."}));
        expect(&app.patch("/respan/api/models/m%00/", k, json!({"input_cost": 1})).await, 400, url_refused.clone());
        expect(&app.put("/respan/api/models/m%00", k, json!({"input_cost": 1})).await, 400, url_refused.clone());
        expect(&app.delete("/respan/api/models/m%00/", k).await, 400, url_refused.clone());
        expect(&app.get("/respan/api/providers/p1%00/", k).await, 400, url_refused.clone());
        expect(&app.delete("/respan/api/providers/p1%00/", k).await, 400, url_refused.clone());
        expect(&app.get(&format!("{MODELS}?sort_by=%00"), k).await, 400, url_refused.clone());
        expect(&app.get(&format!("{PROVIDERS}?page=1&%00=x"), k).await, 400, url_refused.clone());
        // The URL is refused before the body is looked at.
        expect(&app.patch("/respan/api/models/m%00/", k, json!({"display_name": "\u{0}"})).await, 400, url_refused);

        // Body: top level, nested values and keys are reported on their top-level field.
        expect(&app.patch("/respan/api/models/m/", k, json!({"display_name": "a\u{0}b"})).await,
            400, json!({"display_name": [SENTENCE]}));
        expect(&app.patch("/respan/api/models/m/", k, json!({
            "supported_params_override": {"temperature": {"type": "num\u{0}ber"}}
        })).await, 400, json!({"supported_params_override": [SENTENCE]}));
        expect(&app.put("/respan/api/models/m/", k, json!({
            "base_model_name": "gpt-4o", "supported_params_override": {"k\u{0}": 1}, "display_name": "x\u{0}"
        })).await, 400, json!({"supported_params_override": [SENTENCE], "display_name": [SENTENCE]}));
        expect(&app.post(MODELS, k, json!({"model_name": "n\u{0}", "base_model_name": "gpt-4o"})).await,
            400, json!({"model_name": [SENTENCE]}));
        expect(&app.post(&format!("{MODELS}list/"), k, json!({"filters": {"model_name": {"operator": "", "value": ["\u{0}"]}}})).await,
            400, json!({"filters": [SENTENCE]}));
        expect(&app.post(PROVIDERS, k, json!({"provider_id": "p2", "provider_name": "P", "api_key": "sk-\u{0}"})).await,
            400, json!({"api_key": [SENTENCE]}));
        expect(&app.patch("/respan/api/providers/p1/", k, json!({"extra_kwargs": {"headers": {"Authorization": "Bearer \u{0}"}}})).await,
            400, json!({"extra_kwargs": [SENTENCE]}));
        // A bad key wins over a bad body.
        expect(&app.patch("/respan/api/models/m/", Some("nope"), json!({"display_name": "\u{0}"})).await,
            401, json!({"detail": "Incorrect authentication credentials."}));

        // Nothing was created or changed.
        assert_eq!(models(app, &env.admin_ctx), before);
        assert!(app.db.store.list_providers(&env.admin_ctx).unwrap() == providers_before);
    }
}
