//! modelgate's registry on Postgres or embedded SQLite.
//!
//! [`Store`] implements [`modelgate_core::Registry`]: every operation authorizes through core's
//! policy, and every change is one transaction that locks what it changes, writes it, bumps
//! `version` and `updated_at` and appends an audit row.

mod audit;
mod backup;
mod cache;
mod catalog;
pub mod cipher;
pub mod conn;
mod endpoints;
pub mod error;
mod fresh;
mod gateway;
mod identity;
mod models;
mod providers;
mod reseal;
pub mod rows;
pub mod schema;
mod subquery;
mod telemetry;
mod turns;
mod worker_checks;

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

use diesel::connection::TransactionManager;
use diesel::prelude::*;
use modelgate_core::gateway::{Upstream, UsageQuery, UsageRecord, UsageRow};
use modelgate_core::identity::hash_api_key;
use modelgate_core::policy::{self, Action};
use modelgate_core::{
    Actor, ApiKey, AuditEvent, Bootstrapped, CatalogModel, CatalogSync, Ctx, DomainError,
    DomainResult, Endpoint, EndpointChange, Entity, FromMemory, Group, IssuedKey, ModelEntry,
    ModelQuery, ModelRef, ModelUpdate, ModelView, NewEndpoint, NewGroup, NewModel, NewProvider,
    NewUser, Org, Page, Provider, ProviderChange, ProviderRef, Registry, ScanCursor, SealedSecret,
    Secret, Telemetry, Unconfirmed, UpsertModel, Upserted, User, UserChange, UserDefault,
};
use uuid::Uuid;

pub use backup::{POSTGRES_TOOLS, restore_sqlite};
pub use cipher::Cipher;
pub use conn::{Backend, DbConn};
pub use error::{StoreError, StoreResult};
pub use identity::{DEFAULT_ORG, generate_api_key};

use crate::audit::Auditor;
use crate::cache::Cache;
use crate::conn::{Manager, Pool, write_tx};
use crate::fresh::Freshness;
use crate::rows::AuditRow;
use crate::schema::audit_events;
use crate::turns::{Ran, Turns};

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub pool_size: u32,
    /// How long a request waits for a free connection before the database counts as down.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { pool_size: 16, connect_timeout: Duration::from_secs(5) }
    }
}

/// Creates `dir` and missing parents readable by the owner only (0700); an existing directory is
/// left as it is (the operator chose it).
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty SQLite file readable by the owner only (0600) unless it exists: SQLite
/// creates its `-wal` and `-shm` files with the database file's permissions.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What [`Store::reseal_secrets`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Secrets sealed again under the current key.
    pub resealed: usize,
    /// Secrets that were already under the current key.
    pub already_current: usize,
}

pub struct Store {
    pool: Pool,
    backend: Backend,
    cipher: Cipher,
    /// SQLite has one writer at a time: writers of this process queue here instead of spinning
    /// on the busy handler.
    sqlite_writer: Mutex<()>,
    /// When the caches below may be trusted.
    fresh: Freshness,
    /// Key hash → the caller it authenticates (role and groups included). On SQLite it is
    /// trusted while [`Freshness`] says nothing changed; on Postgres its epoch is the identity
    /// version its entries were read at, and callers taken from it are [`Unconfirmed`] until the
    /// request's first statement finds that version unchanged (or reads the caller again).
    callers: Cache<String, Actor>,
    /// (org, reference) → what it named there (the model with its grants, or nothing); rights
    /// are worked out per request. On Postgres each entry is checked against its row's stamp,
    /// unless the shared check finds nothing committed since it was last known current.
    models: Cache<(String, ModelRef), models::Looked>,
    /// (org, model seq) → the org's endpoints serving that model; on Postgres checked against
    /// their stamp ([`subquery::endpoints_stamp`]) in the model's own check.
    served: Cache<(String, i64), endpoints::Served>,
    /// Postgres: updates of one model by this replica take turns here (a model hashes to one of
    /// these), so that each finds the row as the one before left it and writes it in one
    /// statement instead of all of them queueing on the row lock (see
    /// [`Store::update_if_unchanged`]); one thread runs the queued ones back to back.
    update_turns: [UpdateTurns; UPDATE_TURNS],
    pool_events: std::sync::Arc<telemetry::PoolEvents>,
}

/// Enough for every key and model a busy org uses; a full cache starts over.
const CACHED_CALLERS: usize = 10_000;
const CACHED_MODELS: usize = 4_096;
const UPDATE_TURNS: usize = 64;

/// An update waiting for its model's turn, owned: the thread leading the turn may run it.
struct TurnJob {
    ctx: Ctx,
    reference: ModelRef,
    update: ModelUpdate,
    cache_key: (String, ModelRef),
    /// The identity version the caller was remembered at, for a cached caller.
    identity: Option<i64>,
}

type UpdateTurns = Turns<TurnJob, DomainResult<Option<ModelView>>>;

/// `error`, which failed `count` jobs together, as each one's answer: unavailable or internal
/// as it was, with its cause as text (a cause cannot be cloned).
fn failed_together<T>(error: DomainError, count: usize) -> Vec<DomainResult<T>> {
    let unavailable = matches!(error, DomainError::Unavailable(_));
    let (context, cause) = match error.cause() {
        Some(internal) => (internal.context, internal.cause.to_string()),
        None => ("updates", error.to_string()),
    };
    let copy = || {
        let internal = modelgate_core::error::Internal { context, cause: cause.clone().into() };
        if unavailable {
            DomainError::Unavailable(internal)
        } else {
            DomainError::Internal(internal)
        }
    };
    (0..count).map(|_| Err(copy())).collect()
}

/// What the jobs of one batch wrote so far, the latest for each model, for the cache once they
/// have committed.
#[derive(Default)]
struct Written(Vec<((String, ModelRef), models::Looked)>);

impl Written {
    fn latest(&self, key: &(String, ModelRef)) -> Option<&models::Looked> {
        self.0.iter().find(|(written, _)| written == key).map(|(_, looked)| looked)
    }

    /// Keeps `looked` as what the batch wrote to `key`, in place of what it wrote before.
    fn record(&mut self, key: (String, ModelRef), looked: models::Looked) {
        self.forget(&key);
        self.0.push((key, looked));
    }

