//! Who may do what (through the one policy), grants in both spellings, and rule 1: an Open WebUI
//! update replaces the Open WebUI view only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{API, V1, World, answer, detail, grant, model_body, world};
use modelgate_core::{Ctx, MapChange, ModelChange, ModelRef, ModelUpdate, NewEndpoint, Registry};
use modelgate_testkit::backend_app_tests;
use serde_json::{Value, json};

fn with_grants(id: &str, grants: Value) -> Value {
    json!({"id": id, "name": id, "params": {}, "meta": {}, "access_grants": grants})
}

async fn update_as(w: &World, key: &str, body: Value) -> (u16, Value) {
    answer(&w.app.post(&format!("{API}/model/update"), Some(key), body).await)
}

fn key_ref(id: &str) -> ModelRef {
    ModelRef::Key(id.to_owned())
}

/// The caller's grants on a model, through core.
fn core_grants(w: &World, id: &str) -> (Vec<(String, String, String)>, bool) {
    let model = w.app.db.store.get_model(&w.admin_ctx, &key_ref(id)).unwrap().model;
    let grants = model
        .fields
        .grants
        .iter()
        .map(|g| {
            (g.kind.as_str().to_owned(), g.principal_id.clone(), g.permission.as_str().to_owned())
        })
        .collect();
    (grants, model.fields.public)
}

