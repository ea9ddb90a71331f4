//! One registry, four views: for every ordered pair (A, B) of dialects, a model created through A
//! with every field A offers is the same model through B; an update through B changes exactly
//! what B shows and leaves what only A shows alone; permissions mean the same in both; a delete
//! through B removes it for A. On SQLite and on Postgres, through the real app.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use modelgate_core::{Ctx, ModelChange, ModelRef, ModelUpdate, Registry, Role};
use modelgate_server::app::configure_main;
use modelgate_testkit::{TestApp, TestDb, TestResponse, backend_app_tests};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum D {
    OpenWebUi,
    Xagent,
    Syft,
    Respan,
}

/// A model as one dialect shows it, in canonical terms: path → normalized value. Missing,
/// `null`, `""`, `[]` and `false` capabilities are all "absent" (no entry).
type Snapshot = BTreeMap<String, Value>;

struct World {
    app: TestApp,
    admin: String,
    admin_ctx: Ctx,
    /// The owner of the models under test.
    member: String,
    /// A member of the same org with no grant.
    stranger: String,
}

fn enc(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes()).collect()
}

fn epoch(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_i64().unwrap()),
        Value::String(s) => json!(chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()),
        other => panic!("not a time: {other}"),
    }
}

fn number(value: &Value) -> Value {
    json!(value.as_f64().unwrap())
}

/// Inserts a normalized value; "empty" values are left out so absent and empty compare equal.
fn put(snapshot: &mut Snapshot, path: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        snapshot.insert(path.to_owned(), value);
    }
}

fn put_capability(snapshot: &mut Snapshot, name: &str, present: bool) {
    if present {
        snapshot.insert(format!("capabilities.{name}"), json!(true));
    }
}

fn tags(list: impl IntoIterator<Item = String>) -> Value {
    Value::Array(list.into_iter().map(Value::String).collect())
}

impl D {
    /// Whether this dialect shows a canonical path.
    fn shows(self, path: &str) -> bool {
        let exact: &[&str] = match self {
            D::OpenWebUi => &[
                "key",
                "display_name",
                "base_model",
                "description",
                "tags",
                "is_active",
                "public",
                "created_at",
                "updated_at",
            ],
            D::Xagent => &[
                "key",
                "seq",
                "category",
                "provider",
                "base_model",
                "base_url",
                "params.temperature",
                "context_window",
                "dimension",
                "description",
                "is_active",
                "public",
                "created_at",
                "updated_at",
            ],
            D::Syft => &[
                "key",
                "uuid",
                "provider",
                "api_key",
                "base_model",
                "base_url",
                "params.system_prompt",
                "description",
                "tags",
                "created_at",
                "updated_at",
            ],
            D::Respan => &[
                "key",
                "display_name",
                "base_model",
                "category",
                "input_cost",
                "output_cost",
                "cache_hit_input_cost",
                "cache_creation_input_cost",
                "context_window",
                "capabilities.vision",
                "capabilities.function_calling",
                "capabilities.streaming",
                "provider_ref",
                "created_at",
                "updated_at",
            ],
        };
        let prefixes: &[&str] = match self {
            D::OpenWebUi => &["params.", "capabilities.", "openwebui."],
            D::Xagent => &["capabilities."],
            D::Syft => &["syft."],
            D::Respan => &["supported_params_override."],
        };
        exact.contains(&path) || prefixes.iter().any(|p| path.starts_with(p))
    }

    /// Status of a read of a model the caller may not see (same org, no grant).
    fn hidden_status(self) -> u16 {
        match self {
            // Open WebUI tells "not yours" (401) from "missing" (404).
            D::OpenWebUi => 401,
            _ => 404,
        }
    }

    /// Status of a read of a model that does not exist.
    fn missing_status(self) -> u16 {
        404
    }

    /// Status of an update the caller may read but not write.
    fn read_only_status(self) -> u16 {
        match self {
            D::OpenWebUi => 400,
            _ => 403,
        }
    }

