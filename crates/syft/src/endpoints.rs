//! `/api/v1/endpoints`: the named, slugged entry points that serve a model — what a model's
//! `connected_endpoints` lists.

use std::collections::HashMap;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use modelgate_core::policy::{self, Action};
use modelgate_core::{
    Column, Condition, Ctx, DomainError, Endpoint, EndpointChange, Entity, Model, ModelQuery,
    ModelRef, NewEndpoint, Op, Registry, ResponseType, Value as QueryValue,
};
use modelgate_http::input::{Fields, Issue, IssueKind, Loc, Opt};
use modelgate_http::routes::{call, path_or_fixed, stand_for};
use modelgate_http::{Caller, Deferred, JsonBody, Services, default_service_failure, detail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::errors::{self, About, fastapi_error};
use crate::wire::{
    EndpointCreated, EndpointDetail, EndpointListItem, EndpointResponse, MarketplaceAvailability,
    SlugAvailability,
};
use crate::{Syft, check_tenant, tenant_and_object, wire};

/// The fixed path segment of `POST /endpoints/validate-slug`; an endpoint may have this slug.
const VALIDATE_SLUG: &str = "validate-slug";

/// What a marketplace id answers: modelgate has no marketplaces.
const NO_MARKETPLACE: &str = "Marketplace not found";

/// The `{slug}` of an endpoint path. On the fixed `/endpoints/validate-slug` resource, methods
/// other than POST name the endpoint whose slug is `validate-slug`, as in Syft Space.
pub struct Slug(String);

impl FromRequest for Slug {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(path_or_fixed(req, payload).map(Slug))
    }
}

/// Collects pydantic errors in field order, mixing [`Fields`] issues with ones this module
/// renders itself (UUIDs).
struct Errors {
    out: Vec<Value>,
    seen: usize,
}

impl Errors {
    fn new() -> Self {
        Self { out: Vec::new(), seen: 0 }
    }

    /// Takes over the issues `fields` recorded since the last call.
    fn sync(&mut self, fields: &Fields<'_>) {
        let issues = fields.issues();
        self.out.extend(issues[self.seen..].iter().map(fastapi_error));
        self.seen = issues.len();
    }
}

fn loc(name: &str) -> Vec<Loc> {
    vec![Loc::from("body"), Loc::from(name)]
}

fn value_issue(fields: &mut Fields<'_>, name: &str, message: &str, input: Value) {
    fields.issue(name, IssueKind::Value { message: message.to_owned() }, input);
}

/// Syft Space's slug rule (applied to the lowercased slug, which is what gets stored).
fn slug(fields: &mut Fields<'_>) -> Option<String> {
    let raw = match fields.raw("slug") {
        Opt::Absent => {
            fields.required_string("slug");
            return None;
        }
        Opt::Null => Value::Null,
        Opt::Value(v) => v.clone(),
    };
    let Some(text) = raw.as_str() else {
        value_issue(fields, "slug", "Slug must be a string", raw);
        return None;
    };
    if text.is_empty() {
        value_issue(fields, "slug", "Slug is required", raw);
        return None;
    }
    let slug = text.to_lowercase();
    let len = slug.chars().count();
    let problem = if len < 3 {
        Some("Slug must be at least 3 characters long")
    } else if len > 64 {
        Some("Slug must be at most 64 characters long")
    } else if !slug.split('-').all(|part| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }) {
        Some(
            "Slug must contain only lowercase letters, numbers, and hyphens (no \
             leading/trailing/consecutive hyphens)",
        )
    } else {
        None
    };
    match problem {
        Some(message) => {
            value_issue(fields, "slug", message, raw);
            None
        }
        None => Some(slug),
    }
}

/// pydantic's error for a value at `loc` that should be a UUID.
fn uuid_of(value: &Value, loc: &[Loc]) -> Result<Uuid, Value> {
    let loc: Vec<Value> = loc
        .iter()
        .map(|l| match l {
            Loc::Key(k) => json!(k),
            Loc::Index(i) => json!(i),
        })
        .collect();
    match value {
        Value::String(s) => Uuid::parse_str(s).map_err(|e| {
            json!({
                "type": "uuid_parsing",
                "loc": loc,
                "msg": format!("Input should be a valid UUID, {e}"),
                "input": value,
                "ctx": {"error": e.to_string()},
            })
        }),
        other => Err(json!({
            "type": "uuid_type",
            "loc": loc,
            "msg": "UUID input should be a string, bytes or UUID object",
            "input": other,
        })),
    }
}

/// An optional UUID field (`UUID | None`), with pydantic's errors.
fn uuid_field(fields: &Fields<'_>, errors: &mut Errors, name: &str) -> Option<Uuid> {
    let value = fields.raw(name).value()?;
    uuid_of(value, &loc(name)).map_err(|e| errors.out.push(e)).ok()
}

