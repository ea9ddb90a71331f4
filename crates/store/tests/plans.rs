//! Plans that age well: a statement a connection prepared while the table was small must not
//! keep a plan made for a small table once it has grown, even when nothing refreshes the
//! statistics (autovacuum off, as on some managed and CI servers). Postgres only: SQLite plans
//! from its indexes, not from statistics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::prelude::*;
use diesel::sql_types::Text;
use modelgate_core::{
    Column, Condition, Ctx, ModelChange, ModelQuery, ModelRef, ModelUpdate, NewModel, Op,
    PageRequest, Registry, Sort, Value,
};
use modelgate_store::{Cipher, DbConn, Store, StoreOptions};
use modelgate_testkit::{TEST_SECRET_KEY, TestDb};

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    text: String,
}

#[derive(QueryableByName)]
struct Prepared {
    #[diesel(sql_type = Text)]
    name: String,
}

fn pg(conn: &mut DbConn) -> &mut PgConnection {
    match conn {
        DbConn::Pg(pg) => pg,
        DbConn::Sqlite(_) => panic!("a Postgres test"),
    }
}

/// A Postgres database and a store of one connection on it, so that the statements a test makes
/// it prepare are the ones it looks at afterwards.
fn one_connection() -> (TestDb, Store) {
    let db = TestDb::postgres();
    let options = StoreOptions { pool_size: 1, ..StoreOptions::default() };
    let store = Store::open(&db.url, Cipher::new(&TEST_SECRET_KEY), options).unwrap();
    (db, store)
}

/// [`one_connection`] with the bootstrap admin (and its key) and a model `hot`.
fn one_connection_with_a_model() -> (TestDb, Store, Ctx, String) {
    let (db, store) = one_connection();
    let (admin, key) = db.bootstrap();
    store
        .create_model(&admin, NewModel { key: "hot".into(), change: ModelChange::default() })
        .unwrap();
    (db, store, admin, key)
}

/// The names of the statements the store's one connection keeps prepared whose text matches
/// `condition` (on `statement`).
fn prepared_where(store: &Store, condition: &str) -> Vec<String> {
    let mut conn = store.connection().unwrap();
    let sql = format!("SELECT name FROM pg_prepared_statements WHERE {condition}");
    let prepared: Vec<Prepared> = diesel::sql_query(sql).load(pg(&mut conn)).unwrap();
    prepared.into_iter().map(|p| p.name).collect()
}

/// Custom models `{prefix}1` … `{prefix}{count}` of org `default` straight into the table (no
/// audit, no statistics refreshed); `created_at` is an SQL expression of the row's number `n`.
fn add_custom_models(conn: &mut PgConnection, prefix: &str, count: u32, created_at: &str) {
    diesel::sql_query(format!(
        "INSERT INTO models (uuid, org_id, key, source, tags, params, extra, is_active, \
         public_read, created_at, updated_at, version) \
         SELECT gen_random_uuid()::text, 'default', '{prefix}' || n, 'custom', '[]', '{{}}', \
         '{{}}', TRUE, FALSE, {created_at}, now(), 1 FROM generate_series(1, {count}) AS n"
    ))
    .execute(conn)
    .unwrap();
}

#[test]
fn a_statement_prepared_on_a_small_table_uses_an_index_once_it_has_grown() {
    let (db, store) = one_connection();
    let (admin, _) = db.bootstrap();
    {
        let mut conn = store.connection().unwrap();
        diesel::sql_query("ALTER TABLE models SET (autovacuum_enabled = off)")
            .execute(pg(&mut conn))
            .unwrap();
    }
    for i in 0..60 {
        store
            .create_model(&admin, NewModel { key: format!("m{i}"), change: ModelChange::default() })
            .unwrap();
    }
    let mut conn = store.connection().unwrap();
    diesel::sql_query("ANALYZE models").execute(pg(&mut conn)).unwrap();
    drop(conn);
    // Enough executions for Postgres to settle on a generic plan, were it allowed to: a listing
    // filtered by key counts its rows with a statement whose generic plan scans the table.
    let patch = |i: usize| {
        let change = ModelChange { description: Some(Some(format!("v{i}"))), ..Default::default() };
        ModelUpdate::patch(change)
    };
    let by_key = ModelQuery::default().filter(Condition::column(
        Column::Key,
        Op::Eq,
        Value::Text("m1".into()),
    ));
    for i in 0..10 {
        store.update_model(&admin, &ModelRef::Key("m1".into()), patch(i)).unwrap();
        assert_eq!(store.list_models(&admin, &by_key).unwrap().total, 1);
    }

    let mut conn = store.connection().unwrap();
    let conn = pg(&mut conn);
    add_custom_models(conn, "grown-", 100_000, "now()");
    // The same connection, the same prepared statement: how would it run now?
    let lookup: Prepared = diesel::sql_query(
        "SELECT name FROM pg_prepared_statements WHERE statement LIKE \
         'SELECT COUNT(*) FROM \"models\"%'",
    )
    .get_result(conn)
    .expect("the key lookup of the write path is a prepared statement");
    let plan: Vec<Line> =
        diesel::sql_query(format!("EXPLAIN EXECUTE {}('default', 'm1')", lookup.name))
            .load(conn)
            .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|l| l.text).collect();
    assert!(!plan.iter().any(|l| l.contains("Seq Scan")), "{plan:#?}");
}

