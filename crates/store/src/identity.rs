//! Orgs, users, groups, API keys, authentication and first-run bootstrap.

use diesel::prelude::*;
use modelgate_core::identity::{API_KEY_PREFIX, api_key_display_prefix, hash_api_key};
use modelgate_core::policy::{self, Action};
use modelgate_core::{
    Actor, ApiKey, Bootstrapped, Ctx, Denied, DomainError, Entity, FieldError, Group, IssuedKey,
    NewGroup, NewUser, Org, Role, Secret, User, UserChange, Violation,
};
use rand::Rng;
use rand::TryRngCore;
use rand::distr::Alphanumeric;
use uuid::Uuid;

use crate::audit::Auditor;
use crate::conn::DbConn;
use crate::error::{StoreError, StoreResult, conflict_on_unique};
use crate::rows::{ApiKeyRow, GroupRow, OrgRow, UserRow, now, to_db_time};
use crate::schema::{
    api_keys, endpoints, group_members, models, orgs, providers, user_groups, users,
};
use crate::subquery::{IDENTITY_VERSION, caller_of_key};

/// Name of the org first-run bootstrap creates.
pub const DEFAULT_ORG: &str = "default";
const MAX_ID_LEN: usize = 128;

fn invalid(name: &'static str, violation: Violation) -> StoreError {
    DomainError::invalid(FieldError::named(name, violation)).into()
}

fn not_found(entity: Entity) -> StoreError {
    DomainError::NotFound(entity).into()
}

/// Ids chosen by callers: 1–128 characters, no whitespace or control characters, no `/`.
fn check_id(name: &'static str, id: &str) -> StoreResult<()> {
    if id.is_empty() {
        return Err(invalid(name, Violation::Empty));
    }
    if id.chars().count() > MAX_ID_LEN {
        return Err(invalid(name, Violation::TooLong { max: MAX_ID_LEN }));
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(invalid(
            name,
            Violation::Invalid {
                reason: "must not contain spaces, control characters or '/'".into(),
            },
        ));
    }
    Ok(())
}

fn check_name(name: &'static str, value: &str) -> StoreResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(name, Violation::Required));
    }
    if value.chars().count() > 256 {
        return Err(invalid(name, Violation::TooLong { max: 256 }));
    }
    Ok(value.to_owned())
}

fn check_email(email: Option<String>) -> StoreResult<Option<String>> {
    match email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()) {
        Some(e) if !validator::ValidateEmail::validate_email(&e) => Err(invalid(
            "email",
            Violation::Invalid { reason: "is not a valid email address".into() },
        )),
        other => Ok(other),
    }
}

fn require(actor: &Actor, action: Action) -> StoreResult<()> {
    policy::authorize(actor, action).map_err(Into::into)
}

/// A new random API key: `mg_` and 40 alphanumeric characters (about 238 bits).
pub fn generate_api_key() -> Secret {
    let body: String = rand::rngs::OsRng
        .unwrap_err()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    Secret::new(format!("{API_KEY_PREFIX}{body}"))
}

pub(crate) fn load_org(conn: &mut DbConn, id: &str) -> StoreResult<Option<Org>> {
    Ok(orgs::table
        .filter(orgs::id.eq(id))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .map(Org::from))
}

