//! The canonical model record. Every dialect is a view of it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Longest model key any dialect accepts.
pub const MAX_KEY_LEN: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Created by a user of an org.
    Custom,
    /// Shipped in the catalog, visible to every org, read-only.
    Builtin,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::Builtin => "builtin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "custom" => Some(Self::Custom),
            "builtin" => Some(Self::Builtin),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Group,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "group" => Some(Self::Group),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Write,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// A right on a model given to one user or one group. Principal ids are kept verbatim, so a grant
/// may name a user or group that does not exist (yet): it then matches nobody.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub kind: PrincipalKind,
    pub principal_id: String,
    pub permission: Permission,
}

impl Grant {
    pub fn new(
        kind: PrincipalKind,
        principal_id: impl Into<String>,
        permission: Permission,
    ) -> Self {
        Self { kind, principal_id: principal_id.into(), permission }
    }
}

/// Keeps the first occurrence of each grant, in the order given.
pub fn dedup_grants(grants: Vec<Grant>) -> Vec<Grant> {
    let mut seen = std::collections::HashSet::new();
    grants.into_iter().filter(|g| seen.insert(g.clone())).collect()
}

/// Prices in USD per one million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_hit_input: Option<f64>,
    pub cache_creation_input: Option<f64>,
}

/// A plaintext secret on its way in. Its `Debug` never shows the value and it cannot be
/// serialized, so it cannot end up in a log line or a response by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The display form: `sk-...abcd`. Short secrets show nothing of themselves.
    pub fn mask(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 12 {
            return "...".to_owned();
        }
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}...{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret as stored: the ciphertext (opaque to core) and its display mask.
/// Serializes as [`SECRET_MARKER`] only, so audit rows (the history) say a secret is set but
/// carry nothing of it, not even the mask; views show the mask explicitly where a dialect does.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub ciphertext: String,
    pub mask: String,
    /// Which row and field the secret belongs to, given by the store from the row it was read
    /// from (never from stored data): the ciphertext only opens in that slot.
    pub slot: String,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({})", self.mask)
    }
}

/// What serialized states show in place of a stored secret.
pub const SECRET_MARKER: &str = "[secret]";

impl Serialize for SealedSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SECRET_MARKER)
    }
}

/// Turns plaintext secrets into stored ones, for one row: `field` names the secret's place in it
/// (`api_key`, `extra_kwargs/headers/Authorization`). Implemented by the store (AES-256-GCM,
/// bound to the row and field).
pub trait Sealer {
    fn seal(&self, secret: &Secret, field: &str) -> Result<SealedSecret, crate::DomainError>;
}

/// The canonical fields a caller may write. Everything else on [`Model`] is managed by the
/// registry itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelFields {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Provider type: openai, anthropic, ollama…
    pub provider: Option<String>,
    /// A custom provider entity of the org (its integer id).
    pub provider_ref: Option<i64>,
    pub base_model: Option<String>,
    /// llm, embedding, rerank, image, speech…
    pub category: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<SealedSecret>,
    /// temperature, max_tokens, top_p, system_prompt… kept verbatim.
    pub params: JsonMap,
    /// vision, function_calling, streaming, json_mode, embedding… usually booleans, kept verbatim.
    pub capabilities: Option<JsonMap>,
    pub pricing: Pricing,
    pub context_window: Option<i64>,
    pub dimension: Option<i64>,
    pub supported_params_override: Option<JsonMap>,
    /// Dialect-only keys kept verbatim, one object per dialect name.
    pub extra: JsonMap,
    pub is_active: bool,
    /// Readable by every user of the org.
    pub public: bool,
    pub grants: Vec<Grant>,
}

impl Default for ModelFields {
    fn default() -> Self {
        Self {
            display_name: None,
            description: None,
            tags: Vec::new(),
            provider: None,
            provider_ref: None,
            base_model: None,
            category: None,
            base_url: None,
            api_key: None,
            params: JsonMap::new(),
            capabilities: None,
            pricing: Pricing::default(),
            context_window: None,
            dimension: None,
            supported_params_override: None,
            extra: JsonMap::new(),
            is_active: true,
            public: false,
            grants: Vec::new(),
        }
    }
}

impl ModelFields {
    /// The object a dialect keeps its own keys in (empty when it has none).
    pub fn extra_for(&self, dialect: &str) -> JsonMap {
        match self.extra.get(dialect) {
            Some(serde_json::Value::Object(map)) => map.clone(),
            _ => JsonMap::new(),
        }
    }

    /// A capability counts as present when its value is `true`.
    pub fn capability(&self, name: &str) -> bool {
        self.capabilities
            .as_ref()
            .and_then(|caps| caps.get(name))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    /// Stable integer id, never reused.
    pub seq: i64,
    /// Stable uuid, never reused.
    pub uuid: Uuid,
    /// `None` for built-in catalog models, which every org sees.
    pub org_id: Option<String>,
    /// Unique per org, at most [`MAX_KEY_LEN`] characters, may contain `/`.
    pub key: String,
    pub source: Source,
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub fields: ModelFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Model {
    pub fn is_builtin(&self) -> bool {
        self.source == Source::Builtin
    }

    /// The key of the model this one runs on: a custom model's base, unless it names itself.
    pub fn base_key(&self) -> Option<&str> {
        match (&self.source, &self.fields.base_model) {
            (Source::Custom, Some(base)) if *base != self.key => Some(base),
            _ => None,
        }
    }
}

/// What the caller may do with a model, computed by the one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Rights {
    pub read: bool,
    pub write: bool,
    pub is_owner: bool,
}

/// A model together with the caller's rights on it: what every read or write returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelView {
    pub model: Model,
    pub rights: Rights,
}

/// How a request names a model inside the caller's org (or the catalog).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelRef {
    Key(String),
    Seq(i64),
    Uuid(Uuid),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_mask_keeps_prefix_and_last_four() {
        assert_eq!(Secret::new("sk-proj-1234567890abcd").mask(), "sk-...abcd");
        assert_eq!(Secret::new("short-key").mask(), "...");
    }

    #[test]
    fn secret_debug_hides_value() {
        assert_eq!(format!("{:?}", Secret::new("sk-very-secret-value")), "Secret(***)");
    }

    #[test]
    fn sealed_secret_serializes_as_a_marker_only() {
        let sealed = SealedSecret {
            ciphertext: "CIPHER".into(),
            mask: "sk-...abcd".into(),
            slot: "model/x/api_key".into(),
        };
        assert_eq!(serde_json::to_string(&sealed).ok().as_deref(), Some("\"[secret]\""));
    }

    #[test]
    fn grants_deduplicate_in_order() {
        let g1 = Grant::new(PrincipalKind::Group, "dev", Permission::Read);
        let g2 = Grant::new(PrincipalKind::User, "u1", Permission::Write);
        assert_eq!(dedup_grants(vec![g1.clone(), g2.clone(), g1.clone()]), vec![g1, g2]);
    }
}
