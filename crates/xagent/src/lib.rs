//! The `xagent` dialect: Xagent's model-management API (`/api/models`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.
//!
//! Built-in catalog models are not listed (Xagent has no catalog): they answer `GET` by id or
//! `model_id` read-only and refuse every write with 403.

pub mod abilities;
mod connection;
mod errors;
mod handlers;
pub mod providers;
pub mod render;
pub mod request;

use actix_web::http::StatusCode;
use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use modelgate_http::routes::{Routes, openapi_document};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, detail, fastapi_body_failure};

pub struct Xagent;

impl Dialect for Xagent {
    const NAME: &'static str = "xagent";

    fn auth_failure(failure: AuthFailure) -> HttpResponse {
        let message = match failure {
            AuthFailure::Missing => "Not authenticated",
            AuthFailure::Invalid => "Invalid token",
        };
        // The shared authentication adds `WWW-Authenticate: Bearer`, as Xagent sends it.
        detail(StatusCode::UNAUTHORIZED, message)
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        fastapi_body_failure(failure)
    }
}

/// The dialect's OpenAPI document (`openapi.json`), served at `/openapi.json`.
static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../openapi.json")).unwrap_or_default());

/// Every route of the dialect: mounted by `configure`, documented in openapi.json. Paths are
/// relative to the dialect's root (`/xagent` on the main listener).
///
/// Fixed paths come before `/{model_id}` so that `categories`, `summary`, `auto-config`… are
/// never read as ids (first match wins).
pub fn routes() -> Routes {
    use handlers::*;
    Routes::new()
        .resource(["/api/models", "/api/models/"], |r| r.get(list).post(create))
        .resource(["/api/models/register"], |r| r.post(create))
        .resource(["/api/models/categories"], |r| r.get(categories))
        .resource(["/api/models/providers"], |r| r.get(providers))
        .resource(["/api/models/providers/supported"], |r| r.get(supported_providers))
        .resource(["/api/models/providers/{provider}/models"], |r| {
            r.post(connection::provider_models)
        })
        .resource(["/api/models/test-connection"], |r| r.post(connection::test_connection))
        .resource(["/api/models/auto-config"], |r| r.get(auto_config).put(auto_router_unavailable))
        .resource(["/api/models/auto-config/profiles"], |r| r.get(auto_router_unavailable))
        .resource(["/api/models/default/{config_type}"], |r| r.get(system_default))
        .resource(["/api/models/abilities"], |r| r.get(abilities_list))
        .resource(["/api/models/summary"], |r| r.get(summary))
        .resource(["/api/models/user-default"], |r| r.get(list_defaults).post(set_default))
        .resource(["/api/models/user-default/{config_type}"], |r| {
            r.get(get_default).delete(delete_default)
        })
        .resource(["/api/models/by-id/{model_id:.+}"], |r| {
            r.get(get_model).put(update_model).delete(delete_model)
        })
        .resource(["/api/models/{model_id}"], |r| {
            r.get(get_model).put(update_model).delete(delete_model)
        })
        .resource(["/openapi.json"], |r| r.get(openapi_document(&DOCUMENT)))
}

/// Mounts [`routes`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes().register(cfg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_parses() {
        let parsed: Result<serde_json::Value, _> =
            serde_json::from_str(include_str!("../openapi.json"));
        assert!(parsed.is_ok_and(|doc| doc["openapi"] == "3.1.0"));
    }
}
