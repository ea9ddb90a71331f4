//! Two replicas on one database, over HTTP: this app serves the GETs, and a second store on the
//! same database (another server, or the CLI) makes the changes. The app's caches must never
//! answer as things were before a change the other acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::{
    Ctx, Grant, ModelChange, NewGroup, NewModel, Permission, PrincipalKind, Registry, Role,
};
use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, TestDb, backend_app_tests};

/// Each dialect's GET of model `m`: the handlers that take their caller from the cache.
const GETS: [&str; 5] = [
    "/v1/models/m",
    "/openwebui/api/models/model?id=m",
    "/xagent/api/models/by-id/m",
    "/syft/api/v1/models/m",
    "/respan/api/models/m/",
];

/// A member who reads `m` through group `devs`, and this app with that member's key cached.
async fn member_reading_through_a_group(db: TestDb) -> (TestApp, Ctx, String) {
    let (admin, _) = db.bootstrap();
    let (_, member_key) = db.user(&admin, "m1", Role::Member);
    db.store
        .create_group(
            &admin,
            NewGroup {
                id: Some("devs".into()),
                name: "devs".into(),
                description: None,
                member_ids: vec!["m1".into()],
            },
        )
        .unwrap();
    let grants = Some(vec![Grant::new(PrincipalKind::Group, "devs", Permission::Read)]);
    let change = ModelChange { grants, ..Default::default() };
    db.store.create_model(&admin, NewModel { key: "m".into(), change }).unwrap();
    let app = TestApp::new(db, configure_main).await;
    for path in GETS {
        for _ in 0..2 {
            let response = app.get(path, Some(&member_key)).await;
            assert_eq!(response.status, 200, "{path}: {response:?}");
        }
    }
    (app, admin, member_key)
}