#[test]
fn authentication_a_model_read_and_its_check_are_parsed_once_per_connection() {
    let (_db, store, admin, key) = one_connection_with_a_model();
    for _ in 0..3 {
        assert!(store.authenticate(&key).unwrap().is_some());
        store.get_model(&admin, &ModelRef::Key("hot".into())).unwrap();
    }
    let prepared = prepared_where(
        &store,
        "statement LIKE '%FROM group_members gm%' OR statement LIKE '%FROM model_grants g%' \
         OR statement LIKE '%xmin%'",
    );
    // Without a kept statement, each call is parsed and planned anew: none would be listed. The
    // third is the light check of the cached model (the reads after the first).
    assert_eq!(prepared.len(), 3, "{prepared:?}");
}

#[test]
fn a_model_with_its_endpoints_and_their_check_are_parsed_once_per_connection() {
    let (_db, store, admin, _) = one_connection_with_a_model();
    for _ in 0..3 {
        store.get_model_with_endpoints(&admin, &ModelRef::Key("hot".into())).unwrap();
    }
    let prepared = prepared_where(&store, "statement LIKE '%FROM endpoints e %'");
    // The endpoints' stamp read with their list (the first call), and the light check of the
    // model with its endpoints (the calls after it).
    assert_eq!(prepared.len(), 2, "{prepared:?}");
}

#[test]
fn an_update_of_a_cached_model_is_parsed_once_per_connection() {
    let (_db, store, admin, _) = one_connection_with_a_model();
    let hot = ModelRef::Key("hot".into());
    for i in 0..4 {
        let change = ModelChange { description: Some(Some(format!("v{i}"))), ..Default::default() };
        store.update_model(&admin, &hot, ModelUpdate::patch(change)).unwrap();
    }
    let prepared = prepared_where(&store, "statement LIKE 'WITH written AS (UPDATE%'");
    // Diesel parses its own UPDATE statements anew on every call: none would be listed.
    assert_eq!(prepared.len(), 1, "{prepared:?}");
}

#[test]
fn a_listing_page_is_read_in_index_order_not_sorted() {
    let (db, store) = one_connection();
    let (admin, _) = db.bootstrap();
    {
        let mut conn = store.connection().unwrap();
        add_custom_models(pg(&mut conn), "bulk-", 50_000, "now() - n * interval '1 second'");
        diesel::sql_query("ANALYZE models").execute(pg(&mut conn)).unwrap();
    }
    // Open WebUI's listing: the org's custom models, newest first, the second page of 30.
    let mut query = ModelQuery::custom_only();
    query.sort = vec![Sort::desc(Column::CreatedAt)];
    query.page = Some(PageRequest { offset: 30, limit: 30 });
    let page = store.list_models(&admin, &query).unwrap();
    assert_eq!((page.total, page.items[0].model.key.as_str()), (50_000, "bulk-31"));

    let mut conn = store.connection().unwrap();
    let conn = pg(&mut conn);
    let statement: Prepared = diesel::sql_query(
        "SELECT name FROM pg_prepared_statements \
         WHERE statement LIKE 'SELECT \"models\".\"seq\" FROM \"models\"%LIMIT%'",
    )
    .get_result(conn)
    .expect("the page's statement is prepared");
    let plan: Vec<Line> = diesel::sql_query(format!(
        "EXPLAIN EXECUTE {}('default', 'custom', 30, 30)",
        statement.name
    ))
    .load(conn)
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|l| l.text).collect();
    assert!(plan.iter().any(|l| l.contains("models_org_newest")), "{plan:#?}");
    assert!(!plan.iter().any(|l| l.trim_start().starts_with("Sort")), "{plan:#?}");
}

/// An unpaged list in key order (`/v1/models`) reads the org's custom models in batches after
/// the last key read. On a table grown by 50,000 models that nothing analyzed, the batch's
/// shape must still be an ordered index range, not a read of every model after the cursor and
/// a sort (which made 100,000 models take 14 s).
#[test]
fn a_key_ordered_batch_on_a_table_grown_without_statistics_is_an_index_range() {
    let (db, store) = one_connection();
    let (admin, _) = db.bootstrap();
    let mut pooled = store.connection().unwrap();
    let conn = pg(&mut pooled);
    diesel::sql_query("ALTER TABLE models SET (autovacuum_enabled = off)").execute(conn).unwrap();
    add_custom_models(conn, "bulk-", 50_000, "now()");
    // The store has one connection.
    drop(pooled);
    let batch = store
        .scan_model_entries(
            &admin,
            &ModelQuery { sort: vec![Sort::asc(Column::Key)], ..Default::default() },
            None,
            1000,
        )
        .unwrap();
    assert_eq!(batch.len(), 1000);
    let mut pooled = store.connection().unwrap();
    let conn = pg(&mut pooled);
    // The batch after the cursor `bulk-5000`, as the store's scan writes it.
    let plan: Vec<Line> = diesel::sql_query(
        "EXPLAIN SELECT key, seq FROM models \
         WHERE org_id = 'default' AND source = 'custom' AND key >= 'bulk-5000' \
         AND (key > 'bulk-5000' OR (key = 'bulk-5000' AND seq > 0)) \
         ORDER BY key, seq LIMIT 1000",
    )
    .load(conn)
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|l| l.text).collect();
    assert!(plan.iter().any(|l| l.contains("models_org_source_key")), "{plan:#?}");
    assert!(!plan.iter().any(|l| l.contains("Sort")), "{plan:#?}");
}
