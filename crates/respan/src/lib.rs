//! The `respan` dialect: Respan's (Keywords AI) custom-model and provider API (`/api`).
//! Django REST framework conventions: `{"detail": "..."}` errors, field errors as
//! `{"field": ["message"]}` with status 400, and an empty body read as `{}`.

mod errors;
mod input;
mod models;
mod providers;
mod query;
mod render;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, detail};

pub struct Respan;

impl Dialect for Respan {
    const NAME: &'static str = "respan";

    fn auth_failure(failure: AuthFailure) -> HttpResponse {
        let message = match failure {
            AuthFailure::Missing => "Authentication credentials were not provided.",
            AuthFailure::Invalid => "Incorrect authentication credentials.",
        };
        detail(StatusCode::UNAUTHORIZED, message)
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        match failure {
            BodyFailure::TooLarge { limit } => detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes."),
            ),
            // Not reached: an empty body reads as `{}` (see `empty_body`).
            BodyFailure::Empty => detail(StatusCode::BAD_REQUEST, "JSON parse error - empty body"),
            BodyFailure::Invalid { message, .. } => {
                detail(StatusCode::BAD_REQUEST, format!("JSON parse error - {message}"))
            }
            BodyFailure::Unreadable => {
                detail(StatusCode::BAD_REQUEST, "Could not read the request body.")
            }
        }
    }

    fn empty_body() -> Option<serde_json::Value> {
        Some(serde_json::json!({}))
    }

    fn unknown_path() -> HttpResponse {
        detail(StatusCode::NOT_FOUND, "Not found.")
    }
}

/// DRF's answer to a method a path does not take.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    detail(StatusCode::METHOD_NOT_ALLOWED, format!("Method \"{}\" not allowed.", req.method()))
}

/// The dialect's routes, relative to its root (`/respan` on the main listener). Every path
/// works with and without its trailing slash. Model names may contain `/`, so a model path is
/// everything after `/api/models/`; the fixed `/api/models/list/` is registered first and, for
/// methods other than POST, names the model called `list`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let not_allowed = || web::to(method_not_allowed);
    cfg.service(
        web::resource(["/api/models", "/api/models/"])
            .get(models::list)
            .post(models::create)
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/models/{model_name:list/?}")
            .post(models::filter)
            .get(models::retrieve)
            .patch(models::patch)
            .put(models::put)
            .delete(models::delete)
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/models/{model_name:.+}")
            .get(models::retrieve)
            .patch(models::patch)
            .put(models::put)
            .delete(models::delete)
            .default_service(not_allowed()),
    )
    .service(
        web::resource(["/api/providers", "/api/providers/"])
            .get(providers::list)
            .post(providers::create)
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/providers/{provider_id:.+}")
            .get(providers::retrieve)
            .patch(providers::patch)
            .put(providers::put)
            .delete(providers::delete)
            .default_service(not_allowed()),
    );
}
