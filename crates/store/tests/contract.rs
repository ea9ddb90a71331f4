//! The store contract, on SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::prelude::*;
use modelgate_core::{
    Column, Condition, Ctx, Denied, DomainError, Entity, Field, FieldSet, Grant, MapChange,
    ModelChange, ModelQuery, ModelRef, ModelUpdate, NewModel, NewProvider, Op, PageRequest,
    Permission, PrincipalKind, ProviderChange, ProviderRef, Registry, Role, ScanCursor, Secret,
    Sort, Source, Target, Value,
};
use modelgate_store::schema::{audit_events, models, providers};
use modelgate_testkit::{TestDb, backend_tests};
use serde_json::json;

fn key(k: &str) -> ModelRef {
    ModelRef::Key(k.to_owned())
}

fn named(name: &str) -> ModelChange {
    ModelChange { display_name: Some(Some(name.to_owned())), ..Default::default() }
}

fn create(db: &TestDb, ctx: &Ctx, k: &str, change: ModelChange) -> modelgate_core::ModelView {
    db.store.create_model(ctx, NewModel { key: k.to_owned(), change }).unwrap()
}

fn audit_count(db: &TestDb, entity_id: &str) -> i64 {
    let mut conn = db.store.connection().unwrap();
    audit_events::table
        .filter(audit_events::entity_id.eq(entity_id))
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

/// A scan read batch by batch, each batch starting after the last one's last item.
fn walk<T>(
    read: impl Fn(Option<&ScanCursor>) -> Vec<T>,
    cursor: impl Fn(&T) -> Option<ScanCursor>,
) -> Vec<T> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let batch = read(after.as_ref());
        let Some(last) = batch.last() else { return all };
        after = cursor(last);
        all.extend(batch);
    }
}

fn obj(v: serde_json::Value) -> modelgate_core::JsonMap {
    v.as_object().unwrap().clone()
}

/// A usage row's columns as stored, but its id and time.
type StoredUsage = (
    String,
    Option<String>,
    String,
    String,
    String,
    bool,
    (i64, i64, i64),
    Option<f64>,
    i64,
    Option<i64>,
    i32,
);

