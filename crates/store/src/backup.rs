//! Backups of an SQLite database: a consistent copy taken while it is in use, and putting one
//! back. Postgres has its own tools (`pg_dump`, `pg_restore`).

use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::conn::{DbConn, sqlite_path};
use crate::error::{StoreError, StoreResult};
use crate::{Backend, Store};

/// Why a Postgres database is not backed up or restored here.
pub const POSTGRES_TOOLS: &str =
    "this database is Postgres: back it up with pg_dump and restore it with pg_restore";

impl Store {
    /// Writes a consistent copy of the SQLite database to `path`, which must not exist, while
    /// the database stays in use (`VACUUM INTO` reads one snapshot).
    pub fn backup_to(&self, path: &Path) -> StoreResult<()> {
        if path.exists() {
            return Err(StoreError::Config(format!("{} exists already", path.display())));
        }
        let mut conn = self.connection()?;
        match &mut *conn {
            DbConn::Sqlite(sqlite) => {
                diesel::sql_query("VACUUM INTO ?")
                    .bind::<Text, _>(path.to_string_lossy())
                    .execute(sqlite)?;
                Ok(())
            }
            DbConn::Pg(_) => Err(StoreError::Config(POSTGRES_TOOLS.into())),
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut SqliteConnection, sql: &str) -> QueryResult<i64> {
    diesel::sql_query(sql).get_result::<Count>(conn).map(|c| c.n)
}

/// Puts the SQLite backup `backup` in place of the database at `url`. The backup must be a
/// modelgate database; a database that holds users is replaced only when `replace` is set (stop
/// every server on it first). Its write-ahead log goes too: applied to the restored file, it
/// would corrupt it. Migrations then bring an older backup up to date when the store opens it.
pub fn restore_sqlite(backup: &Path, url: &str, replace: bool) -> StoreResult<()> {
    if Backend::of_url(url) == Backend::Postgres {
        return Err(StoreError::Config(POSTGRES_TOOLS.into()));
    }
    let not_ours = || StoreError::Config(format!("{} is not a modelgate backup", backup.display()));
    let backup_text = backup.to_string_lossy();
    if !backup.is_file() {
        return Err(not_ours());
    }
    let mut source = SqliteConnection::establish(&backup_text).map_err(|_| not_ours())?;
    let tables = "SELECT COUNT(*) AS n FROM sqlite_schema WHERE type = 'table' \
                  AND name IN ('__diesel_schema_migrations', 'orgs', 'users', 'models')";
    if count(&mut source, tables).map_err(|_| not_ours())? != 4 {
        return Err(not_ours());
    }
    drop(source);

    let target = Path::new(sqlite_path(url));
    if target.exists() && !replace {
        let mut existing = SqliteConnection::establish(&target.to_string_lossy())
            .map_err(|e| StoreError::Config(format!("{}: {e}", target.display())))?;
        let has_users = "SELECT COUNT(*) AS n FROM sqlite_schema WHERE type = 'table' \
                         AND name = 'users'";
        if count(&mut existing, has_users)? == 1
            && count(&mut existing, "SELECT COUNT(*) AS n FROM users")? > 0
        {
            return Err(StoreError::Config(format!(
                "{} holds data already: stop every server using it and pass --replace",
                target.display()
            )));
        }
    }
    let io = |e: std::io::Error| StoreError::Config(format!("{}: {e}", target.display()));
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::create_private_dir(dir).map_err(io)?;
    }
    // Copied beside the target and renamed over it, so a crash leaves the old or the new file.
    let staged = target.with_extension("restoring");
    std::fs::copy(backup, &staged).map_err(io)?;
    #[cfg(unix)]
    std::fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io)?;
    std::fs::File::open(&staged).and_then(|f| f.sync_all()).map_err(io)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
    }
    std::fs::rename(&staged, target).map_err(io)?;
    Ok(())
}
