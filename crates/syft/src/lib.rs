//! The `syft` dialect: Syft Space's models and endpoints API (`/api/v1`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

mod actions;
mod endpoints;
mod errors;
mod models;
mod types;
mod wire;

use std::sync::LazyLock;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::{Ctx, DomainError};
use modelgate_http::routes::{Routes, openapi_document};
use modelgate_http::{
    AuthFailure, BodyFailure, Dialect, NulFound, Services, default_service_failure, detail,
    fastapi_body_failure,
};
use serde_json::Value;

pub use errors::{AT_LEAST_ONE, IMMUTABLE};

pub struct Syft;

impl Dialect for Syft {
    const NAME: &'static str = "syft";

    fn auth_failure(_: AuthFailure) -> HttpResponse {
        detail(StatusCode::UNAUTHORIZED, "Invalid or missing API key")
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        fastapi_body_failure(failure)
    }

    /// With `ctx.error` as `{}`, like Syft's other value errors.
    fn nul_refused(found: &[NulFound]) -> HttpResponse {
        errors::unprocessable(&modelgate_http::nul::issues(found))
    }
}

/// The header Syft Space clients name their tenant with.
const TENANT_HEADER: &str = "x-tenant-name";

/// Checks `X-Tenant-Name`: when sent it must name the caller's org (by id or name); a tenant
/// the caller does not belong to does not exist for it. Without the header the caller's org is
/// the tenant.
async fn check_tenant(
    services: &web::Data<Services>,
    ctx: &Ctx,
    req: &HttpRequest,
) -> Result<(), HttpResponse> {
    let Some(value) = req.headers().get(TENANT_HEADER) else { return Ok(()) };
    let wanted = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let ctx = ctx.clone();
    match services.call(move |registry| registry.get_org(&ctx, &ctx.actor.org_id)).await {
        Ok(org) if org.id == wanted || org.name == wanted => Ok(()),
        Ok(_) => Err(errors::tenant_not_found(&wanted)),
        Err(DomainError::Unauthenticated) => Err(modelgate_http::revoked_key::<Syft>()),
        Err(error) => Err(default_service_failure(&error)),
    }
}

/// The tenant check, then the body, which must be a JSON object: how every Syft write starts.
async fn tenant_and_object(
    services: &web::Data<Services>,
    ctx: &Ctx,
    req: &HttpRequest,
    body: modelgate_http::JsonBody<Syft>,
) -> Result<Value, HttpResponse> {
    check_tenant(services, ctx, req).await?;
    let body = body.into_inner();
    if !body.is_object() {
        return Err(errors::not_an_object(&body));
    }
    Ok(body)
}

/// The dialect's OpenAPI document (`crates/syft/openapi.json`), served at `/openapi.json`.
static DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../openapi.json")).unwrap_or_default());

/// Every route of the dialect: mounted by `configure`, documented in openapi.json. Paths are
/// relative to the dialect's root (`/syft` on the main listener).
pub fn routes() -> Routes {
    Routes::new()
        .resource(["/openapi.json"], |r| r.get(openapi_document(&DOCUMENT)))
        // Types first: `/models/{name}` would otherwise take `types/...` as a model name.
        .resource(["/api/v1/models/types/"], |r| r.get(models::list_types))
        .resource(["/api/v1/models/types/{name}/schema"], |r| r.get(models::type_schema))
        .resource(["/api/v1/models/types/{name}"], |r| r.get(models::get_type))
        .resource(["/api/v1/models/types/{name}/actions/{action}"], |r| {
            r.post(actions::type_action)
        })
        // FastAPI would redirect the slash-less form; serving both saves clients a round trip.
        .resource(["/api/v1/models/", "/api/v1/models"], |r| {
            r.get(models::list).post(models::create)
        })
        // Model names may contain `/`, so the name is the rest of the path.
        .resource(["/api/v1/models/{name:.+}"], |r| {
            r.get(models::get).patch(models::update).delete(models::delete)
        })
        .resource(["/api/v1/endpoints/", "/api/v1/endpoints"], |r| {
            r.get(endpoints::list).post(endpoints::create)
        })
        // Before `{slug}`, which would take it for a slug. Its other methods reach the endpoint
        // whose slug is `validate-slug`, as `{slug}` would.
        .resource(["/api/v1/endpoints/validate-slug"], |r| {
            r.post(endpoints::validate_slug)
                .fallback(endpoints::validate_slug_as_endpoint)
                .allows(&[Method::GET, Method::PATCH, Method::DELETE])
        })
        .resource(["/api/v1/endpoints/{slug}"], |r| {
            r.get(endpoints::get).patch(endpoints::update).delete(endpoints::delete)
        })
}

/// The dialect's routes, relative to its root (`/syft` on the main listener).
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes().register(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_parses() {
        let document: Value = serde_json::from_str(include_str!("../openapi.json"))
            .unwrap_or_else(|e| panic!("openapi.json: {e}"));
        assert_eq!(document["openapi"], "3.1.0");
        assert!(DOCUMENT.is_object());
    }
}
