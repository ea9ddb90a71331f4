//! The dialect's OpenAPI document against its route table and against what the app answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{env, expect};
use modelgate_testkit::backend_app_tests;
use modelgate_testkit::openapi::example;
use serde_json::{Value, json};

fn document() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).unwrap()
}

#[actix_web::test]
async fn openapi_document_matches_the_mounted_routes() {
    let document: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).unwrap();
    modelgate_testkit::openapi::assert_document_matches(
        &document,
        modelgate_respan::routes(),
        modelgate_respan::configure,
    )
    .await;
}

backend_app_tests! {
    async fn the_document_is_served_and_its_error_examples_are_real(db) {
        let env = env(db).await;
        let served = env.app.get("/respan/openapi.json", None).await;
        assert_eq!(served.status, 200, "{served:?}");
        assert!(served.is_json());
        assert_eq!(served.json["servers"], json!([{"url": "/respan"}]));
        let mut expected = document();
        expected["servers"] = json!([{"url": "/respan"}]);
        assert_eq!(served.json, expected);
        // A method the document's path does not take answers like every other path.
        expect(&env.app.post("/respan/openapi.json", None, json!({})).await,
            405, json!({"detail": "Method \"POST\" not allowed."}));

        let doc = document();
        let model = "/api/models/{model_name}/";
        expect(&env.app.get("/respan/api/models/missing/", None).await,
            401, example(&doc, model, "get", "401", Some("missing")));
        expect(&env.app.get("/respan/api/models/missing/", Some("mg_not_a_key")).await,
            401, example(&doc, model, "get", "401", Some("invalid")));
        expect(&env.app.get("/respan/api/models/missing/", env.admin()).await,
            404, example(&doc, model, "get", "404", None));
        expect(&env.app.get("/respan/api/providers/missing/", env.admin()).await,
            404, example(&doc, "/api/providers/{provider_id}/", "get", "404", None));
        expect(&env.app.patch("/respan/api/models/gpt-4/", env.admin(), json!({"input_cost": 1})).await,
            403, example(&doc, model, "patch", "403", Some("builtin")));
        expect(&env.app.delete("/respan/api/models/gpt-4/", env.admin()).await,
            403, example(&doc, model, "delete", "403", Some("builtin")));
        expect(&env.app.post("/respan/api/models/list/?page=0", env.admin(), json!({})).await,
            404, example(&doc, "/api/models/list/", "post", "404", None));
        expect(&env.app.get("/respan/api/providers/?page=x", env.admin()).await,
            404, example(&doc, "/api/providers/", "get", "404", None));
        expect(&env.app.get("/respan/api/models/?sort_by=colour", env.admin()).await,
            400, example(&doc, "/api/models/", "get", "400", None));

        // On its own listener the document's server is the root.
        let root = common::env_at(modelgate_testkit::TestDb::sqlite(), "").await;
        let served = root.app.get("/openapi.json", None).await;
        assert_eq!((served.status, served.json["servers"].clone()), (200, json!([{"url": "/"}])));
    }

    async fn a_model_called_list_keeps_every_route_beside_the_filter_endpoint(db) {
        let env = env(db).await;
        let created = env.app.post("/respan/api/models/", env.admin(), json!({"model_name": "list", "input_cost": 1})).await;
        assert_eq!(created.status, 201, "{created:?}");
        for path in ["/respan/api/models/list/", "/respan/api/models/list"] {
            let read = env.app.get(path, env.admin()).await;
            assert_eq!((read.status, read.json["model_name"].clone()), (200, json!("list")), "{path}");
            let patched = env.app.patch(path, env.admin(), json!({"output_cost": 2})).await;
            assert_eq!((patched.status, patched.json["output_cost"].clone()), (200, json!(2.0)), "{path}");
            let filtered = env.app.post(path, env.admin(), json!({"filters": {"model_name": {"value": "list"}}})).await;
            assert_eq!((filtered.status, filtered.json["count"].clone()), (200, json!(1)), "{path}");
            assert_eq!(env.app.send(Method::HEAD, path, env.admin(), None).await.status, 405, "{path}");
            expect(&env.app.send(Method::OPTIONS, path, env.admin(), None).await,
                405, json!({"detail": "Method \"OPTIONS\" not allowed."}));
        }
        let put = env.app.put("/respan/api/models/list/", env.admin(), json!({"input_cost": 3})).await;
        assert_eq!((put.status, put.json["input_cost"].clone(), put.json["output_cost"].clone()), (200, json!(3.0), Value::Null));
        // Extraction failures answer as on any other model path.
        expect(&env.app.get("/respan/api/models/list/", None).await,
            401, json!({"detail": "Authentication credentials were not provided."}));
        expect(&env.app.send_raw(Method::PATCH, "/respan/api/models/list/", env.admin(), b"{bad json".to_vec()).await,
            400, json!({"detail": "JSON parse error - key must be a string at line 1 column 2"}));
        expect(&env.app.patch("/respan/api/models/list/", env.viewer(), json!({"input_cost": 2})).await,
            403, json!({"detail": common::NO_PERMISSION}));
        let deleted = env.app.delete("/respan/api/models/list/", env.admin()).await;
        assert_eq!((deleted.status, deleted.bytes.is_empty()), (204, true));
        expect(&env.app.get("/respan/api/models/list", env.admin()).await, 404, json!({"detail": "Not found."}));
        expect(&env.app.delete("/respan/api/models/list", env.admin()).await, 404, json!({"detail": "Not found."}));
    }
}
