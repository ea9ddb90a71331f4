//! The syft dialect through the real actix app, on SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::http::Method;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use modelgate_core::{
    Actor, Ctx, DomainError, Entity, MapChange, ModelChange, ModelRef, ModelUpdate, NewUser,
    Registry, Role,
};
use modelgate_http::app::mount;
use modelgate_store::schema::{audit_events, models};
use modelgate_syft::{Syft, configure};
use modelgate_testkit::{TestApp, TestDb, assert_wire_snapshot, backend_app_tests, redact};
use serde_json::{Value, json};

const MODELS: &str = "/syft/api/v1/models/";
const ENDPOINTS: &str = "/syft/api/v1/endpoints/";
const SECRET: &str = "sk-proj-SECRET-value-0123abcd";

fn model_path(name: &str) -> String {
    format!("/syft/api/v1/models/{name}")
}

fn endpoint_path(slug: &str) -> String {
    format!("/syft/api/v1/endpoints/{slug}")
}

async fn app(db: TestDb) -> (TestApp, Ctx, String) {
    let (admin, key) = db.bootstrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Syft>("/syft", configure));
    })
    .await;
    (app, admin, key)
}

/// The model of the seed's example, as Syft Space's create example writes it.
fn seed_model() -> Value {
    json!({
        "name": "gpt-4-assistant",
        "dtype": "openai",
        "configuration": {
            "api_key": SECRET,
            "model": "gpt-4",
            "base_url": "https://api.openai.com/v1",
            "system_prompt": "You are a helpful AI assistant."
        },
        "summary": "GPT-4 model for assistance",
        "tags": "openai,gpt-4,assistant"
    })
}

fn simple_model(name: &str) -> Value {
    json!({"name": name, "dtype": "openai", "configuration": {"api_key": SECRET, "model": "gpt-4o"}})
}

async fn create(app: &TestApp, key: Option<&str>, body: Value) -> Value {
    let created = app.post(MODELS, key, body).await;
    assert_eq!(created.status, 201, "{created:?}");
    created.json
}

async fn create_endpoint(
    app: &TestApp,
    key: Option<&str>,
    name: &str,
    slug: &str,
    model_id: &Value,
) -> Value {
    let body = json!({
        "name": name, "slug": slug, "description": "", "model_id": model_id, "response_type": "summary"
    });
    let created = app.post(ENDPOINTS, key, body).await;
    assert_eq!(created.status, 201, "{created:?}");
    created.json
}

fn time(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap();
    assert!(text.ends_with('Z'), "{text} is UTC with a Z");
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().unwrap().keys().map(String::as_str).collect()
}

