//! The `respan` dialect: Respan's (Keywords AI) custom-model and provider API (`/api`).
//! Django REST framework conventions: `{"detail": "..."}` errors, field errors as
//! `{"field": ["message"]}` with status 400, and an empty body read as `{}`.

mod errors;
mod input;
mod models;
mod providers;
mod query;
mod render;

use std::sync::LazyLock;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_http::routes::{Routes, openapi_document};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, NulFound, detail};

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

    /// Django's sentence: on the body's fields as field errors, as `detail` for the URL.
    fn nul_refused(found: &[NulFound]) -> HttpResponse {
        use modelgate_http::nul::{NUL_SENTENCE, Place, drf_body};
        if found.iter().all(|f| f.place == Place::Body) {
            HttpResponse::BadRequest().json(drf_body(found))
        } else {
            detail(StatusCode::BAD_REQUEST, NUL_SENTENCE)
        }
    }

    fn unknown_path() -> HttpResponse {
        detail(StatusCode::NOT_FOUND, "Not found.")
    }
}

/// DRF's answer to a method a path does not take.
pub(crate) async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    detail(StatusCode::METHOD_NOT_ALLOWED, format!("Method \"{}\" not allowed.", req.method()))
}

/// The OpenAPI document of the dialect (`crates/respan/openapi.json`), served at `/openapi.json`.
static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../openapi.json")).unwrap_or_default());

/// Every route of the dialect: mounted by `configure`, documented in openapi.json.
///
/// Paths are relative to the dialect's root (`/respan` on the main listener) and each one works
/// with and without its trailing slash. Model names may contain `/`, so a model path is
/// everything after `/api/models/`. The fixed `/api/models/list/` comes first: POST there is the
/// filter endpoint, and every other method is the model called `list` (its GET, PATCH, PUT and
/// DELETE are answered as on any model path), so such a model still works. The same goes for
/// `/api/models/summary/` (POST counts models). `/api/models/public/` is the public catalog for
/// GET, so a model called `public` can be changed or deleted but no longer read by name.
/// `/api/models/{name}/status/` (uptime metrics upstream) is not served: it is not model
/// management, and reads as the model called `{name}/status`.
pub fn routes() -> Routes {
    // What a fixed path's fallback serves as the model of that name (see `models::named`).
    const NAMED: [Method; 4] = [Method::GET, Method::PUT, Method::PATCH, Method::DELETE];
    Routes::new()
        .resource(["/api/models", "/api/models/"], |r| {
            r.get(models::list).post(models::create).fallback(method_not_allowed)
        })
        .resource(["/api/models/list", "/api/models/list/"], |r| {
            r.post(models::filter).fallback(models::named_list).allows(&NAMED)
        })
        .resource(["/api/models/summary", "/api/models/summary/"], |r| {
            r.post(models::summary).fallback(models::named_summary).allows(&NAMED)
        })
        .resource(["/api/models/public", "/api/models/public/"], |r| {
            r.get(models::public).fallback(models::named_public).allows(&NAMED)
        })
        .resource(["/api/models/{model_name:.+}"], |r| {
            r.get(models::retrieve)
                .patch(models::patch)
                .put(models::put)
                .delete(models::delete)
                .fallback(method_not_allowed)
        })
        .resource(["/api/providers", "/api/providers/"], |r| {
            r.get(providers::list).post(providers::create).fallback(method_not_allowed)
        })
        .resource(["/api/providers/{provider_id:.+}"], |r| {
            r.get(providers::retrieve)
                .patch(providers::patch)
                .put(providers::put)
                .delete(providers::delete)
                .fallback(method_not_allowed)
        })
        .resource(["/openapi.json"], |r| {
            r.get(openapi_document(&DOCUMENT)).fallback(method_not_allowed)
        })
}

/// Mounts [`routes`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes().register(cfg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_parses() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"].as_object().is_some_and(|p| !p.is_empty()));
        assert_eq!(*super::DOCUMENT, document);
    }
}
