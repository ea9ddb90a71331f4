//! Models: lookups, the write path (lock, apply, write, audit) and list queries.

use std::collections::HashMap;

use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};
use modelgate_core::fields::{apply_change, validate_key};
use modelgate_core::policy::{self, Action, ReadScope};
use modelgate_core::{
    Actor, Column, Ctx, DomainError, DomainResult, Entity, Field, FieldError, Grant, Model,
    ModelChange, ModelEntry, ModelFields, ModelQuery, ModelRef, ModelUpdate, ModelView, Op, Page,
    ProviderRefInput, ScanCursor, Source, Target, UpsertModel, Upserted, Value, Violation,
};
use uuid::Uuid;

use crate::Store;
use crate::audit::{Auditor, with_audit};
use crate::conn::{DbConn, MultiBackend};
use crate::error::{StoreError, StoreResult, conflict_on_unique};
use crate::identity::{CallerNow, caller_from_json};
use crate::rows::{EntryRow, GrantRow, ModelRow, ModelWrite, now};
use crate::schema::{audit_events, endpoints, model_counts, model_grants, models, providers};
use crate::subquery::{
    CURRENT_SNAPSHOT, IDENTITY_VERSION, MODEL_GRANTS, ROW_STAMP, caller_of_key, endpoints_stamp,
};

diesel::define_sql_function!(fn lower(x: Nullable<Text>) -> Nullable<Text>);

type Predicate = Box<dyn BoxableExpression<models::table, MultiBackend, SqlType = Nullable<Bool>>>;
type BoxedModels<'a> = models::BoxedQuery<'a, MultiBackend>;

pub(crate) fn view(actor: &Actor, model: Model) -> ModelView {
    let rights = policy::rights(actor, (&model).into());
    ModelView { model, rights }
}

/// Rows read with their grants ([`MODEL_GRANTS`]), as `actor` sees them.
fn views(actor: &Actor, rows: Vec<(ModelRow, String)>) -> StoreResult<Vec<ModelView>> {
    rows.into_iter().map(|found| Ok(view(actor, with_grants(found)?))).collect()
}

/// Grants of many models in one query, in their stored order.
fn load_grants(conn: &mut DbConn, seqs: &[i64]) -> StoreResult<HashMap<i64, Vec<Grant>>> {
    let rows: Vec<GrantRow> = model_grants::table
        .filter(model_grants::model_seq.eq_any(seqs))
        .order((model_grants::model_seq, model_grants::position))
        .select(GrantRow::as_select())
        .load(conn)?;
    let mut by_model: HashMap<i64, Vec<Grant>> = HashMap::new();
    for row in rows {
        let seq = row.model_seq;
        by_model.entry(seq).or_default().push(row.into_grant()?);
    }
    Ok(by_model)
}

/// Turns rows into models with their grants (two queries however many rows).
pub(crate) fn hydrate(conn: &mut DbConn, rows: Vec<ModelRow>) -> StoreResult<Vec<Model>> {
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let mut grants = if seqs.is_empty() { HashMap::new() } else { load_grants(conn, &seqs)? };
    rows.into_iter()
        .map(|row| {
            let g = grants.remove(&row.seq).unwrap_or_default();
            row.into_model(g)
        })
        .collect()
}

/// The models a reference may name for an org: the org's own and the built-in ones, the org's
/// first (a key names the org's own model before a built-in one).
fn named<'a>(org_id: &str, reference: &ModelRef) -> BoxedModels<'a> {
    let query = models::table
        .filter(models::org_id.eq(org_id.to_owned()).or(models::org_id.is_null()))
        .order(models::org_id.is_null())
        .into_boxed();
    match reference {
        ModelRef::Key(key) => query.filter(models::key.eq(key.clone())),
        ModelRef::Seq(seq) => query.filter(models::seq.eq(*seq)),
        ModelRef::Uuid(uuid) => query.filter(models::uuid.eq(uuid.to_string())),
    }
}

/// What a reference named when it was looked up: the model (or nothing), and the stamp of its
/// row then ([`ROW_STAMP`]), which tells a later lookup whether it still holds.
#[derive(Clone, Debug)]
pub(crate) struct Looked {
    pub found: Option<Model>,
    pub stamp: Option<String>,
}

impl Looked {
    fn of(found: Option<(ModelRow, String, String)>) -> StoreResult<Self> {
        let Some((row, grants, stamp)) = found else {
            return Ok(Self { found: None, stamp: None });
        };
        Ok(Self { found: Some(with_grants((row, grants))?), stamp: Some(stamp) })
    }
}

/// The model a reference names in the caller's org, or among the built-in models, with its
/// grants: one statement.
pub(crate) fn load_by_ref(
    conn: &mut DbConn,
    org_id: &str,
    reference: &ModelRef,
) -> StoreResult<Looked> {
    let found: Option<(ModelRow, String, String)> = named(org_id, reference)
        .select((ModelRow::as_select(), MODEL_GRANTS, ROW_STAMP))
        .first(conn)
        .optional()?;
    Looked::of(found)
}

/// What a cached caller and a cached lookup are checked against, in one light statement: the
/// identity version, the stamp of the row `reference` names now (`None`: it names none), and
/// the snapshot the statement read them in ([`CURRENT_SNAPSHOT`]).
pub(crate) fn stamps_of(
    conn: &mut DbConn,
    org_id: &str,
    reference: &ModelRef,
) -> StoreResult<Stamps<Option<String>>> {
    let row = named(org_id, reference).select(ROW_STAMP).single_value();
    let (identity, stamp, snapshot) =
        diesel::select((IDENTITY_VERSION, row, CURRENT_SNAPSHOT)).get_result(conn)?;
    Ok(Stamps { identity, stamps: stamp, snapshot })
}

