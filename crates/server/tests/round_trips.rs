//! What one request costs in statements sent to the database, for each dialect's GET of one
//! model and for the updates the issue tracker measured. Upper bounds: a change that adds a
//! statement to one of these paths fails here. One test in this binary, since the statement
//! counter is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::{ModelChange, NewModel, Registry};
use modelgate_server::app::configure_main;
use modelgate_testkit::statements;
use modelgate_testkit::{Backend, TestApp, TestDb, TestResponse};
use serde_json::{Value, json};

async fn costs(backend: Backend) -> Vec<(&'static str, usize)> {
    let db = TestDb::new(backend);
    let (admin, key) = db.bootstrap();
    let change = ModelChange { description: Some(Some("d".into())), ..Default::default() };
    db.store.create_model(&admin, NewModel { key: "m".into(), change }).unwrap();
    // A model on a base: Respan shows the base beside it.
    let change = ModelChange { base_model: Some(Some("m".into())), ..Default::default() };
    db.store.create_model(&admin, NewModel { key: "on-m".into(), change }).unwrap();
    let app = TestApp::new(db, configure_main).await;
    let key = Some(key.as_str());
    // Once, so that what a first request sets up (pool connections) is not counted below, and
    // what each GET reads is cached as a busy server would have it.
    assert_eq!(app.get("/v1/models/m", key).await.status, 200);
    assert_eq!(app.get("/respan/api/models/on-m/", key).await.status, 200);
    assert_eq!(app.get("/syft/api/v1/models/m", key).await.status, 200);

    let update = json!({"id": "m", "name": "M2", "meta": {}, "params": {}});
    let mut costs = Vec::new();
    for (name, method, path, body) in [
        ("v1 GET", "GET", "/v1/models/m", Value::Null),
        ("openwebui GET", "GET", "/openwebui/api/models/model?id=m", Value::Null),
        ("xagent GET", "GET", "/xagent/api/models/by-id/m", Value::Null),
        ("syft GET", "GET", "/syft/api/v1/models/m", Value::Null),
        ("respan GET", "GET", "/respan/api/models/m/", Value::Null),
        ("respan GET, base", "GET", "/respan/api/models/on-m/", Value::Null),
        ("openwebui update", "POST", "/openwebui/api/models/model/update?id=m", update.clone()),
        ("respan PATCH", "PATCH", "/respan/api/models/m/", json!({"output_cost": 0.075})),
    ] {
        let before = statements::sent();
        let response: TestResponse = match method {
            "GET" => app.get(path, key).await,
            "POST" => app.post(path, key, body).await,
            _ => app.patch(path, key, body).await,
        };
        assert_eq!(response.status, 200, "{name}: {response:?}");
        costs.push((name, statements::sent() - before));
    }
    costs
}

#[actix_web::test]
async fn requests_cost_a_bounded_number_of_statements() {
    statements::start_counting();
    let sqlite = costs(Backend::Sqlite).await;
    let postgres = costs(Backend::Postgres).await;
    // (request, SQLite, Postgres). On SQLite the caller and the model come from the caches; on
    // Postgres a GET is one statement, the model with the check of the cached caller (Syft's
    // checks the endpoints serving the model in it too). An update on SQLite is begin, find-lock-and-read, write, audit
    // row, commit (and the key, once a write ended what SQLite had cached); on Postgres, with
    // the caller and the model cached by the GETs before, one statement that writes the model
    // and its audit row if the row and the caller's identity version are unchanged.
    let bounds = [
        ("v1 GET", 0, 1),
        ("openwebui GET", 0, 1),
        ("xagent GET", 0, 1),
        ("syft GET", 0, 1),
        ("respan GET", 0, 1),
        // The model and its base checked in one statement.
        ("respan GET, base", 0, 1),
        ("openwebui update", 5, 1),
        // The update before it ended what SQLite had cached: the key is read again.
        ("respan PATCH", 6, 1),
    ];
    for (((name, s), (_, p)), (_, max_s, max_p)) in sqlite.iter().zip(&postgres).zip(bounds) {
        println!("{name:18} sqlite {s:2}  postgres {p:2}");
        assert!(*s <= max_s && *p <= max_p, "{name}: {s} on SQLite, {p} on Postgres");
    }
}