fn load_user(conn: &mut DbConn, org_id: &str, id: &str) -> StoreResult<User> {
    users::table
        .filter(users::id.eq(id))
        .filter(users::org_id.eq(org_id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(Entity::User))?
        .into_user()
}

fn insert_org(conn: &mut DbConn, id: String, name: String, is_root: bool) -> StoreResult<Org> {
    diesel::insert_into(orgs::table)
        .values(OrgRow {
            seq: 0,
            id: id.clone(),
            name: name.clone(),
            is_root,
            created_at: to_db_time(now()),
        })
        .execute(conn)
        .map_err(conflict_on_unique(Entity::Org, &name))?;
    load_org(conn, &id)?.ok_or_else(|| not_found(Entity::Org))
}

fn insert_user(conn: &mut DbConn, user: &User) -> StoreResult<()> {
    diesel::insert_into(users::table)
        .values(UserRow {
            id: user.id.clone(),
            org_id: user.org_id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            role: user.role.as_str().to_owned(),
            created_at: to_db_time(user.created_at),
            updated_at: to_db_time(user.updated_at),
        })
        .execute(conn)
        .map_err(conflict_on_unique(Entity::User, &user.id))?;
    Ok(())
}

fn insert_key(
    conn: &mut DbConn,
    user: &User,
    name: String,
    plaintext: Secret,
) -> StoreResult<IssuedKey> {
    let row = ApiKeyRow {
        id: Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        name,
        prefix: api_key_display_prefix(plaintext.expose()),
        key_hash: hash_api_key(plaintext.expose()),
        created_at: to_db_time(now()),
        revoked_at: None,
        org_id: user.org_id.clone(),
    };
    diesel::insert_into(api_keys::table)
        .values(&row)
        .execute(conn)
        .map_err(conflict_on_unique(Entity::ApiKey, &row.prefix))?;
    Ok(IssuedKey { key: row.into_key(), plaintext })
}

fn admins_left(conn: &mut DbConn, org_id: &str) -> StoreResult<i64> {
    Ok(users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)?)
}

fn members_of(
    conn: &mut DbConn,
    org_id: &str,
    group_ids: &[String],
) -> StoreResult<Vec<(String, String)>> {
    Ok(group_members::table
        .filter(group_members::org_id.eq(org_id))
        .filter(group_members::group_id.eq_any(group_ids))
        .order((group_members::group_id, group_members::user_id))
        .select((group_members::group_id, group_members::user_id))
        .load(conn)?)
}

fn load_groups(conn: &mut DbConn, org_id: &str, only: Option<&str>) -> StoreResult<Vec<Group>> {
    let mut query = user_groups::table
        .filter(user_groups::org_id.eq(org_id))
        .select(GroupRow::as_select())
        .order((user_groups::created_at, user_groups::id))
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(user_groups::id.eq(id));
    }
    let rows: Vec<GroupRow> = query.load(conn)?;
    let ids: Vec<String> = rows.iter().map(|g| g.id.clone()).collect();
    let members = if ids.is_empty() { Vec::new() } else { members_of(conn, org_id, &ids)? };
    Ok(rows
        .into_iter()
        .map(|row| {
            let member_ids =
                members.iter().filter(|(g, _)| *g == row.id).map(|(_, u)| u.clone()).collect();
            row.into_group(member_ids)
        })
        .collect())
}

fn load_group(conn: &mut DbConn, org_id: &str, id: &str) -> StoreResult<Group> {
    load_groups(conn, org_id, Some(id))?.pop().ok_or_else(|| not_found(Entity::Group))
}

