//! The `syft` dialect: Syft Space's models and endpoints API (`/api/v1`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

mod endpoints;
mod errors;
mod models;
mod types;
mod wire;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::Ctx;
use modelgate_http::{
    AuthFailure, BodyFailure, Dialect, Services, blocking, default_service_failure, detail,
    fastapi_body_failure,
};

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
    let registry = services.registry.clone();
    let ctx = ctx.clone();
    match blocking(move || registry.get_org(&ctx, &ctx.actor.org_id)).await {
        Ok(org) if org.id == wanted || org.name == wanted => Ok(()),
        Ok(_) => Err(errors::tenant_not_found(&wanted)),
        Err(error) => Err(default_service_failure(&error)),
    }
}

/// The dialect's routes, relative to its root (`/syft` on the main listener).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Types first: `/models/{name}` would otherwise take `types/...` as a model name.
    cfg.service(web::resource("/api/v1/models/types/").get(models::list_types))
        .service(web::resource("/api/v1/models/types/{name}/schema").get(models::type_schema))
        .service(web::resource("/api/v1/models/types/{name}").get(models::get_type))
        // FastAPI would redirect the slash-less form; serving both saves clients a round trip.
        .service(
            web::resource(["/api/v1/models/", "/api/v1/models"])
                .get(models::list)
                .post(models::create),
        )
        // Model names may contain `/`, so the name is the rest of the path.
        .service(
            web::resource("/api/v1/models/{name:.+}")
                .get(models::get)
                .patch(models::update)
                .delete(models::delete),
        )
        .service(
            web::resource(["/api/v1/endpoints/", "/api/v1/endpoints"])
                .get(endpoints::list)
                .post(endpoints::create),
        )
        .service(
            web::resource("/api/v1/endpoints/{slug}").get(endpoints::get).delete(endpoints::delete),
        );
}
