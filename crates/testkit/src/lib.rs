//! Test support for modelgate: every test gets its own real database.
//!
//! SQLite tests use a fresh file in a temporary directory. Postgres tests clone a migrated
//! template database (`CREATE DATABASE … TEMPLATE`), so each test has its own database however
//! many pooled connections the code under test opens. Postgres being unreachable fails the test:
//! a suite that silently skips proves nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
pub mod logs;
pub mod net;
pub mod openapi;
pub mod proxy;
pub mod statements;
pub mod tls;
pub mod upstream;

use std::sync::Arc;

use diesel::prelude::*;
use modelgate_core::{Actor, Ctx, NewUser, Registry, Role};
use modelgate_store::{Cipher, Store, StoreOptions};

pub use app::{TestApp, TestResponse};
pub use modelgate_store::Backend;
pub use proxy::HangingProxy;

/// The Postgres server tests use: `MODELGATE_TEST_DATABASE_URL`, by default the local one.
pub fn postgres_admin_url() -> String {
    std::env::var("MODELGATE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The secret key every test store uses.
pub const TEST_SECRET_KEY: [u8; 32] = [42; 32];

fn url_for_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

fn migrations_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for migration in entries {
        hasher.update(migration.file_name().unwrap().to_string_lossy().as_bytes());
        for file in ["up.sql", "down.sql"] {
            hasher.update(std::fs::read(migration.join(file)).unwrap_or_default());
        }
    }
    hex::encode(&hasher.finalize()[..8])
}

fn admin_connection() -> PgConnection {
    let url = postgres_admin_url();
    PgConnection::establish(&url).unwrap_or_else(|e| {
        panic!(
            "Postgres is required for this test and is not reachable at {url}: {e}. \
             Start it, or point MODELGATE_TEST_DATABASE_URL at one."
        )
    })
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .load::<Found>(conn)
        .map(|rows| !rows.is_empty())
        .unwrap()
}

/// The migrated template for the current migrations, created once by whichever test gets there
/// first (an advisory lock keeps the others waiting).
fn ensure_template(conn: &mut PgConnection) -> String {
    let name = format!("modelgate_tpl_{}", migrations_fingerprint());
    diesel::sql_query("SELECT pg_advisory_lock(7317001)").execute(conn).unwrap();
    if !database_exists(conn, &name) {
        let building = format!("{name}_building");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .execute(conn)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {building}")).execute(conn).unwrap();
        {
            let url = url_for_database(&postgres_admin_url(), &building);
            let store =
                Store::open(&url, Cipher::new(&TEST_SECRET_KEY), StoreOptions::default()).unwrap();
            store.migrate().unwrap();
        }
        // Renaming only after migrating means a crash never leaves a half-built template.
        diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
            .execute(conn)
            .unwrap();
    }
    diesel::sql_query("SELECT pg_advisory_unlock(7317001)").execute(conn).unwrap();
    name
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(String),
}

/// A fresh, migrated database and a store on it.
pub struct TestDb {
    pub store: Arc<Store>,
    pub url: String,
    cleanup: Cleanup,
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres(),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("modelgate.db").to_string_lossy().into_owned();
        let store = Self::open(&url);
        store.migrate().unwrap();
        Self { store: Arc::new(store), url, cleanup: Cleanup::Sqlite(dir) }
    }

    pub fn postgres() -> Self {
        let mut admin = admin_connection();
        let template = ensure_template(&mut admin);
        let name = format!("modelgate_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut admin)
            .unwrap();
        let url = url_for_database(&postgres_admin_url(), &name);
        let store = Self::open(&url);
        Self { store: Arc::new(store), url, cleanup: Cleanup::Postgres(name) }
    }

    /// A fresh Postgres database like [`TestDb::postgres`], whose `url` and `store` reach it
    /// through `proxy` (creating and dropping it does not).
    pub fn postgres_through(proxy: &HangingProxy) -> Self {
        let mut db = Self::postgres();
        db.url = proxy.url_through(&db.url);
        // The direct store has not connected yet (pools connect lazily); replace it.
        db.store = Arc::new(Self::open(&db.url));
        db
    }

    /// A second store on the same database: another replica (or the CLI beside a server).
    pub fn replica(&self) -> Arc<Store> {
        Arc::new(Self::open(&self.url))
    }

    /// A database with nothing in it: not even migrated.
    pub fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("empty.db").to_string_lossy().into_owned();
                Self { store: Arc::new(Self::open(&url)), url, cleanup: Cleanup::Sqlite(dir) }
            }
            Backend::Postgres => {
                let mut admin = admin_connection();
                let name = format!("modelgate_test_{}", uuid::Uuid::new_v4().simple());
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap();
                let url = url_for_database(&postgres_admin_url(), &name);
                Self { store: Arc::new(Self::open(&url)), url, cleanup: Cleanup::Postgres(name) }
            }
        }
    }

    fn open(url: &str) -> Store {
        // Enough connections for the concurrency tests' 16 writers plus readers.
        let options = StoreOptions { pool_size: 20, ..StoreOptions::default() };
        Store::open(url, Cipher::new(&TEST_SECRET_KEY), options).unwrap()
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Bootstraps org `default` with an admin; returns the admin's context and plaintext key.
    pub fn bootstrap(&self) -> (Ctx, String) {
        let done = self.store.bootstrap(None).unwrap().expect("fresh database bootstraps");
        let actor = self.store.authenticate(done.key.plaintext.expose()).unwrap().unwrap();
        (Ctx::new(actor, "test"), done.key.plaintext.expose().to_owned())
    }

    /// Creates a user with `role` in the admin's org (or another, for instance admins); returns
    /// its context (as seen through authentication) and plaintext key.
    pub fn user(&self, admin: &Ctx, id: &str, role: Role) -> (Ctx, String) {
        let user = self
            .store
            .create_user(
                admin,
                NewUser {
                    id: Some(id.to_owned()),
                    org_id: None,
                    name: id.to_owned(),
                    email: None,
                    role,
                },
            )
            .unwrap();
        self.key_for(admin, &user.id)
    }

    /// Issues a key for an existing user and authenticates with it.
    pub fn key_for(&self, admin: &Ctx, user_id: &str) -> (Ctx, String) {
        let issued =
            self.store.create_api_key(admin, Some(user_id.to_owned()), "test".into()).unwrap();
        let plaintext = issued.plaintext.expose().to_owned();
        (self.ctx_for_key(&plaintext), plaintext)
    }

    /// The context a key authenticates as right now (group memberships included).
    pub fn ctx_for_key(&self, key: &str) -> Ctx {
        let actor: Actor = self.store.authenticate(key).unwrap().expect("key authenticates");
        Ctx::new(actor, "test")
    }

    /// A second org with its own admin.
    pub fn other_org(&self, instance_admin: &Ctx, id: &str) -> (Ctx, String) {
        self.store.create_org(instance_admin, Some(id.to_owned()), id.to_owned()).unwrap();
        let admin_id = format!("{id}-admin");
        self.store
            .create_user(
                instance_admin,
                NewUser {
                    id: Some(admin_id.clone()),
                    org_id: Some(id.to_owned()),
                    name: admin_id.clone(),
                    email: None,
                    role: Role::Admin,
                },
            )
            .unwrap();
        let system = Ctx::new(Actor::system(id), "test");
        self.key_for(&system, &admin_id)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres(name) = &self.cleanup
            && let Ok(mut admin) = PgConnection::establish(&postgres_admin_url())
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// Runs each test once on SQLite and once on Postgres:
///
/// ```ignore
/// backend_tests! {
///     fn creates_a_model(db) { /* db: TestDb */ }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($(fn $name:ident($db:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(#[test] fn $name() { let $db = $crate::TestDb::sqlite(); $body })*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(#[test] fn $name() { let $db = $crate::TestDb::postgres(); $body })*
        }
    };
}

