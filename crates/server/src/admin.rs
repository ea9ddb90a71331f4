//! The admin API (`/admin/v1`): orgs, users, groups and API keys.
//!
//! Errors are `{"detail": "...", "code": "..."}`; validation errors are 422 with an `errors` list.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_core::{
    Denied, DomainError, Entity, FieldError, IssuedKey, NewGroup, NewUser, Role, Subject,
    UserChange, Violation,
};
use modelgate_http::input::{Fields, Issue, IssueKind, Opt, drf_message};
use modelgate_http::nul::{NUL_SENTENCE, Place};
use modelgate_http::routes::{Routes, openapi_document};
use modelgate_http::{AuthFailure, BodyFailure, Caller, Dialect, JsonBody, NulFound, Services};
use serde::Serialize;
use serde_json::{Value, json};

pub struct Admin;

fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "detail": detail.into(), "code": code }))
}

impl Dialect for Admin {
    const NAME: &'static str = "admin";

    fn auth_failure(failure: AuthFailure) -> HttpResponse {
        let detail = match failure {
            AuthFailure::Missing => "Missing API key: send `Authorization: Bearer <key>`",
            AuthFailure::Invalid => "Invalid or revoked API key",
        };
        error(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    fn body_failure(failure: BodyFailure) -> HttpResponse {
        match failure {
            BodyFailure::TooLarge { limit } => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("Request body is larger than the limit of {limit} bytes"),
            ),
            BodyFailure::Empty => {
                error(StatusCode::BAD_REQUEST, "invalid_json", "A JSON body is required")
            }
            BodyFailure::Invalid { message, .. } => {
                error(StatusCode::BAD_REQUEST, "invalid_json", format!("Invalid JSON: {message}"))
            }
            BodyFailure::Unreadable => {
                error(StatusCode::BAD_REQUEST, "invalid_body", "Could not read the request body")
            }
        }
    }

    fn service_failure(e: &DomainError) -> HttpResponse {
        domain_error(e)
    }

    fn unknown_path() -> HttpResponse {
        error(StatusCode::NOT_FOUND, "not_found", "Not Found")
    }

    /// A validation error per value: body fields by their dotted name (as other body errors),
    /// path parameters and query keys as `path.<name>` / `query.<key>`.
    fn nul_refused(found: &[NulFound]) -> HttpResponse {
        let errors: Vec<Value> = found
            .iter()
            .map(|f| {
                let field = match f.place {
                    Place::Body => f.dotted(),
                    place => format!("{}.{}", place.name(), f.dotted()),
                };
                json!({ "field": field, "message": NUL_SENTENCE })
            })
            .collect();
        HttpResponse::UnprocessableEntity().json(json!({
            "detail": "Invalid request",
            "code": "invalid",
            "errors": errors,
        }))
    }
}

pub(crate) fn entity_name(entity: Entity) -> &'static str {
    match entity {
        Entity::Org => "Org",
        Entity::User => "User",
        Entity::Group => "Group",
        Entity::ApiKey => "API key",
        Entity::Model => "Model",
        Entity::Provider => "Provider",
        Entity::Endpoint => "Endpoint",
        Entity::UserDefault => "Default",
        _ => "Resource",
    }
}

pub(crate) fn violation_message(violation: &Violation) -> String {
    match violation {
        Violation::Required => "is required".into(),
        Violation::Empty => "must not be empty".into(),
        Violation::TooLong { max } => format!("must be at most {max} characters"),
        Violation::BelowMin { min } => format!("must be at least {min}"),
        Violation::NotGreaterThan { than } => format!("must be greater than {than}"),
        Violation::NotOneOf { allowed } => format!("must be one of: {}", allowed.join(", ")),
        Violation::UnknownReference => "refers to something that does not exist".into(),
        Violation::Invalid { reason } => reason.clone(),
        _ => "is invalid".into(),
    }
}

/// The name a field error is reported under.
pub(crate) fn field_name(error: &FieldError) -> &'static str {
    match &error.subject {
        Subject::Model(field) => field.name(),
        Subject::Named(name) => name,
    }
}

/// The sentence for a refusal.
pub(crate) fn denied_detail(denied: &Denied) -> &'static str {
    match denied {
        Denied::Admin => "Only org admins may do this",
        Denied::Create | Denied::Write => "Your role does not allow this",
        Denied::SharePublic => "Only org admins may share models with the whole org",
        Denied::Builtin => "Built-in catalog models are read-only",
        _ => "Permission denied",
    }
}

