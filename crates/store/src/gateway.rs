//! The gateway's reads and writes: where a model's calls go (with its key decrypted for the call)
//! and the usage rows that meter them.

use std::collections::HashMap;

use diesel::prelude::*;
use modelgate_core::gateway::{
    Protocol, Tokens, Upstream, UsageGroup, UsageQuery, UsageRecord, UsageRow,
    base_url_with_api_version, default_base_url, openai_root,
};
use modelgate_core::model::{Model, Pricing, Source};
use modelgate_core::registry::read_with_base;
use modelgate_core::{
    Ctx, DomainError, DomainResult, FieldError, ModelRef, ModelView, ProviderRef, Secret, Subject,
    Violation,
};

use crate::conn::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::rows::to_db_time;
use crate::schema::{api_keys, usage_events};
use crate::{SharedCheck, Store};

fn refused(field: &'static str, reason: String) -> StoreError {
    StoreError::Domain(DomainError::invalid(FieldError {
        subject: Subject::Named(field),
        violation: Violation::Invalid { reason },
    }))
}

/// The provider a model is called through: its own, else its base's (an empty name is none).
/// Its credentials and the API it speaks both follow from it.
fn provider_of<'a>(model: &'a Model, base: Option<&'a Model>) -> Option<&'a str> {
    let named = model.fields.provider.as_deref();
    named.or_else(|| base.and_then(|b| b.fields.provider.as_deref())).filter(|p| !p.is_empty())
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

/// Where a model's calls go: base URL, key, and the API version its provider's settings name
/// (`api_version`, as LiteLLM calls Azure OpenAI's).
type Credentials = (String, Option<Secret>, Option<String>);

/// SQLite: a batch of usage rows in multi-row inserts of a few fixed sizes, largest first. Each
/// size is one statement text, parsed once per connection and kept in diesel's statement cache;
/// a statement of the batch's own size was parsed anew each time, a third of a row's cost. 256
/// rows are 3,840 parameters, well under SQLite's limit.
fn insert_usage_sqlite(conn: &mut diesel::SqliteConnection, rows: &[NewUsage]) -> QueryResult<()> {
    let rest = insert_usage_by::<256>(conn, rows)?;
    let rest = insert_usage_by::<32>(conn, rest)?;
    let rest = insert_usage_by::<4>(conn, rest)?;
    insert_usage_by::<1>(conn, rest)?;
    Ok(())
}

/// Inserts `rows` `N` at a time, and returns those left over (fewer than `N`).
fn insert_usage_by<'a, const N: usize>(
    conn: &mut diesel::SqliteConnection,
    rows: &'a [NewUsage],
) -> QueryResult<&'a [NewUsage]> {
    let (chunks, rest) = rows.as_chunks::<N>();
    for chunk in chunks {
        diesel::insert_into(usage_events::table).values(chunk).execute(conn)?;
    }
    Ok(rest)
}

/// Postgres: a batch of usage rows as one array per column, in one statement whose text does
/// not depend on the batch. A multi-row `VALUES` list (15 parameters a row) took the server
/// 20–30 ms per 600 rows (parse, bind and execute in its log), planned anew each time: once a
/// second per usage writer, and the calls answered during it were most of the gateway's p99.
const PG_USAGE_INSERT: &str = "INSERT INTO usage_events (org_id, user_id, key_id, model_key, \
    upstream_model, endpoint, stream, prompt_tokens, completion_tokens, cached_tokens, cost, \
    latency_ms, ttft_ms, status, at) \
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
    $6::text[], $7::bool[], $8::int8[], $9::int8[], $10::int8[], $11::float8[], $12::int8[], \
    $13::int8[], $14::int4[], $15::timestamp[])";

/// The columns of [`PG_USAGE_INSERT`].
#[derive(Default)]
struct UsageColumns {
    org_id: Vec<String>,
    user_id: Vec<String>,
    key_id: Vec<Option<String>>,
    model_key: Vec<String>,
    upstream_model: Vec<String>,
    endpoint: Vec<&'static str>,
    stream: Vec<bool>,
    prompt_tokens: Vec<i64>,
    completion_tokens: Vec<i64>,
    cached_tokens: Vec<i64>,
    cost: Vec<Option<f64>>,
    latency_ms: Vec<i64>,
    ttft_ms: Vec<Option<i64>>,
    status: Vec<i32>,
    at: Vec<chrono::NaiveDateTime>,
}