    /// Forgets what the batch wrote to `key`: the next job reads it again.
    fn forget(&mut self, key: &(String, ModelRef)) {
        self.0.retain(|(written, _)| written != key);
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool on `url` (`postgres://…` or an SQLite path). Connections are made lazily, so
    /// this succeeds while the database is down; [`Store::migrate`] needs it up.
    pub fn open(url: &str, cipher: Cipher, options: StoreOptions) -> StoreResult<Self> {
        let backend = Backend::of_url(url);
        let sqlite_file = conn::sqlite_path(url);
        // In-memory databases and `file:` URIs are SQLite's business; plain paths are ours.
        if backend == Backend::Sqlite
            && sqlite_file != ":memory:"
            && !sqlite_file.starts_with("file:")
        {
            let path = std::path::Path::new(sqlite_file);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            create_private_file(path).map_err(|e| {
                StoreError::Config(format!("cannot create {}: {e}", path.display()))
            })?;
        }
        let pool_events = std::sync::Arc::new(telemetry::PoolEvents::default());
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(0))
            // Recycled every half hour: nothing a connection holds (prepared statements, caches
            // of the server's backend) outlives that.
            .max_lifetime(Some(Duration::from_secs(30 * 60)))
            .connection_timeout(options.connect_timeout)
            .test_on_check_out(false)
            .event_handler(Box::new(telemetry::PoolEventHandler(pool_events.clone())))
            .build_unchecked(Manager::new(url));
        Ok(Self {
            pool,
            backend,
            cipher,
            sqlite_writer: Mutex::new(()),
            fresh: Freshness::new(backend, url),
            callers: Cache::new(CACHED_CALLERS),
            models: Cache::new(CACHED_MODELS),
            served: Cache::new(CACHED_MODELS),
            update_turns: std::array::from_fn(|_| Turns::default()),
            pool_events,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Applies pending migrations, then seals provider credentials older versions stored in
    /// clear (SQL cannot encrypt); returns how many migrations ran.
    pub fn migrate(&self) -> StoreResult<usize> {
        let _guard = self.write_guard();
        let mut conn = self.pool.get()?;
        let applied = conn::run_migrations(&mut conn)?;
        write_tx(&mut conn, |c| providers::seal_plaintext_credentials(c, &self.cipher))?;
        Ok(applied)
    }

    pub fn revert_all_migrations(&self) -> StoreResult<usize> {
        let _guard = self.write_guard();
        conn::revert_all_migrations(&mut *self.pool.get()?)
    }

    /// Reverts the `count` newest migrations (tests: migrations must carry rows down and up).
    pub fn revert_newest_migrations(&self, count: usize) -> StoreResult<()> {
        let _guard = self.write_guard();
        let mut conn = self.pool.get()?;
        (0..count).try_for_each(|_| conn::revert_last_migration(&mut conn))
    }

    /// Reads answered from the caches so far: (callers, models).
    pub fn cache_hits(&self) -> (u64, u64) {
        (self.callers.hits(), self.models.hits())
    }

    /// A pooled connection, for tools and tests that inspect the database directly.
    pub fn connection(&self) -> StoreResult<conn::PooledConn> {
        Ok(self.pool.get()?)
    }

    fn write_guard(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        match self.backend {
            // A poisoned lock only means another writer panicked; the database rolled it back.
            Backend::Sqlite => Some(self.sqlite_writer.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres => None,
        }
    }

    /// `f` on a connection, for the caller `ctx` once it is confirmed (see [`Unconfirmed`]).
    fn read_as<T>(
        &self,
        ctx: &Ctx,
        f: impl FnOnce(&mut DbConn, &Ctx) -> StoreResult<T>,
    ) -> DomainResult<T> {
        let check = SharedCheck::default();
        if self.backend == Backend::Postgres && unconfirmed(ctx).is_some() {
            // Before taking a connection: a caller current at the shared check's generation
            // needs no statement.
            self.current_at(ctx, check.generation(&self.fresh), &[]);
        }
        self.read(|conn| {
            let ctx = self.confirmed(conn, ctx, &check)?;
            f(conn, &ctx)
        })
    }

    /// `f` in a write transaction, for the caller `ctx` confirmed inside it.
    fn write_as<T>(
        &self,
        ctx: &Ctx,
        f: impl FnOnce(&mut DbConn, &Ctx) -> StoreResult<T>,
    ) -> DomainResult<T> {
        self.write(|conn| {
            let ctx = self.confirmed(conn, ctx, &SharedCheck::default())?;
            f(conn, &ctx)
        })
    }

    /// `ctx` with its caller as the database has it now: one statement for a caller taken from
    /// the cache and not yet confirmed in this request, none otherwise. On Postgres, a caller
    /// the statement finds unchanged is current at the generation of `check`, if it was taken.
    fn confirmed<'c>(
        &self,
        conn: &mut DbConn,
        ctx: &'c Ctx,
        check: &SharedCheck,
    ) -> StoreResult<Cow<'c, Ctx>> {
        let Some(pending) = unconfirmed(ctx) else { return Ok(Cow::Borrowed(ctx)) };
        if self.unchanged_since_cached(self.read_epoch(), ctx, pending) {
            return Ok(Cow::Borrowed(ctx));
        }
        let (current, version) = identity::authenticate(conn, &pending.key_hash)?;
        let settled = self.settle(ctx, pending, current, version)?;
        self.confirm_caller(Some(pending), &settled.actor, check.taken());
        Ok(settled)
    }

    /// Confirms a cached caller without a statement where that can be done strictly: on SQLite,
    /// when nothing has committed since it was cached (`epoch` is [`Freshness::current`]'s
    /// answer); never on Postgres.
    fn unchanged_since_cached(&self, epoch: Option<u64>, ctx: &Ctx, pending: &Unconfirmed) -> bool {
        let Some(epoch) = epoch else { return false };
        let unchanged = self.callers.get(epoch, &pending.key_hash).is_some_and(|a| a == ctx.actor);
        if unchanged {
            pending.confirm();
        }
        unchanged
    }

    /// Compares a cached caller with `current`, what its key authenticates now (read at
    /// identity version `version`): the same confirms it for the rest of the request; a change
    /// replaces the cached entry and this call acts as the caller is now; a revoked key is
    /// refused.
    fn settle<'c>(
        &self,
        ctx: &'c Ctx,
        pending: &Unconfirmed,
        current: Option<Actor>,
        version: Option<i64>,
    ) -> StoreResult<Cow<'c, Ctx>> {
        let Some(actor) = current else {
            self.callers.remove(&pending.key_hash);
            return Err(DomainError::Unauthenticated.into());
        };
        self.remember_caller(&pending.key_hash, &actor, version);
        if actor == ctx.actor {
            pending.confirm();
            return Ok(Cow::Borrowed(ctx));
        }
        Ok(Cow::Owned(Ctx::new(actor, ctx.dialect)))
    }

