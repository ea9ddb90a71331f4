//! Listing totals: an admin's unfiltered listing reads its total from the counts the database's
//! triggers keep (`model_counts`), not from counting rows. Those counts must agree with the rows
//! after every kind of insert and delete, per org and per source.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::RunQueryDsl;
use modelgate_core::{
    CatalogModel, Column, Condition, Ctx, ModelChange, ModelQuery, ModelRef, NewModel, Op,
    PageRequest, Registry, Source, UpsertModel, Value,
};
use modelgate_testkit::{TestDb, backend_tests};

/// The totals of `ctx`'s listings, each read both ways: from the kept counts, and by counting
/// rows (a condition every model meets takes the listing off the kept counts).
fn totals(db: &TestDb, ctx: &Ctx) -> Vec<(i64, i64)> {
    let every_row = Condition::column(Column::Seq, Op::Gt, Value::Int(0));
    let page = Some(PageRequest { offset: 0, limit: 1 });
    [None, Some(Source::Custom), Some(Source::Builtin)]
        .into_iter()
        .map(|source| {
            let kept = ModelQuery { source, page, ..ModelQuery::default() };
            let counted = kept.clone().filter(every_row.clone());
            let total = |q: &ModelQuery| db.store.list_models(ctx, q).unwrap().total;
            (total(&kept), total(&counted))
        })
        .collect()
}

fn assert_agree(db: &TestDb, ctx: &Ctx, custom: i64, builtin: i64) {
    assert_eq!(
        totals(db, ctx),
        vec![(custom + builtin, custom + builtin), (custom, custom), (builtin, builtin)]
    );
}

fn new(key: &str) -> NewModel {
    NewModel { key: key.into(), change: ModelChange::default() }
}

backend_tests! {
    fn kept_counts_agree_with_the_rows_after_every_change(db) {
        let (admin, _) = db.bootstrap();
        let (other, _) = db.other_org(&admin, "acme");
        let builtin = db.store.list_models(&admin, &ModelQuery { source: Some(Source::Builtin), ..ModelQuery::default() }).unwrap().total;
        assert_agree(&db, &admin, 0, builtin);

        db.store.create_model(&admin, new("a")).unwrap();
        db.store.create_model(&admin, new("b")).unwrap();
        db.store.create_model(&other, new("a")).unwrap();
        let upsert = |key: &str| UpsertModel { key: key.into(), replace: None, change: ModelChange::default() };
        // An import that updates one model and creates two.
        db.store.import_models(&admin, vec![upsert("a"), upsert("c"), upsert("d")]).unwrap();
        assert_agree(&db, &admin, 4, builtin);
        assert_agree(&db, &other, 1, builtin);

        db.store.delete_model(&admin, &ModelRef::Key("b".into())).unwrap();
        assert_agree(&db, &admin, 3, builtin);

        // The catalog shrinks to one model: every org sees it.
        let one = vec![CatalogModel { key: "only-builtin".into(), change: ModelChange::default() }];
        db.store.sync_catalog(one).unwrap();
        assert_agree(&db, &admin, 3, 1);
        assert_agree(&db, &other, 1, 1);

        db.store.delete_org_models(&admin).unwrap();
        assert_agree(&db, &admin, 0, 1);
        assert_agree(&db, &other, 1, 1);

        // The kept counts are what answered: skewing one shows in the listing that reads it.
        let mut conn = db.store.connection().unwrap();
        diesel::sql_query("UPDATE model_counts SET total = total + 1000 WHERE org_id = 'acme'")
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(totals(&db, &other), vec![(1002, 2), (1001, 1), (1, 1)]);
    }
}