/// Replaces the value of every `*_at` key (at any depth) with `"[time]"`, and of every key in
/// `keys` with `"[redacted]"`, so snapshots pin shapes rather than clocks and generated ids.
pub fn redact(value: &serde_json::Value, keys: &[&str]) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k.ends_with("_at") && !v.is_null() {
                        Value::String("[time]".into())
                    } else if keys.contains(&k.as_str()) && !v.is_null() {
                        Value::String("[redacted]".into())
                    } else {
                        redact(v, keys)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, keys)).collect()),
        other => other.clone(),
    }
}

/// A JSON snapshot shared by the SQLite and Postgres runs of a test (so both backends must render
/// the same wire shape). Needs `insta` as a dev-dependency.
#[macro_export]
macro_rules! assert_wire_snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = ::insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.bind(|| ::insta::assert_json_snapshot!($name, $value));
    }};
}

/// Like [`backend_tests!`], for async tests (`#[actix_web::test]`):
///
/// ```ignore
/// backend_app_tests! {
///     async fn serves_a_route(db) { let app = TestApp::new(db, configure).await; /* … */ }
/// }
/// ```
#[macro_export]
macro_rules! backend_app_tests {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(#[::actix_web::test] async fn $name() { let $db = $crate::TestDb::sqlite(); $body })*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(#[::actix_web::test] async fn $name() { let $db = $crate::TestDb::postgres(); $body })*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::url_for_database;

    #[test]
    fn database_urls_swap_the_database_name() {
        assert_eq!(url_for_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            url_for_database("postgres://u@h/postgres?sslmode=require", "x"),
            "postgres://u@h/x?sslmode=require"
        );
    }
}