fn field_errors(errors: &[FieldError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| json!({ "field": field_name(e), "message": violation_message(&e.violation) }))
            .collect(),
    )
}

/// Renders a registry error for the admin API.
pub fn domain_error(e: &DomainError) -> HttpResponse {
    match e {
        DomainError::NotFound(entity) => {
            error(StatusCode::NOT_FOUND, "not_found", format!("{} not found", entity_name(*entity)))
        }
        DomainError::Denied(denied) => {
            error(StatusCode::FORBIDDEN, "forbidden", denied_detail(denied))
        }
        DomainError::Conflict { entity, value } => error(
            StatusCode::CONFLICT,
            "conflict",
            format!("{} '{value}' already exists", entity_name(*entity)),
        ),
        DomainError::Invalid(errors) => HttpResponse::UnprocessableEntity().json(json!({
            "detail": "Invalid request",
            "code": "invalid",
            "errors": field_errors(errors),
        })),
        DomainError::VersionMismatch => {
            error(StatusCode::CONFLICT, "conflict", "Changed by someone else meanwhile; retry")
        }
        other => {
            modelgate_http::log_failure(other);
            if matches!(other, DomainError::Unavailable(_)) {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service temporarily unavailable",
                )
            } else {
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal Server Error")
            }
        }
    }
}

fn invalid_input(issues: Vec<Issue>) -> HttpResponse {
    let errors: Vec<Value> = issues
        .iter()
        .map(|issue| {
            let field = issue
                .loc
                .iter()
                .map(|l| match l {
                    modelgate_http::input::Loc::Key(k) => k.clone(),
                    modelgate_http::input::Loc::Index(i) => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            json!({ "field": field, "message": drf_message(issue) })
        })
        .collect();
    HttpResponse::UnprocessableEntity().json(json!({
        "detail": "Invalid request",
        "code": "invalid",
        "errors": errors,
    }))
}

fn reply<T: Serialize>(status: StatusCode, result: Result<T, DomainError>) -> HttpResponse {
    match result {
        Ok(value) => HttpResponse::build(status).json(value),
        Err(e) => domain_error(&e),
    }
}

fn role(fields: &mut Fields<'_>, name: &str) -> Option<Role> {
    let value = match fields.string(name) {
        Opt::Value(value) => value,
        // A role is never null; left unrecorded, a create would go on without one.
        Opt::Null => {
            fields.issue(name, IssueKind::Null, Value::Null);
            return None;
        }
        Opt::Absent => return None,
    };
    let parsed = Role::parse(&value);
    if parsed.is_none() {
        fields.issue(
            name,
            IssueKind::Choice { expected: vec!["admin".into(), "member".into(), "viewer".into()] },
            Value::String(value),
        );
    }
    parsed
}

macro_rules! call {
    ($services:expr, $status:expr, |$r:ident| $body:expr) => {{ reply($status, $services.call(move |$r| $body).await) }};
}

async fn me(services: web::Data<Services>, caller: Caller<Admin>) -> HttpResponse {
    let ctx = caller.ctx;
    let result = services.call(move |r| {
        let user = r.get_user(&ctx, &ctx.actor.user_id)?;
        let org = r.get_org(&ctx, &ctx.actor.org_id)?;
        Ok(json!({ "user": user, "org": org, "groups": ctx.actor.group_ids, "instance_admin": ctx.actor.instance_admin }))
    })
    .await;
    reply(StatusCode::OK, result)
}

async fn list_orgs(services: web::Data<Services>, caller: Caller<Admin>) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.list_orgs(&caller.ctx))
}

async fn create_org(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    body: JsonBody<Admin>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut f = Fields::new(&body, &[]);
    let id = f.string("id").value();
    let name = f.required_string("name");
    if let Err(issues) = f.finish() {
        return invalid_input(issues);
    }
    let name = name.unwrap_or_default();
    call!(services, StatusCode::CREATED, |r| r.create_org(&caller.ctx, id, name))
}

async fn get_org(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.get_org(&caller.ctx, &id))
}

async fn list_users(services: web::Data<Services>, caller: Caller<Admin>) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.list_users(&caller.ctx))
}

