//! Caches across replicas: two stores on one database (two servers on one Postgres, or the CLI
//! beside a server on SQLite). A change acknowledged by one is what the other serves on its very
//! next call; on SQLite the caches are really in use (their hit counters move).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_core::identity::hash_api_key;
use modelgate_core::{
    Ctx, DomainError, Grant, ModelChange, ModelQuery, ModelRef, ModelUpdate, NewGroup, NewModel,
    Permission, PrincipalKind, Registry, Role, Unconfirmed, UserChange,
};
use modelgate_store::{Backend, Store};
use modelgate_testkit::{TestDb, backend_tests};
use std::sync::Arc;

fn key(k: &str) -> ModelRef {
    ModelRef::Key(k.to_owned())
}

fn described(text: &str) -> ModelChange {
    ModelChange { description: Some(Some(text.to_owned())), ..Default::default() }
}

fn description(store: &Store, ctx: &Ctx, k: &str) -> Option<String> {
    store.get_model(ctx, &key(k)).unwrap().model.fields.description
}

/// `ctx` as `store` authenticates `api_key` now.
fn as_seen_by(store: &Store, api_key: &str) -> Option<Ctx> {
    store.authenticate(api_key).unwrap().map(|actor| Ctx::new(actor, "test"))
}

/// Reads `k` through `store` twice. The second read must come from the cache (on Postgres,
/// after a light statement found it current), or the checks that follow would prove nothing.
fn warm(store: &Store, ctx: &Ctx, k: &str) {
    store.get_model(ctx, &key(k)).unwrap();
    let before = store.cache_hits().1;
    store.get_model(ctx, &key(k)).unwrap();
    assert!(store.cache_hits().1 > before, "{k} served from the cache");
}

/// What a handler that defers confirmation gets: the remembered caller, else the key as the
/// database has it.
fn caller(store: &Store, api_key: &str) -> Option<Ctx> {
    store.remembered_caller(api_key, "test").or_else(|| as_seen_by(store, api_key))
}

/// `ctx` as a replica's cache may hold it, to be confirmed by the next call (what
/// `remembered_caller` gives a GET handler): as `store` remembers it where it holds this very
/// caller (on Postgres that carries the identity version it was read at), else built by hand,
/// so that every read below has one to confirm.
fn cached(store: &Store, ctx: &Ctx, api_key: &str) -> Ctx {
    let unconfirmed = store
        .remembered_caller(api_key, "test")
        .filter(|remembered| remembered.actor == ctx.actor)
        .and_then(|remembered| remembered.unconfirmed)
        .unwrap_or_else(|| Unconfirmed::new(hash_api_key(api_key)));
    Ctx { unconfirmed: Some(unconfirmed), ..ctx.clone() }
}

fn unauthenticated<T: std::fmt::Debug>(result: Result<T, DomainError>) -> bool {
    matches!(result, Err(DomainError::Unauthenticated))
}

/// Group `devs`, whose one member is `m1`.
fn devs_with_m1(store: &Store, admin: &Ctx) {
    let devs = NewGroup {
        id: Some("devs".into()),
        name: "devs".into(),
        description: None,
        member_ids: vec!["m1".into()],
    };
    store.create_group(admin, devs).unwrap();
}

fn replicas(db: &TestDb) -> (Arc<Store>, Arc<Store>) {
    (Arc::clone(&db.store), db.replica())
}