/// A `str` field with a default: absent is `""`, `null` a type error.
fn string_or_empty(fields: &mut Fields<'_>, name: &str) -> String {
    match fields.string(name) {
        Opt::Value(v) => v,
        Opt::Null => {
            fields.issue(name, IssueKind::Null, Value::Null);
            String::new()
        }
        Opt::Absent => String::new(),
    }
}

/// A `bool` field defaulting to false: `null` is a type error.
fn bool_or_false(fields: &mut Fields<'_>, name: &str) -> bool {
    match fields.bool(name) {
        Opt::Value(v) => v,
        Opt::Null => {
            fields.issue(name, IssueKind::BoolType, Value::Null);
            false
        }
        Opt::Absent => false,
    }
}

/// `response_type`: a string (default `both`) that must name a response type.
fn response_type(fields: &mut Fields<'_>) -> Option<ResponseType> {
    const NAME: &str = "response_type";
    match fields.string(NAME) {
        Opt::Absent => Some(ResponseType::Both),
        Opt::Null => {
            fields.issue(NAME, IssueKind::Null, Value::Null);
            None
        }
        Opt::Value(text) => {
            let parsed = ResponseType::parse(&text);
            if parsed.is_none() {
                let allowed: Vec<&str> = ResponseType::ALL.iter().map(|t| t.as_str()).collect();
                let message = format!(
                    "Invalid response_type '{text}'. Must be one of: {}",
                    allowed.join(", ")
                );
                value_issue(fields, NAME, &message, json!(text));
            }
            parsed
        }
    }
}

/// Syft Space's rule tying the response type to what the endpoint is attached to.
fn attachment_problem(kind: ResponseType, dataset: bool, model: bool) -> Option<&'static str> {
    match kind {
        ResponseType::Raw if !dataset => Some("response_type 'raw' requires a dataset_id"),
        ResponseType::Summary if !model => Some("response_type 'summary' requires a model_id"),
        ResponseType::Both if !(dataset && model) => {
            Some("response_type 'both' requires both a dataset_id and a model_id")
        }
        _ => None,
    }
}

/// The models the endpoints serve, by `seq`: one query for all of them. A model the caller may
/// not read is left out (the endpoint then shows `model: null`).
fn served_models(
    registry: &dyn Registry,
    ctx: &Ctx,
    endpoints: &[Endpoint],
) -> Result<HashMap<i64, Model>, DomainError> {
    let seqs: Vec<QueryValue> =
        endpoints.iter().filter_map(|e| e.model_seq).map(QueryValue::Int).collect();
    if seqs.is_empty() {
        return Ok(HashMap::new());
    }
    let query = ModelQuery::default().filter(Condition::column(
        Column::Seq,
        Op::In,
        QueryValue::List(seqs),
    ));
    Ok(registry
        .list_models(ctx, &query)?
        .items
        .into_iter()
        .map(|v| (v.model.seq, v.model))
        .collect())
}

fn served<'a>(models: &'a HashMap<i64, Model>, endpoint: &Endpoint) -> Option<&'a Model> {
    endpoint.model_seq.and_then(|seq| models.get(&seq))
}

/// Reads one endpoint with the model it serves.
fn endpoint_with_model(
    registry: &dyn Registry,
    ctx: &Ctx,
    endpoint: Endpoint,
) -> Result<(Endpoint, Option<Model>), DomainError> {
    let mut models = served_models(registry, ctx, std::slice::from_ref(&endpoint))?;
    let model = endpoint.model_seq.and_then(|seq| models.remove(&seq));
    Ok((endpoint, model))
}