async fn create_user(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    body: JsonBody<Admin>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut f = Fields::new(&body, &[]);
    let id = f.string("id").value();
    let org_id = f.string("org_id").value();
    let name = f.required_string("name");
    let email = f.string("email").value();
    let role = if f.has("role") { role(&mut f, "role") } else { Some(Role::Member) };
    if let Err(issues) = f.finish() {
        return invalid_input(issues);
    }
    let (Some(name), Some(role)) = (name, role) else {
        return domain_error(&DomainError::internal("admin", "unreachable"));
    };
    let new = NewUser { id, org_id, name, email, role };
    call!(services, StatusCode::CREATED, |r| r.create_user(&caller.ctx, new))
}

async fn get_user(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.get_user(&caller.ctx, &id))
}

async fn update_user(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
    body: JsonBody<Admin>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut f = Fields::new(&body, &[]);
    let change = UserChange {
        name: f.string("name").value(),
        email: f.string("email").into_patch(),
        role: if f.has("role") { role(&mut f, "role") } else { None },
    };
    if let Err(issues) = f.finish() {
        return invalid_input(issues);
    }
    call!(services, StatusCode::OK, |r| r.update_user(&caller.ctx, &id, change))
}

async fn delete_user(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
) -> HttpResponse {
    match services.call(move |r| r.delete_user(&caller.ctx, &id)).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => domain_error(&e),
    }
}

async fn list_groups(services: web::Data<Services>, caller: Caller<Admin>) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.list_groups(&caller.ctx))
}

async fn create_group(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    body: JsonBody<Admin>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut f = Fields::new(&body, &[]);
    let id = f.string("id").value();
    let name = f.required_string("name");
    let description = f.string("description").value();
    let member_ids = f.string_list("member_ids").value().unwrap_or_default();
    if let Err(issues) = f.finish() {
        return invalid_input(issues);
    }
    let new = NewGroup { id, name: name.unwrap_or_default(), description, member_ids };
    call!(services, StatusCode::CREATED, |r| r.create_group(&caller.ctx, new))
}

async fn get_group(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.get_group(&caller.ctx, &id))
}

async fn delete_group(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
) -> HttpResponse {
    match services.call(move |r| r.delete_group(&caller.ctx, &id)).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => domain_error(&e),
    }
}

async fn set_members(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
    body: JsonBody<Admin>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut f = Fields::new(&body, &[]);
    let user_ids = f.string_list("user_ids");
    if user_ids.is_absent() && f.is_object() && !f.has("user_ids") {
        f.issue("user_ids", IssueKind::Missing, body.clone());
    }
    if let Err(issues) = f.finish() {
        return invalid_input(issues);
    }
    let user_ids = user_ids.value().unwrap_or_default();
    call!(services, StatusCode::OK, |r| r.set_group_members(&caller.ctx, &id, user_ids))
}

/// A newly issued key: its record plus the plaintext, shown this once.
fn issued(key: IssuedKey) -> Value {
    let mut value = serde_json::to_value(&key.key).unwrap_or_else(|_| json!({}));
    if let Some(obj) = value.as_object_mut() {
        obj.insert("key".into(), Value::String(key.plaintext.expose().to_owned()));
    }
    value
}

async fn list_keys(services: web::Data<Services>, caller: Caller<Admin>) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.list_api_keys(&caller.ctx))
}

async fn create_key(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    body: JsonBody<Admin>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut f = Fields::new(&body, &[]);
    let user_id = f.string("user_id").value();
    let name = f.string("name").value().unwrap_or_default();
    if let Err(issues) = f.finish() {
        return invalid_input(issues);
    }
    let result = services.call(move |r| r.create_api_key(&caller.ctx, user_id, name)).await;
    reply(StatusCode::CREATED, result.map(issued))
}

/// Every change of a model, oldest first: actor, dialect, time, before and after.
/// A model's history, by its uuid (Syft Space's `id`; also a deleted model's) or by its key
/// (`model_id`, `model_name`, `id` in the other dialects; keys may contain `/`).
async fn model_history(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    model: web::Path<String>,
) -> HttpResponse {
    let model = model.into_inner();
    let ctx = caller.ctx;
    call!(services, StatusCode::OK, |r| {
        let uuid = match model.parse::<uuid::Uuid>() {
            Ok(uuid) => uuid,
            Err(_) => r.get_model(&ctx, &modelgate_core::ModelRef::Key(model))?.model.uuid,
        };
        r.model_history(&ctx, uuid)
    })
}

