//! Browsers on another origin: CORS is off unless origins are configured, and then preflights
//! are answered and every answer (errors too) carries the headers a browser needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::test::TestRequest;
use modelgate_http::cors::CorsOrigins;
use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, TestDb, backend_app_tests};

const UI: &str = "http://localhost:3000";

async fn app(db: TestDb, origins: &str) -> (TestApp, String) {
    let (_, key) = db.bootstrap();
    let origins = CorsOrigins::parse(origins).unwrap();
    (TestApp::with_cors(db, &origins, configure_main).await, key)
}

fn preflight(path: &str, origin: &str, method: &str, headers: &str) -> TestRequest {
    TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri(path)
        .insert_header(("Origin", origin))
        .insert_header(("Access-Control-Request-Method", method))
        .insert_header(("Access-Control-Request-Headers", headers))
}

fn listed(value: Option<&str>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(|v| v.trim().to_ascii_lowercase()).collect()
}

backend_app_tests! {
    async fn cross_origin_calls_are_off_by_default(db) {
        let (_, key) = db.bootstrap();
        let app = TestApp::new(db, configure_main).await;
        let get = app.call(TestRequest::get().uri("/xagent/api/models")
            .insert_header(("Origin", UI))
            .insert_header(("Authorization", format!("Bearer {key}")))).await;
        assert_eq!(get.status, 200, "{get:?}");
        assert_eq!(get.header("access-control-allow-origin"), None);
        let pre = app.call(preflight("/xagent/api/models", UI, "GET", "authorization")).await;
        assert_eq!(pre.header("access-control-allow-origin"), None, "{pre:?}");
    }

    async fn a_listed_origin_gets_preflights_and_readable_answers(db) {
        let (app, key) = app(db, "https://ui.example.com, http://localhost:3000/").await;
        let pre = app.call(preflight(
            "/syft/api/v1/endpoints/support",
            UI,
            "PATCH",
            "authorization,content-type,x-request-id,x-tenant-name",
        )).await;
        assert_eq!(pre.status, 200, "{pre:?}");
        assert_eq!(pre.header("access-control-allow-origin"), Some(UI));
        assert!(listed(pre.header("access-control-allow-methods")).contains(&"patch".to_owned()));
        let allowed = listed(pre.header("access-control-allow-headers"));
        for header in ["authorization", "content-type", "x-request-id", "x-tenant-name"] {
            assert!(allowed.contains(&header.to_owned()), "{header} not in {allowed:?}");
        }
        assert!(pre.header("x-request-id").is_some(), "preflights carry a request id");

        let get = app.call(TestRequest::get().uri("/openwebui/api/v1/models/list?")
            .insert_header(("Origin", UI))
            .insert_header(("Authorization", format!("Bearer {key}")))).await;
        assert_eq!(get.status, 200, "{get:?}");
        assert_eq!(get.header("access-control-allow-origin"), Some(UI));
        assert!(listed(get.header("access-control-expose-headers")).contains(&"x-request-id".to_owned()));

        // Errors are readable too, so the page can show the detail.
        let refused = app.call(TestRequest::get().uri("/respan/api/models/")
            .insert_header(("Origin", UI))).await;
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(refused.header("access-control-allow-origin"), Some(UI));
        assert_eq!(refused.json["detail"], "Authentication credentials were not provided.");
    }

    async fn an_unlisted_origin_is_refused_in_json(db) {
        let (app, key) = app(db, UI).await;
        let pre = app.call(preflight("/xagent/api/models", "https://evil.example", "GET", "authorization")).await;
        assert_eq!(pre.status, 400, "{pre:?}");
        assert!(pre.is_json(), "{pre:?}");
        assert!(pre.json["detail"].as_str().is_some_and(|d| !d.is_empty()), "{pre:?}");
        assert_eq!(pre.header("access-control-allow-origin"), None);
        // A simple request from it is answered without CORS headers: the browser withholds it.
        let get = app.call(TestRequest::get().uri("/xagent/api/models")
            .insert_header(("Origin", "https://evil.example"))
            .insert_header(("Authorization", format!("Bearer {key}")))).await;
        assert_eq!(get.header("access-control-allow-origin"), None, "{get:?}");
    }

    async fn a_wildcard_allows_every_origin(db) {
        let (app, _) = app(db, "*").await;
        let pre = app.call(preflight("/v1/models", "https://anything.example", "GET", "authorization")).await;
        assert_eq!(pre.status, 200, "{pre:?}");
        assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    }
}
