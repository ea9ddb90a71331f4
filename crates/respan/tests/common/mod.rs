//! Shared set-up: an org with an admin, a member and a viewer, a second org, a small built-in
//! catalog, and the respan dialect mounted where the server mounts it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::{CatalogModel, Ctx, JsonMap, MapChange, ModelChange, Registry, Role};
use modelgate_http::app::mount;
use modelgate_respan::{Respan, configure};
use modelgate_testkit::{TestApp, TestDb, TestResponse};
use serde_json::{Value, json};

pub const MODIFY_HARDCODED: &str = "Cannot modify hardcoded models. They are synced from code and will be overwritten on next deployment. Only database-only models can be modified.";
pub const DELETE_HARDCODED: &str = "Cannot delete hardcoded models. They are synced from code and will be recreated on next deployment. Only database-only models can be deleted.";
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";

pub struct Env {
    pub app: TestApp,
    pub admin_ctx: Ctx,
    pub admin: String,
    pub member: String,
    pub member2: String,
    pub viewer: String,
    pub other: String,
    /// The caller org's integer id (Respan `organization_id`).
    pub org_seq: i64,
}

impl Env {
    pub fn admin(&self) -> Option<&str> {
        Some(self.admin.as_str())
    }
    pub fn member(&self) -> Option<&str> {
        Some(self.member.as_str())
    }
    pub fn member2(&self) -> Option<&str> {
        Some(self.member2.as_str())
    }
    pub fn viewer(&self) -> Option<&str> {
        Some(self.viewer.as_str())
    }
    pub fn other(&self) -> Option<&str> {
        Some(self.other.as_str())
    }
}

fn map(value: Value) -> JsonMap {
    match value {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    key: &str,
    display: &str,
    category: &str,
    context: i64,
    prices: [Option<f64>; 4],
    caps: Value,
) -> CatalogModel {
    CatalogModel {
        key: key.to_owned(),
        change: ModelChange {
            display_name: Some(Some(display.to_owned())),
            provider: Some(Some("openai".to_owned())),
            category: Some(Some(category.to_owned())),
            context_window: Some(Some(context)),
            input_cost: Some(prices[0]),
            output_cost: Some(prices[1]),
            cache_hit_input_cost: Some(prices[2]),
            cache_creation_input_cost: Some(prices[3]),
            capabilities: Some(MapChange::Set(Some(map(caps)))),
            ..Default::default()
        },
    }
}

/// The built-in models every test sees.
pub fn catalog() -> Vec<CatalogModel> {
    vec![
        builtin(
            "gpt-4",
            "GPT-4",
            "llm",
            8192,
            [Some(30.0), Some(60.0), None, None],
            json!({"streaming": true, "function_calling": true, "vision": false}),
        ),
        builtin(
            "openai/gpt-4o-mini",
            "GPT-4o mini",
            "llm",
            128000,
            [Some(0.15), Some(0.6), Some(0.075), None],
            json!({"streaming": true, "function_calling": true, "vision": true}),
        ),
        builtin(
            "text-embedding-3-small",
            "Text Embedding 3 Small",
            "embedding",
            8191,
            [Some(0.02), None, None, None],
            json!({"embedding": true}),
        ),
    ]
}

pub async fn env(db: TestDb) -> Env {
    env_at(db, "/respan").await
}

/// The dialect mounted at `prefix` (`""` is its own listener's root).
pub async fn env_at(db: TestDb, prefix: &'static str) -> Env {
    let (admin_ctx, admin) = db.bootstrap();
    db.store.sync_catalog(catalog()).unwrap();
    let (_, member) = db.user(&admin_ctx, "alice", Role::Member);
    let (_, member2) = db.user(&admin_ctx, "bob", Role::Member);
    let (_, viewer) = db.user(&admin_ctx, "victor", Role::Viewer);
    let (_, other) = db.other_org(&admin_ctx, "acme");
    let org_seq = db.store.get_org(&admin_ctx, &admin_ctx.actor.org_id).unwrap().seq;
    let app = TestApp::new(db, |cfg| {
        cfg.service(mount::<Respan>(prefix, configure));
    })
    .await;
    Env { app, admin_ctx, admin, member, member2, viewer, other, org_seq }
}

/// Asserts status and exact JSON body.
#[track_caller]
pub fn expect(response: &TestResponse, status: u16, body: Value) {
    assert_eq!((response.status, &response.json), (status, &body), "{response:?}");
}
