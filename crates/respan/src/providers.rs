//! `/api/providers/…`: the org's custom providers. `api_key` is write-only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_core::ProviderRef;
use modelgate_http::{Caller, JsonBody, Services};
use serde_json::Value;

use crate::Respan;
use crate::errors::{Failing, domain_error, invalid_input, not_found};
use crate::input::{new_provider, provider_change};
use crate::render;

/// The `provider_id` slug from the path (one trailing slash belongs to the route). Slugs never
/// contain `/`, so a path that still does names no provider.
fn slug(path: web::Path<String>) -> Option<ProviderRef> {
    let raw = path.into_inner();
    let slug = raw.strip_suffix('/').unwrap_or(&raw);
    (!slug.is_empty() && !slug.contains('/')).then(|| ProviderRef::Slug(slug.to_owned()))
}

fn answer(result: modelgate_core::DomainResult<Value>, status: StatusCode) -> HttpResponse {
    match result {
        Ok(value) => HttpResponse::build(status).json(value),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}

/// `GET /api/providers/`: a bare array, oldest first.
pub(crate) async fn list(services: web::Data<Services>, caller: Caller<Respan>) -> HttpResponse {
    let ctx = caller.ctx;
    let result = services
        .call(move |r| {
            Ok(Value::Array(r.list_providers(&ctx)?.iter().map(render::provider).collect()))
        })
        .await;
    answer(result, StatusCode::OK)
}

/// `POST /api/providers/`: 201; an existing `provider_id` is a 400 field error.
pub(crate) async fn create(
    services: web::Data<Services>,
    caller: Caller<Respan>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    let new = match new_provider(&body.into_inner()) {
        Ok(new) => new,
        Err(issues) => return invalid_input(&issues),
    };
    let ctx = caller.ctx;
    let result = services.call(move |r| Ok(render::provider(&r.create_provider(&ctx, new)?))).await;
    answer(result, StatusCode::CREATED)
}

pub(crate) async fn retrieve(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan>,
) -> HttpResponse {
    let Some(reference) = slug(path) else { return not_found() };
    let ctx = caller.ctx;
    let result =
        services.call(move |r| Ok(render::provider(&r.get_provider(&ctx, &reference)?))).await;
    answer(result, StatusCode::OK)
}

async fn change(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan>,
    body: JsonBody<Respan>,
    put: bool,
) -> HttpResponse {
    let Some(reference) = slug(path) else { return not_found() };
    let change = match provider_change(&body.into_inner(), put) {
        Ok(change) => change,
        Err(issues) => return invalid_input(&issues),
    };
    let ctx = caller.ctx;
    let result = services
        .call(move |r| Ok(render::provider(&r.update_provider(&ctx, &reference, change)?)))
        .await;
    answer(result, StatusCode::OK)
}

/// `PATCH /api/providers/{provider_id}/`: the sent fields change (`extra_kwargs` as a whole).
pub(crate) async fn patch(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    change(path, services, caller, body, false).await
}

/// `PUT /api/providers/{provider_id}/`: `provider_name` and `extra_kwargs` are replaced.
pub(crate) async fn put(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    change(path, services, caller, body, true).await
}

/// `DELETE /api/providers/{provider_id}/`: 204; models that used it lose the reference.
pub(crate) async fn delete(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan>,
) -> HttpResponse {
    let Some(reference) = slug(path) else { return not_found() };
    let ctx = caller.ctx;
    match services.call(move |r| r.delete_provider(&ctx, &reference)).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}
