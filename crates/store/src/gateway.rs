//! The gateway's reads and writes: where a model's calls go (with its key decrypted for the call)
//! and the usage rows that meter them.

use chrono::NaiveDate;
use diesel::prelude::*;
use modelgate_core::gateway::{
    Tokens, Upstream, UsageGroup, UsageQuery, UsageRecord, UsageRow, default_base_url,
};
use modelgate_core::model::{Model, Pricing, Source};
use modelgate_core::{
    Ctx, DomainError, DomainResult, FieldError, ModelRef, ProviderRef, Registry, Secret, Subject,
    Violation,
};

use crate::Store;
use crate::conn::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::rows::{now, to_db_time};
use crate::schema::{api_keys, usage_events};

fn refused(field: &'static str, reason: String) -> StoreError {
    StoreError::Domain(DomainError::invalid(FieldError {
        subject: Subject::Named(field),
        violation: Violation::Invalid { reason },
    }))
}

/// Each price the model leaves unset, taken from its base.
fn inherited(own: &Pricing, base: Option<&Pricing>) -> Pricing {
    let Some(base) = base else { return *own };
    Pricing {
        input: own.input.or(base.input),
        output: own.output.or(base.output),
        cache_hit_input: own.cache_hit_input.or(base.cache_hit_input),
        cache_creation_input: own.cache_creation_input.or(base.cache_creation_input),
    }
}

