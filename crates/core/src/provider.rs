//! Custom providers: an org's named upstream credentials that models can point at.
//!
//! Credential-bearing values inside a provider's settings (`extra`) are secrets like its
//! `api_key`: [`seal_extra`] seals them and leaves their masks in place, so what is stored and
//! answered in clear never contains them. [`is_credential_key`] is the one definition of which
//! values are credential-bearing.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::DomainResult;
use crate::fields::MapChange;
use crate::model::{JsonMap, SECRET_MARKER, SealedSecret, Sealer, Secret};

/// Longest `provider_id` slug accepted.
pub const MAX_PROVIDER_SLUG_LEN: usize = 255;

/// Sealed credential-bearing values of a provider's settings, by JSON pointer (RFC 6901) into
/// `extra`.
pub type ExtraSecrets = BTreeMap<String, SealedSecret>;

#[derive(Clone, PartialEq)]
pub struct Provider {
    /// Stable integer id.
    pub seq: i64,
    pub org_id: String,
    /// Slug, unique per org, immutable.
    pub provider_id: String,
    pub name: String,
    /// The user who created it. Providers made before owners were kept have none: only org
    /// admins write them.
    pub owner_id: Option<String>,
    pub api_key: Option<SealedSecret>,
    /// Provider settings other than the key: base_url, timeout… Each credential-bearing value
    /// is replaced by its mask; the value itself is in `extra_secrets`.
    pub extra: JsonMap,
    pub extra_secrets: ExtraSecrets,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// What a provider shows of itself in serialized states (the history) and debug output: secrets
/// only as [`SECRET_MARKER`], at the places they are set, nothing of their values (not even
/// masks).
#[derive(Serialize)]
struct ProviderState<'a> {
    seq: i64,
    org_id: &'a str,
    provider_id: &'a str,
    name: &'a str,
    owner_id: Option<&'a str>,
    api_key: Option<&'a SealedSecret>,
    extra: JsonMap,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl Provider {
    fn state(&self) -> ProviderState<'_> {
        ProviderState {
            seq: self.seq,
            org_id: &self.org_id,
            provider_id: &self.provider_id,
            name: &self.name,
            owner_id: self.owner_id.as_deref(),
            api_key: self.api_key.as_ref(),
            extra: redact_extra(&self.extra),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }
}

impl Provider {
    /// The settings as answered: `extra`, where every credential-bearing value is a mask. A
    /// value not sealed (only a row the start-up pass has not seen yet) is masked here too.
    pub fn shown_extra(&self) -> JsonMap {
        let mut shown = self.extra.clone();
        let _ = visit_credentials(&mut shown, &mut |pointer, value| {
            if let (false, Value::String(text)) = (self.extra_secrets.contains_key(pointer), &value)
            {
                *value = Value::String(Secret::new(text.as_str()).mask());
            }
            Ok(())
        });
        shown
    }
}

impl Serialize for Provider {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.state().serialize(serializer)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state, not the fields: a sealed secret's own `Debug` shows its mask.
        let state = serde_json::to_string(&self.state()).map_err(|_| fmt::Error)?;
        write!(f, "Provider({state})")
    }
}

#[derive(Clone, Default)]
pub struct ProviderChange {
    pub name: Option<String>,
    /// `Some(None)` removes the stored key.
    pub api_key: Option<Option<Secret>>,
    pub extra: Option<MapChange>,
}

#[derive(Clone)]
pub struct NewProvider {
    pub provider_id: String,
    pub name: String,
    pub api_key: Option<Secret>,
    pub extra: JsonMap,
}

// Requests carry credentials in clear: their debug output shows settings redacted.
impl fmt::Debug for ProviderChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra = self.extra.as_ref().map(|change| match change {
            MapChange::Set(map) => MapChange::Set(map.as_ref().map(redact_extra)),
            MapChange::Merge(map) => MapChange::Merge(redact_extra(map)),
        });
        f.debug_struct("ProviderChange")
            .field("name", &self.name)
            .field("api_key", &self.api_key)
            .field("extra", &extra)
            .finish()
    }
}

impl fmt::Debug for NewProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProvider")
            .field("provider_id", &self.provider_id)
            .field("name", &self.name)
            .field("api_key", &self.api_key)
            .field("extra", &redact_extra(&self.extra))
            .finish()
    }
}

