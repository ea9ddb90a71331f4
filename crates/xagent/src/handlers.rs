//! Request handlers: parse, call the registry on the blocking pool, render.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::{
    Column, Condition, DomainResult, ModelQuery, ModelUpdate, ModelView, NewModel, Op, PageRequest,
    Value as QueryValue,
};
use modelgate_http::stream::scan_all;
use modelgate_http::{Caller, Deferred, JsonBody, Services, detail};
use serde_json::{Map, Value, json};

use crate::Xagent;
use crate::abilities::{abilities_of, category_of};
use crate::errors::{Doing, domain};
use crate::render::{DefaultOut, ModelOut};
use crate::request::{self, category_for_config_type, default_lookup_type, model_ref};

type XCaller = Caller<Xagent, Deferred>;
type XBody = JsonBody<Xagent>;

fn model_response(view: &ModelView) -> HttpResponse {
    HttpResponse::Ok().json(ModelOut::of(view))
}

pub async fn create(services: web::Data<Services>, caller: XCaller, body: XBody) -> HttpResponse {
    let body = body.into_inner();
    let create = match request::create(&body) {
        Ok(create) => create,
        Err(refusal) => return refusal.render(),
    };
    let ctx = caller.ctx;
    let new = NewModel { key: create.key, change: create.change };
    // Core refuses a taken id before it looks at sharing, as Xagent does, and writes nothing
    // when either is refused.
    match services.call(move |r| r.create_model(&ctx, new)).await {
        Ok(view) => model_response(&view),
        Err(e) => domain(&e, Doing::Create, Some(&body)),
    }
}

