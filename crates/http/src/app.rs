//! The actix application every listener runs: shared state, middleware and the JSON fallbacks.
//! The server and the test suites both build their apps here, so tests run the real stack.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Compress, ErrorHandlers, from_fn};
use actix_web::{App, Scope, web};

use crate::Dialect;
use crate::Services;
use crate::auth::confirm_remembered_caller;
use crate::cors::{self, CorsOrigins};
use crate::metrics::DialectLabel;
use crate::middleware::{json_error_body, request_id};

/// An app with the shared services, request ids, CORS for `origins` and JSON error bodies;
/// callers add routes with `.configure(…)`. Unmatched paths answer a JSON 404.
pub fn build(
    services: web::Data<Services>,
    origins: CorsOrigins,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(services)
        .default_service(web::to(|| async {
            crate::detail(actix_web::http::StatusCode::NOT_FOUND, "Not Found")
        }))
        // Innermost: what it may put in place of an answer is the dialect's own, final body.
        .wrap(from_fn(confirm_remembered_caller))
        // Inside the JSON error bodies, so that its refusals of preflights become JSON too (the
        // conversion keeps its headers), and inside the request ids.
        .wrap(cors::middleware(&origins))
        .wrap(ErrorHandlers::new().default_handler(json_error_body))
        // Outside the error bodies, so what is sent is compressed as finally written; only for
        // callers that ask (`Accept-Encoding: gzip`).
        .wrap(Compress::default())
        .wrap(from_fn(request_id))
}

/// A dialect's routes under `prefix`; paths under it that the dialect does not serve get the
/// dialect's own 404. With an empty prefix this is a dialect at the root of its own listener
/// (`MODELGATE_<DIALECT>_LISTEN`).
pub fn mount<D: Dialect>(
    prefix: &'static str,
    configure: impl FnOnce(&mut web::ServiceConfig),
) -> Scope {
    web::scope(prefix)
        .app_data(DialectLabel { name: D::NAME, prefix })
        .configure(configure)
        .default_service(web::to(|| async { D::unknown_path() }))
}