    fn name(self) -> &'static str {
        match self {
            D::OpenWebUi => "openwebui",
            D::Xagent => "xagent",
            D::Syft => "syft",
            D::Respan => "respan",
        }
    }

    /// Creates `key` with every field this dialect offers, as the caller of `api_key`.
    async fn create(self, w: &World, api_key: &str, key: &str) -> TestResponse {
        let k = Some(api_key);
        match self {
            D::OpenWebUi => {
                w.app.post("/openwebui/api/models/create", k, json!({
                    "id": key, "name": "OW name", "base_model_id": "ow-base",
                    "params": {"temperature": 0.3, "max_tokens": 111, "top_p": 0.9},
                    "meta": {
                        "description": "ow description", "profile_image_url": "/ow.png",
                        "capabilities": {"vision": true, "json_mode": true, "citations": false},
                        "tags": [{"name": "ow"}, {"name": "shared"}],
                        "suggestion_prompts": [{"content": "hi"}]
                    },
                    "access_grants": [], "is_active": true
                })).await
            }
            D::Xagent => {
                w.app.post("/xagent/api/models/", k, json!({
                    "model_id": key, "category": "llm", "model_provider": "openai",
                    "model_name": "xa-base", "api_key": "sk-xagent-secret-123456",
                    "base_url": "https://xa.example/v1", "temperature": 0.4, "dimension": 768,
                    "abilities": ["chat", "vision", "tool_calling"], "description": "xa description",
                    "share_with_users": false
                })).await
            }
            D::Syft => {
                w.app.post("/syft/api/v1/models/", k, json!({
                    "name": key, "dtype": "openai",
                    "configuration": {
                        "api_key": "sk-syft-secret-abcd1234", "model": "sy-base",
                        "base_url": "https://sy.example/v1", "system_prompt": "You are syft.",
                        "organization": "org-syft"
                    },
                    "summary": "sy description", "tags": "syft,shared"
                })).await
            }
            D::Respan => {
                w.app.post("/respan/api/models/", k, json!({
                    "model_name": key, "display_name": "RS name", "base_model_name": "rs-base",
                    "model_type": "chat", "custom_provider_id": "matrix-provider",
                    "input_cost": 1.5, "output_cost": 3.0, "cache_hit_input_cost": 0.5,
                    "cache_creation_input_cost": 2.0, "max_context_window": 64000,
                    "streaming_support": 1, "function_call": 1, "image_support": 0,
                    "supported_params_override": {"temperature": {"min": 0, "max": 1}}
                })).await
            }
        }
    }

    /// Updates every field this dialect lets a client change (except the key) with new values.
    async fn update(self, w: &World, api_key: &str, key: &str) -> TestResponse {
        let k = Some(api_key);
        match self {
            D::OpenWebUi => {
                w.app
                    .post(
                        "/openwebui/api/models/model/update",
                        k,
                        json!({
                            "id": key, "name": "OW name 2",
                            "params": {"temperature": 0.6, "max_tokens": 222},
                            "meta": {
                                "description": "ow description 2", "profile_image_url": "/ow2.png",
                                "capabilities": {"vision": false, "json_mode": true},
                                "tags": [{"name": "ow2"}]
                            },
                            "is_active": true
                        }),
                    )
                    .await
            }
            D::Xagent => w
                .app
                .put(
                    &format!("/xagent/api/models/by-id/{key}"),
                    k,
                    json!({
                        "category": "llm", "model_provider": "anthropic", "model_name": "xa-base-2",
                        "base_url": "https://xa2.example/v1", "temperature": 0.9, "dimension": 1024,
                        "abilities": ["chat", "json_mode"], "description": "xa description 2"
                    }),
                )
                .await,
            D::Syft => {
                w.app
                    .patch(
                        &format!("/syft/api/v1/models/{}", enc(key)),
                        k,
                        json!({
                            "summary": "sy description 2", "tags": "syft2"
                        }),
                    )
                    .await
            }
            D::Respan => {
                w.app
                    .patch(
                        &format!("/respan/api/models/{key}/"),
                        k,
                        json!({
                            "display_name": "RS name 2", "input_cost": 2.5, "output_cost": 0,
                            "max_context_window": 128000, "image_support": 1, "function_call": 0,
                            "supported_params_override": {"top_p": {"min": 0}}
                        }),
                    )
                    .await
            }
        }
    }

    async fn delete(self, w: &World, api_key: &str, key: &str) -> TestResponse {
        let k = Some(api_key);
        match self {
            D::OpenWebUi => {
                w.app.post("/openwebui/api/models/model/delete", k, json!({"id": key})).await
            }
            D::Xagent => w.app.delete(&format!("/xagent/api/models/by-id/{key}"), k).await,
            D::Syft => w.app.delete(&format!("/syft/api/v1/models/{}", enc(key)), k).await,
            D::Respan => w.app.delete(&format!("/respan/api/models/{key}/"), k).await,
        }
    }

    /// Makes the model readable by the whole org, through this dialect where it has a way to.
    async fn share(self, w: &World, key: &str) {
        let admin = Some(w.admin.as_str());
        let status = match self {
            D::OpenWebUi => {
                w.app.post("/openwebui/api/models/model/access/update", admin, json!({
                    "id": key,
                    "access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]
                })).await.status
            }
            D::Xagent => {
                w.app.put(&format!("/xagent/api/models/by-id/{key}"), admin, json!({"share_with_users": true})).await.status
            }
            // Syft Space and Respan have no sharing of their own: share through the registry.
            D::Syft | D::Respan => {
                let change = ModelChange { public: Some(true), ..Default::default() };
                w.app.db.store.update_model(&w.admin_ctx, &ModelRef::Key(key.into()), ModelUpdate::patch(change)).unwrap();
                200
            }
        };
        assert_eq!(status, 200, "sharing through {}", self.name());
    }

    async fn fetch(self, w: &World, api_key: &str, key: &str) -> TestResponse {
        let k = Some(api_key);
        match self {
            D::OpenWebUi => {
                w.app.get(&format!("/openwebui/api/models/model?id={}", enc(key)), k).await
            }
            D::Xagent => w.app.get(&format!("/xagent/api/models/by-id/{key}"), k).await,
            D::Syft => w.app.get(&format!("/syft/api/v1/models/{}", enc(key)), k).await,
            D::Respan => w.app.get(&format!("/respan/api/models/{key}/"), k).await,
        }
    }

    /// Reads `key` and returns it in canonical terms.
    async fn read(self, w: &World, api_key: &str, key: &str) -> Snapshot {
        let response = self.fetch(w, api_key, key).await;
        assert_eq!(response.status, 200, "read through {}: {response:?}", self.name());
        self.snapshot(&response.json)
    }

    fn snapshot(self, m: &Value) -> Snapshot {
        let mut s = Snapshot::new();
        match self {
            D::OpenWebUi => {
                put(&mut s, "key", m["id"].clone());
                put(&mut s, "display_name", m["name"].clone());
                put(&mut s, "base_model", m["base_model_id"].clone());
                put(&mut s, "description", m["meta"]["description"].clone());
                let names = m["meta"]["tags"].as_array().map(|t| {
                    t.iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
                });
                put(&mut s, "tags", tags(names.unwrap_or_default()));
                for (k, v) in m["params"].as_object().unwrap() {
                    put(
                        &mut s,
                        &format!("params.{k}"),
                        if v.is_number() { number(v) } else { v.clone() },
                    );
                }
                for (k, v) in m["meta"]["capabilities"].as_object().cloned().unwrap_or_default() {
                    put_capability(&mut s, &k, v == json!(true));
                }
                for (k, v) in m["meta"].as_object().unwrap() {
                    if !["description", "capabilities", "tags"].contains(&k.as_str()) {
                        put(&mut s, &format!("openwebui.meta.{k}"), v.clone());
                    }
                }
                put(&mut s, "is_active", m["is_active"].clone());
                let public =
                    m["access_grants"].as_array().unwrap().iter().any(|g| g["principal_id"] == "*");
                if public {
                    s.insert("public".into(), json!(true));
                }
                put(&mut s, "created_at", epoch(&m["created_at"]));
                put(&mut s, "updated_at", epoch(&m["updated_at"]));
            }
            D::Xagent => {
                put(&mut s, "key", m["model_id"].clone());
                put(&mut s, "seq", m["id"].clone());
                put(&mut s, "category", m["category"].clone());
                put(&mut s, "provider", m["model_provider"].clone());
                put(&mut s, "base_model", m["model_name"].clone());
                put(&mut s, "base_url", m["base_url"].clone());
                if !m["temperature"].is_null() {
                    put(&mut s, "params.temperature", number(&m["temperature"]));
                }
                put(&mut s, "context_window", m["context_window"].clone());
                put(&mut s, "dimension", m["dimension"].clone());
                for ability in m["abilities"].as_array().cloned().unwrap_or_default() {
                    let name = match ability.as_str().unwrap() {
                        "tool_calling" => "function_calling",
                        "thinking_mode" => "reasoning",
                        other => other,
                    };
                    put_capability(&mut s, name, true);
                }
                put(&mut s, "description", m["description"].clone());
                put(&mut s, "is_active", m["is_active"].clone());
                if m["is_shared"] == json!(true) {
                    s.insert("public".into(), json!(true));
                }
                put(&mut s, "created_at", epoch(&m["created_at"]));
                put(&mut s, "updated_at", epoch(&m["updated_at"]));
            }
            D::Syft => {
                let c = &m["configuration"];
                put(&mut s, "key", m["name"].clone());
                put(&mut s, "uuid", m["id"].clone());
                put(&mut s, "provider", m["dtype"].clone());
                put(&mut s, "api_key", c["api_key"].clone());
                put(&mut s, "base_model", c["model"].clone());
                put(&mut s, "base_url", c["base_url"].clone());
                put(&mut s, "params.system_prompt", c["system_prompt"].clone());
                for (k, v) in c.as_object().unwrap() {
                    if !["api_key", "model", "base_url", "system_prompt"].contains(&k.as_str()) {
                        put(&mut s, &format!("syft.configuration.{k}"), v.clone());
                    }
                }
                put(&mut s, "description", m["summary"].clone());
                let list = m["tags"]
                    .as_str()
                    .unwrap()
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned);
                put(&mut s, "tags", tags(list));
                put(&mut s, "created_at", epoch(&m["created_at"]));
                put(&mut s, "updated_at", epoch(&m["updated_at"]));
            }
            D::Respan => {
                put(&mut s, "key", m["model_name"].clone());
                put(&mut s, "display_name", m["display_name"].clone());
                put(&mut s, "base_model", m["base_model_name"].clone());
                let category = match m["model_type"].as_str() {
                    Some("chat") => json!("llm"),
                    _ => m["model_type"].clone(),
                };
                put(&mut s, "category", category);
                for cost in [
                    "input_cost",
                    "output_cost",
                    "cache_hit_input_cost",
                    "cache_creation_input_cost",
                ] {
                    if !m[cost].is_null() {
                        put(&mut s, cost, number(&m[cost]));
                    }
                }
                put(&mut s, "context_window", m["max_context_window"].clone());
                put_capability(&mut s, "vision", m["image_support"] == json!(1));
                put_capability(&mut s, "function_calling", m["function_call"] == json!(1));
                put_capability(&mut s, "streaming", m["streaming_support"] == json!(1));
                for (k, v) in
                    m["supported_params_override"].as_object().cloned().unwrap_or_default()
                {
                    put(&mut s, &format!("supported_params_override.{k}"), v);
                }
                put(&mut s, "provider_ref", m["provider"]["provider_id"].clone());
                put(&mut s, "created_at", epoch(&m["created_at"]));
                put(&mut s, "updated_at", epoch(&m["updated_at"]));
            }
        }
        s
    }
}