backend_tests! {
    fn a_change_on_one_replica_is_served_by_the_other_at_once(db) {
        let (a, b) = replicas(&db);
        let (admin, admin_key) = db.bootstrap();
        a.create_model(&admin, NewModel { key: "m".into(), change: described("one") }).unwrap();
        let on_b = as_seen_by(&b, &admin_key).unwrap();
        warm(&b, &on_b, "m");
        warm(&a, &admin, "m");

        a.update_model(&admin, &key("m"), ModelUpdate::patch(described("two"))).unwrap();
        assert_eq!(description(&b, &on_b, "m").as_deref(), Some("two"));
        b.update_model(&on_b, &key("m"), ModelUpdate::patch(described("three"))).unwrap();
        assert_eq!(description(&a, &admin, "m").as_deref(), Some("three"));
        assert_eq!(description(&b, &on_b, "m").as_deref(), Some("three"));

        a.delete_model(&admin, &key("m")).unwrap();
        assert!(matches!(b.get_model(&on_b, &key("m")), Err(DomainError::NotFound(_))));
    }

    fn a_key_revoked_on_one_replica_is_refused_by_the_other_at_once(db) {
        let (a, b) = replicas(&db);
        let (admin, _) = db.bootstrap();
        let (_, member_key) = db.user(&admin, "m1", Role::Member);
        let hits = b.cache_hits().0;
        assert!(as_seen_by(&b, &member_key).is_some());
        assert!(as_seen_by(&b, &member_key).is_some());
        let key_id = a.list_api_keys(&admin).unwrap().into_iter().find(|k| k.user_id == "m1").unwrap().id;
        a.revoke_api_key(&admin, &key_id).unwrap();
        assert!(as_seen_by(&b, &member_key).is_none());
        assert!(as_seen_by(&a, &member_key).is_none());
        assert_eq!(b.cache_hits().0 > hits, db.backend() == Backend::Sqlite, "the caller cache");
    }

    fn a_grant_or_membership_removed_on_one_replica_is_seen_by_the_other_at_once(db) {
        let (a, b) = replicas(&db);
        let (admin, _) = db.bootstrap();
        let (_, member_key) = db.user(&admin, "m1", Role::Member);
        devs_with_m1(&a, &admin);
        let grant = |kind, id: &str| Grant::new(kind, id, Permission::Read);
        let by_group = ModelChange { grants: Some(vec![grant(PrincipalKind::Group, "devs")]), ..Default::default() };
        let by_user = ModelChange { grants: Some(vec![grant(PrincipalKind::User, "m1")]), ..Default::default() };
        a.create_model(&admin, NewModel { key: "by-group".into(), change: by_group }).unwrap();
        a.create_model(&admin, NewModel { key: "by-user".into(), change: by_user }).unwrap();
        let member = as_seen_by(&b, &member_key).unwrap();
        assert_eq!(member.actor.group_ids, vec!["devs".to_owned()]);
        warm(&b, &member, "by-group");
        warm(&b, &member, "by-user");

        a.set_group_members(&admin, "devs", vec![]).unwrap();
        let member = as_seen_by(&b, &member_key).unwrap();
        assert!(member.actor.group_ids.is_empty());
        assert!(matches!(b.get_model(&member, &key("by-group")), Err(DomainError::NotFound(_))));

        let no_grants = ModelChange { grants: Some(vec![]), ..Default::default() };
        a.update_model(&admin, &key("by-user"), ModelUpdate::patch(no_grants)).unwrap();
        assert!(matches!(b.get_model(&member, &key("by-user")), Err(DomainError::NotFound(_))));
    }

    fn a_cached_caller_is_confirmed_by_the_read_it_makes(db) {
        let (a, b) = replicas(&db);
        let (admin, admin_key) = db.bootstrap();
        a.create_model(&admin, NewModel { key: "m".into(), change: described("one") }).unwrap();
        // What a GET handler gets: once the key is known, straight from the cache.
        let first = caller(&b, &admin_key).unwrap();
        assert!(first.unconfirmed.is_none(), "a key read from the database needs no check");
        let hits = b.cache_hits().0;
        let again = b.remembered_caller(&admin_key, "test").unwrap();
        assert!(b.cache_hits().0 > hits, "the caller cache answered");
        assert!(again.unconfirmed.is_some());

        let ctx = cached(&b, &admin, &admin_key);
        assert_eq!(description(&b, &ctx, "m").as_deref(), Some("one"));
        assert!(ctx.unconfirmed.as_ref().unwrap().is_confirmed(), "the read confirmed it");
        let missing = cached(&b, &admin, &admin_key);
        assert!(matches!(b.get_model(&missing, &key("nope")), Err(DomainError::NotFound(_))));
        assert!(missing.unconfirmed.as_ref().unwrap().is_confirmed());
    }

    fn a_cached_caller_whose_key_was_revoked_elsewhere_is_refused_at_once(db) {
        let (a, b) = replicas(&db);
        let (admin, _) = db.bootstrap();
        let (member, member_key) = db.user(&admin, "m1", Role::Member);
        let public = ModelChange { public: Some(true), ..Default::default() };
        a.create_model(&admin, NewModel { key: "m".into(), change: public }).unwrap();
        assert!(caller(&b, &member_key).is_some());
        b.get_model(&cached(&b, &member, &member_key), &key("m")).unwrap();

        let key_id = a.list_api_keys(&admin).unwrap().into_iter().find(|k| k.user_id == "m1").unwrap().id;
        a.revoke_api_key(&admin, &key_id).unwrap();
        // Refused by a model read, a miss, a list and a write alike: never served as it was.
        assert!(unauthenticated(b.get_model(&cached(&b, &member, &member_key), &key("m"))));
        assert!(unauthenticated(b.get_model(&cached(&b, &member, &member_key), &key("nope"))));
        assert!(unauthenticated(b.list_models(&cached(&b, &member, &member_key), &ModelQuery::default())));
        let write = b.update_model(&cached(&b, &member, &member_key), &key("m"), ModelUpdate::patch(described("x")));
        assert!(unauthenticated(write));
        assert!(b.remembered_caller(&member_key, "test").is_none(), "the refusal dropped it");
        assert!(caller(&b, &member_key).is_none());
    }

    fn a_cached_caller_whose_groups_or_role_changed_acts_as_it_is_now(db) {
        let (a, b) = replicas(&db);
        let (admin, _) = db.bootstrap();
        let (_, member_key) = db.user(&admin, "m1", Role::Member);
        devs_with_m1(&a, &admin);
        let grants = Some(vec![Grant::new(PrincipalKind::Group, "devs", Permission::Write)]);
        a.create_model(&admin, NewModel { key: "m".into(), change: ModelChange { grants, ..Default::default() } }).unwrap();
        let member = as_seen_by(&b, &member_key).unwrap();
        assert!(b.get_model(&cached(&b, &member, &member_key), &key("m")).unwrap().rights.write);

        a.set_group_members(&admin, "devs", vec![]).unwrap();
        let stale = cached(&b, &member, &member_key);
        assert!(matches!(b.get_model(&stale, &key("m")), Err(DomainError::NotFound(_))));
        assert!(!stale.unconfirmed.as_ref().unwrap().is_confirmed(), "a changed caller stays unconfirmed");
        assert_eq!(b.list_models(&cached(&b, &member, &member_key), &ModelQuery::default()).unwrap().total, 0);
        let refreshed = caller(&b, &member_key).unwrap();
        assert!(refreshed.actor.group_ids.is_empty(), "the cache holds the caller as it is now");
        if db.backend() == Backend::Postgres {
            // The read that found the change corrected the cache (SQLite's was dropped).
            assert!(refreshed.unconfirmed.is_some());
        }

        a.set_group_members(&admin, "devs", vec!["m1".into()]).unwrap();
        a.update_user(&admin, "m1", UserChange { role: Some(Role::Viewer), ..Default::default() }).unwrap();
        let write = b.update_model(&cached(&b, &member, &member_key), &key("m"), ModelUpdate::patch(described("x")));
        assert!(matches!(write, Err(DomainError::Denied(_))), "{write:?}");
    }

    fn changes_made_by_cascades_on_one_replica_are_seen_by_the_other_at_once(db) {
        let (a, b) = replicas(&db);
        let (admin, admin_key) = db.bootstrap();
        let (member, member_key) = db.user(&admin, "m1", Role::Member);
        devs_with_m1(&a, &admin);
        let by_group = ModelChange {
            grants: Some(vec![Grant::new(PrincipalKind::Group, "devs", Permission::Read)]),
            ..Default::default()
        };
        a.create_model(&admin, NewModel { key: "by-group".into(), change: by_group }).unwrap();
        a.create_model(&member, NewModel { key: "mine".into(), change: described("m1's") }).unwrap();
        let admin_on_b = as_seen_by(&b, &admin_key).unwrap();
        assert!(as_seen_by(&b, &member_key).is_some());
        let remembered = b.remembered_caller(&member_key, "test").unwrap();
        warm(&b, &remembered, "by-group");
        warm(&b, &admin_on_b, "mine");
        assert_eq!(b.get_model(&admin_on_b, &key("mine")).unwrap().model.owner_id.as_deref(), Some("m1"));

        // Deleting the group deletes its memberships (a foreign key's cascade, not our code).
        a.delete_group(&admin, "devs").unwrap();
        let remembered = b.remembered_caller(&member_key, "test").unwrap();
        assert!(matches!(b.get_model(&remembered, &key("by-group")), Err(DomainError::NotFound(_))));
        assert!(caller(&b, &member_key).unwrap().actor.group_ids.is_empty());

        // Deleting the user deletes its keys and clears the owner of its models (cascades).
        a.delete_user(&admin, "m1").unwrap();
        let remembered = b.remembered_caller(&member_key, "test").unwrap();
        assert!(unauthenticated(b.get_model(&remembered, &key("by-group"))));
        assert_eq!(b.get_model(&admin_on_b, &key("mine")).unwrap().model.owner_id, None);
    }

    fn an_update_worked_out_on_a_stale_copy_follows_what_the_other_replica_changed(db) {
        let (a, b) = replicas(&db);
        let (admin, admin_key) = db.bootstrap();
        let (member, member_key) = db.user(&admin, "m1", Role::Member);
        let writable = |yes: bool| ModelChange {
            grants: Some(if yes { vec![Grant::new(PrincipalKind::User, "m1", Permission::Write)] } else { vec![] }),
            ..Default::default()
        };
        a.create_model(&admin, NewModel { key: "m".into(), change: writable(true) }).unwrap();
        let tagged = |tag: &str| ModelUpdate::patch(ModelChange { tags: Some(vec![tag.to_owned()]), ..Default::default() });
        let admin_on_b = as_seen_by(&b, &admin_key).unwrap();
        // B's own update leaves the model it wrote in its cache (on Postgres).
        b.update_model(&admin_on_b, &key("m"), tagged("b1")).unwrap();
        warm(&b, &admin_on_b, "m");

        // A changes another field; B's next update, worked out on what B holds, keeps it.
        a.update_model(&admin, &key("m"), ModelUpdate::patch(described("from a"))).unwrap();
        let after = b.update_model(&admin_on_b, &key("m"), tagged("b2")).unwrap().model;
        assert_eq!(after.fields.description.as_deref(), Some("from a"));
        assert_eq!((after.fields.tags.clone(), after.version), (vec!["b2".to_owned()], 4));
        let history = a.model_history(&admin, after.uuid).unwrap();
        let last = history.iter().find(|e| e.after.as_ref().is_some_and(|m| m["version"] == 4)).unwrap();
        assert_eq!(last.before.as_ref().unwrap()["description"], "from a", "its trail starts from A's change");

        // The member, as B remembers it, may write the model until A takes that away.
        let member_on_b = || {
            assert!(as_seen_by(&b, &member_key).is_some());
            b.remembered_caller(&member_key, "test").unwrap()
        };
        let member_writes = |text: &str| b.update_model(&member_on_b(), &key("m"), ModelUpdate::patch(described(text)));
        let unchanged = |text: &str| assert_eq!(description(&a, &admin, "m").as_deref(), Some(text));
        member_writes("m1 one").unwrap();
        a.update_model(&admin, &key("m"), ModelUpdate::patch(writable(false))).unwrap();
        let refused = member_writes("m1 two");
        assert!(matches!(refused, Err(DomainError::NotFound(_))), "grant removed: {refused:?}");
        unchanged("m1 one");

        a.update_model(&admin, &key("m"), ModelUpdate::patch(writable(true))).unwrap();
        member_writes("m1 three").unwrap();
        a.update_user(&admin, "m1", UserChange { role: Some(Role::Viewer), ..Default::default() }).unwrap();
        // B still remembers the member as it was (on Postgres): its next call must not act on
        // that.
        let stale = cached(&b, &member, &member_key);
        let remembered = stale.unconfirmed.as_ref().unwrap().remembered_at.is_some();
        assert_eq!(remembered, db.backend() == Backend::Postgres);
        let refused = b.update_model(&stale, &key("m"), ModelUpdate::patch(described("m1 four")));
        assert!(matches!(refused, Err(DomainError::Denied(_))), "demoted: {refused:?}");
        unchanged("m1 three");

        a.update_user(&admin, "m1", UserChange { role: Some(Role::Member), ..Default::default() }).unwrap();
        member_writes("m1 five").unwrap();
        let key_id = a.list_api_keys(&admin).unwrap().into_iter().find(|k| k.user_id == "m1").unwrap().id;
        a.revoke_api_key(&admin, &key_id).unwrap();
        let stale = cached(&b, &member, &member_key);
        assert!(unauthenticated(b.update_model(&stale, &key("m"), ModelUpdate::patch(described("m1 six")))));
        unchanged("m1 five");
    }

    fn a_route_cached_on_one_replica_follows_its_model_and_base_changed_on_the_other(db) {
        let (a, b) = replicas(&db);
        let (admin, admin_key) = db.bootstrap();
        let priced = |cost| ModelChange { input_cost: Some(Some(cost)), ..Default::default() };
        a.create_model(&admin, NewModel { key: "parent".into(), change: priced(1.0) }).unwrap();
        let child = ModelChange {
            base_url: Some(Some("http://127.0.0.1:9/v1".into())),
            base_model: Some(Some("parent".into())),
            ..Default::default()
        };
        a.create_model(&admin, NewModel { key: "child".into(), change: child }).unwrap();
        let input_price = |b: &Store| b.upstream(&caller(b, &admin_key).unwrap(), "child").map(|u| u.pricing.input);
        assert_eq!(input_price(&b).unwrap(), Some(1.0));
        let hits = b.cache_hits().1;
        assert_eq!(input_price(&b).unwrap(), Some(1.0));
        assert!(b.cache_hits().1 >= hits + 2, "the model and its base came from the cache");

        a.update_model(&admin, &key("parent"), ModelUpdate::patch(priced(2.0))).unwrap();
        assert_eq!(input_price(&b).unwrap(), Some(2.0));
        let inactive = ModelChange { is_active: Some(false), ..Default::default() };
        a.update_model(&admin, &key("child"), ModelUpdate::patch(inactive)).unwrap();
        assert!(input_price(&b).is_err());
    }
}
