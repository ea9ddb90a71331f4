//! actix glue shared by every dialect: the [`Dialect`] trait each one implements, the
//! authenticated [`Caller`], the size-limited [`JsonBody`], the [`blocking`] helper that runs
//! registry calls off the async workers, request ids, and the input reader that dialects turn
//! into their own validation errors.

pub mod app;
pub mod auth;
pub mod body;
pub mod cors;
pub mod health;
pub mod input;
pub mod metrics;
pub mod middleware;
pub mod nul;
pub mod outbound;
pub mod routes;
pub mod stream;

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use modelgate_core::{DomainError, DomainResult, FromMemory, Registry};
use serde_json::json;

pub use auth::{AuthFailure, Caller, Checked, Deferred};
pub use body::{BodyFailure, JsonBody};
pub use health::DatabaseHealth;
pub use nul::NulFound;

/// Default JSON body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// What every handler needs, shared as `web::Data<Services>`.
pub struct Services {
    pub registry: Arc<dyn Registry>,
    pub body_limit: usize,
    /// The server's database monitor; `None` (tests, tools) calls the registry unguarded.
    pub health: Option<Arc<DatabaseHealth>>,
}

impl Services {
    pub fn new(registry: Arc<dyn Registry>, body_limit: usize) -> Self {
        Self { registry, body_limit, health: None }
    }

    /// Fails calls fast while `health` reports the database down.
    pub fn with_health(mut self, health: Arc<DatabaseHealth>) -> Self {
        self.health = Some(health);
        self
    }

    /// Whether the database monitor (if any) last saw the database answer.
    pub fn is_up(&self) -> bool {
        self.health.as_ref().is_none_or(|health| health.is_up())
    }

    /// Runs `f` with the registry on the blocking pool (see [`blocking`]). While the database is
    /// down it answers `Unavailable` without touching the pool, and a call already waiting on a
    /// database that goes down is answered the same way at that moment (its thread finishes on
    /// its own; a write may still commit if the database comes back, as after any timeout).
    pub async fn call<T, F>(&self, f: F) -> DomainResult<T>
    where
        F: FnOnce(&dyn Registry) -> DomainResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if !self.is_up() {
            return Err(DatabaseHealth::unavailable());
        }
        let registry = self.registry.clone();
        self.until_down(blocking(move || f(registry.as_ref()))).await?
    }

    /// `waiting`, unless the database monitor (if any) sees the database go down first: then
    /// `Unavailable` at that moment.
    async fn until_down<T>(
        &self,
        waiting: impl std::future::Future<Output = T>,
    ) -> DomainResult<T> {
        match &self.health {
            Some(health) => tokio::select! {
                done = waiting => Ok(done),
                () = health.down() => Err(DatabaseHealth::unavailable()),
            },
            None => Ok(waiting.await),
        }
    }

    /// A read that may be answered from memory. Where the registry's requests share a
    /// freshness check (Postgres), the check is awaited first, here, without holding a thread:
    /// on Postgres every cached entry needs its answer, and a try before it (to learn whether
    /// anything was cached) cost a warm read about a twentieth of its rate, copying out what it
    /// could not yet serve. The read is then tried on this worker from memory alone; only one
    /// that needs the database runs again on the blocking pool (see
    /// [`Registry::read_prechecked`]), with the answer, which also lets what it reads be served
    /// from memory next time. Otherwise the same as [`Services::call`]. `f` may run twice: it
    /// must only read.
    pub async fn read<T, F>(&self, f: F) -> DomainResult<T>
    where
        F: Fn(&dyn Registry) -> DomainResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if !self.is_up() {
            return self.call(f).await;
        }
        let registry = &self.registry;
        let answer = match registry.shared_check() {
            Some(check) => Some(self.until_down(check).await?),
            None => None,
        };
        let mut answered = None;
        let outcome = registry.read_prechecked(answer, true, &mut |r| answered = Some(f(r)));
        if outcome == FromMemory::Answered
            && let Some(answered) = answered
        {
            return answered;
        }
        self.call(move |registry| {
            let mut answered = None;
            registry.read_prechecked(answer, false, &mut |r| answered = Some(f(r)));
            answered.unwrap_or_else(|| Err(DomainError::internal("read", "no answer")))
        })
        .await
    }
}

