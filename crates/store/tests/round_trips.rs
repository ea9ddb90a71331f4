//! What a read costs in statements sent to the database: one for the caller, one for a model,
//! and none at all on SQLite when nothing was committed since they were cached (one light
//! check on Postgres). One test in this binary, since the statement count is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::gateway::{Tokens, UsageGroup, UsageQuery, UsageRecord};
use modelgate_core::identity::hash_api_key;
use modelgate_core::{
    Ctx, DomainResult, FromMemory, ModelChange, ModelQuery, ModelRef, ModelUpdate, NewModel,
    PageRequest, Registry,
};
use modelgate_store::Backend;
use modelgate_testkit::TestDb;
use modelgate_testkit::statements::{self, sent_by as statements_of};

fn reads_cost(backend: Backend) {
    let db = TestDb::new(backend);
    let (admin, key) = db.bootstrap();
    let model = ModelRef::Key("m".into());
    db.store
        .create_model(&admin, NewModel { key: "m".into(), change: ModelChange::default() })
        .unwrap();
    let again = usize::from(backend == Backend::Postgres);

    assert_eq!(statements_of(|| db.store.authenticate(&key).unwrap().unwrap()), 1, "{backend:?}");
    assert_eq!(statements_of(|| db.store.get_model(&admin, &model).unwrap()), 1, "{backend:?}");
    assert_eq!(
        statements_of(|| db.store.authenticate(&key).unwrap().unwrap()),
        again,
        "{backend:?}"
    );
    let hits = db.store.cache_hits().1;
    assert_eq!(statements_of(|| db.store.get_model(&admin, &model).unwrap()), again, "{backend:?}");
    assert!(db.store.cache_hits().1 > hits, "{backend:?}: the model came from the cache");
    if backend == Backend::Postgres {
        // A remembered caller and a cached model: one light statement checks both.
        let hits = db.store.cache_hits();
        let remembered = db.store.remembered_caller(&key, "test").unwrap();
        let read = || db.store.get_model(&remembered, &model).unwrap();
        assert_eq!(statements_of(read), 1);
        assert!(remembered.unconfirmed.as_ref().unwrap().is_confirmed());
        assert!(db.store.cache_hits().0 > hits.0 && db.store.cache_hits().1 > hits.1);
        // On a blocking thread, with no check awaited before, a read does not wait for the
        // shared check: its light statement reads the snapshot itself (after a write, what such
        // reads mostly follow, the check would only find a new generation and the statement
        // would follow anyway). One statement, no check.
        let read = || {
            let remembered = db.store.remembered_caller(&key, "test").unwrap();
            db.store.get_model(&remembered, &model).unwrap();
            assert!(remembered.unconfirmed.as_ref().unwrap().is_confirmed());
        };
        assert_eq!(sent_and_checks(read), (1, 0), "a blocking read waits for no shared check");
        // The same read on an async worker: the shared check awaited, then answered from
        // memory alone.
        let read = |r: &dyn Registry| {
            let remembered = r.remembered_caller(&key, "test").unwrap();
            r.get_model(&remembered, &model)?;
            Ok(remembered.unconfirmed.as_ref().unwrap().is_confirmed())
        };
        assert_eq!(from_memory(&db, read), Some(true));
        // Tried before any check: what it found cached needs the check's answer, and it gives
        // up without waiting for one or sending anything.
        let tried = tried_from_memory(&db, None, true, read);
        assert_eq!((tried.outcome, tried.sent, tried.checks), (FromMemory::NeedsCheck, 0, 0));
        // A model never read here is not in memory: tried first, it needs the database, not the
        // check, so the read goes to a blocking thread without waiting for one.
        db.store
            .create_model(&admin, NewModel { key: "cold".into(), change: ModelChange::default() })
            .unwrap();
        let cold = |r: &dyn Registry| r.get_model(&admin, &ModelRef::Key("cold".into()));
        let tried = tried_from_memory(&db, None, true, cold);
        assert_eq!((tried.outcome, tried.sent, tried.checks), (FromMemory::NeedsDatabase, 0, 0));
        // With a check answered before (a model the read found cached, gone from the cache
        // since), the blocking run takes that answer instead of waiting for another.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut answer = None;
        keep_trying(|| {
            answer = runtime.block_on(db.store.shared_check().unwrap());
            answer.is_some()
        });
        // Awaited on an async worker, the check is made there, on a connection of the worker's
        // own (crates/store/src/worker_checks.rs), not by the check thread through diesel.
        let by_thread = statements::snapshot_checks_by(|| {
            // Asked on the runtime, as a worker asks (asked outside one, above, the check
            // thread answers).
            assert!(runtime.block_on(async { db.store.shared_check().unwrap().await }).is_some());
        });
        assert_eq!(by_thread, 0, "a worker's check was made by the check thread");
        let tried = tried_from_memory(&db, Some(answer), true, cold);
        assert_eq!((tried.outcome, tried.sent, tried.checks), (FromMemory::NeedsDatabase, 0, 0));
        let blocking = tried_from_memory(&db, Some(answer), false, cold);
        assert_eq!(blocking.outcome, FromMemory::Answered);
        assert!(blocking.result.unwrap().is_ok());
        assert_eq!((blocking.sent, blocking.checks), (1, 0), "no second check");
        // What that read found is known current at the awaited check: next time, from memory.
        assert!(from_memory(&db, cold).is_some());
    }
    if backend == Backend::Sqlite {
        // No shared check: a try from memory alone looks at SQLite's commits itself (a read of
        // shared memory, fit for an async worker) and serves a cached model with no statement.
        assert!(db.store.shared_check().is_none());
        let get = |r: &dyn Registry| r.get_model(&admin, &model).map(|v| v.model.version);
        let (tried, looks) = sqlite_from_memory(&db, get);
        assert_eq!((tried.outcome, tried.sent, looks), (FromMemory::Answered, 0, 1));
        let version = tried.result.unwrap().unwrap();
        // The look at `data_version` before each cached read is a statement kept prepared.
        let prepared = statements::data_version_prepared();
        assert!(prepared >= 1, "data_version is parsed anew on every read");
        for _ in 0..3 {
            db.store.get_model(&admin, &model).unwrap();
        }
        assert_eq!(statements::data_version_prepared(), prepared, "prepared again");
        // A GET with a remembered caller looks once, for the caller and the model together.
        let remembered = db.store.remembered_caller(&key, "test").unwrap();
        let looks = statements::data_version_looks_by(|| {
            db.store.get_model(&remembered, &model).unwrap();
        });
        assert_eq!(looks, 1);
        assert!(remembered.unconfirmed.unwrap().is_confirmed());
        // A commit by another connection, unknown to this store's caches: the look sees it,
        // and the try gives up having sent nothing; the blocking run reads the new row.
        let mut conn = db.store.connection().unwrap();
        let bumped = "UPDATE models SET version = version + 1 WHERE key = 'm'";
        diesel::RunQueryDsl::execute(diesel::sql_query(bumped), &mut *conn).unwrap();
        let (tried, _) = sqlite_from_memory(&db, get);
        assert_eq!((tried.outcome, tried.sent), (FromMemory::NeedsDatabase, 0));
        let blocking = tried_from_memory(&db, None, false, get);
        assert_eq!(blocking.outcome, FromMemory::Answered);
        assert_eq!(blocking.result.unwrap().unwrap(), version + 1);
        let (tried, _) = sqlite_from_memory(&db, get);
        assert_eq!(
            (tried.outcome, tried.result.unwrap().unwrap()),
            (FromMemory::Answered, version + 1)
        );
    }
    // A gateway call's route: the model and its base (not a registry model here, which is
    // remembered too). Once cached, SQLite serves both after one look at its commits, Postgres
    // after one light statement for both.
    let routed = ModelChange {
        base_url: Some(Some("http://127.0.0.1:9/v1".into())),
        base_model: Some(Some("served-name".into())),
        ..Default::default()
    };
    db.store.create_model(&admin, NewModel { key: "routed".into(), change: routed }).unwrap();
    db.store.upstream(&admin, "routed").unwrap();
    let mut sent = 0;
    let looks = statements::data_version_looks_by(|| {
        sent = statements_of(|| db.store.upstream(&admin, "routed").unwrap());
    });
    match backend {
        Backend::Sqlite => assert_eq!((looks, sent), (1, 0)),
        Backend::Postgres => {
            assert_eq!(sent, 1);
            // Again on a blocking thread: the light statement, no shared check.
            let call = || db.store.upstream(&admin, "routed").unwrap();
            assert_eq!(sent_and_checks(call), (1, 0));
            let routed = |r: &dyn Registry| r.upstream(&admin, "routed").map(|u| u.upstream_model);
            assert_eq!(from_memory(&db, routed).as_deref(), Some("served-name"));
        }
    }
    // A catalog model costs the same, through the org's scope.
    let builtin = ModelRef::Key("builtin-model".into());
    assert!(statements_of(|| db.store.get_model(&admin, &builtin).is_err()) == 1, "{backend:?}");
    // A one-field update. SQLite: begin, find, lock and read the row with its grants, write
    // it, its audit row, commit. Postgres, with the model cached: the write with its audit row,
    // on condition that the row is still the one cached, as one statement that commits itself.
    let patch = |text: &str| {
        ModelUpdate::patch(ModelChange {
            description: Some(Some(text.into())),
            ..Default::default()
        })
    };
    let update = |text: &str| db.store.update_model(&admin, &model, patch(text)).unwrap();
    db.store.get_model(&admin, &model).unwrap();
    let write = if backend == Backend::Postgres { 1 } else { 5 };
    assert_eq!(statements_of(|| update("d")), write, "{backend:?}");
    // SQLite: a write ends what was cached, the next read goes to the database once. Postgres:
    // the model just written is what is cached, checked by one light statement.
    let hits = db.store.cache_hits().1;
    assert_eq!(statements_of(|| db.store.get_model(&admin, &model).unwrap()), 1, "{backend:?}");
    assert_eq!(db.store.cache_hits().1 > hits, backend == Backend::Postgres);
    // Nothing to change: begin, find and lock and read, commit (a cached model is not trusted
    // to say so).
    assert_eq!(statements_of(|| update("d")), 3, "{backend:?}");
    if backend == Backend::Postgres {
        // Not cached (the locked way above leaves nothing cached): read once, then written.
        assert_eq!(statements_of(|| update("e")), 2);
        // A remembered caller is checked by the same one statement, and confirmed by it.
        let remembered = db.store.remembered_caller(&key, "test").unwrap();
        let updated = || db.store.update_model(&remembered, &model, patch("f")).unwrap();
        assert_eq!(statements_of(updated), 1);
        assert!(remembered.unconfirmed.as_ref().unwrap().is_confirmed());
        assert_eq!(
            db.store.get_model(&admin, &model).unwrap().model.fields.description.as_deref(),
            Some("f")
        );
    }
    metering_cost(&db, &admin, &key, backend);
    // A batch of usage rows is not a change of the registry. SQLite: what was cached is still
    // served from memory after it committed. Postgres: the commit moves the shared check's
    // generation, and the cached model is checked by its one light statement, as before it.
    db.store.get_model(&admin, &model).unwrap();
    let cached = statements_of(|| db.store.get_model(&admin, &model).unwrap());
    db.store.record_usage(vec![(admin.clone(), usage_of(0, None))]).unwrap();
    let hits = db.store.cache_hits().1;
    let mut sent = 0;
    let stamps = statements::stamp_reads_by(|| {
        sent = statements_of(|| db.store.get_model(&admin, &model).unwrap());
    });
    // SQLite's look saw the commit and read the registry's stamp, which had not moved.
    assert_eq!((sent, stamps), (cached, usize::from(backend == Backend::Sqlite)), "{backend:?}");
    assert_eq!(cached, usize::from(backend == Backend::Postgres));
    assert!(db.store.cache_hits().1 > hits, "{backend:?}: the model came from the cache");
    // A page of a listing: its total (kept by triggers), its models' seqs in order, then their
    // rows, each with its grants. A batch of a scan: its rows with their grants.
    let page = ModelQuery {
        page: Some(PageRequest { offset: 0, limit: 30 }),
        ..ModelQuery::custom_only()
    };
    assert_eq!(statements_of(|| db.store.list_models(&admin, &page).unwrap()), 3, "{backend:?}");
    if backend == Backend::Postgres {
        // A remembered caller: one statement more to confirm it, which also makes it current at
        // the shared check's generation; then none while nothing commits.
        let list = || {
            let remembered = db.store.remembered_caller(&key, "test").unwrap();
            db.store.list_models(&remembered, &page).unwrap();
            assert!(remembered.unconfirmed.as_ref().unwrap().is_confirmed());
        };
        assert_eq!(statements_of(list), 4);
        assert_eq!(sent_when_warm(3, list), 3);
    }
    let scan = || db.store.scan_models(&admin, &ModelQuery::custom_only(), None, 100).unwrap();
    assert_eq!(statements_of(scan), 1, "{backend:?}");
}

