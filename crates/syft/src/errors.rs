//! Syft Space's error bodies: FastAPI `{"detail": "..."}` for handler errors and pydantic v2
//! lists for validation errors.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use modelgate_core::{Denied, DomainError, Entity, Field, FieldError, Subject};
use modelgate_http::input::{Issue, IssueKind, Loc, pydantic_error};
use modelgate_http::{default_service_failure, detail};
use serde_json::{Value, json};

/// The sentence the seed gives for any attempt to change a model's configuration or type.
pub const IMMUTABLE: &str = "Model configuration is immutable after creation. To change \
                             configuration, delete the model and create a new one.";

/// The model validator's sentence for a PATCH without name, summary or tags.
pub const AT_LEAST_ONE: &str = "At least one field (name, summary, or tags) must be provided";

/// The same rule for an endpoint PATCH, in Syft Space's newest wording.
pub const ENDPOINT_AT_LEAST_ONE: &str =
    "At least one field (name, summary, description, or system_prompt) must be provided";

/// One pydantic error as FastAPI serializes it. FastAPI's JSON encoder turns the `ValueError`
/// kept in `ctx.error` into `{}`, so a real Syft Space answers `"ctx": {"error": {}}`.
pub fn fastapi_error(issue: &Issue) -> Value {
    let mut error = pydantic_error(issue);
    if matches!(issue.kind, IssueKind::Value { .. })
        && let Some(ctx) = error.get_mut("ctx").and_then(Value::as_object_mut)
    {
        ctx.insert("error".into(), json!({}));
    }
    error
}

/// 422 with every issue, in FastAPI's shape.
pub fn unprocessable(issues: &[Issue]) -> HttpResponse {
    let errors: Vec<Value> = issues.iter().map(fastapi_error).collect();
    HttpResponse::UnprocessableEntity().json(json!({ "detail": errors }))
}

/// 422 for a body that is JSON but not an object, as pydantic reports it for a model.
pub fn not_an_object(body: &Value) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(json!({"detail": [{
        "type": "model_attributes_type",
        "loc": ["body"],
        "msg": "Input should be a valid dictionary or object to extract fields from",
        "input": body,
    }]}))
}

/// 422 for a rule about the body as a whole (a pydantic model validator): `loc` is `["body"]`
/// and `input` the whole body.
pub fn body_value_error(message: &str, body: &Value) -> HttpResponse {
    unprocessable(&[Issue {
        loc: vec![Loc::from("body")],
        kind: IssueKind::Value { message: message.into() },
        input: body.clone(),
    }])
}

/// 422 for model PATCH bodies without any of the updatable fields.
pub fn at_least_one_field(body: &Value) -> HttpResponse {
    body_value_error(AT_LEAST_ONE, body)
}

/// modelgate has no datasets, so every `dataset_id` names a missing one.
pub fn dataset_not_found(id: &uuid::Uuid) -> HttpResponse {
    detail(StatusCode::NOT_FOUND, format!("Dataset '{id}' not found"))
}

pub fn model_not_found(name: &str) -> HttpResponse {
    detail(StatusCode::NOT_FOUND, format!("Model '{name}' not found"))
}

pub fn tenant_not_found(name: &str) -> HttpResponse {
    detail(StatusCode::NOT_FOUND, format!("Tenant '{name}' not found"))
}

pub fn model_type_not_found(status: StatusCode, name: &str) -> HttpResponse {
    detail(status, format!("Model type '{name}' not found"))
}