fn insert_usage_pg(conn: &mut diesel::PgConnection, rows: Vec<NewUsage>) -> QueryResult<usize> {
    use diesel::sql_types::{Array, Bool, Float8, Int4, Int8, Nullable, Text, Timestamp};
    let mut c = UsageColumns::default();
    for row in rows {
        c.org_id.push(row.org_id);
        c.user_id.push(row.user_id);
        c.key_id.push(row.key_id);
        c.model_key.push(row.model_key);
        c.upstream_model.push(row.upstream_model);
        c.endpoint.push(row.endpoint);
        c.stream.push(row.stream);
        c.prompt_tokens.push(row.prompt_tokens);
        c.completion_tokens.push(row.completion_tokens);
        c.cached_tokens.push(row.cached_tokens);
        c.cost.push(row.cost);
        c.latency_ms.push(row.latency_ms);
        c.ttft_ms.push(row.ttft_ms);
        c.status.push(row.status);
        c.at.push(row.at);
    }
    diesel::sql_query(PG_USAGE_INSERT)
        .bind::<Array<Text>, _>(c.org_id)
        .bind::<Array<Text>, _>(c.user_id)
        .bind::<Array<Nullable<Text>>, _>(c.key_id)
        .bind::<Array<Text>, _>(c.model_key)
        .bind::<Array<Text>, _>(c.upstream_model)
        .bind::<Array<Text>, _>(c.endpoint)
        .bind::<Array<Bool>, _>(c.stream)
        .bind::<Array<Int8>, _>(c.prompt_tokens)
        .bind::<Array<Int8>, _>(c.completion_tokens)
        .bind::<Array<Int8>, _>(c.cached_tokens)
        .bind::<Array<Nullable<Float8>>, _>(c.cost)
        .bind::<Array<Int8>, _>(c.latency_ms)
        .bind::<Array<Nullable<Int8>>, _>(c.ttft_ms)
        .bind::<Array<Int4>, _>(c.status)
        .bind::<Array<Timestamp>, _>(c.at)
        .execute(conn)
}

/// A usage row as written.
#[derive(Insertable)]
// `None` is NULL, not DEFAULT: SQLite takes a multi-row insert only without DEFAULT.
#[diesel(table_name = usage_events, treat_none_as_default_value = false)]
struct NewUsage {
    org_id: String,
    user_id: String,
    key_id: Option<String>,
    model_key: String,
    upstream_model: String,
    endpoint: &'static str,
    stream: bool,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    cost: Option<f64>,
    latency_ms: i64,
    ttft_ms: Option<i64>,
    status: i32,
    at: chrono::NaiveDateTime,
}

fn usage_row(ctx: Ctx, key_id: Option<String>, usage: UsageRecord) -> NewUsage {
    let Tokens { prompt, completion, cached } = usage.tokens;
    NewUsage {
        org_id: ctx.actor.org_id,
        user_id: ctx.actor.user_id,
        key_id,
        model_key: usage.model_key,
        upstream_model: usage.upstream_model,
        endpoint: usage.endpoint,
        stream: usage.stream,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: cached,
        cost: usage.cost,
        latency_ms: usage.latency_ms,
        ttft_ms: usage.ttft_ms,
        status: i32::from(usage.status),
        at: to_db_time(usage.at),
    }
}

