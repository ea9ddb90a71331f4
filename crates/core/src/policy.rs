//! The one policy. Every read and write decision in modelgate comes from here.
//!
//! Read: org admin, owner, a read or write grant to the user or one of the user's groups, or a
//! public model. Write (update, toggle, delete, grants): org admin, owner, or a write grant.
//! Built-in catalog models are readable by everyone and writable by no one. Another org's models
//! do not exist for the caller.
//!
//! Custom providers (see [`provider_rights`]): every user of the org reads them, every user whose
//! role writes may use them in models, their owner (with a role that writes) or an org admin
//! changes or deletes them. Another org's providers do not exist for the caller.

use crate::error::{Denied, DomainError, DomainResult, Entity};
use crate::identity::{Actor, Role};
use crate::model::{Grant, Model, ModelFields, Permission, PrincipalKind, Rights, Source};
use crate::provider::Provider;

/// What a caller asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    /// Create models, providers, endpoints in the caller's org.
    Create,
    /// Manage the org: users, groups, other people's keys.
    Admin,
}

/// The facts about a model the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub org_id: Option<&'a str>,
    pub source: Source,
    pub owner_id: Option<&'a str>,
    pub public: bool,
    pub grants: &'a [Grant],
}

impl<'a> From<&'a Model> for Subject<'a> {
    fn from(model: &'a Model) -> Self {
        Subject {
            org_id: model.org_id.as_deref(),
            source: model.source,
            owner_id: model.owner_id.as_deref(),
            public: model.fields.public,
            grants: &model.fields.grants,
        }
    }
}

fn grant_matches(actor: &Actor, grant: &Grant) -> bool {
    match grant.kind {
        PrincipalKind::User => grant.principal_id == actor.user_id,
        PrincipalKind::Group => actor.group_ids.contains(&grant.principal_id),
    }
}

/// The caller's rights on a model.
pub fn rights(actor: &Actor, subject: Subject<'_>) -> Rights {
    if subject.source == Source::Builtin {
        return Rights { read: true, write: false, is_owner: false };
    }
    if subject.org_id != Some(actor.org_id.as_str()) {
        return Rights::default();
    }
    let is_owner = subject.owner_id == Some(actor.user_id.as_str());
    let admin = actor.role == Role::Admin;
    let matching = subject.grants.iter().filter(|g| grant_matches(actor, g));
    let (mut granted_read, mut granted_write) = (false, false);
    for grant in matching {
        granted_read = true;
        granted_write |= grant.permission == Permission::Write;
    }
    // A viewer never writes, whatever it owns or was granted.
    let may_write_at_all = actor.role != Role::Viewer;
    Rights {
        read: admin || is_owner || granted_read || subject.public,
        write: may_write_at_all && (admin || is_owner || granted_write),
        is_owner,
    }
}

/// Whether the caller's role allows `action` at all (no particular model involved).
pub fn role_allows(actor: &Actor, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::Write | Action::Create => actor.role != Role::Viewer,
        Action::Admin => actor.role == Role::Admin,
    }
}

/// Checks `action` on a model: a model the caller cannot read is `NotFound`, one it can read but
/// not change is `Denied`.
pub fn authorize_model(actor: &Actor, model: &Model, action: Action) -> DomainResult<Rights> {
    let rights = rights(actor, model.into());
    if !rights.read {
        return Err(DomainError::NotFound(Entity::Model));
    }
    match action {
        Action::Read => Ok(rights),
        _ if model.source == Source::Builtin => Err(DomainError::Denied(Denied::Builtin)),
        Action::Write | Action::Create if rights.write => Ok(rights),
        Action::Admin if actor.is_admin() => Ok(rights),
        Action::Admin => Err(DomainError::Denied(Denied::Admin)),
        _ => Err(DomainError::Denied(Denied::Write)),
    }
}

/// Checks that the caller may create things in its org.
pub fn authorize(actor: &Actor, action: Action) -> DomainResult<()> {
    if role_allows(actor, action) {
        return Ok(());
    }
    Err(DomainError::Denied(match action {
        Action::Admin => Denied::Admin,
        Action::Create => Denied::Create,
        Action::Write | Action::Read => Denied::Write,
    }))
}

/// Whether the caller may make models readable by the whole org.
pub fn may_share_public(actor: &Actor) -> bool {
    actor.is_admin()
}