/// How a request names a provider: its integer id or its slug.
pub use crate::fields::ProviderRefInput as ProviderRef;

/// A key's words: lowercase, split on `_`, `-`, `.`, spaces and camelCase boundaries
/// (`X-Api-Key`, `apiKey` and `api_key` all read `[…, "api", "key"]`).
fn words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            words.push(std::mem::take(&mut current));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    words.push(current);
    words.retain(|w| !w.is_empty());
    words
}

/// Whether a settings key names a credential, whose value (and everything nested under it) is
/// then a secret. Case and separators do not matter. A key is credential-bearing when
/// - one of its words is `secret(s)`, `password`, `passwd`, `passphrase`, `credential(s)`,
///   `authorization`, `apikey`, `cookie` (`client_secret`, `Proxy-Authorization`, `APIKey`…);
/// - or its last word is `key`, `keys`, `token` or `bearer` (`api_key`, `X-Api-Key`,
///   `private_key`, `Ocp-Apim-Subscription-Key`, `access_token`, `azure_ad_token`, `key`…);
/// - or it is `auth` alone.
///
/// So `max_tokens`, `token_limit`, `key_id` and `auth_type` are not.
pub fn is_credential_key(key: &str) -> bool {
    const ANY_WORD: [&str; 11] = [
        "secret",
        "secrets",
        "password",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
        "authorization",
        "apikey",
        "cookie",
        "cookies",
    ];
    const LAST_WORD: [&str; 4] = ["key", "keys", "token", "bearer"];
    let words = words(key);
    words.iter().any(|w| ANY_WORD.contains(&w.as_str()))
        || words.last().is_some_and(|w| LAST_WORD.contains(&w.as_str()))
        || words == ["auth"]
}

/// One JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Calls `visit` with the pointer of every credential-bearing value of `extra`: each non-empty
/// string under a credential key, at any depth (inside objects and arrays). Other scalars
/// (numbers, booleans) carry next to nothing and stay as they are.
fn visit_credentials(
    extra: &mut JsonMap,
    visit: &mut dyn FnMut(&str, &mut Value) -> DomainResult<()>,
) -> DomainResult<()> {
    fn walk(
        value: &mut Value,
        pointer: &mut String,
        secret: bool,
        visit: &mut dyn FnMut(&str, &mut Value) -> DomainResult<()>,
    ) -> DomainResult<()> {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape(key));
                    walk(child, pointer, secret || is_credential_key(key), visit)?;
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                    walk(child, pointer, secret, visit)?;
                    pointer.truncate(len);
                }
            }
            Value::String(s) if secret && !s.is_empty() => visit(pointer, value)?,
            _ => {}
        }
        Ok(())
    }
    let mut pointer = String::new();
    for (key, child) in extra.iter_mut() {
        pointer.clear();
        pointer.push('/');
        pointer.push_str(&escape(key));
        walk(child, &mut pointer, is_credential_key(key), visit)?;
    }
    Ok(())
}

/// The pointers of the credential-bearing values of `extra`.
pub fn credential_pointers(extra: &JsonMap) -> Vec<String> {
    let mut pointers = Vec::new();
    let mut copy = extra.clone();
    let _ = visit_credentials(&mut copy, &mut |pointer, _| {
        pointers.push(pointer.to_owned());
        Ok(())
    });
    pointers
}

/// `extra` with every credential-bearing value replaced by [`SECRET_MARKER`]: what the history
/// keeps (which credentials exist, nothing of them).
pub fn redact_extra(extra: &JsonMap) -> JsonMap {
    let mut redacted = extra.clone();
    let _ = visit_credentials(&mut redacted, &mut |_, value| {
        *value = Value::String(SECRET_MARKER.to_owned());
        Ok(())
    });
    redacted
}

/// Settings after [`seal_extra`].
#[derive(Clone, Debug, PartialEq)]
pub struct SealedExtra {
    /// The settings with each credential-bearing value replaced by its mask.
    pub extra: JsonMap,
    pub secrets: ExtraSecrets,
    /// Pointers of the credentials set, replaced or removed by this write (never their values).
    pub changed: Vec<String>,
}

/// The field name a settings secret is sealed under: its pointer inside `extra_kwargs`.
pub fn extra_field(pointer: &str) -> String {
    format!("extra_kwargs{pointer}")
}