impl Store {
    /// Where `model_key` goes for `ctx`. The model and its base are read as every model read is
    /// (from the cache where it holds); the database is asked again only for a provider.
    pub(crate) fn upstream_of(&self, ctx: &Ctx, model_key: &str) -> DomainResult<Upstream> {
        let (model, base) = self.model_with_base(ctx, &ModelRef::Key(model_key.to_owned()))?;
        let (model, base) = (model.model, base.map(|view| view.model));
        if !model.fields.is_active {
            return Err(refused("model", format!("The model '{model_key}' is inactive.")).into());
        }
        let upstream_model = match (&model.source, &model.fields.base_model) {
            (Source::Custom, Some(base)) if !base.trim().is_empty() => base.clone(),
            _ => model.key.clone(),
        };
        let pricing = inherited(&model.fields.pricing, base.as_ref().map(|b| &b.fields.pricing));
        let (base_url, api_key, api_version) = match model.fields.base_url.clone() {
            Some(url) => {
                let key =
                    model.fields.api_key.as_ref().map(|k| self.cipher.reveal(k)).transpose()?;
                (url, key, None)
            }
            None => self.read_as(ctx, |conn, ctx| {
                self.provider_credentials(conn, ctx, &model, base.as_ref())
            })?,
        };
        let provider = provider_of(&model, base.as_ref());
        let mut base_url = openai_root(provider, base_url);
        let mut protocol = Protocol::of_upstream(provider, &base_url);
        // Of the APIs called, only Azure OpenAI's is versioned: a provider naming a version is
        // Azure's, wherever its base URL points (a proxy, a private endpoint).
        if let Some(version) = api_version.filter(|_| protocol != Protocol::Anthropic) {
            protocol = Protocol::AzureOpenAi;
            base_url = base_url_with_api_version(&base_url, &version);
        }
        Ok(Upstream {
            model_key: model.key.clone(),
            upstream_model,
            base_url,
            api_key,
            params: model.fields.params.clone(),
            pricing,
            protocol,
        })
    }

    /// A model and the model it runs on ([`Registry::get_model_with_base`]), both read as
    /// every model read is (from the cache where it holds). A base lends a gateway call its
    /// prices and, for catalog bases, the provider whose org credentials apply, and Respan
    /// shows it beside the model.
    ///
    /// [`Registry::get_model_with_base`]: modelgate_core::Registry::get_model_with_base
    pub(crate) fn model_with_base(
        &self,
        ctx: &Ctx,
        named: &ModelRef,
    ) -> DomainResult<(ModelView, Option<ModelView>)> {
        let check = SharedCheck::default();
        if let Some(both) = self.cached_with_base(&check, ctx, named)? {
            return Ok(both);
        }
        // One look at SQLite's commits serves both reads.
        let epoch = self.read_epoch();
        read_with_base(named, |reference| self.get_model_at(epoch, &check, ctx, reference))
    }

    /// Postgres: a model and its base that this replica looked up before, served after one
    /// light statement finds both rows and the caller unchanged (see
    /// [`Store::get_model_checked`]); `None` when either is not cached or has changed, to be
    /// read one by one.
    fn cached_with_base(
        &self,
        check: &SharedCheck,
        ctx: &Ctx,
        named: &ModelRef,
    ) -> DomainResult<Option<(ModelView, Option<ModelView>)>> {
        let Some(model) = self.cached_on_postgres(ctx, named) else { return Ok(None) };
        let org = &ctx.actor.org_id;
        let base_ref = model.looked.found.as_ref().and_then(|m| m.base_key());
        let Some(base_ref) = base_ref.map(|key| ModelRef::Key(key.to_owned())) else {
            return Ok(None);
        };
        let base_key = (org.clone(), base_ref);
        let Some((base, base_known_at)) =
            self.models.lookup_with_generation(model.epoch, &base_key)
        else {
            return Ok(None);
        };
        let current = self.cached_still_current(
            check,
            ctx,
            &[model.known_at, base_known_at],
            |conn| {
                let read = crate::models::stamps_of_pair(conn, org, named, &base_key.1)?;
                Ok(read.compared(|[model_stamp, base_stamp]| {
                    model_stamp == model.looked.stamp && base_stamp == base.stamp
                }))
            },
            |generation| {
                self.confirm_model(&model.key, &model.looked.stamp, generation);
                self.confirm_model(&base_key, &base.stamp, generation);
            },
        )?;
        if !current {
            return Ok(None);
        }
        self.models.count_hit();
        self.models.count_hit();
        let model = crate::models::readable(&ctx.actor, model.looked.found)?;
        let base = crate::models::readable(&ctx.actor, base.found).ok();
        Ok(Some((model, base)))
    }