/// Checks a change of sharing: making a model public (when it was not) needs an admin.
pub fn authorize_sharing(
    actor: &Actor,
    before: Option<&ModelFields>,
    after: &ModelFields,
) -> DomainResult<()> {
    let was_public = before.is_some_and(|f| f.public);
    if after.public && !was_public && !may_share_public(actor) {
        return Err(DomainError::Denied(Denied::SharePublic));
    }
    Ok(())
}

/// The facts about a custom provider the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct ProviderSubject<'a> {
    pub org_id: &'a str,
    /// `None` for providers made before owners were kept: only admins write those.
    pub owner_id: Option<&'a str>,
}

impl<'a> From<&'a Provider> for ProviderSubject<'a> {
    fn from(provider: &'a Provider) -> Self {
        ProviderSubject { org_id: &provider.org_id, owner_id: provider.owner_id.as_deref() }
    }
}

/// The caller's rights on a custom provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderRights {
    /// See it (its key is never shown): needed to point a model at it.
    pub read: bool,
    /// Reference it from a model the caller may write.
    pub use_in_models: bool,
    /// Change it (name, key, settings) or delete it.
    pub write: bool,
}

/// Read: every user of the org. Use: every user whose role writes. Write: the owner with a role
/// that writes, or an org admin. Another org's providers: nothing.
pub fn provider_rights(actor: &Actor, subject: ProviderSubject<'_>) -> ProviderRights {
    if subject.org_id != actor.org_id {
        return ProviderRights::default();
    }
    let writes = actor.role != Role::Viewer;
    let is_owner = subject.owner_id == Some(actor.user_id.as_str());
    ProviderRights {
        read: true,
        use_in_models: writes,
        write: writes && (is_owner || actor.role == Role::Admin),
    }
}

/// Checks `action` on a provider: another org's is `NotFound`; `Write` (and `Admin`) need the
/// write right, `Create` the right to use it in a model.
pub fn authorize_provider(
    actor: &Actor,
    provider: &Provider,
    action: Action,
) -> DomainResult<ProviderRights> {
    let rights = provider_rights(actor, provider.into());
    let allowed = match action {
        _ if !rights.read => return Err(DomainError::NotFound(Entity::Provider)),
        Action::Read => true,
        Action::Create => rights.use_in_models,
        Action::Write | Action::Admin => rights.write,
    };
    if allowed { Ok(rights) } else { Err(DomainError::Denied(Denied::Write)) }
}

/// Which models a caller can read, in a form a store can turn into a query filter.
/// It must agree with [`rights`]; the store's test suite checks that it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadScope {
    /// Every model of the org (admins) plus the catalog.
    WholeOrg { org_id: String },
    /// Models of the org the user owns, was granted (directly or through a group), or that are
    /// public; plus the catalog.
    Restricted { org_id: String, user_id: String, group_ids: Vec<String> },
}

