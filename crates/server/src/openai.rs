//! `GET /v1/models`: the registry in OpenAI's model-list shape, so any OpenAI client can
//! discover the models a caller can use. Errors follow OpenAI's `{"error": {…}}` format.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use modelgate_core::{
    Column, Condition, DomainError, Model, ModelEntry, ModelQuery, ModelRef, Op, Sort, Value,
};
use modelgate_http::nul::NUL_SENTENCE;
use modelgate_http::routes::{Routes, openapi_document};
use modelgate_http::stream::{ModelList, stream_models};
use modelgate_http::{AuthFailure, BodyFailure, Caller, Deferred, Dialect, NulFound, Services};
use serde::Serialize;
use serde_json::json;

pub struct OpenAi;

pub(crate) fn error(
    status: StatusCode,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": { "message": message, "type": "invalid_request_error", "param": param, "code": code }
    }))
}

impl Dialect for OpenAi {
    const NAME: &'static str = "openai";

    fn auth_failure(failure: AuthFailure) -> HttpResponse {
        match failure {
            AuthFailure::Missing => error(
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
                None,
                None,
            ),
            AuthFailure::Invalid => error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                None,
                Some("invalid_api_key"),
            ),
        }
    }

    fn body_failure(_: BodyFailure) -> HttpResponse {
        error(StatusCode::BAD_REQUEST, "Invalid request body.", None, None)
    }

    fn service_failure(e: &DomainError) -> HttpResponse {
        modelgate_http::log_failure(e);
        let (status, message) = match e {
            DomainError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.")
            }
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request.",
            ),
        };
        HttpResponse::build(status).json(json!({
            "error": { "message": message, "type": "server_error", "param": null, "code": null }
        }))
    }

    fn unknown_path() -> HttpResponse {
        error(StatusCode::NOT_FOUND, "Unknown request URL.", None, Some("unknown_url"))
    }

    /// OpenAI reports one problem, naming the parameter.
    fn nul_refused(found: &[NulFound]) -> HttpResponse {
        let param = found.first().map(NulFound::dotted);
        error(StatusCode::BAD_REQUEST, NUL_SENTENCE, param.as_deref(), None)
    }
}

/// One model as an OpenAI model object.
#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    owned_by: &'a str,
}

impl<'a> ModelObject<'a> {
    /// Catalog models are owned by their provider; an org's own models by the org.
    fn new(
        key: &'a str,
        org_id: Option<&'a str>,
        provider: Option<&'a str>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: key,
            object: "model",
            created: created_at.timestamp(),
            owned_by: org_id.or(provider).unwrap_or("modelgate"),
        }
    }

    fn of_model(model: &'a Model) -> Self {
        let provider = model.fields.provider.as_deref();
        Self::new(&model.key, model.org_id.as_deref(), provider, model.created_at)
    }

    fn of_entry(entry: &'a ModelEntry) -> Self {
        let (org_id, provider) = (entry.org_id.as_deref(), entry.provider.as_deref());
        Self::new(&entry.key, org_id, provider, entry.created_at)
    }
}

async fn list(services: web::Data<Services>, caller: Caller<OpenAi, Deferred>) -> HttpResponse {
    let query = ModelQuery {
        conditions: vec![Condition::column(Column::IsActive, Op::Eq, Value::Bool(true))],
        sort: vec![Sort::asc(Column::Key)],
        ..ModelQuery::default()
    };
    let document = (r#"{"object":"list","data":["#, "]}");
    // Only the columns printed are read: this list is fetched often and has every model.
    let list = ModelList::entries(vec![query], document, |entry, out| {
        // Serializing this struct into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &ModelObject::of_entry(entry));
    });
    match stream_models(services, caller.ctx, list).await {
        Ok(response) => response,
        Err(e) => OpenAi::service_failure(&e),
    }
}

async fn retrieve(
    services: web::Data<Services>,
    caller: Caller<OpenAi, Deferred>,
    id: web::Path<String>,
) -> HttpResponse {
    let key = id.into_inner();
    let reference = ModelRef::Key(key.clone());
    match services.read(move |registry| registry.get_model(&caller.ctx, &reference)).await {
        Ok(view) if view.model.fields.is_active => {
            HttpResponse::Ok().json(ModelObject::of_model(&view.model))
        }
        Ok(_) | Err(DomainError::NotFound(_)) => error(
            StatusCode::NOT_FOUND,
            &format!("The model '{key}' does not exist or you do not have access to it."),
            Some("model"),
            Some("model_not_found"),
        ),
        Err(DomainError::Unauthenticated) => modelgate_http::revoked_key::<OpenAi>(),
        Err(e) => OpenAi::service_failure(&e),
    }
}

/// Routes relative to `/v1`. Model ids may contain `/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes().register(cfg)
}

/// The OpenAPI document of `/v1` (`crates/server/openapi/v1.json`), served at `/v1/openapi.json`.
static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../openapi/v1.json")).unwrap_or_default());

/// Every `/v1` route: mounted by [`configure`], documented in v1.json.
pub fn routes() -> Routes {
    Routes::new()
        .resource(["/models"], |r| r.get(list))
        .resource(["/models/{id:.+}"], |r| r.get(retrieve))
        .resource(["/chat/completions"], |r| r.post(crate::gateway::chat_completions))
        .resource(["/embeddings"], |r| r.post(crate::gateway::embeddings))
        .resource(["/openapi.json"], |r| r.get(openapi_document(&DOCUMENT)))
}