/// Replaces a group's members; every id must be a user of the org.
fn write_members(
    conn: &mut DbConn,
    org_id: &str,
    group_id: &str,
    user_ids: &[String],
) -> StoreResult<()> {
    let mut unique: Vec<String> = user_ids.to_vec();
    unique.sort();
    unique.dedup();
    let known: i64 = users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::id.eq_any(&unique))
        .count()
        .get_result(conn)?;
    if known != unique.len() as i64 {
        return Err(invalid("member_ids", Violation::UnknownReference));
    }
    diesel::delete(
        group_members::table
            .filter(group_members::org_id.eq(org_id))
            .filter(group_members::group_id.eq(group_id)),
    )
    .execute(conn)?;
    let rows: Vec<_> = unique
        .iter()
        .map(|user_id| {
            (
                group_members::org_id.eq(org_id.to_owned()),
                group_members::group_id.eq(group_id.to_owned()),
                group_members::user_id.eq(user_id.clone()),
            )
        })
        .collect();
    if !rows.is_empty() {
        crate::on_inner!(conn, |c| diesel::insert_into(group_members::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

fn touch_group(conn: &mut DbConn, org_id: &str, id: &str) -> StoreResult<()> {
    diesel::update(
        user_groups::table.filter(user_groups::org_id.eq(org_id)).filter(user_groups::id.eq(id)),
    )
    .set(user_groups::updated_at.eq(to_db_time(now())))
    .execute(conn)?;
    Ok(())
}

/// The org a user-management call targets: the caller's own, or any for instance admins.
fn target_org(conn: &mut DbConn, actor: &Actor, requested: Option<&str>) -> StoreResult<String> {
    match requested {
        None => Ok(actor.org_id.clone()),
        Some(org) if org == actor.org_id => Ok(org.to_owned()),
        Some(org) if actor.instance_admin => {
            load_org(conn, org)?.ok_or_else(|| not_found(Entity::Org)).map(|o| o.id)
        }
        Some(_) => Err(DomainError::Denied(Denied::Admin).into()),
    }
}

/// What a key authenticates now (`None`: nobody), with the identity version it was read at.
pub(crate) type CallerNow = (Option<Actor>, Option<i64>);

/// The caller behind a key hash, with its groups: one statement, the same subquery that checks
/// a cached caller inside a model read ([`caller_of_key`]), so both ask the one question.
/// The identity version read with it tells how long a cached copy holds (see [`IDENTITY_VERSION`]).
pub(crate) fn authenticate(conn: &mut DbConn, key_hash: &str) -> StoreResult<CallerNow> {
    let (found, version): (Option<String>, Option<i64>) =
        diesel::select((caller_of_key(key_hash), IDENTITY_VERSION)).get_result(conn)?;
    Ok((caller_from_json(found.as_deref())?, version))
}

/// The caller in a [`caller_of_key`] column: `None` when the key no longer authenticates anyone.
pub(crate) fn caller_from_json(column: Option<&str>) -> StoreResult<Option<Actor>> {
    let Some(text) = column else { return Ok(None) };
    // SQLite has no JSON booleans: `is_root` comes as 0 or 1 there.
    let (user_id, org_id, role, is_root, group_ids): (
        String,
        String,
        String,
        serde_json::Value,
        Vec<String>,
    ) = serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("caller: {e}")))?;
    let is_root = is_root.as_bool().or_else(|| is_root.as_i64().map(|n| n != 0));
    let is_root =
        is_root.ok_or_else(|| StoreError::Corrupt(format!("caller: is_root {is_root:?}")))?;
    let role =
        Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("user role {role}")))?;
    let instance_admin = is_root && role == Role::Admin;
    Ok(Some(Actor { instance_admin, user_id, org_id, role, group_ids }))
}

pub(crate) fn bootstrap(
    conn: &mut DbConn,
    admin_key: Option<Secret>,
) -> StoreResult<Option<Bootstrapped>> {
    if let DbConn::Pg(pg) = conn {
        // Two servers starting at once must not both bootstrap.
        diesel::sql_query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(pg)?;
    }
    let user_count: i64 = users::table.count().get_result(conn)?;
    if user_count > 0 {
        return Ok(None);
    }
    let org = match orgs::table
        .filter(orgs::name.eq(DEFAULT_ORG))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
    {
        Some(row) => Org::from(row),
        None => {
            let first_org = orgs::table.count().get_result::<i64>(conn)? == 0;
            insert_org(conn, DEFAULT_ORG.to_owned(), DEFAULT_ORG.to_owned(), first_org)?
        }
    };
    let at = now();
    let admin = User {
        id: Uuid::new_v4().to_string(),
        org_id: org.id.clone(),
        name: "admin".to_owned(),
        email: None,
        role: Role::Admin,
        created_at: at,
        updated_at: at,
    };
    insert_user(conn, &admin)?;
    let key = insert_key(
        conn,
        &admin,
        "bootstrap".to_owned(),
        admin_key.unwrap_or_else(generate_api_key),
    )?;
    let auditor = Auditor::system(Some(&org.id), "bootstrap");
    auditor.record(conn, "user", &admin.id, "create", None, Some(&admin))?;
    auditor.record(conn, "api_key", &key.key.id, "create", None, Some(&key.key))?;
    Ok(Some(Bootstrapped { org, admin, key }))
}

