//! `POST /api/v1/models/types/{type}/actions/{action}`: actions a model type offers before a
//! model exists. One is served, `fetch_available_models`: the models an OpenAI-compatible API
//! lists at `GET {base_url}/models` (Anthropic's at `GET {base_url}/v1/models`), called through
//! the server's provider client (egress policy included) so the model form can offer them.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::gateway::{Protocol, api_v1_root, call_url, openai_root};
use modelgate_http::input::{Fields, Loc};
use modelgate_http::outbound::{ProviderFailure, ProviderRequest, provider_client};
use modelgate_http::{Caller, JsonBody, detail};
use serde::Serialize;
use serde_json::Value;

use crate::errors;
use crate::{Syft, types};

/// Syft Space's client gives the listing ten seconds.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The types whose API lists models at `/models`: the OpenAI way (Ollama's at `/v1/models`), and
/// Anthropic's (at `/v1/models` under its host, with its own key header).
const LISTING_TYPES: [&str; 4] = ["openai", "vllm", "ollama", "anthropic"];

#[derive(Serialize)]
struct Listed {
    id: String,
    name: Option<String>,
    owned_by: Option<String>,
}

#[derive(Serialize)]
struct Available {
    models: Vec<Listed>,
}

pub async fn type_action(
    req: HttpRequest,
    _caller: Caller<Syft>,
    path: web::Path<(String, String)>,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let (name, action) = path.into_inner();
    if types::find(&name).is_none() {
        return errors::model_type_not_found(StatusCode::NOT_FOUND, &name);
    }
    if action != "fetch_available_models" || !LISTING_TYPES.contains(&name.as_str()) {
        return detail(
            StatusCode::NOT_FOUND,
            format!("Action '{action}' not found for model type '{name}'"),
        );
    }
    let body = body.into_inner();
    if !body.is_object() {
        return errors::not_an_object(&body);
    }
    let mut f = Fields::new(&body, &[Loc::from("body")]);
    let base_url = f.required_string("base_url");
    let api_key = f.required_string("api_key");
    if let Err(issues) = f.finish() {
        return errors::unprocessable(&issues);
    }
    let (Some(base_url), Some(api_key)) = (base_url, api_key) else {
        return errors::unprocessable(&[]);
    };
    let Some(client) = provider_client(&req) else {
        return detail(StatusCode::NOT_IMPLEMENTED, "This server cannot call model providers.");
    };
    let root = base_url.trim().trim_end_matches('/');
    // An `openai` model may be an Azure OpenAI deployment, recognised by its host.
    let protocol = Protocol::of_upstream(Some(&name), root);
    let url = match name.as_str() {
        "anthropic" => format!("{}/models", api_v1_root(root)),
        // Ollama's OpenAI API is under /v1 of the server's root, as the gateway calls it.
        _ => call_url(protocol, &openai_root(Some(&name), root.to_owned()), None, "models"),
    };
    let request = ProviderRequest {
        url,
        body: None,
        api_key: Some(api_key.clone()),
        protocol,
        timeout: TIMEOUT,
    };
    let answer = match client.call(&req, request).await {
        Ok(answer) => answer,
        Err(failure) => return fetch_failed(&failure, &api_key),
    };
    let Some(items) = answer["data"].as_array() else {
        return detail(
            StatusCode::BAD_GATEWAY,
            "Failed to fetch models: the answer lists no models",
        );
    };
    let text = |m: &Value, key: &str| m[key].as_str().map(str::to_owned);
    let mut models: Vec<Listed> = items
        .iter()
        .filter_map(|m| {
            let id = text(m, "id")?;
            // Anthropic names a model `display_name`.
            let name = text(m, "name").or_else(|| text(m, "display_name"));
            Some(Listed { id, name, owned_by: text(m, "owned_by") })
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    HttpResponse::Ok().json(Available { models })
}

/// 403 for an address the egress policy refuses, 502 for a provider that failed; the key never
/// appears in the message.
fn fetch_failed(failure: &ProviderFailure, api_key: &str) -> HttpResponse {
    let status = match failure {
        ProviderFailure::NotAllowed(_) => StatusCode::FORBIDDEN,
        ProviderFailure::BadUrl => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_GATEWAY,
    };
    detail(status, format!("Failed to fetch models: {}", failure.without_key(Some(api_key))))
}