/// One wire dialect: its name (recorded in the audit trail) and how it renders the failures that
/// happen before a handler runs.
pub trait Dialect: 'static {
    const NAME: &'static str;

    fn auth_failure(failure: AuthFailure) -> HttpResponse;

    fn body_failure(failure: BodyFailure) -> HttpResponse;

    /// What an empty body reads as: `None` (the default) refuses it with
    /// `body_failure(BodyFailure::Empty)`; DRF-style APIs read it as `{}`.
    fn empty_body() -> Option<serde_json::Value> {
        None
    }

    /// Database down or an internal error while authenticating or in a shared helper.
    fn service_failure(error: &DomainError) -> HttpResponse {
        default_service_failure(error)
    }

    /// A path under the dialect's prefix that it does not serve.
    fn unknown_path() -> HttpResponse {
        detail(StatusCode::NOT_FOUND, "Not Found")
    }

    /// Input containing U+0000 (see [`nul`]): never empty, and either all in the body or all
    /// in the path and query. The default is FastAPI's 422 with a pydantic `value_error` each.
    fn nul_refused(found: &[NulFound]) -> HttpResponse {
        HttpResponse::UnprocessableEntity().json(nul::pydantic_body(found))
    }
}

/// How dialect `D` refuses a caller whose key was revoked after a replica cached it
/// ([`DomainError::Unauthenticated`]): as an invalid key, challenge included.
pub fn revoked_key<D: Dialect>() -> HttpResponse {
    bearer_challenge(D::auth_failure(AuthFailure::Invalid))
}

/// Adds the `WWW-Authenticate: Bearer` challenge (RFC 6750) to a 401: every API here takes a
/// bearer key.
pub fn bearer_challenge(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// A JSON `{"detail": …}` response: the error shape every dialect shares.
pub fn detail(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "detail": message.into() }))
}

/// 503 while the database is unreachable, 500 for anything else; the cause only goes to the log.
pub fn default_service_failure(error: &DomainError) -> HttpResponse {
    log_failure(error);
    match error {
        DomainError::Unavailable(_) => {
            detail(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable")
        }
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

/// Logs the internal cause of an error, if it has one.
pub fn log_failure(error: &DomainError) {
    if let Some(cause) = error.cause() {
        match error {
            DomainError::Unavailable(_) => tracing::warn!(cause = ?cause, "database unavailable"),
            _ => tracing::error!(cause = ?cause, "internal error"),
        }
    }
}

/// Runs a blocking registry call on actix's blocking pool, so async workers never wait on the
/// database.
pub async fn blocking<T, F>(f: F) -> DomainResult<T>
where
    F: FnOnce() -> DomainResult<T> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f)
        .await
        .unwrap_or_else(|e| Err(DomainError::internal("blocking pool", e.to_string())))
}

/// How a FastAPI app answers a body it cannot use: 422 in pydantic shape for a missing or
/// malformed body, 413 for an oversize one.
pub fn fastapi_body_failure(failure: BodyFailure) -> HttpResponse {
    match failure {
        BodyFailure::TooLarge { limit } => detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        ),
        BodyFailure::Empty => {
            HttpResponse::UnprocessableEntity().json(input::pydantic_body_missing())
        }
        BodyFailure::Invalid { message, position } => HttpResponse::UnprocessableEntity()
            .json(input::pydantic_json_invalid(position, &message)),
        BodyFailure::Unreadable => {
            detail(StatusCode::BAD_REQUEST, "Could not read the request body")
        }
    }
}

/// Turns a rendered response into an actix error, for extractors.
pub(crate) fn into_error(response: HttpResponse) -> actix_web::Error {
    actix_web::error::InternalError::from_response("request refused", response).into()
}