pub(crate) fn create_org(
    conn: &mut DbConn,
    ctx: &Ctx,
    id: Option<String>,
    name: String,
) -> StoreResult<Org> {
    if !ctx.actor.instance_admin {
        return Err(DomainError::Denied(Denied::Admin).into());
    }
    let name = check_name("name", &name)?;
    let id = id.unwrap_or_else(|| Uuid::new_v4().to_string());
    check_id("id", &id)?;
    if load_org(conn, &id)?.is_some() {
        return Err(DomainError::Conflict { entity: Entity::Org, value: id }.into());
    }
    let org = insert_org(conn, id, name, false)?;
    Auditor::of(ctx).in_org(Some(&org.id)).record(
        conn,
        "org",
        &org.id,
        "create",
        None,
        Some(&org),
    )?;
    Ok(org)
}

pub(crate) fn list_orgs(conn: &mut DbConn, ctx: &Ctx) -> StoreResult<Vec<Org>> {
    let mut query = orgs::table.select(OrgRow::as_select()).order(orgs::seq).into_boxed();
    if !ctx.actor.instance_admin {
        query = query.filter(orgs::id.eq(ctx.actor.org_id.clone()));
    }
    Ok(query.load(conn)?.into_iter().map(Org::from).collect())
}

pub(crate) fn get_org(conn: &mut DbConn, ctx: &Ctx, id: &str) -> StoreResult<Org> {
    if id != ctx.actor.org_id && !ctx.actor.instance_admin {
        return Err(not_found(Entity::Org));
    }
    load_org(conn, id)?.ok_or_else(|| not_found(Entity::Org))
}

pub(crate) fn create_user(conn: &mut DbConn, ctx: &Ctx, new: NewUser) -> StoreResult<User> {
    require(&ctx.actor, Action::Admin)?;
    let org_id = target_org(conn, &ctx.actor, new.org_id.as_deref())?;
    let id = new.id.unwrap_or_else(|| Uuid::new_v4().to_string());
    check_id("id", &id)?;
    let at = now();
    let user = User {
        id,
        org_id,
        name: check_name("name", &new.name)?,
        email: check_email(new.email)?,
        role: new.role,
        created_at: at,
        updated_at: at,
    };
    insert_user(conn, &user)?;
    Auditor::of(ctx).in_org(Some(&user.org_id)).record(
        conn,
        "user",
        &user.id,
        "create",
        None,
        Some(&user),
    )?;
    Ok(user)
}

pub(crate) fn list_users(conn: &mut DbConn, ctx: &Ctx) -> StoreResult<Vec<User>> {
    users::table
        .filter(users::org_id.eq(&ctx.actor.org_id))
        .order((users::created_at, users::id))
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(UserRow::into_user)
        .collect()
}

pub(crate) fn get_user(conn: &mut DbConn, ctx: &Ctx, id: &str) -> StoreResult<User> {
    load_user(conn, &ctx.actor.org_id, id)
}

