//! The dialect's OpenAPI document against the routes it mounts and the answers it gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::http::Method;
use modelgate_http::app::mount;
use modelgate_syft::{Syft, configure};
use modelgate_testkit::openapi::example;
use modelgate_testkit::{TestApp, TestDb};
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
        modelgate_syft::routes(),
        modelgate_syft::configure,
    )
    .await;
}

/// Every operation that reads the tenant header documents it; the model-type routes do not.
#[test]
fn tenant_header_is_documented_where_it_is_checked() {
    let document = document();
    let header = &document["components"]["parameters"]["TenantName"];
    assert_eq!(
        (header["in"].as_str(), header["name"].as_str()),
        (Some("header"), Some("X-Tenant-Name"))
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let documents_header = operation["parameters"].as_array().is_some_and(|parameters| {
                parameters.iter().any(|p| p["$ref"] == "#/components/parameters/TenantName")
            });
            assert_eq!(
                documents_header,
                !path.starts_with("/api/v1/models/types/"),
                "{method} {path}"
            );
        }
    }
}

#[actix_web::test]
async fn serves_its_document_and_the_documented_errors_are_the_real_ones() {
    let db = TestDb::sqlite();
    let (_, key) = db.bootstrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Syft>("/syft", configure));
    })
    .await;
    let bearer = format!("Bearer {key}");
    let key = Some(key.as_str());
    let document = document();

    // Served without credentials, with `servers` pointing at the mount.
    let served = app.get("/syft/openapi.json", None).await;
    assert_eq!(served.status, 200);
    assert!(served.is_json());
    assert_eq!(served.json["servers"], json!([{"url": "/syft"}]));
    let mut without_servers = served.json.clone();
    without_servers.as_object_mut().unwrap().remove("servers");
    assert_eq!(without_servers, document);

    // The documented model type and its schema are the served ones.
    let openai = app.get("/syft/api/v1/models/types/openai", key).await;
    assert_eq!(openai.json, example(&document, "/api/v1/models/types/{name}", "get", "200", None));
    let schema = app.get("/syft/api/v1/models/types/openai/schema", key).await;
    assert_eq!(
        schema.json,
        example(&document, "/api/v1/models/types/{name}/schema", "get", "200", None)
    );

    let models = "/api/v1/models/";
    let model = "/api/v1/models/{name}";

    // 401, without a key and with a wrong one.
    let unauthorized = example(&document, models, "get", "401", None);
    for credentials in [None, Some("mg_not_a_real_key")] {
        let refused = app.get("/syft/api/v1/models/", credentials).await;
        assert_eq!((refused.status, &refused.json), (401, &unauthorized));
    }

    // 404s: a missing model, a missing endpoint, a missing model type, a foreign tenant.
    let missing = app.get("/syft/api/v1/models/gpt-4-assistant", key).await;
    assert_eq!(
        (missing.status, &missing.json),
        (404, &example(&document, model, "get", "404", Some("model_not_found")))
    );
    let missing = app.delete("/syft/api/v1/endpoints/support-assistant", key).await;
    assert_eq!(
        (missing.status, &missing.json),
        (
            404,
            &example(
                &document,
                "/api/v1/endpoints/{slug}",
                "delete",
                "404",
                Some("endpoint_not_found")
            )
        )
    );
    let missing = app.get("/syft/api/v1/models/types/gemini", key).await;
    assert_eq!(
        (missing.status, &missing.json),
        (404, &example(&document, "/api/v1/models/types/{name}", "get", "404", None))
    );
    let request = actix_web::test::TestRequest::get()
        .uri("/syft/api/v1/models/")
        .insert_header(("Authorization", bearer.as_str()))
        .insert_header(("X-Tenant-Name", "other-org"));
    let foreign = app.call(request).await;
    assert_eq!(
        (foreign.status, &foreign.json),
        (404, &example(&document, models, "get", "404", None))
    );

    // The documented create succeeds; doing it again is the documented conflict.
    let create =
        &document["paths"][models]["post"]["requestBody"]["content"]["application/json"]["example"];
    let created = app.post("/syft/api/v1/models/", key, create.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    let again = app.post("/syft/api/v1/models/", key, create.clone()).await;
    assert_eq!(
        (again.status, &again.json),
        (409, &example(&document, models, "post", "409", None))
    );
    let unknown = app
        .post(
            "/syft/api/v1/models/",
            key,
            json!({"name": "x", "dtype": "gemini", "configuration": {}}),
        )
        .await;
    assert_eq!(
        (unknown.status, &unknown.json),
        (400, &example(&document, models, "post", "400", Some("unknown_type")))
    );

    // The documented validation, immutability and rename errors of PATCH.
    let path = "/syft/api/v1/models/gpt-4-assistant";
    let none = app.patch(path, key, json!({})).await;
    assert_eq!(
        (none.status, &none.json),
        (422, &example(&document, model, "patch", "422", Some("at_least_one_field")))
    );
    let changed = app.patch(path, key, json!({"summary": "x", "dtype": "anthropic"})).await;
    assert_eq!(
        (changed.status, &changed.json),
        (400, &example(&document, model, "patch", "400", Some("immutable")))
    );
    app.post("/syft/api/v1/models/", key, json!({"name": "support-bot", "dtype": "openai", "configuration": {"api_key": "sk-proj-1234567890abcdef"}})).await;
    let taken = app.patch(path, key, json!({"name": "support-bot"})).await;
    assert_eq!(
        (taken.status, &taken.json),
        (409, &example(&document, model, "patch", "409", Some("name_taken")))
    );
    let broken = app.send_raw(Method::PATCH, path, key, b"{\"name\": ".to_vec()).await;
    assert_eq!(
        (broken.status, &broken.json),
        (422, &example(&document, model, "patch", "422", Some("json_invalid")))
    );

    // The documented endpoint create works against the model, whatever its id.
    let mut endpoint = document["paths"]["/api/v1/endpoints/"]["post"]["requestBody"]["content"]
        ["application/json"]["example"]
        .clone();
    endpoint["model_id"] = created.json["id"].clone();
    let made = app.post("/syft/api/v1/endpoints/", key, endpoint.clone()).await;
    assert_eq!(made.status, 201, "{made:?}");
    let dup = app.post("/syft/api/v1/endpoints/", key, endpoint).await;
    assert_eq!(
        (dup.status, &dup.json),
        (409, &example(&document, "/api/v1/endpoints/", "post", "409", None))
    );
}