/// What a light statement read: the identity version, the stamps it was asked for, and the
/// snapshot it read them in.
pub(crate) struct Stamps<T> {
    pub identity: Option<i64>,
    pub stamps: T,
    pub snapshot: Option<String>,
}

impl<T> Stamps<T> {
    /// Whether the stamps read are the ones cached, with what else the statement read.
    pub(crate) fn compared(self, unchanged: impl FnOnce(T) -> bool) -> Stamps<bool> {
        let Self { identity, stamps, snapshot } = self;
        Stamps { identity, stamps: unchanged(stamps), snapshot }
    }
}

/// [`stamps_of`] with the stamp of the endpoints that serve the model ([`endpoints_stamp`]), in
/// one statement.
///
/// [`endpoints_stamp`]: crate::subquery::endpoints_stamp
pub(crate) fn stamps_with_endpoints(
    conn: &mut DbConn,
    org_id: &str,
    reference: &ModelRef,
) -> StoreResult<Stamps<[Option<String>; 2]>> {
    let row = named(org_id, reference).select(ROW_STAMP).single_value();
    let served = named(org_id, reference).select(endpoints_stamp(org_id)).single_value();
    let (identity, row, served, snapshot) =
        diesel::select((IDENTITY_VERSION, row, served, CURRENT_SNAPSHOT)).get_result(conn)?;
    Ok(Stamps { identity, stamps: [row, served], snapshot })
}

/// The stamp of the endpoints of `org_id` that serve model `seq` ([`endpoints_stamp`]).
///
/// [`endpoints_stamp`]: crate::subquery::endpoints_stamp
pub(crate) fn endpoints_stamp_of(conn: &mut DbConn, org_id: &str, seq: i64) -> StoreResult<String> {
    Ok(models::table.filter(models::seq.eq(seq)).select(endpoints_stamp(org_id)).first(conn)?)
}

/// [`stamps_of`] for two references (a gateway call's model and its base), in one statement.
pub(crate) fn stamps_of_pair(
    conn: &mut DbConn,
    org_id: &str,
    first: &ModelRef,
    second: &ModelRef,
) -> StoreResult<Stamps<[Option<String>; 2]>> {
    let first = named(org_id, first).select(ROW_STAMP).single_value();
    let second = named(org_id, second).select(ROW_STAMP).single_value();
    let (identity, first, second, snapshot) =
        diesel::select((IDENTITY_VERSION, first, second, CURRENT_SNAPSHOT)).get_result(conn)?;
    Ok(Stamps { identity, stamps: [first, second], snapshot })
}

/// [`load_by_ref`] for a caller this replica cached: the same statement also reads the caller
/// its key authenticates now ([`caller_of_key`]) and the identity version it goes with. `None`
/// when no model matched (the statement then returned no row, so nothing about the key).
pub(crate) fn load_by_ref_checking_key(
    conn: &mut DbConn,
    org_id: &str,
    reference: &ModelRef,
    key_hash: &str,
) -> StoreResult<Option<(Looked, CallerNow)>> {
    type Checked = (ModelRow, String, String, Option<String>, Option<i64>);
    let found: Option<Checked> = named(org_id, reference)
        .select((
            ModelRow::as_select(),
            MODEL_GRANTS,
            ROW_STAMP,
            caller_of_key(key_hash),
            IDENTITY_VERSION,
        ))
        .first(conn)
        .optional()?;
    let Some((row, grants, stamp, caller, version)) = found else { return Ok(None) };
    let looked = Looked::of(Some((row, grants, stamp)))?;
    Ok(Some((looked, (caller_from_json(caller.as_deref())?, version))))
}

/// The model a lookup found, as `actor` may read it: missing and unreadable are both not found.
pub(crate) fn readable(actor: &Actor, found: Option<Model>) -> DomainResult<ModelView> {
    let model = found.ok_or(DomainError::NotFound(Entity::Model))?;
    let rights = policy::authorize_model(actor, &model, Action::Read)?;
    Ok(ModelView { model, rights })
}

/// Locks the model a reference names for an org (see [`named`]) until the transaction ends and
/// reads it with its grants: finding, locking and reading are one statement.
fn lock_by_ref(
    conn: &mut DbConn,
    org_id: &str,
    reference: &ModelRef,
) -> StoreResult<Option<Model>> {
    let DbConn::Pg(pg) = conn else {
        // SQLite: the immediate transaction already holds the database's write lock.
        return Ok(load_by_ref(conn, org_id, reference)?.found);
    };
    // `named`, written out per reference: diesel cannot lock a boxed query.
    macro_rules! locked {
        ($by:expr) => {
            models::table
                .filter(models::org_id.eq(org_id).or(models::org_id.is_null()))
                .filter($by)
                .order(models::org_id.is_null())
                .select((ModelRow::as_select(), MODEL_GRANTS))
                .for_update()
                .first::<(ModelRow, String)>(pg)
                .optional()?
        };
    }
    let found = match reference {
        ModelRef::Key(key) => locked!(models::key.eq(key)),
        ModelRef::Seq(seq) => locked!(models::seq.eq(*seq)),
        ModelRef::Uuid(uuid) => locked!(models::uuid.eq(uuid.to_string())),
    };
    found.map(with_grants).transpose()
}

