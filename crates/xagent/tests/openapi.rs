//! The dialect's OpenAPI document: it describes exactly the mounted routes, is served at
//! `/openapi.json`, and its example error bodies are what the app really answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_http::app::mount;
use modelgate_testkit::openapi::example;
use modelgate_testkit::{TestApp, TestDb};
use modelgate_xagent::{Xagent, configure};
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
        modelgate_xagent::routes(),
        modelgate_xagent::configure,
    )
    .await;
}

async fn serve(prefix: &'static str) -> (TestApp, String) {
    let db = TestDb::sqlite();
    let (_, key) = db.bootstrap();
    let app = TestApp::new(db, move |cfg| {
        cfg.service(mount::<Xagent>(prefix, configure));
    })
    .await;
    (app, key)
}

#[actix_web::test]
async fn the_document_is_served_with_the_mount_point_as_server() {
    let (app, _) = serve("/xagent").await;
    // No key needed: the document is public.
    let served = app.get("/xagent/openapi.json", None).await;
    assert_eq!(served.status, 200, "{served:?}");
    assert_eq!(served.json["servers"], json!([{ "url": "/xagent" }]));
    let mut expected = document();
    expected["servers"] = json!([{ "url": "/xagent" }]);
    assert_eq!(served.json, expected);

    // On the dialect's own listener it is mounted at the root.
    let (root, _) = serve("").await;
    let served = root.get("/openapi.json", None).await;
    assert_eq!(served.status, 200, "{served:?}");
    assert_eq!(served.json["servers"], json!([{ "url": "/" }]));
}

#[actix_web::test]
async fn documented_error_examples_are_what_the_app_answers() {
    let doc = document();
    let (app, key) = serve("/xagent").await;
    let key = Some(key.as_str());

    // 401, missing and invalid key, with the Bearer challenge.
    let missing = app.get("/xagent/api/models", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json, example(&doc, "/api/models", "get", "401", Some("missing")));
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let invalid = app.get("/xagent/api/models/x", Some("mg_not_a_key")).await;
    assert_eq!(invalid.status, 401);
    assert_eq!(
        invalid.json,
        example(&doc, "/api/models/{model_id}", "get", "401", Some("invalid"))
    );

    // 404s: a missing model (both path forms), a missing default.
    for (path, method, uri) in [
        ("/api/models/{model_id}", "get", "/xagent/api/models/nope"),
        ("/api/models/by-id/{model_id}", "delete", "/xagent/api/models/by-id/a/b"),
    ] {
        let response = match method {
            "get" => app.get(uri, key).await,
            _ => app.delete(uri, key).await,
        };
        assert_eq!(response.status, 404, "{uri}: {response:?}");
        assert_eq!(response.json, example(&doc, path, method, "404", None), "{uri}");
    }
    let no_default = app.delete("/xagent/api/models/user-default/general", key).await;
    assert_eq!(no_default.status, 404);
    assert_eq!(
        no_default.json,
        example(&doc, "/api/models/user-default/{config_type}", "delete", "404", None)
    );

    // 400 for a taken model_id, 422 for out-of-range list parameters.
    let body = json!({"model_id": "taken", "model_provider": "openai", "model_name": "gpt-4o"});
    assert_eq!(app.post("/xagent/api/models", key, body.clone()).await.status, 200);
    let taken = app.post("/xagent/api/models/register", key, body).await;
    assert_eq!(taken.status, 400);
    assert_eq!(taken.json, example(&doc, "/api/models/register", "post", "400", Some("exists")));
    let range = app.get("/xagent/api/models?skip=-1&limit=1001", key).await;
    assert_eq!(range.status, 422);
    assert_eq!(range.json, example(&doc, "/api/models", "get", "422", Some("range")));

    // Provider calls mounted without the server's provider client (501: the server's
    // provider_calls tests cover the calls), an unsupported provider's listing (400), the Auto
    // router (503), and the config the Auto card reads first.
    let body = json!({"model_provider": "openai", "model_name": "gpt-4o"});
    let test = app.post("/xagent/api/models/test-connection", key, body).await;
    assert_eq!(test.status, 501);
    assert_eq!(test.json, example(&doc, "/api/models/test-connection", "post", "501", None));
    let listing =
        app.post("/xagent/api/models/providers/openai/models", key, json!({"api_key": "k"})).await;
    assert_eq!(listing.status, 501);
    assert_eq!(
        listing.json,
        example(&doc, "/api/models/providers/{provider}/models", "post", "501", None)
    );
    let gemini =
        app.post("/xagent/api/models/providers/gemini/models", key, json!({"api_key": "k"})).await;
    assert_eq!(gemini.status, 400);
    assert_eq!(
        gemini.json,
        example(&doc, "/api/models/providers/{provider}/models", "post", "400", None)
    );
    let profiles = app.get("/xagent/api/models/auto-config/profiles", key).await;
    assert_eq!(profiles.status, 503);
    assert_eq!(
        profiles.json,
        example(&doc, "/api/models/auto-config/profiles", "get", "503", None)
    );
    let save = app.put("/xagent/api/models/auto-config", key, json!({})).await;
    assert_eq!((save.status, &save.json), (503, &profiles.json));
    let config = app.get("/xagent/api/models/auto-config", key).await;
    assert_eq!(config.json, example(&doc, "/api/models/auto-config", "get", "200", None));
    // The provider list's example is its first and fourth entries, verbatim.
    let providers = app.get("/xagent/api/models/providers/supported", None).await;
    let documented = example(&doc, "/api/models/providers/supported", "get", "200", None);
    assert_eq!(
        documented["providers"],
        json!([providers.json["providers"][0], providers.json["providers"][3]])
    );
    assert_eq!(
        doc["paths"]["/api/models/providers/supported"]["get"]["security"],
        json!([]),
        "documented as public"
    );
}
