//! `/api/providers/…`: the org's custom providers. `api_key` is write-only; credential-bearing
//! `extra_kwargs` values are answered masked. Who may do what is core's provider policy: every
//! user of the org reads, the owner (with a role that writes) or an org admin changes and
//! deletes; refusals are DRF's 403.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::ProviderRef;
use modelgate_http::{Caller, Deferred, JsonBody, Services};
use serde_json::Value;

use crate::Respan;
use crate::errors::{Failing, domain_error, invalid_input, invalid_page, not_found};
use crate::input::{new_provider, provider_change};
use crate::query::{page_ask, page_count, page_links, query_pairs};
use crate::render::{self, Paged};

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

/// `GET /api/providers/?page=&page_size=`: DRF's page envelope, oldest first, paged like the
/// model filter (a page after the last one is empty, not a 404: see `query::page_links`).
pub(crate) async fn list(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
) -> HttpResponse {
    let pairs = query_pairs(&req);
    // `page=last` is accepted here as on the model filter.
    let Some(ask) = page_ask(&pairs) else { return invalid_page() };
    let ctx = caller.ctx;
    // The registry lists an org's providers whole (they are few): the page is cut here.
    let providers = match services.call(move |r| r.list_providers(&ctx)).await {
        Ok(providers) => providers,
        Err(e) => return domain_error(&e, &Failing::modify()),
    };
    let total = i64::try_from(providers.len()).unwrap_or(i64::MAX);
    let page = ask.page.unwrap_or_else(|| page_count(total, ask.size));
    let skip = usize::try_from((page - 1).saturating_mul(ask.size)).unwrap_or(usize::MAX);
    let take = usize::try_from(ask.size).unwrap_or(0);
    let results = providers.iter().skip(skip).take(take).map(render::provider).collect();
    let (next, previous) = page_links(&req, &pairs, page, ask.size, total);
    HttpResponse::Ok().json(Paged { count: total, next, previous, results, current_filters: None })
}

/// `POST /api/providers/`: 201; an existing `provider_id` is a 400 field error.
pub(crate) async fn create(
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
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
    caller: Caller<Respan, Deferred>,
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
    caller: Caller<Respan, Deferred>,
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

/// `PATCH /api/providers/{provider_id}/`: the sent fields change (`extra_kwargs` as a whole; a
/// masked credential sent back as it was answered keeps the stored secret).
pub(crate) async fn patch(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    change(path, services, caller, body, false).await
}

/// `PUT /api/providers/{provider_id}/`: `provider_name` and `extra_kwargs` are replaced.
pub(crate) async fn put(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    change(path, services, caller, body, true).await
}

/// `DELETE /api/providers/{provider_id}/`: 204; models that used it lose the reference. When a
/// model the caller may not write uses it, 403 and nothing changes.
pub(crate) async fn delete(
    path: web::Path<String>,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
) -> HttpResponse {
    let Some(reference) = slug(path) else { return not_found() };
    let ctx = caller.ctx;
    match services.call(move |r| r.delete_provider(&ctx, &reference)).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}
