//! `/api/v1/endpoints`: the named, slugged entry points that serve a model — what a model's
//! `connected_endpoints` lists.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::{
    Column, Condition, DomainError, Endpoint, ModelQuery, ModelRef, NewEndpoint, Op, Registry,
    Value as QueryValue,
};
use modelgate_http::input::{Fields, IssueKind, Loc, Opt};
use modelgate_http::{Caller, JsonBody, Services, default_service_failure, detail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::errors::{self, About, fastapi_error};
use crate::{Syft, check_tenant, wire};

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

/// An optional UUID field, with pydantic's errors.
fn uuid_field(fields: &Fields<'_>, errors: &mut Errors, name: &str) -> Option<Uuid> {
    let value = fields.raw(name).value()?;
    match value {
        Value::String(s) => match Uuid::parse_str(s) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.out.push(json!({
                    "type": "uuid_parsing",
                    "loc": loc(name).iter().map(|l| match l {
                        Loc::Key(k) => json!(k),
                        Loc::Index(i) => json!(i),
                    }).collect::<Vec<_>>(),
                    "msg": format!("Input should be a valid UUID, {e}"),
                    "input": value,
                    "ctx": {"error": e.to_string()},
                }));
                None
            }
        },
        other => {
            errors.out.push(json!({
                "type": "uuid_type",
                "loc": ["body", name],
                "msg": "UUID input should be a string, bytes or UUID object",
                "input": other,
            }));
            None
        }
    }
}

/// Reads an optional field only to refuse a value of the wrong type, as pydantic would; modelgate
/// has nowhere to keep it.
fn ignored_string(fields: &mut Fields<'_>, name: &str) {
    if let Opt::Null = fields.string(name) {
        fields.issue(name, IssueKind::Null, Value::Null);
    }
}

/// The model each endpoint serves, by uuid: one query for all of them.
fn model_ids(
    registry: &dyn Registry,
    ctx: &modelgate_core::Ctx,
    endpoints: &[Endpoint],
) -> Result<HashMap<i64, Uuid>, DomainError> {
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
        .map(|v| (v.model.seq, v.model.uuid))
        .collect())
}

pub async fn create(
    services: web::Data<Services>,
    caller: Caller<Syft>,
    req: HttpRequest,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let body = body.into_inner();
    if !body.is_object() {
        return errors::not_an_object(&body);
    }
    // Fields in the order of Syft Space's CreateEndpointRequest, so errors come in its order.
    let mut f = Fields::new(&body, &[Loc::from("body")]);
    let mut problems = Errors::new();
    let name = f.required_string("name");
    let slug = slug(&mut f);
    let description = match f.string("description") {
        Opt::Value(v) => v,
        Opt::Null => {
            f.issue("description", IssueKind::Null, Value::Null);
            String::new()
        }
        Opt::Absent => String::new(),
    };
    ignored_string(&mut f, "summary");
    problems.sync(&f);
    let dataset_id = uuid_field(&f, &mut problems, "dataset_id");
    let model_id = uuid_field(&f, &mut problems, "model_id");
    ignored_string(&mut f, "response_type");
    if let Opt::Null = f.bool("published") {
        f.issue("published", IssueKind::BoolType, Value::Null);
    }
    ignored_string(&mut f, "tags");
    problems.sync(&f);
    if let Some(name) = &name
        && name.trim().is_empty()
    {
        problems.out.push(fastapi_error(&modelgate_http::input::Issue {
            loc: loc("name"),
            kind: IssueKind::Blank,
            input: json!(name),
        }));
    }
    if !problems.out.is_empty() {
        return HttpResponse::UnprocessableEntity().json(json!({ "detail": problems.out }));
    }
    let (Some(name), Some(slug)) = (name, slug) else {
        return HttpResponse::UnprocessableEntity().json(json!({ "detail": [] }));
    };
    if dataset_id.is_none() && model_id.is_none() {
        return detail(
            StatusCode::BAD_REQUEST,
            "At least one of dataset_id or model_id must be provided",
        );
    }
    let new =
        NewEndpoint { name, slug: slug.clone(), description, model: model_id.map(ModelRef::Uuid) };
    match services.call(move |r| r.create_endpoint(&ctx, new)).await {
        Ok(endpoint) => HttpResponse::Created().json(wire::endpoint(&endpoint, model_id)),
        Err(e) => {
            let shown = model_id.map(|id| id.to_string());
            let about = match &e {
                DomainError::NotFound(modelgate_core::Entity::Model) => {
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
    caller: Caller<Syft>,
    req: HttpRequest,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let result = services
        .call(move |r| {
            let endpoints = r.list_endpoints(&ctx)?;
            let ids = model_ids(r, &ctx, &endpoints)?;
            Ok((endpoints, ids))
        })
        .await;
    match result {
        Ok((endpoints, ids)) => {
            let items: Vec<Value> = endpoints
                .iter()
                .map(|e| wire::endpoint(e, e.model_seq.and_then(|seq| ids.get(&seq).copied())))
                .collect();
            HttpResponse::Ok().json(items)
        }
        Err(e) => default_service_failure(&e),
    }
}

pub async fn get(
    services: web::Data<Services>,
    caller: Caller<Syft>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let slug = slug.into_inner();
    let wanted = slug.clone();
    let result = services
        .call(move |r| {
            let endpoint = r.get_endpoint(&ctx, &wanted)?;
            let ids = model_ids(r, &ctx, std::slice::from_ref(&endpoint))?;
            Ok((endpoint, ids))
        })
        .await;
    match result {
        Ok((endpoint, ids)) => {
            let model_id = endpoint.model_seq.and_then(|seq| ids.get(&seq).copied());
            HttpResponse::Ok().json(wire::endpoint(&endpoint, model_id))
        }
        Err(e) => errors::domain(&e, About::Endpoint(&slug), None),
    }
}

pub async fn delete(
    services: web::Data<Services>,
    caller: Caller<Syft>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let slug = slug.into_inner();
    let wanted = slug.clone();
    match services.call(move |r| r.delete_endpoint(&ctx, &wanted)).await {
        Ok(endpoint) => HttpResponse::Ok().json(
            json!({ "message": format!("Successfully deleted endpoint '{}'", endpoint.slug) }),
        ),
        Err(e) => errors::domain(&e, About::Endpoint(&slug), None),
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
