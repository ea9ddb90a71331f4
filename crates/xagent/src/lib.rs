//! The `xagent` dialect: Xagent's model-management API (`/api/models`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{HttpResponse, web};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, detail, fastapi_body_failure};

pub struct Xagent;

impl Dialect for Xagent {
    const NAME: &'static str = "xagent";

    fn auth_failure(failure: AuthFailure) -> HttpResponse {
        let message = match failure {
            AuthFailure::Missing => "Not authenticated",
            AuthFailure::Invalid => "Invalid token",
        };
        let mut response = detail(StatusCode::UNAUTHORIZED, message);
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, actix_web::http::header::HeaderValue::from_static("Bearer"));
        response
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        fastapi_body_failure(failure)
    }
}

/// The dialect's routes, relative to its root (`/xagent` on the main listener).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
