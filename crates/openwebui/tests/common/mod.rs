//! Shared set-up: an org with an admin, three members, a viewer and a group, and the real app
//! with the dialect mounted where the server mounts it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::{Ctx, NewGroup, Registry, Role};
use modelgate_http::app::mount;
use modelgate_openwebui::{OpenWebUi, configure};
use modelgate_testkit::{TestApp, TestDb, TestResponse};
use serde_json::{Value, json};

/// The seeds' path family under the main listener's prefix.
pub const API: &str = "/openwebui/api/models";
/// The family as Open WebUI's own frontend calls it.
pub const V1: &str = "/openwebui/api/v1/models";

pub struct World {
    pub app: TestApp,
    pub admin_ctx: Ctx,
    pub admin: String,
    /// Member, owns most test models.
    pub alice: String,
    /// Member of group `developers`.
    pub bob: String,
    /// Member with no grants at all.
    pub carol: String,
    /// Viewer.
    pub victor: String,
}

pub async fn world(db: TestDb) -> World {
    let (admin_ctx, admin) = db.bootstrap();
    let (_, alice) = db.user(&admin_ctx, "alice", Role::Member);
    let (_, bob) = db.user(&admin_ctx, "bob", Role::Member);
    let (_, carol) = db.user(&admin_ctx, "carol", Role::Member);
    let (_, victor) = db.user(&admin_ctx, "victor", Role::Viewer);
    db.store
        .create_group(
            &admin_ctx,
            NewGroup {
                id: Some("developers".into()),
                name: "Developers".into(),
                description: None,
                member_ids: vec!["bob".into()],
            },
        )
        .unwrap();
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<OpenWebUi>("/openwebui", configure));
    })
    .await;
    World { app, admin_ctx, admin, alice, bob, carol, victor }
}

/// A minimal valid create body.
pub fn model_body(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "params": {}, "meta": {}})
}

impl World {
    pub async fn create(&self, key: &str, body: Value) -> TestResponse {
        let response = self.app.post(&format!("{API}/create"), Some(key), body).await;
        assert_eq!(response.status, 200, "{response:?}");
        response
    }

    pub async fn get(&self, key: &str, id: &str) -> TestResponse {
        self.app.get(&format!("{API}/model?id={}", encode(id)), Some(key)).await
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A `{"detail": …}` body.
pub fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

/// Status and body together, for one assert.
pub fn answer(response: &TestResponse) -> (u16, Value) {
    (response.status, response.json.clone())
}

/// A grant as the dialect renders it (both key pairs).
pub fn grant(kind: &str, id: &str, permission: &str) -> Value {
    json!({
        "access_type": kind, "access_id": id,
        "principal_type": kind, "principal_id": id,
        "permission": permission,
    })
}

pub fn store(world: &World) -> &dyn Registry {
    world.app.db.store.as_ref()
}
