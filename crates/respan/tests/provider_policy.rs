//! Custom providers under the one policy, and the credentials inside their `extra_kwargs`
//! treated as secrets (issue 11, defects 2 and 3), through the real app on SQLite and Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Env, NO_PERMISSION, env, expect};
use diesel::prelude::*;
use modelgate_core::{ModelRef, Provider, ProviderRef, Registry};
use modelgate_store::schema::{audit_events, providers};
use modelgate_testkit::backend_app_tests;
use serde_json::{Value, json};

const PROVIDERS: &str = "/respan/api/providers/";
const MODELS: &str = "/respan/api/models/";

fn path(slug: &str) -> String {
    format!("{PROVIDERS}{slug}/")
}

fn stored(env: &Env, slug: &str) -> Provider {
    let ctx = env.app.db.ctx_for_key(&env.admin);
    env.app.db.store.get_provider(&ctx, &ProviderRef::Slug(slug.into())).unwrap()
}

/// The history rows of providers: (action, actor, before, after).
type Trail = Vec<(String, Option<String>, Option<String>, Option<String>)>;

fn provider_history(env: &Env) -> Trail {
    let mut conn = env.app.db.store.connection().unwrap();
    audit_events::table
        .filter(audit_events::entity.eq("provider"))
        .order(audit_events::id)
        .select((
            audit_events::action,
            audit_events::actor_id,
            audit_events::before_state,
            audit_events::after_state,
        ))
        .load(&mut *conn)
        .unwrap()
}

