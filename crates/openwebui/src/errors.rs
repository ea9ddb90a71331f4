//! Registry errors in Open WebUI's words. Statuses follow upstream's router; the sentences are the
//! seeds' (`Unauthorized`, `Model not found`, `Access prohibited`, `Model ID is already taken`…),
//! which stand in for upstream's error constants.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use modelgate_core::{Denied, DomainError, Entity, Field, FieldError, Subject};
use modelgate_http::input::{Issue, IssueKind, Loc};
use modelgate_http::{default_service_failure, detail};
use serde_json::Value;

use crate::wire::pydantic_body;

pub const UNAUTHORIZED: &str = "Unauthorized";
pub const NOT_FOUND: &str = "Model not found";
pub const ACCESS_PROHIBITED: &str = "Access prohibited";
pub const ID_TAKEN: &str = "Model ID is already taken";
pub const ID_TOO_LONG: &str = "Model ID is too long (max 256 characters)";

/// The endpoint an error happened in: upstream answers the same refusal differently per route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Get,
    Update,
    Toggle,
    Delete,
    Access,
    Import,
    List,
}

/// A 422 in FastAPI's shape.
pub fn invalid_input(issues: &[Issue]) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(pydantic_body(issues))
}

/// Where a canonical field lives in an Open WebUI body.
fn wire_path(field: Field) -> Vec<&'static str> {
    match field {
        Field::Key => vec!["id"],
        Field::DisplayName => vec!["name"],
        Field::Description => vec!["meta", "description"],
        Field::Capabilities => vec!["meta", "capabilities"],
        Field::Tags => vec!["meta", "tags"],
        Field::Extra => vec!["meta"],
        Field::BaseModel => vec!["base_model_id"],
        Field::Params => vec!["params"],
        Field::IsActive => vec!["is_active"],
        Field::Grants | Field::Public => vec!["access_grants"],
        other => vec![other.name()],
    }
}

/// Core's validation errors as a 422, with the offending input taken from the request body.
fn field_errors(errors: &[FieldError], body: Option<&Value>) -> HttpResponse {
    // The id rules have their own sentence in Open WebUI (empty ids are refused by it too).
    if errors.iter().any(|e| e.subject == Subject::Model(Field::Key)) {
        return detail(StatusCode::BAD_REQUEST, ID_TOO_LONG);
    }
    let issues: Vec<Issue> = errors
        .iter()
        .map(|e| {
            let path = match &e.subject {
                Subject::Model(field) => wire_path(*field),
                Subject::Named(name) => vec![*name],
            };
            let input = body
                .and_then(|body| path.iter().try_fold(body, |value, step| value.get(*step)))
                .cloned()
                .unwrap_or(Value::Null);
            let mut loc = vec![Loc::Key("body".into())];
            loc.extend(path.iter().map(|step| Loc::Key((*step).to_owned())));
            Issue { loc, kind: IssueKind::from_violation(&e.violation), input }
        })
        .collect();
    invalid_input(&issues)
}

/// Renders a registry error for `op`. `body` is the request body, for validation errors.
pub fn domain_error(op: Op, error: &DomainError, body: Option<&Value>) -> HttpResponse {
    match error {
        DomainError::NotFound(Entity::Model) => match op {
            Op::Get => detail(StatusCode::NOT_FOUND, NOT_FOUND),
            // The id exists in the org, in a model the importer cannot see.
            Op::Import => detail(StatusCode::BAD_REQUEST, ID_TAKEN),
            // Upstream only lets admins touch the grants of a model that has no record yet.
            Op::Access => detail(StatusCode::FORBIDDEN, ACCESS_PROHIBITED),
            _ => detail(StatusCode::UNAUTHORIZED, NOT_FOUND),
        },
        DomainError::NotFound(_) => detail(StatusCode::NOT_FOUND, "Not Found"),
        DomainError::Denied(Denied::Write | Denied::Builtin) => match op {
            Op::Toggle | Op::Delete => detail(StatusCode::UNAUTHORIZED, UNAUTHORIZED),
            _ => detail(StatusCode::BAD_REQUEST, ACCESS_PROHIBITED),
        },
        DomainError::Denied(_) => detail(StatusCode::UNAUTHORIZED, UNAUTHORIZED),
        DomainError::Conflict { entity: Entity::Model, .. } => {
            detail(StatusCode::BAD_REQUEST, ID_TAKEN)
        }
        DomainError::Conflict { .. } => detail(StatusCode::BAD_REQUEST, "Already exists"),
        DomainError::Invalid(errors) => field_errors(errors, body),
        DomainError::Unauthenticated => modelgate_http::revoked_key::<crate::OpenWebUi>(),
        DomainError::VersionMismatch => {
            detail(StatusCode::CONFLICT, "The model was changed meanwhile; retry")
        }
        other => default_service_failure(other),
    }
}

#[cfg(test)]
mod tests {
    use modelgate_core::Violation;
    use serde_json::json;

    use super::*;

    #[test]
    fn name_too_long_is_a_pydantic_error_with_its_input() {
        let body = json!({"name": "n"});
        let error = DomainError::invalid(FieldError::model(
            Field::DisplayName,
            Violation::TooLong { max: 256 },
        ));
        let response = domain_error(Op::Create, &error, Some(&body));
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn wire_paths_point_into_meta() {
        assert_eq!(wire_path(Field::Description), vec!["meta", "description"]);
        assert_eq!(wire_path(Field::InputCost), vec!["input_cost"]);
    }
}