pub fn read_scope(actor: &Actor) -> ReadScope {
    if actor.is_admin() {
        ReadScope::WholeOrg { org_id: actor.org_id.clone() }
    } else {
        ReadScope::Restricted {
            org_id: actor.org_id.clone(),
            user_id: actor.user_id.clone(),
            group_ids: actor.group_ids.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, groups: &[&str]) -> Actor {
        Actor {
            user_id: "me".into(),
            org_id: "org1".into(),
            role,
            group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
            instance_admin: false,
        }
    }

    #[derive(Clone, Copy, Debug)]
    struct Case {
        role: Role,
        owner: bool,
        user_grant: Option<Permission>,
        group_grant: Option<Permission>,
        public: bool,
        builtin: bool,
        other_org: bool,
    }

    /// The rule written out independently of `rights`, as the architecture states it.
    fn expected(c: Case) -> (bool, bool) {
        if c.builtin {
            return (true, false);
        }
        if c.other_org {
            return (false, false);
        }
        let admin = c.role == Role::Admin;
        let any_grant = c.user_grant.is_some() || c.group_grant.is_some();
        let write_grant =
            c.user_grant == Some(Permission::Write) || c.group_grant == Some(Permission::Write);
        let read = admin || c.owner || any_grant || c.public;
        let write = c.role != Role::Viewer && (admin || c.owner || write_grant);
        (read, write)
    }

    fn all_cases() -> Vec<Case> {
        let perms = [None, Some(Permission::Read), Some(Permission::Write)];
        let mut cases = Vec::new();
        for role in [Role::Admin, Role::Member, Role::Viewer] {
            for owner in [false, true] {
                for user_grant in perms {
                    for group_grant in perms {
                        for public in [false, true] {
                            for builtin in [false, true] {
                                for other_org in [false, true] {
                                    cases.push(Case {
                                        role,
                                        owner,
                                        user_grant,
                                        group_grant,
                                        public,
                                        builtin,
                                        other_org,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        cases
    }

    fn grants_for(c: Case) -> Vec<Grant> {
        let mut grants = vec![
            // Grants to other principals never count.
            Grant::new(PrincipalKind::User, "someone-else", Permission::Write),
            Grant::new(PrincipalKind::Group, "not-my-group", Permission::Write),
        ];
        if let Some(p) = c.user_grant {
            grants.push(Grant::new(PrincipalKind::User, "me", p));
        }
        if let Some(p) = c.group_grant {
            grants.push(Grant::new(PrincipalKind::Group, "devs", p));
        }
        grants
    }

    #[test]
    fn policy_table() {
        let cases = all_cases();
        assert_eq!(cases.len(), 3 * 2 * 3 * 3 * 2 * 2 * 2);
        for c in cases {
            let grants = grants_for(c);
            let subject = Subject {
                org_id: if c.builtin {
                    None
                } else if c.other_org {
                    Some("org2")
                } else {
                    Some("org1")
                },
                source: if c.builtin { Source::Builtin } else { Source::Custom },
                owner_id: Some(if c.owner { "me" } else { "owner" }),
                public: c.public,
                grants: &grants,
            };
            let got = rights(&actor(c.role, &["devs", "ops"]), subject);
            assert_eq!((got.read, got.write), expected(c), "case {c:?}");
        }
    }

    #[test]
    fn role_actions() {
        assert!(role_allows(&actor(Role::Member, &[]), Action::Create));
        assert!(!role_allows(&actor(Role::Viewer, &[]), Action::Create));
        assert!(!role_allows(&actor(Role::Member, &[]), Action::Admin));
        assert!(role_allows(&actor(Role::Admin, &[]), Action::Admin));
        assert_eq!(
            authorize(&actor(Role::Viewer, &[]), Action::Create).err().map(|e| e.to_string()),
            Some("permission denied: Create".to_owned())
        );
    }

    #[test]
    fn sharing_public_needs_an_admin_only_when_it_changes() {
        let member = actor(Role::Member, &[]);
        let public = ModelFields { public: true, ..Default::default() };
        let private = ModelFields::default();
        assert!(authorize_sharing(&member, Some(&private), &public).is_err());
        assert!(authorize_sharing(&member, None, &public).is_err());
        assert!(authorize_sharing(&member, Some(&public), &public).is_ok());
        assert!(authorize_sharing(&member, Some(&public), &private).is_ok());
        assert!(authorize_sharing(&actor(Role::Admin, &[]), Some(&private), &public).is_ok());
    }

    #[test]
    fn provider_table() {
        for role in [Role::Admin, Role::Member, Role::Viewer] {
            for owner in [None, Some("me"), Some("someone-else")] {
                for org in ["org1", "org2"] {
                    let got = provider_rights(
                        &actor(role, &[]),
                        ProviderSubject { org_id: org, owner_id: owner },
                    );
                    let same_org = org == "org1";
                    let writes = role != Role::Viewer;
                    let expected = ProviderRights {
                        read: same_org,
                        use_in_models: same_org && writes,
                        write: same_org && writes && (role == Role::Admin || owner == Some("me")),
                    };
                    assert_eq!(got, expected, "{role:?} owner {owner:?} in {org}");
                }
            }
        }
    }

    #[test]
    fn read_scope_by_role() {
        assert_eq!(
            read_scope(&actor(Role::Admin, &["g"])),
            ReadScope::WholeOrg { org_id: "org1".into() }
        );
        assert_eq!(
            read_scope(&actor(Role::Viewer, &["g"])),
            ReadScope::Restricted {
                org_id: "org1".into(),
                user_id: "me".into(),
                group_ids: vec!["g".into()]
            }
        );
    }
}