/// Writes, and answers given without a registry call, by a caller this app remembers: each
/// (method, path, body) once with a body the handler takes and once with one it refuses.
const WRITES: [(&str, &str, &str); 6] = [
    (
        "POST",
        "/openwebui/api/models/model/update?id=m",
        r#"{"id":"m","name":"M2","meta":{},"params":{}}"#,
    ),
    ("PUT", "/xagent/api/models/by-id/m", r#"{"model_name":"renamed"}"#),
    ("PATCH", "/syft/api/v1/models/m", r#"{"description":"changed"}"#),
    ("PATCH", "/respan/api/models/m/", r#"{"output_cost":0.075}"#),
    ("POST", "/v1/chat/completions", r#"{"model":"m","messages":[]}"#),
    ("GET", "/xagent/api/models/categories", ""),
];

backend_app_tests! {
    async fn a_key_revoked_on_another_replica_is_refused_on_the_next_get(db) {
        let (app, admin, member_key) = member_reading_through_a_group(db).await;
        let other = app.db.replica();
        let id = other.list_api_keys(&admin).unwrap().into_iter().find(|k| k.user_id == "m1").unwrap().id;
        other.revoke_api_key(&admin, &id).unwrap();
        for path in GETS {
            let revoked = app.get(path, Some(&member_key)).await;
            // Exactly what an unknown key gets in that dialect.
            let unknown = app.get(path, Some("mg_never_issued")).await;
            assert_eq!(revoked.status, 401, "{path}: {revoked:?}");
            assert_eq!(revoked.json, unknown.json, "{path}");
            assert_eq!(revoked.header("www-authenticate"), Some("Bearer"), "{path}");
        }
    }

    async fn a_membership_removed_on_another_replica_hides_the_model_on_the_next_get(db) {
        let (app, admin, member_key) = member_reading_through_a_group(db).await;
        let other = app.db.replica();
        other.set_group_members(&admin, "devs", vec![]).unwrap();
        for path in GETS {
            let hidden = app.get(path, Some(&member_key)).await;
            // Open WebUI answers a model of the org the caller may not read with 401, the
            // others with 404.
            let expected = if path.starts_with("/openwebui") { 401 } else { 404 };
            assert_eq!(hidden.status, expected, "{path}: {hidden:?}");
        }
    }

    async fn a_base_changed_on_another_replica_shows_in_respan_on_the_next_get(db) {
        let (admin, key) = db.bootstrap();
        let base = ModelChange { input_cost: Some(Some(1.0)), ..Default::default() };
        db.store.create_model(&admin, NewModel { key: "b".into(), change: base }).unwrap();
        let on_base = ModelChange { base_model: Some(Some("b".into())), ..Default::default() };
        db.store.create_model(&admin, NewModel { key: "m".into(), change: on_base }).unwrap();
        let app = TestApp::new(db, configure_main).await;
        for _ in 0..2 {
            let shown = app.get("/respan/api/models/m/", Some(&key)).await;
            assert_eq!(shown.json["input_cost"], serde_json::json!(1.0), "{shown:?}");
        }
        let other = app.db.replica();
        let change = ModelChange { input_cost: Some(Some(2.5)), ..Default::default() };
        let update = modelgate_core::ModelUpdate { change, ..Default::default() };
        other.update_model(&admin, &modelgate_core::ModelRef::Key("b".into()), update).unwrap();
        let shown = app.get("/respan/api/models/m/", Some(&key)).await;
        assert_eq!(shown.json["input_cost"], serde_json::json!(2.5), "{shown:?}");
        // And a base removed there is gone here.
        other.delete_model(&admin, &modelgate_core::ModelRef::Key("b".into())).unwrap();
        let shown = app.get("/respan/api/models/m/", Some(&key)).await;
        assert_eq!(shown.json["input_cost"], serde_json::Value::Null, "{shown:?}");
    }

    async fn endpoints_changed_on_another_replica_show_in_syft_on_the_next_get(db) {
        let (admin, key) = db.bootstrap();
        db.store.create_model(&admin, NewModel { key: "m".into(), change: ModelChange::default() }).unwrap();
        let app = TestApp::new(db, configure_main).await;
        let connected = |response: &modelgate_testkit::TestResponse| -> Vec<String> {
            let refs = response.json["connected_endpoints"].as_array().cloned().unwrap_or_default();
            refs.iter().map(|r| format!("{}:{}", r["slug"].as_str().unwrap(), r["name"].as_str().unwrap())).collect()
        };
        for _ in 0..2 {
            let shown = app.get("/syft/api/v1/models/m", Some(&key)).await;
            assert_eq!(shown.status, 200, "{shown:?}");
            assert!(connected(&shown).is_empty(), "{shown:?}");
        }
        let other = app.db.replica();
        let model = Some(modelgate_core::ModelRef::Key("m".into()));
        other.create_endpoint(&admin, modelgate_core::NewEndpoint::new("One", "one", model)).unwrap();
        let shown = app.get("/syft/api/v1/models/m", Some(&key)).await;
        assert_eq!(connected(&shown), ["one:One"], "a new endpoint: {shown:?}");
        // Cached with it now; a change of the endpoint alone shows too.
        let _ = app.get("/syft/api/v1/models/m", Some(&key)).await;
        let change = modelgate_core::EndpointChange { name: Some("Renamed".into()), ..Default::default() };
        other.update_endpoint(&admin, "one", change).unwrap();
        let shown = app.get("/syft/api/v1/models/m", Some(&key)).await;
        assert_eq!(connected(&shown), ["one:Renamed"], "a renamed endpoint: {shown:?}");
        let _ = app.get("/syft/api/v1/models/m", Some(&key)).await;
        other.delete_endpoint(&admin, "one").unwrap();
        let shown = app.get("/syft/api/v1/models/m", Some(&key)).await;
        assert!(connected(&shown).is_empty(), "a deleted endpoint: {shown:?}");
    }

    async fn a_key_revoked_on_another_replica_is_refused_on_the_next_write_whatever_its_body(db) {
        let (admin, key) = db.bootstrap();
        let change = ModelChange { description: Some(Some("before".into())), ..Default::default() };
        db.store.create_model(&admin, NewModel { key: "m".into(), change }).unwrap();
        let app = TestApp::new(db, configure_main).await;
        let remembered = |key: String| {
            let app = &app;
            async move {
                // Twice: the second is served from the caller remembered by the first.
                for _ in 0..2 {
                    assert_eq!(app.get("/v1/models/m", Some(&key)).await.status, 200);
                }
                key
            }
        };
        // While the key holds, a refused body is answered as such (the key checked on the way).
        let key = remembered(key).await;
        for (method, path, _) in WRITES {
            let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
            let refused = app.send_raw(method.clone(), path, Some(&key), b"{".to_vec()).await;
            let expected = if method == actix_web::http::Method::GET { 200 } else { 400 };
            assert!(
                refused.status == expected || (expected == 400 && refused.status == 422),
                "{method} {path}: {refused:?}"
            );
        }
        let other = app.db.replica();
        let model = modelgate_core::ModelRef::Key("m".into());
        let before = other.get_model(&admin, &model).unwrap();
        let mut writer = 0;
        for (method, path, body) in WRITES {
            let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
            // Taken, refused as malformed JSON, refused as the wrong JSON type.
            for body in [body, "{", "[1]"] {
                // A key of its own for each request, remembered here and revoked over there.
                writer += 1;
                let user = format!("w{writer}");
                let (_, key) = app.db.user(&admin, &user, Role::Admin);
                let key = remembered(key).await;
                let id = other.list_api_keys(&admin).unwrap().into_iter().find(|k| k.user_id == user).unwrap().id;
                other.revoke_api_key(&admin, &id).unwrap();
                let send = |key| app.send_raw(method.clone(), path, Some(key), body.as_bytes().to_vec());
                let revoked = send(&key).await;
                // Exactly what an unknown key gets, which is refused before its body is read.
                let unknown = send("mg_never_issued").await;
                assert_eq!(revoked.status, 401, "{method} {path} {body}: {revoked:?}");
                assert_eq!(revoked.json, unknown.json, "{method} {path} {body}");
                assert_eq!(revoked.header("www-authenticate"), Some("Bearer"), "{path}");
            }
        }
        let after = other.get_model(&admin, &model).unwrap();
        assert_eq!(after.model.version, before.model.version, "nothing was written");
    }
}
