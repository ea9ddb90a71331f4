//! The server through its real actix app, on SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use actix_web::http::Method;
use clap::Parser;
use modelgate_core::Registry;
use modelgate_server::app::configure_main;
use modelgate_server::config::Config;
use modelgate_server::startup;
use modelgate_store::{Cipher, Store, StoreOptions};
use modelgate_testkit::{TestApp, TestDb, assert_wire_snapshot, backend_app_tests, redact};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: Config,
}

fn config(args: &[&str]) -> Config {
    Args::try_parse_from(std::iter::once("modelgate").chain(args.iter().copied())).unwrap().config
}

async fn app(db: TestDb) -> (TestApp, String) {
    let (_, key) = db.bootstrap();
    (TestApp::new(db, configure_main).await, key)
}

backend_app_tests! {
    async fn bootstrap_syncs_the_catalog_and_creates_one_admin(db) {
        let cfg = config(&["--bootstrap-admin-key", "mg_test_bootstrap_key_0123456789"]);
        let done = startup::prepare(&cfg, &db.store).unwrap().expect("first start bootstraps");
        assert_eq!(done.org.id, "default");
        assert_eq!(done.key.plaintext.expose(), "mg_test_bootstrap_key_0123456789");
        // A restart neither bootstraps again nor duplicates the catalog.
        assert!(startup::prepare(&cfg, &db.store).unwrap().is_none());
        let app = TestApp::new(db, configure_main).await;
        let me = app.get("/admin/v1/me", Some("mg_test_bootstrap_key_0123456789")).await;
        assert_eq!(me.status, 200, "{me:?}");
        assert_eq!(me.json["user"]["role"], "admin");
        assert_eq!(me.json["org"]["name"], "default");
        assert_eq!(me.json["instance_admin"], true);
        let ctx = app.db.ctx_for_key("mg_test_bootstrap_key_0123456789");
        let builtins = app.db.store.list_models(&ctx, &modelgate_core::ModelQuery {
            source: Some(modelgate_core::Source::Builtin),
            ..Default::default()
        }).unwrap();
        assert!(builtins.total >= 30, "{} built-in models", builtins.total);
    }

    async fn admin_manages_users_groups_and_keys(db) {
        let (app, admin) = app(db).await;
        let admin = Some(admin.as_str());

        let created = app.post("/admin/v1/users", admin, json!({"id": "alice", "name": "Alice", "email": "alice@example.com", "role": "member"})).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_wire_snapshot!("admin_user", redact(&created.json, &[]));

        let dup = app.post("/admin/v1/users", admin, json!({"id": "alice", "name": "Again"})).await;
        assert_eq!((dup.status, dup.json.clone()), (409, json!({"detail": "User 'alice' already exists", "code": "conflict"})));

        let invalid = app.post("/admin/v1/users", admin, json!({"role": "owner", "email": 5})).await;
        assert_eq!(invalid.status, 422);
        assert_eq!(invalid.json, json!({
            "detail": "Invalid request",
            "code": "invalid",
            "errors": [
                {"field": "name", "message": "This field is required."},
                {"field": "email", "message": "Not a valid string."},
                {"field": "role", "message": "\"owner\" is not a valid choice."}
            ]
        }));

        let patched = app.patch("/admin/v1/users/alice", admin, json!({"role": "viewer"})).await;
        assert_eq!((patched.status, patched.json["role"].clone()), (200, json!("viewer")));
        let listed = app.get("/admin/v1/users", admin).await;
        assert_eq!(listed.json.as_array().unwrap().len(), 2);
        // A trailing slash names the same resource, as in the dialects.
        assert_eq!(app.get("/admin/v1/users/", admin).await.json, listed.json);
        let alice_slash = app.get("/admin/v1/users/alice/", admin).await;
        assert_eq!((alice_slash.status, &alice_slash.json["role"]), (200, &json!("viewer")));

        let group = app.post("/admin/v1/groups", admin, json!({"id": "developers", "name": "Developers", "member_ids": ["alice"]})).await;
        assert_eq!(group.status, 201, "{group:?}");
        assert_wire_snapshot!("admin_group", redact(&group.json, &[]));
        let unknown_member = app.put("/admin/v1/groups/developers/members", admin, json!({"user_ids": ["nobody"]})).await;
        assert_eq!(unknown_member.status, 422);
        let emptied = app.put("/admin/v1/groups/developers/members", admin, json!({"user_ids": []})).await;
        assert_eq!(emptied.json["member_ids"], json!([]));

        // Keys: the plaintext once at creation, a prefix only afterwards.
        let key = app.post("/admin/v1/keys", admin, json!({"user_id": "alice", "name": "ci"})).await;
        assert_eq!(key.status, 201, "{key:?}");
        let plaintext = key.json["key"].as_str().unwrap().to_owned();
        assert!(plaintext.starts_with("mg_"));
        assert_eq!(key.json["prefix"].as_str().unwrap(), &plaintext[..10]);
        let listing = app.get("/admin/v1/keys", admin).await;
        assert!(!listing.text().contains(&plaintext));
        assert!(listing.json.as_array().unwrap().iter().all(|k| k.get("key").is_none() && k.get("key_hash").is_none()));

        // Alice (a viewer now) sees her own keys only and cannot manage users.
        let alice = Some(plaintext.as_str());
        assert_eq!(app.get("/admin/v1/keys", alice).await.json.as_array().unwrap().len(), 1);
        let denied = app.post("/admin/v1/users", alice, json!({"name": "Mallory"})).await;
        assert_eq!((denied.status, denied.json.clone()), (403, json!({"detail": "Only org admins may do this", "code": "forbidden"})));

        // Revoking takes effect on the very next request.
        let id = key.json["id"].as_str().unwrap();
        let revoked = app.delete(&format!("/admin/v1/keys/{id}"), admin).await;
        assert_eq!(revoked.status, 200);
        assert!(revoked.json["revoked_at"].is_string());
        let refused = app.get("/admin/v1/me", alice).await;
        assert_eq!(refused.status, 401);
        assert_eq!(refused.json["code"], "unauthenticated");

        assert_eq!(app.delete("/admin/v1/users/alice", admin).await.status, 204);
        assert_eq!(app.get("/admin/v1/users/alice", admin).await.status, 404);
    }

    async fn orgs_are_managed_by_instance_admins(db) {
        let (app, admin) = app(db).await;
        let admin = Some(admin.as_str());
        let org = app.post("/admin/v1/orgs", admin, json!({"id": "acme", "name": "Acme"})).await;
        assert_eq!(org.status, 201, "{org:?}");
        assert_eq!(org.json["is_root"], false);
        let acme_admin = app.post("/admin/v1/users", admin, json!({"id": "acme-admin", "org_id": "acme", "name": "A", "role": "admin"})).await;
        assert_eq!(acme_admin.json["org_id"], "acme");
        let (_, acme_key) = app.db.key_for(&modelgate_core::Ctx::new(modelgate_core::Actor::system("acme"), "test"), "acme-admin");
        let acme = Some(acme_key.as_str());
        // An ordinary org admin sees only its own org and cannot create orgs.
        let orgs = app.get("/admin/v1/orgs", acme).await;
        assert_eq!(orgs.json.as_array().unwrap().len(), 1);
        assert_eq!(app.post("/admin/v1/orgs", acme, json!({"name": "Other"})).await.status, 403);
        assert_eq!(app.get("/admin/v1/orgs/default", acme).await.status, 404);
        // Users of another org do not exist for it.
        assert_eq!(app.get("/admin/v1/users", acme).await.json.as_array().unwrap().len(), 1);
        assert_eq!(app.get("/admin/v1/orgs", admin).await.json.as_array().unwrap().len(), 2);
        // Nor do their ids: acme may pick an id the default org uses, and learns nothing by it.
        let theirs = app.post("/admin/v1/users", admin, json!({"id": "a-member2", "name": "Default's"})).await;
        assert_eq!(theirs.status, 201, "{theirs:?}");
        let ours = app.post("/admin/v1/users", acme, json!({"id": "a-member2", "name": "Acme's"})).await;
        assert_eq!((ours.status, ours.json["org_id"].clone()), (201, json!("acme")), "{ours:?}");
        let dup = app.post("/admin/v1/users", acme, json!({"id": "a-member2", "name": "Again"})).await;
        assert_eq!((dup.status, dup.json.clone()), (409, json!({"detail": "User 'a-member2' already exists", "code": "conflict"})));
        assert_eq!(app.get("/admin/v1/users/a-member2", admin).await.json["name"], "Default's");
        assert_eq!(app.delete("/admin/v1/users/a-member2", acme).await.status, 204);
        assert_eq!(app.get("/admin/v1/users/a-member2", admin).await.json["name"], "Default's");
    }

    async fn health_and_readiness(db) {
        let (app, _) = app(db).await;
        let health = app.get("/healthz", None).await;
        assert_eq!((health.status, health.json.clone()), (200, json!({"status": "ok"})));
        let ready = app.get("/readyz", None).await;
        assert_eq!((ready.status, ready.json.clone()), (200, json!({"status": "ready"})));
    }

    async fn body_limit_is_a_json_413(db) {
        let (_, key) = db.bootstrap();
        let app = TestApp::with_body_limit(db, 1024, configure_main).await;
        let big = json!({"name": "x".repeat(2048)}).to_string().into_bytes();
        let response = app.send_raw(Method::POST, "/admin/v1/users", Some(&key), big).await;
        assert_eq!(response.status, 413);
        assert!(response.is_json());
        assert_eq!(response.json["code"], "body_too_large");
        let malformed = app.send_raw(Method::POST, "/admin/v1/users", Some(&key), b"{not json".to_vec()).await;
        assert_eq!((malformed.status, malformed.json["code"].clone()), (400, json!("invalid_json")));
        // Nothing was created by either request.
        assert_eq!(app.get("/admin/v1/users", Some(&key)).await.json.as_array().unwrap().len(), 1);
    }

    async fn unknown_paths_and_methods_answer_json(db) {
        let (app, key) = app(db).await;
        for (path, detail) in [
            ("/nothing/here", "Not Found"),
            ("/openwebui/nope", "Not Found"),
            ("/xagent/nope", "Not Found"),
            ("/syft/nope", "Not Found"),
            ("/respan/nope", "Not found."),
        ] {
            let response = app.get(path, Some(&key)).await;
            assert_eq!(response.status, 404, "{path}");
            assert!(response.is_json(), "{path}: {response:?}");
            assert_eq!(response.json["detail"], detail, "{path}");
        }
        let admin_unknown = app.get("/admin/v1/nope", Some(&key)).await;
        assert_eq!(admin_unknown.json, json!({"detail": "Not Found", "code": "not_found"}));
        let wrong_method = app.send(Method::DELETE, "/healthz", None, None).await;
        assert_eq!(wrong_method.status, 405);
        assert_eq!(wrong_method.json, json!({"detail": "Method Not Allowed"}));
    }

    async fn request_ids_are_returned_and_echoed(db) {
        let (app, _) = app(db).await;
        let fresh = app.get("/healthz", None).await;
        assert_eq!(fresh.header("x-request-id").map(str::len), Some(36));
        let request = actix_web::test::TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", "trace-42"));
        assert_eq!(app.call(request).await.header("x-request-id"), Some("trace-42"));
        // A header that could forge log lines is replaced.
        let request = actix_web::test::TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", "a b\tc"));
        assert_ne!(app.call(request).await.header("x-request-id"), Some("a b\tc"));
    }
}

