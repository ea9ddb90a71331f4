//! Managed Postgres usually demands TLS: the bundled libpq must speak it (`sslmode=require`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::prelude::*;
use diesel::sql_types::Bool;
use modelgate_core::Registry;
use modelgate_store::{Cipher, DbConn, Store, StoreOptions};
use modelgate_testkit::{TestDb, postgres_admin_url};

#[derive(QueryableByName)]
struct Encrypted {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

#[test]
fn postgres_connections_can_require_tls() {
    let db = TestDb::postgres();
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", db.url);
    let store = Store::open(&url, Cipher::new(&[3; 32]), StoreOptions::default()).unwrap();
    store.ping().unwrap_or_else(|e| {
        panic!(
            "sslmode=require failed against {} (does the server offer TLS?): {e:?}",
            postgres_admin_url()
        )
    });
    let mut conn = store.connection().unwrap();
    let DbConn::Pg(pg) = &mut *conn else { panic!("expected Postgres") };
    let row: Encrypted =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(pg)
            .unwrap();
    assert!(row.ssl, "the connection is not encrypted");
}