fn model_history_len(env: &Env, uuid: &str) -> i64 {
    let mut conn = env.app.db.store.connection().unwrap();
    audit_events::table
        .filter(audit_events::entity_id.eq(uuid))
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

/// The provider's row as stored: `extra` and `extra_secrets`.
fn raw_row(env: &Env, slug: &str) -> String {
    let mut conn = env.app.db.store.connection().unwrap();
    let (extra, secrets, key): (String, String, Option<String>) = providers::table
        .filter(providers::provider_id.eq(slug))
        .select((providers::extra, providers::extra_secrets, providers::api_key_enc))
        .first(&mut *conn)
        .unwrap();
    format!("{extra} {secrets} {key:?}")
}

const TOP_SECRET: &str = "sk-extra-0123456789wxyz";
const HEADER_SECRET: &str = "Bearer hdr-0123456789mnop";

backend_app_tests! {
    async fn a_member_changes_only_the_providers_it_created(db) {
        let env = env(db).await;
        let created = env.app.post(PROVIDERS, env.member(), json!({
            "provider_id": "alices", "provider_name": "Alice's", "api_key": "sk-alice-0123456789abcd",
            "extra_kwargs": {"base_url": "https://a.test"}
        })).await;
        assert_eq!(created.status, 201, "{created:?}");
        let before = stored(&env, "alices");
        let history = provider_history(&env);

        // The repro: another member PATCHes (key included), PUTs and DELETEs it.
        for response in [
            env.app.patch(&path("alices"), env.member2(), json!({"api_key": "sk-bob-000000000000ffff"})).await,
            env.app.patch(&path("alices"), env.member2(), json!({"provider_name": "Bob's now"})).await,
            env.app.put(&path("alices"), env.member2(), json!({"provider_name": "Bob's"})).await,
            env.app.delete(&path("alices"), env.member2()).await,
            // Viewers never write.
            env.app.patch(&path("alices"), env.viewer(), json!({"provider_name": "V"})).await,
            env.app.delete(&path("alices"), env.viewer()).await,
        ] {
            expect(&response, 403, json!({"detail": NO_PERMISSION}));
        }
        // Nothing changed, nothing recorded.
        assert_eq!(stored(&env, "alices"), before);
        assert_eq!(provider_history(&env), history);
        // Every user of the org reads it (the key is never shown).
        for key in [env.member2(), env.viewer(), env.admin()] {
            expect(&env.app.get(&path("alices"), key).await, 200, created.json.clone());
        }
        // Another org's providers do not exist.
        for response in [
            env.app.get(&path("alices"), env.other()).await,
            env.app.patch(&path("alices"), env.other(), json!({"provider_name": "X"})).await,
            env.app.delete(&path("alices"), env.other()).await,
        ] {
            expect(&response, 404, json!({"detail": "Not found."}));
        }
        assert_eq!(env.app.get(PROVIDERS, env.other()).await.json["count"], json!(0));

        // The owner and an admin may change it.
        let by_owner = env.app.patch(&path("alices"), env.member(), json!({"provider_name": "Alice's (EU)"})).await;
        assert_eq!((by_owner.status, by_owner.json["provider_name"].clone()), (200, json!("Alice's (EU)")));
        let by_admin = env.app.patch(&path("alices"), env.admin(), json!({"api_key": "sk-admin-0123456789eeee"})).await;
        assert_eq!(by_admin.status, 200, "{by_admin:?}");
        assert_eq!(stored(&env, "alices").api_key.unwrap().mask, "sk-...eeee");
        // An admin's provider is not a member's to change.
        assert_eq!(env.app.post(PROVIDERS, env.admin(), json!({"provider_id": "admins", "provider_name": "A"})).await.status, 201);
        expect(&env.app.patch(&path("admins"), env.member(), json!({"provider_name": "Mine"})).await, 403, json!({"detail": NO_PERMISSION}));
        // The owner may delete it; so may an admin.
        assert_eq!(env.app.delete(&path("alices"), env.member()).await.status, 204);
        assert_eq!(env.app.delete(&path("admins"), env.admin()).await.status, 204);
        let trail = provider_history(&env);
        let actors: Vec<_> = trail.iter().map(|(action, actor, _, _)| (action.as_str(), actor.clone().unwrap())).collect();
        assert_eq!(actors, [
            ("create", "alice".to_owned()), ("update", "alice".to_owned()), ("update", env.admin_ctx.actor.user_id.clone()),
            ("create", env.admin_ctx.actor.user_id.clone()), ("delete", "alice".to_owned()), ("delete", env.admin_ctx.actor.user_id.clone()),
        ]);
    }

    async fn deleting_a_provider_never_changes_models_the_caller_may_not_write(db) {
        let env = env(db).await;
        assert_eq!(env.app.post(PROVIDERS, env.member(), json!({"provider_id": "shared", "provider_name": "Shared"})).await.status, 201);
        // Every user whose role writes may use a provider of the org in its models.
        let bobs = env.app.post(MODELS, env.member2(), json!({"model_name": "bobs", "custom_provider_id": "shared"})).await;
        assert_eq!((bobs.status, bobs.json["provider"]["provider_id"].clone()), (201, json!("shared")), "{bobs:?}");
        let alices = env.app.post(MODELS, env.member(), json!({"model_name": "alices", "custom_provider_id": "shared"})).await;
        assert_eq!(alices.status, 201, "{alices:?}");
        let ctx = env.app.db.ctx_for_key(&env.admin);
        let bob_model = env.app.db.store.get_model(&ctx, &ModelRef::Key("bobs".into())).unwrap().model;
        let history = provider_history(&env);

        // Alice owns the provider but may not write Bob's model, which uses it: refused, and
        // nothing changes — not the provider, not Bob's model (version, link, history), not hers.
        expect(&env.app.delete(&path("shared"), env.member()).await, 403, json!({"detail": NO_PERMISSION}));
        let after = env.app.db.store.get_model(&ctx, &ModelRef::Key("bobs".into())).unwrap().model;
        assert_eq!(after, bob_model);
        assert_eq!(model_history_len(&env, &bob_model.uuid.to_string()), 1);
        assert_eq!(env.app.db.store.get_model(&ctx, &ModelRef::Key("alices".into())).unwrap().model.version, 1);
        assert_eq!(provider_history(&env), history);
        assert_eq!(env.app.get(&path("shared"), env.member()).await.status, 200);

        // An admin may write every model: the provider goes, each model is unlinked, audited
        // under the admin.
        assert_eq!(env.app.delete(&path("shared"), env.admin()).await.status, 204);
        let unlinked = env.app.db.store.get_model(&ctx, &ModelRef::Key("bobs".into())).unwrap().model;
        assert_eq!((unlinked.fields.provider_ref, unlinked.version), (None, bob_model.version + 1));
        let events = env.app.db.store.model_history(&ctx, unlinked.uuid).unwrap();
        assert_eq!(events.last().unwrap().actor_id.as_deref(), Some(env.admin_ctx.actor.user_id.as_str()));
        assert_eq!(env.app.get(&format!("{MODELS}bobs/"), env.member2()).await.json["provider"], Value::Null);

        // With only models the owner may write, the owner's delete goes through.
        assert_eq!(env.app.post(PROVIDERS, env.member(), json!({"provider_id": "own", "provider_name": "Own"})).await.status, 201);
        assert_eq!(env.app.patch(&format!("{MODELS}alices/"), env.member(), json!({"custom_provider_id": "own"})).await.status, 200);
        assert_eq!(env.app.delete(&path("own"), env.member()).await.status, 204);
        let hers = env.app.db.store.get_model(&ctx, &ModelRef::Key("alices".into())).unwrap().model;
        assert_eq!(hers.fields.provider_ref, None);
        // Viewers cannot point models at providers (they write no models).
        expect(&env.app.post(MODELS, env.viewer(), json!({"model_name": "v", "custom_provider_id": "x"})).await,
            403, json!({"detail": NO_PERMISSION}));
    }

    async fn credentials_in_extra_kwargs_are_secrets(db) {
        let env = env(db).await;
        let created = env.app.post(PROVIDERS, env.member(), json!({
            "provider_id": "creds", "provider_name": "Creds",
            "extra_kwargs": {
                "base_url": "https://x.test", "timeout": 60, "api_key": TOP_SECRET,
                "headers": {"Authorization": HEADER_SECRET, "Accept": "application/json"}
            }
        })).await;
        assert_eq!(created.status, 201, "{created:?}");
        let shown = json!({
            "base_url": "https://x.test", "timeout": 60, "api_key": "sk-...wxyz",
            "headers": {"Authorization": "Bea...mnop", "Accept": "application/json"}
        });
        assert_eq!(created.json["extra_kwargs"], shown);
        let leaks = |text: &str| ["0123456789", "hdr-", "sk-extra"].iter().any(|s| text.contains(s));
        assert!(!leaks(&created.text()), "{created:?}");
        // Not in the database in clear.
        let row = raw_row(&env, "creds");
        assert!(!leaks(&row), "{row}");
        // Not in any answer.
        for response in [env.app.get(&path("creds"), env.member2()).await, env.app.get(PROVIDERS, env.viewer()).await] {
            assert_eq!(response.status, 200);
            assert!(!leaks(&response.text()), "{response:?}");
        }
        // Sealed all the same.
        let sealed = stored(&env, "creds");
        let reveal = |p: &Provider, pointer: &str| env.app.db.store.cipher().reveal(&p.extra_secrets[pointer]).unwrap().expose().to_owned();
        assert_eq!((reveal(&sealed, "/api_key"), reveal(&sealed, "/headers/Authorization")), (TOP_SECRET.to_owned(), HEADER_SECRET.to_owned()));

        // PATCH with what GET answered, one setting changed: the masked credentials keep their
        // secrets, not the masks.
        let mut sent = env.app.get(&path("creds"), env.member()).await.json["extra_kwargs"].clone();
        sent["timeout"] = json!(30);
        let patched = env.app.patch(&path("creds"), env.member(), json!({"extra_kwargs": sent})).await;
        assert_eq!(patched.status, 200, "{patched:?}");
        assert_eq!(patched.json["extra_kwargs"]["headers"], shown["headers"]);
        let kept = stored(&env, "creds");
        assert_eq!(kept.version, 2);
        assert_eq!(kept.extra_secrets, sealed.extra_secrets);
        assert!(env.app.db.store.secret_equals(&kept.extra_secrets["/headers/Authorization"], HEADER_SECRET).unwrap());
        // Sent back unchanged: nothing changes at all.
        let unchanged = env.app.patch(&path("creds"), env.member(), json!({"extra_kwargs": patched.json["extra_kwargs"].clone()})).await;
        expect(&unchanged, 200, patched.json.clone());
        assert_eq!(stored(&env, "creds").version, 2);
        // A new value in clear replaces that secret, answered masked.
        let rotated = env.app.patch(&path("creds"), env.member(), json!({"extra_kwargs": {"headers": {"Authorization": "Bearer new-99999999qrst"}}})).await;
        assert_eq!(rotated.json["extra_kwargs"], json!({"headers": {"Authorization": "Bea...qrst"}}));
        let rotated_row = stored(&env, "creds");
        assert_eq!(reveal(&rotated_row, "/headers/Authorization"), "Bearer new-99999999qrst");
        assert!(!rotated_row.extra_secrets.contains_key("/api_key"));
        assert!(!raw_row(&env, "creds").contains("new-9999"));

        // The history says which credentials exist and changed, nothing of their values (not
        // even masks).
        let trail = format!("{:?}", provider_history(&env));
        for leak in ["0123456789", "hdr-", "sk-", "wxyz", "mnop", "qrst", "Bea", "v1:"] {
            assert!(!trail.contains(leak), "{leak} in {trail}");
        }
        let last: Value = serde_json::from_str(provider_history(&env).last().unwrap().3.as_deref().unwrap()).unwrap();
        assert_eq!(last["extra"], json!({"headers": {"Authorization": "[secret]"}}));
        assert_eq!(last["secrets_changed"], json!(["/api_key", "/headers/Authorization"]));
    }
}
