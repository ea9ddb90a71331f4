//! The admin API's and `/v1`'s OpenAPI documents describe exactly what is mounted, and `/docs`
//! serves a browsable page for every API with everything it loads coming from the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_server::app::configure_main;
use modelgate_server::{admin, docs, openai};
use modelgate_testkit::openapi::assert_document_matches;
use modelgate_testkit::{TestApp, TestDb};
use serde_json::{Value, json};

fn document(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[actix_web::test]
async fn the_admin_document_matches_the_mounted_routes() {
    let doc = document(include_str!("../openapi/admin.json"));
    assert_document_matches(&doc, admin::routes(), admin::configure).await;
}

#[actix_web::test]
async fn the_v1_document_matches_the_mounted_routes() {
    let doc = document(include_str!("../openapi/v1.json"));
    assert_document_matches(&doc, openai::routes(), openai::configure).await;
}

async fn app() -> TestApp {
    let db = TestDb::sqlite();
    db.bootstrap();
    TestApp::new(db, configure_main).await
}

#[actix_web::test]
async fn the_documents_are_served_with_their_mount_point() {
    let app = app().await;
    for (path, file, server) in [
        ("/admin/v1/openapi.json", include_str!("../openapi/admin.json"), "/admin/v1"),
        ("/v1/openapi.json", include_str!("../openapi/v1.json"), "/v1"),
    ] {
        let served = app.get(path, None).await;
        assert_eq!(served.status, 200, "{path}: {served:?}");
        let mut expected = document(file);
        expected["servers"] = json!([{ "url": server }]);
        assert_eq!(served.json, expected, "{path}");
    }
}

#[actix_web::test]
async fn docs_link_a_page_per_api_and_every_page_loads_only_from_the_binary() {
    let app = app().await;
    let index = app.get("/docs", None).await;
    assert_eq!(index.status, 200);
    assert!(index.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    let index = index.text();
    assert_eq!(docs::APIS.len(), 6, "the admin API, /v1 and the four dialects");
    for (slug, _, document) in docs::APIS {
        assert!(index.contains(&format!("href=\"/docs/{slug}\"")), "{slug}: {index}");
        // The document each page renders is really served there.
        let served = app.get(document, None).await;
        assert_eq!(served.status, 200, "{document}");
        assert!(
            served.json["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
            "{document}"
        );

        let page = app.get(&format!("/docs/{slug}"), None).await;
        assert_eq!(page.status, 200, "{slug}");
        assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));
        let page = page.text();
        assert!(page.contains("src=\"/docs/scalar.js\""), "{page}");
        assert!(page.contains(&format!("\"url\":\"{document}\"")), "{page}");
        // Nothing from elsewhere: no CDN, no web fonts, no telemetry.
        assert!(!page.contains("http://") && !page.contains("https://"), "{page}");
        assert!(
            page.contains("\"withDefaultFonts\":false") && page.contains("\"telemetry\":false")
        );
    }

    let script = app.get("/docs/scalar.js", None).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("content-type"), Some("application/javascript; charset=utf-8"));
    assert!(script.bytes.len() > 1_000_000, "{} bytes", script.bytes.len());
    assert!(String::from_utf8_lossy(&script.bytes).contains("createApiReference"));

    let unknown = app.get("/docs/nothing-here", None).await;
    assert_eq!((unknown.status, unknown.json), (404, json!({ "detail": "Not Found" })));
}