fn audit_count(db: &TestDb, entity_id: &str) -> i64 {
    let mut conn = db.store.connection().unwrap();
    audit_events::table
        .filter(audit_events::entity_id.eq(entity_id))
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

/// A user in an org whose id and name differ, for the tenant header.
fn tenant_user(db: &TestDb, admin: &Ctx) -> String {
    db.store.create_org(admin, Some("tenant-x".into()), "Tenant X".into()).unwrap();
    db.store
        .create_user(
            admin,
            NewUser {
                id: Some("tx-admin".into()),
                org_id: Some("tenant-x".into()),
                name: "tx".into(),
                email: None,
                role: Role::Admin,
            },
        )
        .unwrap();
    db.key_for(&Ctx::new(Actor::system("tenant-x"), "test"), "tx-admin").1
}

backend_app_tests! {
    async fn plays_the_seed_example(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());
        let created = create(&app, key, seed_model()).await;
        let endpoint = create_endpoint(&app, key, "Support Assistant", "support-assistant", &created["id"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;

        // The seed's request, verbatim.
        let response = app
            .patch(&model_path("gpt-4-assistant"), key, json!({
                "summary": "GPT-4 model optimized for customer support",
                "tags": "openai,gpt-4,support,production"
            }))
            .await;
        assert_eq!(response.status, 200, "{response:?}");
        let body = &response.json;
        assert_eq!(keys(body), [
            "id", "name", "dtype", "configuration", "summary", "tags", "created_at", "updated_at",
            "connected_endpoints"
        ]);
        assert_eq!(body["id"], created["id"]);
        assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
        assert_eq!(body["name"], "gpt-4-assistant");
        assert_eq!(body["dtype"], "openai");
        assert_eq!(body["configuration"], json!({
            "api_key": "sk-...abcd",
            "model": "gpt-4",
            "base_url": "https://api.openai.com/v1",
            "system_prompt": "You are a helpful AI assistant."
        }));
        assert_eq!(body["summary"], "GPT-4 model optimized for customer support");
        assert_eq!(body["tags"], "openai,gpt-4,support,production");
        assert_eq!(body["created_at"], created["created_at"]);
        assert!(time(&body["updated_at"]) > time(&created["updated_at"]));
        assert_eq!(body["connected_endpoints"], json!([
            {"id": endpoint["id"], "name": "Support Assistant", "slug": "support-assistant"}
        ]));

        // What a later read returns is what the PATCH answered.
        let read = app.get(&model_path("gpt-4-assistant"), key).await;
        assert_eq!(read.json, response.json);
    }

    async fn every_endpoint_answers_in_syft_shape(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());
        let ids = &["id", "model_id"];

        let created = app.post(MODELS, key, seed_model()).await;
        assert_eq!(created.status, 201);
        assert_wire_snapshot!("model_create", redact(&created.json, ids));
        let endpoint = app.post(ENDPOINTS, key, json!({
            "name": "Support Assistant", "slug": "Support-Assistant",
            "description": "Answers support questions", "model_id": created.json["id"],
            "summary": "Support bot", "response_type": "summary", "published": true,
            "tags": "support, help,support", "system_prompt": "Be brief."
        })).await;
        assert_eq!(endpoint.status, 201, "{endpoint:?}");
        assert_eq!(endpoint.json["model_id"], created.json["id"]);
        assert_eq!(endpoint.json["tags"], "support,help");
        assert_wire_snapshot!("endpoint_create", redact(&endpoint.json, ids));

        let got = app.get(&model_path("gpt-4-assistant"), key).await;
        assert_eq!(got.status, 200);
        assert_wire_snapshot!("model_get", redact(&got.json, ids));
        let listed = app.get(MODELS, key).await;
        assert_eq!(listed.status, 200);
        assert_wire_snapshot!("model_list", redact(&listed.json, ids));
        // The slash-less path FastAPI would redirect is served directly.
        assert_eq!(app.get("/syft/api/v1/models", key).await.json, listed.json);
        let patched = app.patch(&model_path("gpt-4-assistant"), key, json!({"name": "support-bot"})).await;
        assert_eq!(patched.status, 200);
        assert_wire_snapshot!("model_patch", redact(&patched.json, ids));

        let types = app.get("/syft/api/v1/models/types/", key).await;
        assert_eq!(types.status, 200);
        let names: Vec<&str> = types.json.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["openai", "anthropic", "ollama", "vllm"]);
        assert_wire_snapshot!("model_types", &types.json);
        let openai = app.get("/syft/api/v1/models/types/openai", key).await;
        assert_eq!(openai.status, 200);
        assert_eq!(openai.json, types.json[0]);
        let schema = app.get("/syft/api/v1/models/types/openai/schema", key).await;
        assert_eq!(schema.json, types.json[0]["config_schema"]);

        let endpoints = app.get(ENDPOINTS, key).await;
        assert_eq!(endpoints.status, 200);
        assert_wire_snapshot!("endpoint_list", redact(&endpoints.json, ids));
        let one = app.get(&endpoint_path("support-assistant"), key).await;
        assert_eq!(one.status, 200);
        assert_wire_snapshot!("endpoint_get", redact(&one.json, ids));
        // The listing's embedded model is the detail's, and its configuration the model's own.
        assert_eq!(one.json["model"], endpoints.json[0]["model"]);
        assert_eq!(one.json["model"]["configuration"], got.json["configuration"]);
        let deleted = app.delete(&endpoint_path("support-assistant"), key).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted endpoint 'support-assistant'"})));

        let gone = app.delete(&model_path("support-bot"), key).await;
        assert_eq!((gone.status, gone.json), (200, json!({"message": "Successfully deleted model 'support-bot'"})));
        assert_eq!(app.get(MODELS, key).await.json, json!([]));
    }

    async fn every_error_row_of_the_sheet(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());
        create(&app, key, simple_model("a")).await;
        create(&app, key, simple_model("b")).await;

        // PATCH with none of name/summary/tags: FastAPI's model-validator error.
        for body in [json!({}), json!({"name": null, "unrelated": 1})] {
            let none = app.patch(&model_path("a"), key, body.clone()).await;
            assert_eq!(none.status, 422);
            assert_eq!(none.json, json!({"detail": [{
                "type": "value_error",
                "loc": ["body"],
                "msg": "Value error, At least one field (name, summary, or tags) must be provided",
                "input": body,
                "ctx": {"error": {}}
            }]}));
        }

        for (method, path) in [(Method::GET, model_path("nope")), (Method::DELETE, model_path("nope"))] {
            let missing = app.send(method, &path, key, None).await;
            assert_eq!((missing.status, missing.json), (404, json!({"detail": "Model 'nope' not found"})));
        }
        let missing = app.patch(&model_path("nope"), key, json!({"summary": "x"})).await;
        assert_eq!((missing.status, missing.json), (404, json!({"detail": "Model 'nope' not found"})));

        let rename = app.patch(&model_path("a"), key, json!({"name": "b"})).await;
        assert_eq!((rename.status, rename.json), (409, json!({"detail": "Model 'b' already exists for this tenant"})));

        let dup = app.post(MODELS, key, simple_model("a")).await;
        assert_eq!((dup.status, dup.json), (409, json!({"detail": "Model 'a' already exists"})));

        let mut unknown = simple_model("c");
        unknown["dtype"] = json!("gemini");
        let unknown = app.post(MODELS, key, unknown).await;
        assert_eq!((unknown.status, unknown.json), (400, json!({"detail": "Model type 'gemini' not found"})));

        for credentials in [None, Some("mg_not_a_real_key")] {
            let refused = app.get(MODELS, credentials).await;
            assert_eq!((refused.status, refused.json), (401, json!({"detail": "Invalid or missing API key"})));
            let refused = app.patch(&model_path("a"), credentials, json!({"summary": "x"})).await;
            assert_eq!((refused.status, refused.json), (401, json!({"detail": "Invalid or missing API key"})));
        }

        // Nothing above changed anything.
        let a = app.get(&model_path("a"), key).await;
        assert_eq!((a.json["summary"].clone(), a.json["tags"].clone()), (json!(""), json!("")));
    }

    async fn configuration_and_dtype_are_immutable(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());
        let created = create(&app, key, seed_model()).await;
        let immutable = json!({"detail": "Model configuration is immutable after creation. To change configuration, delete the model and create a new one."});
        let stored = created["configuration"].clone();

        let mut other_model = stored.clone();
        other_model["model"] = json!("gpt-4o");
        let mut other_key = stored.clone();
        other_key["api_key"] = json!("sk-proj-OTHER-value-0123abcd");
        let mut extra_key = stored.clone();
        extra_key["organization"] = json!("org-1");
        for body in [
            json!({"summary": "x", "configuration": other_model}),
            json!({"summary": "x", "configuration": other_key}),
            json!({"summary": "x", "configuration": extra_key}),
            json!({"summary": "x", "configuration": {"model": "gpt-4"}}),
            json!({"configuration": other_model}),
            json!({"summary": "x", "dtype": "anthropic"}),
            json!({"dtype": 5}),
        ] {
            let refused = app.patch(&model_path("gpt-4-assistant"), key, body.clone()).await;
            assert_eq!((refused.status, &refused.json), (400, &immutable), "{body}");
        }
        let unchanged = app.get(&model_path("gpt-4-assistant"), key).await;
        assert_eq!(unchanged.json["summary"], "GPT-4 model for assistance");
        assert_eq!(unchanged.json["updated_at"], created["updated_at"]);

        // Equal values are ignored: the masked key as shown, or the real key.
        let mut plain = stored.clone();
        plain["api_key"] = json!(SECRET);
        for (configuration, summary) in [(stored.clone(), "one"), (plain, "two")] {
            let body = json!({"summary": summary, "dtype": "openai", "configuration": configuration});
            let ok = app.patch(&model_path("gpt-4-assistant"), key, body).await;
            assert_eq!(ok.status, 200, "{ok:?}");
            assert_eq!(ok.json["summary"], summary);
            assert_eq!(ok.json["configuration"], stored);
        }
        // Equal and nothing else: still "at least one field".
        let nothing = app.patch(&model_path("gpt-4-assistant"), key, json!({"configuration": stored})).await;
        assert_eq!(nothing.status, 422);
        assert_eq!(nothing.json["detail"][0]["msg"], "Value error, At least one field (name, summary, or tags) must be provided");
        // A whole model as read back, PATCHed with a new summary, works.
        let mut round_trip = app.get(&model_path("gpt-4-assistant"), key).await.json;
        round_trip["summary"] = json!("three");
        let ok = app.patch(&model_path("gpt-4-assistant"), key, round_trip).await;
        assert_eq!((ok.status, ok.json["summary"].clone()), (200, json!("three")));
    }

    async fn validation_errors_have_pydantic_shape(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());

        let missing = app.post(MODELS, key, json!({"summary": 5})).await;
        assert_eq!(missing.status, 422);
        assert_eq!(missing.json, json!({"detail": [
            {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"summary": 5}},
            {"type": "missing", "loc": ["body", "dtype"], "msg": "Field required", "input": {"summary": 5}},
            {"type": "missing", "loc": ["body", "configuration"], "msg": "Field required", "input": {"summary": 5}},
            {"type": "string_type", "loc": ["body", "summary"], "msg": "Input should be a valid string", "input": 5}
        ]}));

        let no_key = app.post(MODELS, key, json!({"name": "m", "dtype": "openai", "configuration": {"model": 4}})).await;
        assert_eq!(no_key.status, 422);
        assert_eq!(no_key.json, json!({"detail": [
            {"type": "missing", "loc": ["body", "configuration", "api_key"], "msg": "Field required", "input": {"model": 4}},
            {"type": "string_type", "loc": ["body", "configuration", "model"], "msg": "Input should be a valid string", "input": 4}
        ]}));

        let too_long = app.post(MODELS, key, simple_model(&"n".repeat(257))).await;
        assert_eq!(too_long.status, 422);
        assert_eq!(too_long.json["detail"][0]["type"], "string_too_long");
        assert_eq!(too_long.json["detail"][0]["loc"], json!(["body", "name"]));

        let bad_types = app.patch(&model_path("x"), key, json!({"name": 1, "tags": ["a"]})).await;
        assert_eq!(bad_types.status, 422);
        assert_eq!(bad_types.json, json!({"detail": [
            {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": 1},
            {"type": "string_type", "loc": ["body", "tags"], "msg": "Input should be a valid string", "input": ["a"]}
        ]}));

        let not_object = app.patch(&model_path("x"), key, json!(["summary"])).await;
        assert_eq!(not_object.status, 422);
        assert_eq!(not_object.json["detail"][0]["type"], "model_attributes_type");

        let broken = app.send_raw(Method::POST, MODELS, key, b"{\"name\": ".to_vec()).await;
        assert_eq!(broken.status, 422);
        assert_eq!(broken.json["detail"][0]["type"], "json_invalid");

        let wrong_method = app.put(&model_path("x"), key, json!({})).await;
        assert_eq!((wrong_method.status, wrong_method.json), (405, json!({"detail": "Method Not Allowed"})));
        let unknown_type = app.get("/syft/api/v1/models/types/gemini", key).await;
        assert_eq!((unknown_type.status, unknown_type.json), (404, json!({"detail": "Model type 'gemini' not found"})));
        let unknown_path = app.get("/syft/api/v1/datasets/", key).await;
        assert_eq!((unknown_path.status, unknown_path.json), (404, json!({"detail": "Not Found"})));
    }

    async fn endpoints_errors(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());
        let model = create(&app, key, simple_model("m")).await;
        create_endpoint(&app, key, "One", "one-1", &model["id"]).await;

        let dup = app.post(ENDPOINTS, key, json!({"name": "Again", "slug": "ONE-1", "model_id": model["id"], "response_type": "summary"})).await;
        assert_eq!((dup.status, dup.json), (409, json!({"detail": "Endpoint slug 'one-1' already exists"})));

        let ghost = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let unknown = app.post(ENDPOINTS, key, json!({"name": "Two", "slug": "two", "model_id": ghost, "response_type": "summary"})).await;
        assert_eq!((unknown.status, unknown.json), (404, json!({"detail": format!("Model '{ghost}' not found")})));

        // Neither id: the newest Syft Space's attachment rule (422), not the old 400.
        let neither = app.post(ENDPOINTS, key, json!({"name": "Two", "slug": "two"})).await;
        assert_eq!((neither.status, neither.json), (422, json!({"detail": [{
            "type": "value_error", "loc": ["body"],
            "msg": "Value error, response_type 'both' requires both a dataset_id and a model_id",
            "input": {"name": "Two", "slug": "two"}, "ctx": {"error": {}}
        }]})));

        let invalid = app.post(ENDPOINTS, key, json!({"slug": "a_b", "model_id": "nope"})).await;
        assert_eq!(invalid.status, 422);
        assert_eq!(invalid.json, json!({"detail": [
            {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"slug": "a_b", "model_id": "nope"}},
            {"type": "value_error", "loc": ["body", "slug"],
             "msg": "Value error, Slug must contain only lowercase letters, numbers, and hyphens (no leading/trailing/consecutive hyphens)",
             "input": "a_b", "ctx": {"error": {}}},
            {"type": "uuid_parsing", "loc": ["body", "model_id"],
             "msg": invalid.json["detail"][2]["msg"], "input": "nope", "ctx": invalid.json["detail"][2]["ctx"]}
        ]}));
        assert!(invalid.json["detail"][2]["msg"].as_str().unwrap().starts_with("Input should be a valid UUID, "));

        let missing = app.get(&endpoint_path("zzz"), key).await;
        assert_eq!((missing.status, missing.json), (404, json!({"detail": "Endpoint 'zzz' not found"})));
        let missing = app.delete(&endpoint_path("zzz"), key).await;
        assert_eq!((missing.status, missing.json), (404, json!({"detail": "Endpoint 'zzz' not found"})));
        assert_eq!(app.get(ENDPOINTS, key).await.json.as_array().unwrap().len(), 1);
    }

    async fn rename_then_fetch_keeps_endpoints(db) {
        let (app, _, key) = app(db).await;
        let key = Some(key.as_str());
        let created = create(&app, key, seed_model()).await;
        let one = create_endpoint(&app, key, "One", "one", &created["id"]).await;
        let two = create_endpoint(&app, key, "Two", "two", &created["id"]).await;

        let renamed = app.patch(&model_path("gpt-4-assistant"), key, json!({"name": "support-bot", "tags": " a, b ,,"})).await;
        assert_eq!(renamed.status, 200, "{renamed:?}");
        assert_eq!(renamed.json["tags"], "a,b");
        let fetched = app.get(&model_path("support-bot"), key).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.json["id"], created["id"]);
        assert_eq!(fetched.json["name"], "support-bot");
        assert_eq!(fetched.json["connected_endpoints"], json!([
            {"id": one["id"], "name": "One", "slug": "one"},
            {"id": two["id"], "name": "Two", "slug": "two"}
        ]));
        assert_eq!(app.get(&model_path("gpt-4-assistant"), key).await.status, 404);
        let one = app.get(&endpoint_path("one"), key).await.json;
        assert_eq!((&one["model"]["id"], &one["model"]["name"]), (&created["id"], &json!("support-bot")));
        let listed = app.get(MODELS, key).await;
        assert_eq!(listed.json[0]["connected_endpoints"], fetched.json["connected_endpoints"]);

        // Renaming to its own name is no conflict.
        let same = app.patch(&model_path("support-bot"), key, json!({"name": "support-bot"})).await;
        assert_eq!(same.status, 200);
    }

    async fn rename_race_has_one_winner(db) {
        let (app, admin, key) = app(db).await;
        let key = Some(key.as_str());
        let a = create(&app, key, simple_model("left")).await;
        let b = create(&app, key, simple_model("right")).await;

        let left_path = model_path("left");
        let right_path = model_path("right");
        let (left, right) = tokio::join!(
            app.patch(&left_path, key, json!({"name": "winner"})),
            app.patch(&right_path, key, json!({"name": "winner"})),
        );
        let mut statuses = [left.status, right.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{left:?} / {right:?}");
        let (won, lost_id, lost_name) = if left.status == 200 { (&a, &b, "right") } else { (&b, &a, "left") };
        let loser = if left.status == 409 { &left } else { &right };
        assert_eq!(loser.json, json!({"detail": "Model 'winner' already exists for this tenant"}));
        let winner = app.get(&model_path("winner"), key).await;
        assert_eq!(winner.json["id"], won["id"]);
        let other = app.get(&model_path(lost_name), key).await;
        assert_eq!(other.json["id"], lost_id["id"]);
        assert_eq!(app.get(MODELS, key).await.json.as_array().unwrap().len(), 2);

        // The same race, harder, straight through the registry from many threads.
        let ctx = Ctx::new(admin.actor.clone(), "syft");
        for i in 0..6 {
            create(&app, key, simple_model(&format!("racer-{i}"))).await;
        }
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let store = app.db.store.clone();
                    let ctx = ctx.clone();
                    scope.spawn(move || {
                        store.update_model(&ctx, &ModelRef::Key(format!("racer-{i}")), ModelUpdate {
                            rename: Some("champion".into()),
                            ..ModelUpdate::default()
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(DomainError::Conflict { entity: Entity::Model, value }) if value == "champion"))
            .count();
        assert_eq!((won, conflicts), (1, 5), "{results:?}");
        let listed = app.get(MODELS, key).await.json;
        let names: Vec<&str> = listed.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 8);
        assert_eq!(names.iter().filter(|n| **n == "champion").count(), 1);
        assert_eq!(names.iter().filter(|n| n.starts_with("racer-")).count(), 5);
    }

    async fn secret_is_never_in_clear(db) {
        let (app, admin, key) = app(db).await;
        let key = Some(key.as_str());
        let mut texts = Vec::new();
        let created = app.post(MODELS, key, seed_model()).await;
        texts.push(created.text());
        let endpoint = app.post(ENDPOINTS, key, json!({"name": "E", "slug": "eee", "model_id": created.json["id"], "response_type": "summary"})).await;
        assert_eq!(endpoint.status, 201);
        texts.push(endpoint.text());
        texts.push(app.get(&model_path("gpt-4-assistant"), key).await.text());
        texts.push(app.get(MODELS, key).await.text());
        texts.push(app.get(ENDPOINTS, key).await.text());
        texts.push(app.get(&endpoint_path("eee"), key).await.text());
        texts.push(app.patch(&endpoint_path("eee"), key, json!({"summary": "s"})).await.text());
        let mut plain = created.json["configuration"].clone();
        plain["api_key"] = json!(SECRET);
        texts.push(app.patch(&model_path("gpt-4-assistant"), key, json!({"summary": "s", "configuration": plain})).await.text());
        let mut other = created.json["configuration"].clone();
        other["api_key"] = json!("sk-proj-OTHER-value-0123abcd");
        texts.push(app.patch(&model_path("gpt-4-assistant"), key, json!({"configuration": other})).await.text());
        texts.push(app.delete(&model_path("gpt-4-assistant"), key).await.text());
        for text in &texts {
            assert!(!text.contains(SECRET) && !text.contains("SECRET"), "{text}");
        }
        assert_eq!(created.json["configuration"]["api_key"], "sk-...abcd");

        // At rest: encrypted in the model row, masked in the audit trail.
        let mut conn = app.db.store.connection().unwrap();
        let trail: Vec<(Option<String>, Option<String>)> = audit_events::table
            .select((audit_events::before_state, audit_events::after_state))
            .load(&mut *conn)
            .unwrap();
        assert!(!trail.is_empty());
        assert!(trail.iter().all(|(b, a)| !format!("{b:?}{a:?}").contains("SECRET")));
        drop(conn);
        create(&app, key, seed_model()).await;
        let mut conn = app.db.store.connection().unwrap();
        let stored: Option<String> = models::table
            .filter(models::key.eq("gpt-4-assistant"))
            .select(models::api_key_enc)
            .first(&mut *conn)
            .unwrap();
        let stored = stored.unwrap();
        assert!(!stored.contains("SECRET"));
        let view = app.db.store.get_model(&admin, &ModelRef::Key("gpt-4-assistant".into())).unwrap();
        assert!(app.db.store.secret_equals(view.model.fields.api_key.as_ref().unwrap(), SECRET).unwrap());
    }

    async fn deleting_a_model_deletes_its_endpoints_and_audits_both(db) {
        let (app, admin, key) = app(db).await;
        let key = Some(key.as_str());
        let model = create(&app, key, simple_model("doomed")).await;
        let keep = create(&app, key, simple_model("kept")).await;
        let one = create_endpoint(&app, key, "One", "one", &model["id"]).await;
        let two = create_endpoint(&app, key, "Two", "two", &model["id"]).await;
        let other = create_endpoint(&app, key, "Other", "other", &keep["id"]).await;

        let deleted = app.delete(&model_path("doomed"), key).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted model 'doomed'"})));
        assert_eq!(app.get(&endpoint_path("one"), key).await.status, 404);
        assert_eq!(app.get(&endpoint_path("two"), key).await.status, 404);
        let left = app.get(ENDPOINTS, key).await.json;
        assert_eq!(left.as_array().unwrap().len(), 1);
        assert_eq!(left[0]["id"], other["id"]);

        for endpoint in [&one, &two] {
            assert_eq!(audit_count(&app.db, endpoint["id"].as_str().unwrap()), 2);
        }
        let uuid = uuid::Uuid::parse_str(model["id"].as_str().unwrap()).unwrap();
        let history = app.db.store.model_history(&admin, uuid).unwrap();
        let actions: Vec<(&str, &str)> = history.iter().map(|e| (e.action.as_str(), e.dialect.as_str())).collect();
        assert_eq!(actions, [("create", "syft"), ("delete", "syft")]);
    }

    async fn tenant_header_must_name_the_callers_org(db) {
        let (app, admin, key) = app(db).await;
        let tx_key = tenant_user(&app.db, &admin);
        create(&app, Some(&key), simple_model("mine")).await;
        let send = |key: String, tenant: &'static str| {
            let app = &app;
            async move {
                let request = actix_web::test::TestRequest::get()
                    .uri(MODELS)
                    .insert_header(("Authorization", format!("Bearer {key}")))
                    .insert_header(("X-Tenant-Name", tenant));
                app.call(request).await
            }
        };
        assert_eq!(send(key.clone(), "default").await.json.as_array().unwrap().len(), 1);
        assert_eq!(send(tx_key.clone(), "tenant-x").await.status, 200);
        assert_eq!(send(tx_key.clone(), "Tenant X").await.status, 200);
        let foreign = send(key.clone(), "Tenant X").await;
        assert_eq!((foreign.status, foreign.json), (404, json!({"detail": "Tenant 'Tenant X' not found"})));
        let foreign = send(tx_key.clone(), "default").await;
        assert_eq!((foreign.status, foreign.json), (404, json!({"detail": "Tenant 'default' not found"})));
        // Without the header, the caller's own org: tenant-x sees none of default's models.
        assert_eq!(app.get(MODELS, Some(&tx_key)).await.json, json!([]));
        assert_eq!(app.get(&model_path("mine"), Some(&tx_key)).await.status, 404);

        let request = actix_web::test::TestRequest::patch()
            .uri(&model_path("mine"))
            .insert_header(("Authorization", format!("Bearer {key}")))
            .insert_header(("X-Tenant-Name", "nobody"))
            .set_json(json!({"summary": "x"}));
        let refused = app.call(request).await;
        assert_eq!((refused.status, refused.json), (404, json!({"detail": "Tenant 'nobody' not found"})));
    }

    async fn permissions_follow_the_one_policy(db) {
        let (app, admin, key) = app(db).await;
        let key = Some(key.as_str());
        let (_, alice) = app.db.user(&admin, "alice", Role::Member);
        let (_, viewer) = app.db.user(&admin, "vera", Role::Viewer);
        let model = create(&app, key, simple_model("admins")).await;
        create_endpoint(&app, key, "Admin EP", "admin-ep", &model["id"]).await;

        // A member sees neither the admin's private model nor can touch it.
        assert_eq!(app.get(MODELS, Some(&alice)).await.json, json!([]));
        let hidden = app.patch(&model_path("admins"), Some(&alice), json!({"summary": "x"})).await;
        assert_eq!((hidden.status, hidden.json), (404, json!({"detail": "Model 'admins' not found"})));
        let hidden = app.delete(&model_path("admins"), Some(&alice)).await;
        assert_eq!(hidden.status, 404);
        let denied = app.delete(&endpoint_path("admin-ep"), Some(&alice)).await;
        assert_eq!((denied.status, denied.json), (403, json!({"detail": "You do not have permission to modify this resource"})));

        // The member's own model is hers to change.
        create(&app, Some(&alice), simple_model("alices")).await;
        assert_eq!(app.patch(&model_path("alices"), Some(&alice), json!({"summary": "mine"})).await.status, 200);

        let refused = app.post(MODELS, Some(&viewer), simple_model("v")).await;
        assert_eq!((refused.status, refused.json), (403, json!({"detail": "Your role does not allow creating resources"})));
        let refused = app.post(ENDPOINTS, Some(&viewer), json!({"name": "V", "slug": "vvv", "model_id": model["id"], "response_type": "summary"})).await;
        assert_eq!((refused.status, refused.json), (403, json!({"detail": "Your role does not allow creating resources"})));

        // Catalog models are not Syft models.
        app.db.store.sync_catalog(vec![modelgate_core::CatalogModel {
            key: "gpt-4o".into(),
            change: ModelChange { provider: Some(Some("openai".into())), ..Default::default() },
        }]).unwrap();
        assert_eq!(app.get(MODELS, key).await.json.as_array().unwrap().len(), 2);
        assert_eq!(app.get(&model_path("gpt-4o"), key).await.status, 404);
        let builtin = app.patch(&model_path("gpt-4o"), key, json!({"summary": "x"})).await;
        assert_eq!((builtin.status, builtin.json), (404, json!({"detail": "Model 'gpt-4o' not found"})));
        let builtin = app.delete(&model_path("gpt-4o"), key).await;
        assert_eq!((builtin.status, builtin.json), (404, json!({"detail": "Model 'gpt-4o' not found"})));
    }

    async fn other_dialects_fields_survive_a_patch(db) {
        let (app, admin, key) = app(db).await;
        let key = Some(key.as_str());
        let created = create(&app, key, seed_model()).await;
        let other = Ctx::new(admin.actor.clone(), "openwebui");
        let reference = ModelRef::Key("gpt-4-assistant".into());
        app.db.store.update_model(&other, &reference, ModelUpdate::patch(ModelChange {
            display_name: Some(Some("Assistant".into())),
            params: Some(MapChange::Merge(json!({"temperature": 0.2}).as_object().unwrap().clone())),
            input_cost: Some(Some(2.5)),
            extra: Some(MapChange::Merge(json!({"profile_image_url": "/x.png"}).as_object().unwrap().clone())),
            ..Default::default()
        })).unwrap();

        let patched = app.patch(&model_path("gpt-4-assistant"), key, json!({"summary": "new", "tags": ""})).await;
        assert_eq!(patched.status, 200);
        assert_eq!(patched.json["configuration"], created["configuration"]);
        assert_eq!(patched.json["tags"], "");
        let view = app.db.store.get_model(&admin, &reference).unwrap();
        let fields = &view.model.fields;
        assert_eq!(fields.display_name.as_deref(), Some("Assistant"));
        assert_eq!(fields.params, json!({"system_prompt": "You are a helpful AI assistant.", "temperature": 0.2}).as_object().unwrap().clone());
        assert_eq!(fields.pricing.input, Some(2.5));
        assert_eq!(fields.extra_for("openwebui").get("profile_image_url"), Some(&json!("/x.png")));
        assert_eq!(fields.description.as_deref(), Some("new"));
        assert_eq!(fields.provider.as_deref(), Some("openai"));
        assert_eq!(fields.base_model.as_deref(), Some("gpt-4"));
        assert!(fields.tags.is_empty());
    }

    async fn extra_configuration_keys_are_kept_verbatim(db) {
        let (app, admin, key) = app(db).await;
        let key = Some(key.as_str());
        let created = create(&app, key, json!({
            "name": "org/local-llama", "dtype": "ollama",
            "configuration": {"model": "llama3", "base_url": " http://gpu:11434 ", "num_ctx": 8192, "options": {"seed": 1}}
        })).await;
        assert_eq!(created["configuration"], json!({
            "model": "llama3", "base_url": "http://gpu:11434", "num_ctx": 8192, "options": {"seed": 1}
        }));
        assert_eq!(created["summary"], "");
        assert_eq!(created["tags"], "");
        let view = app.db.store.get_model(&admin, &ModelRef::Key("org/local-llama".into())).unwrap();
        assert_eq!(view.model.fields.extra_for("syft")["configuration"], json!({"num_ctx": 8192, "options": {"seed": 1}}));
        // Names with a slash are addressable, plain or percent-encoded.
        assert_eq!(app.get("/syft/api/v1/models/org/local-llama", key).await.json, {
            let mut full = created.clone();
            full["connected_endpoints"] = json!([]);
            full
        });
        assert_eq!(app.get("/syft/api/v1/models/org%2Flocal-llama", key).await.json["name"], "org/local-llama");
        let same = app.patch("/syft/api/v1/models/org/local-llama", key, json!({"configuration": created["configuration"], "tags": "x"})).await;
        assert_eq!(same.status, 200, "{same:?}");
    }

    async fn serves_the_root_paths_of_its_own_listener(db) {
        let (_, key) = db.bootstrap();
        let app = TestApp::new(db, |cfg| {
            cfg.service(mount::<Syft>("", configure));
        })
        .await;
        let created = app.post("/api/v1/models/", Some(&key), simple_model("root")).await;
        assert_eq!(created.status, 201, "{created:?}");
        let got = app.get("/api/v1/models/root", Some(&key)).await;
        assert_eq!(got.json["name"], "root");
        assert_eq!(app.get("/api/v1/models/types/", Some(&key)).await.status, 200);
    }
}
