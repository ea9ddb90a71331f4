//! AES-256-GCM encryption of secrets at rest.
//!
//! Stored form: `v2:<key id>:` + base64(nonce ‖ ciphertext‖tag), a fresh random 96-bit nonce per
//! value. The associated data is the secret's *slot* — which row and which field it belongs to
//! (`model/<uuid>/api_key`, `provider/<org>/<provider id>/extra_kwargs/headers/Authorization`) —
//! so a ciphertext copied into another row or field no longer decrypts. The key id (a short
//! fingerprint of the key) says which key sealed a value, so a previous key can still read what
//! it sealed while [`crate::Store::reseal_secrets`] moves everything to the current one.
//!
//! `v1:` values (no key id, no associated data) were written by earlier versions; they are
//! still read, and resealed as `v2` by the next reseal.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use modelgate_core::{DomainError, DomainResult, SealedSecret, Sealer, Secret};
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

const V1_PREFIX: &str = "v1:";
const V2_PREFIX: &str = "v2:";
const NONCE_LEN: usize = 12;

/// A model, as the first part of its secrets' slots (see the module documentation).
pub fn model_object(uuid: &uuid::Uuid) -> String {
    format!("model/{uuid}")
}

/// A custom provider, as the first part of its secrets' slots: providers are named by org and
/// their immutable slug.
pub fn provider_object(org_id: &str, provider_id: &str) -> String {
    format!("provider/{org_id}/{provider_id}")
}

/// The slot of a model's field.
pub fn model_slot(uuid: &uuid::Uuid, field: &str) -> String {
    format!("{}/{field}", model_object(uuid))
}

/// The slot of a custom provider's field.
pub fn provider_slot(org_id: &str, provider_id: &str, field: &str) -> String {
    format!("{}/{field}", provider_object(org_id, provider_id))
}

struct KeyEntry {
    id: String,
    aead: Aes256Gcm,
}

impl KeyEntry {
    fn new(key: &[u8; 32]) -> Self {
        Self { id: key_id(key), aead: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)) }
    }
}

/// A key's id: the first 8 hex digits of a domain-separated SHA-256 of it. Enough to tell a
/// handful of keys apart, and says nothing usable about the key.
fn key_id(key: &[u8; 32]) -> String {
    let digest =
        Sha256::new().chain_update(b"modelgate secret key id\0").chain_update(key).finalize();
    hex::encode(&digest[..4])
}

/// The current key, which seals, and any previous keys, which only open what they sealed.
pub struct Cipher {
    current: KeyEntry,
    previous: Vec<KeyEntry>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cipher(current {}, {} previous)", self.current.id, self.previous.len())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("secret could not be encrypted or decrypted")]
struct CryptoError;

fn decode_key(encoded: &str, name: &str) -> StoreResult<[u8; 32]> {
    let bytes = B64
        .decode(encoded.trim())
        .map_err(|_| StoreError::Config(format!("{name} is not valid base64")))?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Config(format!("{name} must be base64 of exactly 32 bytes")))
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { current: KeyEntry::new(key), previous: Vec::new() }
    }

    /// A key given as base64 of exactly 32 bytes (`MODELGATE_SECRET_KEY`).
    pub fn from_base64(encoded: &str) -> StoreResult<Self> {
        Ok(Self::new(&decode_key(encoded, "MODELGATE_SECRET_KEY")?))
    }

    /// Also opens values sealed with `keys` (base64, `MODELGATE_PREVIOUS_SECRET_KEYS`).
    pub fn with_previous_base64<'a>(
        mut self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<Self> {
        for key in keys {
            let entry = KeyEntry::new(&decode_key(key, "MODELGATE_PREVIOUS_SECRET_KEYS")?);
            if entry.id != self.current.id {
                self.previous.push(entry);
            }
        }
        Ok(self)
    }

    /// A new random key, base64-encoded.
    pub fn generate_key_base64() -> String {
        B64.encode(Key::<Aes256Gcm>::generate())
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    pub fn encrypt(&self, plaintext: &str, slot: &str) -> DomainResult<String> {
        let nonce = Nonce::generate();
        let payload = Payload { msg: plaintext.as_bytes(), aad: slot.as_bytes() };
        let ciphertext = self
            .current
            .aead
            .encrypt(&nonce, payload)
            .map_err(|_| DomainError::internal("encrypt secret", CryptoError))?;
        let mut packed = nonce.to_vec();
        packed.extend_from_slice(&ciphertext);
        Ok(format!("{V2_PREFIX}{}:{}", self.current.id, B64.encode(packed)))
    }

    pub fn decrypt(&self, stored: &str, slot: &str) -> DomainResult<Secret> {
        let fail = || DomainError::internal("decrypt secret", CryptoError);
        let unpack = |b64: &str| {
            B64.decode(b64).ok().filter(|bytes| bytes.len() > NONCE_LEN).ok_or_else(fail)
        };
        let plaintext = if let Some(rest) = stored.strip_prefix(V2_PREFIX) {
            let (id, b64) = rest.split_once(':').ok_or_else(fail)?;
            let key = self.keys().find(|k| k.id == id).ok_or_else(fail)?;
            let packed = unpack(b64)?;
            let (nonce, ciphertext) = packed.split_at(NONCE_LEN);
            let nonce = Nonce::try_from(nonce).map_err(|_| fail())?;
            let payload = Payload { msg: ciphertext, aad: slot.as_bytes() };
            key.aead.decrypt(&nonce, payload).map_err(|_| fail())?
        } else if let Some(b64) = stored.strip_prefix(V1_PREFIX) {
            // Written without a key id or a slot: any of the keys may have sealed it.
            let packed = unpack(b64)?;
            let (nonce, ciphertext) = packed.split_at(NONCE_LEN);
            let nonce = Nonce::try_from(nonce).map_err(|_| fail())?;
            self.keys().find_map(|k| k.aead.decrypt(&nonce, ciphertext).ok()).ok_or_else(fail)?
        } else {
            return Err(fail());
        };
        String::from_utf8(plaintext).map(Secret::new).map_err(|_| fail())
    }

    fn keys(&self) -> impl Iterator<Item = &KeyEntry> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// Whether a stored value should be sealed again: written by an earlier version, or under a
    /// key other than the current one.
    pub fn needs_reseal(&self, stored: &str) -> bool {
        match stored.strip_prefix(V2_PREFIX).and_then(|rest| rest.split_once(':')) {
            Some((id, _)) => id != self.current.id,
            None => true,
        }
    }

    pub fn reveal(&self, sealed: &SealedSecret) -> DomainResult<Secret> {
        self.decrypt(&sealed.ciphertext, &sealed.slot)
    }

    /// Seals the fields of one row: `object` is [`model_object`] or [`provider_object`].
    pub fn bound<'a>(&'a self, object: String) -> BoundCipher<'a> {
        BoundCipher { cipher: self, object }
    }
}