fn text(value: Option<&serde_json::Value>) -> Option<String> {
    value
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

impl Store {
    /// Where `model_key` goes for `ctx`. The model and its base are read as every model read is
    /// (from the cache where it holds); the database is asked again only for a provider.
    pub(crate) fn upstream_of(&self, ctx: &Ctx, model_key: &str) -> DomainResult<Upstream> {
        let model = self.get_model(ctx, &ModelRef::Key(model_key.to_owned()))?.model;
        if !model.fields.is_active {
            return Err(refused("model", format!("The model '{model_key}' is inactive.")).into());
        }
        // A custom model names what it runs on; its base (when readable here) lends it prices
        // and, for catalog bases, the provider whose org credentials apply.
        let base: Option<Model> = match &model.fields.base_model {
            Some(base) if model.source == Source::Custom && *base != model.key => {
                self.get_model(ctx, &ModelRef::Key(base.clone())).ok().map(|view| view.model)
            }
            _ => None,
        };
        let upstream_model = match (&model.source, &model.fields.base_model) {
            (Source::Custom, Some(base)) if !base.trim().is_empty() => base.clone(),
            _ => model.key.clone(),
        };
        let pricing = inherited(&model.fields.pricing, base.as_ref().map(|b| &b.fields.pricing));
        let (base_url, api_key) = match model.fields.base_url.clone() {
            Some(url) => {
                let key =
                    model.fields.api_key.as_ref().map(|k| self.cipher.reveal(k)).transpose()?;
                (url, key)
            }
            None => self.read_as(ctx, |conn, ctx| {
                self.provider_credentials(conn, ctx, &model, base.as_ref())
            })?,
        };
        Ok(Upstream {
            model_key: model.key.clone(),
            upstream_model,
            base_url,
            api_key,
            params: model.fields.params.clone(),
            pricing,
        })
    }

    /// The base URL and key of the model's custom provider, else of the org's provider named
    /// like the model's (or its base's) provider.
    fn provider_credentials(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        model: &Model,
        base: Option<&Model>,
    ) -> StoreResult<(String, Option<Secret>)> {
        if let Some(seq) = model.fields.provider_ref {
            let provider = self.get_provider_in(conn, ctx, &ProviderRef::Id(seq))?;
            let url = text(provider.extra.get("base_url")).ok_or_else(|| {
                refused(
                    "base_url",
                    format!(
                        "The provider '{}' of this model has no base_url.",
                        provider.provider_id
                    ),
                )
            })?;
            let key = provider.api_key.as_ref().map(|k| self.cipher.reveal(k)).transpose()?;
            return Ok((url, key));
        }
        let model_key = &model.key;
        // The org's credentials for a built-in provider: its custom provider of that name.
        let provider_name = model
            .fields
            .provider
            .clone()
            .or_else(|| base.and_then(|b| b.fields.provider.clone()))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                refused(
                    "base_url",
                    format!(
                        "The model '{model_key}' has no upstream: set its base_url, or a provider."
                    ),
                )
            })?;
        let provider = self
            .get_provider_in(conn, ctx, &ProviderRef::Slug(provider_name.clone()))
            .map_err(|e| match e {
                StoreError::Domain(DomainError::NotFound(_)) => refused(
                    "provider",
                    format!(
                        "No credentials for provider '{provider_name}': an admin creates a provider with provider_id '{provider_name}' and its api_key."
                    ),
                ),
                other => other,
            })?;
        let url = text(provider.extra.get("base_url"))
            .or_else(|| default_base_url(&provider_name).map(String::from))
            .ok_or_else(|| {
                refused("base_url", format!("The provider '{provider_name}' has no base_url."))
            })?;
        let key = provider.api_key.as_ref().map(|k| self.cipher.reveal(k)).transpose()?;
        Ok((url, key))
    }

    pub(crate) fn record_usage_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        usage: UsageRecord,
    ) -> StoreResult<()> {
        let key_id: Option<String> = match &usage.key_hash {
            Some(hash) => api_keys::table
                .filter(api_keys::key_hash.eq(hash))
                .select(api_keys::id)
                .first(conn)
                .optional()?,
            None => None,
        };
        let Tokens { prompt, completion, cached } = usage.tokens;
        diesel::insert_into(usage_events::table)
            .values((
                usage_events::org_id.eq(&ctx.actor.org_id),
                usage_events::user_id.eq(&ctx.actor.user_id),
                usage_events::key_id.eq(key_id),
                usage_events::model_key.eq(&usage.model_key),
                usage_events::upstream_model.eq(&usage.upstream_model),
                usage_events::endpoint.eq(usage.endpoint),
                usage_events::stream.eq(usage.stream),
                usage_events::prompt_tokens.eq(prompt),
                usage_events::completion_tokens.eq(completion),
                usage_events::cached_tokens.eq(cached),
                usage_events::cost.eq(usage.cost),
                usage_events::latency_ms.eq(usage.latency_ms),
                usage_events::ttft_ms.eq(usage.ttft_ms),
                usage_events::status.eq(i32::from(usage.status)),
                usage_events::at.eq(to_db_time(now())),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub(crate) fn usage_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        query: &UsageQuery,
    ) -> StoreResult<Vec<UsageRow>> {
        let mut select = usage_events::table
            .filter(usage_events::org_id.eq(&ctx.actor.org_id))
            .filter(usage_events::at.ge(to_db_time(query.from)))
            .filter(usage_events::at.lt(to_db_time(query.to)))
            .into_boxed();
        // Members see their own calls; admins the org's.
        if !ctx.actor.is_admin() {
            select = select.filter(usage_events::user_id.eq(&ctx.actor.user_id));
        }
        // Summed here rather than by SQL: the day of a timestamp is spelled differently by each
        // backend. Ranges are what an operator asks for (days, weeks); see the issue notes.
        let rows = select
            .select((
                usage_events::model_key.nullable(),
                usage_events::user_id,
                usage_events::key_id,
                usage_events::at,
                usage_events::prompt_tokens,
                usage_events::completion_tokens,
                usage_events::cached_tokens,
                usage_events::cost,
                usage_events::status,
            ))
            .load::<(
                Option<String>,
                String,
                Option<String>,
                chrono::NaiveDateTime,
                i64,
                i64,
                i64,
                Option<f64>,
                i32,
            )>(conn)?
            .into_iter()
            .map(|(model, user, key, at, prompt, completion, cached, cost, status)| {
                let group = match query.group_by {
                    UsageGroup::Model => model,
                    UsageGroup::User => Some(user),
                    UsageGroup::Key => key,
                    UsageGroup::Day => Some(NaiveDate::from(at).to_string()),
                };
                (group, i64::from(status >= 400), prompt, completion, cached, cost)
            });
        let mut out: Vec<UsageRow> = Vec::new();
        for (group, errors, prompt, completion, cached, cost) in rows {
            let row = match out.iter_mut().find(|r| r.group == group) {
                Some(row) => row,
                None => {
                    out.push(UsageRow {
                        group,
                        requests: 0,
                        errors: 0,
                        prompt_tokens: 0,
                        completion_tokens: 0,
                        cached_tokens: 0,
                        cost: 0.0,
                    });
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            row.requests += 1;
            row.errors += errors;
            row.prompt_tokens += prompt;
            row.completion_tokens += completion;
            row.cached_tokens += cached;
            row.cost += cost.unwrap_or(0.0);
        }
        out.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(out)
    }
}