/// The statements `read` sends and the shared snapshot checks it waits for.
fn sent_and_checks<T>(read: impl Fn() -> T) -> (usize, usize) {
    let mut checks = 0;
    let sent = statements_of(|| checks = statements::snapshot_checks_by(&read));
    (sent, checks)
}

/// Postgres: repeats `read` until one of its runs sends no more than `warm` statements of its
/// own, and returns what that run sent, or what the last one sent. Each run waits for one
/// shared snapshot check; the tests running beside this one commit in the same server, and a
/// commit between two checks rightly costs the next run one light statement more, so a few runs
/// may be needed (see [`keep_trying`]).
fn sent_when_warm<T>(warm: usize, read: impl Fn() -> T) -> usize {
    let mut sent = usize::MAX;
    keep_trying(|| {
        let mut checks = 0;
        sent = statements_of(|| checks = statements::snapshot_checks_by(&read));
        assert_eq!(checks, 1, "one shared check per read");
        if sent <= warm {
            return true;
        }
        assert_eq!(sent, warm + 1, "a changed snapshot costs one light statement");
        false
    });
    sent
}

/// Runs `attempt` until it succeeds, for up to 30 seconds: the Postgres server is shared with
/// the other tests, whose commits can keep the shared check finding something committed for a
/// while, so tries are spaced rather than counted.
fn keep_trying(mut attempt: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !attempt() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// What a read given to [`Registry::read_prechecked`] did.
struct Tried<T> {
    outcome: FromMemory,
    result: Option<DomainResult<T>>,
    /// Statements it sent, and shared checks it waited for.
    sent: usize,
    checks: usize,
}

fn tried_from_memory<T>(
    db: &TestDb,
    answer: Option<Option<u64>>,
    memory_only: bool,
    read: impl Fn(&dyn Registry) -> DomainResult<T>,
) -> Tried<T> {
    let (mut outcome, mut result, mut checks) = (FromMemory::NeedsDatabase, None, 0);
    let sent = statements_of(|| {
        checks = statements::snapshot_checks_by(|| {
            outcome =
                db.store.read_prechecked(answer, memory_only, &mut |r| result = Some(read(r)));
        })
    });
    Tried { outcome, result, sent, checks }
}

/// SQLite: `read` tried from memory alone, as an async worker tries it, with the looks at the
/// database's commits it made.
fn sqlite_from_memory<T>(
    db: &TestDb,
    read: impl Fn(&dyn Registry) -> DomainResult<T>,
) -> (Tried<T>, usize) {
    let mut tried = None;
    let looks = statements::data_version_looks_by(|| {
        tried = Some(tried_from_memory(db, None, true, read));
    });
    (tried.unwrap(), looks)
}

/// Postgres: `read` as an async worker makes it — the shared check awaited, then the read tried
/// from memory alone — repeated until a try is answered (see [`keep_trying`] for why a few may
/// be needed); no try may send a statement or wait for another check. What the answered try
/// read, or `None` when none was.
fn from_memory<T: std::fmt::Debug>(
    db: &TestDb,
    read: impl Fn(&dyn Registry) -> DomainResult<T>,
) -> Option<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let mut answered = None;
    keep_trying(|| {
        let answer = runtime.block_on(db.store.shared_check().unwrap());
        if answer.is_none() {
            // The check failed: nothing can be served from memory.
            return false;
        }
        let tried = tried_from_memory(db, Some(answer), true, &read);
        assert_eq!((tried.sent, tried.checks), (0, 0), "a try from memory used the database");
        if tried.outcome == FromMemory::Answered {
            answered = Some(tried.result.unwrap().unwrap());
        }
        answered.is_some()
    });
    answered
}