/// A model from its row and its grants' JSON column (see [`MODEL_GRANTS`]).
fn with_grants((row, grants): (ModelRow, String)) -> StoreResult<Model> {
    let triples: Vec<(String, String, String)> = serde_json::from_str(&grants)
        .map_err(|e| StoreError::Corrupt(format!("grants of model {}: {e}", row.seq)))?;
    let grants = triples
        .into_iter()
        .map(|(principal_type, principal_id, permission)| {
            GrantRow { model_seq: row.seq, principal_type, principal_id, permission, position: 0 }
                .into_grant()
        })
        .collect::<StoreResult<Vec<_>>>()?;
    row.into_model(grants)
}

/// The `seq` a reference names in the caller's org, or among the built-in models (see [`named`]).
pub(crate) fn resolve_seq(
    conn: &mut DbConn,
    org_id: &str,
    model: &ModelRef,
) -> StoreResult<Option<i64>> {
    Ok(named(org_id, model).select(models::seq).first(conn).optional()?)
}

pub(crate) fn matches_ref(model: &Model, reference: &ModelRef) -> bool {
    match reference {
        ModelRef::Key(key) => model.key == *key,
        ModelRef::Seq(seq) => model.seq == *seq,
        ModelRef::Uuid(uuid) => model.uuid == *uuid,
    }
}

/// Whether `key` is used by a model of the org (other than `except`) or by a built-in model.
fn key_taken(conn: &mut DbConn, org_id: &str, key: &str, except: Option<i64>) -> StoreResult<bool> {
    let mut query = models::table
        .filter(models::key.eq(key.to_owned()))
        .filter(models::org_id.eq(org_id.to_owned()).or(models::org_id.is_null()))
        .select(models::seq)
        .into_boxed();
    if let Some(seq) = except {
        query = query.filter(models::seq.ne(seq));
    }
    Ok(query.first::<i64>(conn).optional()?.is_some())
}

fn resolve_provider_ref(
    conn: &mut DbConn,
    org_id: &str,
    reference: &Option<Option<ProviderRefInput>>,
) -> StoreResult<Option<Option<i64>>> {
    let Some(reference) = reference else { return Ok(None) };
    let Some(reference) = reference else { return Ok(Some(None)) };
    let query =
        providers::table.filter(providers::org_id.eq(org_id.to_owned())).select(providers::seq);
    let found = match reference {
        ProviderRefInput::Id(id) => query.filter(providers::seq.eq(*id)).first::<i64>(conn),
        ProviderRefInput::Slug(slug) => {
            query.filter(providers::provider_id.eq(slug)).first::<i64>(conn)
        }
    }
    .optional()?;
    match found {
        Some(seq) => Ok(Some(Some(seq))),
        None => Err(DomainError::invalid(FieldError::model(
            Field::ProviderRef,
            Violation::UnknownReference,
        ))
        .into()),
    }
}

