//! A Postgres that stops answering (not refusing): readiness and requests answer 503 within
//! about a second, in each dialect's own format, and recover when it answers again.
//!
//! Postgres only: an SQLite file cannot hang this way. The shared Postgres server is never
//! stopped; the store reaches it through a `HangingProxy` that the test freezes and thaws.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use modelgate_server::app::configure_main;
use modelgate_server::startup;
use modelgate_store::Cipher;
use modelgate_testkit::{HangingProxy, TEST_SECRET_KEY, TestApp, TestDb, TestResponse};
use serde_json::json;

/// Upper bounds, not benchmarks. The design answers within the probe interval (250 ms) plus the
/// probe timeout (1 s); the margin keeps a loaded 2-core CI machine from flaking. The measured
/// times are printed (`--no-capture`).
const FAIL_FAST: Duration = Duration::from_millis(2500);
/// After a thaw the stuck probe completes at once; the bound is as generous as the one above.
const RECOVERY: Duration = Duration::from_secs(10);

const UNAVAILABLE: &str = "Service temporarily unavailable";

async fn timed(what: &str, call: impl std::future::Future<Output = TestResponse>) -> TestResponse {
    let started = Instant::now();
    // Bounded here too, so that a request that hangs fails the test instead of stalling it.
    let response = actix_web::rt::time::timeout(FAIL_FAST, call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {FAIL_FAST:?}"));
    let took = started.elapsed();
    eprintln!("{what}: {} in {} ms", response.status, took.as_millis());
    assert!(took < FAIL_FAST, "{what} took {took:?}: {response:?}");
    response
}

fn assert_not_ready(ready: &TestResponse) {
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.json, json!({"status": "unavailable", "detail": "database unreachable"}));
}

/// Polls until readiness and a dialect request both answer 200 again.
async fn recovers(app: &TestApp, key: Option<&str>) {
    let started = Instant::now();
    loop {
        let ready = app.get("/readyz", None).await;
        let listed = app.get("/xagent/api/models", key).await;
        if ready.status == 200 && listed.status == 200 {
            eprintln!("recovered in {} ms", started.elapsed().as_millis());
            return;
        }
        assert!(started.elapsed() < RECOVERY, "no recovery: {ready:?} / {listed:?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_hanging_postgres_fails_fast_and_recovers() {
    let proxy = HangingProxy::postgres();
    let db = TestDb::postgres_through(&proxy);
    let (_, key) = db.bootstrap();
    let key = Some(key.as_str());
    // The production monitor, probing through the proxy as the server's store would.
    let health = startup::health_monitor(&db.url, Cipher::new(&TEST_SECRET_KEY)).unwrap();
    let app = TestApp::with_health(db, health, configure_main).await;
    assert_eq!(app.get("/readyz", None).await.status, 200);
    let before = app.get("/xagent/api/models", key).await;
    assert_eq!(before.status, 200, "{before:?}");

    // A request that reaches the database just after it stops answering waits for the monitor
    // to notice (its connection is stuck), then answers 503 in the dialect's format.
    proxy.freeze();
    let listed = timed("in-flight xagent list", app.get("/xagent/api/models", key)).await;
    assert_eq!(listed.status, 503, "{listed:?}");
    assert_eq!(listed.json, json!({"detail": UNAVAILABLE}));
    // From now on nothing touches the pool: readiness and every dialect answer at once.
    assert_not_ready(&timed("readyz while down", app.get("/readyz", None)).await);
    for path in [
        "/openwebui/api/models/list",
        "/respan/api/models/",
        "/syft/api/v1/models/",
        "/xagent/api/models",
    ] {
        let answer = timed(path, app.get(path, key)).await;
        assert_eq!((answer.status, &answer.json), (503, &json!({"detail": UNAVAILABLE})), "{path}");
    }
    let me = timed("admin me", app.get("/admin/v1/me", key)).await;
    assert_eq!(me.status, 503, "{me:?}");
    assert_eq!(
        (me.json["code"].as_str(), me.json["detail"].as_str()),
        (Some("unavailable"), Some(UNAVAILABLE))
    );
    let openai = timed("openai models", app.get("/v1/models", key)).await;
    assert_eq!(openai.status, 503, "{openai:?}");
    assert_eq!(openai.json["error"]["type"], "server_error");
    // Refused without touching the database: nothing changed.
    let refused = timed(
        "xagent create",
        app.post("/xagent/api/models", key, json!({"model_id": "hang-test", "category": "llm", "model_provider": "openai", "model_name": "gpt-4o"})),
    )
    .await;
    assert_eq!(refused.status, 503, "{refused:?}");

    proxy.thaw();
    recovers(&app, key).await;
    let missing = app.get("/xagent/api/models/hang-test", key).await;
    assert_eq!(missing.status, 404, "the refused create wrote nothing: {missing:?}");

    // A warm GET by key is answered from memory after the replica's shared snapshot check,
    // awaited on the worker; that check is stuck too once the database stops answering, so the
    // GET answers 503 when the monitor notices, and is served again after.
    let model = json!({"model_id": "warm", "category": "llm", "model_provider": "openai", "model_name": "gpt-4o"});
    let created = app.post("/xagent/api/models", key, model).await;
    assert!(created.status < 300, "{created:?}");
    let warm = "/xagent/api/models/by-id/warm";
    assert_eq!(app.get(warm, key).await.status, 200);
    assert_eq!(app.get(warm, key).await.status, 200);
    proxy.freeze();
    let stuck = timed("warm xagent GET", app.get(warm, key)).await;
    assert_eq!((stuck.status, &stuck.json), (503, &json!({"detail": UNAVAILABLE})));
    proxy.thaw();
    recovers(&app, key).await;
    let again = app.get(warm, key).await;
    assert_eq!((again.status, again.json["model_id"].as_str()), (200, Some("warm")), "{again:?}");

    // Readiness asked first runs its own probe, bounded by the same timeout; requests then fail
    // at once from the flag.
    proxy.freeze();
    assert_not_ready(&timed("readyz asked first", app.get("/readyz", None)).await);
    let listed = timed("xagent list after readyz", app.get("/xagent/api/models", key)).await;
    assert_eq!((listed.status, &listed.json), (503, &json!({"detail": UNAVAILABLE})));

    proxy.thaw();
    recovers(&app, key).await;
}

/// Without a monitor (an app built as the tests and tools build it), readiness still answers
/// 503 within its own probe timeout instead of hanging.
#[actix_web::test]
async fn readiness_without_a_monitor_is_bounded_too() {
    let proxy = HangingProxy::postgres();
    let db = TestDb::postgres_through(&proxy);
    let app = TestApp::new(db, configure_main).await;
    assert_eq!(app.get("/readyz", None).await.status, 200);
    proxy.freeze();
    assert_not_ready(&timed("readyz without a monitor", app.get("/readyz", None)).await);
    // The abandoned ping finishes once the database answers again.
    proxy.thaw();
    assert_eq!(app.get("/readyz", None).await.status, 200);
}
