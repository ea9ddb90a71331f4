//! The `syft` dialect: Syft Space's models and endpoints API (`/api/v1`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, detail, fastapi_body_failure};

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

/// The dialect's routes, relative to its root (`/syft` on the main listener).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
