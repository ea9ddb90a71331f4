//! The `respan` dialect: Respan's (Keywords AI) custom-model and provider API (`/api`).
//! Django REST framework conventions: `{"detail": "..."}` errors, field errors as
//! `{"field": ["message"]}` with status 400, and an empty body read as `{}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
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

/// The dialect's routes, relative to its root (`/respan` on the main listener).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
