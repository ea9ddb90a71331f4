//! Custom providers.

use diesel::prelude::*;
use modelgate_core::policy::{self, Action};
use modelgate_core::provider::MAX_PROVIDER_SLUG_LEN;
use modelgate_core::{
    Ctx, DomainError, Entity, FieldError, NewProvider, Provider, ProviderChange, ProviderRef,
    Sealer, Violation,
};

use crate::Store;
use crate::audit::Auditor;
use crate::conn::{DbConn, lock_provider};
use crate::error::{StoreError, StoreResult, conflict_on_unique};
use crate::models::{hydrate, write_model};
use crate::rows::{ModelRow, ProviderRow, ProviderWrite, now};
use crate::schema::{models, providers};

fn invalid(name: &'static str, violation: Violation) -> StoreError {
    DomainError::invalid(FieldError::named(name, violation)).into()
}

fn check_slug(slug: &str) -> StoreResult<()> {
    if slug.trim().is_empty() {
        return Err(invalid("provider_id", Violation::Empty));
    }
    if slug.chars().count() > MAX_PROVIDER_SLUG_LEN {
        return Err(invalid("provider_id", Violation::TooLong { max: MAX_PROVIDER_SLUG_LEN }));
    }
    if slug.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(invalid(
            "provider_id",
            Violation::Invalid {
                reason: "must not contain spaces, control characters or '/'".into(),
            },
        ));
    }
    Ok(())
}

fn load(conn: &mut DbConn, org_id: &str, reference: &ProviderRef) -> StoreResult<Provider> {
    let query = providers::table
        .filter(providers::org_id.eq(org_id.to_owned()))
        .select(ProviderRow::as_select())
        .into_boxed();
    let query = match reference {
        ProviderRef::Id(seq) => query.filter(providers::seq.eq(*seq)),
        ProviderRef::Slug(slug) => query.filter(providers::provider_id.eq(slug.clone())),
    };
    query
        .first(conn)
        .optional()?
        .ok_or(StoreError::Domain(DomainError::NotFound(Entity::Provider)))?
        .into_provider()
}

fn lock(conn: &mut DbConn, ctx: &Ctx, reference: &ProviderRef) -> StoreResult<Provider> {
    policy::authorize(&ctx.actor, Action::Write)?;
    let found = load(conn, &ctx.actor.org_id, reference)?;
    if !lock_provider(conn, found.seq)? {
        return Err(DomainError::NotFound(Entity::Provider).into());
    }
    load(conn, &ctx.actor.org_id, &ProviderRef::Id(found.seq))
}

impl Store {
    pub(crate) fn create_provider_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        new: NewProvider,
    ) -> StoreResult<Provider> {
        policy::authorize(&ctx.actor, Action::Create)?;
        let slug = new.provider_id.trim().to_owned();
        check_slug(&slug)?;
        let name = match new.name.trim() {
            "" => slug.clone(),
            name => name.to_owned(),
        };
        let api_key = match new.api_key {
            Some(secret) if !secret.expose().is_empty() => Some(self.cipher.seal(&secret)?),
            _ => None,
        };
        let at = now();
        let mut provider = Provider {
            seq: 0,
            org_id: ctx.actor.org_id.clone(),
            provider_id: slug,
            name,
            api_key,
            extra: new.extra,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        diesel::insert_into(providers::table)
            .values(ProviderWrite::from_provider(&provider)?)
            .execute(conn)
            .map_err(conflict_on_unique(Entity::Provider, &provider.provider_id))?;
        provider.seq = providers::table
            .filter(providers::org_id.eq(&provider.org_id))
            .filter(providers::provider_id.eq(&provider.provider_id))
            .select(providers::seq)
            .first(conn)?;
        Auditor::of(ctx).record(
            conn,
            "provider",
            &provider.seq.to_string(),
            "create",
            None,
            Some(&provider),
        )?;
        Ok(provider)
    }

    pub(crate) fn get_provider_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ProviderRef,
    ) -> StoreResult<Provider> {
        load(conn, &ctx.actor.org_id, reference)
    }

    pub(crate) fn list_providers_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
    ) -> StoreResult<Vec<Provider>> {
        providers::table
            .filter(providers::org_id.eq(&ctx.actor.org_id))
            .order(providers::seq)
            .select(ProviderRow::as_select())
            .load(conn)?
            .into_iter()
            .map(ProviderRow::into_provider)
            .collect()
    }

    pub(crate) fn update_provider_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ProviderRef,
        change: ProviderChange,
    ) -> StoreResult<Provider> {
        let before = lock(conn, ctx, reference)?;
        let mut after = before.clone();
        if let Some(name) = change.name {
            let name = name.trim();
            if name.is_empty() {
                return Err(invalid("provider_name", Violation::Empty));
            }
            after.name = name.to_owned();
        }
        if let Some(api_key) = change.api_key {
            after.api_key = match api_key {
                Some(secret) if !secret.expose().is_empty() => Some(self.cipher.seal(&secret)?),
                _ => None,
            };
        }
        if let Some(extra) = change.extra {
            after.extra = extra.apply(Some(std::mem::take(&mut after.extra))).unwrap_or_default();
        }
        after.version = before.version + 1;
        after.updated_at = now();
        diesel::update(providers::table.find(after.seq))
            .set(ProviderWrite::from_provider(&after)?)
            .execute(conn)?;
        Auditor::of(ctx).record(
            conn,
            "provider",
            &after.seq.to_string(),
            "update",
            Some(&before),
            Some(&after),
        )?;
        Ok(after)
    }

    /// Deletes a provider; models that pointed at it lose the reference (each audited).
    pub(crate) fn delete_provider_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ProviderRef,
    ) -> StoreResult<Provider> {
        let provider = lock(conn, ctx, reference)?;
        let auditor = Auditor::of(ctx);
        let rows: Vec<ModelRow> = models::table
            .filter(models::provider_ref.eq(provider.seq))
            .select(ModelRow::as_select())
            .load(conn)?;
        for before in hydrate(conn, rows)? {
            let mut after = before.clone();
            after.fields.provider_ref = None;
            after.version += 1;
            after.updated_at = now();
            write_model(conn, &before, &after)?;
            auditor.record(
                conn,
                "model",
                &after.uuid.to_string(),
                "update",
                Some(&before),
                Some(&after),
            )?;
        }
        diesel::delete(providers::table.find(provider.seq)).execute(conn)?;
        auditor.record(
            conn,
            "provider",
            &provider.seq.to_string(),
            "delete",
            Some(&provider),
            None,
        )?;
        Ok(provider)
    }
}
