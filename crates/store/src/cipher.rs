//! AES-256-GCM encryption of provider secrets at rest.
//!
//! Stored form: `v1:` + base64(nonce ‖ ciphertext‖tag), a fresh random 96-bit nonce per value.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use modelgate_core::{DomainError, DomainResult, SealedSecret, Sealer, Secret};

use crate::error::{StoreError, StoreResult};

const VERSION_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("secret could not be encrypted or decrypted")]
struct CryptoError;

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)) }
    }

    /// A key given as base64 of exactly 32 bytes (`MODELGATE_SECRET_KEY`).
    pub fn from_base64(encoded: &str) -> StoreResult<Self> {
        let bytes = B64
            .decode(encoded.trim())
            .map_err(|_| StoreError::Config("MODELGATE_SECRET_KEY is not valid base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Config("MODELGATE_SECRET_KEY must be base64 of exactly 32 bytes".into())
        })?;
        Ok(Self::new(&key))
    }

    /// A new random key, base64-encoded.
    pub fn generate_key_base64() -> String {
        B64.encode(Aes256Gcm::generate_key(OsRng))
    }

    pub fn encrypt(&self, plaintext: &str) -> DomainResult<String> {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let ciphertext = self
            .aead
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| DomainError::internal("encrypt secret", CryptoError))?;
        let mut packed = nonce.to_vec();
        packed.extend_from_slice(&ciphertext);
        Ok(format!("{VERSION_PREFIX}{}", B64.encode(packed)))
    }

    pub fn decrypt(&self, stored: &str) -> DomainResult<Secret> {
        let fail = || DomainError::internal("decrypt secret", CryptoError);
        let packed = stored
            .strip_prefix(VERSION_PREFIX)
            .and_then(|b64| B64.decode(b64).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or_else(fail)?;
        let (nonce, ciphertext) = packed.split_at(NONCE_LEN);
        let plaintext =
            self.aead.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| fail())?;
        String::from_utf8(plaintext).map(Secret::new).map_err(|_| fail())
    }

    pub fn reveal(&self, sealed: &SealedSecret) -> DomainResult<Secret> {
        self.decrypt(&sealed.ciphertext)
    }
}

impl Sealer for Cipher {
    fn seal(&self, secret: &Secret) -> DomainResult<SealedSecret> {
        Ok(SealedSecret { ciphertext: self.encrypt(secret.expose())?, mask: secret.mask() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let cipher = Cipher::new(&[7u8; 32]);
        let a = cipher.encrypt("sk-secret-value-1234").unwrap();
        let b = cipher.encrypt("sk-secret-value-1234").unwrap();
        assert_ne!(a, b, "each encryption uses a new nonce");
        assert!(!a.contains("sk-secret"));
        assert_eq!(cipher.decrypt(&a).unwrap().expose(), "sk-secret-value-1234");
    }

    #[test]
    fn wrong_key_or_tampering_fails() {
        let sealed = Cipher::new(&[1u8; 32]).encrypt("value").unwrap();
        assert!(Cipher::new(&[2u8; 32]).decrypt(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(Cipher::new(&[1u8; 32]).decrypt(&tampered).is_err());
    }

    #[test]
    fn key_from_base64_must_be_32_bytes() {
        assert!(Cipher::from_base64(&Cipher::generate_key_base64()).is_ok());
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }
}