    /// Postgres: keeps the caller a key authenticated at identity version `version`, for
    /// [`Registry::remembered_caller`] (SQLite's entries are kept by [`Store::cached`]).
    fn remember_caller(&self, key_hash: &str, actor: &Actor, version: Option<i64>) {
        let version = version.and_then(|v| u64::try_from(v).ok());
        if let (Backend::Postgres, Some(version)) = (self.backend, version) {
            self.callers.put(version, version, key_hash.to_owned(), actor.clone());
        }
    }

    /// The epoch a request's cached reads are served at (see [`Freshness::current`]); `None`
    /// on Postgres, whose entries are checked one by one.
    fn read_epoch(&self) -> Option<u64> {
        match self.backend {
            Backend::Sqlite => self.commits_seen(),
            Backend::Postgres => None,
        }
    }

    /// SQLite's epoch ([`Freshness::current`]). Inside a read from memory alone, only a look
    /// had at once: otherwise the read needs a blocking thread, as one needing the database.
    fn commits_seen(&self) -> Option<u64> {
        if !Prechecked::memory_only() {
            return self.fresh.current();
        }
        self.fresh.current_at_once().unwrap_or_else(|fresh::NotAtOnce| {
            Prechecked::needs_database();
            None
        })
    }

    /// [`Registry::get_model`] at an epoch the request already took: one look at SQLite's
    /// commits serves the cached caller and every cached model a request reads.
    pub(crate) fn get_model_at(
        &self,
        epoch: Option<u64>,
        check: &SharedCheck,
        ctx: &Ctx,
        model: &ModelRef,
    ) -> DomainResult<ModelView> {
        if self.backend == Backend::Postgres {
            return self.get_model_checked(check, ctx, model);
        }
        if let Some(pending) = unconfirmed(ctx)
            && !self.unchanged_since_cached(epoch, ctx, pending)
        {
            return self.read(|conn| {
                let (looked, ctx) = self.load_settling(conn, ctx, pending, model)?;
                Ok(models::readable(&ctx.actor, looked.found)?)
            });
        }
        let org = ctx.actor.org_id.clone();
        let looked = self.cached_at(epoch, &self.models, (org.clone(), model.clone()), |conn| {
            Ok(Some(models::load_by_ref(conn, &org, model)?))
        })?;
        models::readable(&ctx.actor, looked.and_then(|l| l.found))
    }

    /// Postgres: a model this replica looked up before is served again with no statement of
    /// its own when the shared check ([`Freshness::generation`]) finds nothing committed since
    /// it was last known current, and otherwise when one light statement
    /// ([`models::stamps_of`]) says its row has not changed and, for a remembered caller, that
    /// the identity version is still the one the caller was cached at. Both are read from the
    /// database's current state, so a change acknowledged by any replica is seen by the very
    /// next request here. This replica's own writes drop the entries (the local epoch moves), so
    /// the read after one goes straight to the row.
    fn get_model_checked(
        &self,
        check: &SharedCheck,
        ctx: &Ctx,
        model: &ModelRef,
    ) -> DomainResult<ModelView> {
        let org = &ctx.actor.org_id;
        let cache_key = (org.clone(), model.clone());
        let pending = unconfirmed(ctx);
        let epoch = self.fresh.seen();
        if let Some((cached, known_at)) = self.models.lookup_with_generation(epoch, &cache_key) {
            let current = self.cached_still_current(
                check,
                ctx,
                &[known_at],
                |conn| Ok(models::stamps_of(conn, org, model)?.compared(|s| s == cached.stamp)),
                |generation| self.confirm_model(&cache_key, &cached.stamp, generation),
            )?;
            if current {
                self.models.count_hit();
                return models::readable(&ctx.actor, cached.found);
            }
        }
        let (looked, ctx) = self.read(|conn| match pending {
            Some(pending) => self.load_settling(conn, ctx, pending, model),
            None => Ok((models::load_by_ref(conn, org, model)?, Cow::Borrowed(ctx))),
        })?;
        let generation = check.taken();
        let known_at = generation.unwrap_or(0);
        self.models.put_at_generation(
            epoch,
            self.fresh.seen(),
            cache_key,
            looked.clone(),
            known_at,
        );
        self.confirm_caller(pending, &ctx.actor, generation);
        models::readable(&ctx.actor, looked.found)
    }

    /// Postgres: whether cached entries last known current at `known_at` may be served at
    /// `generation` (the shared check's answer for this request) with no statement: nothing
    /// committed since any of them, nor since the request's remembered caller, which this
    /// confirms.
    fn current_at(&self, ctx: &Ctx, generation: Option<u64>, known_at: &[u64]) -> bool {
        let Some(generation) = generation else { return false };
        if known_at.iter().any(|&at| at != generation) {
            return false;
        }
        let Some(pending) = unconfirmed(ctx) else { return true };
        let current = self.callers.generation_of(&pending.key_hash, &ctx.actor) == Some(generation);
        if current {
            pending.confirm();
        }
        current
    }

    /// Postgres: whether cached entries, last known current at `known_at`, may be served to
    /// `ctx`: with no statement when the shared check finds nothing committed since, else when
    /// `light` — one statement reading the identity version and whether every cached stamp is
    /// unchanged — finds them and the caller so. What that statement found is then current at
    /// the check's generation: `confirm` records it for the entries, and this for the caller.
    fn cached_still_current(
        &self,
        check: &SharedCheck,
        ctx: &Ctx,
        known_at: &[u64],
        light: impl FnOnce(&mut DbConn) -> StoreResult<models::Stamps<bool>>,
        confirm: impl FnOnce(u64),
    ) -> DomainResult<bool> {
        // As it is before the statement: a caller confirmed earlier may predate the check.
        let pending = unconfirmed(ctx);
        // A call that has no answer yet (on the blocking pool) does not wait for a shared check:
        // after a write — what such calls mostly follow — the check would find a new generation
        // and the light statement would be needed anyway. The light statement reads its own
        // snapshot instead, a check of this request's own begun after it asked.
        let answer = match check.answered() {
            Some(answer) => Some(answer),
            None if Prechecked::wants_check() => Some(None),
            None => None,
        };
        if let Some(generation) = answer
            && self.current_at(ctx, generation, known_at)
        {
            return Ok(true);
        }
        let models::Stamps { identity, stamps: unchanged, snapshot } = self.read(light)?;
        let generation = answer.unwrap_or_else(|| {
            let generation = self.fresh.count_snapshot(snapshot);
            check.0.set(Some(generation));
            generation
        });
        if !still_holds(ctx, identity, unchanged) {
            return Ok(false);
        }
        if let Some(generation) = generation {
            confirm(generation);
        }
        self.confirm_caller(pending, &ctx.actor, generation);
        Ok(true)
    }