pub async fn list(
    services: web::Data<Services>,
    caller: XCaller,
    req: HttpRequest,
) -> HttpResponse {
    let q = match request::list_query(req.query_string()) {
        Ok(q) => q,
        Err(refusal) => return refusal.render(),
    };
    let mut query = ModelQuery::custom_only().filter(Condition::column(
        Column::IsActive,
        Op::Eq,
        QueryValue::Bool(q.is_active),
    ));
    if let Some(provider) = &q.provider {
        query = query.filter(Condition::column(
            Column::Provider,
            Op::Eq,
            QueryValue::Text(provider.clone()),
        ));
    }
    // A model without a category shows as "llm", which a column filter cannot express: that one
    // filter (and its paging) is applied here.
    let llm_filter = q.category.as_deref() == Some(crate::abilities::DEFAULT_CATEGORY);
    if let Some(category) = q.category.as_ref().filter(|_| !llm_filter) {
        query = query.filter(Condition::column(
            Column::Category,
            Op::Eq,
            QueryValue::Text(category.clone()),
        ));
    }
    let ctx = caller.ctx;
    let found = if llm_filter {
        // Read in batches, keeping only the page: memory does not grow with the models skipped.
        let mut skip = usize::try_from(q.skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(q.limit).unwrap_or(0);
        services
            .call(move |r| {
                let mut page = Vec::new();
                scan_all(r, &ctx, &query, |batch| {
                    let llm = batch.into_iter().filter(|v| {
                        category_of(&v.model.fields) == crate::abilities::DEFAULT_CATEGORY
                    });
                    for view in llm {
                        if page.len() == limit {
                            break;
                        }
                        if skip > 0 {
                            skip -= 1;
                        } else {
                            page.push(view);
                        }
                    }
                    page.len() < limit
                })?;
                Ok(page)
            })
            .await
    } else {
        query.page = Some(PageRequest { offset: q.skip, limit: q.limit });
        services.call(move |r| r.list_models(&ctx, &query)).await.map(|page| page.items)
    };
    match found {
        Ok(items) => HttpResponse::Ok().json(items.iter().map(ModelOut::of).collect::<Vec<_>>()),
        Err(e) => domain(&e, Doing::Read, None),
    }
}

/// The raw id of a `/{model_id}` or `/by-id/{model_id:path}` request.
fn path_ref(req: &HttpRequest) -> modelgate_core::ModelRef {
    model_ref(req.match_info().get("model_id").unwrap_or_default())
}

pub async fn get_model(
    services: web::Data<Services>,
    caller: Caller<Xagent, Deferred>,
    req: HttpRequest,
) -> HttpResponse {
    let reference = path_ref(&req);
    let ctx = caller.ctx;
    match services.read(move |r| r.get_model(&ctx, &reference)).await {
        Ok(view) => model_response(&view),
        Err(e) => domain(&e, Doing::Read, None),
    }
}

pub async fn update_model(
    services: web::Data<Services>,
    caller: XCaller,
    req: HttpRequest,
    body: XBody,
) -> HttpResponse {
    let body = body.into_inner();
    let change = match request::update(&body) {
        Ok(change) => change,
        Err(refusal) => return refusal.render(),
    };
    let reference = path_ref(&req);
    let ctx = caller.ctx;
    // A patch: core leaves every field the change does not set exactly as it was.
    match services.call(move |r| r.update_model(&ctx, &reference, ModelUpdate::patch(change))).await
    {
        Ok(view) => model_response(&view),
        Err(e) => domain(&e, Doing::Edit, Some(&body)),
    }
}

pub async fn delete_model(
    services: web::Data<Services>,
    caller: XCaller,
    req: HttpRequest,
) -> HttpResponse {
    let reference = path_ref(&req);
    let ctx = caller.ctx;
    match services.call(move |r| r.delete_model(&ctx, &reference)).await {
        Ok(_) => HttpResponse::Ok().json(json!({"message": "Model deleted successfully"})),
        Err(e) => domain(&e, Doing::Delete, None),
    }
}

/// The caller's visible, active models of its org (the catalog is not Xagent's).
async fn active_models(
    services: &web::Data<Services>,
    caller: XCaller,
) -> DomainResult<Vec<ModelView>> {
    let query = ModelQuery::custom_only().filter(Condition::column(
        Column::IsActive,
        Op::Eq,
        QueryValue::Bool(true),
    ));
    let ctx = caller.ctx;
    services.call(move |r| r.list_models(&ctx, &query)).await.map(|page| page.items)
}

/// Distinct values in first-seen order.
fn distinct(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

fn provider_of(view: &ModelView) -> String {
    view.model.fields.provider.clone().unwrap_or_default()
}

pub async fn categories(services: web::Data<Services>, caller: XCaller) -> HttpResponse {
    match active_models(&services, caller).await {
        Ok(models) => {
            let categories = distinct(models.iter().map(|v| category_of(&v.model.fields)));
            HttpResponse::Ok().json(json!({ "categories": categories }))
        }
        Err(e) => domain(&e, Doing::Read, None),
    }
}

pub async fn providers(services: web::Data<Services>, caller: XCaller) -> HttpResponse {
    match active_models(&services, caller).await {
        Ok(models) => {
            let providers = distinct(models.iter().map(provider_of));
            HttpResponse::Ok().json(json!({ "providers": providers }))
        }
        Err(e) => domain(&e, Doing::Read, None),
    }
}

pub async fn abilities_list(services: web::Data<Services>, caller: XCaller) -> HttpResponse {
    match active_models(&services, caller).await {
        Ok(models) => {
            let mut abilities: Vec<String> = distinct(
                models.iter().flat_map(|v| abilities_of(&v.model.fields).unwrap_or_default()),
            );
            abilities.sort();
            HttpResponse::Ok().json(json!({ "abilities": abilities }))
        }
        Err(e) => domain(&e, Doing::Read, None),
    }
}

fn count(counts: &mut Map<String, Value>, key: String) {
    let next = counts.get(&key).and_then(Value::as_u64).unwrap_or(0) + 1;
    counts.insert(key, json!(next));
}

pub async fn summary(services: web::Data<Services>, caller: XCaller) -> HttpResponse {
    match active_models(&services, caller).await {
        Ok(models) => {
            let mut by_category = Map::new();
            let mut by_provider = Map::new();
            for view in &models {
                count(&mut by_category, category_of(&view.model.fields));
                count(&mut by_provider, provider_of(view));
            }
            HttpResponse::Ok().json(json!({
                "total_models": models.len(),
                "by_category": by_category,
                "by_provider": by_provider,
            }))
        }
        Err(e) => domain(&e, Doing::Read, None),
    }
}

// ---- per-user defaults ----

/// Xagent lists defaults in this order; other config types follow alphabetically.
const DEFAULT_ORDER: [&str; 10] = [
    "general",
    "small_fast",
    "visual",
    "compact",
    "embedding",
    "image",
    "image_edit",
    "asr",
    "tts",
    "rerank",
];

fn default_rank(config_type: &str) -> usize {
    DEFAULT_ORDER.iter().position(|t| *t == config_type).unwrap_or(DEFAULT_ORDER.len())
}

/// The caller's defaults whose models it can read and that are active, one per config type.
async fn active_defaults(
    services: &web::Data<Services>,
    caller: XCaller,
) -> DomainResult<Vec<modelgate_core::UserDefault>> {
    let ctx = caller.ctx;
    let mut defaults = services.call(move |r| r.list_user_defaults(&ctx)).await?;
    defaults.retain(|d| d.model.model.fields.is_active);
    defaults.sort_by(|a, b| {
        (default_rank(&a.config_type), &a.config_type)
            .cmp(&(default_rank(&b.config_type), &b.config_type))
    });
    // The store keeps one default per user and type already; Xagent's client rejects the whole
    // list when a type repeats, so this is guaranteed here too.
    defaults.dedup_by(|a, b| a.config_type == b.config_type);
    Ok(defaults)
}

pub async fn list_defaults(services: web::Data<Services>, caller: XCaller) -> HttpResponse {
    match active_defaults(&services, caller).await {
        Ok(defaults) => {
            let out: Vec<DefaultOut> = defaults.iter().map(|d| DefaultOut::of(d, true)).collect();
            HttpResponse::Ok().json(out)
        }
        Err(e) => domain(&e, Doing::Read, None),
    }
}

pub async fn get_default(
    services: web::Data<Services>,
    caller: XCaller,
    config_type: web::Path<String>,
) -> HttpResponse {
    let config_type = config_type.into_inner();
    match active_defaults(&services, caller).await {
        Ok(defaults) => {
            match defaults.iter().find(|d| d.config_type == config_type) {
                Some(found) => HttpResponse::Ok().json(DefaultOut::of(found, false)),
                // Xagent answers "no default" with a 200 and a JSON null.
                None => HttpResponse::Ok().json(Value::Null),
            }
        }
        Err(e) => domain(&e, Doing::Read, None),
    }
}

pub async fn set_default(
    services: web::Data<Services>,
    caller: XCaller,
    body: XBody,
) -> HttpResponse {
    let body = body.into_inner();
    let (model_id, config_type) = match request::user_default(&body) {
        Ok(parsed) => parsed,
        Err(refusal) => return refusal.render(),
    };
    let ctx = caller.ctx;
    let reference = modelgate_core::ModelRef::Seq(model_id);
    let result = services
        .call(move |r| {
            let view = r.get_model(&ctx, &reference)?;
            let category = category_of(&view.model.fields);
            if category_for_config_type(&config_type) != Some(category.as_str()) {
                return Ok(Err(format!(
                    "Config type '{config_type}' is incompatible with model category '{category}'"
                )));
            }
            // Core checks again, inside its transaction, that the caller may read the model.
            r.set_user_default(&ctx, &config_type, &reference).map(Ok)
        })
        .await;
    match result {
        Ok(Ok(default)) => HttpResponse::Ok().json(DefaultOut::of(&default, false)),
        Ok(Err(message)) => detail(StatusCode::BAD_REQUEST, message),
        Err(e) => domain(&e, Doing::Read, Some(&body)),
    }
}

pub async fn delete_default(
    services: web::Data<Services>,
    caller: XCaller,
    config_type: web::Path<String>,
) -> HttpResponse {
    let config_type = config_type.into_inner();
    let ctx = caller.ctx;
    match services.call(move |r| r.delete_user_default(&ctx, &config_type)).await {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"message": "Default configuration deleted successfully"})),
        Err(e) => domain(&e, Doing::Read, None),
    }
}