/// A store whose database cannot be reached: readiness and requests answer 503 in JSON.
#[actix_web::test]
async fn database_down_is_a_503() {
    let options =
        StoreOptions { pool_size: 1, connect_timeout: std::time::Duration::from_millis(300) };
    let store = Store::open("postgres://postgres@127.0.0.1:1/none", Cipher::new(&[1; 32]), options)
        .unwrap();
    let registry: Arc<dyn Registry> = Arc::new(store);
    let services = actix_web::web::Data::new(modelgate_http::Services::new(registry, 1024));
    let app = actix_web::test::init_service(
        modelgate_http::app::build(services, Default::default()).configure(configure_main),
    )
    .await;
    let ready = actix_web::test::call_service(
        &app,
        actix_web::test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    assert_eq!(ready.status(), 503);
    let body: Value = actix_web::test::read_body_json(ready).await;
    assert_eq!(body, json!({"status": "unavailable", "detail": "database unreachable"}));
    let request = actix_web::test::TestRequest::get()
        .uri("/admin/v1/me")
        .insert_header(("Authorization", "Bearer mg_whatever"))
        .to_request();
    let me = actix_web::test::call_service(&app, request).await;
    assert_eq!(me.status(), 503);
    let body: Value = actix_web::test::read_body_json(me).await;
    assert_eq!(body["code"], "unavailable");
}

mod discovery {
    use modelgate_core::{Ctx, MapChange, ModelChange, ModelUpdate, NewModel, Role};

    use super::*;

    fn create(db: &TestDb, ctx: &Ctx, key: &str, change: ModelChange) -> modelgate_core::ModelView {
        db.store.create_model(ctx, NewModel { key: key.into(), change }).unwrap()
    }

    backend_app_tests! {
        async fn v1_models_lists_what_the_caller_can_use(db) {
            let (admin, admin_key) = db.bootstrap();
            let (_, member_key) = db.user(&admin, "member", Role::Member);
            db.store.sync_catalog(vec![modelgate_core::CatalogModel {
                key: "gpt-4o".into(),
                change: ModelChange { provider: Some(Some("openai".into())), ..Default::default() },
            }]).unwrap();
            create(&db, &admin, "team/private", ModelChange::default());
            create(&db, &admin, "team/shared", ModelChange { public: Some(true), ..Default::default() });
            let off = create(&db, &admin, "team/off", ModelChange { public: Some(true), ..Default::default() });
            db.store.toggle_model(&admin, &modelgate_core::ModelRef::Seq(off.model.seq)).unwrap();
            let app = TestApp::new(db, configure_main).await;

            let listed = app.get("/v1/models", Some(&member_key)).await;
            assert_eq!(listed.status, 200, "{listed:?}");
            assert_wire_snapshot!("v1_models", redact(&listed.json, &["created"]));
            let ids: Vec<&str> = listed.json["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
            assert_eq!(ids, vec!["gpt-4o", "team/shared"]);
            let as_admin = app.get("/v1/models", Some(&admin_key)).await;
            let ids: Vec<&str> = as_admin.json["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
            assert_eq!(ids, vec!["gpt-4o", "team/private", "team/shared"]);
            assert!(as_admin.json["data"][0]["created"].is_i64());

            let one = app.get("/v1/models/team/shared", Some(&member_key)).await;
            assert_eq!((one.status, one.json["id"].clone(), one.json["owned_by"].clone()), (200, json!("team/shared"), json!("default")));
            let hidden = app.get("/v1/models/team/private", Some(&member_key)).await;
            assert_eq!(hidden.status, 404);
            assert_eq!(hidden.json, json!({"error": {
                "message": "The model 'team/private' does not exist or you do not have access to it.",
                "type": "invalid_request_error", "param": "model", "code": "model_not_found"
            }}));
            let unauthenticated = app.get("/v1/models", None).await;
            assert_eq!(unauthenticated.status, 401);
            assert_eq!(unauthenticated.json["error"]["type"], "invalid_request_error");
            let wrong = app.get("/v1/models", Some("mg_wrong")).await;
            assert_eq!((wrong.status, wrong.json["error"]["code"].clone()), (401, json!("invalid_api_key")));
        }

        async fn unpaged_lists_longer_than_a_batch_come_whole_and_in_order(db) {
            let (admin, admin_key) = db.bootstrap();
            let count = modelgate_http::stream::SCAN_BATCH as usize + 3;
            let mut oldest = None;
            for i in (0..count).rev() {
                // Tags on the first and the last made: the first and the last batch of a scan.
                let tags = match i { 0 => vec!["newest".to_owned()], i if i == count - 1 => vec!["oldest".to_owned()], _ => vec![] };
                let made = create(&db, &admin, &format!("m{i:04}"), ModelChange { tags: Some(tags), ..Default::default() });
                oldest.get_or_insert(made.model.uuid);
            }
            let app = TestApp::new(db, configure_main).await;
            let expected: Vec<String> = (0..count).map(|i| format!("m{i:04}")).collect();

            let listed = app.get("/v1/models", Some(&admin_key)).await;
            assert_eq!(listed.status, 200);
            let ids: Vec<&str> = listed.json["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
            assert_eq!(ids, expected, "by key, each once");
            // Open WebUI's unpaged list: oldest first, so the reverse of the keys here.
            let legacy = app.get("/openwebui/api/models/", Some(&admin_key)).await;
            assert_eq!(legacy.status, 200);
            let ids: Vec<&str> = legacy.json.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
            assert_eq!(ids, expected.iter().rev().map(String::as_str).collect::<Vec<_>>());
            // Syft's unpaged list, each model with the endpoints serving it.
            let served_oldest = json!({"name": "Oldest", "slug": "oldest", "model_id": oldest.unwrap(), "response_type": "summary"});
            let made = app.post("/syft/api/v1/endpoints/", Some(&admin_key), served_oldest).await;
            assert_eq!(made.status, 201, "{made:?}");
            let syft = app.get("/syft/api/v1/models/", Some(&admin_key)).await;
            assert_eq!(syft.status, 200);
            let items = syft.json.as_array().unwrap();
            let names: Vec<&str> = items.iter().map(|m| m["name"].as_str().unwrap()).collect();
            assert_eq!(names, expected.iter().rev().map(String::as_str).collect::<Vec<_>>());
            let slugs = |m: &Value| m["connected_endpoints"].as_array().unwrap().iter().map(|e| e["slug"].clone()).collect::<Vec<_>>();
            assert_eq!((slugs(&items[0]), slugs(&items[count - 1])), (vec![json!("oldest")], vec![]));
            // Xagent's `category=llm` pages through a filter of its own, across batches.
            let page = app.get("/xagent/api/models?category=llm&skip=999&limit=3", Some(&admin_key)).await;
            assert_eq!(page.status, 200);
            let ids: Vec<&str> = page.json.as_array().unwrap().iter().map(|m| m["model_id"].as_str().unwrap()).collect();
            assert_eq!(ids, ["m0003", "m0002", "m0001"]);
            let tags = app.get("/openwebui/api/models/tags", Some(&admin_key)).await;
            assert_eq!((tags.status, tags.json.clone()), (200, json!(["newest", "oldest"])));
        }

        async fn model_history_shows_every_change(db) {
            let (admin, admin_key) = db.bootstrap();
            let (member, member_key) = db.user(&admin, "member", Role::Member);
            let (_, stranger_key) = db.user(&admin, "stranger", Role::Member);
            let created = create(&db, &member, "m", ModelChange::default());
            let openwebui = Ctx { dialect: "openwebui", ..member.clone() };
            db.store.update_model(&openwebui, &modelgate_core::ModelRef::Key("m".into()), ModelUpdate::patch(ModelChange {
                params: Some(MapChange::Merge(json!({"temperature": 0.5}).as_object().unwrap().clone())),
                ..Default::default()
            })).unwrap();
            let app = TestApp::new(db, configure_main).await;
            let path = format!("/admin/v1/models/{}/history", created.model.uuid);

            let history = app.get(&path, Some(&member_key)).await;
            assert_eq!(history.status, 200, "{history:?}");
            let events = history.json.as_array().unwrap();
            assert_eq!(events.len(), 2);
            assert_eq!((events[0]["action"].clone(), events[0]["dialect"].clone()), (json!("create"), json!("test")));
            assert_eq!((events[1]["action"].clone(), events[1]["dialect"].clone()), (json!("update"), json!("openwebui")));
            assert_eq!(events[1]["actor_id"], "member");
            assert_eq!(events[1]["before"]["params"], json!({}));
            assert_eq!(events[1]["after"]["params"], json!({"temperature": 0.5}));
            assert!(events[1]["at"].is_string());

            // Only those who can read the model see its history.
            assert_eq!(app.get(&path, Some(&stranger_key)).await.status, 404);
            assert_eq!(app.get(&path, Some(&admin_key)).await.status, 200);
            assert_eq!(app.get("/admin/v1/models/not-a-uuid/history", Some(&admin_key)).await.status, 404);
        }

        async fn model_history_by_key(db) {
            let (admin, admin_key) = db.bootstrap();
            let (_, stranger_key) = db.user(&admin, "stranger", Role::Member);
            let created = create(&db, &admin, "team/gpt-4o", ModelChange::default());
            let app = TestApp::new(db, configure_main).await;
            let by_key = app.get("/admin/v1/models/team/gpt-4o/history", Some(&admin_key)).await;
            assert_eq!(by_key.status, 200, "{by_key:?}");
            let by_uuid = app.get(&format!("/admin/v1/models/{}/history", created.model.uuid), Some(&admin_key)).await;
            assert_eq!(by_key.json, by_uuid.json);
            // Unreadable or missing: the same 404 as by uuid.
            let hidden = app.get("/admin/v1/models/team/gpt-4o/history", Some(&stranger_key)).await;
            assert_eq!(hidden.status, 404, "{hidden:?}");
            assert_eq!(app.get("/admin/v1/models/team/nope/history", Some(&admin_key)).await.status, 404);
        }
    }
}

mod auth_before_body {
    use super::*;

    backend_app_tests! {
        async fn a_bad_key_wins_over_a_bad_body_in_every_api(db) {
            let (_, key) = db.bootstrap();
            let app = TestApp::new(db, configure_main).await;
            for (method, path, status, detail) in [
                (Method::POST, "/openwebui/api/models/create", 401, json!("Not authenticated")),
                (Method::POST, "/xagent/api/models/", 401, json!("Invalid token")),
                (Method::POST, "/syft/api/v1/models/", 401, json!("Invalid or missing API key")),
                (Method::POST, "/respan/api/models/", 401, json!("Incorrect authentication credentials.")),
                (Method::POST, "/admin/v1/users", 401, json!("Invalid or revoked API key")),
            ] {
                let wrong = app.send_raw(method.clone(), path, Some("mg_wrong_key"), b"{not json".to_vec()).await;
                assert_eq!((wrong.status, wrong.json["detail"].clone()), (status, detail), "{path}");
                // With a good key the same body is refused as a bad body.
                let bad_body = app.send_raw(method, path, Some(&key), b"{not json".to_vec()).await;
                assert!(bad_body.status == 400 || bad_body.status == 422, "{path}: {bad_body:?}");
            }
        }
    }
}