    /// Postgres: the cached model under `key` is current at `generation`, if it is still the
    /// one found with `stamp` by a statement begun after that generation's check.
    fn confirm_model(&self, key: &(String, ModelRef), stamp: &Option<String>, generation: u64) {
        self.models.confirm(key, generation, |found| found.stamp == *stamp);
    }

    /// Postgres: a remembered caller that a statement begun after the shared check of
    /// `generation` confirmed (`pending`, as it was before that statement) is current at it.
    fn confirm_caller(
        &self,
        pending: Option<&Unconfirmed>,
        actor: &Actor,
        generation: Option<u64>,
    ) {
        let Some(generation) = generation else { return };
        if let Some(pending) = pending.filter(|p| p.is_confirmed()) {
            self.callers.confirm(&pending.key_hash, generation, |cached| cached == actor);
        }
    }

    /// Postgres: what this replica cached for `named` in the caller's org, with the epoch it was
    /// looked up at, for a light check to confirm; `None` on SQLite or when nothing is cached.
    pub(crate) fn cached_on_postgres(&self, ctx: &Ctx, named: &ModelRef) -> Option<CachedModel> {
        if self.backend != Backend::Postgres {
            return None;
        }
        let epoch = self.fresh.seen();
        let key = (ctx.actor.org_id.clone(), named.clone());
        let (looked, known_at) = self.models.lookup_with_generation(epoch, &key)?;
        Some(CachedModel { epoch, key, looked, known_at })
    }

    /// Postgres: an update as one statement, when this replica knows the model as it stands.
    /// The model is taken from the cache (read once otherwise), the update is worked out on it,
    /// and the write with its audit row is made on condition that the row's stamp and the
    /// caller's identity version are still the ones it was worked out on
    /// ([`models::write_model_if_unchanged`]). Updates of the model by this replica take turns,
    /// and each leaves the model it wrote in the cache for the next. `None` when this way does
    /// not apply or its condition failed: the caller then takes the locked way, which also
    /// answers every refusal (nothing is refused from cached data).
    fn update_if_unchanged(
        &self,
        ctx: &Ctx,
        reference: &ModelRef,
        update: &ModelUpdate,
    ) -> DomainResult<Option<ModelView>> {
        let pending = unconfirmed(ctx);
        let identity = match pending {
            None => None,
            Some(pending) => match pending.remembered_at.and_then(|v| i64::try_from(v).ok()) {
                Some(version) => Some(version),
                None => return Ok(None),
            },
        };
        // A rename moves the model to another cache entry: left to the locked way.
        if update.rename.is_some() {
            return Ok(None);
        }
        let cache_key = (ctx.actor.org_id.clone(), reference.clone());
        let turns = self.update_turns_of(&cache_key);
        let job = TurnJob {
            ctx: ctx.clone(),
            reference: reference.clone(),
            update: update.clone(),
            cache_key,
            identity,
        };
        // Taken by whichever thread leads, once, for every job it runs.
        let mut conn = None;
        let ran = turns.run(job, |jobs| {
            let conn = match &mut conn {
                Some(conn) => conn,
                None => match self.pooled() {
                    Ok(pooled) => conn.insert(pooled),
                    Err(error) => return failed_together(error, jobs.len()),
                },
            };
            self.update_batch(conn, jobs)
        });
        match ran {
            Ran::Done(result) => result,
            Ran::Lost => Err(DomainError::internal("update", "its turn's leader panicked")),
        }
    }

    /// The jobs a turn's leader runs together. One job is its own statement. Several run in one
    /// transaction, so that they share one commit (one WAL flush) instead of each waiting for
    /// its own; nothing they wrote is cached or answered before it. If one of them fails before
    /// the commit, none took effect and each takes the locked way (`Ok(None)`), where a failure
    /// is answered for the job that causes it alone; a failed commit fails them all.
    fn update_batch(
        &self,
        conn: &mut DbConn,
        jobs: Vec<TurnJob>,
    ) -> Vec<DomainResult<Option<ModelView>>> {
        let epoch = self.fresh.seen();
        let mut written = Written::default();
        if jobs.len() == 1 {
            let results = jobs
                .into_iter()
                .map(|job| self.update_unchanged_in(conn, job, epoch, &mut written))
                .map(|result| result.map_err(Into::into))
                .collect();
            self.keep_written(epoch, written);
            return results;
        }
        let count = jobs.len();
        let none_took_effect = || (0..count).map(|_| Ok(None)).collect();
        if conn::begin_write(conn).is_err() {
            return none_took_effect();
        }
        let ran: StoreResult<Vec<_>> = jobs
            .into_iter()
            .map(|job| self.update_unchanged_in(conn, job, epoch, &mut written))
            .collect();
        let Ok(results) = ran else {
            // A connection that cannot even roll back is broken: the pool drops it.
            let _ = DbConn::rollback_transaction(conn);
            return none_took_effect();
        };
        if let Err(error) = DbConn::commit_transaction(conn) {
            let _ = DbConn::rollback_transaction(conn);
            // Whether it committed is unknown (a lost connection): answered as an error, as a
            // lone statement's would be.
            return failed_together(StoreError::from(error).into(), count);
        }
        self.keep_written(epoch, written);
        results.into_iter().map(Ok).collect()
    }

    /// Caches what a turn's jobs wrote, once it has committed.
    fn keep_written(&self, epoch: u64, written: Written) {
        for (key, looked) in written.0 {
            self.models.put(epoch, self.fresh.seen(), key, looked);
        }
    }

