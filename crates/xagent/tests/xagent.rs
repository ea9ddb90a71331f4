//! The xagent dialect through the real actix app, on SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::http::Method;
use modelgate_core::{
    CatalogModel, Ctx, Grant, MapChange, ModelChange, ModelRef, ModelUpdate, ModelView, NewModel,
    Permission, PrincipalKind, Registry, Role, Secret,
};
use modelgate_http::app::mount;
use modelgate_testkit::{
    TestApp, TestDb, TestResponse, assert_wire_snapshot, backend_app_tests, redact,
};
use modelgate_xagent::{Xagent, configure};
use serde_json::{Value, json};

const BASE: &str = "/xagent/api/models";

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

struct Setup {
    app: TestApp,
    admin: Ctx,
    admin_key: String,
}

impl Setup {
    fn key(&self) -> Option<&str> {
        Some(self.admin_key.as_str())
    }

    fn store(&self) -> &modelgate_store::Store {
        &self.app.db.store
    }

    /// A user of the admin's org with its key.
    fn user(&self, id: &str, role: Role) -> (Ctx, String) {
        self.app.db.user(&self.admin, id, role)
    }

    fn model(&self, reference: ModelRef) -> ModelView {
        self.store().get_model(&self.admin, &reference).unwrap()
    }
}

async fn setup(db: TestDb) -> Setup {
    let (admin, admin_key) = db.bootstrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Xagent>("/xagent", configure));
    })
    .await;
    Setup { app, admin, admin_key }
}

/// A create body with the required fields.
fn minimal(model_id: &str) -> Value {
    json!({"model_id": model_id, "model_provider": "openai", "model_name": "gpt-4o"})
}

async fn create(s: &Setup, key: Option<&str>, body: Value) -> TestResponse {
    s.app.post(&url("/"), key, body).await
}

fn id_of(response: &TestResponse) -> i64 {
    response.json["id"].as_i64().unwrap_or_else(|| panic!("no id in {response:?}"))
}

fn detail(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "detail": message }))
}

fn got(response: &TestResponse) -> (u16, Value) {
    (response.status, response.json.clone())
}

/// Every documented response field, in the seed's order.
const FIELDS: [&str; 18] = [
    "id",
    "model_id",
    "category",
    "model_provider",
    "model_name",
    "base_url",
    "temperature",
    "context_window",
    "dimension",
    "abilities",
    "description",
    "created_at",
    "updated_at",
    "is_active",
    "is_owner",
    "can_edit",
    "can_delete",
    "is_shared",
];

fn assert_model_shape(value: &Value) {
    let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, FIELDS, "field set and order of {value}");
}

fn flags(value: &Value) -> [bool; 4] {
    ["is_owner", "can_edit", "can_delete", "is_shared"]
        .map(|k| value[k].as_bool().unwrap_or_else(|| panic!("{k} in {value}")))
}

/// An ISO 8601 UTC timestamp as Xagent prints them.
fn assert_iso(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("timestamp {value}"));
    assert!(text.ends_with("+00:00"), "{text}");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
}

/// A default with its generated integer ids redacted (the nested `model_id` string stays).
fn redact_default(value: &Value) -> Value {
    let mut value = redact(value, &["id", "user_id"]);
    value["model_id"] = json!("[redacted]");
    if value.get("model").is_some() {
        value["model"]["id"] = json!("[redacted]");
    }
    value
}

