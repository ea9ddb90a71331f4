//! `src/schema.rs` must describe exactly the tables the migrations create, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use modelgate_store::DbConn;
use modelgate_testkit::{TestDb, backend_tests};

/// table -> column -> (diesel type, nullable), read from the `table!` blocks of schema.rs.
fn declared() -> BTreeMap<String, BTreeMap<String, (String, bool)>> {
    let source = include_str!("../src/schema.rs");
    let mut tables = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_suffix('{').map(str::trim)
            && let Some((name, _)) = rest.split_once(' ')
            && rest.contains('(')
        {
            current = Some(name.to_owned());
            tables.insert(name.to_owned(), BTreeMap::new());
        } else if let (Some(table), Some((column, ty))) = (&current, line.split_once(" -> ")) {
            let ty = ty.trim_end_matches(',');
            let (ty, nullable) =
                match ty.strip_prefix("Nullable<").and_then(|t| t.strip_suffix('>')) {
                    Some(inner) => (inner, true),
                    None => (ty, false),
                };
            tables.get_mut(table).unwrap().insert(column.to_owned(), (ty.to_owned(), nullable));
        } else if line == "}" {
            current = None;
        }
    }
    tables
}

#[derive(QueryableByName)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Integer)]
    nullable: i32,
}

/// The diesel type each backend's column type maps to.
fn diesel_type(db_type: &str) -> &'static str {
    match db_type.to_ascii_lowercase().as_str() {
        "text" => "Text",
        "bigint" => "Int8",
        "integer" => "Int4",
        "boolean" => "Bool",
        "timestamp" | "timestamp without time zone" => "Timestamp",
        "double precision" | "double" => "Float8",
        _ => "unknown",
    }
}

fn actual(db: &TestDb) -> BTreeMap<String, BTreeMap<String, (String, bool)>> {
    let mut conn = db.store.connection().unwrap();
    let rows: Vec<ColumnInfo> = match &mut *conn {
        DbConn::Pg(pg) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             data_type::text AS data_type, CASE is_nullable WHEN 'YES' THEN 1 ELSE 0 END AS nullable \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name <> '__diesel_schema_migrations'",
        )
        .load(pg)
        .unwrap(),
        DbConn::Sqlite(sqlite) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
             CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 1 ELSE 0 END AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations'",
        )
        .load(sqlite)
        .unwrap(),
    };
    let mut tables: BTreeMap<String, BTreeMap<String, (String, bool)>> = BTreeMap::new();
    for row in rows {
        // SQLite's rowid alias must be INTEGER; it holds 64-bit values all the same.
        let mut ty = diesel_type(&row.data_type).to_owned();
        if row.data_type.eq_ignore_ascii_case("integer")
            && matches!(row.column_name.as_str(), "seq" | "id")
        {
            ty = "Int8".into();
        }
        tables.entry(row.table_name).or_default().insert(row.column_name, (ty, row.nullable == 1));
    }
    tables
}

backend_tests! {
    fn schema_rs_matches_the_migrated_database(db) {
        assert_eq!(actual(&db), declared());
    }
}

#[cfg(unix)]
#[test]
fn the_sqlite_file_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data/nested");
    let file = dir.join("modelgate.db");
    let store = modelgate_store::Store::open(
        file.to_str().unwrap(),
        modelgate_store::Cipher::new(&[3; 32]),
        modelgate_store::StoreOptions::default(),
    )
    .unwrap();
    store.migrate().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&root.path().join("data")), 0o700);
    assert_eq!(mode(&file), 0o600);
    // SQLite gives its write-ahead log the database file's permissions.
    let wal = dir.join("modelgate.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);
}

#[test]
fn sqlite_commits_are_durable_and_like_is_case_sensitive() {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Integer)]
        value: i32,
    }
    let db = TestDb::sqlite();
    let mut conn = db.store.connection().unwrap();
    let DbConn::Sqlite(sqlite) = &mut *conn else { panic!("an SQLite connection") };
    let synchronous: Setting =
        diesel::sql_query("SELECT synchronous AS value FROM pragma_synchronous")
            .get_result(sqlite)
            .unwrap();
    // 2 = FULL: the WAL is synced at every commit.
    assert_eq!(synchronous.value, 2);
    let like: Setting =
        diesel::sql_query("SELECT ('A' LIKE 'a') AS value").get_result(sqlite).unwrap();
    assert_eq!(like.value, 0);
}

/// SQLite's read caches survive a commit only when the registry's stamp stayed (see the
/// `registry_stamp` migration): every table but `usage_events` must replace it on every insert,
/// update and delete, or a change to that table would be served stale from another process's
/// cache. A table added (or rebuilt, which drops its triggers) without them fails here.
#[test]
fn every_sqlite_table_but_usage_replaces_the_registry_stamp_on_every_change() {
    #[derive(QueryableByName)]
    struct Named {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        sql: String,
    }
    #[derive(QueryableByName)]
    struct Stamp {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        stamp: i64,
    }
    let db = TestDb::sqlite();
    db.bootstrap();
    let mut conn = db.store.connection().unwrap();
    let DbConn::Sqlite(sqlite) = &mut *conn else { panic!("an SQLite connection") };
    let tables: Vec<Named> = diesel::sql_query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT IN ('__diesel_schema_migrations', 'usage_events', 'registry_stamp')",
    )
    .load(sqlite)
    .unwrap();
    let triggers: Vec<Named> =
        diesel::sql_query("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            .load(sqlite)
            .unwrap();
    assert!(tables.len() >= 13, "{} tables", tables.len());
    let bump = "UPDATE registry_stamp SET stamp = random() WHERE id = 1";
    for table in &tables {
        for kind in ["INSERT", "UPDATE", "DELETE"] {
            let on = format!("AFTER {kind} ON {}\n", table.name);
            assert!(
                triggers.iter().any(|t| t.sql.contains(&on) && t.sql.contains(bump)),
                "{}: no trigger replaces the registry stamp after {kind}",
                table.name
            );
        }
    }
    assert!(!triggers.iter().any(|t| t.sql.contains(bump) && t.sql.contains("ON usage_events")));
    // And they do: a usage row leaves the stamp, a change of a user replaces it.
    let stamp_of = |sqlite: &mut SqliteConnection| -> i64 {
        diesel::sql_query("SELECT stamp FROM registry_stamp")
            .get_result::<Stamp>(sqlite)
            .unwrap()
            .stamp
    };
    let before = stamp_of(sqlite);
    diesel::sql_query(
        "INSERT INTO usage_events (org_id, user_id, model_key, upstream_model, endpoint, stream, \
         prompt_tokens, completion_tokens, cached_tokens, latency_ms, status, at) \
         VALUES ('default', 'u', 'm', 'm', 'chat.completions', 0, 1, 1, 0, 1, 200, '2026-11-28 00:00:00')",
    )
    .execute(sqlite)
    .unwrap();
    assert_eq!(stamp_of(sqlite), before);
    assert!(diesel::sql_query("UPDATE users SET role = role").execute(sqlite).unwrap() > 0);
    assert_ne!(stamp_of(sqlite), before);
}
