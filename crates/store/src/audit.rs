//! Audit rows, written inside the transaction of the change they describe.

use diesel::prelude::*;
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
        let state = |value: Option<&T>| -> StoreResult<Option<String>> {
            value
                .map(|v| {
                    serde_json::to_string(v)
                        .map_err(|e| StoreError::Corrupt(format!("encode audit state: {e}")))
                })
                .transpose()
        };
        diesel::insert_into(audit_events::table)
            .values(NewAuditRow {
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
            .execute(conn)?;
        Ok(())
    }
}