fn write_grants(conn: &mut DbConn, seq: i64, grants: &[Grant]) -> StoreResult<()> {
    diesel::delete(model_grants::table.filter(model_grants::model_seq.eq(seq))).execute(conn)?;
    if !grants.is_empty() {
        let rows = GrantRow::rows_for(seq, grants);
        crate::on_inner!(conn, |c| diesel::insert_into(model_grants::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

/// Inserts a new model (fresh uuid, version 1, created now) with its grants and returns it
/// with its `seq`.
pub(crate) fn insert_model(
    conn: &mut DbConn,
    uuid: Uuid,
    org_id: Option<String>,
    key: String,
    source: Source,
    owner_id: Option<String>,
    fields: ModelFields,
) -> StoreResult<Model> {
    let at = now();
    let mut model = Model {
        seq: 0,
        uuid,
        org_id,
        key,
        source,
        owner_id,
        fields,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    let write = ModelWrite::from_model(&model)?;
    diesel::insert_into(models::table)
        .values(&write)
        .execute(conn)
        .map_err(conflict_on_unique(Entity::Model, &model.key))?;
    model.seq =
        models::table.filter(models::uuid.eq(&write.uuid)).select(models::seq).first(conn)?;
    write_grants(conn, model.seq, &model.fields.grants)?;
    Ok(model)
}

/// Writes every column of an existing model (grants only when they changed) and its audit row.
pub(crate) fn write_model(
    conn: &mut DbConn,
    auditor: Auditor<'_>,
    action: &str,
    before: &Model,
    after: &Model,
) -> StoreResult<()> {
    let audit = auditor.row("model", &after.uuid.to_string(), action, Some(before), Some(after))?;
    let write = diesel::update(models::table.find(after.seq)).set(ModelWrite::from_model(after)?);
    match conn {
        DbConn::Pg(pg) => with_audit(write, audit).execute(pg),
        DbConn::Sqlite(_) => write
            .execute(conn)
            .and_then(|_| diesel::insert_into(audit_events::table).values(audit).execute(conn)),
    }
    .map_err(conflict_on_unique(Entity::Model, &after.key))?;
    if before.fields.grants != after.fields.grants {
        write_grants(conn, after.seq, &after.fields.grants)?;
    }
    Ok(())
}

/// What an update comes to, applied to the model as it stands.
pub(crate) enum Planned {
    /// Nothing would change (nothing is written, not even an audit row).
    Unchanged,
    Write {
        action: &'static str,
        after: Box<Model>,
    },
}

/// Postgres: writes `after` over `before` with its audit row in one statement that commits by
/// itself, on condition that the row is still the one stamped `stamp` (see [`ROW_STAMP`]) and,
/// for a remembered caller, that the identity version is still `identity`. Returns the row's new
/// stamp, or `None` when a condition failed (nothing was written). The row lock is held only
/// while the statement runs, not across round trips. Grants are not written here.
pub(crate) fn write_model_if_unchanged(
    pg: &mut diesel::PgConnection,
    auditor: Auditor<'_>,
    action: &str,
    (before, stamp): (&Model, &str),
    after: &Model,
    identity: Option<i64>,
) -> StoreResult<Option<String>> {
    let audit = auditor.row("model", &after.uuid.to_string(), action, Some(before), Some(after))?;
    let any_identity = identity.is_none();
    let write = diesel::update(
        models::table
            .filter(models::seq.eq(after.seq))
            .filter(ROW_STAMP.eq(stamp))
            .filter(IDENTITY_VERSION.eq(identity.unwrap_or_default()).or::<_, Bool>(any_identity)),
    )
    .set(ModelWrite::from_model(after)?)
    .returning(ROW_STAMP);
    crate::audit::with_audit_if_written(write, audit)
        .get_result::<String>(pg)
        .optional()
        .map_err(conflict_on_unique(Entity::Model, &after.key))
}

/// Resolves, locks and loads a model for a change, and checks the caller may write it.
fn lock_for_write(conn: &mut DbConn, ctx: &Ctx, reference: &ModelRef) -> StoreResult<Model> {
    let not_found = || StoreError::Domain(DomainError::NotFound(Entity::Model));
    let model = lock_by_ref(conn, &ctx.actor.org_id, reference)?.ok_or_else(not_found)?;
    // A concurrent rename may have moved the key away while we waited for the lock.
    if !matches_ref(&model, reference) {
        return Err(not_found());
    }
    policy::authorize_model(&ctx.actor, &model, Action::Write)?;
    Ok(model)
}

impl Store {
    /// Applies `change` to a copy of `fields`, resolving references and sealing secrets.
    /// `fields` after `change`, for the model `uuid` (its secrets are sealed to it).
    fn changed_fields(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        uuid: &Uuid,
        fields: &ModelFields,
        change: ModelChange,
    ) -> StoreResult<ModelFields> {
        let provider_ref = resolve_provider_ref(conn, &ctx.actor.org_id, &change.provider_ref)?;
        let mut change = change;
        // Sending the stored key again changes nothing: keep its sealed form rather than sealing
        // it anew (a new nonce would make an unchanged model look changed).
        if let (Some(Some(sent)), Some(stored)) = (&change.api_key, &fields.api_key)
            && self.cipher.reveal(stored)?.expose() == sent.expose()
        {
            change.api_key = None;
        }
        let mut next = fields.clone();
        let sealer = self.cipher.bound(crate::cipher::model_object(uuid));
        apply_change(&mut next, change, ctx.dialect, provider_ref, &sealer)?;
        Ok(next)
    }

    pub(crate) fn create_model_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        key: String,
        change: ModelChange,
        action: &str,
    ) -> StoreResult<ModelView> {
        policy::authorize(&ctx.actor, Action::Create)?;
        validate_key(&key).map_err(DomainError::invalid)?;
        if key_taken(conn, &ctx.actor.org_id, &key, None)? {
            return Err(DomainError::Conflict { entity: Entity::Model, value: key }.into());
        }
        // The uuid comes first: secrets are sealed to the model they belong to.
        let uuid = Uuid::new_v4();
        let fields = self.changed_fields(conn, ctx, &uuid, &ModelFields::default(), change)?;
        policy::authorize_sharing(&ctx.actor, None, &fields)?;
        let model = insert_model(
            conn,
            uuid,
            Some(ctx.actor.org_id.clone()),
            key,
            Source::Custom,
            Some(ctx.actor.user_id.clone()),
            fields,
        )?;
        Auditor::of(ctx).record(
            conn,
            "model",
            &model.uuid.to_string(),
            action,
            None,
            Some(&model),
        )?;
        Ok(view(&ctx.actor, model))
    }

    pub(crate) fn update_model_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ModelRef,
        update: ModelUpdate,
    ) -> StoreResult<ModelView> {
        let before = lock_for_write(conn, ctx, reference)?;
        self.update_locked(conn, ctx, before, update)
    }

    fn update_locked(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        before: Model,
        update: ModelUpdate,
    ) -> StoreResult<ModelView> {
        match self.plan_update(conn, ctx, &before, update)? {
            Planned::Unchanged => Ok(view(&ctx.actor, before)),
            Planned::Write { action, after } => {
                write_model(conn, Auditor::of(ctx), action, &before, &after)?;
                Ok(view(&ctx.actor, *after))
            }
        }
    }

    /// What `update` makes of `before`, checked but not written.
    pub(crate) fn plan_update(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        before: &Model,
        update: ModelUpdate,
    ) -> StoreResult<Planned> {
        let ModelUpdate { rename, replace, change, expected_version } = update;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(DomainError::VersionMismatch.into());
        }
        let action = match (&replace, &rename) {
            (Some(_), _) => "replace",
            (None, Some(_)) if change.fields().is_subset_of(Default::default()) => "rename",
            _ => "update",
        };
        let change = match replace {
            Some(view_fields) => {
                if !change.fields().is_subset_of(view_fields) {
                    return Err(DomainError::internal(
                        "replace",
                        "a dialect set fields outside its view",
                    )
                    .into());
                }
                change.reset_unset(view_fields)
            }
            None => change,
        };
        let mut after = before.clone();
        after.fields = self.changed_fields(conn, ctx, &before.uuid, &before.fields, change)?;
        policy::authorize_sharing(&ctx.actor, Some(&before.fields), &after.fields)?;
        if let Some(new_key) = rename
            && new_key != before.key
        {
            validate_key(&new_key).map_err(DomainError::invalid)?;
            if key_taken(conn, &ctx.actor.org_id, &new_key, Some(before.seq))? {
                return Err(DomainError::Conflict { entity: Entity::Model, value: new_key }.into());
            }
            after.key = new_key;
        }
        // A write that changes nothing changes nothing: no version, no timestamp, no audit row.
        if after.fields == before.fields && after.key == before.key {
            return Ok(Planned::Unchanged);
        }
        after.version = before.version + 1;
        after.updated_at = now();
        Ok(Planned::Write { action, after: Box::new(after) })
    }

    pub(crate) fn toggle_model_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ModelRef,
    ) -> StoreResult<ModelView> {
        let before = lock_for_write(conn, ctx, reference)?;
        let mut after = before.clone();
        after.fields.is_active = !before.fields.is_active;
        after.version = before.version + 1;
        after.updated_at = now();
        write_model(conn, Auditor::of(ctx), "toggle", &before, &after)?;
        Ok(view(&ctx.actor, after))
    }

    pub(crate) fn delete_model_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ModelRef,
    ) -> StoreResult<ModelView> {
        let model = lock_for_write(conn, ctx, reference)?;
        let auditor = Auditor::of(ctx);
        // Endpoints serving the model go with it, each with its own audit row.
        let served: Vec<crate::rows::EndpointRow> = endpoints::table
            .filter(endpoints::model_seq.eq(model.seq))
            .select(crate::rows::EndpointRow::as_select())
            .load(conn)?;
        for row in served {
            let endpoint = row.into_endpoint()?;
            diesel::delete(endpoints::table.find(endpoint.id.to_string())).execute(conn)?;
            auditor.record(
                conn,
                "endpoint",
                &endpoint.id.to_string(),
                "delete",
                Some(&endpoint),
                None,
            )?;
        }
        diesel::delete(models::table.find(model.seq)).execute(conn)?;
        auditor.record(conn, "model", &model.uuid.to_string(), "delete", Some(&model), None)?;
        Ok(view(&ctx.actor, model))
    }

    pub(crate) fn delete_org_models_in(&self, conn: &mut DbConn, ctx: &Ctx) -> StoreResult<usize> {
        policy::authorize(&ctx.actor, Action::Admin)?;
        let seqs: Vec<i64> = models::table
            .filter(models::org_id.eq(&ctx.actor.org_id))
            .order(models::seq)
            .select(models::seq)
            .load(conn)?;
        for seq in &seqs {
            self.delete_model_in(conn, ctx, &ModelRef::Seq(*seq))?;
        }
        Ok(seqs.len())
    }

    pub(crate) fn upsert_model_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        item: UpsertModel,
        action_new: &str,
    ) -> StoreResult<Upserted> {
        let reference = ModelRef::Key(item.key.clone());
        match resolve_seq(conn, &ctx.actor.org_id, &reference)? {
            Some(_) => {
                let before = lock_for_write(conn, ctx, &reference)?;
                let update = ModelUpdate {
                    replace: item.replace,
                    change: item.change,
                    ..Default::default()
                };
                Ok(Upserted {
                    view: self.update_locked(conn, ctx, before, update)?,
                    created: false,
                })
            }
            None => Ok(Upserted {
                view: self.create_model_in(conn, ctx, item.key, item.change, action_new)?,
                created: true,
            }),
        }
    }

    pub(crate) fn get_model_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ModelRef,
    ) -> StoreResult<ModelView> {
        Ok(readable(&ctx.actor, load_by_ref(conn, &ctx.actor.org_id, reference)?.found)?)
    }

    pub(crate) fn list_models_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        query: &ModelQuery,
    ) -> StoreResult<Page<ModelView>> {
        let scope = policy::read_scope(&ctx.actor);
        let total = match kept_count(&scope, query) {
            Some((org_id, sources)) => model_counts::table
                .filter(model_counts::org_id.eq_any([org_id, String::new()]))
                .filter(model_counts::source.eq_any(sources))
                .select(model_counts::total)
                .load::<i64>(conn)?
                .into_iter()
                .sum(),
            None => filtered(&scope, query)?.count().get_result(conn)?,
        };
        let mut select = filtered(&scope, query)?;
        for sort in &query.sort {
            select = order_by(select, sort.column, sort.descending);
        }
        select = select.then_order_by(models::seq.asc());
        // Each row with its grants (one statement, not a second one for the grants).
        let rows: Vec<(ModelRow, String)> = match query.page {
            None => select.select((ModelRow::as_select(), MODEL_GRANTS)).load(conn)?,
            Some(page) => {
                // Sort and page the keys only, then fetch the page's rows: sorting whole rows
                // costs more than the extra round trip (measured by benches/registry.rs).
                let seqs: Vec<i64> = select
                    .offset(page.offset.max(0))
                    .limit(page.limit.max(0))
                    .select(models::seq)
                    .load(conn)?;
                let mut rows: Vec<(ModelRow, String)> = models::table
                    .filter(models::seq.eq_any(&seqs))
                    .select((ModelRow::as_select(), MODEL_GRANTS))
                    .load(conn)?;
                let position: HashMap<i64, usize> =
                    seqs.iter().enumerate().map(|(i, seq)| (*seq, i)).collect();
                rows.sort_by_key(|(row, _)| position.get(&row.seq).copied().unwrap_or(usize::MAX));
                rows
            }
        };
        Ok(Page { items: views(&ctx.actor, rows)?, total })
    }

    pub(crate) fn scan_models_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        query: &ModelQuery,
        after: Option<&ScanCursor>,
        limit: i64,
    ) -> StoreResult<Vec<ModelView>> {
        let rows = scan_in_key_order(
            ctx,
            query,
            after,
            limit,
            |select| select.select((ModelRow::as_select(), MODEL_GRANTS)).load(conn),
            |(row, _): &(ModelRow, String)| (row.key.as_str(), row.seq),
        )?;
        views(&ctx.actor, rows)
    }

    pub(crate) fn scan_model_entries_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        query: &ModelQuery,
        after: Option<&ScanCursor>,
        limit: i64,
    ) -> StoreResult<Vec<ModelEntry>> {
        let rows = scan_in_key_order(
            ctx,
            query,
            after,
            limit,
            |select| select.select(EntryRow::as_select()).load(conn),
            |row: &EntryRow| (row.key.as_str(), row.seq),
        )?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }
}

