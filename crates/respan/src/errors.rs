//! Registry errors and input problems rendered the way Respan (Django REST framework) answers:
//! `{"detail": "..."}` for everything but field errors, which are `{"field": ["message"]}` / 400.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use modelgate_core::{
    Denied, DomainError, Entity, Field, FieldError, ProviderRef, Subject, Violation,
};
use modelgate_http::input::{Issue, drf_errors};
use modelgate_http::{default_service_failure, detail};
use serde_json::{Map, Value};

pub(crate) const NOT_FOUND: &str = "Not found.";
pub(crate) const INVALID_PAGE: &str = "Invalid page.";
pub(crate) const NO_PERMISSION: &str = "You do not have permission to perform this action.";
pub(crate) const MODIFY_HARDCODED: &str = "Cannot modify hardcoded models. They are synced from code and will be overwritten on next deployment. Only database-only models can be modified.";
pub(crate) const DELETE_HARDCODED: &str = "Cannot delete hardcoded models. They are synced from code and will be recreated on next deployment. Only database-only models can be deleted.";
pub(crate) const MODEL_EXISTS: &str = "model with this model name already exists.";
pub(crate) const PROVIDER_EXISTS: &str = "custom provider with this provider id already exists.";

/// What the failed request was doing, so an error can pick the right sentence and field name.
#[derive(Clone, Debug)]
pub(crate) struct Failing {
    /// The sentence for a refused write to a built-in model.
    pub builtin: &'static str,
    /// The wire key the provider reference came in (`custom_provider_id` or `provider_id`).
    pub provider_field: &'static str,
    /// The provider reference as sent, for the "does not exist" message.
    pub provider_ref: Option<ProviderRef>,
}

impl Failing {
    /// Any request but a delete (reads never meet the built-in refusal).
    pub(crate) fn modify() -> Self {
        Self { builtin: MODIFY_HARDCODED, provider_field: "custom_provider_id", provider_ref: None }
    }

    pub(crate) fn delete() -> Self {
        Self { builtin: DELETE_HARDCODED, ..Self::modify() }
    }
}

pub(crate) fn not_found() -> HttpResponse {
    detail(StatusCode::NOT_FOUND, NOT_FOUND)
}

pub(crate) fn invalid_page() -> HttpResponse {
    detail(StatusCode::NOT_FOUND, INVALID_PAGE)
}

/// A DRF 400 from the issues found while reading a request.
pub(crate) fn invalid_input(issues: &[Issue]) -> HttpResponse {
    HttpResponse::BadRequest().json(drf_errors(issues))
}

/// A DRF 400 with one message on one field.
pub(crate) fn field_error(field: &str, message: &str) -> HttpResponse {
    let mut body = Map::new();
    body.insert(field.to_owned(), Value::Array(vec![Value::String(message.to_owned())]));
    HttpResponse::BadRequest().json(Value::Object(body))
}

/// The wire name of a canonical model field.
fn wire_name(field: Field, failing: &Failing) -> &'static str {
    match field {
        Field::Key => "model_name",
        Field::BaseModel => "base_model_name",
        Field::ProviderRef => failing.provider_field,
        Field::Category => "model_type",
        Field::ContextWindow => "max_context_window",
        Field::Capabilities => "non_field_errors",
        other => other.name(),
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 { format!("{}", n as i64) } else { n.to_string() }
}