    /// [`Store::update_if_unchanged`] of one job, in its model's turn: the model as an earlier
    /// job of the same batch wrote it (`written`), else as cached at `epoch`, else as read now.
    fn update_unchanged_in(
        &self,
        conn: &mut DbConn,
        job: TurnJob,
        epoch: u64,
        written: &mut Written,
    ) -> StoreResult<Option<ModelView>> {
        let TurnJob { ctx, reference, update, cache_key, identity } = job;
        let looked = match written.latest(&cache_key) {
            Some(written) => written.clone(),
            None => match self.models.lookup(epoch, &cache_key) {
                Some(cached) => cached,
                None => models::load_by_ref(conn, &ctx.actor.org_id, &reference)?,
            },
        };
        let models::Looked { found: Some(before), stamp: Some(stamp) } = looked else {
            return Ok(None);
        };
        let writable = policy::authorize_model(&ctx.actor, &before, Action::Write).is_ok();
        if !writable || !models::matches_ref(&before, &reference) {
            return Ok(None);
        }
        let Ok(models::Planned::Write { action, after }) =
            self.plan_update(conn, &ctx, &before, update)
        else {
            return Ok(None);
        };
        let DbConn::Pg(pg) = conn else { return Ok(None) };
        if after.fields.grants != before.fields.grants {
            return Ok(None);
        }
        let stamp_now = models::write_model_if_unchanged(
            pg,
            Auditor::of(&ctx),
            action,
            (&before, &stamp),
            &after,
            identity,
        )?;
        let Some(stamp) = stamp_now else {
            self.models.remove(&cache_key);
            written.forget(&cache_key);
            return Ok(None);
        };
        if let Some(pending) = unconfirmed(&ctx) {
            pending.confirm();
        }
        let looked = models::Looked { found: Some((*after).clone()), stamp: Some(stamp) };
        written.record(cache_key, looked);
        Ok(Some(models::view(&ctx.actor, *after)))
    }

    fn update_turns_of(&self, model: &(String, ModelRef)) -> &UpdateTurns {
        use std::hash::{BuildHasher, RandomState};
        static HASHER: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let hash = HASHER.get_or_init(RandomState::new).hash_one(model);
        &self.update_turns[(hash % UPDATE_TURNS as u64) as usize]
    }

    /// What `model` names for a cached caller, and the caller as its key authenticates now
    /// ([`Store::settle`]): one statement reads both; only a miss, which says nothing about the
    /// key, needs a second.
    fn load_settling<'c>(
        &self,
        conn: &mut DbConn,
        ctx: &'c Ctx,
        pending: &Unconfirmed,
        model: &ModelRef,
    ) -> StoreResult<(models::Looked, Cow<'c, Ctx>)> {
        let org = &ctx.actor.org_id;
        let (looked, (current, version)) =
            match models::load_by_ref_checking_key(conn, org, model, &pending.key_hash)? {
                Some(found) => found,
                None => (
                    models::Looked { found: None, stamp: None },
                    identity::authenticate(conn, &pending.key_hash)?,
                ),
            };
        Ok((looked, self.settle(ctx, pending, current, version)?))
    }

    /// A connection for a registry call; refused inside a read answered from memory alone
    /// ([`Registry::read_prechecked`]), which then runs again on the blocking pool.
    fn pooled(&self) -> DomainResult<conn::PooledConn> {
        if Prechecked::needs_database() {
            return Err(DomainError::internal("read from memory", "needs the database"));
        }
        Ok(self.pool.get().map_err(StoreError::from)?)
    }

    fn read<T>(&self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> DomainResult<T> {
        let mut conn = self.pooled()?;
        f(&mut conn).map_err(Into::into)
    }

    fn write<T>(&self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> DomainResult<T> {
        let _guard = self.write_guard();
        let mut conn = self.pooled()?;
        let written = write_tx(&mut conn, f);
        // After the commit (or rollback): a reader that starts now must not trust older entries.
        self.fresh.moved();
        written.map_err(Into::into)
    }

    /// `load` read through `cache`: served from it when nothing changed since it was read.
    fn cached<K: Eq + std::hash::Hash, V: Clone>(
        &self,
        cache: &Cache<K, V>,
        key: K,
        load: impl FnOnce(&mut DbConn) -> StoreResult<Option<V>>,
    ) -> DomainResult<Option<V>> {
        self.cached_at(self.commits_seen(), cache, key, load)
    }

    /// [`Store::cached`] at an epoch the caller already took, so that one look at the database's
    /// commits serves every cache a request reads.
    fn cached_at<K: Eq + std::hash::Hash, V: Clone>(
        &self,
        epoch: Option<u64>,
        cache: &Cache<K, V>,
        key: K,
        load: impl FnOnce(&mut DbConn) -> StoreResult<Option<V>>,
    ) -> DomainResult<Option<V>> {
        let Some(epoch) = epoch else { return self.read(load) };
        if let Some(hit) = cache.get(epoch, &key) {
            return Ok(Some(hit));
        }
        let loaded = self.read(load)?;
        if let Some(value) = &loaded {
            cache.put(epoch, self.fresh.seen(), key, value.clone());
        }
        Ok(loaded)
    }

    fn history_in(&self, conn: &mut DbConn, ctx: &Ctx, uuid: Uuid) -> StoreResult<Vec<AuditEvent>> {
        // A live model's history is readable by whoever can read the model; a deleted one's
        // only by an admin of its org.
        match self.get_model_in(conn, ctx, &ModelRef::Uuid(uuid)) {
            Ok(_) => {}
            Err(StoreError::Domain(DomainError::NotFound(_))) => {
                policy::authorize(&ctx.actor, Action::Admin)
                    .map_err(|_| DomainError::NotFound(Entity::Model))?;
            }
            Err(other) => return Err(other),
        }
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::entity.eq("model"))
            .filter(audit_events::entity_id.eq(uuid.to_string()))
            .filter(audit_events::org_id.eq(&ctx.actor.org_id).or(audit_events::org_id.is_null()))
            .order(audit_events::id)
            .select(AuditRow::as_select())
            .load(conn)?;
        if rows.is_empty() {
            return Err(DomainError::NotFound(Entity::Model).into());
        }
        rows.into_iter().map(AuditRow::into_event).collect()
    }
}

