//! Custom providers, under core's provider policy; the credential-bearing values of their
//! settings are sealed like their `api_key`.

use diesel::prelude::*;
use modelgate_core::policy::{self, Action};
use modelgate_core::provider::{ExtraSecrets, MAX_PROVIDER_SLUG_LEN, redact_extra, seal_extra};
use modelgate_core::{
    Ctx, Denied, DomainError, DomainResult, Entity, FieldError, JsonMap, NewProvider, Provider,
    ProviderChange, ProviderRef, SealedSecret, Sealer, Secret, Violation,
};
use serde_json::Value;

use crate::Store;
use crate::audit::Auditor;
use crate::cipher::{Cipher, provider_object};
use crate::conn::{DbConn, lock_provider};
use crate::error::{StoreError, StoreResult, conflict_on_unique};
use crate::models::{hydrate, write_model};
use crate::rows::{ModelRow, ProviderRow, ProviderWrite, extra_secrets_text, now};
use crate::schema::{audit_events, models, providers};

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

/// Resolves, locks and loads a provider for a change, and checks the caller may write it.
fn lock(conn: &mut DbConn, ctx: &Ctx, reference: &ProviderRef) -> StoreResult<Provider> {
    let found = load(conn, &ctx.actor.org_id, reference)?;
    policy::authorize_provider(&ctx.actor, &found, Action::Write)?;
    if !lock_provider(conn, found.seq)? {
        return Err(DomainError::NotFound(Entity::Provider).into());
    }
    load(conn, &ctx.actor.org_id, &ProviderRef::Id(found.seq))
}

/// A new key, unless it is empty (no key) or the stored one again (kept, so nothing changes).
fn next_key(
    cipher: &Cipher,
    object: String,
    stored: Option<&SealedSecret>,
    sent: Option<Secret>,
) -> DomainResult<Option<SealedSecret>> {
    match (sent, stored) {
        (Some(secret), _) if secret.expose().is_empty() => Ok(None),
        (Some(secret), Some(old)) if cipher.reveal(old)?.expose() == secret.expose() => {
            Ok(Some(old.clone()))
        }
        (Some(secret), _) => cipher.bound(object).seal(&secret, "api_key").map(Some),
        (None, _) => Ok(None),
    }
}

/// Seals the credentials in `extra`, keeping those sent back as shown (masked) or unchanged.
fn seal_settings(
    cipher: &Cipher,
    object: String,
    extra: JsonMap,
    stored: &ExtraSecrets,
) -> DomainResult<modelgate_core::provider::SealedExtra> {
    let same = |old: &SealedSecret, sent: &str| Ok(cipher.reveal(old)?.expose() == sent);
    seal_extra(extra, stored, &cipher.bound(object), &same)
}