/// A [`Cipher`] sealing the fields of one row (see [`Cipher::bound`]).
pub struct BoundCipher<'a> {
    cipher: &'a Cipher,
    object: String,
}

impl Sealer for BoundCipher<'_> {
    fn seal(&self, secret: &Secret, field: &str) -> DomainResult<SealedSecret> {
        let slot = format!("{}/{field}", self.object);
        Ok(SealedSecret {
            ciphertext: self.cipher.encrypt(secret.expose(), &slot)?,
            mask: secret.mask(),
            slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let cipher = Cipher::new(&[7u8; 32]);
        let a = cipher.encrypt("sk-secret-value-1234", "model/x/api_key").unwrap();
        let b = cipher.encrypt("sk-secret-value-1234", "model/x/api_key").unwrap();
        assert_ne!(a, b, "each encryption uses a new nonce");
        assert!(!a.contains("sk-secret"));
        assert!(a.starts_with(&format!("v2:{}:", cipher.current_key_id())));
        assert_eq!(cipher.decrypt(&a, "model/x/api_key").unwrap().expose(), "sk-secret-value-1234");
    }

    #[test]
    fn a_ciphertext_moved_to_another_slot_does_not_open() {
        let cipher = Cipher::new(&[7u8; 32]);
        let sealed = cipher.encrypt("value", "model/a/api_key").unwrap();
        assert!(cipher.decrypt(&sealed, "model/b/api_key").is_err());
        assert!(cipher.decrypt(&sealed, "model/a/other").is_err());
    }

    #[test]
    fn wrong_key_or_tampering_fails() {
        let sealed = Cipher::new(&[1u8; 32]).encrypt("value", "s").unwrap();
        assert!(Cipher::new(&[2u8; 32]).decrypt(&sealed, "s").is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(Cipher::new(&[1u8; 32]).decrypt(&tampered, "s").is_err());
    }

    #[test]
    fn previous_keys_open_what_they_sealed_and_mark_it_for_resealing() {
        let old_key = Cipher::generate_key_base64();
        let old = Cipher::from_base64(&old_key).unwrap();
        let sealed = old.encrypt("value", "s").unwrap();
        let rotated = Cipher::from_base64(&Cipher::generate_key_base64())
            .unwrap()
            .with_previous_base64([old_key.as_str()])
            .unwrap();
        assert_ne!(rotated.current_key_id(), old.current_key_id());
        assert_eq!(rotated.decrypt(&sealed, "s").unwrap().expose(), "value");
        assert!(rotated.needs_reseal(&sealed));
        let resealed = rotated.encrypt("value", "s").unwrap();
        assert!(!rotated.needs_reseal(&resealed));
        // Without the previous key the old value no longer opens.
        assert!(
            Cipher::from_base64(&Cipher::generate_key_base64())
                .unwrap()
                .decrypt(&sealed, "s")
                .is_err()
        );
    }

    #[test]
    fn values_of_earlier_versions_still_open() {
        // The `v1` layout: nonce ‖ ciphertext, no key id, no associated data.
        let key = [9u8; 32];
        let aead = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key));
        let nonce = Nonce::generate();
        let mut packed = nonce.to_vec();
        packed.extend(aead.encrypt(&nonce, b"legacy".as_slice()).unwrap());
        let stored = format!("v1:{}", B64.encode(packed));
        let cipher = Cipher::new(&key);
        assert_eq!(cipher.decrypt(&stored, "any/slot").unwrap().expose(), "legacy");
        assert!(cipher.needs_reseal(&stored));
    }

    #[test]
    fn key_from_base64_must_be_32_bytes() {
        assert!(Cipher::from_base64(&Cipher::generate_key_base64()).is_ok());
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }
}
