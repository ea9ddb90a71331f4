//! `/api/models/…`: list, filter + page, retrieve, create-or-update, PATCH, PUT, DELETE.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::ContentType;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use modelgate_core::policy::may_share_public;
use modelgate_core::{
    Actor, Column, Ctx, DomainError, DomainResult, Entity, Model, ModelQuery, ModelRef,
    ModelUpdate, ModelView, NewModel, PageRequest, Registry, Sort, Source, UpsertModel,
};
use modelgate_http::routes::{call, path_or_fixed, stand_for};
use modelgate_http::{Caller, Deferred, Dialect, JsonBody, Services};
use serde::Serialize;
use serde_json::Value;

use crate::Respan;
use crate::errors::{Failing, domain_error, invalid_input, invalid_page};
use crate::input::{Mode, VIEW, model_body};
use crate::query::{
    self, include_inactive, page_ask, page_count, page_links, query_pairs, sort_by,
};
use crate::render::{CatalogEntry, Counts, Paged, Renderer, Summary, catalog_entry};

/// The model a request names: `{model_name}` from the path (already percent-decoded, so
/// `openai%2Fgpt-4o` and `openai/gpt-4o` name the same model; one trailing slash belongs to the
/// route), or the name [`named`] fixed for its literal path.
pub(crate) struct ModelName(String);

impl FromRequest for ModelName {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(path_or_fixed(req, payload).map(|raw| {
            ModelName(match raw.strip_suffix('/') {
                Some(name) => name.to_owned(),
                None => raw,
            })
        }))
    }
}

impl ModelName {
    fn into_inner(self) -> String {
        self.0
    }
}

/// Every method but POST on `/api/models/list/`: there `list` is a model's name, so GET, PATCH,
/// PUT and DELETE are that model's routes, answered exactly as on `/api/models/{model_name}/`.
pub(crate) async fn named_list(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    named("list", req, payload).await
}

/// Every method but POST on `/api/models/summary/`: the model called `summary` (as for `list`).
pub(crate) async fn named_summary(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    named("summary", req, payload).await
}

/// Every method but GET on `/api/models/public/`: the model called `public`. Its GET is the
/// public catalog, so such a model can be changed and deleted here but not read by name.
pub(crate) async fn named_public(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    named("public", req, payload).await
}

/// Answers a request on a fixed path as the model route of the model called `name`.
async fn named(name: &'static str, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    stand_for(&req, name);
    let mut payload = payload.into_inner();
    match *req.method() {
        Method::GET => call(retrieve, &req, &mut payload).await,
        Method::PATCH => call(patch, &req, &mut payload).await,
        Method::PUT => call(put, &req, &mut payload).await,
        Method::DELETE => call(delete, &req, &mut payload).await,
        _ => crate::method_not_allowed(req).await,
    }
}

/// A JSON body serialized inside the registry call, where the model and what it borrows from
/// (its bases, its provider) still live: no owned copy and no JSON tree is built for it.
struct Rendered(Vec<u8>);

impl Rendered {
    fn of(value: &impl Serialize) -> DomainResult<Self> {
        serde_json::to_vec(value).map(Self).map_err(|e| DomainError::internal("render", e))
    }

    fn respond(self, mut response: HttpResponseBuilder) -> HttpResponse {
        response.content_type(ContentType::json()).body(self.0)
    }
}

/// Renders one model (with its bases and provider) inside a registry call.
fn render_one(
    registry: &dyn Registry,
    ctx: &modelgate_core::Ctx,
    view: &ModelView,
) -> DomainResult<Rendered> {
    let renderer = Renderer::load(registry, ctx, &[&view.model], None)?;
    Rendered::of(&renderer.model(&view.model))
}

/// A model read with its base ([`Registry::get_model_with_base`]), rendered.
fn render_with_base(
    registry: &dyn Registry,
    ctx: &modelgate_core::Ctx,
    (view, base): (ModelView, Option<ModelView>),
) -> DomainResult<Rendered> {
    let known = base.map(|base| base.model).into_iter().collect();
    let renderer = Renderer::load_knowing(registry, ctx, &[&view.model], None, known)?;
    Rendered::of(&renderer.model(&view.model))
}

