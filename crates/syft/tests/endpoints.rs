//! The endpoints API: the fields Syft Space keeps on an endpoint, its per-route shapes, PATCH,
//! validate-slug, who may do what, and the calls modelgate leaves unserved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use chrono::DateTime;
use common::*;
use modelgate_core::{Ctx, Role};
use modelgate_http::app::mount;
use modelgate_syft::{Syft, configure};
use modelgate_testkit::{TestApp, assert_wire_snapshot, backend_app_tests, redact};
use serde_json::{Value, json};

const GHOST: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const DATASET: &str = "123e4567-e89b-12d3-a456-426614174000";

fn value_error(loc: Value, message: &str, input: Value) -> Value {
    json!({"type": "value_error", "loc": loc, "msg": format!("Value error, {message}"), "input": input, "ctx": {"error": {}}})
}

fn unprocessable(errors: Vec<Value>) -> (u16, Value) {
    (422, json!({ "detail": errors }))
}

fn at_least_one(input: Value) -> (u16, Value) {
    unprocessable(vec![value_error(
        json!(["body"]),
        "At least one field (name, summary, description, or system_prompt) must be provided",
        input,
    )])
}

/// An endpoint-management setup: the admin's model, and a member's model with her endpoint.
struct Cast {
    app: TestApp,
    admin: Ctx,
    key: String,
    alice: String,
    bob: String,
    viewer: String,
    stranger: String,
    alices_model: Value,
}

async fn cast(db: modelgate_testkit::TestDb) -> Cast {
    let (app, admin, key) = app(db).await;
    let (_, alice) = app.db.user(&admin, "alice", Role::Member);
    let (_, bob) = app.db.user(&admin, "bob", Role::Member);
    let (_, viewer) = app.db.user(&admin, "vera", Role::Viewer);
    let (_, stranger) = app.db.other_org(&admin, "elsewhere");
    let alices_model = create_model(&app, &alice, "alices").await;
    create_endpoint(&app, &alice, "alice-ep", &alices_model["id"]).await;
    Cast { app, admin, key, alice, bob, viewer, stranger, alices_model }
}

fn time(value: &Value) -> DateTime<chrono::Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().to_utc()
}