pub async fn create(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let ctx = caller.ctx;
    let body = match tenant_and_object(&services, &ctx, &req, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    // Fields in the order of Syft Space's CreateEndpointRequest, so errors come in its order.
    let mut f = Fields::new(&body, &[Loc::from("body")]);
    let mut problems = Errors::new();
    let name = f.required_string("name");
    let slug = slug(&mut f);
    let description = string_or_empty(&mut f, "description");
    let summary = string_or_empty(&mut f, "summary");
    problems.sync(&f);
    let dataset_id = uuid_field(&f, &mut problems, "dataset_id");
    let model_id = uuid_field(&f, &mut problems, "model_id");
    let response_type = response_type(&mut f);
    let published = bool_or_false(&mut f, "published");
    let tags = string_or_empty(&mut f, "tags");
    // `str | None`: null is "no override".
    let system_prompt = f.string("system_prompt").value();
    problems.sync(&f);
    if let Some(name) = &name
        && name.trim().is_empty()
    {
        problems.out.push(fastapi_error(&Issue {
            loc: loc("name"),
            kind: IssueKind::Blank,
            input: json!(name),
        }));
    }
    if !problems.out.is_empty() {
        return HttpResponse::UnprocessableEntity().json(json!({ "detail": problems.out }));
    }
    let (Some(name), Some(slug), Some(response_type)) = (name, slug, response_type) else {
        return errors::unprocessable(&[]);
    };
    // The model validator runs once every field is valid.
    if let Some(message) =
        attachment_problem(response_type, dataset_id.is_some(), model_id.is_some())
    {
        return errors::body_value_error(message, &body);
    }
    let new = NewEndpoint {
        description,
        summary,
        response_type,
        published,
        tags: wire::tags_in(&tags),
        system_prompt,
        ..NewEndpoint::new(name, slug.clone(), model_id.map(ModelRef::Uuid))
    };
    let result = services
        .call(move |r| {
            // Syft Space's order: slug taken, then the dataset, then the model. The role comes
            // first, so a viewer learns nothing about what exists.
            policy::authorize(&ctx.actor, Action::Create)?;
            match r.get_endpoint(&ctx, &new.slug) {
                Ok(_) => {
                    return Err(DomainError::Conflict {
                        entity: Entity::Endpoint,
                        value: new.slug.clone(),
                    });
                }
                Err(DomainError::NotFound(Entity::Endpoint)) => {}
                Err(e) => return Err(e),
            }
            if let Some(id) = dataset_id {
                return Ok(Err(id));
            }
            r.create_endpoint(&ctx, new).map(Ok)
        })
        .await;
    match result {
        Ok(Ok(endpoint)) => HttpResponse::Created().json(EndpointCreated {
            endpoint: EndpointResponse::of(&endpoint),
            model_id,
            dataset_id: None,
        }),
        Ok(Err(dataset)) => errors::dataset_not_found(&dataset),
        Err(e) => {
            let shown = model_id.map(|id| id.to_string());
            let about = match &e {
                DomainError::NotFound(Entity::Model) => {
                    About::NewEndpoint { model_id: shown.as_deref() }
                }
                _ => About::Endpoint(&slug),
            };
            errors::domain(&e, about, Some(&body))
        }
    }
}

pub async fn list(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let result = services
        .call(move |r| {
            let endpoints = r.list_endpoints(&ctx)?;
            let models = served_models(r, &ctx, &endpoints)?;
            Ok((endpoints, models))
        })
        .await;
    match result {
        Ok((endpoints, models)) => {
            let items: Vec<EndpointListItem> =
                endpoints.iter().map(|e| EndpointListItem::of(e, served(&models, e))).collect();
            HttpResponse::Ok().json(items)
        }
        Err(e) => default_service_failure(&e),
    }
}

pub async fn get(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    slug: Slug,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let Slug(slug) = slug;
    let wanted = slug.clone();
    let result = services
        .call(move |r| {
            let endpoint = r.get_endpoint(&ctx, &wanted)?;
            endpoint_with_model(r, &ctx, endpoint)
        })
        .await;
    match result {
        Ok((endpoint, model)) => {
            HttpResponse::Ok().json(EndpointDetail::of(&endpoint, model.as_ref()))
        }
        Err(e) => errors::domain(&e, About::Endpoint(&slug), None),
    }
}

pub async fn update(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    slug: Slug,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let ctx = caller.ctx;
    let body = match tenant_and_object(&services, &ctx, &req, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Slug(slug) = slug;
    // Every field is `str | None`: null counts as not sent.
    let mut f = Fields::new(&body, &[Loc::from("body")]);
    let name = f.string("name").value();
    let summary = f.string("summary").value();
    let description = f.string("description").value();
    let system_prompt = f.string("system_prompt").value();
    if let Some(name) = &name
        && name.trim().is_empty()
    {
        f.issue("name", IssueKind::Blank, json!(name));
    }
    if let Err(issues) = f.finish() {
        return errors::unprocessable(&issues);
    }
    let change = EndpointChange {
        name,
        summary,
        description,
        // `""` removes the override.
        system_prompt: system_prompt.map(|p| Some(p).filter(|p| !p.is_empty())),
    };
    if change.is_empty() {
        return errors::body_value_error(errors::ENDPOINT_AT_LEAST_ONE, &body);
    }
    let wanted = slug.clone();
    let result = services
        .call(move |r| {
            let endpoint = r.update_endpoint(&ctx, &wanted, change)?;
            endpoint_with_model(r, &ctx, endpoint)
        })
        .await;
    match result {
        Ok((endpoint, model)) => {
            HttpResponse::Ok().json(EndpointDetail::of(&endpoint, model.as_ref()))
        }
        Err(e) => errors::domain(&e, About::Endpoint(&slug), Some(&body)),
    }
}

pub async fn delete(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    slug: Slug,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let Slug(slug) = slug;
    let wanted = slug.clone();
    match services.call(move |r| r.delete_endpoint(&ctx, &wanted)).await {
        Ok(endpoint) => HttpResponse::Ok().json(
            json!({ "message": format!("Successfully deleted endpoint '{}'", endpoint.slug) }),
        ),
        Err(e) => errors::domain(&e, About::Endpoint(&slug), None),
    }
}

/// `marketplace_ids`: `list[UUID] | None`, each bad item its own error.
fn marketplace_ids(fields: &mut Fields<'_>, errors: &mut Errors) -> Option<Vec<Uuid>> {
    const NAME: &str = "marketplace_ids";
    let items = fields.list(NAME).value();
    errors.sync(fields);
    let items = items?;
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut at = loc(NAME);
        at.push(Loc::Index(i));
        match uuid_of(item, &at) {
            Ok(id) => ids.push(id),
            Err(e) => errors.out.push(e),
        }
    }
    Some(ids)
}

/// `POST /endpoints/validate-slug`: whether a slug is free in the caller's organization. The
/// slug is looked up exactly as sent (neither lowercased nor checked), as Syft Space does.
pub async fn validate_slug(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let ctx = caller.ctx;
    let body = match tenant_and_object(&services, &ctx, &req, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut f = Fields::new(&body, &[Loc::from("body")]);
    let mut problems = Errors::new();
    let slug = f.required_string("slug");
    problems.sync(&f);
    let ids = marketplace_ids(&mut f, &mut problems);
    let check_all = bool_or_false(&mut f, "check_all_marketplaces");
    problems.sync(&f);
    if !problems.out.is_empty() {
        return HttpResponse::UnprocessableEntity().json(json!({ "detail": problems.out }));
    }
    let Some(slug) = slug else { return errors::unprocessable(&[]) };
    let wanted = slug.clone();
    let taken = services
        .call(move |r| match r.get_endpoint(&ctx, &wanted) {
            Ok(_) => Ok(true),
            Err(DomainError::NotFound(Entity::Endpoint)) => Ok(false),
            Err(e) => Err(e),
        })
        .await;
    let taken = match taken {
        Ok(taken) => taken,
        Err(e) => return default_service_failure(&e),
    };
    // With no marketplace configured: "all" is none, and every id names a missing one (each
    // once; an empty list asks about none).
    let marketplaces = if check_all {
        Some(Vec::new())
    } else {
        ids.filter(|ids| !ids.is_empty()).map(|ids| {
            let mut unique: Vec<Uuid> = Vec::with_capacity(ids.len());
            for id in ids {
                if !unique.contains(&id) {
                    unique.push(id);
                }
            }
            unique
                .into_iter()
                .map(|marketplace_id| MarketplaceAvailability {
                    marketplace_id,
                    available: None,
                    error: Some(NO_MARKETPLACE),
                })
                .collect()
        })
    };
    HttpResponse::Ok().json(SlugAvailability { slug, local_available: !taken, marketplaces })
}

/// Methods other than POST on `/endpoints/validate-slug`: the endpoint whose slug is
/// `validate-slug` (Syft Space routes them to `/{slug}`).
pub async fn validate_slug_as_endpoint(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    stand_for(&req, VALIDATE_SLUG);
    let mut payload = payload.into_inner();
    match *req.method() {
        Method::GET => call(get, &req, &mut payload).await,
        Method::PATCH => call(update, &req, &mut payload).await,
        Method::DELETE => call(delete, &req, &mut payload).await,
        _ => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug_of(value: Value) -> (Option<String>, Vec<String>) {
        let body = json!({ "slug": value });
        let mut fields = Fields::new(&body, &[Loc::from("body")]);
        let slug = slug(&mut fields);
        let messages = fields
            .issues()
            .iter()
            .map(|i| fastapi_error(i)["msg"].as_str().unwrap_or_default().to_owned())
            .collect();
        (slug, messages)
    }

    #[test]
    fn slugs_follow_syft_space_rules() {
        assert_eq!(slug_of(json!("Support-Assistant")).0.as_deref(), Some("support-assistant"));
        assert_eq!(
            slug_of(json!("ab")).1,
            vec!["Value error, Slug must be at least 3 characters long"]
        );
        assert_eq!(slug_of(json!(5)).1, vec!["Value error, Slug must be a string"]);
        assert_eq!(slug_of(json!("")).1, vec!["Value error, Slug is required"]);
        for bad in ["-abc", "abc-", "a--bc", "a_bc", "abç"] {
            assert!(slug_of(json!(bad)).0.is_none(), "{bad}");
        }
        assert!(slug_of(json!("a".repeat(65))).0.is_none());
    }
}