/// What a request was about, so a registry error gets the sentence Syft Space would give.
#[derive(Clone, Copy, Debug)]
pub enum About<'a> {
    /// Reading, deleting or updating the model named so (a conflict there is a rename).
    Model(&'a str),
    /// Creating a model.
    NewModel,
    /// The endpoint with this slug.
    Endpoint(&'a str),
    /// Creating an endpoint for the model with this id (as the client wrote it).
    NewEndpoint { model_id: Option<&'a str> },
}

fn denied(reason: Denied) -> HttpResponse {
    let sentence = match reason {
        Denied::Create => "Your role does not allow creating resources",
        Denied::Write => "You do not have permission to modify this resource",
        Denied::SharePublic | Denied::Admin => "Only organization admins may do this",
        Denied::Builtin => "Built-in catalog models are read-only",
        _ => "Permission denied",
    };
    detail(StatusCode::FORBIDDEN, sentence)
}

/// Where a core field lives on the Syft wire.
fn location(subject: &Subject) -> Vec<Loc> {
    let path: &[&str] = match subject {
        Subject::Model(Field::Key) => &["name"],
        Subject::Model(Field::Description) => &["summary"],
        Subject::Model(Field::Tags) => &["tags"],
        Subject::Model(Field::Provider) => &["dtype"],
        Subject::Model(Field::BaseModel) => &["configuration", "model"],
        Subject::Model(Field::BaseUrl) => &["configuration", "base_url"],
        Subject::Model(Field::ApiKey) => &["configuration", "api_key"],
        Subject::Model(Field::Params) => &["configuration", "system_prompt"],
        Subject::Model(Field::Extra) => &["configuration"],
        Subject::Model(other) => return vec![Loc::from("body"), Loc::Key(other.name().into())],
        Subject::Named(name) => return vec![Loc::from("body"), Loc::Key((*name).into())],
    };
    std::iter::once("body").chain(path.iter().copied()).map(Loc::from).collect()
}

/// Core's validation errors, in pydantic shape. `body` gives each error its `input`.
fn invalid(errors: &[FieldError], body: Option<&Value>) -> HttpResponse {
    let issues: Vec<Issue> = errors
        .iter()
        .map(|error| {
            let loc = location(&error.subject);
            let input = body.map_or(Value::Null, |body| lookup(body, &loc[1..]));
            Issue { loc, kind: IssueKind::from_violation(&error.violation), input }
        })
        .collect();
    unprocessable(&issues)
}

fn lookup(body: &Value, path: &[Loc]) -> Value {
    path.iter()
        .try_fold(body, |value, step| match step {
            Loc::Key(key) => value.get(key),
            Loc::Index(i) => value.get(i),
        })
        .cloned()
        .unwrap_or(Value::Null)
}

/// Renders a registry error for a request `about` something; `body` is the request body, if any.
pub fn domain(error: &DomainError, about: About<'_>, body: Option<&Value>) -> HttpResponse {
    match (error, about) {
        (DomainError::NotFound(Entity::Model), About::Model(name)) => model_not_found(name),
        (DomainError::NotFound(Entity::Model), About::NewEndpoint { model_id }) => {
            model_not_found(model_id.unwrap_or_default())
        }
        (DomainError::NotFound(Entity::Endpoint), About::Endpoint(slug)) => {
            detail(StatusCode::NOT_FOUND, format!("Endpoint '{slug}' not found"))
        }
        // Syft shows no catalog models: writing one is writing a model that does not exist.
        (DomainError::Denied(Denied::Builtin), About::Model(name)) => model_not_found(name),
        (DomainError::NotFound(_), _) => detail(StatusCode::NOT_FOUND, "Not Found"),
        (DomainError::Denied(reason), _) => denied(*reason),
        (DomainError::Conflict { entity: Entity::Model, value }, About::NewModel) => {
            detail(StatusCode::CONFLICT, format!("Model '{value}' already exists"))
        }
        (DomainError::Conflict { entity: Entity::Model, value }, _) => {
            detail(StatusCode::CONFLICT, format!("Model '{value}' already exists for this tenant"))
        }
        (DomainError::Conflict { entity: Entity::Endpoint, value }, _) => {
            detail(StatusCode::CONFLICT, format!("Endpoint slug '{value}' already exists"))
        }
        (DomainError::Conflict { value, .. }, _) => {
            detail(StatusCode::CONFLICT, format!("'{value}' already exists"))
        }
        (DomainError::Invalid(errors), _) => invalid(errors, body),
        (DomainError::Unauthenticated, _) => modelgate_http::revoked_key::<crate::Syft>(),
        (DomainError::VersionMismatch, _) => detail(
            StatusCode::CONFLICT,
            "The model was changed by another request at the same time; retry",
        ),
        (other, _) => default_service_failure(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_errors_carry_an_empty_error_object_like_fastapi() {
        let issue = Issue {
            loc: vec![Loc::from("body")],
            kind: IssueKind::Value { message: AT_LEAST_ONE.into() },
            input: json!({}),
        };
        assert_eq!(
            fastapi_error(&issue),
            json!({
                "type": "value_error",
                "loc": ["body"],
                "msg": "Value error, At least one field (name, summary, or tags) must be provided",
                "input": {},
                "ctx": {"error": {}}
            })
        );
    }

    #[test]
    fn core_fields_map_to_syft_locations() {
        assert_eq!(
            location(&Subject::Model(Field::BaseModel)),
            vec![Loc::from("body"), Loc::from("configuration"), Loc::from("model")]
        );
        assert_eq!(location(&Subject::Named("slug")), vec![Loc::from("body"), Loc::from("slug")]);
        assert_eq!(
            lookup(
                &json!({"configuration": {"model": "m"}}),
                &[Loc::from("configuration"), Loc::from("model")]
            ),
            json!("m")
        );
    }
}
