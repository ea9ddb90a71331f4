//! Every endpoint's success shape, and every error row of the dialect sheet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{API, V1, answer, detail, encode, model_body, world};
use modelgate_core::{CatalogModel, MapChange, ModelChange, Registry};
use modelgate_http::app::mount;
use modelgate_openwebui::{OpenWebUi, configure};
use modelgate_testkit::{TestApp, assert_wire_snapshot, backend_app_tests, redact};
use serde_json::{Value, json};

fn catalog_model() -> CatalogModel {
    let caps = json!({"vision": true, "function_calling": true, "streaming": true});
    CatalogModel {
        key: "gpt-4o".into(),
        change: ModelChange {
            display_name: Some(Some("GPT-4o".into())),
            description: Some(Some("OpenAI's flagship model.".into())),
            tags: Some(vec!["openai".into(), "chat".into()]),
            provider: Some(Some("openai".into())),
            category: Some(Some("llm".into())),
            context_window: Some(Some(128_000)),
            input_cost: Some(Some(2.5)),
            capabilities: Some(MapChange::Set(caps.as_object().cloned())),
            ..Default::default()
        },
    }
}

fn rich_body() -> Value {
    json!({
        "id": "team/assistant-ü",
        "name": "Team Assistant",
        "base_model_id": "gpt-4o",
        "params": {"system": "Be brief.", "temperature": 0.2, "stop": ["\n\n"]},
        "meta": {
            "profile_image_url": "data:image/png;base64,AAAA",
            "description": "Answers team questions",
            "capabilities": {"vision": false, "citations": true},
            "tags": [{"name": "team"}, {"name": "internal"}],
            "suggestion_prompts": [{"content": "Summarise this"}],
            "knowledge": []
        },
        "access_grants": [
            {"principal_type": "group", "principal_id": "developers", "permission": "read"},
            {"access_type": "user", "access_id": "bob", "permission": "write"}
        ]
    })
}

