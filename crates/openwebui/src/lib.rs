//! The `openwebui` dialect: Open WebUI's workspace-model API (`/api/models`, `/api/v1/models`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, detail, fastapi_body_failure};

pub struct OpenWebUi;

impl Dialect for OpenWebUi {
    const NAME: &'static str = "openwebui";

    fn auth_failure(_: AuthFailure) -> HttpResponse {
        detail(StatusCode::UNAUTHORIZED, "Not authenticated")
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        fastapi_body_failure(failure)
    }
}

/// The dialect's routes, relative to its root (`/openwebui` on the main listener).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
