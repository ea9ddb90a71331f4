//! Orgs, users, groups, API keys and the authenticated caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Org {
    pub id: String,
    /// Stable integer id, for dialects whose wire format wants a number (Respan `organization_id`).
    pub seq: i64,
    pub name: String,
    /// The first org of an installation: its admins may manage every org.
    pub is_root: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: Option<String>,
    pub member_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A modelgate API key as stored: never the plaintext, only a display prefix and a hash.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub org_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Prefix of every key modelgate issues, so leaked keys are recognisable by secret scanners.
pub const API_KEY_PREFIX: &str = "mg_";
/// How many leading characters of a key are kept for display.
pub const API_KEY_DISPLAY_LEN: usize = 10;

/// SHA-256 hex digest of a plaintext API key: the only form in which keys are stored.
pub fn hash_api_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// The leading characters of a key shown in listings.
pub fn api_key_display_prefix(plaintext: &str) -> String {
    plaintext.chars().take(API_KEY_DISPLAY_LEN).collect()
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub org_id: String,
    pub role: Role,
    /// Ids of the groups (of the caller's org) the caller belongs to.
    pub group_ids: Vec<String>,
    /// Admin of the root org: may manage every org.
    pub instance_admin: bool,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// A caller without a key, for the few public reads (a dialect's public catalog): a viewer of
    /// no org, so the policy shows it built-in models only.
    pub fn anonymous() -> Self {
        Self {
            user_id: "anonymous".to_owned(),
            org_id: String::new(),
            role: Role::Viewer,
            group_ids: Vec::new(),
            instance_admin: false,
        }
    }

    /// The operator at the console (CLI): an instance admin acting in `org_id`.
    pub fn system(org_id: impl Into<String>) -> Self {
        Self {
            user_id: "system".to_owned(),
            org_id: org_id.into(),
            role: Role::Admin,
            group_ids: Vec::new(),
            instance_admin: true,
        }
    }
}

/// Who does something and through which API: recorded on every audit row.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub actor: Actor,
    /// `openwebui`, `xagent`, `syft`, `respan`, `admin`, `cli`, `catalog`…
    pub dialect: &'static str,
    /// Set when `actor` came from a replica's cache of keys: the registry confirms it before it
    /// acts on it.
    pub unconfirmed: Option<Unconfirmed>,
}

impl Ctx {
    pub fn new(actor: Actor, dialect: &'static str) -> Self {
        Self { actor, dialect, unconfirmed: None }
    }
}

/// A caller taken from a replica's cache of keys, which another replica may have made stale
/// (a key revoked, a role or membership changed). The registry checks it against the database
/// in the first statement of the first call that uses it, inside that statement where it can,
/// so a cached caller costs no round trip of its own and is never trusted stale.
#[derive(Clone, Debug)]
pub struct Unconfirmed {
    pub key_hash: String,
    /// The replica's cache epoch when the caller was taken from it, where the registry counts
    /// one (Postgres: the identity version it was read at); `None` when unknown.
    pub remembered_at: Option<u64>,
    /// Shared by the clones of one request's context: once confirmed unchanged, later calls of
    /// the same request trust it, as they would a caller authenticated at its start.
    confirmed: Arc<AtomicBool>,
}

impl Unconfirmed {
    pub fn new(key_hash: String) -> Self {
        Self { key_hash, remembered_at: None, confirmed: Arc::new(AtomicBool::new(false)) }
    }

    /// A caller remembered at cache epoch `at`.
    pub fn remembered(key_hash: String, at: u64) -> Self {
        Self { remembered_at: Some(at), ..Self::new(key_hash) }
    }

    pub fn is_confirmed(&self) -> bool {
        self.confirmed.load(Ordering::Acquire)
    }

    pub fn confirm(&self) {
        self.confirmed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_hash_is_sha256_hex() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn role_round_trips_through_its_name() {
        for role in [Role::Admin, Role::Member, Role::Viewer] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("owner"), None);
    }
}