/// A scan's batch, loaded by `load`. A scan of the org's models and the catalog by key reads
/// each in the order of its own index and merges the two: as one query, `org_id = $1 OR org_id
/// IS NULL` follows no index in key order, so each batch sorted every row after its cursor.
fn scan_in_key_order<T>(
    ctx: &Ctx,
    query: &ModelQuery,
    after: Option<&ScanCursor>,
    limit: i64,
    mut load: impl FnMut(BoxedModels<'static>) -> QueryResult<Vec<T>>,
    key_seq: impl Fn(&T) -> (&str, i64),
) -> StoreResult<Vec<T>> {
    let by_key = matches!(query.sort.as_slice(), [sort] if sort.column == Column::Key);
    if !by_key || query.source.is_some() {
        return Ok(load(scanned(ctx, query, after, limit)?)?);
    }
    let mut rows = Vec::new();
    for source in [Source::Custom, Source::Builtin] {
        let half = ModelQuery { source: Some(source), ..query.clone() };
        rows.extend(load(scanned(ctx, &half, after, limit)?)?);
    }
    rows.sort_by(|a, b| key_seq(a).cmp(&key_seq(b)));
    rows.truncate(usize::try_from(limit.max(0)).unwrap_or(usize::MAX));
    Ok(rows)
}

/// The models of a scan's batch: those the caller may read that `query` keeps, after `after` in
/// the scan's order, at most `limit`.
fn scanned<'a>(
    ctx: &Ctx,
    query: &ModelQuery,
    after: Option<&ScanCursor>,
    limit: i64,
) -> StoreResult<BoxedModels<'a>> {
    let column = match query.sort.as_slice() {
        [] => Column::Seq,
        [sort] if !sort.descending && ScanCursor::scannable(sort.column) => sort.column,
        _ => return Err(bad_filter("a scan is sorted by key, created_at or seq".into())),
    };
    let scope = policy::read_scope(&ctx.actor);
    let mut select = filtered(&scope, query)?;
    if let Some(after) = after {
        // The leading `column >= value` is a range an index on (column, seq) can start at;
        // the rest drops the rows up to the cursor among those that tie with it.
        let tied = column_predicate(column, Op::Eq, &after.value)?;
        select = select.filter(column_predicate(column, Op::Gte, &after.value)?).filter(
            column_predicate(column, Op::Gt, &after.value)?
                .or(tied.and(models::seq.gt(after.seq).nullable())),
        );
    }
    Ok(order_by(select, column, false).then_order_by(models::seq.asc()).limit(limit.max(0)))
}

