//! One connection type over Postgres and SQLite, its pool, migrations and write transactions.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{StoreError, StoreResult};
use crate::schema::models;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Runs `$body` on the backend's own connection, for statements the multi-backend cannot
/// express (multi-row inserts).
#[macro_export]
macro_rules! on_inner {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::conn::DbConn::Pg($c) => $body,
            $crate::conn::DbConn::Sqlite($c) => $body,
        }
    };
}

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://` and `postgresql://` select Postgres; anything else is an SQLite path.
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// The file path of an SQLite URL (`sqlite://path`, `sqlite:path` or a bare path).
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// Opens connections by URL scheme, with per-connection SQLite settings.
#[derive(Debug)]
pub struct Manager {
    url: String,
    backend: Backend,
}

impl Manager {
    pub fn new(url: &str) -> Self {
        let backend = Backend::of_url(url);
        let url = match backend {
            Backend::Postgres => pg_url_with_defaults(url),
            Backend::Sqlite => url.to_owned(),
        };
        Self { url, backend }
    }
}

/// libpq settings that make a database that stops answering visible to the operating system,
/// added to a Postgres URL that does not set them itself (the operator's choice wins; so does
/// `PGCONNECT_TIMEOUT`). The server's health monitor answers requests fast during a hang; these
/// bound how long a connection stays stuck in one:
/// - `connect_timeout`: a connection attempt (TCP and the startup handshake) gives up after 2 s
///   (libpq's minimum) instead of waiting for the kernel's SYN retries;
/// - keepalives: an idle connection to a vanished peer is closed after about 45 s, so the pool
///   never hands a dead one to a request;
/// - `tcp_user_timeout`: a query whose packets go unacknowledged for 15 s closes its connection
///   instead of retransmitting for up to 15 minutes. A slow query is unaffected: the server's
///   kernel acknowledges the packets whatever the query does.
const PG_DEFAULTS: &[(&str, &str)] = &[
    ("connect_timeout", "2"),
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "15000"),
];

