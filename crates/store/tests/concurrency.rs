//! Concurrent partial updates of one model must all survive (rule 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use modelgate_core::{MapChange, ModelChange, ModelRef, ModelUpdate, NewModel, Registry};
use modelgate_store::Store;
use modelgate_testkit::{TestDb, backend_tests};
use serde_json::json;

const THREADS: usize = 16;
const ROUNDS: i64 = 50;

/// Thread `t`'s change in round `i`: each thread owns one field.
fn change(t: usize, i: i64) -> ModelChange {
    let s = Some(format!("v{i}"));
    let f = Some(i as f64);
    let n = Some(i);
    let map =
        |i: i64| Some(MapChange::Set(Some(json!({ "round": i }).as_object().unwrap().clone())));
    let mut c = ModelChange::default();
    match t {
        0 => c.display_name = Some(s),
        1 => c.description = Some(s),
        2 => c.tags = Some(vec![format!("v{i}")]),
        3 => c.provider = Some(s),
        4 => c.base_model = Some(s),
        5 => c.category = Some(s),
        6 => c.base_url = Some(s),
        7 => c.input_cost = Some(f),
        8 => c.output_cost = Some(f),
        9 => c.cache_hit_input_cost = Some(f),
        10 => c.cache_creation_input_cost = Some(f),
        11 => c.context_window = Some(n),
        12 => c.dimension = Some(n),
        13 => c.params = map(i),
        14 => c.capabilities = map(i),
        15 => c.supported_params_override = map(i),
        _ => unreachable!(),
    }
    c
}

