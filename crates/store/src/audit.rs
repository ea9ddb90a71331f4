//! Audit rows, written inside the transaction of the change they describe.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text, Timestamp};
use modelgate_core::Ctx;
use serde::Serialize;

use crate::conn::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::rows::{NewAuditRow, now, to_db_time};
use crate::schema::audit_events;

/// Who is recorded as making a change, and through which API.
#[derive(Clone, Copy, Debug)]
pub struct Auditor<'a> {
    org_id: Option<&'a str>,
    actor_id: Option<&'a str>,
    dialect: &'a str,
}

impl<'a> Auditor<'a> {
    pub fn of(ctx: &'a Ctx) -> Self {
        Self {
            org_id: Some(ctx.actor.org_id.as_str()),
            actor_id: Some(ctx.actor.user_id.as_str()),
            dialect: ctx.dialect,
        }
    }

    /// Changes the system makes by itself (catalog sync, bootstrap): no actor.
    pub fn system(org_id: Option<&'a str>, dialect: &'a str) -> Self {
        Self { org_id, actor_id: None, dialect }
    }

    pub fn in_org(self, org_id: Option<&'a str>) -> Self {
        Self { org_id, ..self }
    }

    pub fn record<T: Serialize>(
        &self,
        conn: &mut DbConn,
        entity: &str,
        entity_id: &str,
        action: &str,
        before: Option<&T>,
        after: Option<&T>,
    ) -> StoreResult<()> {
        diesel::insert_into(audit_events::table)
            .values(self.row(entity, entity_id, action, before, after)?)
            .execute(conn)?;
        Ok(())
    }

    /// The audit row of a change, for a caller that writes it together with the change.
    pub(crate) fn row<T: Serialize>(
        &self,
        entity: &str,
        entity_id: &str,
        action: &str,
        before: Option<&T>,
        after: Option<&T>,
    ) -> StoreResult<NewAuditRow> {
        let state = |value: Option<&T>| -> StoreResult<Option<String>> {
            value
                .map(|v| {
                    serde_json::to_string(v)
                        .map_err(|e| StoreError::Corrupt(format!("encode audit state: {e}")))
                })
                .transpose()
        };
        Ok(NewAuditRow {
            org_id: self.org_id.map(str::to_owned),
            entity: entity.to_owned(),
            entity_id: entity_id.to_owned(),
            actor_id: self.actor_id.map(str::to_owned),
            dialect: self.dialect.to_owned(),
            action: action.to_owned(),
            before_state: state(before)?,
            after_state: state(after)?,
            at: to_db_time(now()),
        })
    }
}

/// `WITH written AS (<write>) <audit insert>`: on Postgres a change and its audit row are one
/// statement, so a hot row's lock is held for one round trip fewer (SQLite cannot put a write
/// in a `WITH`, and has no round trips to save).
pub(crate) struct WithAudit<W, A> {
    write: W,
    audit: A,
}

/// `write`, then the insert of `audit`, as one statement.
pub(crate) fn with_audit<W>(
    write: W,
    audit: NewAuditRow,
) -> WithAudit<W, impl QueryFragment<Pg> + use<W>> {
    WithAudit { write, audit: diesel::insert_into(audit_events::table).values(audit) }
}

impl<W: QueryFragment<Pg>, A: QueryFragment<Pg>> QueryFragment<Pg> for WithAudit<W, A> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH written AS (");
        self.write.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        // Binds are numbered in walk order, so the insert's continue after the write's.
        self.audit.walk_ast(out.reborrow())
    }
}

impl<W, A> QueryId for WithAudit<W, A> {
    type QueryId = ();
    // Cached by its SQL text, like the write it wraps.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<W, A> RunQueryDsl<PgConnection> for WithAudit<W, A> {}

/// `WITH written AS (<write … RETURNING x>), audited AS (<audit insert> FROM written) SELECT *
/// FROM written`: the audit row is inserted only when the write matched a row, and the
/// statement answers the write's `RETURNING` value (no row when it matched none).
pub(crate) struct WithAuditIfWritten<W> {
    write: W,
    audit: NewAuditRow,
}

pub(crate) fn with_audit_if_written<W>(write: W, audit: NewAuditRow) -> WithAuditIfWritten<W> {
    WithAuditIfWritten { write, audit }
}

impl<W: QueryFragment<Pg>> QueryFragment<Pg> for WithAuditIfWritten<W> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let a = &self.audit;
        out.push_sql("WITH written AS (");
        self.write.walk_ast(out.reborrow())?;
        out.push_sql(
            "), audited AS (INSERT INTO audit_events (org_id, entity, entity_id, actor_id, \
             dialect, action, before_state, after_state, at) SELECT ",
        );
        out.push_bind_param::<Nullable<Text>, _>(&a.org_id)?;
        for value in [&a.entity, &a.entity_id] {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(value)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&a.actor_id)?;
        for value in [&a.dialect, &a.action] {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(value)?;
        }
        for value in [&a.before_state, &a.after_state] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(value)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&a.at)?;
        out.push_sql(" FROM written) SELECT * FROM written");
        Ok(())
    }

    /// Kept prepared, parsed once per connection: diesel never caches an `UPDATE` of its own
    /// (a changeset may skip columns), but a model is always written whole, so this text is
    /// the same on every call (and the cache is keyed by the text anyway).
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<W> Query for WithAuditIfWritten<W> {
    type SqlType = Text;
}

impl<W> QueryId for WithAuditIfWritten<W> {
    type QueryId = ();
    // Cached by its SQL text, like the write it wraps.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<W> RunQueryDsl<PgConnection> for WithAuditIfWritten<W> {}