/// `GET /api/models/`: built-in and the caller's custom models, as a bare array.
pub(crate) async fn list(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
) -> HttpResponse {
    let pairs = query_pairs(&req);
    let sort = match sort_by(&pairs) {
        Ok(sort) => sort,
        Err(issues) => return invalid_input(&issues),
    };
    let mut query = ModelQuery { sort, ..ModelQuery::default() };
    if !include_inactive(&pairs) {
        query.conditions.push(query::active_only());
    }
    let ctx = caller.ctx;
    let result = services
        .call(move |r| {
            let page = r.list_models(&ctx, &query)?;
            let models: Vec<&Model> = page.items.iter().map(|v| &v.model).collect();
            let renderer = Renderer::load(r, &ctx, &models, None)?;
            Rendered::of(&models.iter().map(|m| renderer.model(m)).collect::<Vec<_>>())
        })
        .await;
    match result {
        Ok(models) => models.respond(HttpResponse::Ok()),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}

struct Listed {
    page: i64,
    total: i64,
    results: Vec<Value>,
}

/// `POST /api/models/list/`: filters in the body, `page`/`page_size`/`sort_by` in the query.
pub(crate) async fn filter(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    let pairs = query_pairs(&req);
    let sort = match sort_by(&pairs) {
        Ok(sort) => sort,
        Err(issues) => return invalid_input(&issues),
    };
    let Some(ask) = page_ask(&pairs) else { return invalid_page() };
    let filters = match query::filters(&body.into_inner()) {
        Ok(filters) => filters,
        Err(issues) => return invalid_input(&issues),
    };
    let current = Value::Object(filters.current.clone());
    let mut conditions = filters.conditions.clone();
    if !include_inactive(&pairs) {
        conditions.push(query::active_only());
    }
    let size = ask.size;
    let ctx = caller.ctx;
    let result = services
        .call(move |r| {
            let providers = if filters.needs_providers() {
                let providers = r.list_providers(&ctx)?;
                conditions.extend(filters.provider_conditions(&providers));
                Some(providers)
            } else {
                None
            };
            let page = match ask.page {
                Some(page) => page,
                None => {
                    let count = ModelQuery {
                        conditions: conditions.clone(),
                        page: Some(PageRequest { offset: 0, limit: 0 }),
                        ..ModelQuery::default()
                    };
                    page_count(r.list_models(&ctx, &count)?.total, size)
                }
            };
            let query = ModelQuery {
                conditions,
                sort,
                page: Some(PageRequest { offset: (page - 1).saturating_mul(size), limit: size }),
                ..ModelQuery::default()
            };
            let found = r.list_models(&ctx, &query)?;
            let models: Vec<&Model> = found.items.iter().map(|v| &v.model).collect();
            let renderer = Renderer::load(r, &ctx, &models, providers)?;
            let results = models
                .iter()
                .map(|m| serde_json::to_value(renderer.model(m)))
                .collect::<Result<_, _>>()
                .map_err(|e| DomainError::internal("render", e))?;
            Ok(Listed { page, total: found.total, results })
        })
        .await;
    let listed = match result {
        Ok(listed) => listed,
        Err(e) => return domain_error(&e, &Failing::modify()),
    };
    // A page after the last one is an empty page, not DRF's 404 (see `page_links`).
    let (next, previous) = page_links(&req, &pairs, listed.page, size, listed.total);
    HttpResponse::Ok().json(Paged {
        count: listed.total,
        next,
        previous,
        results: listed.results,
        current_filters: Some(current),
    })
}

/// `POST /api/models/summary/`: how many models match the filters of `/api/models/list/` (same
/// body, same validation, inactive models left out unless `all=true`), built-in and custom
/// apart. Only totals are asked of the registry (pages of size 0): no model is loaded.
pub(crate) async fn summary(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    let pairs = query_pairs(&req);
    let filters = match query::filters(&body.into_inner()) {
        Ok(filters) => filters,
        Err(issues) => return invalid_input(&issues),
    };
    let mut conditions = filters.conditions.clone();
    if !include_inactive(&pairs) {
        conditions.push(query::active_only());
    }
    let ctx = caller.ctx;
    let result = services
        .call(move |r| {
            if filters.needs_providers() {
                conditions.extend(filters.provider_conditions(&r.list_providers(&ctx)?));
            }
            let count = |source: Source| -> DomainResult<i64> {
                let query = ModelQuery {
                    conditions: conditions.clone(),
                    source: Some(source),
                    page: Some(PageRequest { offset: 0, limit: 0 }),
                    ..ModelQuery::default()
                };
                Ok(r.list_models(&ctx, &query)?.total)
            };
            let global_count = count(Source::Builtin)?;
            let custom_count = count(Source::Custom)?;
            Ok(Counts { total_count: global_count + custom_count, global_count, custom_count })
        })
        .await;
    match result {
        Ok(counts) => HttpResponse::Ok().json(Summary { summary: counts }),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}

#[derive(Serialize)]
struct PublicCatalog {
    models: Vec<CatalogEntry>,
}

/// `GET /api/models/public/`: the active built-in models by name, as `{"models": [..]}` or,
/// with `unnest=true`, a bare array. Upstream serves it without login and so does modelgate:
/// it is public catalog data only, so no key is asked for and any `Authorization` header is
/// ignored.
pub(crate) async fn public(req: HttpRequest, services: web::Data<Services>) -> HttpResponse {
    let unnest = query::truthy(&query_pairs(&req), "unnest");
    let ctx = Ctx::new(Actor::anonymous(), Respan::NAME);
    let query = ModelQuery {
        conditions: vec![query::active_only()],
        source: Some(Source::Builtin),
        sort: vec![Sort::asc(Column::Key)],
        ..ModelQuery::default()
    };
    let result = services
        .call(move |r| {
            let page = r.list_models(&ctx, &query)?;
            Ok(page.items.iter().map(|v| catalog_entry(&v.model)).collect::<Vec<_>>())
        })
        .await;
    match result {
        Ok(models) if unnest => HttpResponse::Ok().json(models),
        Ok(models) => HttpResponse::Ok().json(PublicCatalog { models }),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}

/// `GET /api/models/{model_name}/`.
pub(crate) async fn retrieve(
    name: ModelName,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
) -> HttpResponse {
    let name = name.into_inner();
    let ctx = caller.ctx;
    let result = services
        .read(move |r| {
            let read = r.get_model_with_base(&ctx, &ModelRef::Key(name.clone()))?;
            render_with_base(r, &ctx, read)
        })
        .await;
    match result {
        Ok(model) => model.respond(HttpResponse::Ok()),
        Err(e) => domain_error(&e, &Failing::modify()),
    }
}

/// A body with problems aimed at a model the caller may not change: like DRF, the missing
/// object (404) or the refusal (403) is the answer, not the body's problems.
async fn refuse_first(
    services: &web::Data<Services>,
    ctx: modelgate_core::Ctx,
    name: String,
    issues: Vec<modelgate_http::input::Issue>,
    failing: &Failing,
) -> HttpResponse {
    match services.call(move |r| r.get_model(&ctx, &ModelRef::Key(name))).await {
        Ok(view) if view.model.is_builtin() => {
            domain_error(&DomainError::Denied(modelgate_core::Denied::Builtin), failing)
        }
        Ok(view) if !view.rights.write => {
            domain_error(&DomainError::Denied(modelgate_core::Denied::Write), failing)
        }
        Ok(_) => invalid_input(&issues),
        Err(e) => domain_error(&e, failing),
    }
}

async fn update(
    name: ModelName,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
    mode: Mode,
) -> HttpResponse {
    let name = name.into_inner();
    let body = body.into_inner();
    let parsed = match model_body(&body, mode) {
        Ok(parsed) => parsed,
        Err(issues) => {
            return refuse_first(&services, caller.ctx, name, issues, &Failing::modify()).await;
        }
    };
    let update = match mode {
        Mode::Put => ModelUpdate::replace(VIEW, parsed.change),
        _ => ModelUpdate::patch(parsed.change),
    };
    let ctx = caller.ctx;
    let result = services
        .call(move |r| {
            let view = r.update_model(&ctx, &ModelRef::Key(name), update)?;
            render_one(r, &ctx, &view)
        })
        .await;
    match result {
        Ok(model) => model.respond(HttpResponse::Ok()),
        Err(e) => domain_error(&e, &parsed.failing),
    }
}

/// `PATCH /api/models/{model_name}/`: only the sent fields change.
pub(crate) async fn patch(
    name: ModelName,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    update(name, services, caller, body, Mode::Patch).await
}

/// `PUT /api/models/{model_name}/`: every editable field is replaced.
pub(crate) async fn put(
    name: ModelName,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    update(name, services, caller, body, Mode::Put).await
}

/// `DELETE /api/models/{model_name}/`: 204 with an empty body.
pub(crate) async fn delete(
    name: ModelName,
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
) -> HttpResponse {
    let name = name.into_inner();
    let ctx = caller.ctx;
    match services.call(move |r| r.delete_model(&ctx, &ModelRef::Key(name))).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => domain_error(&e, &Failing::delete()),
    }
}

/// `POST /api/models/`: creates the model (201), or updates the sent fields of the caller's
/// model of that name (200).
pub(crate) async fn create(
    services: web::Data<Services>,
    caller: Caller<Respan, Deferred>,
    body: JsonBody<Respan>,
) -> HttpResponse {
    let parsed = match model_body(&body.into_inner(), Mode::Upsert) {
        Ok(parsed) => parsed,
        Err(issues) => return invalid_input(&issues),
    };
    let (key, change) = (parsed.key, parsed.change);
    let ctx = caller.ctx;
    let result = services
        .call(move |r| {
            // Respan models belong to the whole organisation: an admin's new model is readable by
            // every member. Others create models only they (and admins) see, as the policy says.
            if may_share_public(&ctx.actor) {
                let mut public = change.clone();
                public.public = Some(true);
                match r.create_model(&ctx, NewModel { key: key.clone(), change: public }) {
                    Ok(view) => return Ok((true, render_one(r, &ctx, &view)?)),
                    Err(DomainError::Conflict { entity: Entity::Model, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let upserted = r
                .upsert_model(&ctx, UpsertModel { key: key.clone(), replace: None, change })
                .map_err(|e| match e {
                    // The name is taken by a model the caller cannot see.
                    DomainError::NotFound(Entity::Model) => {
                        DomainError::Conflict { entity: Entity::Model, value: key }
                    }
                    other => other,
                })?;
            Ok((upserted.created, render_one(r, &ctx, &upserted.view)?))
        })
        .await;
    match result {
        Ok((true, model)) => model.respond(HttpResponse::Created()),
        Ok((false, model)) => model.respond(HttpResponse::Ok()),
        Err(e) => domain_error(&e, &parsed.failing),
    }
}