    /// The base URL and key of the model's custom provider, else of the org's provider named
    /// like the model's (or its base's) provider.
    fn provider_credentials(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        model: &Model,
        base: Option<&Model>,
    ) -> StoreResult<Credentials> {
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
            return Ok((url, key, text(provider.extra.get("api_version"))));
        }
        let model_key = &model.key;
        // The org's credentials for a built-in provider: its custom provider of that name.
        let provider_name = provider_of(model, base).map(str::to_owned).ok_or_else(|| {
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
        Ok((url, key, text(provider.extra.get("api_version"))))
    }

    /// Writes a batch of metered calls: each key's id is looked up once per batch (a batch is
    /// mostly the calls of a few keys), and the rows go in one `INSERT` on Postgres and in a few
    /// prepared multi-row ones on SQLite rather than one statement per call, which under load was
    /// a large share of the database's work.
    pub(crate) fn record_usage_in(
        &self,
        conn: &mut DbConn,
        calls: Vec<(Ctx, UsageRecord)>,
    ) -> StoreResult<()> {
        let mut key_ids: HashMap<String, Option<String>> = HashMap::new();
        let mut rows = Vec::with_capacity(calls.len());
        for (ctx, usage) in calls {
            let key_id = match &usage.key_hash {
                Some(hash) => match key_ids.get(hash) {
                    Some(known) => known.clone(),
                    None => {
                        let found: Option<String> = api_keys::table
                            .filter(api_keys::key_hash.eq(hash))
                            .select(api_keys::id)
                            .first(conn)
                            .optional()?;
                        key_ids.insert(hash.clone(), found.clone());
                        found
                    }
                },
                None => None,
            };
            rows.push(usage_row(ctx, key_id, usage));
        }
        match conn {
            DbConn::Pg(conn) => {
                insert_usage_pg(conn, rows)?;
            }
            DbConn::Sqlite(conn) => insert_usage_sqlite(conn, &rows)?,
        }
        Ok(())
    }

    pub(crate) fn usage_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        query: &UsageQuery,
    ) -> StoreResult<Vec<UsageRow>> {
        use diesel::sql_types::{Nullable, Text, Timestamp};
        let from = to_db_time(query.from);
        let to = to_db_time(query.to);
        // Members see their own calls; admins the org's.
        let only_user = (!ctx.actor.is_admin()).then(|| ctx.actor.user_id.clone());
        // One statement for both backends (`$n` numbers SQLite's parameters in the same order);
        // only the day of a timestamp is spelled differently.
        let day = match conn {
            DbConn::Pg(_) => "to_char(at, 'YYYY-MM-DD')",
            DbConn::Sqlite(_) => "strftime('%Y-%m-%d', at)",
        };
        let group = match query.group_by {
            UsageGroup::Model => "model_key",
            UsageGroup::User => "user_id",
            UsageGroup::Key => "key_id",
            UsageGroup::Day => day,
        };
        let rows: Vec<Summed> = diesel::sql_query(format!(
            "SELECT {group} AS grp, COUNT(*) AS requests, \
             CAST(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
             CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
             CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion_tokens, \
             CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT) AS cached_tokens, \
             CAST(COALESCE(SUM(cost), 0) AS DOUBLE PRECISION) AS cost, \
             CAST(AVG(latency_ms) AS DOUBLE PRECISION) AS avg_latency_ms, \
             CAST(AVG(CASE WHEN stream THEN ttft_ms END) AS DOUBLE PRECISION) AS avg_ttft_ms \
             FROM usage_events WHERE org_id = $1 AND at >= $2 AND at < $3 \
             AND (CAST($4 AS TEXT) IS NULL OR user_id = $4) GROUP BY 1 ORDER BY 1"
        ))
        .bind::<Text, _>(&ctx.actor.org_id)
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .bind::<Nullable<Text>, _>(only_user)
        .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| UsageRow {
                group: r.grp,
                requests: r.requests,
                errors: r.errors,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                cached_tokens: r.cached_tokens,
                cost: r.cost,
                avg_latency_ms: r.avg_latency_ms,
                avg_ttft_ms: r.avg_ttft_ms,
            })
            .collect())
    }
}

/// One group's sums, as the database adds them up.
#[derive(QueryableByName)]
struct Summed {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    grp: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    errors: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    completion_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    cached_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    cost: f64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    avg_latency_ms: f64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    avg_ttft_ms: Option<f64>,
}