// ---- list queries ----

/// When a listing's total is what the `model_counts` triggers keep: an admin's unfiltered view
/// of the org (and the catalog). The org and the sources to add up: the org's custom models are
/// counted under the org, the catalog's under `''`.
fn kept_count(scope: &ReadScope, query: &ModelQuery) -> Option<(String, Vec<&'static str>)> {
    let ReadScope::WholeOrg { org_id } = scope else { return None };
    let unfiltered = query.conditions.is_empty() && query.text.as_deref().is_none_or(str::is_empty);
    let sources = match query.source {
        Some(source) => vec![source.as_str()],
        None => vec![Source::Custom.as_str(), Source::Builtin.as_str()],
    };
    unfiltered.then(|| (org_id.clone(), sources))
}

/// The models `scope` may read; `custom_only` when the query keeps custom models only, which
/// are never built-in (no `org_id IS NULL` alternative: the org's index then serves the query).
fn visibility(scope: &ReadScope, custom_only: bool) -> Predicate {
    match scope {
        ReadScope::WholeOrg { org_id } if custom_only => {
            Box::new(models::org_id.eq(org_id.clone()))
        }
        ReadScope::WholeOrg { org_id } => {
            Box::new(models::org_id.is_null().nullable().or(models::org_id.eq(org_id.clone())))
        }
        ReadScope::Restricted { org_id, user_id, group_ids } => {
            let user_grant = model_grants::principal_type
                .eq("user")
                .and(model_grants::principal_id.eq(user_id.clone()));
            let grants_of_model =
                model_grants::table.filter(model_grants::model_seq.eq(models::seq));
            // Written out twice because an empty `IN ()` is not portable SQL.
            macro_rules! readable_given {
                ($granted:expr) => {{
                    let own = models::org_id.eq(org_id.clone()).and(
                        models::owner_id
                            .eq(user_id.clone())
                            .or(models::public_read.eq(true).nullable())
                            .or(exists(grants_of_model.filter($granted)).nullable()),
                    );
                    if custom_only {
                        Box::new(own)
                    } else {
                        Box::new(models::org_id.is_null().nullable().or(own))
                    }
                }};
            }
            if group_ids.is_empty() {
                readable_given!(user_grant)
            } else {
                let group_grant = model_grants::principal_type
                    .eq("group")
                    .and(model_grants::principal_id.eq_any(group_ids.clone()));
                readable_given!(user_grant.or(group_grant))
            }
        }
    }
}

