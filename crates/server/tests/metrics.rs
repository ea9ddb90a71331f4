//! `GET /metrics`: the names, labels and types dashboards depend on, and figures that follow what
//! happened. The recorder is per process (nextest runs each test in its own), so values are
//! compared before and after rather than assumed to start at zero.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, backend_app_tests};
use serde_json::json;

/// Every sample of the exposition: (name, labels) → value.
fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest.trim_end_matches('}');
                let labels = labels
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        out.insert((name, labels), value.parse::<f64>().unwrap());
    }
    out
}

fn value(
    samples: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let labels: BTreeMap<String, String> =
        labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    samples.get(&(name.to_owned(), labels.clone())).copied().unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> (String, BTreeMap<(String, BTreeMap<String, String>), f64>) {
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = response.text();
    let parsed = samples(&text);
    (text, parsed)
}

backend_app_tests! {
    async fn metrics_count_requests_by_dialect_route_and_status(db) {
        let (admin, key) = db.bootstrap();
        let app = TestApp::new(db, configure_main).await;
        let requests = "modelgate_http_requests_total";
        // The test kit fetches each prefix's OpenAPI document on its first call there: those
        // requests are counted too, so they happen before the first scrape.
        for path in [
            "/v1/models",
            "/v1/models/metered",
            "/xagent/api/models",
            "/xagent/no/such/path",
            "/openwebui/api/models/create",
            "/no/such/path",
        ] {
            app.get(path, None).await;
        }
        let (_, before) = scrape(&app).await;

        assert_eq!(app.get("/v1/models", Some(&key)).await.status, 200);
        assert_eq!(app.get("/v1/models", Some(&key)).await.status, 200);
        assert_eq!(app.get("/xagent/api/models", None).await.status, 401);
        assert_eq!(app.get("/xagent/no/such/path", Some(&key)).await.status, 404);
        assert_eq!(app.get("/no/such/path", None).await.status, 404);
        assert_eq!(app.get("/healthz", None).await.status, 200);
        let created = app.post("/openwebui/api/models/create", Some(&key), json!({
            "id": "metered", "name": "Metered", "base_model_id": null, "meta": {}, "params": {}
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        for _ in 0..2 {
            assert_eq!(app.get("/v1/models/metered", Some(&key)).await.status, 200);
        }

        let (text, after) = scrape(&app).await;
        let grew = |labels: &[(&str, &str)]| value(&after, requests, labels) - value(&before, requests, labels);
        assert_eq!(grew(&[("dialect", "openai"), ("method", "GET"), ("route", "/v1/models"), ("status", "200")]), 2.0, "{text}");
        assert_eq!(grew(&[("dialect", "xagent"), ("method", "GET"), ("route", "/xagent/api/models"), ("status", "401")]), 1.0, "{text}");
        assert_eq!(grew(&[("dialect", "openwebui"), ("method", "POST"), ("route", "/openwebui/api/models/create"), ("status", "200")]), 1.0, "{text}");
        // Unknown paths share one label value: a label per URL would grow without bound.
        assert_eq!(grew(&[("dialect", "xagent"), ("method", "GET"), ("route", "unmatched"), ("status", "404")]), 1.0, "{text}");
        assert_eq!(grew(&[("dialect", "none"), ("method", "GET"), ("route", "unmatched"), ("status", "404")]), 1.0, "{text}");
        assert_eq!(grew(&[("dialect", "none"), ("method", "GET"), ("route", "/healthz"), ("status", "200")]), 1.0, "{text}");

        let latency = "modelgate_http_request_duration_seconds";
        let timed = [("dialect", "openai"), ("method", "GET"), ("route", "/v1/models")];
        let count = value(&after, &format!("{latency}_count"), &timed) - value(&before, &format!("{latency}_count"), &timed);
        assert_eq!(count, 2.0, "{text}");
        let mut everything = timed.to_vec();
        everything.push(("le", "+Inf"));
        assert!(value(&after, &format!("{latency}_bucket"), &everything) >= 2.0, "{text}");
        assert!(value(&after, &format!("{latency}_sum"), &timed) > 0.0, "{text}");

        // Kept counts: the org's custom models, and the pool that served these requests.
        assert_eq!(value(&after, "modelgate_models", &[("org", &admin.actor.org_id)]), 1.0, "{text}");
        assert!(value(&after, "modelgate_db_pool_max_connections", &[]) >= 1.0, "{text}");
        assert!(value(&after, "modelgate_db_pool_checkouts_total", &[]) > value(&before, "modelgate_db_pool_checkouts_total", &[]), "{text}");
        let open = value(&after, "modelgate_db_pool_connections", &[("state", "idle")])
            + value(&after, "modelgate_db_pool_connections", &[("state", "in_use")]);
        assert!(open >= 1.0, "{text}");
        // Reading the same model twice with the same key found the caller in the cache.
        let hits = |samples| value(samples, "modelgate_cache_hits_total", &[("cache", "callers")]);
        assert!(hits(&after) > hits(&before), "{text}");
    }

    async fn metric_names_types_and_labels_are_pinned(db) {
        let (_, key) = db.bootstrap();
        let app = TestApp::new(db, configure_main).await;
        assert_eq!(app.get("/v1/models", Some(&key)).await.status, 200);
        let created = app.post("/openwebui/api/models/create", Some(&key), json!({
            "id": "counted", "name": "Counted", "base_model_id": null, "meta": {}, "params": {}
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        let (text, samples) = scrape(&app).await;

        let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, labels) in samples.keys() {
            let keys = families.entry(name.clone()).or_default();
            keys.extend(labels.keys().cloned());
        }
        let families: BTreeMap<&str, Vec<&str>> = families
            .iter()
            .map(|(name, keys)| (name.as_str(), keys.iter().map(String::as_str).collect()))
            .collect();
        let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
            ("modelgate_cache_hits_total", vec!["cache"]),
            ("modelgate_db_pool_checkouts_total", vec![]),
            ("modelgate_db_pool_connections", vec!["state"]),
            ("modelgate_db_pool_max_connections", vec![]),
            ("modelgate_db_pool_timeouts_total", vec![]),
            ("modelgate_db_pool_wait_seconds", vec![]),
            ("modelgate_http_request_duration_seconds_bucket", vec!["dialect", "le", "method", "route"]),
            ("modelgate_http_request_duration_seconds_count", vec!["dialect", "method", "route"]),
            ("modelgate_http_request_duration_seconds_sum", vec!["dialect", "method", "route"]),
            ("modelgate_http_requests_total", vec!["dialect", "method", "route", "status"]),
            ("modelgate_models", vec!["org"]),
        ]);
        // The catalog's count appears once a catalog is loaded; the test databases have none.
        let mut seen = families.clone();
        seen.remove("modelgate_catalog_models");
        assert_eq!(seen, expected, "{text}");

        for (name, kind) in [
            ("modelgate_http_requests_total", "counter"),
            ("modelgate_http_request_duration_seconds", "histogram"),
            ("modelgate_db_pool_connections", "gauge"),
            ("modelgate_db_pool_checkouts_total", "counter"),
            ("modelgate_cache_hits_total", "counter"),
            ("modelgate_models", "gauge"),
        ] {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}: {text}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
    }
}
