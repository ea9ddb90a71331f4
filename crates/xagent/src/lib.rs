//! The `xagent` dialect: Xagent's model-management API (`/api/models`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.
//!
//! Built-in catalog models are not listed (Xagent has no catalog): they answer `GET` by id or
//! `model_id` read-only and refuse every write with 403.

pub mod abilities;
mod errors;
mod handlers;
pub mod render;
pub mod request;

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
///
/// Fixed paths come before `/{model_id}` so that `categories`, `summary`… are never read as ids.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    for root in ["/api/models", "/api/models/"] {
        cfg.service(web::resource(root).get(list).post(create));
    }
    cfg.service(web::resource("/api/models/register").post(create))
        .service(web::resource("/api/models/categories").get(categories))
        .service(web::resource("/api/models/providers").get(providers))
        .service(web::resource("/api/models/abilities").get(abilities_list))
        .service(web::resource("/api/models/summary").get(summary))
        .service(web::resource("/api/models/user-default").get(list_defaults).post(set_default))
        .service(
            web::resource("/api/models/user-default/{config_type}")
                .get(get_default)
                .delete(delete_default),
        )
        .service(
            web::resource("/api/models/by-id/{model_id:.+}")
                .get(get_model)
                .put(update_model)
                .delete(delete_model),
        )
        .service(
            web::resource("/api/models/{model_id}")
                .get(get_model)
                .put(update_model)
                .delete(delete_model),
        );
}
