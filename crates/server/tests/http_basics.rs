//! What an operator and HTTP tooling expect of every listener: HEAD on the health probes, the
//! Bearer challenge on every 401, gzip when asked for. On SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::http::Method;
use actix_web::test::TestRequest;
use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, TestDb, backend_app_tests};

async fn app(db: TestDb) -> TestApp {
    db.bootstrap();
    TestApp::new(db, configure_main).await
}

backend_app_tests! {
    async fn health_probes_answer_head(db) {
        let app = app(db).await;
        for path in ["/healthz", "/readyz"] {
            let head = app.call(TestRequest::default().method(Method::HEAD).uri(path)).await;
            assert_eq!(head.status, 200, "{path}: {head:?}");
            assert!(head.bytes.is_empty(), "{path}: HEAD carries no body");
        }
    }

    async fn every_401_carries_the_bearer_challenge(db) {
        let app = app(db).await;
        for path in [
            "/admin/v1/me",
            "/v1/models",
            "/xagent/api/models",
            "/openwebui/api/v1/models/list",
            "/syft/api/v1/models/",
            "/respan/api/models/",
        ] {
            let missing = app.get(path, None).await;
            assert_eq!(missing.status, 401, "{path}: {missing:?}");
            assert_eq!(missing.header("www-authenticate"), Some("Bearer"), "{path}");
            let wrong = app.get(path, Some("mg_not_a_key")).await;
            assert_eq!(wrong.status, 401, "{path}: {wrong:?}");
            assert_eq!(wrong.header("www-authenticate"), Some("Bearer"), "{path}");
        }
    }

    async fn answers_are_gzipped_for_callers_that_ask(db) {
        let app = app(db).await;
        let plain = app.get("/xagent/openapi.json", None).await;
        assert_eq!(plain.header("content-encoding"), None);
        let gzipped = app
            .call(TestRequest::get().uri("/xagent/openapi.json").insert_header(("Accept-Encoding", "gzip")))
            .await;
        assert_eq!(gzipped.status, 200);
        assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
        assert!(gzipped.bytes.len() < plain.bytes.len() / 2, "{} vs {}", gzipped.bytes.len(), plain.bytes.len());
    }
}

#[actix_web::test]
async fn version_says_what_is_running() {
    let app = app(TestDb::sqlite()).await;
    let version = app.get("/version", None).await;
    assert_eq!(version.status, 200, "{version:?}");
    assert_eq!(version.json["version"], env!("CARGO_PKG_VERSION"));
    let commit = version.json["commit"].as_str().unwrap();
    assert!(!commit.is_empty());
    assert_eq!(
        modelgate_server::app::VERSION_LINE,
        format!("{} ({commit})", env!("CARGO_PKG_VERSION"))
    );
    let built = version.json["build_date"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(built).is_ok(), "{built}");
}

#[actix_web::test]
async fn request_logs_say_who_and_never_the_key() {
    let captured = modelgate_testkit::logs::Captured::default();
    let _guard = captured.install(tracing::Level::INFO);
    let db = TestDb::sqlite();
    let (admin, key) = db.bootstrap();
    let app = TestApp::new(db, configure_main).await;
    let listed = app.get("/xagent/api/models", Some(&key)).await;
    assert_eq!(listed.status, 200);
    let logs = captured.text();
    let line =
        logs.lines().find(|l| l.contains("request finished") && l.contains("/xagent/api/models"));
    let line = line.unwrap_or_else(|| panic!("no request line in {logs}"));
    assert!(line.contains("dialect=xagent"), "{line}");
    assert!(line.contains(&format!("user={}", admin.actor.user_id)), "{line}");
    assert!(line.contains("org=default"), "{line}");
    assert!(!logs.contains(&key), "a key in the logs: {logs}");
}
