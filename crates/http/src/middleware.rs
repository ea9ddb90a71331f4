//! Middleware every listener uses: request ids with structured request logs, and a JSON body on
//! every error response.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{HttpMessage, HttpResponse};
use serde_json::json;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, also available to handlers as a request extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A caller's id is kept when it is short and printable; otherwise a fresh uuid is used.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| value.to_owned())
}

/// Gives every request an id (the caller's `X-Request-Id`, or a new one), runs it inside a span
/// carrying that id so every log line of the request has it, logs one line when it finishes,
/// and returns the id in the `X-Request-Id` response header.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = incoming_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // The path only: query strings may carry values that do not belong in logs.
    // Who is asking is filled in once the key is checked (see `auth`); never the key itself.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        dialect = tracing::field::Empty,
        user = tracing::field::Empty,
        org = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            span.in_scope(|| tracing::warn!(error = %error, elapsed_ms, "request failed"));
            return Err(error);
        }
    };
    let status = response.status().as_u16();
    span.in_scope(|| tracing::info!(status, elapsed_ms, "request finished"));
    crate::metrics::record_request(response.request(), status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

fn is_json(response: &ServiceResponse<impl MessageBody>) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"))
}

/// For `ErrorHandlers::default_handler`: an error response that is not JSON (actix's own
/// answers to unroutable methods, bad paths and the like) gets `{"detail": <reason>}`.
pub fn json_error_body<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if is_json(&response) {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    let (request, original) = response.into_parts();
    let mut replacement = HttpResponse::build(status).json(json!({ "detail": reason }));
    // Keep headers such as `Allow` and `WWW-Authenticate`.
    for (name, value) in original.headers() {
        if name != CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
            replacement.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let response = ServiceResponse::new(request, replacement).map_into_boxed_body();
    Ok(ErrorHandlerResponse::Response(response.map_body(|_, body| EitherBody::right(body))))
}
