//! The `openwebui` dialect: Open WebUI's workspace-model API (`/api/models`, `/api/v1/models`).
//! FastAPI conventions: errors are `{"detail": "..."}`, validation errors 422 in pydantic v2 shape.

mod errors;
mod handlers;
mod wire;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_http::{AuthFailure, BodyFailure, Dialect, detail, fastapi_body_failure};

pub struct OpenWebUi;

impl Dialect for OpenWebUi {
    const NAME: &'static str = wire::DIALECT;

    fn auth_failure(_: AuthFailure) -> HttpResponse {
        detail(StatusCode::UNAUTHORIZED, "Not authenticated")
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        fastapi_body_failure(failure)
    }
}

/// The dialect's routes, relative to its root (`/openwebui` on the main listener). The seeds
/// document `/api/models/…`; Open WebUI itself (and its frontend) uses `/api/v1/models/…`.
/// Model ids may contain `/`, so they never travel in a path segment: body or `?id=`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use handlers as h;
    for prefix in ["/api/models", "/api/v1/models"] {
        let at = |path: &str| web::resource(format!("{prefix}{path}"));
        cfg.service(at("").get(h::list_legacy))
            .service(at("/").get(h::list_legacy))
            .service(at("/list").get(h::list))
            .service(at("/base").get(h::base))
            .service(at("/tags").get(h::tags))
            .service(at("/create").post(h::create))
            .service(at("/export").get(h::export))
            .service(at("/import").post(h::import))
            .service(at("/model").get(h::get))
            .service(at("/model/toggle").post(h::toggle))
            .service(at("/model/update").post(h::update))
            .service(at("/model/access/update").post(h::update_access))
            .service(at("/model/delete").post(h::delete).delete(h::delete_by_query));
    }
}