pub(crate) fn pg_url_with_defaults(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let given: Vec<&str> =
        query.split('&').map(|pair| pair.split_once('=').map_or(pair, |(k, _)| k)).collect();
    let mut url = url.to_owned();
    for (key, value) in PG_DEFAULTS {
        if given.contains(key)
            || (*key == "connect_timeout" && std::env::var_os("PGCONNECT_TIMEOUT").is_some())
        {
            continue;
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(key);
        url.push('=');
        url.push_str(value);
    }
    url
}

// diesel prepares each statement once per connection. After five runs Postgres may switch it to a
// generic plan, costed with the statistics of that moment and kept for the life of the
// connection: a lookup first prepared while `models` held 60 rows went on scanning the whole
// table at 100,000 when nothing refreshed the statistics (autovacuum off, as on some managed and
// CI servers). Every statement here is an index lookup or an index-ordered page, so sequential
// scans are priced out: a generic plan made on a small table uses the index that serves it at
// any size. Planning every execution instead (`plan_cache_mode = force_custom_plan`) also
// solved it, but cost a GET by key three quarters of its throughput (measured with pgbench on
// the GET's statement: 3,300 against 15,300 statements/s).
const PG_SETUP: &str = "SET enable_seqscan = off";

// Foreign keys are off by default in SQLite; WAL lets readers run beside the one writer; the
// busy timeout makes a second process (the CLI beside a running server) wait instead of failing.
// `synchronous = FULL` syncs the write-ahead log at every commit, so an acknowledged write
// survives a power loss, not only a crash of the process (NORMAL may lose the last commits).
// LIKE is case-sensitive on Postgres: so it is here too (case-insensitive searches lowercase both
// sides themselves), or exact tag matches would ignore case on SQLite only.
const SQLITE_SETUP: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 15000; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA case_sensitive_like = ON;";

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(PG_SETUP).map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConn::Pg(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(sqlite_path(&self.url))
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_SETUP).map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

pub fn run_migrations(conn: &mut DbConn) -> StoreResult<usize> {
    let applied = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConn::Sqlite(c) => {
            sqlite_rebuilding(c, |c| c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()))?
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Reverts every migration (tests and `modelgate migrate --down-all`).
pub fn revert_all_migrations(conn: &mut DbConn) -> StoreResult<usize> {
    let reverted = match conn {
        DbConn::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConn::Sqlite(c) => {
            sqlite_rebuilding(c, |c| c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()))?
        }
    };
    reverted.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Reverts the newest migration (tests: a migration must carry existing rows down and up).
pub fn revert_last_migration(conn: &mut DbConn) -> StoreResult<()> {
    let reverted = match conn {
        DbConn::Pg(c) => c.revert_last_migration(PG_MIGRATIONS).map(drop),
        DbConn::Sqlite(c) => {
            sqlite_rebuilding(c, |c| c.revert_last_migration(SQLITE_MIGRATIONS).map(drop))?
        }
    };
    reverted.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Runs SQLite migrations the way SQLite's manual says tables are rebuilt: foreign keys off (they
/// cannot be switched inside a transaction, and dropping a parent table would otherwise cascade
/// into its children), each migration still in its own transaction, then every foreign key
/// checked before they are switched back on.
fn sqlite_rebuilding<T>(
    conn: &mut SqliteConnection,
    migrate: impl FnOnce(&mut SqliteConnection) -> T,
) -> StoreResult<T> {
    conn.batch_execute("PRAGMA foreign_keys = OFF")?;
    let outcome = migrate(conn);
    let dangling: QueryResult<i64> =
        diesel::select(sql::<BigInt>("(SELECT COUNT(*) FROM pragma_foreign_key_check)"))
            .get_result(conn);
    conn.batch_execute("PRAGMA foreign_keys = ON")?;
    match dangling? {
        0 => Ok(outcome),
        n => Err(StoreError::Migration(format!("{n} rows point at rows that do not exist"))),
    }
}

/// Runs `f` in a transaction that is ready to write. On SQLite it begins `IMMEDIATE`, taking the
/// write lock up front: a deferred transaction that reads first and writes later fails with
/// SQLITE_BUSY when another writer committed in between, instead of waiting.
pub fn write_tx<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    begin_write(conn)?;
    match f(conn) {
        Ok(value) => match DbConn::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(commit_error) => {
                // The commit failed: leave the connection out of the transaction either way.
                let _ = DbConn::rollback_transaction(conn);
                Err(commit_error.into())
            }
        },
        Err(error) => {
            DbConn::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

/// Begins the transaction [`write_tx`] runs in, for a caller that ends it itself.
pub fn begin_write(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

/// Locks a model row until the transaction ends. On SQLite the immediate transaction already
/// holds the database's write lock.
pub fn lock_model(conn: &mut DbConn, seq: i64) -> QueryResult<bool> {
    match conn {
        DbConn::Pg(pg) => models::table
            .find(seq)
            .select(models::seq)
            .for_update()
            .first::<i64>(pg)
            .optional()
            .map(|row| row.is_some()),
        DbConn::Sqlite(_) => Ok(true),
    }
}

/// Locks a provider row until the transaction ends (see [`lock_model`]).
pub fn lock_provider(conn: &mut DbConn, seq: i64) -> QueryResult<bool> {
    use crate::schema::providers;
    match conn {
        DbConn::Pg(pg) => providers::table
            .find(seq)
            .select(providers::seq)
            .for_update()
            .first::<i64>(pg)
            .optional()
            .map(|row| row.is_some()),
        DbConn::Sqlite(_) => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::pg_url_with_defaults;

    #[test]
    fn postgres_urls_get_timeouts_unless_they_set_them() {
        let plain = pg_url_with_defaults("postgres://u@h/db");
        assert!(plain.starts_with("postgres://u@h/db?connect_timeout="), "{plain}");
        assert!(plain.contains("&tcp_user_timeout=15000"), "{plain}");
        let chosen = pg_url_with_defaults("postgres://u@h/db?sslmode=require&tcp_user_timeout=0");
        assert!(chosen.starts_with("postgres://u@h/db?sslmode=require&tcp_user_timeout=0&"));
        assert_eq!(chosen.matches("tcp_user_timeout").count(), 1, "{chosen}");
        assert!(chosen.contains("&keepalives=1"), "{chosen}");
    }
}