backend_app_tests! {
    async fn create_keeps_every_syft_field(db) {
        let (app, _, key) = app(db).await;
        let model = create_model(&app, &key, "m").await;
        let body = json!({
            "name": "Support", "slug": "Support-Desk", "description": "# Support", "summary": "Answers",
            "model_id": model["id"], "response_type": "summary", "published": true,
            "tags": " support, help,,support ", "system_prompt": "Be brief."
        });
        let created = app.post(ENDPOINTS, Some(&key), body).await;
        assert_eq!(created.status, 201, "{created:?}");
        let c = &created.json;
        assert_eq!(keys(c), [
            "id", "name", "slug", "description", "summary", "response_type", "published", "tags",
            "system_prompt", "created_at", "updated_at", "model_id", "dataset_id"
        ]);
        assert_eq!(
            (&c["name"], &c["slug"], &c["description"], &c["summary"], &c["response_type"]),
            (&json!("Support"), &json!("support-desk"), &json!("# Support"), &json!("Answers"), &json!("summary"))
        );
        assert_eq!((&c["published"], &c["tags"], &c["system_prompt"]), (&json!(true), &json!("support,help"), &json!("Be brief.")));
        assert_eq!((&c["model_id"], &c["dataset_id"]), (&model["id"], &Value::Null));
        assert_eq!(c["created_at"], c["updated_at"]);

        // What was kept is what GET shows.
        let got = app.get(&endpoint_path("support-desk"), Some(&key)).await.json;
        for field in ["id", "name", "slug", "description", "summary", "response_type", "published", "tags", "system_prompt", "created_at", "updated_at"] {
            assert_eq!(got[field], c[field], "{field}");
        }

        // Upstream's defaults; an empty prompt is no prompt.
        let minimal = app.post(ENDPOINTS, Some(&key), json!({
            "name": "Min", "slug": "min", "model_id": model["id"], "response_type": "summary", "system_prompt": ""
        })).await;
        assert_eq!(minimal.status, 201, "{minimal:?}");
        let m = &minimal.json;
        assert_eq!(
            (&m["description"], &m["summary"], &m["published"], &m["tags"], &m["system_prompt"]),
            (&json!(""), &json!(""), &json!(false), &json!(""), &Value::Null)
        );
        // pydantic's lax booleans.
        let lax = app.post(ENDPOINTS, Some(&key), json!({
            "name": "Lax", "slug": "lax", "model_id": model["id"], "response_type": "summary", "published": "yes"
        })).await;
        assert_eq!((lax.status, &lax.json["published"]), (201, &json!(true)));
    }

    async fn create_validates_fields_then_attachments(db) {
        let (app, _, token) = app(db).await;
        let key = Some(token.as_str());
        let model = create_model(&app, &token, "m").await;
        let id = model["id"].clone();

        let bad_type = json!({"name": "E", "slug": "eee", "model_id": id, "response_type": "chat"});
        let refused = app.post(ENDPOINTS, key, bad_type).await;
        assert_eq!((refused.status, refused.json), unprocessable(vec![value_error(
            json!(["body", "response_type"]),
            "Invalid response_type 'chat'. Must be one of: raw, summary, both",
            json!("chat"),
        )]));

        // Every field error at once, in the field order of CreateEndpointRequest.
        let everything = json!({
            "slug": 5, "description": null, "summary": 1, "dataset_id": "nope", "model_id": 7,
            "response_type": null, "published": "maybe", "tags": [], "system_prompt": 3
        });
        let refused = app.post(ENDPOINTS, key, everything.clone()).await;
        assert_eq!(refused.status, 422);
        let locs: Vec<(&str, &str)> = refused.json["detail"].as_array().unwrap().iter()
            .map(|e| (e["loc"][1].as_str().unwrap(), e["type"].as_str().unwrap()))
            .collect();
        assert_eq!(locs, [
            ("name", "missing"), ("slug", "value_error"), ("description", "string_type"),
            ("summary", "string_type"), ("dataset_id", "uuid_parsing"), ("model_id", "uuid_type"),
            ("response_type", "string_type"), ("published", "bool_parsing"), ("tags", "string_type"),
            ("system_prompt", "string_type")
        ]);
        assert_eq!(refused.json["detail"][0]["input"], everything);
        assert_eq!(refused.json["detail"][7], json!({
            "type": "bool_parsing", "loc": ["body", "published"],
            "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"
        }));
        let null_flag = app.post(ENDPOINTS, key, json!({"name": "E", "slug": "eee", "model_id": id, "response_type": "summary", "published": null})).await;
        assert_eq!((null_flag.status, null_flag.json), unprocessable(vec![json!({
            "type": "bool_type", "loc": ["body", "published"], "msg": "Input should be a valid boolean", "input": null
        })]));

        // The attachment rule, once every field is valid (and only then).
        for (body, message) in [
            (json!({"name": "E", "slug": "eee"}), "response_type 'both' requires both a dataset_id and a model_id"),
            (json!({"name": "E", "slug": "eee", "model_id": id}), "response_type 'both' requires both a dataset_id and a model_id"),
            (json!({"name": "E", "slug": "eee", "dataset_id": DATASET, "response_type": "both"}), "response_type 'both' requires both a dataset_id and a model_id"),
            (json!({"name": "E", "slug": "eee", "model_id": id, "response_type": "raw"}), "response_type 'raw' requires a dataset_id"),
            (json!({"name": "E", "slug": "eee", "dataset_id": DATASET, "response_type": "summary"}), "response_type 'summary' requires a model_id"),
            (json!({"name": "E", "slug": "eee", "response_type": "summary", "published": true}), "response_type 'summary' requires a model_id"),
        ] {
            let refused = app.post(ENDPOINTS, key, body.clone()).await;
            assert_eq!((refused.status, refused.json), unprocessable(vec![value_error(json!(["body"]), message, body.clone())]), "{body}");
        }
        let bad_slug = app.post(ENDPOINTS, key, json!({"name": "E", "slug": "a_b"})).await;
        assert_eq!(bad_slug.json["detail"].as_array().unwrap().len(), 1);
        assert_eq!(bad_slug.json["detail"][0]["loc"], json!(["body", "slug"]));

        // The old rule's 400 is gone: nothing above created anything.
        assert_eq!(app.get(ENDPOINTS, key).await.json, json!([]));
    }

    async fn create_checks_slug_then_dataset_then_model(db) {
        let (app, admin, token) = app(db).await;
        let key = Some(token.as_str());
        let model = create_model(&app, &token, "m").await;
        create_endpoint(&app, &token, "taken", &model["id"]).await;
        let (_, viewer) = app.db.user(&admin, "vera", Role::Viewer);

        let cases = [
            // Slug first, whatever else is wrong.
            (json!({"name": "T", "slug": "TAKEN", "dataset_id": DATASET, "model_id": GHOST}), 409, detail("Endpoint slug 'taken' already exists")),
            (json!({"name": "T", "slug": "taken", "model_id": GHOST, "response_type": "summary"}), 409, detail("Endpoint slug 'taken' already exists")),
            // Then any dataset: modelgate has none.
            (json!({"name": "T", "slug": "fresh", "dataset_id": DATASET, "model_id": GHOST}), 404, detail(&format!("Dataset '{DATASET}' not found"))),
            (json!({"name": "T", "slug": "fresh", "dataset_id": DATASET.to_uppercase(), "response_type": "raw"}), 404, detail(&format!("Dataset '{DATASET}' not found"))),
            (json!({"name": "T", "slug": "fresh", "dataset_id": DATASET, "model_id": model["id"], "response_type": "summary"}), 404, detail(&format!("Dataset '{DATASET}' not found"))),
            // Then the model.
            (json!({"name": "T", "slug": "fresh", "model_id": GHOST, "response_type": "summary"}), 404, detail(&format!("Model '{GHOST}' not found"))),
        ];
        for (body, status, answer) in cases {
            let refused = app.post(ENDPOINTS, key, body.clone()).await;
            assert_eq!((refused.status, refused.json), (status, answer), "{body}");
        }
        // A viewer's role is refused before anything about the slug or dataset is told.
        for slug in ["taken", "fresh"] {
            let refused = app.post(ENDPOINTS, Some(&viewer), json!({"name": "T", "slug": slug, "dataset_id": DATASET, "model_id": model["id"]})).await;
            assert_eq!((refused.status, refused.json), (403, detail("Your role does not allow creating resources")));
        }
        assert_eq!(app.get(ENDPOINTS, key).await.json.as_array().unwrap().len(), 1);
    }

    async fn list_and_detail_embed_the_model(db) {
        let c = cast(db).await;
        let app = &c.app;
        let admins = create_model(app, &c.key, "admins").await;
        create_endpoint(app, &c.key, "admin-ep", &admins["id"]).await;
        let alices = app.get(&model_path("alices"), Some(&c.alice)).await.json;

        let listed = app.get(ENDPOINTS, Some(&c.key)).await;
        assert_eq!(listed.status, 200);
        let items = listed.json.as_array().unwrap();
        assert_eq!(items.len(), 2);
        for item in items {
            assert_eq!(keys(item), [
                "id", "name", "slug", "summary", "response_type", "published", "tags", "system_prompt",
                "created_at", "model", "dataset"
            ]);
            assert_eq!(keys(&item["model"]), ["id", "name", "dtype", "configuration"]);
            assert_eq!(item["dataset"], Value::Null);
        }
        // Oldest first; each with its own model, configuration as the models API shows it.
        assert_eq!(items[0]["slug"], "alice-ep");
        assert_eq!(items[0]["model"], json!({
            "id": alices["id"], "name": "alices", "dtype": "openai", "configuration": alices["configuration"]
        }));
        assert_eq!(items[0]["model"]["configuration"]["api_key"], "sk-...abcd");
        assert_eq!(items[1]["model"]["id"], admins["id"]);

        // A member who may not read the admin's private model sees the endpoint without it.
        let as_alice = app.get(ENDPOINTS, Some(&c.alice)).await.json;
        assert_eq!(as_alice[0]["model"]["name"], "alices");
        assert_eq!((&as_alice[1]["slug"], &as_alice[1]["model"]), (&json!("admin-ep"), &Value::Null));
        let detail_as_alice = app.get(&endpoint_path("admin-ep"), Some(&c.alice)).await;
        assert_eq!((detail_as_alice.status, &detail_as_alice.json["model"]), (200, &Value::Null));

        let one = app.get(&endpoint_path("alice-ep"), Some(&c.key)).await;
        assert_eq!(keys(&one.json), [
            "id", "name", "slug", "description", "summary", "response_type", "published", "tags",
            "system_prompt", "created_at", "updated_at", "model", "dataset", "policies"
        ]);
        assert_eq!((&one.json["model"], &one.json["dataset"], &one.json["policies"]), (&items[0]["model"], &Value::Null, &json!([])));
        // Another organization has no such endpoint.
        let foreign = app.get(&endpoint_path("alice-ep"), Some(&c.stranger)).await;
        assert_eq!((foreign.status, foreign.json), (404, detail("Endpoint 'alice-ep' not found")));
        assert_eq!(app.get(ENDPOINTS, Some(&c.stranger)).await.json, json!([]));
        let _ = &c.admin;
    }

    async fn patch_changes_the_four_fields(db) {
        let (app, _, token) = app(db).await;
        let key = Some(token.as_str());
        let model = create_model(&app, &token, "m").await;
        let created = app.post(ENDPOINTS, key, json!({
            "name": "support", "slug": "support", "description": "old", "summary": "old",
            "model_id": model["id"], "response_type": "summary", "published": true, "tags": "a,b",
            "system_prompt": "Old prompt."
        })).await.json;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;

        let patched = app.patch(&endpoint_path("support"), key, json!({
            "name": "Support Desk", "summary": "Answers", "description": "# Desk",
            "system_prompt": "New prompt.", "slug": "ignored", "published": false, "tags": "x"
        })).await;
        assert_eq!(patched.status, 200, "{patched:?}");
        let p = &patched.json;
        assert_wire_snapshot!("endpoint_patch", redact(p, &["id"]));
        assert_eq!((&p["id"], &p["slug"], &p["created_at"]), (&created["id"], &json!("support"), &created["created_at"]));
        // Only the four fields change.
        assert_eq!((&p["published"], &p["tags"], &p["response_type"]), (&json!(true), &json!("a,b"), &json!("summary")));
        assert!(time(&p["updated_at"]) > time(&created["updated_at"]));
        assert_eq!(p["model"]["id"], model["id"]);
        assert_eq!(app.get(&endpoint_path("support"), key).await.json, patched.json);

        // One field; null counts as not sent; "" clears the prompt.
        let one = app.patch(&endpoint_path("support"), key, json!({"summary": "Only this", "name": null})).await.json;
        assert_eq!((&one["summary"], &one["name"], &one["description"]), (&json!("Only this"), &json!("Support Desk"), &json!("# Desk")));
        let cleared = app.patch(&endpoint_path("support"), key, json!({"system_prompt": ""})).await.json;
        assert_eq!(cleared["system_prompt"], Value::Null);
        let emptied = app.patch(&endpoint_path("support"), key, json!({"summary": "", "description": ""})).await.json;
        assert_eq!((&emptied["summary"], &emptied["description"]), (&json!(""), &json!("")));

        // Nothing new: nothing written.
        let same = app.patch(&endpoint_path("support"), key, json!({"summary": ""})).await.json;
        assert_eq!(same, emptied);
    }

    async fn patch_errors(db) {
        let (app, _, token) = app(db).await;
        let key = Some(token.as_str());
        let model = create_model(&app, &token, "m").await;
        create_endpoint(&app, &token, "support", &model["id"]).await;
        let before = app.get(&endpoint_path("support"), key).await.json;

        for body in [json!({}), json!({"name": null, "summary": null, "description": null, "system_prompt": null}), json!({"slug": "x", "published": true})] {
            let refused = app.patch(&endpoint_path("support"), key, body.clone()).await;
            assert_eq!((refused.status, refused.json), at_least_one(body));
        }
        // Validation comes before the lookup.
        let refused = app.patch(&endpoint_path("nope"), key, json!({})).await;
        assert_eq!((refused.status, refused.json), at_least_one(json!({})));
        let missing = app.patch(&endpoint_path("nope"), key, json!({"summary": "x"})).await;
        assert_eq!((missing.status, missing.json), (404, detail("Endpoint 'nope' not found")));

        let types = app.patch(&endpoint_path("support"), key, json!({"name": 1, "system_prompt": ["x"]})).await;
        assert_eq!((types.status, types.json), unprocessable(vec![
            json!({"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": 1}),
            json!({"type": "string_type", "loc": ["body", "system_prompt"], "msg": "Input should be a valid string", "input": ["x"]}),
        ]));
        let blank = app.patch(&endpoint_path("support"), key, json!({"name": "  "})).await;
        assert_eq!((blank.status, blank.json), unprocessable(vec![json!({
            "type": "string_too_short", "loc": ["body", "name"], "msg": "String should have at least 1 character",
            "input": "  ", "ctx": {"min_length": 1}
        })]));
        let not_object = app.patch(&endpoint_path("support"), key, json!(["summary"])).await;
        assert_eq!((not_object.status, &not_object.json["detail"][0]["type"]), (422, &json!("model_attributes_type")));
        let broken = app.send_raw(Method::PATCH, &endpoint_path("support"), key, b"{\"summary\": ".to_vec()).await;
        assert_eq!((broken.status, &broken.json["detail"][0]["type"]), (422, &json!("json_invalid")));
        for credentials in [None, Some("mg_not_a_real_key")] {
            let refused = app.patch(&endpoint_path("support"), credentials, json!({"summary": "x"})).await;
            assert_eq!((refused.status, refused.json), (401, detail("Invalid or missing API key")));
        }
        assert_eq!(app.get(&endpoint_path("support"), key).await.json, before);
    }

    async fn who_may_patch_and_delete(db) {
        let c = cast(db).await;
        let app = &c.app;
        let path = endpoint_path("alice-ep");
        let denied = (403, detail("You do not have permission to modify this resource"));

        // Neither a viewer nor another member may change or delete Alice's endpoint.
        for who in [&c.viewer, &c.bob] {
            let refused = app.patch(&path, Some(who), json!({"summary": "x"})).await;
            assert_eq!((refused.status, refused.json), denied.clone());
            let refused = app.delete(&path, Some(who)).await;
            assert_eq!((refused.status, refused.json), denied.clone());
        }
        // Another organization's user: it does not exist there (422 still comes first).
        let foreign = app.patch(&path, Some(&c.stranger), json!({"summary": "x"})).await;
        assert_eq!((foreign.status, foreign.json), (404, detail("Endpoint 'alice-ep' not found")));
        let foreign = app.patch(&path, Some(&c.stranger), json!({})).await;
        assert_eq!(foreign.status, 422);
        let foreign = app.delete(&path, Some(&c.stranger)).await;
        assert_eq!((foreign.status, foreign.json), (404, detail("Endpoint 'alice-ep' not found")));
        // Everyone of the org may read it.
        for who in [&c.viewer, &c.bob, &c.key] {
            assert_eq!(app.get(&path, Some(who)).await.status, 200);
        }
        assert_eq!(app.get(&path, Some(&c.alice)).await.json["summary"], "");

        // The owner may, and so may an org admin.
        let own = app.patch(&path, Some(&c.alice), json!({"summary": "mine"})).await;
        assert_eq!((own.status, &own.json["summary"]), (200, &json!("mine")));
        assert_eq!(own.json["model"]["id"], c.alices_model["id"]);
        let admin = app.patch(&path, Some(&c.key), json!({"description": "checked"})).await;
        assert_eq!((admin.status, &admin.json["description"], &admin.json["summary"]), (200, &json!("checked"), &json!("mine")));
        let deleted = app.delete(&path, Some(&c.key)).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted endpoint 'alice-ep'"})));

        let again = create_endpoint(app, &c.alice, "alice-ep", &c.alices_model["id"]).await;
        let deleted = app.delete(&path, Some(&c.alice)).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted endpoint 'alice-ep'"})));
        assert!(again["id"].is_string());
        let _ = &c.admin;
    }

    async fn validate_slug_answers(db) {
        let c = cast(db).await;
        let app = &c.app;
        let key = Some(c.key.as_str());

        let ui = app.post(VALIDATE_SLUG, key, json!({"slug": "support-assistant", "check_all_marketplaces": true})).await;
        assert_eq!(ui.status, 200);
        assert_wire_snapshot!("endpoint_validate_slug", &ui.json);
        assert_eq!(ui.json, json!({"slug": "support-assistant", "local_available": true, "marketplaces": []}));

        let ids = [DATASET, GHOST];
        let cases = [
            (json!({"slug": "alice-ep"}), json!({"slug": "alice-ep", "local_available": false, "marketplaces": null})),
            // Exactly as sent: not lowercased, not checked against the slug rule.
            (json!({"slug": "Alice-EP"}), json!({"slug": "Alice-EP", "local_available": true, "marketplaces": null})),
            (json!({"slug": "a_b c"}), json!({"slug": "a_b c", "local_available": true, "marketplaces": null})),
            (json!({"slug": ""}), json!({"slug": "", "local_available": true, "marketplaces": null})),
            (json!({"slug": "x", "marketplace_ids": [], "check_all_marketplaces": false}), json!({"slug": "x", "local_available": true, "marketplaces": null})),
            (json!({"slug": "x", "marketplace_ids": null}), json!({"slug": "x", "local_available": true, "marketplaces": null})),
            (json!({"slug": "x", "marketplace_ids": [ids[0], ids[1].to_uppercase(), ids[0]]}), json!({"slug": "x", "local_available": true, "marketplaces": [
                {"marketplace_id": ids[0], "available": null, "error": "Marketplace not found"},
                {"marketplace_id": ids[1], "available": null, "error": "Marketplace not found"}
            ]})),
            // "All" wins over ids.
            (json!({"slug": "alice-ep", "marketplace_ids": [ids[0]], "check_all_marketplaces": "true"}), json!({"slug": "alice-ep", "local_available": false, "marketplaces": []})),
        ];
        for (body, answer) in cases {
            let got = app.post(VALIDATE_SLUG, key, body.clone()).await;
            assert_eq!((got.status, got.json), (200, answer), "{body}");
        }
        // Any role may ask; another organization's slugs are not ours.
        for who in [&c.viewer, &c.bob] {
            let got = app.post(VALIDATE_SLUG, Some(who), json!({"slug": "alice-ep"})).await;
            assert_eq!((got.status, &got.json["local_available"]), (200, &json!(false)));
        }
        let got = app.post(VALIDATE_SLUG, Some(&c.stranger), json!({"slug": "alice-ep", "check_all_marketplaces": true})).await;
        assert_eq!((got.status, &got.json["local_available"]), (200, &json!(true)));
        let _ = &c.admin;
    }

    async fn validate_slug_errors(db) {
        let (app, _, token) = app(db).await;
        let key = Some(token.as_str());
        let missing = app.post(VALIDATE_SLUG, key, json!({"check_all_marketplaces": true})).await;
        assert_eq!((missing.status, missing.json), unprocessable(vec![json!({
            "type": "missing", "loc": ["body", "slug"], "msg": "Field required", "input": {"check_all_marketplaces": true}
        })]));
        let null = app.post(VALIDATE_SLUG, key, json!({"slug": null})).await;
        assert_eq!((null.status, null.json), unprocessable(vec![json!({
            "type": "string_type", "loc": ["body", "slug"], "msg": "Input should be a valid string", "input": null
        })]));
        let types = app.post(VALIDATE_SLUG, key, json!({"slug": 5, "marketplace_ids": "x", "check_all_marketplaces": null})).await;
        assert_eq!((types.status, types.json), unprocessable(vec![
            json!({"type": "string_type", "loc": ["body", "slug"], "msg": "Input should be a valid string", "input": 5}),
            json!({"type": "list_type", "loc": ["body", "marketplace_ids"], "msg": "Input should be a valid list", "input": "x"}),
            json!({"type": "bool_type", "loc": ["body", "check_all_marketplaces"], "msg": "Input should be a valid boolean", "input": null}),
        ]));
        let items = app.post(VALIDATE_SLUG, key, json!({"slug": "s", "marketplace_ids": [DATASET, 5, "x"], "check_all_marketplaces": "maybe"})).await;
        assert_eq!((items.status, items.json), unprocessable(vec![
            json!({"type": "uuid_type", "loc": ["body", "marketplace_ids", 1], "msg": "UUID input should be a string, bytes or UUID object", "input": 5}),
            json!({"type": "uuid_parsing", "loc": ["body", "marketplace_ids", 2],
                   "msg": "Input should be a valid UUID, invalid character: found `x` at 0",
                   "input": "x", "ctx": {"error": "invalid character: found `x` at 0"}}),
            json!({"type": "bool_parsing", "loc": ["body", "check_all_marketplaces"], "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"}),
        ]));
        let not_object = app.post(VALIDATE_SLUG, key, json!("slug")).await;
        assert_eq!((not_object.status, &not_object.json["detail"][0]["type"]), (422, &json!("model_attributes_type")));
        for credentials in [None, Some("mg_not_a_real_key")] {
            let refused = app.post(VALIDATE_SLUG, credentials, json!({"slug": "x"})).await;
            assert_eq!((refused.status, refused.json), (401, detail("Invalid or missing API key")));
        }
        let wrong_method = app.put(VALIDATE_SLUG, key, json!({"slug": "x"})).await;
        assert_eq!((wrong_method.status, wrong_method.json), (405, detail("Method Not Allowed")));
    }

    async fn an_endpoint_may_be_called_validate_slug(db) {
        let (app, _, token) = app(db).await;
        let key = Some(token.as_str());
        let model = create_model(&app, &token, "m").await;
        assert_eq!(app.get(VALIDATE_SLUG, key).await.json, detail("Endpoint 'validate-slug' not found"));
        create_endpoint(&app, &token, "validate-slug", &model["id"]).await;

        let got = app.get(VALIDATE_SLUG, key).await;
        assert_eq!((got.status, &got.json["slug"]), (200, &json!("validate-slug")));
        let patched = app.patch(VALIDATE_SLUG, key, json!({"summary": "odd"})).await;
        assert_eq!((patched.status, &patched.json["summary"]), (200, &json!("odd")));
        let refused = app.patch(VALIDATE_SLUG, key, json!({})).await;
        assert_eq!(refused.status, 422);
        let checked = app.post(VALIDATE_SLUG, key, json!({"slug": "validate-slug"})).await;
        assert_eq!(checked.json["local_available"], false);
        let deleted = app.delete(VALIDATE_SLUG, key).await;
        assert_eq!((deleted.status, deleted.json), (200, json!({"message": "Successfully deleted endpoint 'validate-slug'"})));
        let unauthenticated = app.get(VALIDATE_SLUG, None).await;
        assert_eq!(unauthenticated.status, 401);
    }

    async fn calls_outside_model_management_are_not_served(db) {
        let (app, _, token) = app(db).await;
        let key = Some(token.as_str());
        let model = create_model(&app, &token, "m").await;
        create_endpoint(&app, &token, "support", &model["id"]).await;
        let not_found = (404, detail("Not Found"));
        let calls = [
            (Method::POST, "/syft/api/v1/endpoints/support/publish", Some(json!({"publish_to_all_marketplaces": true}))),
            (Method::DELETE, "/syft/api/v1/endpoints/support/unpublish", None),
            (Method::POST, "/syft/api/v1/endpoints/support/preview", Some(json!({"messages": "hi"}))),
            (Method::POST, "/syft/api/v1/endpoints/support/query", Some(json!({"messages": "hi"}))),
            (Method::POST, "/syft/api/v1/endpoints/support/archive", None),
            (Method::POST, "/syft/api/v1/endpoints/support/unarchive", None),
            (Method::GET, "/syft/api/v1/endpoints/support/quality", None),
            (Method::POST, "/syft/api/v1/endpoints/support/quality", Some(json!({}))),
            (Method::DELETE, "/syft/api/v1/endpoints/support/quality", None),
            (Method::GET, "/syft/api/v1/policies/", None),
            (Method::GET, "/syft/api/v1/datasets/", None),
            (Method::GET, "/syft/api/v1/marketplaces/", None),
        ];
        for (method, path, body) in calls {
            let answer = app.send(method.clone(), path, key, body).await;
            assert_eq!((answer.status, answer.json), not_found.clone(), "{method} {path}");
        }
        // Model names may contain `/`, so this reaches the model routes: a model that does not
        // exist.
        let health = app.get("/syft/api/v1/models/m/health", key).await;
        assert_eq!((health.status, health.json), (404, detail("Model 'm/health' not found")));
        // A type's action is served where the server has a provider client (the server's
        // provider_calls tests); mounted alone, the dialect says it has none.
        let fetch = app.post("/syft/api/v1/models/types/openai/actions/fetch_available_models", key, json!({"base_url": "x", "api_key": "y"})).await;
        assert_eq!((fetch.status, fetch.json), (501, detail("This server cannot call model providers.")));
        // None of it touched the endpoint.
        assert_eq!(app.get(&endpoint_path("support"), key).await.json["published"], false);
    }

    async fn the_dialects_own_listener_serves_the_same_routes(db) {
        let (_, key) = db.bootstrap();
        let app = TestApp::new(db, |cfg| {
            cfg.service(mount::<Syft>("", configure));
        })
        .await;
        let key = Some(key.as_str());
        let model = app.post("/api/v1/models/", key, simple_model("root")).await.json;
        let body = json!({"name": "root-ep", "slug": "root-ep", "model_id": model["id"], "response_type": "summary"});
        assert_eq!(app.post("/api/v1/endpoints/", key, body).await.status, 201);
        let checked = app.post("/api/v1/endpoints/validate-slug", key, json!({"slug": "root-ep"})).await;
        assert_eq!(checked.json, json!({"slug": "root-ep", "local_available": false, "marketplaces": null}));
        let patched = app.patch("/api/v1/endpoints/root-ep", key, json!({"summary": "root"})).await;
        assert_eq!((patched.status, &patched.json["summary"]), (200, &json!("root")));
        assert_eq!(app.get("/api/v1/endpoints", key).await.json[0]["model"]["name"], "root");
    }
}
