//! Bearer-key authentication, shared by every dialect; failures render in the dialect's format.

use std::marker::PhantomData;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use modelgate_core::{Ctx, DomainError, Unconfirmed};

use crate::{Dialect, Services, into_error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A key that is unknown or revoked.
    Invalid,
}

/// The authenticated caller, with the audit context of dialect `D`; `C` says when its key is
/// checked against the database.
pub struct Caller<D: Dialect, C: Confirmation = Checked> {
    pub ctx: Ctx,
    dialect: PhantomData<(D, C)>,
}

impl<D: Dialect, C: Confirmation> Caller<D, C> {
    pub fn new(ctx: Ctx) -> Self {
        Self { ctx, dialect: PhantomData }
    }
}

/// When a handler's caller is checked against the database.
pub trait Confirmation: 'static {
    const DEFERRED: bool;
}

/// Before the handler runs: for handlers that may answer from the caller alone.
pub struct Checked;

/// By the handler's first registry call, which the registry may answer with the check folded
/// into its own statement (see [`modelgate_core::Unconfirmed`]); an answer that never reached
/// the registry (a refused body, a static list) is held until the key is checked
/// ([`confirm_remembered_caller`]). For handlers whose answers depend on the caller only through
/// registry calls, and which have no effect outside the database before their first one (an
/// outbound call, say). Saves a request its authentication round trip.
pub struct Deferred;

impl Confirmation for Checked {
    const DEFERRED: bool = false;
}

impl Confirmation for Deferred {
    const DEFERRED: bool = true;
}

/// How the caller's authentication ended, for extractors that run beside [`Caller`]: actix polls
/// a handler's extractors together, and a bad key must be answered before a bad body whatever
/// finishes first.
#[derive(Clone)]
pub(crate) struct AuthGate(tokio::sync::watch::Receiver<Option<bool>>);

impl AuthGate {
    /// Waits until authentication ended; `true` when it succeeded.
    pub(crate) async fn passed(mut self) -> bool {
        self.0
            .wait_for(Option::is_some)
            .await
            .map(|outcome| *outcome == Some(true))
            .unwrap_or(false)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

impl<D: Dialect, C: Confirmation> FromRequest for Caller<D, C> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let services = req.app_data::<web::Data<Services>>().cloned();
        // Every route that reaches the store authenticates, so this is where path and query
        // input is checked for NULs: after the route matched (parameters have names) and after
        // authentication (a bad key wins), before the handler runs.
        let nul = crate::nul::scan_request(req);
        let (outcome, gate) = tokio::sync::watch::channel(None);
        req.extensions_mut().insert(AuthGate(gate));
        let req = req.clone();
        Box::pin(async move {
            let result = authenticate::<D, C>(services, token.clone()).await;
            if let (Ok(caller), Some(token)) = (&result, token)
                && let Some(pending) = &caller.ctx.unconfirmed
            {
                req.extensions_mut().insert(Remembered {
                    pending: pending.clone(),
                    token,
                    revoked: crate::revoked_key::<D>,
                    failure: D::service_failure,
                });
            }
            let result = result.and_then(|caller| {
                if nul.is_empty() { Ok(caller) } else { Err(into_error(D::nul_refused(&nul))) }
            });
            // A refused path or query also keeps a body's own refusal from answering first.
            let _ = outcome.send(Some(result.is_ok()));
            result
        })
    }
}

async fn authenticate<D: Dialect, C: Confirmation>(
    services: Option<web::Data<Services>>,
    token: Option<String>,
) -> Result<Caller<D, C>, actix_web::Error> {
    let Some(services) = services else {
        let error = modelgate_core::DomainError::internal("auth", "Services not configured");
        return Err(into_error(D::service_failure(&error)));
    };
    // Every 401 carries the Bearer challenge (RFC 6750), whatever the dialect's body.
    let refuse = |failure| into_error(crate::bearer_challenge(D::auth_failure(failure)));
    let token = token.ok_or_else(|| refuse(AuthFailure::Missing))?;
    // A remembered caller costs no hop to the blocking pool: the handler's own registry call
    // confirms it. Otherwise through `call`, so a database that does not answer fails
    // authentication fast too.
    let remembered = match C::DEFERRED && services.is_up() {
        true => services.registry.remembered_caller(&token, D::NAME),
        false => None,
    };
    let found = match remembered {
        Some(ctx) => Ok(Some(ctx)),
        None => {
            services
                .call(move |registry| {
                    Ok(registry.authenticate(&token)?.map(|actor| Ctx::new(actor, D::NAME)))
                })
                .await
        }
    };
    match found {
        Ok(Some(ctx)) => {
            // The request's log lines say who and through which API (the span is the request
            // middleware's).
            let span = tracing::Span::current();
            span.record("dialect", tracing::field::display(D::NAME));
            span.record("user", tracing::field::display(&ctx.actor.user_id));
            span.record("org", tracing::field::display(&ctx.actor.org_id));
            Ok(Caller::new(ctx))
        }
        Ok(None) => Err(refuse(AuthFailure::Invalid)),
        Err(error) => Err(into_error(D::service_failure(&error))),
    }
}

/// A caller a request took from memory ([`Deferred`]): what its key's check needs, should no
/// registry call of the request confirm it.
struct Remembered {
    /// Shares its confirmation with the request's context.
    pending: Unconfirmed,
    token: String,
    revoked: fn() -> HttpResponse,
    failure: fn(&DomainError) -> HttpResponse,
}

/// Middleware: an answer given to a caller taken from memory whose key no registry call of the
/// request has checked — a refused body, a parameter or a static answer — waits for that check,
/// so a key revoked on another replica gets the dialect's 401 instead, as it would have before
/// the body was read. One statement, only on those paths; every other answer was confirmed by
/// the registry call that made it.
pub async fn confirm_remembered_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(req).await?;
    let remembered = response.request().extensions_mut().remove::<Remembered>();
    let unchecked = remembered.filter(|remembered| {
        !remembered.pending.is_confirmed() && response.status() != StatusCode::UNAUTHORIZED
    });
    let Some(remembered) = unchecked else { return Ok(response.map_into_left_body()) };
    let Some(services) = response.request().app_data::<web::Data<Services>>().cloned() else {
        return Ok(response.map_into_left_body());
    };
    let token = remembered.token;
    let replacement = match services.call(move |registry| registry.authenticate(&token)).await {
        Ok(Some(_)) => return Ok(response.map_into_left_body()),
        Ok(None) => (remembered.revoked)(),
        Err(error) => (remembered.failure)(&error),
    };
    let (req, _) = response.into_parts();
    Ok(ServiceResponse::new(req, replacement).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "bearer  mg_abc "))
            .to_http_request();
        assert_eq!(bearer_token(&req).as_deref(), Some("mg_abc"));
        let basic =
            TestRequest::default().insert_header(("Authorization", "Basic abc")).to_http_request();
        assert_eq!(bearer_token(&basic), None);
        let empty =
            TestRequest::default().insert_header(("Authorization", "Bearer ")).to_http_request();
        assert_eq!(bearer_token(&empty), None);
        assert_eq!(bearer_token(&TestRequest::default().to_http_request()), None);
    }
}