/// `GET /default/{config_type}`: the model the caller chose for a config type, or `null`.
/// Unlike Xagent (whose route order sends every name to one generic handler), each name gets
/// its own default; an unknown name has none.
pub async fn system_default(
    services: web::Data<Services>,
    caller: XCaller,
    config_type: web::Path<String>,
) -> HttpResponse {
    let Some(config_type) = default_lookup_type(&config_type.into_inner()) else {
        return HttpResponse::Ok().json(Value::Null);
    };
    match active_defaults(&services, caller).await {
        Ok(defaults) => match defaults.iter().find(|d| d.config_type == config_type) {
            Some(found) => model_response(&found.model),
            None => HttpResponse::Ok().json(Value::Null),
        },
        Err(e) => domain(&e, Doing::Read, None),
    }
}

// ---- static and not (yet) served calls ----

/// `GET /providers/supported`: static metadata, public as in Xagent (no caller needed).
pub async fn supported_providers() -> HttpResponse {
    HttpResponse::Ok().json(&*crate::providers::SUPPORTED)
}

const AUTO_ROUTER_UNAVAILABLE: &str =
    "The Auto model router is not available in modelgate; choose a default model instead.";

/// `GET /auto-config`: never configured. Xagent's Auto card reads this first, then hides itself
/// when the profiles answer 503.
pub async fn auto_config(_caller: XCaller) -> HttpResponse {
    HttpResponse::Ok().json(json!({"configured": false, "candidates": []}))
}

/// `GET /auto-config/profiles` and `PUT /auto-config`: the router is not part of modelgate.
pub async fn auto_router_unavailable(_caller: XCaller) -> HttpResponse {
    detail(StatusCode::SERVICE_UNAVAILABLE, AUTO_ROUTER_UNAVAILABLE)
}