fn filtered<'a>(scope: &ReadScope, query: &ModelQuery) -> StoreResult<BoxedModels<'a>> {
    let custom_only = query.source == Some(Source::Custom);
    // The catalog (its models have no org) is everyone's to read.
    let visible = match query.source {
        Some(Source::Builtin) => Box::new(models::org_id.is_null().nullable()),
        _ => visibility(scope, custom_only),
    };
    let mut select = models::table.into_boxed::<MultiBackend>().filter(visible);
    if let Some(source) = query.source {
        select = select.filter(models::source.eq(source.as_str().to_owned()));
    }
    if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        select = select.filter(
            lower(models::key.nullable())
                .like(pattern.clone())
                .escape('\\')
                .or(lower(models::display_name).like(pattern.clone()).escape('\\'))
                .or(lower(models::description).like(pattern).escape('\\')),
        );
    }
    for condition in &query.conditions {
        select = select.filter(predicate(&condition.target, condition.op, &condition.value)?);
    }
    Ok(select)
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn bad_filter(reason: String) -> StoreError {
    DomainError::invalid(FieldError::named("filters", Violation::Invalid { reason })).into()
}

fn text_of(value: &Value) -> StoreResult<String> {
    match value {
        Value::Text(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(bad_filter(format!("expected text, got {other:?}"))),
    }
}

fn int_of(value: &Value) -> StoreResult<i64> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        Value::Text(s) => {
            s.trim().parse().map_err(|_| bad_filter(format!("'{s}' is not an integer")))
        }
        other => Err(bad_filter(format!("expected an integer, got {other:?}"))),
    }
}

fn float_of(value: &Value) -> StoreResult<f64> {
    match value {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Text(s) => {
            s.trim().parse().map_err(|_| bad_filter(format!("'{s}' is not a number")))
        }
        other => Err(bad_filter(format!("expected a number, got {other:?}"))),
    }
}

fn bool_of(value: &Value) -> StoreResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Text(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Value::Text(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
        other => Err(bad_filter(format!("expected a boolean, got {other:?}"))),
    }
}

fn time_of(value: &Value) -> StoreResult<chrono::NaiveDateTime> {
    match value {
        Value::Time(t) => Ok(t.naive_utc()),
        Value::Text(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.naive_utc())
            .map_err(|_| bad_filter(format!("'{s}' is not an ISO 8601 time"))),
        other => Err(bad_filter(format!("expected a time, got {other:?}"))),
    }
}

fn list_of<T>(value: &Value, convert: fn(&Value) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    match value {
        Value::List(items) => items.iter().map(convert).collect(),
        single => Ok(vec![convert(single)?]),
    }
}

/// Comparisons on a column, as `Nullable<Bool>` whether the column is nullable or not.
macro_rules! compare {
    ($col:expr, $op:expr, $value:expr, $convert:ident) => {{
        let value = $value;
        let predicate: Predicate = match $op {
            Op::Eq => Box::new($col.eq($convert(value)?).nullable()),
            Op::Ne => Box::new($col.ne($convert(value)?).nullable()),
            Op::Gt => Box::new($col.gt($convert(value)?).nullable()),
            Op::Gte => Box::new($col.ge($convert(value)?).nullable()),
            Op::Lt => Box::new($col.lt($convert(value)?).nullable()),
            Op::Lte => Box::new($col.le($convert(value)?).nullable()),
            Op::In => Box::new($col.eq_any(list_of(value, $convert)?).nullable()),
            Op::NotIn => Box::new($col.ne_all(list_of(value, $convert)?).nullable()),
            Op::IsNull => {
                if bool_of(value)? {
                    Box::new($col.is_null().nullable())
                } else {
                    Box::new($col.is_not_null().nullable())
                }
            }
            Op::IContains | Op::IStartsWith | Op::IEndsWith => {
                return Err(bad_filter(format!("operator {:?} applies to text fields only", $op)));
            }
        };
        predicate
    }};
}

/// Text comparisons, with the case-insensitive pattern operators.
macro_rules! compare_text {
    ($col:expr, $op:expr, $value:expr) => {{
        let value = $value;
        match $op {
            Op::IContains | Op::IStartsWith | Op::IEndsWith => {
                let needle = escape_like(&text_of(value)?.to_lowercase());
                let pattern = match $op {
                    Op::IContains => format!("%{needle}%"),
                    Op::IStartsWith => format!("{needle}%"),
                    _ => format!("%{needle}"),
                };
                Box::new(lower($col.nullable()).like(pattern).escape('\\')) as Predicate
            }
            _ => compare!($col, $op, value, text_of),
        }
    }};
}