/// Metered call `n` (a key's hash when given).
fn usage_of(n: i64, key_hash: Option<String>) -> UsageRecord {
    UsageRecord {
        key_hash,
        model_key: format!("metered-{}", n % 2),
        upstream_model: "up".into(),
        endpoint: "chat.completions",
        tokens: Tokens { prompt: n, completion: 1, cached: 0 },
        cost: (n % 2 == 0).then_some(0.5),
        latency_ms: n,
        ttft_ms: (n % 4 == 0).then_some(1),
        status: if n == 7 { 502 } else { 200 },
        stream: n % 5 == 0,
        at: chrono::Utc::now(),
    }
}

/// A batch of metered calls costs a few statements however many calls it holds (one insert on
/// Postgres, a few of fixed sizes on SQLite, each key's id looked up once), and every call is in
/// it.
fn metering_cost(db: &TestDb, admin: &Ctx, key: &str, backend: Backend) {
    let call = |n: i64| (admin.clone(), usage_of(n, (n % 3 != 0).then(|| hash_api_key(key))));
    let few = statements_of(|| db.store.record_usage((0..2).map(call).collect()).unwrap());
    let many = statements_of(|| db.store.record_usage((2..1_200).map(call).collect()).unwrap());
    // SQLite inserts 256, 32, 4 or 1 rows at a time, largest first: 2 rows take 2 inserts,
    // 1,198 take 4 + 5 + 3 + 2 = 14. Postgres takes a batch as arrays, in one.
    let inserts = match backend {
        Backend::Sqlite => 14 - 2,
        Backend::Postgres => 0,
    };
    assert_eq!(many, few + inserts, "{backend:?}");
    let report = db.store.usage(
        admin,
        &UsageQuery {
            from: chrono::Utc::now() - chrono::Duration::hours(1),
            to: chrono::Utc::now() + chrono::Duration::hours(1),
            group_by: UsageGroup::Model,
        },
    );
    let report = report.unwrap();
    assert_eq!(report.iter().map(|r| r.requests).sum::<i64>(), 1_200, "{backend:?}");
    assert_eq!(report.iter().map(|r| r.errors).sum::<i64>(), 1, "{backend:?}");
    assert_eq!(report.iter().map(|r| r.prompt_tokens).sum::<i64>(), (0..1_200).sum::<i64>());
    assert_eq!(report.iter().map(|r| r.cost).sum::<f64>(), 600.0 * 0.5, "{backend:?}");
}

#[test]
fn a_read_costs_one_statement_per_thing_read_and_none_when_cached() {
    statements::start_counting();
    reads_cost(Backend::Sqlite);
    reads_cost(Backend::Postgres);
}
