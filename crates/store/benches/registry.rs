//! The registry's hot paths on both backends: authenticating a key (every request), reading one
//! model, listing a page of 30 out of 1,000 visible models, a partial update (lock, write,
//! audit), and a usage writer's batch (about what a second of gateway calls brings it).
//! `cargo bench -p modelgate-store`; Postgres must be reachable (MODELGATE_TEST_DATABASE_URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use modelgate_core::gateway::{Tokens, UsageRecord};
use modelgate_core::identity::hash_api_key;
use modelgate_core::{
    Column, Ctx, Grant, ModelChange, ModelQuery, ModelRef, ModelUpdate, NewModel, PageRequest,
    Permission, PrincipalKind, Registry, Role, Sort,
};
use modelgate_testkit::{Backend, TestDb};

const MODELS: usize = 1_000;

/// A database with 1,000 models the member may read, and a model `hot` the admin patches.
fn seeded(backend: Backend) -> (TestDb, Ctx, Ctx, String) {
    let db = TestDb::new(backend);
    let (admin, _) = db.bootstrap();
    let (member, key) = db.user(&admin, "member", Role::Member);
    for i in 0..MODELS {
        // Every model is readable by the member through a grant, the costly visibility case.
        let change = ModelChange {
            display_name: Some(Some(format!("Model {i}"))),
            input_cost: Some(Some(i as f64 / 100.0)),
            tags: Some(vec!["bench".into(), format!("t{}", i % 7)]),
            grants: Some(vec![Grant::new(PrincipalKind::User, "member", Permission::Read)]),
            ..Default::default()
        };
        db.store.create_model(&admin, NewModel { key: format!("org/model-{i}"), change }).unwrap();
    }
    db.store
        .create_model(&admin, NewModel { key: "hot".into(), change: ModelChange::default() })
        .unwrap();
    (db, admin, member, key)
}

fn registry(c: &mut Criterion) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (db, admin, member, key) = seeded(backend);
        let name = backend.name();
        let mut group = c.benchmark_group(name);

        group.bench_function("authenticate", |b| {
            b.iter(|| black_box(db.store.authenticate(black_box(&key)).unwrap()))
        });
        let one = ModelRef::Key("org/model-500".into());
        group.bench_function("get_model", |b| {
            b.iter(|| black_box(db.store.get_model(&member, black_box(&one)).unwrap()))
        });
        let page = ModelQuery {
            sort: vec![Sort::desc(Column::InputCost)],
            page: Some(PageRequest { offset: 300, limit: 30 }),
            ..ModelQuery::custom_only()
        };
        group.bench_function("list_30_of_1000", |b| {
            b.iter(|| black_box(db.store.list_models(&member, black_box(&page)).unwrap()))
        });
        let hot = ModelRef::Key("hot".into());
        let mut i = 0.0;
        group.bench_function("patch_one_field", |b| {
            b.iter(|| {
                i += 1.0;
                let change = ModelChange { input_cost: Some(Some(i)), ..Default::default() };
                black_box(db.store.update_model(&admin, &hot, ModelUpdate::patch(change)).unwrap())
            })
        });
        // About what one usage writer commits each second with 16 connections and an upstream
        // that takes 10 ms; half the calls with a key, as the gateway's are.
        let calls: Vec<(Ctx, UsageRecord)> = (0..USAGE_BATCH)
            .map(|i| (admin.clone(), usage(i, (i % 2 == 0).then(|| hash_api_key(&key)))))
            .collect();
        group.bench_function("record_usage_600", |b| {
            b.iter(|| db.store.record_usage(black_box(calls.clone())).unwrap())
        });
        group.finish();
    }
}

const USAGE_BATCH: i64 = 600;

fn usage(i: i64, key_hash: Option<String>) -> UsageRecord {
    UsageRecord {
        key_hash,
        model_key: format!("model-{}", i % 10),
        upstream_model: "gpt-4o-mini".into(),
        endpoint: "chat.completions",
        tokens: Tokens { prompt: 12 + i, completion: 40, cached: 0 },
        cost: Some(0.000_2),
        latency_ms: 11,
        ttft_ms: Some(3),
        status: 200,
        stream: i % 3 == 0,
        at: chrono::Utc::now(),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = registry
}
criterion_main!(benches);