async fn world(db: TestDb) -> World {
    let (admin_ctx, admin) = db.bootstrap();
    let (_, member) = db.user(&admin_ctx, "member", Role::Member);
    let (_, stranger) = db.user(&admin_ctx, "stranger", Role::Member);
    let app = TestApp::new(db, configure_main).await;
    let provider = app
        .post("/respan/api/providers/", Some(&admin), json!({"provider_id": "matrix-provider", "provider_name": "Matrix", "api_key": "sk-provider-key-0000"}))
        .await;
    assert_eq!(provider.status, 201, "{provider:?}");
    World { app, admin, admin_ctx, member, stranger }
}

/// The paths that matter for a comparison.
fn paths<'a>(snapshots: impl IntoIterator<Item = &'a Snapshot>) -> BTreeSet<String> {
    snapshots.into_iter().flat_map(|s| s.keys().cloned()).collect()
}

async fn pair(db: TestDb, a: D, b: D) {
    let w = world(db).await;
    let key = format!("matrix/{}-{}", a.name(), b.name());
    let label = format!("{} -> {}", a.name(), b.name());
    let member = w.member.clone();

    // Created through A with every field A offers.
    let created = a.create(&w, &member, &key).await;
    assert!(created.status == 200 || created.status == 201, "{label}: create {created:?}");
    let a0 = a.read(&w, &member, &key).await;
    let b0 = b.read(&w, &member, &key).await;
    // The same model through B: every field both show has the same value.
    for path in paths([&a0, &b0]) {
        if a.shows(&path) && b.shows(&path) {
            assert_eq!(
                a0.get(&path),
                b0.get(&path),
                "{label}: {path} differs between the two views"
            );
        }
    }

    // Updated through B.
    let updated = b.update(&w, &member, &key).await;
    assert_eq!(updated.status, 200, "{label}: update {updated:?}");
    let b1 = b.read(&w, &member, &key).await;
    let a1 = a.read(&w, &member, &key).await;
    for path in paths([&a0, &a1, &b1]) {
        if !a.shows(&path) {
            continue;
        }
        if b.shows(&path) {
            // A shared field shows B's value.
            assert_eq!(
                a1.get(&path),
                b1.get(&path),
                "{label}: {path} does not show {}'s value",
                b.name()
            );
        } else if path != "updated_at" {
            // What only A shows is exactly as A left it.
            assert_eq!(a1.get(&path), a0.get(&path), "{label}: {path} was changed by {}", b.name());
        }
    }
    assert_eq!(a1.get("created_at"), a0.get("created_at"), "{label}: created_at moved");

    // Permissions mean the same: the owner writes through B; another member sees nothing…
    let stranger = w.stranger.clone();
    assert_eq!(
        b.fetch(&w, &stranger, &key).await.status,
        b.hidden_status(),
        "{label}: hidden through B"
    );
    assert_eq!(
        a.fetch(&w, &stranger, &key).await.status,
        a.hidden_status(),
        "{label}: hidden through A"
    );
    // …until the model is shared with the org through A: then both read it and neither writes.
    a.share(&w, &key).await;
    assert_eq!(b.fetch(&w, &stranger, &key).await.status, 200, "{label}: shared, read through B");
    assert_eq!(a.fetch(&w, &stranger, &key).await.status, 200, "{label}: shared, read through A");
    assert_eq!(
        b.update(&w, &stranger, &key).await.status,
        b.read_only_status(),
        "{label}: shared is read-only through B"
    );
    assert_eq!(
        a.update(&w, &stranger, &key).await.status,
        a.read_only_status(),
        "{label}: shared is read-only through A"
    );
    if a.shows("public") && b.shows("public") {
        assert_eq!(a.read(&w, &member, &key).await.get("public"), Some(&json!(true)));
        assert_eq!(b.read(&w, &member, &key).await.get("public"), Some(&json!(true)));
    }

    // Deleted through B: gone through A.
    let deleted = b.delete(&w, &member, &key).await;
    assert!(deleted.status == 200 || deleted.status == 204, "{label}: delete {deleted:?}");
    assert_eq!(
        a.fetch(&w, &member, &key).await.status,
        a.missing_status(),
        "{label}: still there through A"
    );
}

backend_app_tests! {
    async fn openwebui_then_xagent(db) { pair(db, D::OpenWebUi, D::Xagent).await; }
    async fn openwebui_then_syft(db) { pair(db, D::OpenWebUi, D::Syft).await; }
    async fn openwebui_then_respan(db) { pair(db, D::OpenWebUi, D::Respan).await; }
    async fn xagent_then_openwebui(db) { pair(db, D::Xagent, D::OpenWebUi).await; }
    async fn xagent_then_syft(db) { pair(db, D::Xagent, D::Syft).await; }
    async fn xagent_then_respan(db) { pair(db, D::Xagent, D::Respan).await; }
    async fn syft_then_openwebui(db) { pair(db, D::Syft, D::OpenWebUi).await; }
    async fn syft_then_xagent(db) { pair(db, D::Syft, D::Xagent).await; }
    async fn syft_then_respan(db) { pair(db, D::Syft, D::Respan).await; }
    async fn respan_then_openwebui(db) { pair(db, D::Respan, D::OpenWebUi).await; }
    async fn respan_then_xagent(db) { pair(db, D::Respan, D::Xagent).await; }
    async fn respan_then_syft(db) { pair(db, D::Respan, D::Syft).await; }
}