impl Registry for Store {
    fn ping(&self) -> DomainResult<()> {
        self.read(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
    }

    fn shared_check(&self) -> Option<modelgate_core::SharedCheckWait> {
        self.fresh.generation_async()
    }

    fn read_prechecked(
        &self,
        answer: Option<Option<u64>>,
        memory_only: bool,
        read: &mut dyn FnMut(&dyn Registry),
    ) -> FromMemory {
        let scope = Prechecked::enter(answer, memory_only);
        read(self);
        scope.outcome()
    }

    fn upstream(&self, ctx: &Ctx, model: &str) -> DomainResult<Upstream> {
        self.upstream_of(ctx, model)
    }

    fn record_usage(&self, calls: Vec<(Ctx, UsageRecord)>) -> DomainResult<()> {
        // Not a change of the registry: the read caches stay valid.
        let _guard = self.write_guard();
        let mut conn = self.pooled()?;
        write_tx(&mut conn, |conn| self.record_usage_in(conn, calls)).map_err(Into::into)
    }

    fn usage(&self, ctx: &Ctx, query: &UsageQuery) -> DomainResult<Vec<UsageRow>> {
        self.read_as(ctx, |conn, ctx| self.usage_in(conn, ctx, query))
    }

    fn telemetry(&self) -> DomainResult<Telemetry> {
        let models = self.read(telemetry::model_counts)?;
        Ok(Telemetry {
            pool: telemetry::pool(&self.pool, &self.pool_events),
            cache_hits: vec![("callers", self.callers.hits()), ("models", self.models.hits())],
            models,
        })
    }

    fn bootstrap(&self, admin_key: Option<Secret>) -> DomainResult<Option<Bootstrapped>> {
        self.write(|conn| identity::bootstrap(conn, admin_key))
    }

    fn sync_catalog(&self, models: Vec<CatalogModel>) -> DomainResult<CatalogSync> {
        self.write(|conn| self.sync_catalog_in(conn, models))
    }

    fn authenticate(&self, api_key: &str) -> DomainResult<Option<Actor>> {
        let hash = hash_api_key(api_key);
        if self.backend == Backend::Postgres {
            let (actor, version) = self.read(|conn| identity::authenticate(conn, &hash))?;
            // Kept for `remembered_caller`, whose callers the database then confirms.
            if let Some(actor) = &actor {
                self.remember_caller(&hash, actor, version);
            }
            return Ok(actor);
        }
        self.cached(&self.callers, hash.clone(), |conn| Ok(identity::authenticate(conn, &hash)?.0))
    }

    fn remembered_caller(&self, api_key: &str, dialect: &'static str) -> Option<Ctx> {
        let hash = hash_api_key(api_key);
        let (actor, unconfirmed) = match self.backend {
            // Checked against the identity version it was read at.
            Backend::Postgres => {
                let (actor, at) = self.callers.get_with_epoch(&hash)?;
                (actor, Unconfirmed::remembered(hash, at))
            }
            // As good as the last epoch seen: `confirmed` looks for commits.
            Backend::Sqlite => {
                (self.callers.get(self.fresh.seen(), &hash)?, Unconfirmed::new(hash))
            }
        };
        Some(Ctx { actor, dialect, unconfirmed: Some(unconfirmed) })
    }

    fn create_org(&self, ctx: &Ctx, id: Option<String>, name: String) -> DomainResult<Org> {
        self.write_as(ctx, |conn, ctx| identity::create_org(conn, ctx, id, name))
    }

    fn list_orgs(&self, ctx: &Ctx) -> DomainResult<Vec<Org>> {
        self.read_as(ctx, identity::list_orgs)
    }

    fn get_org(&self, ctx: &Ctx, id: &str) -> DomainResult<Org> {
        self.read_as(ctx, |conn, ctx| identity::get_org(conn, ctx, id))
    }

    fn create_user(&self, ctx: &Ctx, user: NewUser) -> DomainResult<User> {
        self.write_as(ctx, |conn, ctx| identity::create_user(conn, ctx, user))
    }

    fn list_users(&self, ctx: &Ctx) -> DomainResult<Vec<User>> {
        self.read_as(ctx, identity::list_users)
    }

    fn get_user(&self, ctx: &Ctx, id: &str) -> DomainResult<User> {
        self.read_as(ctx, |conn, ctx| identity::get_user(conn, ctx, id))
    }

    fn update_user(&self, ctx: &Ctx, id: &str, change: UserChange) -> DomainResult<User> {
        self.write_as(ctx, |conn, ctx| identity::update_user(conn, ctx, id, change))
    }

    fn delete_user(&self, ctx: &Ctx, id: &str) -> DomainResult<()> {
        self.write_as(ctx, |conn, ctx| identity::delete_user(conn, ctx, id))
    }

    fn create_group(&self, ctx: &Ctx, group: NewGroup) -> DomainResult<Group> {
        self.write_as(ctx, |conn, ctx| identity::create_group(conn, ctx, group))
    }

    fn list_groups(&self, ctx: &Ctx) -> DomainResult<Vec<Group>> {
        self.read_as(ctx, identity::list_groups)
    }

    fn get_group(&self, ctx: &Ctx, id: &str) -> DomainResult<Group> {
        self.read_as(ctx, |conn, ctx| identity::get_group(conn, ctx, id))
    }

    fn delete_group(&self, ctx: &Ctx, id: &str) -> DomainResult<()> {
        self.write_as(ctx, |conn, ctx| identity::delete_group(conn, ctx, id))
    }

    fn set_group_members(&self, ctx: &Ctx, id: &str, user_ids: Vec<String>) -> DomainResult<Group> {
        self.write_as(ctx, |conn, ctx| identity::set_group_members(conn, ctx, id, user_ids))
    }

    fn create_api_key(
        &self,
        ctx: &Ctx,
        user_id: Option<String>,
        name: String,
    ) -> DomainResult<IssuedKey> {
        self.write_as(ctx, |conn, ctx| identity::create_api_key(conn, ctx, user_id, name))
    }

    fn list_api_keys(&self, ctx: &Ctx) -> DomainResult<Vec<ApiKey>> {
        self.read_as(ctx, identity::list_api_keys)
    }

    fn revoke_api_key(&self, ctx: &Ctx, id: &str) -> DomainResult<ApiKey> {
        self.write_as(ctx, |conn, ctx| identity::revoke_api_key(conn, ctx, id))
    }

    fn create_model(&self, ctx: &Ctx, model: NewModel) -> DomainResult<ModelView> {
        self.write_as(ctx, |conn, ctx| {
            self.create_model_in(conn, ctx, model.key, model.change, "create")
        })
    }

    fn get_model(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<ModelView> {
        self.get_model_at(self.read_epoch(), &SharedCheck::default(), ctx, model)
    }

    fn get_model_with_base(
        &self,
        ctx: &Ctx,
        model: &ModelRef,
    ) -> DomainResult<(ModelView, Option<ModelView>)> {
        self.model_with_base(ctx, model)
    }

    fn update_model(
        &self,
        ctx: &Ctx,
        model: &ModelRef,
        update: ModelUpdate,
    ) -> DomainResult<ModelView> {
        if self.backend == Backend::Postgres
            && let Some(updated) = self.update_if_unchanged(ctx, model, &update)?
        {
            return Ok(updated);
        }
        self.write_as(ctx, |conn, ctx| self.update_model_in(conn, ctx, model, update))
    }

    fn toggle_model(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<ModelView> {
        self.write_as(ctx, |conn, ctx| self.toggle_model_in(conn, ctx, model))
    }

    fn delete_model(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<ModelView> {
        self.write_as(ctx, |conn, ctx| self.delete_model_in(conn, ctx, model))
    }

    fn delete_org_models(&self, ctx: &Ctx) -> DomainResult<usize> {
        self.write_as(ctx, |conn, ctx| self.delete_org_models_in(conn, ctx))
    }

    fn list_models(&self, ctx: &Ctx, query: &ModelQuery) -> DomainResult<Page<ModelView>> {
        self.read_as(ctx, |conn, ctx| self.list_models_in(conn, ctx, query))
    }

    fn model_exists(&self, ctx: &Ctx, model: &ModelRef) -> DomainResult<bool> {
        self.read_as(ctx, |conn, ctx| {
            Ok(models::resolve_seq(conn, &ctx.actor.org_id, model)?.is_some())
        })
    }

    fn upsert_model(&self, ctx: &Ctx, model: UpsertModel) -> DomainResult<Upserted> {
        self.write_as(ctx, |conn, ctx| self.upsert_model_in(conn, ctx, model, "create"))
    }

    fn import_models(&self, ctx: &Ctx, models: Vec<UpsertModel>) -> DomainResult<Vec<Upserted>> {
        self.write_as(ctx, |conn, ctx| {
            models.into_iter().map(|m| self.upsert_model_in(conn, ctx, m, "import")).collect()
        })
    }

    fn model_history(&self, ctx: &Ctx, uuid: Uuid) -> DomainResult<Vec<AuditEvent>> {
        self.read_as(ctx, |conn, ctx| self.history_in(conn, ctx, uuid))
    }

    fn secret_equals(&self, sealed: &SealedSecret, candidate: &str) -> DomainResult<bool> {
        Ok(self.cipher.reveal(sealed)?.expose() == candidate)
    }

    fn create_provider(&self, ctx: &Ctx, provider: NewProvider) -> DomainResult<Provider> {
        self.write_as(ctx, |conn, ctx| self.create_provider_in(conn, ctx, provider))
    }

    fn get_provider(&self, ctx: &Ctx, provider: &ProviderRef) -> DomainResult<Provider> {
        self.read_as(ctx, |conn, ctx| self.get_provider_in(conn, ctx, provider))
    }

    fn list_providers(&self, ctx: &Ctx) -> DomainResult<Vec<Provider>> {
        self.read_as(ctx, |conn, ctx| self.list_providers_in(conn, ctx))
    }

    fn update_provider(
        &self,
        ctx: &Ctx,
        provider: &ProviderRef,
        change: ProviderChange,
    ) -> DomainResult<Provider> {
        self.write_as(ctx, |conn, ctx| self.update_provider_in(conn, ctx, provider, change))
    }

    fn delete_provider(&self, ctx: &Ctx, provider: &ProviderRef) -> DomainResult<Provider> {
        self.write_as(ctx, |conn, ctx| self.delete_provider_in(conn, ctx, provider))
    }

    fn create_endpoint(&self, ctx: &Ctx, endpoint: NewEndpoint) -> DomainResult<Endpoint> {
        self.write_as(ctx, |conn, ctx| self.create_endpoint_in(conn, ctx, endpoint))
    }

    fn get_endpoint(&self, ctx: &Ctx, slug: &str) -> DomainResult<Endpoint> {
        self.read_as(ctx, |conn, ctx| self.get_endpoint_in(conn, ctx, slug))
    }

    fn list_endpoints(&self, ctx: &Ctx) -> DomainResult<Vec<Endpoint>> {
        self.read_as(ctx, |conn, ctx| self.list_endpoints_in(conn, ctx, None))
    }

    fn scan_models(
        &self,
        ctx: &Ctx,
        query: &ModelQuery,
        after: Option<&ScanCursor>,
        limit: i64,
    ) -> DomainResult<Vec<ModelView>> {
        self.read_as(ctx, |conn, ctx| self.scan_models_in(conn, ctx, query, after, limit))
    }

    fn scan_model_entries(
        &self,
        ctx: &Ctx,
        query: &ModelQuery,
        after: Option<&ScanCursor>,
        limit: i64,
    ) -> DomainResult<Vec<ModelEntry>> {
        self.read_as(ctx, |conn, ctx| self.scan_model_entries_in(conn, ctx, query, after, limit))
    }

    fn model_endpoints(&self, ctx: &Ctx, model_seqs: &[i64]) -> DomainResult<Vec<Endpoint>> {
        self.read_as(ctx, |conn, ctx| self.list_endpoints_in(conn, ctx, Some(model_seqs)))
    }

    fn get_model_with_endpoints(
        &self,
        ctx: &Ctx,
        model: &ModelRef,
    ) -> DomainResult<(ModelView, Vec<Endpoint>)> {
        self.model_with_endpoints(ctx, model)
    }

    fn update_endpoint(
        &self,
        ctx: &Ctx,
        slug: &str,
        change: EndpointChange,
    ) -> DomainResult<Endpoint> {
        self.write_as(ctx, |conn, ctx| self.update_endpoint_in(conn, ctx, slug, change))
    }

    fn delete_endpoint(&self, ctx: &Ctx, slug: &str) -> DomainResult<Endpoint> {
        self.write_as(ctx, |conn, ctx| self.delete_endpoint_in(conn, ctx, slug))
    }

    fn set_user_default(
        &self,
        ctx: &Ctx,
        config_type: &str,
        model: &ModelRef,
    ) -> DomainResult<UserDefault> {
        self.write_as(ctx, |conn, ctx| self.set_user_default_in(conn, ctx, config_type, model))
    }

    fn list_user_defaults(&self, ctx: &Ctx) -> DomainResult<Vec<UserDefault>> {
        self.read_as(ctx, |conn, ctx| self.list_user_defaults_in(conn, ctx))
    }

    fn delete_user_default(&self, ctx: &Ctx, config_type: &str) -> DomainResult<()> {
        self.write_as(ctx, |conn, ctx| self.delete_user_default_in(conn, ctx, config_type))
    }
}

/// A request's answer from the shared check ([`Freshness::generation`]): asked once, and only
/// when a cached entry needs it. Any check that began after the request did is good for all of
/// its reads.
#[derive(Default)]
pub(crate) struct SharedCheck(std::cell::Cell<Option<Option<u64>>>);

impl SharedCheck {
    fn generation(&self, fresh: &Freshness) -> Option<u64> {
        if let Some(answer) = self.answered() {
            return answer;
        }
        if Prechecked::wants_check() {
            return None;
        }
        let answer = fresh.generation();
        self.0.set(Some(answer));
        answer
    }

    /// The answer this request has without asking: taken before, or awaited before the call.
    fn answered(&self) -> Option<Option<u64>> {
        self.0.get().or_else(Prechecked::answer)
    }

    /// The generation, if it was asked for (or awaited before the call) and found.
    fn taken(&self) -> Option<u64> {
        self.answered().flatten()
    }
}

/// A registry call made through [`Registry::read_prechecked`], on this thread: the shared
/// check its request awaited before, and whether it must be answered from memory alone. Kept
/// for the thread rather than passed down, so that every way to the database — through
/// [`Store::pooled`] — refuses inside such a call, and every [`SharedCheck`] takes the answer.
#[derive(Clone, Copy)]
struct Prechecked {
    /// `None`: the check was not waited for.
    answer: Option<Option<u64>>,
    memory_only: bool,
    /// What the call came to so far: what it was refused, if anything.
    outcome: FromMemory,
}

thread_local! {
    static PRECHECKED: std::cell::Cell<Option<Prechecked>> = const { std::cell::Cell::new(None) };
}

/// Ends a [`Prechecked`] call, whatever way it leaves, restoring what came before it.
struct PrecheckedScope(Option<Prechecked>);

impl Prechecked {
    fn enter(answer: Option<Option<u64>>, memory_only: bool) -> PrecheckedScope {
        let call = Prechecked { answer, memory_only, outcome: FromMemory::Answered };
        PrecheckedScope(PRECHECKED.replace(Some(call)))
    }

    /// The answer awaited before the call running on this thread, if any.
    fn answer() -> Option<Option<u64>> {
        PRECHECKED.get().and_then(|call| call.answer)
    }

    /// Whether the call running on this thread is answered from memory alone.
    fn memory_only() -> bool {
        PRECHECKED.get().is_some_and(|call| call.memory_only)
    }

    /// Whether the call running on this thread must not wait for the check (it is then marked
    /// as having needed it): from memory alone, with no answer awaited before.
    fn wants_check() -> bool {
        Self::refuse(FromMemory::NeedsCheck, |call| call.answer.is_none())
    }

    /// Whether the call running on this thread must not take a connection (it is then
    /// marked as having needed one).
    fn needs_database() -> bool {
        Self::refuse(FromMemory::NeedsDatabase, |_| true)
    }

    /// Refuses `what` to the call running on this thread when it runs from memory alone and
    /// `applies`, recording it. Needing the check outranks needing the database: a read that
    /// found something cached may be served once the check answers.
    fn refuse(what: FromMemory, applies: impl Fn(&Prechecked) -> bool) -> bool {
        let Some(mut call) = PRECHECKED.get().filter(|call| call.memory_only && applies(call))
        else {
            return false;
        };
        if call.outcome != FromMemory::NeedsCheck {
            call.outcome = what;
        }
        PRECHECKED.set(Some(call));
        true
    }
}

impl PrecheckedScope {
    fn outcome(&self) -> FromMemory {
        PRECHECKED.get().map_or(FromMemory::Answered, |call| call.outcome)
    }
}

impl Drop for PrecheckedScope {
    fn drop(&mut self) {
        PRECHECKED.set(self.0);
    }
}

/// A model this replica cached (Postgres), for its request to check.
pub(crate) struct CachedModel {
    /// The local epoch it was found at.
    epoch: u64,
    key: (String, ModelRef),
    looked: models::Looked,
    /// The shared check's generation it was last known current at.
    known_at: u64,
}

/// Postgres: whether a request's caller still holds at the identity version a light check just
/// read: a confirmed caller always, a remembered one when it was cached at that very version.
fn caller_holds_at(pending: Option<&Unconfirmed>, identity: Option<i64>) -> bool {
    let identity = identity.and_then(|v| u64::try_from(v).ok());
    pending.is_none_or(|p| p.remembered_at.is_some() && p.remembered_at == identity)
}

/// Whether what a light check read — the identity version now, and whether every stamp it read
/// is the one cached (`unchanged`) — lets the cached entries and caller be served; a remembered
/// caller is then confirmed for the rest of the request.
fn still_holds(ctx: &Ctx, identity: Option<i64>, unchanged: bool) -> bool {
    let pending = unconfirmed(ctx);
    if !unchanged || !caller_holds_at(pending, identity) {
        return false;
    }
    if let Some(pending) = pending {
        pending.confirm();
    }
    true
}

/// The caller of `ctx` if it came from a cache and is not yet confirmed in this request.
fn unconfirmed(ctx: &Ctx) -> Option<&Unconfirmed> {
    ctx.unconfirmed.as_ref().filter(|pending| !pending.is_confirmed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_shared_by_a_batch_keeps_its_kind_and_cause_for_each_job() {
        let unavailable = DomainError::Unavailable(modelgate_core::error::Internal {
            context: "database pool",
            cause: "timed out".into(),
        });
        let copies = failed_together::<()>(unavailable, 3);
        assert_eq!(copies.len(), 3);
        for copy in copies {
            let Err(DomainError::Unavailable(internal)) = copy else { panic!("{copy:?}") };
            assert_eq!(
                (internal.context, internal.cause.to_string().as_str()),
                ("database pool", "timed out")
            );
        }
        let internal = failed_together::<()>(DomainError::internal("store", "broken"), 2);
        assert!(matches!(
            &internal[..],
            [Err(DomainError::Internal(_)), Err(DomainError::Internal(_))]
        ));
    }
}
