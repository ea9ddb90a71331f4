//! The `openwebui` dialect: Open WebUI's workspace-model API (`/api/models`, `/api/v1/models`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

mod errors;
mod handlers;
mod wire;

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_http::routes::{Routes, openapi_document};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, NulFound, detail, fastapi_body_failure};

pub struct OpenWebUi;

impl Dialect for OpenWebUi {
    const NAME: &'static str = wire::DIALECT;

    fn auth_failure(_: AuthFailure) -> HttpResponse {
        detail(StatusCode::UNAUTHORIZED, "Not authenticated")
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        fastapi_body_failure(failure)
    }

    fn nul_refused(found: &[NulFound]) -> HttpResponse {
        errors::invalid_input(&modelgate_http::nul::issues(found))
    }
}

/// Both path families of one route: the seeds document `/api/models/…`; Open WebUI itself (and
/// its frontend) uses `/api/v1/models/…`.
macro_rules! families {
    ($($path:literal),+) => {
        [$(concat!("/api/models", $path), concat!("/api/v1/models", $path)),+]
    };
}

/// The OpenAPI document of the dialect (`openapi.json` next to `Cargo.toml`).
static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../openapi.json")).unwrap_or_default());

/// Every route of the dialect: mounted by `configure`, documented in openapi.json. Paths are
/// relative to the dialect's root (`/openwebui` on the main listener), each route under both
/// families. Model ids may contain `/`, so they never travel in a path segment: body or `?id=`.
pub fn routes() -> Routes {
    use handlers as h;
    Routes::new()
        .resource(families!("", "/"), |r| r.get(h::list_legacy))
        .resource(families!("/list"), |r| r.get(h::list))
        .resource(families!("/all"), |r| r.get(h::all))
        .resource(families!("/base"), |r| r.get(h::base))
        .resource(families!("/base/tags"), |r| r.get(h::base_tags))
        .resource(families!("/tags"), |r| r.get(h::tags))
        .resource(families!("/create"), |r| r.post(h::create))
        .resource(families!("/export"), |r| r.get(h::export))
        .resource(families!("/import"), |r| r.post(h::import))
        .resource(families!("/model"), |r| r.get(h::get))
        .resource(families!("/model/toggle"), |r| r.post(h::toggle))
        .resource(families!("/model/update"), |r| r.post(h::update))
        .resource(families!("/model/access/update"), |r| r.post(h::update_access))
        .resource(families!("/model/delete"), |r| r.post(h::delete).delete(h::delete_by_query))
        .resource(families!("/delete/all"), |r| r.delete(h::delete_all))
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
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(*super::DOCUMENT, document);
    }
}
