//! Registry errors in Xagent's words: `{"detail": "..."}` with FastAPI's statuses, and
//! validation problems as FastAPI's 422 pydantic list.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use modelgate_core::{Denied, DomainError, Entity, Field, FieldError, Subject};
use modelgate_http::input::{Issue, IssueKind, Loc, pydantic_errors};
use modelgate_http::{default_service_failure, detail};
use serde_json::{Value, json};

pub const MODEL_NOT_FOUND: &str = "Model not found";
pub const DEFAULT_NOT_FOUND: &str = "Default configuration not found";

/// What the request was doing, which picks the sentence for a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doing {
    Create,
    Read,
    Edit,
    Delete,
}

/// FastAPI's 422 for a list of issues.
pub fn unprocessable(issues: &[Issue]) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(pydantic_errors(issues))
}

/// The 422 pydantic gives when a body model receives something that is not an object.
pub fn not_an_object(body: &Value) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(json!({"detail": [{
        "type": "model_attributes_type",
        "loc": ["body"],
        "msg": "Input should be a valid dictionary or object to extract fields from",
        "input": body,
    }]}))
}

/// The wire name of a canonical field in Xagent's bodies.
fn wire_name(field: Field) -> &'static str {
    match field {
        Field::Key => "model_id",
        Field::BaseModel => "model_name",
        Field::Provider => "model_provider",
        Field::Params => "temperature",
        Field::Capabilities => "abilities",
        Field::Public => "share_with_users",
        other => other.name(),
    }
}

/// Core's validation errors as pydantic issues at the body field they came from.
fn invalid(errors: &[FieldError], body: Option<&Value>) -> HttpResponse {
    let issues: Vec<Issue> = errors
        .iter()
        .map(|error| {
            let name = match &error.subject {
                Subject::Model(field) => wire_name(*field),
                Subject::Named(name) => name,
            };
            let input = body.and_then(|b| b.get(name)).cloned().unwrap_or(Value::Null);
            Issue {
                loc: vec![Loc::from("body"), Loc::from(name)],
                kind: IssueKind::from_violation(&error.violation),
                input,
            }
        })
        .collect();
    unprocessable(&issues)
}

/// Renders a registry error. `body` is the request body, to echo inputs in 422s.
pub fn domain(error: &DomainError, doing: Doing, body: Option<&Value>) -> HttpResponse {
    match error {
        DomainError::NotFound(Entity::UserDefault) => {
            detail(StatusCode::NOT_FOUND, DEFAULT_NOT_FOUND)
        }
        DomainError::NotFound(Entity::Model) => detail(StatusCode::NOT_FOUND, MODEL_NOT_FOUND),
        DomainError::NotFound(_) => detail(StatusCode::NOT_FOUND, "Not Found"),
        DomainError::Denied(denied) => {
            let message = match (denied, doing) {
                (Denied::SharePublic, Doing::Create) => {
                    "Only administrators can share models with all users"
                }
                (Denied::SharePublic, _) => "Only administrators can enable global sharing",
                (Denied::Create, _) | (_, Doing::Create) => "No permission to create models",
                (_, Doing::Delete) => "No permission to delete this model",
                (_, Doing::Edit) => "No permission to edit this model",
                (_, Doing::Read) => "Not enough permissions",
            };
            detail(StatusCode::FORBIDDEN, message)
        }
        DomainError::Conflict { entity: Entity::Model, .. } => {
            detail(StatusCode::BAD_REQUEST, "Model ID already exists")
        }
        DomainError::Conflict { .. } => detail(StatusCode::BAD_REQUEST, "Already exists"),
        DomainError::Invalid(errors) => invalid(errors, body),
        DomainError::Unauthenticated => modelgate_http::revoked_key::<crate::Xagent>(),
        DomainError::VersionMismatch => detail(
            StatusCode::CONFLICT,
            "The model was changed by another request meanwhile; retry",
        ),
        other => default_service_failure(other),
    }
}