backend_tests! {
    fn every_column_of_a_metered_call_is_stored_as_metered(db) {
        use modelgate_core::gateway::{Tokens, UsageRecord};
        use modelgate_store::schema::usage_events as u;
        let (admin, key) = db.bootstrap();
        let call = |n: i64, full: bool| UsageRecord {
            key_hash: full.then(|| modelgate_core::identity::hash_api_key(&key)),
            model_key: format!("model-{n}"),
            upstream_model: format!("upstream-{n}"),
            endpoint: if full { "chat.completions" } else { "embeddings" },
            tokens: Tokens { prompt: 10 + n, completion: 20 + n, cached: 30 + n },
            cost: full.then_some(0.25),
            latency_ms: 40 + n,
            ttft_ms: full.then_some(50 + n),
            status: if full { 200 } else { 502 },
            stream: full,
            at: chrono::Utc::now(),
        };
        let calls = vec![(admin.clone(), call(1, true)), (admin.clone(), call(2, false))];
        db.store.record_usage(calls).unwrap();
        let columns = (
            u::user_id,
            u::key_id,
            u::model_key,
            u::upstream_model,
            u::endpoint,
            u::stream,
            (u::prompt_tokens, u::completion_tokens, u::cached_tokens),
            u::cost,
            u::latency_ms,
            u::ttft_ms,
            u::status,
        );
        let query =
            u::table.filter(u::org_id.eq(&admin.actor.org_id)).select(columns).order(u::latency_ms);
        let stored: Vec<StoredUsage> = query.load(&mut *db.store.connection().unwrap()).unwrap();
        let key_id = db.store.list_api_keys(&admin).unwrap().into_iter().next().unwrap().id;
        let user = admin.actor.user_id.clone();
        assert_eq!(
            stored,
            vec![
                (user.clone(), Some(key_id), "model-1".into(), "upstream-1".into(),
                 "chat.completions".into(), true, (11, 21, 31), Some(0.25), 41, Some(51), 200),
                (user, None, "model-2".into(), "upstream-2".into(), "embeddings".into(), false,
                 (12, 22, 32), None, 42, None, 502),
            ]
        );
        // The report's means: latency over every call, time to first token over streams only (a
        // whole answer records its time to the upstream's answer there too).
        let mut whole = call(3, true);
        (whole.stream, whole.latency_ms, whole.ttft_ms) = (false, 100, Some(1_000));
        db.store.record_usage(vec![(admin.clone(), whole)]).unwrap();
        let day = modelgate_core::gateway::UsageQuery {
            from: chrono::Utc::now() - chrono::Duration::hours(1),
            to: chrono::Utc::now() + chrono::Duration::hours(1),
            group_by: modelgate_core::gateway::UsageGroup::Day,
        };
        let report = db.store.usage(&admin, &day).unwrap();
        assert_eq!(report.len(), 1, "{report:?}");
        assert_eq!((report[0].requests, report[0].errors), (3, 1));
        assert_eq!((report[0].avg_latency_ms, report[0].avg_ttft_ms), (61.0, Some(51.0)));
        let by_model = db.store.usage(&admin, &modelgate_core::gateway::UsageQuery {
            group_by: modelgate_core::gateway::UsageGroup::Model, ..day
        }).unwrap();
        let unstreamed = by_model.iter().find(|r| r.group.as_deref() == Some("model-2")).unwrap();
        assert_eq!((unstreamed.avg_latency_ms, unstreamed.avg_ttft_ms), (42.0, None));
    }

    fn usage_counts_at_the_time_of_its_call_not_of_its_write(db) {
        use modelgate_core::gateway::{Tokens, UsageGroup, UsageQuery, UsageRecord};
        let (admin, _) = db.bootstrap();
        let called = chrono::Utc::now() - chrono::Duration::days(3);
        let usage = UsageRecord {
            key_hash: None,
            model_key: "late".into(),
            upstream_model: "up".into(),
            endpoint: "chat.completions",
            tokens: Tokens { prompt: 1, completion: 2, cached: 0 },
            cost: None,
            latency_ms: 5,
            ttft_ms: None,
            status: 200,
            stream: false,
            at: called,
        };
        db.store.record_usage(vec![(admin.clone(), usage)]).unwrap();
        let around = |at: chrono::DateTime<chrono::Utc>| UsageQuery {
            from: at - chrono::Duration::hours(1),
            to: at + chrono::Duration::hours(1),
            group_by: UsageGroup::Day,
        };
        let then = db.store.usage(&admin, &around(called)).unwrap();
        assert_eq!(then.len(), 1, "{then:?}");
        assert_eq!(then[0].group.as_deref(), Some(called.format("%Y-%m-%d").to_string().as_str()));
        assert!(db.store.usage(&admin, &around(chrono::Utc::now())).unwrap().is_empty());
    }

    fn create_read_list_rename_delete(db) {
        let (admin, _) = db.bootstrap();
        let created = create(&db, &admin, "team/gpt-4o ünï", named("GPT"));
        assert_eq!(created.model.version, 1);
        assert_eq!(created.model.source, Source::Custom);
        assert_eq!(created.model.owner_id.as_deref(), Some(admin.actor.user_id.as_str()));
        assert!(created.rights.write && created.rights.is_owner);

        let by_key = db.store.get_model(&admin, &key("team/gpt-4o ünï")).unwrap();
        let by_seq = db.store.get_model(&admin, &ModelRef::Seq(created.model.seq)).unwrap();
        let by_uuid = db.store.get_model(&admin, &ModelRef::Uuid(created.model.uuid)).unwrap();
        assert_eq!(by_key, created);
        assert_eq!(by_seq, created);
        assert_eq!(by_uuid, created);

        let renamed = db
            .store
            .update_model(&admin, &key("team/gpt-4o ünï"), ModelUpdate { rename: Some("renamed".into()), ..Default::default() })
            .unwrap();
        assert_eq!(renamed.model.key, "renamed");
        assert_eq!(renamed.model.uuid, created.model.uuid);
        assert_eq!(renamed.model.seq, created.model.seq);
        assert_eq!(renamed.model.version, 2);
        assert!(renamed.model.updated_at >= created.model.updated_at);
        assert!(matches!(
            db.store.get_model(&admin, &key("team/gpt-4o ünï")),
            Err(DomainError::NotFound(Entity::Model))
        ));

        let listed = db.store.list_models(&admin, &ModelQuery::custom_only()).unwrap();
        assert_eq!(listed.total, 1);
        assert_eq!(listed.items[0].model.key, "renamed");

        let deleted = db.store.delete_model(&admin, &key("renamed")).unwrap();
        assert_eq!(deleted.model.uuid, created.model.uuid);
        assert!(matches!(db.store.get_model(&admin, &key("renamed")), Err(DomainError::NotFound(_))));
        assert_eq!(db.store.list_models(&admin, &ModelQuery::custom_only()).unwrap().total, 0);
        // create, rename, delete
        assert_eq!(audit_count(&db, &created.model.uuid.to_string()), 3);
    }

    fn key_is_unique_per_org(db) {
        let (admin, _) = db.bootstrap();
        create(&db, &admin, "dup", ModelChange::default());
        match db.store.create_model(&admin, NewModel { key: "dup".into(), change: ModelChange::default() }) {
            Err(DomainError::Conflict { entity: Entity::Model, value }) => assert_eq!(value, "dup"),
            other => panic!("expected conflict, got {other:?}"),
        }
        // The same key in another org is a different model.
        let (other, _) = db.other_org(&admin, "acme");
        let theirs = create(&db, &other, "dup", named("theirs"));
        assert_ne!(theirs.model.uuid, db.store.get_model(&admin, &key("dup")).unwrap().model.uuid);
        // Another org's models do not exist for you.
        create(&db, &other, "only-acme", ModelChange::default());
        assert!(matches!(db.store.get_model(&admin, &key("only-acme")), Err(DomainError::NotFound(_))));
        assert!(matches!(
            db.store.update_model(&admin, &ModelRef::Seq(theirs.model.seq), ModelUpdate::patch(named("x"))),
            Err(DomainError::NotFound(_))
        ));
        // Renaming onto a taken key conflicts and changes nothing.
        create(&db, &admin, "other", ModelChange::default());
        let err = db.store.update_model(&admin, &key("other"), ModelUpdate { rename: Some("dup".into()), ..Default::default() });
        assert!(matches!(err, Err(DomainError::Conflict { .. })));
        assert_eq!(db.store.get_model(&admin, &key("other")).unwrap().model.version, 1);
    }

    fn key_length_is_checked(db) {
        let (admin, _) = db.bootstrap();
        create(&db, &admin, &"k".repeat(256), ModelChange::default());
        let err = db.store.create_model(&admin, NewModel { key: "k".repeat(257), change: ModelChange::default() });
        assert!(matches!(err, Err(DomainError::Invalid(_))), "{err:?}");
        let err = db.store.create_model(&admin, NewModel { key: "".into(), change: ModelChange::default() });
        assert!(matches!(err, Err(DomainError::Invalid(_))), "{err:?}");
    }

    fn grants_decide_visibility_and_writes(db) {
        let (admin, _) = db.bootstrap();
        let (owner, _) = db.user(&admin, "owner", Role::Member);
        let (reader, _) = db.user(&admin, "reader", Role::Member);
        let (writer, writer_key) = db.user(&admin, "writer", Role::Member);
        let (stranger, _) = db.user(&admin, "stranger", Role::Member);
        db.store.create_group(&admin, modelgate_core::NewGroup {
            id: Some("devs".into()), name: "Developers".into(), description: None,
            member_ids: vec!["writer".into()],
        }).unwrap();
        let writer = Ctx { actor: db.ctx_for_key(&writer_key).actor, ..writer };
        create(&db, &owner, "shared", ModelChange {
            grants: Some(vec![
                Grant::new(PrincipalKind::User, "reader", Permission::Read),
                Grant::new(PrincipalKind::Group, "devs", Permission::Write),
            ]),
            ..Default::default()
        });
        assert!(db.store.get_model(&reader, &key("shared")).unwrap().rights == modelgate_core::Rights { read: true, write: false, is_owner: false });
        assert!(db.store.get_model(&writer, &key("shared")).unwrap().rights.write);
        assert!(matches!(db.store.get_model(&stranger, &key("shared")), Err(DomainError::NotFound(_))));
        assert!(matches!(
            db.store.update_model(&reader, &key("shared"), ModelUpdate::patch(named("x"))),
            Err(DomainError::Denied(Denied::Write))
        ));
        db.store.update_model(&writer, &key("shared"), ModelUpdate::patch(named("by writer"))).unwrap();
        assert!(db.store.update_model(&admin, &key("shared"), ModelUpdate::patch(named("by admin"))).is_ok());
        // Existence within the org is answerable without read access; other orgs' models never exist.
        assert!(db.store.model_exists(&stranger, &key("shared")).unwrap());
        assert!(!db.store.model_exists(&stranger, &key("missing")).unwrap());
        let (acme, _) = db.other_org(&admin, "acme");
        assert!(!db.store.model_exists(&acme, &key("shared")).unwrap());

        let visible = |ctx: &Ctx| -> Vec<String> {
            db.store.list_models(ctx, &ModelQuery::custom_only()).unwrap().items.into_iter().map(|v| v.model.key).collect()
        };
        assert_eq!(visible(&reader), vec!["shared"]);
        assert!(visible(&stranger).is_empty());

        // Public read: only an admin may turn it on.
        let err = db.store.update_model(&owner, &key("shared"), ModelUpdate::patch(ModelChange { public: Some(true), ..Default::default() }));
        assert!(matches!(err, Err(DomainError::Denied(Denied::SharePublic))), "{err:?}");
        db.store.update_model(&admin, &key("shared"), ModelUpdate::patch(ModelChange { public: Some(true), ..Default::default() })).unwrap();
        assert_eq!(visible(&stranger), vec!["shared"]);
        assert!(!db.store.get_model(&stranger, &key("shared")).unwrap().rights.write);
    }

    fn list_scope_agrees_with_policy(db) {
        // Every combination of owner / user grant / group grant / public, seen by several callers:
        // the SQL visibility filter must give exactly what core's policy says.
        let (admin, _) = db.bootstrap();
        let (alice, _) = db.user(&admin, "alice", Role::Member);
        let (_, bob_key) = db.user(&admin, "bob", Role::Viewer);
        let (_, carol_key) = db.user(&admin, "carol", Role::Member);
        db.store.create_group(&admin, modelgate_core::NewGroup {
            id: Some("g1".into()), name: "g1".into(), description: None, member_ids: vec!["bob".into()],
        }).unwrap();
        let bob = db.ctx_for_key(&bob_key);
        let carol = db.ctx_for_key(&carol_key);
        let mut n = 0;
        for user_grant in [None, Some(("bob", Permission::Read)), Some(("carol", Permission::Write))] {
            for group_grant in [None, Some(Permission::Read), Some(Permission::Write)] {
                for public in [false, true] {
                    let mut grants = Vec::new();
                    if let Some((u, p)) = user_grant {
                        grants.push(Grant::new(PrincipalKind::User, u, p));
                    }
                    if let Some(p) = group_grant {
                        grants.push(Grant::new(PrincipalKind::Group, "g1", p));
                    }
                    create(&db, &alice, &format!("m{n}"), ModelChange { grants: Some(grants), ..Default::default() });
                    if public {
                        db.store.update_model(&admin, &key(&format!("m{n}")), ModelUpdate::patch(ModelChange { public: Some(true), ..Default::default() })).unwrap();
                    }
                    n += 1;
                }
            }
        }
        let everything = db.store.list_models(&admin, &ModelQuery::custom_only()).unwrap().items;
        assert_eq!(everything.len(), n);
        for ctx in [&admin, &alice, &bob, &carol] {
            let expected: Vec<String> = everything
                .iter()
                .filter(|v| modelgate_core::policy::rights(&ctx.actor, (&v.model).into()).read)
                .map(|v| v.model.key.clone())
                .collect();
            let listed: Vec<String> = db.store.list_models(ctx, &ModelQuery::custom_only()).unwrap()
                .items.into_iter().map(|v| v.model.key).collect();
            assert_eq!(listed, expected, "caller {}", ctx.actor.user_id);
        }
    }

    fn viewer_cannot_create(db) {
        let (admin, _) = db.bootstrap();
        let (viewer, _) = db.user(&admin, "viewer", Role::Viewer);
        let err = db.store.create_model(&viewer, NewModel { key: "x".into(), change: ModelChange::default() });
        assert!(matches!(err, Err(DomainError::Denied(Denied::Create))), "{err:?}");
    }

    fn replace_keeps_fields_outside_the_view(db) {
        let (admin, _) = db.bootstrap();
        create(&db, &admin, "m", ModelChange {
            display_name: Some(Some("old".into())),
            category: Some(Some("embedding".into())),
            input_cost: Some(Some(3.0)),
            params: Some(MapChange::Set(Some(obj(json!({"temperature": 0.1}))))),
            extra: Some(MapChange::Set(Some(obj(json!({"from": "test"}))))),
            ..Default::default()
        });
        let view = FieldSet::of(&[Field::DisplayName, Field::Params, Field::Extra, Field::IsActive]);
        let openwebui = Ctx { dialect: "openwebui", ..admin.clone() };
        let after = db.store.update_model(&openwebui, &key("m"), ModelUpdate::replace(view, named("new"))).unwrap().model;
        assert_eq!(after.fields.display_name.as_deref(), Some("new"));
        assert!(after.fields.params.is_empty());
        assert_eq!(after.fields.category.as_deref(), Some("embedding"));
        assert_eq!(after.fields.pricing.input, Some(3.0));
        // openwebui's replace cleared only its own extra namespace.
        assert_eq!(after.fields.extra, obj(json!({"test": {"from": "test"}})));
        // A change outside the view is a programming error, refused and not applied.
        let err = db.store.update_model(&openwebui, &key("m"), ModelUpdate::replace(view, ModelChange { input_cost: Some(None), ..Default::default() }));
        assert!(matches!(err, Err(DomainError::Internal(_))));
        assert_eq!(db.store.get_model(&admin, &key("m")).unwrap().model.fields.pricing.input, Some(3.0));
    }

    fn failed_change_writes_nothing(db) {
        let (admin, _) = db.bootstrap();
        let created = create(&db, &admin, "m", named("before"));
        let err = db.store.update_model(&admin, &key("m"), ModelUpdate::patch(ModelChange {
            display_name: Some(Some("after".into())),
            input_cost: Some(Some(-1.0)),
            ..Default::default()
        }));
        assert!(matches!(err, Err(DomainError::Invalid(_))));
        let err = db.store.update_model(&admin, &key("m"), ModelUpdate { expected_version: Some(7), ..ModelUpdate::patch(named("x")) });
        assert!(matches!(err, Err(DomainError::VersionMismatch)));
        let now = db.store.get_model(&admin, &key("m")).unwrap().model;
        assert_eq!(now, created.model);
        assert_eq!(audit_count(&db, &created.model.uuid.to_string()), 1);
    }

    fn audit_rows_record_before_and_after(db) {
        let (admin, _) = db.bootstrap();
        let openwebui = Ctx { dialect: "openwebui", ..admin.clone() };
        let created = create(&db, &openwebui, "m", named("one"));
        db.store.update_model(&admin, &key("m"), ModelUpdate::patch(ModelChange {
            api_key: Some(Some(Secret::new("sk-audit-secret-value-wxyz"))),
            ..named("two")
        })).unwrap();
        db.store.toggle_model(&admin, &key("m")).unwrap();
        let history = db.store.model_history(&admin, created.model.uuid).unwrap();
        let actions: Vec<_> = history.iter().map(|e| (e.action.as_str(), e.dialect.as_str())).collect();
        assert_eq!(actions, vec![("create", "openwebui"), ("update", "test"), ("toggle", "test")]);
        assert!(history[0].before.is_none());
        assert_eq!(history[1].before.as_ref().unwrap()["display_name"], "one");
        assert_eq!(history[1].after.as_ref().unwrap()["display_name"], "two");
        assert_eq!(history[1].after.as_ref().unwrap()["version"], 2);
        assert_eq!(history[2].after.as_ref().unwrap()["is_active"], false);
        assert!(history.iter().all(|e| e.actor_id.as_deref() == Some(admin.actor.user_id.as_str())));
        // The trail says a secret is set and nothing of it: not in clear, encrypted or masked.
        let trail = serde_json::to_string(&history).unwrap();
        assert!(!trail.contains("sk-audit-secret-value-wxyz"));
        // Its last characters (what a mask shows) are letters no uuid or timestamp contains.
        assert!(!trail.contains("wxyz"), "{trail}");
        assert!(!trail.contains("v1:"));
        assert_eq!(history[1].after.as_ref().unwrap()["api_key"], "[secret]");
        assert!(history[1].before.as_ref().unwrap()["api_key"].is_null());
    }

    fn older_history_rows_lose_their_masks(db) {
        // A row as versions before the marker wrote it: the mask in the state.
        let mut conn = db.store.connection().unwrap();
        diesel::insert_into(audit_events::table).values((
            audit_events::entity.eq("model"),
            audit_events::entity_id.eq("m"),
            audit_events::dialect.eq("xagent"),
            audit_events::action.eq("update"),
            audit_events::before_state.eq(Some(r#"{"api_key":null,"version":1}"#)),
            audit_events::after_state.eq(Some(r#"{"api_key":"sk-...9999","version":2}"#)),
            audit_events::at.eq(chrono::Utc::now().naive_utc()),
        )).execute(&mut *conn).unwrap();
        let migration = match &mut *conn {
            modelgate_store::DbConn::Pg(_) => include_str!("../../../migrations/postgres/2026-11-25-000003_history_without_secrets/up.sql"),
            modelgate_store::DbConn::Sqlite(_) => include_str!("../../../migrations/sqlite/2026-11-25-000003_history_without_secrets/up.sql"),
        };
        diesel::connection::SimpleConnection::batch_execute(&mut *conn, migration).unwrap();
        let (before, after): (Option<String>, Option<String>) = audit_events::table
            .filter(audit_events::entity_id.eq("m"))
            .select((audit_events::before_state, audit_events::after_state))
            .first(&mut *conn)
            .unwrap();
        let after: serde_json::Value = serde_json::from_str(&after.unwrap()).unwrap();
        assert_eq!(after, json!({"api_key": "[secret]", "version": 2}));
        let before: serde_json::Value = serde_json::from_str(&before.unwrap()).unwrap();
        assert_eq!(before, json!({"api_key": null, "version": 1}));
    }

    fn writes_that_change_nothing_change_nothing(db) {
        let (admin, _) = db.bootstrap();
        let created = create(&db, &admin, "m", ModelChange {
            api_key: Some(Some(Secret::new("sk-same-secret-value-1234"))),
            input_cost: Some(Some(1.5)),
            ..named("one")
        });
        let uuid = created.model.uuid.to_string();
        let same = |change: ModelChange| db.store.update_model(&admin, &key("m"), ModelUpdate::patch(change)).unwrap();
        for change in [
            ModelChange::default(),
            named("one"),
            ModelChange { input_cost: Some(Some(1.5)), ..Default::default() },
            ModelChange { api_key: Some(Some(Secret::new("sk-same-secret-value-1234"))), ..Default::default() },
        ] {
            let answered = same(change);
            assert_eq!(answered.model, created.model, "a write that changes nothing is answered as it was");
        }
        let stored = db.store.get_model(&admin, &key("m")).unwrap();
        assert_eq!((stored.model.version, stored.model.updated_at), (created.model.version, created.model.updated_at));
        assert_eq!(audit_count(&db, &uuid), 1);
        // A different key is a change.
        let changed = same(ModelChange { api_key: Some(Some(Secret::new("sk-other-secret-value-5678"))), ..Default::default() });
        assert_eq!(changed.model.version, created.model.version + 1);
        assert_eq!(audit_count(&db, &uuid), 2);
    }

    fn secrets_are_encrypted_at_rest(db) {
        let (admin, _) = db.bootstrap();
        let provider = db.store.create_provider(&admin, NewProvider {
            provider_id: "my-provider".into(),
            name: "My Provider".into(),
            api_key: Some(Secret::new("sk-provider-secret-1234")),
            extra: obj(json!({"base_url": "https://example.test/v1"})),
        }).unwrap();
        create(&db, &admin, "m", ModelChange { api_key: Some(Some(Secret::new("sk-model-secret-5678"))), ..Default::default() });

        let mut conn = db.store.connection().unwrap();
        let raw_provider: Option<String> = providers::table.find(provider.seq).select(providers::api_key_enc).first(&mut *conn).unwrap();
        let raw_model: Option<String> = models::table.filter(models::key.eq("m")).select(models::api_key_enc).first(&mut *conn).unwrap();
        let (raw_provider, raw_model) = (raw_provider.unwrap(), raw_model.unwrap());
        assert!(!raw_provider.contains("sk-provider"), "stored in clear: {raw_provider}");
        assert!(!raw_model.contains("sk-model"), "stored in clear: {raw_model}");

        let fetched = db.store.get_provider(&admin, &ProviderRef::Slug("my-provider".into())).unwrap();
        let sealed = fetched.api_key.unwrap();
        assert_eq!(sealed.mask, "sk-...1234");
        assert_eq!(db.store.cipher().reveal(&sealed).unwrap().expose(), "sk-provider-secret-1234");
        assert!(db.store.secret_equals(&sealed, "sk-provider-secret-1234").unwrap());
        assert!(!db.store.secret_equals(&sealed, "sk-provider-secret-0000").unwrap());

        // An absent key in a change keeps it; an explicit empty one removes it.
        let kept = db.store.update_provider(&admin, &ProviderRef::Id(provider.seq), ProviderChange { name: Some("Renamed".into()), ..Default::default() }).unwrap();
        assert_eq!(kept.api_key.map(|s| s.mask), Some("sk-...1234".to_owned()));
        let cleared = db.store.update_provider(&admin, &ProviderRef::Id(provider.seq), ProviderChange { api_key: Some(None), ..Default::default() }).unwrap();
        assert!(cleared.api_key.is_none());
    }

    fn providers_are_referenced_by_id_or_slug(db) {
        let (admin, _) = db.bootstrap();
        let p = db.store.create_provider(&admin, NewProvider { provider_id: "prov".into(), name: "".into(), api_key: None, extra: Default::default() }).unwrap();
        assert_eq!(p.name, "prov");
        let dup = db.store.create_provider(&admin, NewProvider { provider_id: "prov".into(), name: "x".into(), api_key: None, extra: Default::default() });
        assert!(matches!(dup, Err(DomainError::Conflict { entity: Entity::Provider, .. })));
        let by_slug = create(&db, &admin, "a", ModelChange { provider_ref: Some(Some(ProviderRef::Slug("prov".into()))), ..Default::default() });
        let by_id = create(&db, &admin, "b", ModelChange { provider_ref: Some(Some(ProviderRef::Id(p.seq))), ..Default::default() });
        assert_eq!(by_slug.model.fields.provider_ref, Some(p.seq));
        assert_eq!(by_id.model.fields.provider_ref, Some(p.seq));
        let unknown = db.store.create_model(&admin, NewModel { key: "c".into(), change: ModelChange { provider_ref: Some(Some(ProviderRef::Slug("nope".into()))), ..Default::default() } });
        match unknown {
            Err(DomainError::Invalid(errors)) => assert_eq!(errors[0].subject, modelgate_core::Subject::Model(Field::ProviderRef)),
            other => panic!("expected invalid, got {other:?}"),
        }
        // Deleting the provider unlinks its models, each change audited.
        db.store.delete_provider(&admin, &ProviderRef::Id(p.seq)).unwrap();
        let a = db.store.get_model(&admin, &key("a")).unwrap().model;
        assert_eq!(a.fields.provider_ref, None);
        assert_eq!(a.version, 2);
        assert_eq!(audit_count(&db, &a.uuid.to_string()), 2);
    }

    fn provider_credentials_in_settings_are_sealed(db) {
        let (admin, _) = db.bootstrap();
        let extra = obj(json!({"base_url": "https://example.test/v1", "api_key": "sk-extra-secret-0000aaaa",
            "headers": {"Authorization": "Bearer tok-inner-secret-bbbb", "Accept": "application/json"}}));
        let created = db.store.create_provider(&admin, NewProvider {
            provider_id: "p".into(), name: "P".into(), api_key: None, extra,
        }).unwrap();
        let shown = json!({"base_url": "https://example.test/v1", "api_key": "sk-...aaaa",
            "headers": {"Authorization": "Bea...bbbb", "Accept": "application/json"}});
        assert_eq!(serde_json::Value::Object(created.extra.clone()), shown);
        // Nothing of either credential in the row: the settings hold masks, the new column
        // ciphertexts.
        let mut conn = db.store.connection().unwrap();
        let (raw_extra, raw_secrets): (String, String) = providers::table.find(created.seq)
            .select((providers::extra, providers::extra_secrets)).first(&mut *conn).unwrap();
        for raw in [&raw_extra, &raw_secrets] {
            assert!(!raw.contains("0000aaaa") && !raw.contains("inner-secret"), "in clear: {raw}");
        }
        let secrets: serde_json::Value = serde_json::from_str(&raw_secrets).unwrap();
        assert_eq!(secrets.as_object().unwrap().keys().collect::<Vec<_>>(), ["/api_key", "/headers/Authorization"]);
        let fetched = db.store.get_provider(&admin, &ProviderRef::Id(created.seq)).unwrap();
        assert_eq!(fetched, created);
        let reveal = |pointer: &str, p: &modelgate_core::Provider| db.store.cipher().reveal(&p.extra_secrets[pointer]).unwrap().expose().to_owned();
        assert_eq!(reveal("/headers/Authorization", &fetched), "Bearer tok-inner-secret-bbbb");
        assert_eq!(reveal("/api_key", &fetched), "sk-extra-secret-0000aaaa");

        // The settings sent back as shown (masks) change nothing: no version, no history row.
        let id = ProviderRef::Id(created.seq);
        let same = db.store.update_provider(&admin, &id, ProviderChange { extra: Some(MapChange::Set(Some(obj(shown.clone())))), ..Default::default() }).unwrap();
        assert_eq!(same, created);
        assert_eq!(audit_count(&db, &created.seq.to_string()), 1);
        // A new header value replaces that secret only; the masked api_key keeps its own.
        let mut next = shown.clone();
        next["headers"]["Authorization"] = json!("Bearer tok-rotated-secret-cccc");
        let rotated = db.store.update_provider(&admin, &id, ProviderChange { extra: Some(MapChange::Set(Some(obj(next)))), ..Default::default() }).unwrap();
        assert_eq!(rotated.version, 2);
        assert_eq!(rotated.extra_secrets["/api_key"], created.extra_secrets["/api_key"]);
        assert_eq!(reveal("/headers/Authorization", &rotated), "Bearer tok-rotated-secret-cccc");
        // The history says which credentials exist and which changed, nothing of them.
        let states: Vec<(Option<String>, Option<String>)> = audit_events::table
            .filter(audit_events::entity.eq("provider"))
            .order(audit_events::id)
            .select((audit_events::before_state, audit_events::after_state))
            .load(&mut *conn).unwrap();
        let trail = format!("{states:?}");
        for leak in ["aaaa", "bbbb", "cccc", "sk-", "Bea", "v1:"] {
            assert!(!trail.contains(leak), "{leak} in {trail}");
        }
        let after: serde_json::Value = serde_json::from_str(states[1].1.as_deref().unwrap()).unwrap();
        assert_eq!(after["extra"]["headers"]["Authorization"], "[secret]");
        assert_eq!(after["secrets_changed"], json!(["/headers/Authorization"]));
    }

    fn start_up_pass_seals_credentials_older_versions_stored_in_clear(db) {
        let (admin, _) = db.bootstrap();
        let at = chrono::Utc::now().naive_utc();
        let plain = r#"{"base_url":"https://x","api_key":"sk-legacy-secret-1234abcd","headers":{"X-Api-Key":"legacy-header-5678efgh"}}"#;
        let mut conn = db.store.connection().unwrap();
        // A provider and its history row as a version before sealing wrote them.
        diesel::insert_into(providers::table).values((
            providers::org_id.eq(&admin.actor.org_id), providers::provider_id.eq("legacy"), providers::name.eq("Legacy"),
            providers::extra.eq(plain), providers::created_at.eq(at), providers::updated_at.eq(at), providers::version.eq(1),
        )).execute(&mut *conn).unwrap();
        diesel::insert_into(audit_events::table).values((
            audit_events::entity.eq("provider"), audit_events::entity_id.eq("legacy"), audit_events::dialect.eq("respan"),
            audit_events::action.eq("create"), audit_events::after_state.eq(Some(format!(r#"{{"name":"Legacy","extra":{plain}}}"#))),
            audit_events::at.eq(at),
        )).execute(&mut *conn).unwrap();
        assert_eq!(db.store.migrate().unwrap(), 0);

        let (raw_extra, raw_secrets): (String, String) = providers::table.filter(providers::provider_id.eq("legacy"))
            .select((providers::extra, providers::extra_secrets)).first(&mut *conn).unwrap();
        let raw_history: Option<String> = audit_events::table.filter(audit_events::entity_id.eq("legacy"))
            .select(audit_events::after_state).first(&mut *conn).unwrap();
        for raw in [&raw_extra, &raw_secrets, raw_history.as_ref().unwrap()] {
            assert!(!raw.contains("1234abcd") && !raw.contains("legacy-header"), "in clear: {raw}");
        }
        let history: serde_json::Value = serde_json::from_str(raw_history.as_deref().unwrap()).unwrap();
        assert_eq!(history, json!({"name": "Legacy", "extra": {"base_url": "https://x", "api_key": "[secret]", "headers": {"X-Api-Key": "[secret]"}}}));
        let sealed = db.store.get_provider(&admin, &ProviderRef::Slug("legacy".into())).unwrap();
        assert_eq!(serde_json::Value::Object(sealed.extra.clone()), json!({"base_url": "https://x", "api_key": "sk-...abcd", "headers": {"X-Api-Key": "leg...efgh"}}));
        assert_eq!(db.store.cipher().reveal(&sealed.extra_secrets["/headers/X-Api-Key"]).unwrap().expose(), "legacy-header-5678efgh");
        // Providers made before owners were kept have none: only admins write them.
        assert_eq!(sealed.owner_id, None);
        let (member, _) = db.user(&admin, "alice", Role::Member);
        let refused = db.store.update_provider(&member, &ProviderRef::Slug("legacy".into()), ProviderChange { name: Some("Mine".into()), ..Default::default() });
        assert!(matches!(refused, Err(DomainError::Denied(Denied::Write))), "{refused:?}");
        // The pass runs at every start and leaves sealed values alone.
        assert_eq!(db.store.migrate().unwrap(), 0);
        assert_eq!(db.store.get_provider(&admin, &ProviderRef::Slug("legacy".into())).unwrap(), sealed);
    }

    fn deleting_a_model_deletes_its_endpoints_and_audits_both(db) {
        let (admin, _) = db.bootstrap();
        let model = create(&db, &admin, "m", ModelChange::default());
        let endpoint = db.store.create_endpoint(&admin, modelgate_core::NewEndpoint::new("Support", "support", Some(key("m")))).unwrap();
        assert_eq!(endpoint.model_seq, Some(model.model.seq));
        let other = create(&db, &admin, "other", ModelChange::default());
        db.store.create_endpoint(&admin, modelgate_core::NewEndpoint::new("Other", "other", Some(key("other")))).unwrap();
        let served: Vec<String> = db.store.model_endpoints(&admin, &[model.model.seq]).unwrap().into_iter().map(|e| e.slug).collect();
        assert_eq!(served, vec!["support".to_owned()]);
        assert_eq!(db.store.model_endpoints(&admin, &[other.model.seq, model.model.seq]).unwrap().len(), 2);
        let dup = db.store.create_endpoint(&admin, modelgate_core::NewEndpoint::new("x", "support", None));
        assert!(matches!(dup, Err(DomainError::Conflict { entity: Entity::Endpoint, .. })));
        db.store.delete_model(&admin, &key("m")).unwrap();
        assert!(matches!(db.store.get_endpoint(&admin, "support"), Err(DomainError::NotFound(Entity::Endpoint))));
        assert_eq!(audit_count(&db, &endpoint.id.to_string()), 2);
        assert_eq!(audit_count(&db, &model.model.uuid.to_string()), 2);
        // The deleted model's history stays readable for admins.
        let history = db.store.model_history(&admin, model.model.uuid).unwrap();
        assert_eq!(history.last().unwrap().action, "delete");
        assert!(history.last().unwrap().after.is_none());
    }

    fn key_ordered_scans_interleave_the_orgs_models_and_the_catalog(db) {
        let (admin, _) = db.bootstrap();
        let catalog = ["b2", "d2", "zz"].map(|k| modelgate_core::CatalogModel { key: k.into(), change: ModelChange::default() });
        db.store.sync_catalog(catalog.to_vec()).unwrap();
        for k in ["e", "b", "a", "d", "c"] {
            create(&db, &admin, k, named(k));
        }
        let (member, _) = db.user(&admin, "mia", Role::Member);
        create(&db, &member, "d3", named("mine"));
        let by_key = ModelQuery { sort: vec![Sort::asc(Column::Key)], ..ModelQuery::default() };
        for (who, expected) in [
            (&admin, vec!["a", "b", "b2", "c", "d", "d2", "d3", "e", "zz"]),
            // A member reads its own models and the catalog.
            (&member, vec!["b2", "d2", "d3", "zz"]),
        ] {
            let listed: Vec<String> = db.store.list_models(who, &by_key).unwrap().items.into_iter().map(|v| v.model.key).collect();
            assert_eq!(listed, expected);
            for size in [1, 2, 3, 100] {
                let views = walk(|after| db.store.scan_models(who, &by_key, after, size).unwrap(), |last| ScanCursor::after(&last.model, Column::Key));
                let keys: Vec<String> = views.into_iter().map(|v| v.model.key).collect();
                assert_eq!(keys, expected, "batches of {size}");
                let entries = walk(|after| db.store.scan_model_entries(who, &by_key, after, size).unwrap(), |last| ScanCursor::after_entry(last, Column::Key));
                let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
                assert_eq!(keys, expected, "entries in batches of {size}");
                let catalogued: Vec<&str> = entries.iter().filter(|e| e.org_id.is_none()).map(|e| e.key.as_str()).collect();
                assert_eq!(catalogued, ["b2", "d2", "zz"]);
            }
        }
    }

    fn scans_walk_a_list_in_batches_in_the_order_a_listing_has(db) {
        let (admin, _) = db.bootstrap();
        for k in ["d", "b", "e", "a", "c", "f", "g"] {
            create(&db, &admin, k, named(k));
        }
        // Half of them created at the same instant: ties are broken by seq, across batches too.
        {
            let mut conn = db.store.connection().unwrap();
            diesel::update(models::table.filter(models::key.eq_any(["b", "e", "a", "c"])))
                .set(models::created_at.eq(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()))
                .execute(&mut *conn)
                .unwrap();
        }
        let column = |q: &ModelQuery| q.sort.first().map_or(Column::Seq, |s| s.column);
        let scanned = |q: &ModelQuery| {
            let views = walk(|after| db.store.scan_models(&admin, q, after, 2).unwrap(), |last| ScanCursor::after(&last.model, column(q)));
            views.into_iter().map(|v| v.model.key).collect::<Vec<_>>()
        };
        // The same scan reading only the entries' columns: the same models, in the same
        // batches, each entry agreeing with its model.
        let scanned_entries = |q: &ModelQuery| {
            let entries = walk(|after| db.store.scan_model_entries(&admin, q, after, 2).unwrap(), |last| ScanCursor::after_entry(last, column(q)));
            for entry in &entries {
                let model = db.store.get_model(&admin, &key(&entry.key)).unwrap().model;
                assert_eq!((entry.seq, &entry.org_id, &entry.provider), (model.seq, &model.org_id, &model.fields.provider));
                assert_eq!(entry.created_at.timestamp_micros(), model.created_at.timestamp_micros());
            }
            entries.into_iter().map(|e| e.key).collect::<Vec<_>>()
        };
        let not_f = Condition::column(Column::Key, Op::Ne, Value::Text("f".into()));
        for q in [
            ModelQuery::custom_only(),
            ModelQuery { sort: vec![Sort::asc(Column::Key)], ..ModelQuery::custom_only() },
            ModelQuery { sort: vec![Sort::asc(Column::CreatedAt)], ..ModelQuery::custom_only() },
            ModelQuery { sort: vec![Sort::asc(Column::CreatedAt)], ..ModelQuery::custom_only() }.filter(not_f.clone()),
        ] {
            let listed: Vec<String> = db.store.list_models(&admin, &q).unwrap().items.into_iter().map(|v| v.model.key).collect();
            assert_eq!(listed.len(), if q.conditions.is_empty() { 7 } else { 6 });
            assert_eq!(scanned(&q), listed, "{q:?}");
            assert_eq!(scanned_entries(&q), listed, "{q:?}");
        }
        let by_key = ModelQuery { sort: vec![Sort::asc(Column::Key)], ..ModelQuery::custom_only() };
        assert_eq!(scanned(&by_key), ["a", "b", "c", "d", "e", "f", "g"]);
        let descending = ModelQuery { sort: vec![Sort::desc(Column::Key)], ..ModelQuery::custom_only() };
        assert!(matches!(db.store.scan_models(&admin, &descending, None, 2), Err(DomainError::Invalid(_))));
    }

    fn list_filters_sorts_and_pages(db) {
        let (admin, _) = db.bootstrap();
        for (k, cost, tags, vision) in [
            ("alpha", 1.0, vec!["chat"], true),
            ("beta", 2.5, vec!["chat", "fast"], false),
            ("gamma", 10.0, vec!["embed"], false),
            ("Delta_50%", 0.5, vec![], true),
        ] {
            create(&db, &admin, k, ModelChange {
                input_cost: Some(Some(cost)),
                tags: Some(tags.into_iter().map(String::from).collect()),
                capabilities: Some(MapChange::Set(Some(obj(json!({"vision": vision}))))),
                description: Some(Some(format!("the {k} model"))),
                ..Default::default()
            });
        }
        let keys = |q: ModelQuery| -> (Vec<String>, i64) {
            let page = db.store.list_models(&admin, &q).unwrap();
            (page.items.into_iter().map(|v| v.model.key).collect(), page.total)
        };
        let base = ModelQuery::custom_only();
        let q = base.clone().filter(Condition::column(Column::InputCost, Op::Gte, Value::Float(2.0)));
        assert_eq!(keys(q).0, vec!["beta", "gamma"]);
        let q = base.clone().filter(Condition::column(Column::Key, Op::IContains, Value::Text("ELT".into())));
        assert_eq!(keys(q).0, vec!["Delta_50%"]);
        // `%` and `_` are literal in patterns.
        let q = base.clone().filter(Condition::column(Column::Key, Op::IContains, Value::Text("a_5".into())));
        assert_eq!(keys(q).0, vec!["Delta_50%"]);
        let q = base.clone().filter(Condition::column(Column::Key, Op::IContains, Value::Text("%".into())));
        assert_eq!(keys(q).0, vec!["Delta_50%"]);
        let q = base.clone().filter(Condition::column(Column::Key, Op::In, Value::List(vec![Value::Text("alpha".into()), Value::Text("gamma".into())])));
        assert_eq!(keys(q).0, vec!["alpha", "gamma"]);
        let q = base.clone().filter(Condition { target: Target::Tag("chat".into()), op: Op::Eq, value: Value::Bool(true) });
        assert_eq!(keys(q).0, vec!["alpha", "beta"]);
        // Tags and capability names match exactly, letter case included, on both backends.
        let q = base.clone().filter(Condition { target: Target::Tag("Chat".into()), op: Op::Eq, value: Value::Bool(true) });
        assert_eq!(keys(q).0, Vec::<String>::new());
        let q = base.clone().filter(Condition { target: Target::Capability("Vision".into()), op: Op::Eq, value: Value::Bool(true) });
        assert_eq!(keys(q).0, Vec::<String>::new());
        let q = base.clone().filter(Condition { target: Target::Capability("vision".into()), op: Op::Eq, value: Value::Bool(true) });
        assert_eq!(keys(q).0, vec!["alpha", "Delta_50%"]);
        let q = ModelQuery { text: Some("GAMMA MOD".into()), ..base.clone() };
        assert_eq!(keys(q).0, vec!["gamma"]);
        let q = ModelQuery { sort: vec![Sort::desc(Column::InputCost)], page: Some(PageRequest { offset: 1, limit: 2 }), ..base.clone() };
        assert_eq!(keys(q), (vec!["beta".to_owned(), "alpha".to_owned()], 4));
        let bad = base.filter(Condition::column(Column::InputCost, Op::IContains, Value::Text("x".into())));
        assert!(matches!(db.store.list_models(&admin, &bad), Err(DomainError::Invalid(_))));
    }

    fn upsert_and_import(db) {
        let (admin, _) = db.bootstrap();
        let first = db.store.upsert_model(&admin, modelgate_core::UpsertModel { key: "u".into(), replace: None, change: named("one") }).unwrap();
        assert!(first.created);
        let second = db.store.upsert_model(&admin, modelgate_core::UpsertModel { key: "u".into(), replace: None, change: ModelChange { input_cost: Some(Some(1.0)), ..Default::default() } }).unwrap();
        assert!(!second.created);
        assert_eq!(second.view.model.fields.display_name.as_deref(), Some("one"));
        assert_eq!(second.view.model.version, 2);
        // An import is all or nothing.
        let items = vec![
            modelgate_core::UpsertModel { key: "i1".into(), replace: None, change: named("i1") },
            modelgate_core::UpsertModel { key: "i2".into(), replace: None, change: ModelChange { input_cost: Some(Some(-5.0)), ..Default::default() } },
        ];
        assert!(db.store.import_models(&admin, items).is_err());
        assert!(matches!(db.store.get_model(&admin, &key("i1")), Err(DomainError::NotFound(_))));
    }

    fn catalog_sync_creates_updates_and_removes(db) {
        let (admin, _) = db.bootstrap();
        let entry = |k: &str, price: f64| modelgate_core::CatalogModel {
            key: k.into(),
            change: ModelChange { input_cost: Some(Some(price)), category: Some(Some("llm".into())), ..Default::default() },
        };
        let report = db.store.sync_catalog(vec![entry("gpt-x", 1.0), entry("old", 2.0)]).unwrap();
        assert_eq!((report.created, report.updated, report.removed), (2, 0, 0));
        let again = db.store.sync_catalog(vec![entry("gpt-x", 1.0), entry("old", 2.0)]).unwrap();
        assert_eq!(again.unchanged, 2);
        let report = db.store.sync_catalog(vec![entry("gpt-x", 1.5)]).unwrap();
        assert_eq!((report.created, report.updated, report.removed), (0, 1, 1));
        let builtin = db.store.get_model(&admin, &key("gpt-x")).unwrap();
        assert_eq!(builtin.model.source, Source::Builtin);
        assert_eq!(builtin.model.fields.pricing.input, Some(1.5));
        assert_eq!(builtin.model.version, 2);
        assert!(builtin.rights.read && !builtin.rights.write);
        // Read-only for everyone, admins included, and visible to every org.
        assert!(matches!(db.store.update_model(&admin, &key("gpt-x"), ModelUpdate::patch(named("x"))), Err(DomainError::Denied(Denied::Builtin))));
        assert!(matches!(db.store.delete_model(&admin, &key("gpt-x")), Err(DomainError::Denied(Denied::Builtin))));
        let (other, _) = db.other_org(&admin, "acme");
        assert!(db.store.get_model(&other, &key("gpt-x")).is_ok());
        // Its key cannot be taken by a custom model.
        assert!(matches!(db.store.create_model(&other, NewModel { key: "gpt-x".into(), change: ModelChange::default() }), Err(DomainError::Conflict { .. })));
        let all = db.store.list_models(&other, &ModelQuery { source: Some(Source::Builtin), ..Default::default() }).unwrap();
        assert_eq!(all.total, 1);
    }

    fn authentication_and_key_revocation(db) {
        let (admin, admin_key) = db.bootstrap();
        assert!(db.store.bootstrap(None).unwrap().is_none(), "bootstraps only once");
        assert!(admin.actor.instance_admin);
        let (member, member_key) = db.user(&admin, "m1", Role::Member);
        assert_eq!(member.actor.role, Role::Member);
        assert!(db.store.authenticate("mg_unknown").unwrap().is_none());
        let keys = db.store.list_api_keys(&admin).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| k.prefix.len() == 10 && k.prefix.starts_with("mg_")));
        let mine = db.store.list_api_keys(&member).unwrap();
        assert_eq!(mine.len(), 1);
        // Members cannot revoke others' keys; admins can, with immediate effect.
        let admin_key_id = keys.iter().find(|k| k.user_id == admin.actor.user_id).unwrap().id.clone();
        assert!(matches!(db.store.revoke_api_key(&member, &admin_key_id), Err(DomainError::Denied(Denied::Admin))));
        db.store.revoke_api_key(&admin, &mine[0].id).unwrap();
        assert!(db.store.authenticate(&member_key).unwrap().is_none());
        assert!(db.store.authenticate(&admin_key).unwrap().is_some());
        // The org keeps at least one admin.
        assert!(matches!(db.store.update_user(&admin, &admin.actor.user_id, modelgate_core::UserChange { role: Some(Role::Member), ..Default::default() }), Err(DomainError::Invalid(_))));
    }

    fn bootstrap_uses_the_given_key(db) {
        let done = db.store.bootstrap(Some(Secret::new("mg_bootstrap_admin_key_for_tests"))).unwrap().unwrap();
        assert_eq!(done.org.name, "default");
        assert!(done.org.is_root);
        assert_eq!(done.admin.role, Role::Admin);
        let actor = db.store.authenticate("mg_bootstrap_admin_key_for_tests").unwrap().unwrap();
        assert_eq!(actor.user_id, done.admin.id);
        // Only the hash is stored.
        let mut conn = db.store.connection().unwrap();
        let hash: String = modelgate_store::schema::api_keys::table
            .select(modelgate_store::schema::api_keys::key_hash)
            .first(&mut *conn)
            .unwrap();
        assert_eq!(hash, modelgate_core::identity::hash_api_key("mg_bootstrap_admin_key_for_tests"));
    }

    fn user_defaults_follow_read_access(db) {
        let (admin, _) = db.bootstrap();
        let (member, _) = db.user(&admin, "m1", Role::Member);
        create(&db, &admin, "private", ModelChange::default());
        create(&db, &member, "mine", ModelChange::default());
        assert!(matches!(db.store.set_user_default(&member, "general", &key("private")), Err(DomainError::NotFound(_))));
        db.store.set_user_default(&member, "general", &key("mine")).unwrap();
        let again = db.store.set_user_default(&member, "general", &key("mine")).unwrap();
        assert_eq!(again.config_type, "general");
        let defaults = db.store.list_user_defaults(&member).unwrap();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].model.model.key, "mine");
        db.store.delete_user_default(&member, "general").unwrap();
        assert!(matches!(db.store.delete_user_default(&member, "general"), Err(DomainError::NotFound(Entity::UserDefault))));
    }

    fn user_ids_name_users_within_their_org(db) {
        let (root, _) = db.bootstrap();
        let (alice_a, key_a) = db.user(&root, "alice", Role::Member);
        create(&db, &alice_a, "a-owned", ModelChange::default());
        let (org_b, _) = db.other_org(&root, "b");
        // Org B may pick an id org A uses: the answer says nothing about org A.
        let (alice_b, key_b) = db.user(&org_b, "alice", Role::Member);
        assert_eq!((alice_b.actor.org_id.as_str(), alice_b.actor.user_id.as_str()), ("b", "alice"));
        assert_eq!(db.ctx_for_key(&key_a).actor.org_id, root.actor.org_id);
        let again = db.store.create_user(&org_b, modelgate_core::NewUser {
            id: Some("alice".into()), org_id: None, name: "again".into(), email: None, role: Role::Member,
        });
        assert!(matches!(again, Err(DomainError::Conflict { .. })), "still unique inside an org");
        // Same id, different users: nothing of org A's alice applies to org B's.
        assert!(matches!(db.store.get_model(&alice_b, &key("a-owned")), Err(DomainError::NotFound(_))));
        let b_owned = create(&db, &alice_b, "b-owned", ModelChange::default());
        assert_eq!(b_owned.model.owner_id.as_deref(), Some("alice"));
        db.store.create_group(&org_b, modelgate_core::NewGroup {
            id: Some("team".into()), name: "team".into(), description: None, member_ids: vec!["alice".into()],
        }).unwrap();
        assert_eq!(db.ctx_for_key(&key_b).actor.group_ids, vec!["team".to_owned()]);
        assert!(db.ctx_for_key(&key_a).actor.group_ids.is_empty());
        db.store.set_user_default(&alice_b, "general", &key("b-owned")).unwrap();
        let b_keys = db.store.list_api_keys(&org_b).unwrap();
        assert!(b_keys.iter().all(|k| k.org_id == "b"));
        assert_eq!(b_keys.iter().filter(|k| k.user_id == "alice").count(), 1);
        // Deleting org A's alice leaves org B's alice, its key, model, group and default alone.
        db.store.delete_user(&root, "alice").unwrap();
        assert!(db.store.authenticate(&key_a).unwrap().is_none());
        assert_eq!(db.store.get_model(&root, &key("a-owned")).unwrap().model.owner_id, None);
        let alice_b = db.ctx_for_key(&key_b);
        assert_eq!(alice_b.actor.group_ids, vec!["team".to_owned()]);
        assert_eq!(db.store.get_model(&alice_b, &key("b-owned")).unwrap().model.owner_id.as_deref(), Some("alice"));
        assert_eq!(db.store.list_user_defaults(&alice_b).unwrap().len(), 1);
        assert!(db.store.get_user(&org_b, "alice").is_ok());
    }

    fn newest_migrations_carry_rows_down_and_up(db) {
        let (root, root_key) = db.bootstrap();
        let (member, member_key) = db.user(&root, "m1", Role::Member);
        create(&db, &member, "mine", ModelChange::default());
        db.store.set_user_default(&member, "general", &key("mine")).unwrap();
        db.store.create_group(&root, modelgate_core::NewGroup {
            id: Some("team".into()), name: "team".into(), description: None, member_ids: vec!["m1".into()],
        }).unwrap();
        db.store.revert_newest_migrations(1).unwrap();
        assert_eq!(db.store.migrate().unwrap(), 1);
        let member = db.ctx_for_key(&member_key);
        assert_eq!(member.actor.group_ids, vec!["team".to_owned()]);
        assert_eq!(db.store.get_model(&member, &key("mine")).unwrap().model.owner_id.as_deref(), Some("m1"));
        assert_eq!(db.store.list_user_defaults(&member).unwrap()[0].model.model.key, "mine");
        assert!(db.ctx_for_key(&root_key).actor.instance_admin);
        assert_eq!(db.store.list_api_keys(&root).unwrap().len(), 2);
    }

    fn migrations_go_up_down_and_up(db) {
        const MIGRATIONS: usize = 10;
        let fresh = TestDb::empty(db.backend());
        assert_eq!(fresh.store.migrate().unwrap(), MIGRATIONS);
        assert_eq!(fresh.store.migrate().unwrap(), 0);
        assert_eq!(fresh.store.revert_all_migrations().unwrap(), MIGRATIONS);
        assert_eq!(fresh.store.migrate().unwrap(), MIGRATIONS);
        fresh.bootstrap();
    }

    fn users_and_defaults_have_stable_integer_numbers(db) {
        let (admin, _) = db.bootstrap();
        let (m1, _) = db.user(&admin, "m1", Role::Member);
        let (m2, _) = db.user(&admin, "m2", Role::Member);
        create(&db, &admin, "shared", ModelChange { public: Some(true), ..Default::default() });
        create(&db, &admin, "other", ModelChange { public: Some(true), ..Default::default() });
        let first = db.store.set_user_default(&m1, "general", &key("shared")).unwrap();
        let second = db.store.set_user_default(&m2, "general", &key("shared")).unwrap();
        let third = db.store.set_user_default(&m1, "embedding", &key("shared")).unwrap();
        assert!(first.id > 0 && second.id > 0 && third.id > 0);
        assert!(first.id != second.id && first.id != third.id && second.id != third.id);
        assert!(first.user_seq > 0 && second.user_seq > 0);
        assert_ne!(first.user_seq, second.user_seq, "each user has its own number");
        assert_eq!(first.user_seq, third.user_seq);
        // Choosing another model keeps the row's number; the list shows the same numbers.
        let changed = db.store.set_user_default(&m1, "general", &key("other")).unwrap();
        assert_eq!((changed.id, changed.user_seq), (first.id, first.user_seq));
        let listed: Vec<(i64, i64)> =
            db.store.list_user_defaults(&m1).unwrap().iter().map(|d| (d.id, d.user_seq)).collect();
        assert_eq!(listed, vec![(third.id, first.user_seq), (first.id, first.user_seq)]);
    }

    fn endpoints_change_partially_by_owner_or_admin(db) {
        let (admin, _) = db.bootstrap();
        let (owner, _) = db.user(&admin, "owner", Role::Member);
        let (other, _) = db.user(&admin, "other", Role::Member);
        create(&db, &owner, "m", ModelChange::default());
        let created = db.store.create_endpoint(&owner, modelgate_core::NewEndpoint {
            summary: "first".into(),
            tags: vec![" a ".into(), "b".into(), "a".into()],
            system_prompt: Some("be brief".into()),
            ..modelgate_core::NewEndpoint::new("Support", "support", Some(key("m")))
        }).unwrap();
        assert_eq!(created.tags, vec!["a".to_owned(), "b".to_owned()]);
        let change = || modelgate_core::EndpointChange { summary: Some("second".into()), ..Default::default() };
        assert!(matches!(db.store.update_endpoint(&other, "support", change()), Err(DomainError::Denied(_))));
        assert!(matches!(db.store.update_endpoint(&owner, "nope", change()), Err(DomainError::NotFound(Entity::Endpoint))));
        let updated = db.store.update_endpoint(&owner, "support", change()).unwrap();
        assert_eq!((updated.summary.as_str(), updated.name.as_str()), ("second", "Support"));
        assert_eq!(updated.system_prompt.as_deref(), Some("be brief"));
        assert!(updated.updated_at >= created.updated_at);
        // An empty prompt removes the override; an admin may change anyone's endpoint.
        let cleared = db.store.update_endpoint(&admin, "support", modelgate_core::EndpointChange {
            system_prompt: Some(Some(String::new())), ..Default::default()
        }).unwrap();
        assert_eq!(cleared.system_prompt, None);
        assert_eq!(db.store.get_endpoint(&owner, "support").unwrap(), cleared);
        let id = created.id.to_string();
        assert_eq!(audit_count(&db, &id), 3);
        // Nothing changes: nothing is written.
        let same = db.store.update_endpoint(&owner, "support", change()).unwrap();
        assert_eq!(same, cleared);
        assert_eq!(audit_count(&db, &id), 3);
    }

    fn admins_delete_every_custom_model_of_their_org(db) {
        let (admin, _) = db.bootstrap();
        let (member, _) = db.user(&admin, "m1", Role::Member);
        let (other_admin, _) = db.other_org(&admin, "acme");
        create(&db, &admin, "a", ModelChange::default());
        create(&db, &member, "b", ModelChange::default());
        create(&db, &other_admin, "c", ModelChange::default());
        assert!(matches!(db.store.delete_org_models(&member), Err(DomainError::Denied(_))));
        assert_eq!(db.store.delete_org_models(&admin).unwrap(), 2);
        let mine = db.store.list_models(&admin, &ModelQuery::custom_only()).unwrap();
        assert_eq!(mine.total, 0);
        // The other org keeps its model.
        assert!(db.store.get_model(&other_admin, &key("c")).is_ok());
        assert_eq!(db.store.delete_org_models(&admin).unwrap(), 0);
    }
}