/// The documented endpoint answers (PATCH, validate-slug, create's new errors) are the real ones.
#[actix_web::test]
async fn the_documented_endpoint_answers_are_the_real_ones() {
    let db = TestDb::sqlite();
    let (_, key) = db.bootstrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Syft>("/syft", configure));
    })
    .await;
    let key = Some(key.as_str());
    let document = document();
    let endpoints = "/api/v1/endpoints/";
    let endpoint = "/api/v1/endpoints/{slug}";
    let validate = "/api/v1/endpoints/validate-slug";
    let body_of = |path: &str, method: &str| {
        document["paths"][path][method]["requestBody"]["content"]["application/json"]["example"]
            .clone()
    };

    let model_example = &document["paths"]["/api/v1/models/"]["post"]["requestBody"]["content"]["application/json"]
        ["example"];
    let model = app.post("/syft/api/v1/models/", key, model_example.clone()).await.json;

    // Create: the documented 422s and the dataset 404.
    let mut wrong_type = body_of(endpoints, "post");
    wrong_type["response_type"] = json!("chat");
    let refused = app.post("/syft/api/v1/endpoints/", key, wrong_type).await;
    assert_eq!(
        (refused.status, &refused.json),
        (422, &example(&document, endpoints, "post", "422", Some("response_type")))
    );
    let attachments = json!({"name": "support-assistant", "slug": "support-assistant", "model_id": "550e8400-e29b-41d4-a716-446655440000"});
    let refused = app.post("/syft/api/v1/endpoints/", key, attachments).await;
    assert_eq!(
        (refused.status, &refused.json),
        (422, &example(&document, endpoints, "post", "422", Some("attachments")))
    );
    let mut with_dataset = body_of(endpoints, "post");
    with_dataset["dataset_id"] = json!("123e4567-e89b-12d3-a456-426614174000");
    let refused = app.post("/syft/api/v1/endpoints/", key, with_dataset).await;
    assert_eq!(
        (refused.status, &refused.json),
        (404, &example(&document, endpoints, "post", "404", Some("dataset_not_found")))
    );

    // validate-slug before and after the documented endpoint exists.
    let ui = body_of(validate, "post");
    let free = app.post("/syft/api/v1/endpoints/validate-slug", key, ui).await;
    assert_eq!(
        (free.status, &free.json),
        (200, &example(&document, validate, "post", "200", Some("all_marketplaces")))
    );
    let mut create = body_of(endpoints, "post");
    create["model_id"] = model["id"].clone();
    assert_eq!(app.post("/syft/api/v1/endpoints/", key, create).await.status, 201);
    let taken = app
        .post("/syft/api/v1/endpoints/validate-slug", key, json!({"slug": "support-assistant"}))
        .await;
    assert_eq!(
        (taken.status, &taken.json),
        (200, &example(&document, validate, "post", "200", Some("local_only")))
    );
    let ids = app
        .post(
            "/syft/api/v1/endpoints/validate-slug",
            key,
            json!({"slug": "support-assistant-2", "marketplace_ids": ["123e4567-e89b-12d3-a456-426614174000"]}),
        )
        .await;
    let mut expected = example(&document, validate, "post", "200", Some("marketplace_ids"));
    expected["slug"] = json!("support-assistant-2");
    assert_eq!((ids.status, &ids.json), (200, &expected));
    for (name, body) in [
        ("missing_slug", json!({"check_all_marketplaces": true})),
        (
            "bad_types",
            json!({"slug": "s", "marketplace_ids": ["x"], "check_all_marketplaces": "maybe"}),
        ),
    ] {
        let refused = app.post("/syft/api/v1/endpoints/validate-slug", key, body).await;
        assert_eq!(
            (refused.status, &refused.json),
            (422, &example(&document, validate, "post", "422", Some(name)))
        );
    }

    // PATCH: the documented change, then the documented errors.
    let path = "/syft/api/v1/endpoints/support-assistant";
    let changed = app.patch(path, key, body_of(endpoint, "patch")).await;
    assert_eq!(changed.status, 200, "{changed:?}");
    let documented = example(&document, endpoint, "patch", "200", None);
    for field in [
        "name",
        "slug",
        "description",
        "summary",
        "response_type",
        "published",
        "tags",
        "system_prompt",
        "dataset",
        "policies",
    ] {
        assert_eq!(changed.json[field], documented[field], "{field}");
    }
    assert_eq!(
        (&changed.json["model"]["name"], &changed.json["model"]["dtype"]),
        (&documented["model"]["name"], &documented["model"]["dtype"])
    );
    for (name, body) in [
        ("at_least_one_field", json!({})),
        ("bad_types", json!({"summary": 5})),
        ("blank_name", json!({"name": " "})),
    ] {
        let refused = app.patch(path, key, body).await;
        assert_eq!(
            (refused.status, &refused.json),
            (422, &example(&document, endpoint, "patch", "422", Some(name)))
        );
    }
    let gone = app.patch("/syft/api/v1/endpoints/nope", key, json!({"summary": "x"})).await;
    assert_eq!(gone.status, 404);
    let mut not_found = example(&document, endpoint, "patch", "404", Some("endpoint_not_found"));
    not_found["detail"] = json!("Endpoint 'nope' not found");
    assert_eq!(gone.json, not_found);
}
