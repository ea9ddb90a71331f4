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
}