/// A sentence from a free-form reason: capitalised, with a full stop.
fn sentence(reason: &str) -> String {
    let mut chars = reason.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return "Invalid value.".to_owned(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn unknown_reference(error: &FieldError, failing: &Failing) -> String {
    match (&error.subject, &failing.provider_ref) {
        (Subject::Model(Field::ProviderRef), Some(ProviderRef::Id(id))) => {
            format!("Invalid pk \"{id}\" - object does not exist.")
        }
        (Subject::Model(Field::ProviderRef), Some(ProviderRef::Slug(slug))) => {
            format!("Object with provider_id={slug} does not exist.")
        }
        _ => "Object does not exist.".to_owned(),
    }
}

fn message(error: &FieldError, failing: &Failing) -> String {
    let integer_field =
        matches!(error.subject, Subject::Model(Field::ContextWindow | Field::Dimension));
    match &error.violation {
        Violation::Required => "This field is required.".into(),
        Violation::Empty => "This field may not be blank.".into(),
        Violation::TooLong { max } => {
            format!("Ensure this field has no more than {max} characters.")
        }
        Violation::BelowMin { min } => {
            format!("Ensure this value is greater than or equal to {}.", number(*min))
        }
        // DRF integer fields state the bound inclusively (`min_value=1`).
        Violation::NotGreaterThan { than } if integer_field => {
            format!("Ensure this value is greater than or equal to {}.", number(than + 1.0))
        }
        Violation::NotGreaterThan { than } => {
            format!("Ensure this value is greater than {}.", number(*than))
        }
        Violation::NotOneOf { .. } => "Select a valid choice.".into(),
        Violation::UnknownReference => unknown_reference(error, failing),
        Violation::Invalid { reason } => sentence(reason),
        _ => "Invalid value.".into(),
    }
}

/// Core's field errors as DRF field errors, under the wire names.
fn field_errors(errors: &[FieldError], failing: &Failing) -> Value {
    let mut body = Map::new();
    for error in errors {
        let name = match &error.subject {
            Subject::Model(field) => wire_name(*field, failing),
            Subject::Named(name) => name,
        };
        let entry = body.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(message(error, failing)));
        }
    }
    Value::Object(body)
}

/// Renders a registry error for a request doing `failing`.
pub(crate) fn domain_error(error: &DomainError, failing: &Failing) -> HttpResponse {
    match error {
        DomainError::NotFound(_) => not_found(),
        DomainError::Denied(Denied::Builtin) => detail(StatusCode::FORBIDDEN, failing.builtin),
        DomainError::Denied(_) => detail(StatusCode::FORBIDDEN, NO_PERMISSION),
        DomainError::Conflict { entity: Entity::Model, .. } => {
            field_error("model_name", MODEL_EXISTS)
        }
        DomainError::Conflict { entity: Entity::Provider, .. } => {
            field_error("provider_id", PROVIDER_EXISTS)
        }
        DomainError::Conflict { value, .. } => {
            field_error("non_field_errors", &format!("'{value}' already exists."))
        }
        DomainError::Invalid(errors) => {
            HttpResponse::BadRequest().json(field_errors(errors, failing))
        }
        DomainError::Unauthenticated => modelgate_http::revoked_key::<crate::Respan>(),
        DomainError::VersionMismatch => detail(
            StatusCode::CONFLICT,
            "The object was changed by another request meanwhile; retry.",
        ),
        other => default_service_failure(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_use_wire_names_and_drf_sentences() {
        let failing =
            Failing { provider_ref: Some(ProviderRef::Slug("nope".into())), ..Failing::modify() };
        let errors = vec![
            FieldError::model(Field::InputCost, Violation::BelowMin { min: 0.0 }),
            FieldError::model(Field::ContextWindow, Violation::NotGreaterThan { than: 0.0 }),
            FieldError::model(Field::ProviderRef, Violation::UnknownReference),
            FieldError::model(Field::Key, Violation::TooLong { max: 256 }),
            FieldError::named("provider_id", Violation::Invalid { reason: "must not be x".into() }),
        ];
        assert_eq!(
            field_errors(&errors, &failing),
            serde_json::json!({
                "input_cost": ["Ensure this value is greater than or equal to 0."],
                "max_context_window": ["Ensure this value is greater than or equal to 1."],
                "custom_provider_id": ["Object with provider_id=nope does not exist."],
                "model_name": ["Ensure this field has no more than 256 characters."],
                "provider_id": ["Must not be x."]
            })
        );
    }
}