/// Sixteen threads, each writing its own field of one model fifty times, spread over `stores`
/// (replicas on one database).
fn sixteen_writers_fifty_rounds(db: &TestDb, stores: &[Arc<Store>]) {
    let (admin, _) = db.bootstrap();
    let created = db
        .store
        .create_model(&admin, NewModel { key: "hot".into(), change: ModelChange::default() })
        .unwrap();
    let reference = ModelRef::Key("hot".into());
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&stores[t % stores.len()]);
            let (ctx, reference) = (admin.clone(), reference.clone());
            std::thread::spawn(move || {
                for i in 1..=ROUNDS {
                    store.update_model(&ctx, &reference, ModelUpdate::patch(change(t, i))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let model = db.store.get_model(&admin, &reference).unwrap().model;
    let f = &model.fields;
    let last = format!("v{ROUNDS}");
    let round = json!({ "round": ROUNDS }).as_object().unwrap().clone();
    assert_eq!(f.display_name.as_deref(), Some(last.as_str()));
    assert_eq!(f.description.as_deref(), Some(last.as_str()));
    assert_eq!(f.tags, vec![last.clone()]);
    assert_eq!(f.provider.as_deref(), Some(last.as_str()));
    assert_eq!(f.base_model.as_deref(), Some(last.as_str()));
    assert_eq!(f.category.as_deref(), Some(last.as_str()));
    assert_eq!(f.base_url.as_deref(), Some(last.as_str()));
    assert_eq!(f.pricing.input, Some(ROUNDS as f64));
    assert_eq!(f.pricing.output, Some(ROUNDS as f64));
    assert_eq!(f.pricing.cache_hit_input, Some(ROUNDS as f64));
    assert_eq!(f.pricing.cache_creation_input, Some(ROUNDS as f64));
    assert_eq!(f.context_window, Some(ROUNDS));
    assert_eq!(f.dimension, Some(ROUNDS));
    assert_eq!(f.params, round);
    assert_eq!(f.capabilities.as_ref(), Some(&round));
    assert_eq!(f.supported_params_override.as_ref(), Some(&round));
    let writes = THREADS as i64 * ROUNDS;
    assert_eq!(model.version, created.model.version + writes);
    let history = db.store.model_history(&admin, model.uuid).unwrap();
    assert_eq!(history.iter().filter(|e| e.action == "update").count() as i64, writes);
    // Versions in the trail are a gapless sequence: no two writers saw the same state.
    let mut versions: Vec<i64> =
        history.iter().filter_map(|e| e.after.as_ref()?["version"].as_i64()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=1 + writes).collect::<Vec<_>>());
}

backend_tests! {
    fn concurrent_partial_updates_all_survive(db) {
        sixteen_writers_fifty_rounds(&db, &[Arc::clone(&db.store)]);
    }

    // Each replica's writers take turns among themselves and write on condition that the row
    // is as they know it; the other replica's writes make that condition fail, and the write
    // is then made under the row lock. Nothing may be lost either way.
    fn concurrent_partial_updates_from_two_replicas_all_survive(db) {
        let replica = db.replica();
        sixteen_writers_fifty_rounds(&db, &[Arc::clone(&db.store), replica]);
    }
}

/// Postgres: updates of one model queued behind a running one commit together, and one of them
/// failing loses none of the others. A trigger holds the update that sets description `hold`
/// long enough for the others to queue, and refuses any update that sets description `boom`.
mod batches {
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    use modelgate_core::Ctx;

    use super::*;

    const QUEUED: usize = 14;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn with_trigger() -> (TestDb, Ctx, PgConnection) {
        let db = TestDb::postgres();
        let (admin, _) = db.bootstrap();
        db.store
            .create_model(&admin, NewModel { key: "hot".into(), change: ModelChange::default() })
            .unwrap();
        let mut pg = PgConnection::establish(&db.url).unwrap();
        pg.batch_execute(
            "CREATE FUNCTION test_hold_or_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.description = 'hold' AND OLD.description IS DISTINCT FROM 'hold' THEN
                 PERFORM pg_sleep(1);
               END IF;
               IF NEW.description = 'boom' THEN RAISE EXCEPTION 'refused by the test'; END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER test_hold_or_refuse BEFORE UPDATE ON models
               FOR EACH ROW EXECUTE FUNCTION test_hold_or_refuse();",
        )
        .unwrap();
        (db, admin, pg)
    }

    /// The held update, then (once it is running) one thread per change; each thread's result.
    fn held_then(
        db: &TestDb,
        admin: &Ctx,
        changes: Vec<ModelChange>,
    ) -> Vec<Result<(), modelgate_core::DomainError>> {
        let update = |change: ModelChange| {
            let (store, ctx) = (Arc::clone(&db.store), admin.clone());
            std::thread::spawn(move || {
                let hot = ModelRef::Key("hot".into());
                store.update_model(&ctx, &hot, ModelUpdate::patch(change)).map(|_| ())
            })
        };
        let held = update(described("hold"));
        std::thread::sleep(Duration::from_millis(300));
        let queued: Vec<_> = changes.into_iter().map(update).collect();
        held.join().unwrap().unwrap();
        queued.into_iter().map(|t| t.join().unwrap()).collect()
    }

    fn described(description: &str) -> ModelChange {
        ModelChange { description: Some(Some(description.into())), ..ModelChange::default() }
    }

    /// Changes of fields other than the description, one per queued thread.
    fn changes() -> Vec<ModelChange> {
        (2..2 + QUEUED).map(|t| change(t, 7)).collect()
    }

    #[test]
    fn queued_updates_share_one_commit() {
        let (db, admin, mut pg) = with_trigger();
        for result in held_then(&db, &admin, changes()) {
            result.unwrap();
        }
        // Rows written by one transaction carry its id: the held update's, then the queued
        // ones' (one batch, or two if one thread queued late).
        let transactions: Count = diesel::sql_query(
            "SELECT count(DISTINCT xmin::text)::bigint AS n FROM audit_events
             WHERE action = 'update'",
        )
        .get_result(&mut pg)
        .unwrap();
        assert!(transactions.n <= 3, "{QUEUED} queued updates took {} commits", transactions.n - 1);
        let model = db.store.get_model(&admin, &ModelRef::Key("hot".into())).unwrap().model;
        assert_eq!(model.fields.pricing.input, Some(7.0));
        assert_eq!(
            model.fields.supported_params_override.map(|o| o["round"].clone()),
            Some(7.into())
        );
        let history = db.store.model_history(&admin, model.uuid).unwrap();
        assert_eq!(history.iter().filter(|e| e.action == "update").count(), 1 + QUEUED);
    }

    #[test]
    fn a_failing_update_in_a_batch_loses_none_of_the_others() {
        let (db, admin, _pg) = with_trigger();
        let mut changes = changes();
        changes.insert(QUEUED / 2, described("boom"));
        let results = held_then(&db, &admin, changes);
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.is_err(), i == QUEUED / 2, "update {i}: {result:?}");
        }
        let model = db.store.get_model(&admin, &ModelRef::Key("hot".into())).unwrap().model;
        let f = &model.fields;
        assert_eq!(f.description.as_deref(), Some("hold"));
        assert_eq!(f.tags, vec!["v7".to_string()]);
        assert_eq!(f.pricing.output, Some(7.0));
        assert_eq!(f.context_window, Some(7));
        assert_eq!(
            f.supported_params_override.as_ref().map(|o| o["round"].clone()),
            Some(7.into())
        );
        let history = db.store.model_history(&admin, model.uuid).unwrap();
        assert_eq!(history.iter().filter(|e| e.action == "update").count(), 1 + QUEUED);
    }
}