/// Seals the credential-bearing values of `sent` (settings as a client sent them, or as a
/// change left them). A value equal to the mask of the secret stored at the same pointer keeps
/// that secret: clients send back what they were shown. `same` says whether a stored secret
/// equals a sent value (the store decrypts); an equal value keeps the stored secret too.
pub fn seal_extra(
    mut sent: JsonMap,
    stored: &ExtraSecrets,
    sealer: &dyn Sealer,
    same: &dyn Fn(&SealedSecret, &str) -> DomainResult<bool>,
) -> DomainResult<SealedExtra> {
    let mut secrets = ExtraSecrets::new();
    let mut changed = Vec::new();
    visit_credentials(&mut sent, &mut |pointer, value| {
        let Value::String(text) = value else { return Ok(()) };
        let kept = match stored.get(pointer) {
            Some(old) if *text == old.mask || same(old, text)? => Some(old.clone()),
            _ => None,
        };
        let sealed = match kept {
            Some(old) => old,
            None => {
                changed.push(pointer.to_owned());
                sealer.seal(&Secret::new(text.as_str()), &extra_field(pointer))?
            }
        };
        *value = Value::String(sealed.mask.clone());
        secrets.insert(pointer.to_owned(), sealed);
        Ok(())
    })?;
    changed.extend(stored.keys().filter(|p| !secrets.contains_key(*p)).cloned());
    changed.sort();
    Ok(SealedExtra { extra: sent, secrets, changed })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::DomainError;

    fn map(value: Value) -> JsonMap {
        match value {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        }
    }

    /// Seals by reversing the text, so tests can see what was sealed.
    struct Reverse;

    impl Sealer for Reverse {
        fn seal(&self, secret: &Secret, field: &str) -> Result<SealedSecret, DomainError> {
            Ok(SealedSecret {
                ciphertext: secret.expose().chars().rev().collect(),
                mask: secret.mask(),
                slot: field.to_owned(),
            })
        }
    }

    fn reveal(sealed: &SealedSecret) -> String {
        sealed.ciphertext.chars().rev().collect()
    }

    fn same(sealed: &SealedSecret, value: &str) -> DomainResult<bool> {
        Ok(reveal(sealed) == value)
    }

    #[test]
    fn credential_keys() {
        for key in [
            "api_key",
            "API_KEY",
            "apiKey",
            "APIKey",
            "apikey",
            "key",
            "Key",
            "token",
            "access_token",
            "refresh-token",
            "azure_ad_token",
            "secret",
            "client_secret",
            "aws_secret_access_key",
            "password",
            "db.password",
            "authorization",
            "Authorization",
            "Proxy-Authorization",
            "credentials",
            "google_credentials_json",
            "X-Api-Key",
            "x-api-key",
            "Api-Key",
            "Ocp-Apim-Subscription-Key",
            "x-goog-api-key",
            "private_key",
            "api_keys",
            "Cookie",
            "auth",
            "bearer",
        ] {
            assert!(is_credential_key(key), "{key} is a credential");
        }
        for key in [
            "base_url",
            "timeout",
            "max_tokens",
            "token_limit",
            "tokenizer",
            "key_id",
            "access_key_id",
            "auth_type",
            "author",
            "keyword",
            "monkey",
            "api_version",
            "headers",
            "Content-Type",
            "anthropic-version",
            "",
        ] {
            assert!(!is_credential_key(key), "{key} is not a credential");
        }
    }

    #[test]
    fn credentials_are_found_at_any_depth() {
        let extra = map(json!({
            "base_url": "https://x", "timeout": 60, "max_tokens": 5, "api_key": "sk-top-0123456789",
            "headers": {"Authorization": "Bearer abc-0123456789", "Accept": "json", "X-Api-Key": ""},
            "credentials": {"type": "service_account", "private_key": "-----BEGIN", "n": 3},
            "fallbacks": [{"token": "t1"}, {"url": "u"}],
            "a/b": {"~api_key": "k"},
            "use_token": true
        }));
        assert_eq!(
            credential_pointers(&extra),
            [
                "/api_key",
                "/headers/Authorization",
                "/credentials/type",
                "/credentials/private_key",
                "/fallbacks/0/token",
                "/a~1b/~0api_key"
            ]
        );
        assert_eq!(
            Value::Object(redact_extra(&extra)),
            json!({
                "base_url": "https://x", "timeout": 60, "max_tokens": 5, "api_key": "[secret]",
                "headers": {"Authorization": "[secret]", "Accept": "json", "X-Api-Key": ""},
                "credentials": {"type": "[secret]", "private_key": "[secret]", "n": 3},
                "fallbacks": [{"token": "[secret]"}, {"url": "u"}],
                "a/b": {"~api_key": "[secret]"},
                "use_token": true
            })
        );
    }

    #[test]
    fn sealing_masks_in_place_and_keeps_secrets_sent_back_masked() {
        let sent = map(json!({"base_url": "https://x", "api_key": "sk-azure-0123456789abcdef",
            "headers": {"Authorization": "Bearer tok-0123456789wxyz", "Accept": "json"},
            "client_secret": "short"}));
        let first = seal_extra(sent, &ExtraSecrets::new(), &Reverse, &same).unwrap();
        assert_eq!(
            Value::Object(first.extra.clone()),
            json!({"base_url": "https://x", "api_key": "sk-...cdef",
                "headers": {"Authorization": "Bea...wxyz", "Accept": "json"},
                "client_secret": "..."})
        );
        assert_eq!(first.changed, ["/api_key", "/client_secret", "/headers/Authorization"]);
        assert_eq!(reveal(&first.secrets["/headers/Authorization"]), "Bearer tok-0123456789wxyz");

        // What a client was shown, sent back: every secret kept as it was, nothing changed.
        let again = seal_extra(first.extra.clone(), &first.secrets, &Reverse, &same).unwrap();
        assert_eq!(again.secrets, first.secrets);
        assert_eq!(again.extra, first.extra);
        assert!(again.changed.is_empty());

        // The same value in clear keeps the stored secret too; a new one replaces it; a
        // credential left out is removed.
        let sent = map(json!({"base_url": "https://x", "api_key": "sk-azure-0123456789abcdef",
            "headers": {"Authorization": "Bearer new-0123456789zzzz"}}));
        let next = seal_extra(sent, &first.secrets, &Reverse, &same).unwrap();
        assert_eq!(next.secrets["/api_key"], first.secrets["/api_key"]);
        assert_eq!(reveal(&next.secrets["/headers/Authorization"]), "Bearer new-0123456789zzzz");
        assert_eq!(next.changed, ["/client_secret", "/headers/Authorization"]);
        assert!(!next.secrets.contains_key("/client_secret"));
    }

    #[test]
    fn states_and_debug_carry_nothing_of_secrets() {
        let sealed = seal_extra(
            map(json!({"api_key": "sk-azure-0123456789abcdef", "timeout": 5})),
            &ExtraSecrets::new(),
            &Reverse,
            &same,
        )
        .unwrap();
        let at = DateTime::<Utc>::default();
        let provider = Provider {
            seq: 1,
            org_id: "o".into(),
            provider_id: "p".into(),
            name: "P".into(),
            owner_id: None,
            api_key: Some(
                Reverse.seal(&Secret::new("sk-top-secret-value-9999"), "api_key").unwrap(),
            ),
            extra: sealed.extra,
            extra_secrets: sealed.secrets,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let state = serde_json::to_value(&provider).unwrap();
        assert_eq!(state["extra"], json!({"api_key": "[secret]", "timeout": 5}));
        assert_eq!(state["api_key"], json!("[secret]"));
        let change = ProviderChange {
            extra: Some(MapChange::Set(Some(map(json!({"api_key": "sk-azure-0123456789abcdef"}))))),
            ..Default::default()
        };
        let new = NewProvider {
            provider_id: "p".into(),
            name: "P".into(),
            api_key: Some(Secret::new("sk-top-secret-value-9999")),
            extra: map(json!({"headers": {"Authorization": "sk-azure-0123456789abcdef"}})),
        };
        let text = format!("{state} {provider:?} {change:?} {new:?}");
        assert_eq!(provider.shown_extra(), provider.extra);
        let unsealed = Provider {
            extra: map(json!({"token": "tok-plain-0123456789", "timeout": 5})),
            extra_secrets: ExtraSecrets::new(),
            ..provider.clone()
        };
        assert_eq!(
            Value::Object(unsealed.shown_extra()),
            json!({"token": "tok...6789", "timeout": 5})
        );
        for leak in ["cdef", "9999", "fedcba", "sk-"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}
