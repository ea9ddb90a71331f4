//! Secrets at rest (issue 11): each ciphertext only opens in the row and field it was sealed
//! for, carries the id of the key that sealed it, and `reseal_secrets` moves every secret to the
//! current key while previous keys still read the old ones. On SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use diesel::prelude::*;
use modelgate_core::{
    ModelChange, ModelRef, ModelUpdate, NewModel, NewProvider, ProviderRef, Registry, Secret,
};
use modelgate_store::schema::{models, providers};
use modelgate_store::{Cipher, Resealed, Store, StoreOptions};
use modelgate_testkit::{TEST_SECRET_KEY, TestDb, backend_tests};
use serde_json::json;

fn key(k: &str) -> ModelRef {
    ModelRef::Key(k.to_owned())
}

fn with_api_key(db: &TestDb, ctx: &modelgate_core::Ctx, k: &str, secret: &str) {
    db.store
        .create_model(
            ctx,
            NewModel {
                key: k.to_owned(),
                change: ModelChange {
                    api_key: Some(Some(Secret::new(secret))),
                    ..Default::default()
                },
            },
        )
        .unwrap();
}

fn raw_model_key(db: &TestDb, k: &str) -> String {
    let mut conn = db.store.connection().unwrap();
    models::table
        .filter(models::key.eq(k))
        .select(models::api_key_enc)
        .first::<Option<String>>(&mut *conn)
        .unwrap()
        .unwrap()
}

fn set_raw_model_key(db: &TestDb, k: &str, value: &str) {
    let mut conn = db.store.connection().unwrap();
    diesel::update(models::table.filter(models::key.eq(k)))
        .set(models::api_key_enc.eq(value))
        .execute(&mut *conn)
        .unwrap();
}

/// Another store on the same database, with other keys.
fn reopen(db: &TestDb, cipher: Cipher) -> Store {
    Store::open(&db.url, cipher, StoreOptions::default()).unwrap()
}

fn test_key_base64() -> String {
    B64.encode(TEST_SECRET_KEY)
}