backend_app_tests! {
    async fn every_endpoint_answers_in_open_webui_shapes(db) {
        let w = world(db).await;
        w.app.db.store.sync_catalog(vec![catalog_model()]).unwrap();
        let alice = Some(w.alice.as_str());

        let created = w.create(&w.alice, rich_body()).await;
        assert_wire_snapshot!("create", redact(&created.json, &[]));
        // What was sent comes back exactly: meta (unknown keys too), params, grants.
        let sent = rich_body();
        assert_eq!(created.json["meta"], sent["meta"]);
        assert_eq!(created.json["params"], sent["params"]);

        let got = w.get(&w.alice, "team/assistant-ü").await;
        assert_eq!(got.status, 200, "{got:?}");
        assert_wire_snapshot!("get", redact(&got.json, &[]));

        let mut update = rich_body();
        update["name"] = json!("Team Assistant v2");
        update["meta"] = json!({"description": "v2", "tags": [{"name": "team"}]});
        update["is_active"] = json!(false);
        let updated = w.app.post(&format!("{API}/model/update"), alice, update).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        assert_wire_snapshot!("update", redact(&updated.json, &[]));
        // meta is replaced as a whole: the picture is back to the default.
        assert_eq!(updated.json["meta"]["profile_image_url"], "/static/favicon.png");
        assert_eq!(updated.json["meta"].get("suggestion_prompts"), None);

        let toggled = w
            .app
            .send(Method::POST, &format!("{API}/model/toggle?id={}", encode("team/assistant-ü")), alice, None)
            .await;
        assert_eq!(toggled.status, 200, "{toggled:?}");
        assert_eq!(toggled.json["is_active"], true);
        assert_wire_snapshot!("toggle", redact(&toggled.json, &[]));

        w.create(&w.alice, model_body("second", "Second")).await;
        let listed = w.app.get(&format!("{API}/list"), alice).await;
        assert_eq!(listed.status, 200, "{listed:?}");
        assert_wire_snapshot!("list", redact(&listed.json, &[]));

        let legacy = w.app.get(&format!("{API}/"), alice).await;
        assert_eq!(legacy.status, 200, "{legacy:?}");
        assert_wire_snapshot!("legacy_list", redact(&legacy.json, &[]));
        let legacy_no_slash = w.app.get(API, alice).await;
        assert_eq!(legacy_no_slash.json, legacy.json);

        let tags = w.app.get(&format!("{API}/tags"), alice).await;
        assert_eq!(answer(&tags), (200, json!(["team"])));

        let base = w.app.get(&format!("{API}/base"), Some(&w.admin)).await;
        assert_eq!(base.status, 200, "{base:?}");
        assert_wire_snapshot!("base", redact(&base.json, &[]));

        let exported = w.app.get(&format!("{API}/export"), alice).await;
        assert_eq!(exported.status, 200, "{exported:?}");
        assert_wire_snapshot!("export", redact(&exported.json, &[]));

        let imported = w
            .app
            .post(&format!("{API}/import"), alice, json!({"models": [model_body("third", "Third")]}))
            .await;
        assert_eq!(answer(&imported), (200, json!(true)));

        let access = w
            .app
            .post(
                &format!("{API}/model/access/update"),
                alice,
                json!({"id": "third", "access_grants": [{"principal_type": "user", "principal_id": "carol", "permission": "read"}]}),
            )
            .await;
        assert_eq!(access.status, 200, "{access:?}");
        assert_wire_snapshot!("access_update", redact(&access.json, &[]));

        let deleted = w.app.post(&format!("{API}/model/delete"), alice, json!({"id": "third"})).await;
        assert_eq!(answer(&deleted), (200, json!(true)));
        let deleted = w
            .app
            .delete(&format!("{V1}/model/delete?id={}", encode("team/assistant-ü")), alice)
            .await;
        assert_eq!(answer(&deleted), (200, json!(true)));
        assert_eq!(w.get(&w.alice, "team/assistant-ü").await.status, 404);
        let left = w.app.get(&format!("{V1}/"), alice).await;
        let ids: Vec<&str> = left.json.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["second"]);
    }

    async fn every_error_row_of_the_sheet(db) {
        let w = world(db).await;
        let alice = Some(w.alice.as_str());
        let create = format!("{API}/create");

        // Credentials.
        let none = w.app.post(&create, None, model_body("m", "M")).await;
        assert_eq!(answer(&none), (401, detail("Not authenticated")));
        let unknown = w.app.get(&format!("{API}/list"), Some("mg_not_a_key")).await;
        assert_eq!(answer(&unknown), (401, detail("Not authenticated")));
        // Authentication comes before body validation, as in FastAPI.
        let both = w.app.send_raw(Method::POST, &create, None, b"{oops".to_vec()).await;
        assert_eq!(answer(&both), (401, detail("Not authenticated")));

        // Create.
        let viewer = w.app.post(&create, Some(&w.victor), model_body("m", "M")).await;
        assert_eq!(answer(&viewer), (401, detail("Unauthorized")));
        w.create(&w.alice, model_body("m", "M")).await;
        let taken = w.app.post(&create, Some(&w.bob), model_body("m", "Again")).await;
        assert_eq!(answer(&taken), (400, detail("Model ID is already taken")));
        let too_long = w.app.post(&create, alice, model_body(&"é".repeat(257), "M")).await;
        assert_eq!(answer(&too_long), (400, detail("Model ID is too long (max 256 characters)")));
        let empty = w.app.post(&create, alice, model_body("", "M")).await;
        assert_eq!(answer(&empty), (400, detail("Model ID is too long (max 256 characters)")));
        // 256 characters, a slash and non-ASCII letters are all fine.
        let longest = format!("org/{}", "ß".repeat(252));
        let ok = w.create(&w.alice, model_body(&longest, "Long")).await;
        assert_eq!(ok.json["id"], longest.as_str());
        assert_eq!(w.get(&w.alice, &longest).await.json["id"], longest.as_str());

        // Validation: FastAPI's 422 shapes.
        let missing = w.app.post(&create, alice, json!({"id": "x"})).await;
        assert_eq!(
            answer(&missing),
            (422, json!({"detail": [
                {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"id": "x"}},
                {"type": "missing", "loc": ["body", "meta"], "msg": "Field required", "input": {"id": "x"}},
                {"type": "missing", "loc": ["body", "params"], "msg": "Field required", "input": {"id": "x"}}
            ]}))
        );
        let no_id = w.app.post(&create, alice, json!({"name": "x", "params": {}, "meta": {}})).await;
        assert_eq!(
            answer(&no_id),
            (422, json!({"detail": [
                {"type": "missing", "loc": ["body", "id"], "msg": "Field required", "input": {"name": "x", "params": {}, "meta": {}}}
            ]}))
        );
        let types = w
            .app
            .post(&create, alice, json!({
                "id": 7, "name": null, "base_model_id": 1, "meta": {"description": 3, "capabilities": []},
                "params": "hot", "access_grants": ["x"], "is_active": "perhaps"
            }))
            .await;
        assert_eq!(
            answer(&types),
            (422, json!({"detail": [
                {"type": "string_type", "loc": ["body", "id"], "msg": "Input should be a valid string", "input": 7},
                {"type": "string_type", "loc": ["body", "base_model_id"], "msg": "Input should be a valid string", "input": 1},
                {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": null},
                {"type": "string_type", "loc": ["body", "meta", "description"], "msg": "Input should be a valid string", "input": 3},
                {"type": "dict_type", "loc": ["body", "meta", "capabilities"], "msg": "Input should be a valid dictionary", "input": []},
                {"type": "model_type", "loc": ["body", "params"], "msg": "Input should be a valid dictionary or instance of ModelParams", "input": "hot", "ctx": {"class_name": "ModelParams"}},
                {"type": "dict_type", "loc": ["body", "access_grants", 0], "msg": "Input should be a valid dictionary", "input": "x"},
                {"type": "bool_parsing", "loc": ["body", "is_active"], "msg": "Input should be a valid boolean, unable to interpret input", "input": "perhaps"}
            ]}))
        );
        let meta_type = w.app.post(&create, alice, json!({"id": "x", "name": "x", "params": {}, "meta": null})).await;
        assert_eq!(meta_type.status, 422);
        assert_eq!(meta_type.json["detail"][0]["type"], "model_type");
        assert_eq!(meta_type.json["detail"][0]["loc"], json!(["body", "meta"]));
        let not_object = w.app.post(&create, alice, json!([1])).await;
        assert_eq!(not_object.status, 422);
        assert_eq!(not_object.json["detail"][0]["type"], "model_attributes_type");
        let bad_json = w.app.send_raw(Method::POST, &create, alice, b"{\"id\": ".to_vec()).await;
        assert_eq!(bad_json.status, 422);
        assert_eq!(bad_json.json["detail"][0]["type"], "json_invalid");
        let long_name = w.app.post(&create, alice, model_body("y", &"n".repeat(257))).await;
        assert_eq!(long_name.status, 422, "{long_name:?}");
        assert_eq!(long_name.json["detail"][0]["type"], "string_too_long");
        assert_eq!(long_name.json["detail"][0]["loc"], json!(["body", "name"]));
        assert_eq!(long_name.json["detail"][0]["input"], json!("n".repeat(257)));

        // Update.
        let update = format!("{API}/model/update");
        let missing_model = w.app.post(&update, alice, model_body("nope", "N")).await;
        assert_eq!(answer(&missing_model), (401, detail("Model not found")));
        let prohibited = w
            .app
            .post(&create, alice, json!({"id": "shared", "name": "S", "params": {}, "meta": {},
                "access_grants": [{"access_type": "user", "access_id": "carol", "permission": "read"}]}))
            .await;
        assert_eq!(prohibited.status, 200);
        let prohibited = w.app.post(&update, Some(&w.carol), model_body("shared", "Mine now")).await;
        assert_eq!(answer(&prohibited), (400, detail("Access prohibited")));
        let invalid_update = w.app.post(&update, alice, json!({"id": "shared"})).await;
        assert_eq!(invalid_update.status, 422);

        // Read one.
        let get_missing = w.app.get(&format!("{API}/model?id=nope"), alice).await;
        assert_eq!(answer(&get_missing), (404, detail("Model not found")));
        let no_id_param = w.app.get(&format!("{API}/model"), alice).await;
        assert_eq!(
            answer(&no_id_param),
            (422, json!({"detail": [{"type": "missing", "loc": ["query", "id"], "msg": "Field required", "input": null}]}))
        );

        // Toggle and delete: upstream's statuses.
        let toggle_missing = w.app.send(Method::POST, &format!("{API}/model/toggle?id=nope"), alice, None).await;
        assert_eq!(answer(&toggle_missing), (401, detail("Model not found")));
        let toggle_denied = w.app.send(Method::POST, &format!("{API}/model/toggle?id=shared"), Some(&w.carol), None).await;
        assert_eq!(answer(&toggle_denied), (401, detail("Unauthorized")));
        let delete_missing = w.app.post(&format!("{API}/model/delete"), alice, json!({"id": "nope"})).await;
        assert_eq!(answer(&delete_missing), (401, detail("Model not found")));
        let delete_denied = w.app.delete(&format!("{API}/model/delete?id=shared"), Some(&w.carol)).await;
        assert_eq!(answer(&delete_denied), (401, detail("Unauthorized")));
        let delete_no_id = w.app.post(&format!("{API}/model/delete"), alice, json!({})).await;
        assert_eq!(delete_no_id.status, 422);
        assert_eq!(delete_no_id.json["detail"][0]["loc"], json!(["body", "id"]));

        // Access update: upstream's statuses.
        let access = format!("{API}/model/access/update");
        let access_denied = w.app.post(&access, Some(&w.carol), json!({"id": "shared", "access_grants": []})).await;
        assert_eq!(answer(&access_denied), (400, detail("Access prohibited")));
        let access_missing = w.app.post(&access, alice, json!({"id": "nope", "access_grants": []})).await;
        assert_eq!(answer(&access_missing), (403, detail("Access prohibited")));
        let access_invalid = w.app.post(&access, alice, json!({"id": "shared"})).await;
        assert_eq!(access_invalid.status, 422);
        assert_eq!(access_invalid.json["detail"][0]["loc"], json!(["body", "access_grants"]));

        // Admin-only and listing parameters.
        let base = w.app.get(&format!("{API}/base"), alice).await;
        assert_eq!(answer(&base), (401, detail("Unauthorized")));
        let bad_page = w.app.get(&format!("{API}/list?page=two"), alice).await;
        assert_eq!(bad_page.status, 422);
        assert_eq!(bad_page.json["detail"][0]["loc"], json!(["query", "page"]));

        // Import is all or nothing.
        let import = w
            .app
            .post(&format!("{API}/import"), alice, json!({"models": [model_body("fine", "F"), model_body(&"x".repeat(300), "X")]}))
            .await;
        assert_eq!(answer(&import), (400, detail("Model ID is too long (max 256 characters)")));
        assert_eq!(w.get(&w.alice, "fine").await.status, 404);
        let import_invalid = w.app.post(&format!("{API}/import"), alice, json!({"models": [{"name": "no id"}]})).await;
        assert_eq!(import_invalid.status, 422);
        assert_eq!(import_invalid.json["detail"][0]["loc"], json!(["body", "models", 0, "id"]));

        // Wrong method, unknown path: JSON with a detail, like FastAPI.
        let method = w.app.get(&create, alice).await;
        assert_eq!(answer(&method), (405, detail("Method Not Allowed")));
        let unknown = w.app.get("/openwebui/api/models/nothing/here", alice).await;
        assert_eq!(answer(&unknown), (404, detail("Not Found")));
    }

    async fn the_extra_listener_serves_the_root_paths(db) {
        let (admin_ctx, admin) = db.bootstrap();
        let _ = admin_ctx;
        let app = TestApp::new(db, |cfg| {
            cfg.service(mount::<OpenWebUi>("", configure));
        })
        .await;
        let created = app.post("/api/models/create", Some(&admin), model_body("root", "Root")).await;
        assert_eq!(created.status, 200, "{created:?}");
        let got = app.get("/api/v1/models/model?id=root", Some(&admin)).await;
        assert_eq!((got.status, got.json["name"].clone()), (200, json!("Root")));
        let listed = app.get("/api/v1/models/list", Some(&admin)).await;
        assert_eq!(listed.json["total"], 1);
        assert!(app.db.store.get_model(&app.db.ctx_for_key(&admin), &modelgate_core::ModelRef::Key("root".into())).is_ok());
    }
}