pub(crate) fn update_user(
    conn: &mut DbConn,
    ctx: &Ctx,
    id: &str,
    change: UserChange,
) -> StoreResult<User> {
    require(&ctx.actor, Action::Admin)?;
    let before = load_user(conn, &ctx.actor.org_id, id)?;
    let mut after = before.clone();
    if let Some(name) = change.name {
        after.name = check_name("name", &name)?;
    }
    if let Some(email) = change.email {
        after.email = check_email(email)?;
    }
    if let Some(role) = change.role {
        after.role = role;
    }
    if before.role == Role::Admin
        && after.role != Role::Admin
        && admins_left(conn, &before.org_id)? <= 1
    {
        return Err(invalid(
            "role",
            Violation::Invalid { reason: "an org needs at least one admin".into() },
        ));
    }
    after.updated_at = now();
    diesel::update(users::table.find((&after.org_id, &after.id)))
        .set((
            users::name.eq(&after.name),
            users::email.eq(&after.email),
            users::role.eq(after.role.as_str()),
            users::updated_at.eq(to_db_time(after.updated_at)),
        ))
        .execute(conn)?;
    Auditor::of(ctx).record(conn, "user", &after.id, "update", Some(&before), Some(&after))?;
    Ok(after)
}

pub(crate) fn delete_user(conn: &mut DbConn, ctx: &Ctx, id: &str) -> StoreResult<()> {
    require(&ctx.actor, Action::Admin)?;
    let user = load_user(conn, &ctx.actor.org_id, id)?;
    if user.role == Role::Admin && admins_left(conn, &user.org_id)? <= 1 {
        return Err(invalid(
            "id",
            Violation::Invalid { reason: "an org needs at least one admin".into() },
        ));
    }
    clear_owner(conn, &user)?;
    diesel::delete(users::table.find((&user.org_id, &user.id))).execute(conn)?;
    Auditor::of(ctx).record(conn, "user", &user.id, "delete", Some(&user), None)?;
    Ok(())
}

/// What a user owned stays, ownerless (only admins write it then): owners are plain columns, as
/// a composite `ON DELETE SET NULL` would clear the row's org along with its owner.
fn clear_owner(conn: &mut DbConn, user: &User) -> StoreResult<()> {
    let (org, id) = (&user.org_id, &user.id);
    diesel::update(models::table.filter(models::org_id.eq(org)).filter(models::owner_id.eq(id)))
        .set(models::owner_id.eq(None::<String>))
        .execute(conn)?;
    diesel::update(
        endpoints::table.filter(endpoints::org_id.eq(org)).filter(endpoints::owner_id.eq(id)),
    )
    .set(endpoints::owner_id.eq(None::<String>))
    .execute(conn)?;
    diesel::update(
        providers::table.filter(providers::org_id.eq(org)).filter(providers::owner_id.eq(id)),
    )
    .set(providers::owner_id.eq(None::<String>))
    .execute(conn)?;
    Ok(())
}

pub(crate) fn create_group(conn: &mut DbConn, ctx: &Ctx, new: NewGroup) -> StoreResult<Group> {
    require(&ctx.actor, Action::Admin)?;
    let org_id = ctx.actor.org_id.clone();
    let id = new.id.unwrap_or_else(|| Uuid::new_v4().to_string());
    check_id("id", &id)?;
    let at = to_db_time(now());
    diesel::insert_into(user_groups::table)
        .values(GroupRow {
            org_id: org_id.clone(),
            id: id.clone(),
            name: check_name("name", &new.name)?,
            description: new.description,
            created_at: at,
            updated_at: at,
        })
        .execute(conn)
        .map_err(conflict_on_unique(Entity::Group, &id))?;
    write_members(conn, &org_id, &id, &new.member_ids)?;
    let group = load_group(conn, &org_id, &id)?;
    Auditor::of(ctx).record(conn, "group", &group.id, "create", None, Some(&group))?;
    Ok(group)
}

pub(crate) fn list_groups(conn: &mut DbConn, ctx: &Ctx) -> StoreResult<Vec<Group>> {
    load_groups(conn, &ctx.actor.org_id, None)
}

pub(crate) fn get_group(conn: &mut DbConn, ctx: &Ctx, id: &str) -> StoreResult<Group> {
    load_group(conn, &ctx.actor.org_id, id)
}