backend_tests! {
    fn a_ciphertext_swapped_between_rows_does_not_open(db) {
        let (admin, _) = db.bootstrap();
        with_api_key(&db, &admin, "a", "sk-secret-of-model-a-1111");
        with_api_key(&db, &admin, "b", "sk-secret-of-model-b-2222");
        // A database writer moves a's ciphertext into b.
        let a_sealed = raw_model_key(&db, "a");
        set_raw_model_key(&db, "b", &a_sealed);
        let b = db.store.get_model(&admin, &key("b")).unwrap();
        let moved = b.model.fields.api_key.unwrap();
        assert!(db.store.secret_equals(&moved, "sk-secret-of-model-a-1111").is_err());
        assert!(db.store.cipher().reveal(&moved).is_err());
        // In its own row it still opens.
        let a = db.store.get_model(&admin, &key("a")).unwrap();
        assert!(db.store.secret_equals(&a.model.fields.api_key.unwrap(), "sk-secret-of-model-a-1111").unwrap());
        // A write that must compare keys refuses instead of using the moved secret.
        let update = ModelUpdate::patch(ModelChange {
            api_key: Some(Some(Secret::new("sk-secret-of-model-a-1111"))),
            ..Default::default()
        });
        assert!(db.store.update_model(&admin, &key("b"), update).is_err());
    }

    fn ciphertexts_name_their_key_and_rotation_moves_every_secret(db) {
        let (admin, _) = db.bootstrap();
        with_api_key(&db, &admin, "m", "sk-model-secret-value-1234");
        let provider = db.store.create_provider(&admin, NewProvider {
            provider_id: "p".into(),
            name: "P".into(),
            api_key: Some(Secret::new("sk-provider-secret-5678")),
            extra: json!({"headers": {"Authorization": "Bearer tok-0123456789abcd"}}).as_object().cloned().unwrap(),
        }).unwrap();
        let old_id = db.store.cipher().current_key_id().to_owned();
        assert!(raw_model_key(&db, "m").starts_with(&format!("v2:{old_id}:")));

        // The operator sets a new key, with the old one as a previous key.
        let new_key = Cipher::generate_key_base64();
        let rotated = || {
            reopen(&db, Cipher::from_base64(&new_key).unwrap().with_previous_base64([test_key_base64().as_str()]).unwrap())
        };
        let store = rotated();
        let model = store.get_model(&admin, &key("m")).unwrap();
        assert!(store.secret_equals(model.model.fields.api_key.as_ref().unwrap(), "sk-model-secret-value-1234").unwrap());
        assert_eq!(store.reseal_secrets().unwrap(), Resealed { resealed: 3, already_current: 0 });
        assert_eq!(store.reseal_secrets().unwrap(), Resealed { resealed: 0, already_current: 3 });
        let new_id = store.cipher().current_key_id().to_owned();
        assert_ne!(new_id, old_id);
        assert!(raw_model_key(&db, "m").starts_with(&format!("v2:{new_id}:")));
        let mut conn = db.store.connection().unwrap();
        let raw_provider: Option<String> = providers::table.find(provider.seq).select(providers::api_key_enc).first(&mut *conn).unwrap();
        assert!(raw_provider.unwrap().starts_with(&format!("v2:{new_id}:")));
        drop(conn);

        // Nothing a client sees changed: same versions, and only the new key is needed now.
        let only_new = reopen(&db, Cipher::from_base64(&new_key).unwrap());
        let model_after = only_new.get_model(&admin, &key("m")).unwrap();
        assert_eq!(model_after.model.version, model.model.version);
        assert!(only_new.secret_equals(model_after.model.fields.api_key.as_ref().unwrap(), "sk-model-secret-value-1234").unwrap());
        let p = only_new.get_provider(&admin, &ProviderRef::Slug("p".into())).unwrap();
        assert!(only_new.secret_equals(p.api_key.as_ref().unwrap(), "sk-provider-secret-5678").unwrap());
        let header = &p.extra_secrets["/headers/Authorization"];
        assert!(only_new.secret_equals(header, "Bearer tok-0123456789abcd").unwrap());
        // The old key alone no longer opens them.
        let only_old = reopen(&db, Cipher::new(&TEST_SECRET_KEY));
        assert!(only_old.secret_equals(model_after.model.fields.api_key.as_ref().unwrap(), "sk-model-secret-value-1234").is_err());
    }

    fn values_written_by_earlier_versions_are_read_then_resealed_bound(db) {
        let (admin, _) = db.bootstrap();
        with_api_key(&db, &admin, "legacy", "placeholder-value-0000");
        // The `v1` layout: no key id, no associated data.
        let aead = Aes256Gcm::new(&Key::<Aes256Gcm>::from(TEST_SECRET_KEY));
        let nonce = aes_gcm::Nonce::generate();
        let mut packed = nonce.to_vec();
        packed.extend(aead.encrypt(&nonce, b"sk-legacy-secret-9999".as_slice()).unwrap());
        set_raw_model_key(&db, "legacy", &format!("v1:{}", B64.encode(packed)));
        let model = db.store.get_model(&admin, &key("legacy")).unwrap();
        assert!(db.store.secret_equals(model.model.fields.api_key.as_ref().unwrap(), "sk-legacy-secret-9999").unwrap());
        let done = db.store.reseal_secrets().unwrap();
        assert_eq!(done.resealed, 1);
        let id = db.store.cipher().current_key_id().to_owned();
        assert!(raw_model_key(&db, "legacy").starts_with(&format!("v2:{id}:")));
        let model = db.store.get_model(&admin, &key("legacy")).unwrap();
        assert!(db.store.secret_equals(model.model.fields.api_key.as_ref().unwrap(), "sk-legacy-secret-9999").unwrap());
    }
}
