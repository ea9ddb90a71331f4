//! Knowing when cached reads may be served: an epoch that moves whenever the database may have
//! changed, in this process or in any other on the same database.
//!
//! SQLite: `PRAGMA data_version`, read on a connection of its own, changes as soon as another
//! connection — of this process or another one, such as the CLI beside a server — has committed.
//! Reading it is a look at the shared WAL index, not a query of the tables, so every cached read
//! checks it first and a cache never outlives a commit.
//!
//! Postgres: nothing cheaper than a round trip can tell a replica, strictly, that another one
//! committed. `LISTEN`/`NOTIFY` is asynchronous: in our own tests a replica often read before the
//! notification of a change acknowledged by the other had reached it. So on Postgres this epoch
//! is not used: a cached entry is checked by the request's one statement instead, against what
//! moves with every change of it (a model row's `xmin`, the identity version), which costs the
//! database an index lookup instead of reading and aggregating the rows again (see the store's
//! `get_model_checked`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::sqlite::Sqlite;

use crate::conn::{Backend, sqlite_path};

pub(crate) struct Freshness {
    epoch: AtomicU64,
    watch: Mutex<Watch>,
    url: String,
}

enum Watch {
    Sqlite {
        conn: Option<SqliteConnection>,
        seen: i64,
    },
    /// Nothing tells this store about changes strictly (Postgres; an in-memory SQLite database,
    /// which is per connection): caches are never used.
    Blind,
}

impl Freshness {
    pub(crate) fn new(backend: Backend, url: &str) -> Self {
        let watch = match backend {
            Backend::Sqlite if sqlite_path(url) != ":memory:" => {
                Watch::Sqlite { conn: None, seen: 0 }
            }
            _ => Watch::Blind,
        };
        Self { epoch: AtomicU64::new(0), watch: Mutex::new(watch), url: url.to_owned() }
    }

    /// The epoch caches may be trusted at, after taking in every commit made so far; `None`
    /// when changes cannot be seen (caches must be bypassed then).
    pub(crate) fn current(&self) -> Option<u64> {
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        let Watch::Sqlite { conn, seen } = &mut *watch else { return None };
        match sqlite_changed(conn, seen, &self.url) {
            Some(false) => {}
            Some(true) => self.moved(),
            None => {
                self.moved();
                return None;
            }
        }
        Some(self.epoch.load(Ordering::Acquire))
    }

    /// The epoch as last seen, without looking for news: what a cache entry is checked against.
    pub(crate) fn seen(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Something changed (a write of this store ended, or a commit was seen).
    pub(crate) fn moved(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// Whether another connection committed since the last look (`None`: it cannot be told).
fn sqlite_changed(conn: &mut Option<SqliteConnection>, seen: &mut i64, url: &str) -> Option<bool> {
    if conn.is_none() {
        *conn = SqliteConnection::establish(sqlite_path(url)).ok();
    }
    let version: Option<i64> = conn.as_mut().and_then(|c| DataVersion.get_result(c).ok());
    let Some(version) = version else {
        *conn = None;
        return None;
    };
    let changed = version != *seen;
    *seen = version;
    Some(changed)
}

/// `PRAGMA data_version`, as a statement the connection keeps prepared: it runs before every
/// cached read, and diesel parses `sql()` and `sql_query` text anew on each call. The pragma
/// itself, not its table-valued form (`pragma_data_version`), which prepares the pragma again
/// inside every step.
#[derive(Debug, Clone, Copy, QueryId)]
struct DataVersion;

impl QueryFragment<Sqlite> for DataVersion {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("PRAGMA data_version");
        Ok(())
    }
}

impl Query for DataVersion {
    type SqlType = BigInt;
}

impl RunQueryDsl<SqliteConnection> for DataVersion {}