pub(crate) fn delete_group(conn: &mut DbConn, ctx: &Ctx, id: &str) -> StoreResult<()> {
    require(&ctx.actor, Action::Admin)?;
    let group = load_group(conn, &ctx.actor.org_id, id)?;
    diesel::delete(
        user_groups::table
            .filter(user_groups::org_id.eq(&group.org_id))
            .filter(user_groups::id.eq(&group.id)),
    )
    .execute(conn)?;
    Auditor::of(ctx).record(conn, "group", &group.id, "delete", Some(&group), None)?;
    Ok(())
}

pub(crate) fn set_group_members(
    conn: &mut DbConn,
    ctx: &Ctx,
    id: &str,
    user_ids: Vec<String>,
) -> StoreResult<Group> {
    require(&ctx.actor, Action::Admin)?;
    let before = load_group(conn, &ctx.actor.org_id, id)?;
    write_members(conn, &before.org_id, &before.id, &user_ids)?;
    touch_group(conn, &before.org_id, &before.id)?;
    let after = load_group(conn, &before.org_id, &before.id)?;
    Auditor::of(ctx).record(conn, "group", &after.id, "members", Some(&before), Some(&after))?;
    Ok(after)
}

pub(crate) fn create_api_key(
    conn: &mut DbConn,
    ctx: &Ctx,
    user_id: Option<String>,
    name: String,
) -> StoreResult<IssuedKey> {
    let target = user_id.unwrap_or_else(|| ctx.actor.user_id.clone());
    if target != ctx.actor.user_id {
        require(&ctx.actor, Action::Admin)?;
    }
    let user = load_user(conn, &ctx.actor.org_id, &target)?;
    let name =
        if name.trim().is_empty() { "default".to_owned() } else { check_name("name", &name)? };
    let issued = insert_key(conn, &user, name, generate_api_key())?;
    Auditor::of(ctx).record(conn, "api_key", &issued.key.id, "create", None, Some(&issued.key))?;
    Ok(issued)
}

fn keys_query(org_id: &str) -> api_keys::BoxedQuery<'static, crate::conn::MultiBackend> {
    api_keys::table.filter(api_keys::org_id.eq(org_id.to_owned())).into_boxed()
}

pub(crate) fn list_api_keys(conn: &mut DbConn, ctx: &Ctx) -> StoreResult<Vec<ApiKey>> {
    let mut query = keys_query(&ctx.actor.org_id);
    if !ctx.actor.is_admin() {
        query = query.filter(api_keys::user_id.eq(ctx.actor.user_id.clone()));
    }
    let rows: Vec<ApiKeyRow> = query
        .order((api_keys::created_at, api_keys::id))
        .select(ApiKeyRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(ApiKeyRow::into_key).collect())
}

pub(crate) fn revoke_api_key(conn: &mut DbConn, ctx: &Ctx, id: &str) -> StoreResult<ApiKey> {
    let row: ApiKeyRow = keys_query(&ctx.actor.org_id)
        .filter(api_keys::id.eq(id.to_owned()))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(Entity::ApiKey))?;
    if row.user_id != ctx.actor.user_id {
        require(&ctx.actor, Action::Admin)?;
    }
    let before = row.clone().into_key();
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    let at = now();
    diesel::update(api_keys::table.find(id))
        .set(api_keys::revoked_at.eq(Some(to_db_time(at))))
        .execute(conn)?;
    let after = ApiKey { revoked_at: Some(at), ..before.clone() };
    Auditor::of(ctx).record(conn, "api_key", id, "revoke", Some(&before), Some(&after))?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_prefix_and_length() {
        let key = generate_api_key();
        assert!(key.expose().starts_with("mg_"));
        assert_eq!(key.expose().len(), 43);
        assert_ne!(generate_api_key().expose(), key.expose());
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("id", "developers").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "a b").is_err());
        assert!(check_id("id", "a/b").is_err());
        assert!(check_id("id", &"x".repeat(129)).is_err());
    }
}