backend_app_tests! {
    async fn permission_matrix(db) {
        let w = world(db).await;
        w.create(&w.alice, model_body("owned", "Owned")).await;
        w.create(&w.alice, with_grants("w-user", json!([{"access_type": "user", "access_id": "carol", "permission": "write"}]))).await;
        w.create(&w.alice, with_grants("w-group", json!([{"principal_type": "group", "principal_id": "developers", "permission": "write"}]))).await;
        w.create(&w.alice, with_grants("r-user", json!([
            {"access_type": "user", "access_id": "carol", "permission": "read"},
            {"access_type": "user", "access_id": "victor", "permission": "write"}
        ]))).await;
        w.create(&w.alice, with_grants("r-group", json!([{"access_type": "group", "access_id": "developers", "permission": "read"}]))).await;

        // Owner and admin.
        assert_eq!(update_as(&w, &w.alice, model_body("owned", "By owner")).await.0, 200);
        let (status, body) = update_as(&w, &w.admin, model_body("owned", "By admin")).await;
        assert_eq!((status, body["name"].clone(), body["user_id"].clone()), (200, json!("By admin"), json!("alice")));
        // Write grant to the user, and to a group through membership.
        assert_eq!(update_as(&w, &w.carol, with_grants("w-user", json!([{"access_type": "user", "access_id": "carol", "permission": "write"}]))).await.0, 200);
        assert_eq!(update_as(&w, &w.bob, model_body("w-group", "By bob")).await.0, 200);
        assert_eq!(w.get(&w.bob, "w-group").await.json["write_access"], true);
        // Read grants: visible, not writable.
        assert_eq!(update_as(&w, &w.carol, model_body("r-user", "Nope")).await, (400, detail("Access prohibited")));
        assert_eq!(update_as(&w, &w.bob, model_body("r-group", "Nope")).await, (400, detail("Access prohibited")));
        let read = w.get(&w.bob, "r-group").await;
        assert_eq!((read.status, read.json["write_access"].clone()), (200, json!(false)));
        // A viewer never writes, even with a write grant.
        assert_eq!(update_as(&w, &w.victor, model_body("r-user", "Nope")).await, (400, detail("Access prohibited")));
        let viewer_create = w.app.post(&format!("{API}/create"), Some(&w.victor), model_body("v", "V")).await;
        assert_eq!(answer(&viewer_create), (401, detail("Unauthorized")));
        // No grant at all: the model does not exist for the caller.
        assert_eq!(update_as(&w, &w.carol, model_body("owned", "Nope")).await, (401, detail("Model not found")));
        // Readable by nobody but its owner: a 401 for a member of the org, not a 404.
        assert_eq!(answer(&w.get(&w.carol, "owned").await), (401, detail("Unauthorized")));
        let toggle = w.app.send(Method::POST, &format!("{API}/model/toggle?id=r-user"), Some(&w.carol), None).await;
        assert_eq!(answer(&toggle), (401, detail("Unauthorized")));
        let toggle = w.app.send(Method::POST, &format!("{API}/model/toggle?id=w-user"), Some(&w.carol), None).await;
        assert_eq!((toggle.status, toggle.json["is_active"].clone()), (200, json!(false)));
        let delete = w.app.post(&format!("{API}/model/delete"), Some(&w.bob), json!({"id": "r-group"})).await;
        assert_eq!(answer(&delete), (401, detail("Unauthorized")));
        let delete = w.app.post(&format!("{API}/model/delete"), Some(&w.bob), json!({"id": "w-group"})).await;
        assert_eq!(answer(&delete), (200, json!(true)));

        // Another org's models do not exist, and their ids are free there.
        let (_, acme) = w.app.db.other_org(&w.admin_ctx, "acme");
        assert_eq!(answer(&w.get(&acme, "owned").await), (404, detail("Model not found")));
        assert_eq!(update_as(&w, &acme, model_body("owned", "Mine")).await, (401, detail("Model not found")));
        let delete = w.app.delete(&format!("{API}/model/delete?id=owned"), Some(&acme)).await;
        assert_eq!(answer(&delete), (401, detail("Model not found")));
        let theirs = w.app.post(&format!("{API}/create"), Some(&acme), model_body("owned", "Acme's")).await;
        assert_eq!((theirs.status, theirs.json["user_id"].clone()), (200, json!("acme-admin")));
        assert_eq!(w.get(&w.alice, "owned").await.json["name"], "By admin");
        let acme_list = w.app.get(&format!("{API}/list"), Some(&acme)).await;
        assert_eq!(acme_list.json["total"], 1);
    }

    async fn grants_in_both_spellings(db) {
        let w = world(db).await;
        let alice = Some(w.alice.as_str());
        let created = w.create(&w.alice, with_grants("g", json!([
            {"principal_type": "user", "principal_id": "carol", "permission": "read"},
            {"access_type": "group", "access_id": "developers", "permission": "write"},
            {"access_type": "group", "access_id": "developers", "permission": "write"}
        ]))).await;
        // Both key pairs out, duplicates collapsed (malformed grants are 422s: tests/grants.rs).
        assert_eq!(created.json["access_grants"], json!([grant("user", "carol", "read"), grant("group", "developers", "write")]));
        assert_eq!(w.get(&w.carol, "g").await.status, 200);

        // No access_grants: grants stay. null is the same as absent.
        let (status, body) = update_as(&w, &w.alice, model_body("g", "Renamed")).await;
        assert_eq!((status, body["access_grants"].as_array().map(Vec::len)), (200, Some(2)));
        let mut null_grants = model_body("g", "Renamed");
        null_grants["access_grants"] = Value::Null;
        assert_eq!(update_as(&w, &w.alice, null_grants).await.1["access_grants"].as_array().map(Vec::len), Some(2));
        // An empty list clears them.
        let (status, body) = update_as(&w, &w.alice, with_grants("g", json!([]))).await;
        assert_eq!((status, body["access_grants"].clone()), (200, json!([])));
        assert_eq!(core_grants(&w, "g"), (vec![], false));
        assert_eq!(w.get(&w.carol, "g").await.status, 401);

        // access/update replaces grants and nothing else.
        let access = w
            .app
            .post(&format!("{V1}/model/access/update"), alice, json!({"id": "g", "name": "ignored", "access_grants": [
                {"principal_type": "user", "principal_id": "bob", "permission": "write"}
            ]}))
            .await;
        assert_eq!(access.status, 200, "{access:?}");
        assert_eq!(access.json["name"], "g");
        assert_eq!(access.json["access_grants"], json!([grant("user", "bob", "write")]));
        assert_eq!(core_grants(&w, "g"), (vec![("user".into(), "bob".into(), "write".into())], false));
    }

    async fn public_read_and_who_may_give_it(db) {
        let w = world(db).await;
        let public = json!([{"principal_type": "user", "principal_id": "*", "permission": "read"}]);

        // An admin shares with everyone: any member reads, nobody else writes.
        let by_admin = w.create(&w.admin, with_grants("for-all", public.clone())).await;
        assert_eq!(by_admin.json["access_grants"], json!([grant("user", "*", "read")]));
        assert_eq!(core_grants(&w, "for-all"), (vec![], true));
        let read = w.get(&w.carol, "for-all").await;
        assert_eq!((read.status, read.json["write_access"].clone()), (200, json!(false)));
        assert_eq!(update_as(&w, &w.carol, model_body("for-all", "x")).await, (400, detail("Access prohibited")));

        // A member's public grant is dropped silently, as upstream drops it without the permission.
        let by_member = w.create(&w.alice, with_grants("mine", json!([
            {"access_type": "user", "access_id": "*", "permission": "read"},
            {"access_type": "user", "access_id": "bob", "permission": "read"}
        ]))).await;
        assert_eq!(by_member.json["access_grants"], json!([grant("user", "bob", "read")]));
        assert_eq!(w.get(&w.carol, "mine").await.status, 401);

        // Once an admin made it public, the owner's round trip keeps it public…
        let access = w.app.post(&format!("{API}/model/access/update"), Some(&w.admin), json!({"id": "mine", "access_grants": public})).await;
        assert_eq!(access.status, 200, "{access:?}");
        assert_eq!(w.get(&w.carol, "mine").await.status, 200);
        let got = w.get(&w.alice, "mine").await.json;
        let (status, _) = update_as(&w, &w.alice, got).await;
        assert_eq!(status, 200);
        assert!(core_grants(&w, "mine").1, "stays public");
        // …and the owner may take it back.
        let (status, body) = update_as(&w, &w.alice, with_grants("mine", json!([]))).await;
        assert_eq!((status, body["access_grants"].clone()), (200, json!([])));
        assert_eq!(w.get(&w.carol, "mine").await.status, 401);

        // A public write grant is public read: the one policy has no write-for-everyone.
        let wildcard_write = w.create(&w.admin, with_grants("ww", json!([{"access_type": "user", "access_id": "*", "permission": "write"}]))).await;
        assert_eq!(wildcard_write.json["access_grants"], json!([grant("user", "*", "read")]));
        assert_eq!(update_as(&w, &w.carol, model_body("ww", "x")).await.0, 400);

        // An admin may give grants to a model without a record: it gets a minimal one (upstream).
        let fresh = w.app.post(&format!("{API}/model/access/update"), Some(&w.admin), json!({"id": "ollama/llama3", "name": "Llama 3", "access_grants": public})).await;
        assert_eq!(fresh.status, 200, "{fresh:?}");
        assert_eq!((fresh.json["name"].clone(), fresh.json["params"].clone()), (json!("Llama 3"), json!({})));
        assert_eq!(w.get(&w.carol, "ollama/llama3").await.status, 200);
    }

    async fn update_replaces_only_the_open_webui_view(db) {
        let w = world(db).await;
        w.create(&w.alice, json!({
            "id": "shared/model", "name": "Shared", "base_model_id": "gpt-4o",
            "params": {"temperature": 0.1}, "meta": {"description": "before", "tags": [{"name": "t"}]}
        })).await;
        let alice = w.app.db.ctx_for_key(&w.alice).actor;
        let store = w.app.db.store.clone();
        // Other dialects set what Open WebUI cannot see.
        let respan = Ctx::new(alice.clone(), "respan");
        store.update_model(&respan, &key_ref("shared/model"), ModelUpdate::patch(ModelChange {
            input_cost: Some(Some(3.0)),
            output_cost: Some(Some(15.0)),
            category: Some(Some("llm".into())),
            context_window: Some(Some(128_000)),
            provider: Some(Some("openai".into())),
            ..Default::default()
        })).unwrap();
        let syft = Ctx::new(alice.clone(), "syft");
        store.update_model(&syft, &key_ref("shared/model"), ModelUpdate::patch(ModelChange {
            extra: Some(MapChange::Merge(json!({"top_k": 5}).as_object().cloned().unwrap())),
            ..Default::default()
        })).unwrap();
        let endpoint = store.create_endpoint(&syft, NewEndpoint::new("Shared endpoint", "shared-endpoint", Some(key_ref("shared/model")))).unwrap();

        // A full Open WebUI update without base_model_id…
        let (status, body) = update_as(&w, &w.alice, json!({
            "id": "shared/model", "name": "Shared v2", "params": {"top_p": 0.5},
            "meta": {"description": "after", "profile_image_url": "/pic.png"}, "is_active": false
        })).await;
        assert_eq!(status, 200, "{body}");
        let toggle = w.app.send(Method::POST, &format!("{API}/model/toggle?id=shared%2Fmodel"), Some(&w.alice), None).await;
        assert_eq!(toggle.status, 200);
        let access = w.app.post(&format!("{API}/model/access/update"), Some(&w.alice), json!({"id": "shared/model", "access_grants": []})).await;
        assert_eq!(access.status, 200);

        // …changed the Open WebUI view…
        let model = store.get_model(&w.admin_ctx, &key_ref("shared/model")).unwrap().model;
        let f = &model.fields;
        assert_eq!(f.display_name.as_deref(), Some("Shared v2"));
        assert_eq!(f.description.as_deref(), Some("after"));
        assert_eq!(Value::Object(f.params.clone()), json!({"top_p": 0.5}));
        assert!(f.tags.is_empty());
        assert!(f.is_active);
        assert_eq!(Value::Object(f.extra_for("openwebui")), json!({"profile_image_url": "/pic.png"}));
        // …kept base_model (absent from the body)…
        assert_eq!(f.base_model.as_deref(), Some("gpt-4o"));
        // …and left every other dialect's fields alone.
        assert_eq!((f.pricing.input, f.pricing.output), (Some(3.0), Some(15.0)));
        assert_eq!(f.category.as_deref(), Some("llm"));
        assert_eq!(f.provider.as_deref(), Some("openai"));
        assert_eq!(f.context_window, Some(128_000));
        assert_eq!(Value::Object(f.extra_for("syft")), json!({"top_k": 5}));
        let still = store.get_endpoint(&w.admin_ctx, "shared-endpoint").unwrap();
        assert_eq!((still.id, still.model_seq), (endpoint.id, Some(model.seq)));
        // base_model_id: null clears it.
        let (_, body) = update_as(&w, &w.alice, json!({"id": "shared/model", "name": "n", "base_model_id": null, "params": {}, "meta": {}})).await;
        assert_eq!(body["base_model_id"], Value::Null);
        assert_eq!(store.get_model(&w.admin_ctx, &key_ref("shared/model")).unwrap().model.fields.pricing.input, Some(3.0));
    }

    async fn create_get_update_round_trips_keep_what_was_sent(db) {
        let w = world(db).await;
        let sent = json!({
            "id": "rt", "name": "", "base_model_id": null,
            "params": {"nested": {"a": [1, 2.5, null]}, "flag": false},
            "meta": {
                "profile_image_url": null,
                "description": "",
                "capabilities": {},
                "tags": [],
                "toolIds": ["calc"],
                "position": 3
            },
            "is_active": false
        });
        let created = w.create(&w.alice, sent.clone()).await.json;
        for field in ["id", "name", "base_model_id", "params", "meta", "is_active"] {
            assert_eq!(created[field], sent[field], "{field}");
        }
        // A client echoing back what it read changes nothing it can see.
        let got = w.get(&w.alice, "rt").await.json;
        let (status, echoed) = update_as(&w, &w.alice, got.clone()).await;
        assert_eq!(status, 200);
        let again = w.get(&w.alice, "rt").await.json;
        for field in ["id", "user_id", "name", "base_model_id", "params", "meta", "access_grants", "is_active", "created_at"] {
            assert_eq!(again[field], got[field], "{field}");
            assert_eq!(echoed[field], got[field], "{field}");
        }
    }
}