/// A provider's state for the history, with the pointers of the credentials a write set,
/// replaced or removed (their values never).
fn audit_state(provider: &Provider, changed: &[String]) -> StoreResult<Value> {
    let mut state = serde_json::to_value(provider)
        .map_err(|e| StoreError::Corrupt(format!("encode provider state: {e}")))?;
    if let (Value::Object(map), false) = (&mut state, changed.is_empty()) {
        map.insert(
            "secrets_changed".to_owned(),
            changed.iter().cloned().map(Value::from).collect(),
        );
    }
    Ok(state)
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
        let object = provider_object(&ctx.actor.org_id, &slug);
        let api_key = next_key(&self.cipher, object.clone(), None, new.api_key)?;
        let sealed = seal_settings(&self.cipher, object, new.extra, &ExtraSecrets::new())?;
        let at = now();
        let mut provider = Provider {
            seq: 0,
            org_id: ctx.actor.org_id.clone(),
            provider_id: slug,
            name,
            owner_id: Some(ctx.actor.user_id.clone()),
            api_key,
            extra: sealed.extra,
            extra_secrets: sealed.secrets,
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
            Some(&audit_state(&provider, &sealed.changed)?),
        )?;
        Ok(provider)
    }

    pub(crate) fn get_provider_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ProviderRef,
    ) -> StoreResult<Provider> {
        let provider = load(conn, &ctx.actor.org_id, reference)?;
        policy::authorize_provider(&ctx.actor, &provider, Action::Read)?;
        Ok(provider)
    }

    pub(crate) fn list_providers_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
    ) -> StoreResult<Vec<Provider>> {
        let all: Vec<Provider> = providers::table
            .filter(providers::org_id.eq(&ctx.actor.org_id))
            .order(providers::seq)
            .select(ProviderRow::as_select())
            .load(conn)?
            .into_iter()
            .map(ProviderRow::into_provider)
            .collect::<StoreResult<_>>()?;
        Ok(all.into_iter().filter(|p| policy::provider_rights(&ctx.actor, p.into()).read).collect())
    }

    /// Changes a provider; a change that changes nothing writes nothing (no version bump, no
    /// history row) and answers the provider as it is.
    pub(crate) fn update_provider_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        reference: &ProviderRef,
        change: ProviderChange,
    ) -> StoreResult<Provider> {
        let before = lock(conn, ctx, reference)?;
        let mut after = before.clone();
        let mut changed = Vec::new();
        if let Some(name) = change.name {
            let name = name.trim();
            if name.is_empty() {
                return Err(invalid("provider_name", Violation::Empty));
            }
            after.name = name.to_owned();
        }
        if let Some(api_key) = change.api_key {
            let object = provider_object(&before.org_id, &before.provider_id);
            after.api_key = next_key(&self.cipher, object, before.api_key.as_ref(), api_key)?;
        }
        if let Some(extra) = change.extra {
            // Applied to the stored settings as shown (masks in place), so a mask sent back or
            // left untouched by a merge keeps its secret.
            let next = extra.apply(Some(before.extra.clone())).unwrap_or_default();
            let object = provider_object(&before.org_id, &before.provider_id);
            let sealed = seal_settings(&self.cipher, object, next, &before.extra_secrets)?;
            after.extra = sealed.extra;
            after.extra_secrets = sealed.secrets;
            changed = sealed.changed;
        }
        if after == before {
            return Ok(before);
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
            Some(&audit_state(&before, &[])?),
            Some(&audit_state(&after, &changed)?),
        )?;
        Ok(after)
    }

    /// Deletes a provider. Models that pointed at it lose the reference (each audited), unless
    /// one of them is a model the caller may not write: then nothing changes and the delete is
    /// refused, since it would change that model.
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
        let users = hydrate(conn, rows)?;
        if users.iter().any(|m| !policy::rights(&ctx.actor, m.into()).write) {
            return Err(DomainError::Denied(Denied::Write).into());
        }
        for before in users {
            let mut after = before.clone();
            after.fields.provider_ref = None;
            after.version += 1;
            after.updated_at = now();
            write_model(conn, auditor, "update", &before, &after)?;
        }
        diesel::delete(providers::table.find(provider.seq)).execute(conn)?;
        auditor.record(
            conn,
            "provider",
            &provider.seq.to_string(),
            "delete",
            Some(&audit_state(&provider, &[])?),
            None,
        )?;
        Ok(provider)
    }
}

/// Start-up pass, run after the migrations: seals the credential-bearing settings values that
/// versions before sealing stored in clear, and takes them out of the providers' history.
/// Idempotent: values already sealed are left alone. Returns how many rows it rewrote.
pub(crate) fn seal_plaintext_credentials(conn: &mut DbConn, cipher: &Cipher) -> StoreResult<usize> {
    let mut rewritten = 0;
    let rows: Vec<ProviderRow> = providers::table.select(ProviderRow::as_select()).load(conn)?;
    for row in rows {
        let provider = row.into_provider()?;
        // Never decrypts: a stored secret is kept only when its mask is what `extra` shows.
        let sealed = seal_extra(
            provider.extra.clone(),
            &provider.extra_secrets,
            &cipher.bound(provider_object(&provider.org_id, &provider.provider_id)),
            &|_: &SealedSecret, _: &str| Ok(false),
        )?;
        if sealed.extra == provider.extra && sealed.secrets == provider.extra_secrets {
            continue;
        }
        diesel::update(providers::table.find(provider.seq))
            .set((
                providers::extra.eq(crate::rows::json_text(&sealed.extra)?),
                providers::extra_secrets.eq(extra_secrets_text(&sealed.secrets)?),
            ))
            .execute(conn)?;
        rewritten += 1;
    }
    let events: Vec<(i64, Option<String>, Option<String>)> = audit_events::table
        .filter(audit_events::entity.eq("provider"))
        .select((audit_events::id, audit_events::before_state, audit_events::after_state))
        .load(conn)?;
    for (id, before, after) in events {
        let (clean_before, clean_after) =
            (redact_state(before.as_deref()), redact_state(after.as_deref()));
        if clean_before == before && clean_after == after {
            continue;
        }
        diesel::update(audit_events::table.find(id))
            .set((
                audit_events::before_state.eq(clean_before),
                audit_events::after_state.eq(clean_after),
            ))
            .execute(conn)?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// A provider's history state with its settings' credentials replaced by the marker. States
/// that are not what providers write are kept as they are.
fn redact_state(state: Option<&str>) -> Option<String> {
    let text = state?;
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return Some(text.to_owned());
    };
    let Some(Value::Object(extra)) = map.get("extra") else { return Some(text.to_owned()) };
    let redacted = redact_extra(extra);
    if &redacted == extra {
        return Some(text.to_owned());
    }
    map.insert("extra".to_owned(), Value::Object(redacted));
    Some(serde_json::to_string(&Value::Object(map)).unwrap_or_else(|_| text.to_owned()))
}