async fn revoke_key(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    id: web::Path<String>,
) -> HttpResponse {
    call!(services, StatusCode::OK, |r| r.revoke_api_key(&caller.ctx, &id))
}

#[derive(Serialize)]
struct UsageReport {
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    group_by: &'static str,
    data: Vec<modelgate_core::gateway::UsageRow>,
}

/// A time as `2026-11-26T10:00:00Z` or a day as `2026-11-26` (its start, UTC).
fn instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&chrono::Utc)).ok().or_else(
        || {
            let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some(day.and_hms_opt(0, 0, 0)?.and_utc())
        },
    )
}

/// Gateway usage of the caller's org over `[from, to)` (default: the last 30 days), grouped by
/// `model` (default), `user`, `key` or `day`. Members see their own calls only.
async fn usage(
    services: web::Data<Services>,
    caller: Caller<Admin>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    use modelgate_core::gateway::{UsageGroup, UsageQuery};
    let now = chrono::Utc::now();
    let mut errors = Vec::new();
    let refuse = |field: &'static str, reason: &str| FieldError {
        subject: Subject::Named(field),
        violation: Violation::Invalid { reason: reason.into() },
    };
    let mut time = |name: &'static str, field, default: chrono::DateTime<chrono::Utc>| {
        let Some(text) = query.get(name) else { return default };
        instant(text).unwrap_or_else(|| {
            errors.push(refuse(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time"));
            default
        })
    };
    let from = time("from", "query.from", now - chrono::Duration::days(30));
    let to = time("to", "query.to", now + chrono::Duration::seconds(1));
    let group_by = UsageGroup::parse(query.get("group_by").map_or("model", String::as_str));
    let Some(group_by) = group_by.filter(|_| errors.is_empty()) else {
        if group_by.is_none() {
            errors.push(refuse("query.group_by", "must be one of: model, user, key, day"));
        }
        return domain_error(&DomainError::Invalid(errors));
    };
    let query = UsageQuery { from, to, group_by };
    let result = services.call(move |r| r.usage(&caller.ctx, &query)).await;
    reply(
        StatusCode::OK,
        result.map(|data| UsageReport { from, to, group_by: group_by.name(), data }),
    )
}

/// The admin API's OpenAPI document (`crates/server/openapi/admin.json`), served at
/// `/admin/v1/openapi.json`.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../openapi/admin.json")).unwrap_or_default()
});

/// Every admin route, relative to `/admin/v1`: mounted by [`configure`], documented in
/// admin.json. Each path is served with a trailing `/` too, as the dialects serve theirs (their
/// products' FastAPI servers redirect one form to the other): `GET /admin/v1/users/` lists users.
pub fn routes() -> Routes {
    Routes::new()
        .resource(["/me", "/me/"], |r| r.get(me))
        .resource(["/orgs", "/orgs/"], |r| r.get(list_orgs).post(create_org))
        .resource(["/orgs/{id}", "/orgs/{id}/"], |r| r.get(get_org))
        .resource(["/users", "/users/"], |r| r.get(list_users).post(create_user))
        .resource(["/users/{id}", "/users/{id}/"], |r| {
            r.get(get_user).patch(update_user).delete(delete_user)
        })
        .resource(["/groups", "/groups/"], |r| r.get(list_groups).post(create_group))
        .resource(["/groups/{id}", "/groups/{id}/"], |r| r.get(get_group).delete(delete_group))
        .resource(["/groups/{id}/members", "/groups/{id}/members/"], |r| r.put(set_members))
        .resource(["/keys", "/keys/"], |r| r.get(list_keys).post(create_key))
        .resource(["/keys/{id}", "/keys/{id}/"], |r| r.delete(revoke_key))
        .resource(["/models/{model:.+}/history", "/models/{model:.+}/history/"], |r| {
            r.get(model_history)
        })
        .resource(["/usage", "/usage/"], |r| r.get(usage))
        .resource(["/openapi.json"], |r| r.get(openapi_document(&DOCUMENT)))
}

/// Mounts [`routes`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes().register(cfg)
}