fn column_predicate(column: Column, op: Op, value: &Value) -> StoreResult<Predicate> {
    Ok(match column {
        Column::Seq => compare!(models::seq, op, value, int_of),
        Column::Key => compare_text!(models::key, op, value),
        Column::Source => compare_text!(models::source, op, value),
        Column::DisplayName => compare_text!(models::display_name, op, value),
        Column::Description => compare_text!(models::description, op, value),
        Column::Provider => compare_text!(models::provider, op, value),
        Column::BaseModel => compare_text!(models::base_model, op, value),
        Column::Category => compare_text!(models::category, op, value),
        Column::BaseUrl => compare_text!(models::base_url, op, value),
        Column::OwnerId => compare_text!(models::owner_id, op, value),
        Column::ProviderRef => compare!(models::provider_ref, op, value, int_of),
        Column::ContextWindow => compare!(models::context_window, op, value, int_of),
        Column::Dimension => compare!(models::dimension, op, value, int_of),
        Column::InputCost => compare!(models::input_cost, op, value, float_of),
        Column::OutputCost => compare!(models::output_cost, op, value, float_of),
        Column::CacheHitInputCost => compare!(models::cache_hit_input_cost, op, value, float_of),
        Column::CacheCreationInputCost => {
            compare!(models::cache_creation_input_cost, op, value, float_of)
        }
        Column::IsActive => compare!(models::is_active, op, value, bool_of),
        Column::Public => compare!(models::public_read, op, value, bool_of),
        Column::CreatedAt => compare!(models::created_at, op, value, time_of),
        Column::UpdatedAt => compare!(models::updated_at, op, value, time_of),
    })
}

/// The JSON form of a string as it appears inside a stored array or object.
fn json_string(s: &str) -> StoreResult<String> {
    serde_json::to_string(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn predicate(target: &Target, op: Op, value: &Value) -> StoreResult<Predicate> {
    match target {
        Target::Column(column) => column_predicate(*column, op, value),
        Target::Tag(tag) => {
            // Tags are stored as a compact JSON array: a tag is present when its quoted form is.
            let pattern = format!("%{}%", escape_like(&json_string(tag)?));
            let has = models::tags.like(pattern).escape('\\');
            match (op, bool_of(value).unwrap_or(true)) {
                (Op::Eq, true) | (Op::Ne, false) => Ok(Box::new(has.nullable())),
                (Op::Eq, false) | (Op::Ne, true) => Ok(Box::new(diesel::dsl::not(has).nullable())),
                _ => Err(bad_filter(format!("operator {op:?} does not apply to tags"))),
            }
        }
        Target::Capability(name) => {
            let pattern = format!("%{}:true%", escape_like(&json_string(name)?));
            let has = models::capabilities.like(pattern).escape('\\');
            match (op, bool_of(value)?) {
                (Op::Eq, true) | (Op::Ne, false) => Ok(Box::new(has)),
                (Op::Eq, false) | (Op::Ne, true) => Ok(Box::new(
                    models::capabilities.is_null().nullable().or(diesel::dsl::not(has)),
                )),
                _ => Err(bad_filter(format!("operator {op:?} does not apply to capabilities"))),
            }
        }
    }
}

/// Orders by a column, missing values last in both directions and on both backends.
fn order_by(select: BoxedModels<'_>, column: Column, descending: bool) -> BoxedModels<'_> {
    macro_rules! direction {
        ($select:expr, $col:expr) => {
            if descending {
                $select.then_order_by($col.desc())
            } else {
                $select.then_order_by($col.asc())
            }
        };
    }
    // Nullable columns sort their NULLs last either way; the others are ordered by the column
    // alone, which an index on it can serve.
    macro_rules! nulls_last {
        ($col:expr) => {{ direction!(select.then_order_by($col.is_null().asc()), $col) }};
    }
    macro_rules! not_null {
        ($col:expr) => {{ direction!(select, $col) }};
    }
    match column {
        Column::Seq => not_null!(models::seq),
        Column::Key => not_null!(models::key),
        Column::DisplayName => nulls_last!(models::display_name),
        Column::Description => nulls_last!(models::description),
        Column::Provider => nulls_last!(models::provider),
        Column::ProviderRef => nulls_last!(models::provider_ref),
        Column::BaseModel => nulls_last!(models::base_model),
        Column::Category => nulls_last!(models::category),
        Column::BaseUrl => nulls_last!(models::base_url),
        Column::OwnerId => nulls_last!(models::owner_id),
        Column::Source => not_null!(models::source),
        Column::IsActive => not_null!(models::is_active),
        Column::Public => not_null!(models::public_read),
        Column::InputCost => nulls_last!(models::input_cost),
        Column::OutputCost => nulls_last!(models::output_cost),
        Column::CacheHitInputCost => nulls_last!(models::cache_hit_input_cost),
        Column::CacheCreationInputCost => nulls_last!(models::cache_creation_input_cost),
        Column::ContextWindow => nulls_last!(models::context_window),
        Column::Dimension => nulls_last!(models::dimension),
        Column::CreatedAt => not_null!(models::created_at),
        Column::UpdatedAt => not_null!(models::updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