backend_app_tests! {
    async fn seed_update_example_round_trips_every_field(db) {
        let s = setup(db).await;
        let created = create(&s, s.key(), json!({
            "model_id": "seed-model",
            "category": "llm",
            "model_provider": "openai",
            "model_name": "gpt-4o",
            "api_key": "sk-original-key-0000",
            "base_url": "https://api.openai.com/v1",
            "temperature": 0.5,
            "dimension": 8,
            "abilities": ["chat"],
            "description": "before",
            "share_with_users": false
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        // The seed's example body, verbatim.
        let seed_body = json!({
            "category": "<string>",
            "model_provider": "<string>",
            "model_name": "<string>",
            "api_key": "<string>",
            "base_url": "<string>",
            "temperature": 123,
            "dimension": 123,
            "description": "<string>",
            "abilities": ["<string>"],
            "share_with_users": true
        });
        let updated = s.app.put(&url("/seed-model"), s.key(), seed_body).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        let body = &updated.json;
        assert_model_shape(body);
        assert_eq!(body["id"], created.json["id"]);
        assert_eq!(body["model_id"], "seed-model");
        assert_eq!(body["category"], "<string>");
        assert_eq!(body["model_provider"], "<string>");
        assert_eq!(body["model_name"], "<string>");
        assert_eq!(body["base_url"], "<string>");
        assert_eq!(body["temperature"], json!(123.0));
        assert_eq!(body["dimension"], 123);
        assert_eq!(body["abilities"], json!(["<string>"]));
        assert_eq!(body["description"], "<string>");
        assert_iso(&body["created_at"]);
        assert_iso(&body["updated_at"]);
        assert_eq!(body["created_at"], created.json["created_at"]);
        assert!(body["updated_at"].as_str() >= created.json["updated_at"].as_str());
        assert_eq!(body["is_active"], true);
        assert_eq!(flags(body), [true, true, true, true]);

        // The key was replaced, sealed, and is never shown.
        let stored = s.model(ModelRef::Key("seed-model".into()));
        let sealed = stored.model.fields.api_key.clone().expect("a stored key");
        assert!(s.store().secret_equals(&sealed, "<string>").unwrap());
        assert_eq!(stored.model.fields.params.get("temperature"), Some(&json!(123.0)));
        assert!(stored.model.fields.public);
        let history = s.store().model_history(&s.admin, stored.model.uuid).unwrap();
        assert_eq!(history.iter().map(|e| (e.dialect.as_str(), e.action.as_str())).collect::<Vec<_>>(),
            vec![("xagent", "create"), ("xagent", "update")]);

        // The same model read back gives the same body.
        let read = s.app.get(&url("/seed-model"), s.key()).await;
        assert_eq!(read.json, updated.json);
    }

    async fn success_shapes(db) {
        let s = setup(db).await;
        let created = create(&s, s.key(), json!({
            "model_id": "  gpt-4o-main  ",
            "model_provider": "OpenAI",
            "model_name": " gpt-4o ",
            "api_key": " sk-test-abcdefghijklmnop ",
            "base_url": " https://api.openai.com/v1 ",
            "temperature": 0.7,
            "abilities": ["chat", "vision", "tool_calling", "thinking_mode"],
            "description": "Main chat model",
            "context_window": 128000
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        assert_model_shape(&created.json);
        assert_wire_snapshot!("create", redact(&created.json, &["id"]));
        let id = id_of(&created);

        // Canonical storage: trimmed, aliases mapped, temperature in params.
        let stored = s.model(ModelRef::Seq(id));
        let f = &stored.model.fields;
        assert_eq!(stored.model.key, "gpt-4o-main");
        assert_eq!(f.base_model.as_deref(), Some("gpt-4o"));
        assert_eq!(f.provider.as_deref(), Some("openai"));
        assert_eq!(f.category.as_deref(), Some("llm"));
        assert_eq!(f.base_url.as_deref(), Some("https://api.openai.com/v1"));
        assert_eq!(f.context_window, Some(128000));
        assert_eq!(
            serde_json::to_value(&f.capabilities).unwrap(),
            json!({"chat": true, "vision": true, "function_calling": true, "reasoning": true})
        );
        assert!(s.store().secret_equals(f.api_key.as_ref().unwrap(), "sk-test-abcdefghijklmnop").unwrap());

        let read = s.app.get(&url(&format!("/{id}")), s.key()).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.json, created.json);
        assert_wire_snapshot!("get", redact(&read.json, &["id"]));

        create(&s, s.key(), json!({
            "model_id": "text-embedding-3-small",
            "category": "embedding",
            "model_provider": "openai",
            "model_name": "text-embedding-3-small",
            "dimension": 1536,
            "abilities": ["embedding"]
        })).await;
        let listed = s.app.get(&url("/"), s.key()).await;
        assert_eq!(listed.status, 200);
        assert_eq!(listed.json.as_array().unwrap().len(), 2);
        assert_wire_snapshot!("list", redact(&listed.json, &["id"]));

        let updated = s.app.put(&url("/gpt-4o-main"), s.key(), json!({"description": "Updated", "temperature": 0.2})).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        assert_wire_snapshot!("update", redact(&updated.json, &["id"]));

        let deleted = s.app.delete(&url("/gpt-4o-main"), s.key()).await;
        assert_eq!(got(&deleted), (200, json!({"message": "Model deleted successfully"})));
        assert_wire_snapshot!("delete", deleted.json);
        assert_eq!(got(&s.app.get(&url(&format!("/{id}")), s.key()).await), detail(404, "Model not found"));
    }

    async fn register_path_and_root_listener(db) {
        let (_, key) = db.bootstrap();
        // The extra listener serves the dialect at its root.
        let app = TestApp::new(db, |cfg| {
            cfg.service(mount::<Xagent>("", configure));
        })
        .await;
        let key = Some(key.as_str());
        let created = app.post("/api/models/register", key, minimal("registered")).await;
        assert_eq!(created.status, 200, "{created:?}");
        assert_eq!(created.json["category"], "llm");
        assert_eq!(created.json["abilities"], Value::Null);
        let without_slash = app.get("/api/models", key).await;
        assert_eq!(without_slash.json.as_array().unwrap().len(), 1);
        assert_eq!(app.get("/api/models/registered", key).await.json["model_id"], "registered");
        // The routes added for Xagent's current client are at the root too.
        let providers = app.get("/api/models/providers/supported", None).await;
        assert_eq!(providers.json["providers"].as_array().unwrap().len(), 20);
        assert_eq!(got(&app.get("/api/models/default/general", key).await), (200, Value::Null));
        assert_eq!(app.get("/api/models/auto-config", key).await.status, 200);
        assert_eq!(app.get("/api/models/auto-config/profiles", key).await.status, 503);
        // Reached (its body validated) at the root as well.
        assert_eq!(app.post("/api/models/test-connection", key, json!({})).await.status, 422);
        let unknown = app.get("/api/other", key).await;
        assert_eq!(got(&unknown), detail(404, "Not Found"));
    }

    async fn partial_update_keeps_everything_not_sent(db) {
        let s = setup(db).await;
        let created = create(&s, s.key(), json!({
            "model_id": "partial",
            "model_provider": "openai",
            "model_name": "gpt-4o",
            "api_key": "sk-keep-me-0123456789",
            "base_url": "https://example.com/v1",
            "temperature": 0.3,
            "dimension": 16,
            "abilities": ["chat"],
            "description": "desc",
            "voice": "female"
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        // Fields other dialects own, set through core.
        let other = ModelChange {
            display_name: Some(Some("Partial".into())),
            tags: Some(vec!["prod".into()]),
            input_cost: Some(Some(2.5)),
            params: Some(MapChange::Merge(json!({"top_p": 0.9}).as_object().unwrap().clone())),
            extra: Some(MapChange::Set(Some(json!({"profile": "x"}).as_object().unwrap().clone()))),
            supported_params_override: Some(MapChange::Set(Some(json!({"seed": {}}).as_object().unwrap().clone()))),
            ..Default::default()
        };
        s.store().update_model(&s.admin, &ModelRef::Key("partial".into()), ModelUpdate::patch(other)).unwrap();
        let before = s.model(ModelRef::Key("partial".into()));

        // An empty api_key keeps the stored key; only the description changes.
        let updated = s.app.put(&url("/partial"), s.key(), json!({"description": "new", "api_key": ""})).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        let after = s.model(ModelRef::Key("partial".into()));
        let mut expected = before.model.fields.clone();
        expected.description = Some("new".into());
        assert_eq!(after.model.fields, expected);
        assert_eq!(after.model.version, before.model.version + 1);

        // Absent and null api_key keep it too; null clears the nullable fields that were sent.
        let cleared = s.app.put(&url("/partial"), s.key(), json!({
            "api_key": null, "base_url": null, "temperature": null, "dimension": null,
            "description": null, "category": null, "model_name": null
        })).await;
        assert_eq!(cleared.status, 200, "{cleared:?}");
        let after = s.model(ModelRef::Key("partial".into()));
        let mut expected = before.model.fields.clone();
        expected.base_url = None;
        expected.dimension = None;
        expected.description = None;
        expected.params.remove("temperature");
        assert_eq!(after.model.fields, expected);
        assert_eq!(cleared.json["category"], "llm");
        assert_eq!(cleared.json["model_name"], "gpt-4o");
        assert_eq!(cleared.json["temperature"], Value::Null);
        assert_eq!(after.model.fields.params.get("top_p"), Some(&json!(0.9)));
        assert!(s.store().secret_equals(after.model.fields.api_key.as_ref().unwrap(), "sk-keep-me-0123456789").unwrap());
        assert_eq!(after.model.fields.extra_for("xagent"), json!({"voice": "female"}).as_object().unwrap().clone());

        // A sent key replaces the stored one.
        s.app.put(&url("/partial"), s.key(), json!({"api_key": "  sk-new-key-9876543210 "})).await;
        let after = s.model(ModelRef::Key("partial".into()));
        assert!(s.store().secret_equals(after.model.fields.api_key.as_ref().unwrap(), "sk-new-key-9876543210").unwrap());

        // Abilities replace the capabilities; null clears them.
        let abilities = s.app.put(&url("/partial"), s.key(), json!({"abilities": ["tool_calling", "vision"]})).await;
        assert_eq!(abilities.json["abilities"], json!(["tool_calling", "vision"]));
        assert_eq!(
            serde_json::to_value(&s.model(ModelRef::Key("partial".into())).model.fields.capabilities).unwrap(),
            json!({"function_calling": true, "vision": true})
        );
        let none = s.app.put(&url("/partial"), s.key(), json!({"abilities": null})).await;
        assert_eq!(none.json["abilities"], Value::Null);
    }

    async fn api_key_is_never_returned(db) {
        let s = setup(db).await;
        let secret = "sk-super-secret-value-123456";
        let created = create(&s, s.key(), json!({
            "model_id": "secret", "model_provider": "openai", "model_name": "gpt-4o", "api_key": secret
        })).await;
        let id = id_of(&created);
        s.app.post(&url("/user-default"), s.key(), json!({"model_id": id, "config_type": "general"})).await;
        let responses = vec![
            created,
            s.app.get(&url("/secret"), s.key()).await,
            s.app.get(&url(&format!("/{id}")), s.key()).await,
            s.app.get(&url("/by-id/secret"), s.key()).await,
            s.app.get(&url("/"), s.key()).await,
            s.app.put(&url("/secret"), s.key(), json!({"api_key": "sk-another-secret-000000"})).await,
            s.app.get(&url("/user-default"), s.key()).await,
            s.app.get(&url("/user-default/general"), s.key()).await,
            s.app.get(&url("/summary"), s.key()).await,
            s.app.delete(&url("/secret"), s.key()).await,
        ];
        for response in &responses {
            assert_eq!(response.status, 200, "{response:?}");
            let text = response.text();
            assert!(!text.contains(secret) && !text.contains("sk-another"), "{text}");
            assert!(!text.contains("api_key") && !text.contains("sk-..."), "{text}");
        }
    }

    async fn access_flags_follow_the_one_policy(db) {
        let s = setup(db).await;
        let (_, alice) = s.user("alice", Role::Member);
        let (_, bob) = s.user("bob", Role::Member);
        let (_, carol) = s.user("carol", Role::Member);
        let (alice, bob, carol) = (Some(alice.as_str()), Some(bob.as_str()), Some(carol.as_str()));

        let owned = create(&s, alice, minimal("alice-model")).await;
        assert_eq!(owned.status, 200, "{owned:?}");
        assert_eq!(flags(&owned.json), [true, true, true, false]);

        // Admin: may edit anything in the org, owns nothing.
        let as_admin = s.app.get(&url("/alice-model"), s.key()).await;
        assert_eq!(flags(&as_admin.json), [false, true, true, false]);
        // Bob cannot see Alice's private model at all.
        assert_eq!(got(&s.app.get(&url("/alice-model"), bob).await), detail(404, "Model not found"));
        assert_eq!(got(&s.app.put(&url("/alice-model"), bob, json!({})).await), detail(404, "Model not found"));
        assert_eq!(got(&s.app.delete(&url("/alice-model"), bob).await), detail(404, "Model not found"));
        assert!(s.app.get(&url("/"), bob).await.json.as_array().unwrap().is_empty());

        // Shared by the admin: every member reads it, nobody but admins and the owner edits it.
        let shared = create(&s, s.key(), json!({
            "model_id": "shared", "model_provider": "openai", "model_name": "gpt-4o", "share_with_users": true
        })).await;
        assert_eq!(flags(&shared.json), [true, true, true, true]);
        let as_viewer = s.app.get(&url("/shared"), bob).await;
        assert_eq!(as_viewer.status, 200);
        assert_eq!(flags(&as_viewer.json), [false, false, false, true]);
        let listed = s.app.get(&url("/"), bob).await;
        assert_eq!(listed.json.as_array().unwrap().iter().map(|m| m["model_id"].clone()).collect::<Vec<_>>(), vec![json!("shared")]);
        assert_eq!(got(&s.app.put(&url("/shared"), bob, json!({"description": "x"})).await), detail(403, "No permission to edit this model"));
        assert_eq!(got(&s.app.delete(&url("/shared"), bob).await), detail(403, "No permission to delete this model"));
        assert_eq!(s.model(ModelRef::Key("shared".into())).model.fields.description, None);

        // A write grant: can edit and delete, is not the owner, not shared.
        s.store().update_model(&s.admin, &ModelRef::Key("alice-model".into()), ModelUpdate::patch(ModelChange {
            grants: Some(vec![Grant::new(PrincipalKind::User, "carol", Permission::Write)]),
            ..Default::default()
        })).unwrap();
        let as_writer = s.app.get(&url("/alice-model"), carol).await;
        assert_eq!(flags(&as_writer.json), [false, true, true, false]);
        let edited = s.app.put(&url("/alice-model"), carol, json!({"description": "by carol"})).await;
        assert_eq!((edited.status, edited.json["description"].clone()), (200, json!("by carol")));
        assert_eq!(flags(&edited.json), [false, true, true, false]);

        // A read grant: reads, may not write.
        s.store().update_model(&s.admin, &ModelRef::Key("alice-model".into()), ModelUpdate::patch(ModelChange {
            grants: Some(vec![Grant::new(PrincipalKind::User, "bob", Permission::Read)]),
            ..Default::default()
        })).unwrap();
        assert_eq!(flags(&s.app.get(&url("/alice-model"), bob).await.json), [false, false, false, false]);
        assert_eq!(got(&s.app.put(&url("/alice-model"), bob, json!({})).await), detail(403, "No permission to edit this model"));
        // Carol lost her grant: the model is gone for her.
        assert_eq!(s.app.get(&url("/alice-model"), carol).await.status, 404);

        // A viewer never writes, even its own... and cannot create.
        let (_, viewer) = s.user("victor", Role::Viewer);
        assert_eq!(got(&create(&s, Some(viewer.as_str()), minimal("v")).await), detail(403, "No permission to create models"));
    }

    async fn only_admins_share(db) {
        let s = setup(db).await;
        let (_, alice) = s.user("alice", Role::Member);
        let alice = Some(alice.as_str());
        let refused = create(&s, alice, json!({
            "model_id": "mine", "model_provider": "openai", "model_name": "gpt-4o", "share_with_users": true
        })).await;
        assert_eq!(got(&refused), detail(403, "Only administrators can share models with all users"));
        // Nothing was written.
        assert_eq!(s.app.get(&url("/mine"), s.key()).await.status, 404);

        assert_eq!(create(&s, alice, minimal("mine")).await.status, 200);
        let refused = s.app.put(&url("/mine"), alice, json!({"share_with_users": true, "description": "x"})).await;
        assert_eq!(got(&refused), detail(403, "Only administrators can enable global sharing"));
        let stored = s.model(ModelRef::Key("mine".into()));
        assert!(!stored.model.fields.public);
        assert_eq!(stored.model.fields.description, None);
        // Unsharing (a no-op here) is allowed.
        assert_eq!(s.app.put(&url("/mine"), alice, json!({"share_with_users": false})).await.status, 200);

        // The admin shares it, then unshares it.
        let shared = s.app.put(&url("/mine"), s.key(), json!({"share_with_users": true})).await;
        assert_eq!(shared.json["is_shared"], true);
        let unshared = s.app.put(&url("/mine"), s.key(), json!({"share_with_users": false})).await;
        assert_eq!(unshared.json["is_shared"], false);
    }

    async fn error_rows(db) {
        let s = setup(db).await;
        // 401s, with the Bearer challenge.
        let missing = s.app.get(&url("/"), None).await;
        assert_eq!(got(&missing), detail(401, "Not authenticated"));
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
        let invalid = s.app.get(&url("/"), Some("mg_not_a_key")).await;
        assert_eq!(got(&invalid), detail(401, "Invalid token"));
        assert_eq!(invalid.header("www-authenticate"), Some("Bearer"));

        // 404 for unknown ids, integer or not, and for another org's models.
        assert_eq!(got(&s.app.get(&url("/999999"), s.key()).await), detail(404, "Model not found"));
        assert_eq!(got(&s.app.put(&url("/nope"), s.key(), json!({})).await), detail(404, "Model not found"));
        assert_eq!(got(&s.app.delete(&url("/by-id/a/b"), s.key()).await), detail(404, "Model not found"));
        let (_, acme) = s.app.db.other_org(&s.admin, "acme");
        let theirs = create(&s, Some(acme.as_str()), minimal("theirs")).await;
        assert_eq!(theirs.status, 200);
        assert_eq!(got(&s.app.get(&url("/theirs"), s.key()).await), detail(404, "Model not found"));
        assert_eq!(got(&s.app.get(&url(&format!("/{}", id_of(&theirs))), s.key()).await), detail(404, "Model not found"));

        // 400 for a taken model_id (in the org) and for an unknown category.
        assert_eq!(create(&s, s.key(), minimal("taken")).await.status, 200);
        assert_eq!(got(&create(&s, s.key(), minimal(" taken ")).await), detail(400, "Model ID already exists"));
        let mut weird = minimal("weird");
        weird["category"] = json!("hologram");
        assert_eq!(got(&create(&s, s.key(), weird).await), detail(400, "Invalid model category"));

        // 422s in pydantic's shape.
        let body = json!({"model_id": 5, "model_provider": "openai", "temperature": "hot", "share_with_users": null});
        let invalid = create(&s, s.key(), body.clone()).await;
        assert_eq!(got(&invalid), (422, json!({"detail": [
            {"type": "string_type", "loc": ["body", "model_id"], "msg": "Input should be a valid string", "input": 5},
            {"type": "missing", "loc": ["body", "model_name"], "msg": "Field required", "input": body},
            {"type": "float_parsing", "loc": ["body", "temperature"], "msg": "Input should be a valid number, unable to parse string as a number", "input": "hot"},
            {"type": "bool_type", "loc": ["body", "share_with_users"], "msg": "Input should be a valid boolean", "input": null}
        ]})));
        let bad_abilities = create(&s, s.key(), json!({
            "model_id": "e", "category": "embedding", "model_provider": "openai", "model_name": "m", "abilities": ["chat"]
        })).await;
        assert_eq!(got(&bad_abilities), (422, json!({"detail": [{
            "type": "value_error", "loc": ["body", "abilities"],
            "msg": "Value error, Invalid abilities for embedding model: {'chat'}. Valid abilities are: {'embedding'}",
            "input": ["chat"],
            "ctx": {"error": "Invalid abilities for embedding model: {'chat'}. Valid abilities are: {'embedding'}"}
        }]})));
        let empty_abilities = create(&s, s.key(), json!({
            "model_id": "r", "category": "rerank", "model_provider": "cohere", "model_name": "m", "abilities": []
        })).await;
        assert_eq!(empty_abilities.status, 422);
        assert_eq!(empty_abilities.json["detail"][0]["msg"], "Value error, Rerank model must have at least one ability");
        let bad_item = create(&s, s.key(), json!({
            "model_id": "x", "model_provider": "openai", "model_name": "m", "abilities": ["chat", 3], "dimension": 0
        })).await;
        assert_eq!(got(&bad_item), (422, json!({"detail": [
            {"type": "string_type", "loc": ["body", "abilities", 1], "msg": "Input should be a valid string", "input": 3}
        ]})));
        let zero_dimension = create(&s, s.key(), json!({"model_id": "z", "model_provider": "openai", "model_name": "m", "dimension": 0})).await;
        assert_eq!(got(&zero_dimension), (422, json!({"detail": [
            {"type": "greater_than", "loc": ["body", "dimension"], "msg": "Input should be greater than 0", "input": 0, "ctx": {"gt": 0}}
        ]})));
        let blank_id = create(&s, s.key(), minimal("   ")).await;
        assert_eq!(blank_id.status, 422);
        assert_eq!(blank_id.json["detail"][0]["loc"], json!(["body", "model_id"]));
        let not_object = create(&s, s.key(), json!(["x"])).await;
        assert_eq!(got(&not_object), (422, json!({"detail": [{
            "type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from", "input": ["x"]
        }]})));
        let broken = s.app.send_raw(Method::POST, &url("/"), s.key(), b"{\"model_id\": ".to_vec()).await;
        assert_eq!(broken.status, 422);
        assert_eq!(broken.json["detail"][0]["type"], "json_invalid");
        let empty = s.app.send_raw(Method::POST, &url("/"), s.key(), Vec::new()).await;
        assert_eq!(got(&empty), (422, json!({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}]})));

        // Update: types are checked, abilities only against a category sent with them.
        assert_eq!(create(&s, s.key(), minimal("u")).await.status, 200);
        let bad_update = s.app.put(&url("/u"), s.key(), json!({"dimension": 1.5, "category": "image", "abilities": ["chat"]})).await;
        assert_eq!(got(&bad_update), (422, json!({"detail": [
            {"type": "int_from_float", "loc": ["body", "dimension"], "msg": "Input should be a valid integer, got a number with a fractional part", "input": 1.5},
            {"type": "value_error", "loc": ["body", "abilities"],
             "msg": "Value error, Invalid abilities for image model: {'chat'}. Valid abilities are: {'generate', 'edit'}",
             "input": ["chat"],
             "ctx": {"error": "Invalid abilities for image model: {'chat'}. Valid abilities are: {'generate', 'edit'}"}}
        ]})));
        assert_eq!(s.app.put(&url("/u"), s.key(), json!({"abilities": ["chat"]})).await.status, 200);
        assert_eq!(s.model(ModelRef::Key("u".into())).model.fields.dimension, None);

        // List query validation.
        let bad_query = s.app.get(&url("/?skip=-1&limit=1001"), s.key()).await;
        assert_eq!(got(&bad_query), (422, json!({"detail": [
            {"type": "greater_than_equal", "loc": ["query", "skip"], "msg": "Input should be greater than or equal to 0", "input": "-1", "ctx": {"ge": 0}},
            {"type": "less_than_equal", "loc": ["query", "limit"], "msg": "Input should be less than or equal to 1000", "input": "1001", "ctx": {"le": 1000}}
        ]})));
        let zero = s.app.get(&url("/?limit=0&is_active=maybe"), s.key()).await;
        assert_eq!(got(&zero), (422, json!({"detail": [
            {"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}},
            {"type": "bool_parsing", "loc": ["query", "is_active"], "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"}
        ]})));
        let not_int = s.app.get(&url("/?skip=abc"), s.key()).await;
        assert_eq!(not_int.json["detail"][0]["type"], "int_parsing");

        // Every error is JSON, including a wrong method.
        let wrong_method = s.app.send(Method::PATCH, &url("/u"), s.key(), Some(json!({}))).await;
        assert_eq!(wrong_method.status, 405);
        assert!(wrong_method.is_json(), "{wrong_method:?}");
    }

    async fn path_ids_and_fixed_paths(db) {
        let s = setup(db).await;
        for key in ["org/model:v1", "ünïcode model", "summary"] {
            let created = create(&s, s.key(), minimal(key)).await;
            assert_eq!(created.status, 200, "{created:?}");
        }
        // Ids with a slash go through /by-id/; an encoded slash works on both paths.
        assert_eq!(s.app.get(&url("/by-id/org/model:v1"), s.key()).await.json["model_id"], "org/model:v1");
        assert_eq!(s.app.get(&url("/by-id/org%2Fmodel%3Av1"), s.key()).await.json["model_id"], "org/model:v1");
        assert_eq!(s.app.get(&url("/org%2Fmodel%3Av1"), s.key()).await.json["model_id"], "org/model:v1");
        // Percent-encoded unicode and spaces, trimmed.
        let unicode = s.app.get(&url("/%C3%BCn%C3%AFcode%20model%20"), s.key()).await;
        assert_eq!(unicode.json["model_id"], "ünïcode model");
        let id = id_of(&unicode);
        assert_eq!(s.app.get(&url(&format!("/{id}")), s.key()).await.json["model_id"], "ünïcode model");
        assert_eq!(s.app.get(&url(&format!("/by-id/{id}")), s.key()).await.json["model_id"], "ünïcode model");

        let updated = s.app.put(&url("/by-id/org/model:v1"), s.key(), json!({"description": "slashes"})).await;
        assert_eq!(updated.json["description"], "slashes");

        // A fixed path wins over a model named like it; /by-id/ still reaches the model.
        let summary = s.app.get(&url("/summary"), s.key()).await;
        assert_eq!(summary.json["total_models"], 3);
        assert_eq!(s.app.get(&url("/by-id/summary"), s.key()).await.json["model_id"], "summary");

        let deleted = s.app.delete(&url("/by-id/org/model:v1"), s.key()).await;
        assert_eq!(got(&deleted), (200, json!({"message": "Model deleted successfully"})));
        assert_eq!(s.app.get(&url("/by-id/org/model:v1"), s.key()).await.status, 404);
    }

    async fn list_paging_and_filters(db) {
        let s = setup(db).await;
        for (key, category, provider) in [
            ("a", "llm", "openai"),
            ("b", "embedding", "openai"),
            ("c", "llm", "anthropic"),
            ("d", "rerank", "cohere"),
        ] {
            let body = json!({"model_id": key, "category": category, "model_provider": provider, "model_name": key});
            assert_eq!(create(&s, s.key(), body).await.status, 200);
        }
        // A model another dialect wrote without a category shows (and filters) as "llm".
        s.store().create_model(&s.admin, NewModel { key: "e".into(), change: ModelChange {
            provider: Some(Some("openai".into())),
            ..Default::default()
        }}).unwrap();
        // An inactive one.
        s.store().toggle_model(&s.admin, &ModelRef::Key("d".into())).unwrap();

        let ids = |r: &TestResponse| r.json.as_array().unwrap().iter().map(|m| m["model_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(&s.app.get(&url("/"), s.key()).await), ["a", "b", "c", "e"]);
        assert_eq!(ids(&s.app.get(&url("/?skip=1&limit=2"), s.key()).await), ["b", "c"]);
        assert_eq!(ids(&s.app.get(&url("/?model_provider=openai"), s.key()).await), ["a", "b", "e"]);
        assert_eq!(ids(&s.app.get(&url("/?category=llm"), s.key()).await), ["a", "c", "e"]);
        assert_eq!(ids(&s.app.get(&url("/?category=llm&skip=1&limit=1"), s.key()).await), ["c"]);
        assert_eq!(ids(&s.app.get(&url("/?category=embedding"), s.key()).await), ["b"]);
        assert_eq!(ids(&s.app.get(&url("/?is_active=false"), s.key()).await), ["d"]);
        assert_eq!(ids(&s.app.get(&url("/?category=&model_provider="), s.key()).await), ["a", "b", "c", "e"]);
        let e = s.app.get(&url("/e"), s.key()).await;
        assert_eq!((e.json["category"].clone(), e.json["model_name"].clone()), (json!("llm"), json!("e")));

        // Lookups: over visible, active models only.
        let categories = s.app.get(&url("/categories"), s.key()).await;
        assert_eq!(got(&categories), (200, json!({"categories": ["llm", "embedding"]})));
        let providers = s.app.get(&url("/providers"), s.key()).await;
        assert_eq!(got(&providers), (200, json!({"providers": ["openai", "anthropic"]})));
        s.app.put(&url("/a"), s.key(), json!({"abilities": ["vision", "chat", "tool_calling"]})).await;
        s.app.put(&url("/b"), s.key(), json!({"abilities": ["embedding"]})).await;
        let abilities = s.app.get(&url("/abilities"), s.key()).await;
        assert_eq!(got(&abilities), (200, json!({"abilities": ["chat", "embedding", "tool_calling", "vision"]})));
        let summary = s.app.get(&url("/summary"), s.key()).await;
        assert_eq!(summary.status, 200);
        assert_wire_snapshot!("summary", summary.json);
        assert_eq!(summary.json, json!({
            "total_models": 4,
            "by_category": {"llm": 3, "embedding": 1},
            "by_provider": {"openai": 3, "anthropic": 1}
        }));
        let (_, bob) = s.user("bob", Role::Member);
        let empty = s.app.get(&url("/summary"), Some(bob.as_str())).await;
        assert_eq!(empty.json, json!({"total_models": 0, "by_category": {}, "by_provider": {}}));
    }

    async fn builtin_models_are_read_only_and_unlisted(db) {
        let s = setup(db).await;
        s.store().sync_catalog(vec![CatalogModel { key: "catalog-gpt".into(), change: ModelChange {
            provider: Some(Some("openai".into())),
            category: Some(Some("llm".into())),
            capabilities: Some(MapChange::Set(Some(json!({"function_calling": true, "vision": false}).as_object().unwrap().clone()))),
            ..Default::default()
        }}]).unwrap();
        assert!(s.app.get(&url("/"), s.key()).await.json.as_array().unwrap().is_empty());
        assert_eq!(s.app.get(&url("/summary"), s.key()).await.json["total_models"], 0);
        let read = s.app.get(&url("/catalog-gpt"), s.key()).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.json["abilities"], json!(["tool_calling"]));
        assert_eq!(flags(&read.json), [false, false, false, true]);
        assert_eq!(got(&s.app.put(&url("/catalog-gpt"), s.key(), json!({"description": "x"})).await), detail(403, "No permission to edit this model"));
        assert_eq!(got(&s.app.delete(&url("/catalog-gpt"), s.key()).await), detail(403, "No permission to delete this model"));
        assert_eq!(got(&create(&s, s.key(), minimal("catalog-gpt")).await), detail(400, "Model ID already exists"));
    }

    async fn per_user_defaults(db) {
        let s = setup(db).await;
        let (_, bob) = s.user("bob", Role::Member);
        let bob = Some(bob.as_str());
        let llm = id_of(&create(&s, bob, minimal("bob-llm")).await);
        let embedding = id_of(&create(&s, bob, json!({
            "model_id": "bob-embed", "category": "embedding", "model_provider": "openai", "model_name": "e", "abilities": ["embedding"]
        })).await);
        let admin_only = id_of(&create(&s, s.key(), minimal("admin-only")).await);

        assert_eq!(got(&s.app.get(&url("/user-default"), bob).await), (200, json!([])));
        assert_eq!(got(&s.app.get(&url("/user-default/general"), bob).await), (200, Value::Null));

        let set = s.app.post(&url("/user-default"), bob, json!({"model_id": llm, "config_type": "general"})).await;
        assert_eq!(set.status, 200, "{set:?}");
        assert_eq!((set.json["model_id"].clone(), set.json["config_type"].clone()), (json!(llm), json!("general")));
        // Integer ids: the default's own, and bob's number (not the admin's).
        let bob_seq = set.json["user_id"].as_i64().unwrap();
        assert!(bob_seq > 0 && set.json["id"].as_i64().unwrap() > 0, "{set:?}");
        let admin_default = s.app.post(&url("/user-default"), s.key(), json!({"model_id": admin_only, "config_type": "general"})).await;
        assert_eq!(admin_default.status, 200, "{admin_default:?}");
        assert_ne!(admin_default.json["user_id"], json!(bob_seq));
        assert_ne!(admin_default.json["id"], set.json["id"]);
        assert_wire_snapshot!("user_default_set", redact_default(&set.json));
        let set = s.app.post(&url("/user-default"), bob, json!({"model_id": embedding.to_string(), "config_type": "embedding"})).await;
        assert_eq!(set.status, 200, "{set:?}");

        // Setting a type again replaces the default in place: same id, one entry.
        let again = s.app.post(&url("/user-default"), bob, json!({"model_id": llm, "config_type": "general"})).await;
        assert_eq!(again.status, 200, "{again:?}");
        let listed = s.app.get(&url("/user-default"), bob).await;
        assert_eq!(listed.json.as_array().unwrap().iter().map(|d| d["config_type"].clone()).collect::<Vec<_>>(), vec![json!("general"), json!("embedding")]);
        assert_eq!(listed.json[0]["id"], again.json["id"]);
        assert!(listed.json.as_array().unwrap().iter().all(|d| d["user_id"] == json!(bob_seq)));
        assert_wire_snapshot!("user_default_list", listed.json.as_array().unwrap().iter().map(redact_default).collect::<Vec<_>>());
        let one = s.app.get(&url("/user-default/embedding"), bob).await;
        assert_eq!(one.json["model_id"], embedding);
        assert!(one.json.get("model").is_none());

        // Setting needs read access, and a model fitting the config type.
        assert_eq!(got(&s.app.post(&url("/user-default"), bob, json!({"model_id": admin_only, "config_type": "general"})).await), detail(404, "Model not found"));
        assert_eq!(got(&s.app.post(&url("/user-default"), bob, json!({"model_id": llm, "config_type": "embedding"})).await),
            detail(400, "Config type 'embedding' is incompatible with model category 'llm'"));
        let bad = s.app.post(&url("/user-default"), bob, json!({"model_id": "x", "config_type": "favourite"})).await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.json["detail"][0]["type"], "int_parsing");
        assert_eq!(bad.json["detail"][1]["loc"], json!(["body", "config_type"]));
        assert!(bad.json["detail"][1]["msg"].as_str().unwrap().starts_with("Value error, Invalid config_type: favourite. Valid types are: {'general', "));

        // An inactive model is no default.
        s.store().toggle_model(&s.admin, &ModelRef::Seq(embedding)).unwrap();
        assert_eq!(s.app.get(&url("/user-default/embedding"), bob).await.json, Value::Null);
        assert_eq!(s.app.get(&url("/user-default"), bob).await.json.as_array().unwrap().len(), 1);

        let deleted = s.app.delete(&url("/user-default/general"), bob).await;
        assert_eq!(got(&deleted), (200, json!({"message": "Default configuration deleted successfully"})));
        assert_eq!(got(&s.app.delete(&url("/user-default/general"), bob).await), detail(404, "Default configuration not found"));
    }

    async fn other_dialects_models_show_through(db) {
        let s = setup(db).await;
        // A model as another dialect might write it: no provider, no base model, foreign keys.
        s.store().create_model(&s.admin, NewModel { key: "owui".into(), change: ModelChange {
            display_name: Some(Some("Open WebUI model".into())),
            api_key: Some(Some(Secret::new("sk-foreign-secret-123456"))),
            params: Some(MapChange::Set(Some(json!({"temperature": 1, "top_p": 0.5}).as_object().unwrap().clone()))),
            capabilities: Some(MapChange::Set(Some(json!({"vision": true, "citations": true, "usage": false}).as_object().unwrap().clone()))),
            ..Default::default()
        }}).unwrap();
        let read = s.app.get(&url("/owui"), s.key()).await;
        assert_eq!(read.status, 200);
        assert_model_shape(&read.json);
        assert_eq!(read.json["model_provider"], "");
        assert_eq!(read.json["model_name"], "owui");
        assert_eq!(read.json["category"], "llm");
        assert_eq!(read.json["temperature"], json!(1.0));
        assert_eq!(read.json["abilities"], json!(["vision", "citations"]));
        assert!(!read.text().contains("sk-foreign"));
    }

    async fn supported_providers_are_public_static_metadata(db) {
        let s = setup(db).await;
        let (_, member) = s.user("bob", Role::Member);
        let (_, viewer) = s.user("victor", Role::Viewer);
        let (_, acme) = s.app.db.other_org(&s.admin, "acme");
        // No key needed, as in Xagent: the list is static and names no secrets.
        let anonymous = s.app.get(&url("/providers/supported"), None).await;
        assert_eq!(anonymous.status, 200, "{anonymous:?}");
        assert_wire_snapshot!("providers_supported", anonymous.json);
        // Every caller gets the same list, and a key is not even checked.
        for key in [s.key(), Some(member.as_str()), Some(viewer.as_str()), Some(acme.as_str()), Some("mg_not_a_key")] {
            let response = s.app.get(&url("/providers/supported"), key).await;
            assert_eq!(got(&response), (200, anonymous.json.clone()), "{key:?}");
        }
        let providers = anonymous.json["providers"].as_array().unwrap();
        let ids: Vec<&str> = providers.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [
            "openai", "claude", "gemini", "xinference", "elevenlabs", "deepseek", "openai-compatible",
            "azure_openai", "openrouter", "dashscope", "volcengine-ark", "byteplus-ark",
            "alibaba-coding-plan", "alibaba-coding-plan-cn", "zhipu", "zai-coding-plan",
            "zhipuai-coding-plan", "minimax-coding-plan", "minimax-cn-coding-plan", "kimi-for-coding",
        ]);
        let find = |id: &str| providers.iter().find(|p| p["id"] == id).unwrap();
        assert_eq!(find("deepseek")["category"], json!(["llm"]));
        assert_eq!(find("deepseek")["default_base_url"], "https://api.deepseek.com");
        assert_eq!(find("openai")["category"], json!(["llm", "embedding"]));
        assert_eq!(find("openai")["default_base_url"], "https://api.openai.com/v1");
        assert_eq!(find("openai-compatible")["requires_base_url"], true);
        assert!(find("openai-compatible").get("default_base_url").is_none());
        assert_eq!(find("elevenlabs")["category"], json!(["speech", "sound_effect", "music"]));
        assert_eq!(find("azure_openai")["endpoint_kind"], "azure_resource");
        assert_eq!(find("xinference")["credential_fields"][0]["required"], false);
        // Only GET is served.
        let post = s.app.post(&url("/providers/supported"), s.key(), json!({})).await;
        assert_eq!(post.status, 405);
        assert!(post.is_json(), "{post:?}");
    }

    async fn default_model_per_config_type(db) {
        let s = setup(db).await;
        let (_, bob) = s.user("bob", Role::Member);
        let bob = Some(bob.as_str());
        let general = id_of(&create(&s, bob, json!({
            "model_id": "bob-general", "model_provider": "openai", "model_name": "gpt-4o",
            "context_window": 128000, "abilities": ["chat", "vision"]
        })).await);
        let fast = id_of(&create(&s, bob, minimal("bob-fast")).await);
        let sfx = id_of(&create(&s, bob, json!({
            "model_id": "bob-sfx", "category": "sound_effect", "model_provider": "elevenlabs",
            "model_name": "eleven_text_to_sound_v2", "abilities": ["generate"]
        })).await);
        let music = id_of(&create(&s, bob, json!({
            "model_id": "bob-music", "category": "music", "model_provider": "elevenlabs",
            "model_name": "music_v1", "abilities": ["generate"]
        })).await);
        for (config_type, id) in [("general", general), ("small_fast", fast), ("visual", general), ("sound_effect", sfx), ("music", music)] {
            let set = s.app.post(&url("/user-default"), bob, json!({"config_type": config_type, "model_id": id})).await;
            assert_eq!(set.status, 200, "{config_type}: {set:?}");
        }

        // The client's spellings: `-` reads as `_`, `llm` is `general`; unknown names have none.
        for (name, expected) in [
            ("general", json!("bob-general")),
            ("llm", json!("bob-general")),
            ("small-fast", json!("bob-fast")),
            ("small_fast", json!("bob-fast")),
            ("visual", json!("bob-general")),
            ("compact", Value::Null),
            ("embedding", Value::Null),
            ("video", Value::Null),
            ("sound_effect", json!("bob-sfx")),
            ("music", json!("bob-music")),
            ("favourite", Value::Null),
            ("General", Value::Null),
        ] {
            let response = s.app.get(&url(&format!("/default/{name}")), bob).await;
            assert_eq!(response.status, 200, "{name}: {response:?}");
            assert_eq!(response.json.get("model_id").cloned().unwrap_or(Value::Null), expected, "{name}");
            if !response.json.is_null() {
                assert_model_shape(&response.json);
            }
        }
        // The whole model, as a read of it gives.
        let one = s.app.get(&url("/default/general"), bob).await;
        assert_eq!(one.json, s.app.get(&url("/by-id/bob-general"), bob).await.json);
        assert_eq!(one.json["context_window"], 128000);
        assert_wire_snapshot!("default_model", redact(&one.json, &["id"]));

        // Only the caller's own defaults count: the admin, a viewer and another org's admin have none.
        let (_, viewer) = s.user("victor", Role::Viewer);
        let viewer = Some(viewer.as_str());
        let (_, acme) = s.app.db.other_org(&s.admin, "acme");
        for key in [s.key(), viewer, Some(acme.as_str())] {
            assert_eq!(got(&s.app.get(&url("/default/general"), key).await), (200, Value::Null));
        }
        // A viewer's own default on a model the admin shared.
        let shared = id_of(&create(&s, s.key(), json!({
            "model_id": "shared", "model_provider": "openai", "model_name": "gpt-4o", "share_with_users": true
        })).await);
        let set = s.app.post(&url("/user-default"), viewer, json!({"config_type": "compact", "model_id": shared})).await;
        assert_eq!(set.status, 200, "{set:?}");
        let compact = s.app.get(&url("/default/compact"), viewer).await;
        assert_eq!(compact.json["model_id"], "shared");
        assert_eq!(flags(&compact.json), [false, false, false, true]);
        // No longer readable: no default.
        assert_eq!(s.app.put(&url("/shared"), s.key(), json!({"share_with_users": false})).await.status, 200);
        assert_eq!(got(&s.app.get(&url("/default/compact"), viewer).await), (200, Value::Null));
        // Inactive: no default.
        s.store().toggle_model(&s.admin, &ModelRef::Seq(sfx)).unwrap();
        assert_eq!(got(&s.app.get(&url("/default/sound_effect"), bob).await), (200, Value::Null));

        let missing = s.app.get(&url("/default/general"), None).await;
        assert_eq!(got(&missing), detail(401, "Not authenticated"));
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
        assert_eq!(got(&s.app.get(&url("/default/general"), Some("mg_not_a_key")).await), detail(401, "Invalid token"));
    }

    async fn sound_effect_and_music_defaults(db) {
        let s = setup(db).await;
        let sfx = id_of(&create(&s, s.key(), json!({
            "model_id": "sfx", "category": "sound_effect", "model_provider": "elevenlabs", "model_name": "sfx"
        })).await);
        let music = id_of(&create(&s, s.key(), json!({
            "model_id": "music", "category": "music", "model_provider": "elevenlabs", "model_name": "music"
        })).await);
        for (config_type, id) in [("sound_effect", sfx), ("music", music)] {
            let set = s.app.post(&url("/user-default"), s.key(), json!({"config_type": config_type, "model_id": id})).await;
            assert_eq!(set.status, 200, "{set:?}");
            assert_eq!((set.json["config_type"].clone(), set.json["model_id"].clone()), (json!(config_type), json!(id)));
        }
        let listed = s.app.get(&url("/user-default"), s.key()).await;
        let types: Vec<&str> = listed.json.as_array().unwrap().iter().map(|d| d["config_type"].as_str().unwrap()).collect();
        assert_eq!(types, ["music", "sound_effect"]);
        assert_eq!(got(&s.app.post(&url("/user-default"), s.key(), json!({"config_type": "music", "model_id": sfx})).await),
            detail(400, "Config type 'music' is incompatible with model category 'sound_effect'"));
        assert_eq!(got(&s.app.post(&url("/user-default"), s.key(), json!({"config_type": "sound_effect", "model_id": music})).await),
            detail(400, "Config type 'sound_effect' is incompatible with model category 'music'"));
        let unknown = s.app.post(&url("/user-default"), s.key(), json!({"config_type": "sfx", "model_id": sfx})).await;
        let message = "Invalid config_type: sfx. Valid types are: {'general', 'small_fast', 'visual', 'compact', 'embedding', 'image', 'image_edit', 'video', 'asr', 'tts', 'speech', 'sound_effect', 'music', 'rerank'}";
        assert_eq!(got(&unknown), (422, json!({"detail": [{
            "type": "value_error", "loc": ["body", "config_type"], "msg": format!("Value error, {message}"),
            "input": "sfx", "ctx": {"error": message}
        }]})));
    }

    async fn auto_router_is_not_available(db) {
        let s = setup(db).await;
        let (_, member) = s.user("bob", Role::Member);
        let (_, viewer) = s.user("victor", Role::Viewer);
        let (_, acme) = s.app.db.other_org(&s.admin, "acme");
        let unavailable = detail(503, "The Auto model router is not available in modelgate; choose a default model instead.");
        let save = json!({"fallback_model_id": 1, "set_as_default": true, "candidates": [{"target_model_id": 1, "routing_model_id": "gpt-4o"}]});
        for key in [s.key(), Some(member.as_str()), Some(viewer.as_str()), Some(acme.as_str())] {
            let config = s.app.get(&url("/auto-config"), key).await;
            assert_eq!(got(&config), (200, json!({"configured": false, "candidates": []})), "{key:?}");
            assert_eq!(got(&s.app.get(&url("/auto-config/profiles"), key).await), unavailable, "{key:?}");
            assert_eq!(got(&s.app.put(&url("/auto-config"), key, save.clone()).await), unavailable, "{key:?}");
        }
        let config = s.app.get(&url("/auto-config"), s.key()).await;
        assert_wire_snapshot!("auto_config", config.json);
        for response in [
            s.app.get(&url("/auto-config"), None).await,
            s.app.get(&url("/auto-config/profiles"), None).await,
            s.app.put(&url("/auto-config"), None, save.clone()).await,
        ] {
            assert_eq!(got(&response), detail(401, "Not authenticated"));
            assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        }
        assert_eq!(got(&s.app.put(&url("/auto-config"), Some("mg_not_a_key"), save).await), detail(401, "Invalid token"));

        // The fixed path wins over a model named like it, which /by-id/ still reaches.
        assert_eq!(create(&s, s.key(), minimal("auto-config")).await.status, 200);
        assert_eq!(s.app.get(&url("/auto-config"), s.key()).await.json["configured"], false);
        assert_eq!(s.app.get(&url("/by-id/auto-config"), s.key()).await.json["model_id"], "auto-config");
        assert_eq!(s.app.delete(&url("/auto-config"), s.key()).await.status, 405);
        assert_eq!(s.app.delete(&url("/by-id/auto-config"), s.key()).await.status, 200);
    }

    async fn provider_calls_need_the_servers_provider_client(db) {
        // Mounted alone, the dialect has no client to call providers with (the server's calls
        // are tested in the server's provider_calls tests); every caller is told so, after
        // authentication and the body's validation.
        let s = setup(db).await;
        let (_, member) = s.user("bob", Role::Member);
        let (_, viewer) = s.user("victor", Role::Viewer);
        let (_, acme) = s.app.db.other_org(&s.admin, "acme");
        let test_body = json!({
            "model_provider": "openai", "model_name": "gpt-4o", "api_key": "sk-test-000000000000",
            "base_url": "https://api.openai.com/v1", "category": "llm", "abilities": ["chat"]
        });
        let list_body = json!({"api_key": "sk-test-000000000000", "base_url": "https://api.openai.com/v1", "category": "llm"});
        let no_client = detail(501, "This server cannot call model providers.");
        for key in [s.key(), Some(member.as_str()), Some(viewer.as_str()), Some(acme.as_str())] {
            assert_eq!(got(&s.app.post(&url("/test-connection"), key, test_body.clone()).await), no_client, "{key:?}");
            assert_eq!(got(&s.app.post(&url("/providers/openai/models"), key, list_body.clone()).await), no_client, "{key:?}");
            let missing_key = s.app.post(&url("/providers/xinference/models"), key, json!({})).await;
            assert_eq!(missing_key.status, 422, "{key:?}");
        }
        // Authentication first, whatever the body.
        for response in [
            s.app.post(&url("/test-connection"), None, test_body.clone()).await,
            s.app.post(&url("/providers/openai/models"), None, list_body.clone()).await,
            s.app.send_raw(Method::POST, &url("/test-connection"), None, b"{broken".to_vec()).await,
        ] {
            assert_eq!(got(&response), detail(401, "Not authenticated"));
        }
        assert_eq!(got(&s.app.post(&url("/test-connection"), Some("mg_not_a_key"), test_body).await), detail(401, "Invalid token"));
        assert_eq!(got(&s.app.post(&url("/providers/openai/models"), Some("mg_not_a_key"), list_body).await), detail(401, "Invalid token"));
        // Nothing was stored, and the key never echoes.
        assert!(s.app.get(&url("/"), s.key()).await.json.as_array().unwrap().is_empty());
        // A fixed path: other methods are 405, a model of that name is reached through /by-id/.
        assert_eq!(s.app.get(&url("/test-connection"), s.key()).await.status, 405);
        assert_eq!(create(&s, s.key(), minimal("test-connection")).await.status, 200);
        assert_eq!(s.app.get(&url("/by-id/test-connection"), s.key()).await.json["model_id"], "test-connection");
    }
}
