//! The wizard's live provider calls: `POST /test-connection` (try a model's settings before
//! saving them) and `POST /providers/{provider}/models` (what a provider offers). Made through
//! the server's provider client, so the egress policy applies; only providers that speak the
//! OpenAI API or Anthropic's are called (the others are answered as unsupported, see
//! docs/dialects.md).

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::gateway::{self, Protocol, api_v1_root, call_url};
use modelgate_http::outbound::{ProviderFailure, ProviderRequest, provider_client};
use modelgate_http::{Caller, JsonBody, detail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Xagent;
use crate::providers::default_base_url;
use crate::request::{self, ConnectionTest};

/// Xagent gives a connection test ten seconds.
const TEST_TIMEOUT: Duration = Duration::from_secs(10);
/// And a model listing as long as the provider's client allows; ours is bounded too.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// The providers whose model list is OpenAI's `GET /models`, or Anthropic's (Xagent's other
/// fetchers use provider SDKs or curated lists).
const LISTABLE: [&str; 10] = [
    "openai",
    "openrouter",
    "deepseek",
    "dashscope",
    "xinference",
    "zai-coding-plan",
    "zhipuai-coding-plan",
    "claude",
    "anthropic",
    "kimi-for-coding",
];

/// The coding plans whose model list Xagent keeps itself instead of asking the provider: the
/// same names, each as `{id, created: 0, owned_by: <provider>}`.
const CURATED: [(&str, &[&str]); 4] = [
    ("alibaba-coding-plan", &ALIBABA_CODING_PLAN),
    ("alibaba-coding-plan-cn", &ALIBABA_CODING_PLAN),
    ("minimax-coding-plan", &MINIMAX_CODING_PLAN),
    ("minimax-cn-coding-plan", &MINIMAX_CODING_PLAN),
];

const ALIBABA_CODING_PLAN: [&str; 6] = [
    "glm-4.7",
    "glm-5",
    "qwen3-coder-next",
    "qwen3-coder-plus",
    "qwen3-max-2026-01-23",
    "qwen3.5-plus",
];

const MINIMAX_CODING_PLAN: [&str; 3] = ["MiniMax-M2", "MiniMax-M2.1", "MiniMax-M2.5"];

/// Providers whose API is neither OpenAI's (Azure OpenAI's included) nor Anthropic's:
/// modelgate does not call them from here.
const NOT_OPENAI: [&str; 4] = ["gemini", "google", "elevenlabs", "xinference-rerank"];

const NO_CLIENT: &str = "This server cannot call model providers.";

/// Whether `provider` speaks Anthropic's API (keys in `x-api-key`, chat at `/messages`).
fn anthropic(provider: &str) -> bool {
    Protocol::of_provider(Some(provider)) == Protocol::Anthropic
}

/// The API root (`…/v1`) for `provider` at `base_url` (or its default).
fn api_root(provider: &str, base_url: Option<&str>) -> Result<String, String> {
    if NOT_OPENAI.contains(&provider) {
        return Err(format!(
            "modelgate calls providers that speak the OpenAI or Anthropic API; '{provider}' does not"
        ));
    }
    let base = base_url.map(str::trim).filter(|b| !b.is_empty());
    if anthropic(provider) {
        // Given as the host, as Anthropic's clients take it; its API is under /v1.
        let default = default_base_url(provider)
            .or_else(|| gateway::default_base_url(provider))
            .unwrap_or_default();
        return Ok(api_v1_root(base.unwrap_or(default)));
    }
    let base = match (base, default_base_url(provider)) {
        (Some(base), _) => base.trim_end_matches('/').to_owned(),
        (None, Some(default)) => default.to_owned(),
        (None, None) if provider == "xinference" => {
            return Err("base_url is required for Xinference".to_owned());
        }
        (None, None) => return Err(format!("base_url is required for provider '{provider}'")),
    };
    // Xinference is given as its server's root; its OpenAI API is under /v1.
    Ok(gateway::openai_root(Some(provider), base))
}

/// How a connection test ended.
enum Probed {
    Passed,
    TimedOut,
    /// Why, in the words of the answer's `error`.
    Failed(String),
}

#[derive(Serialize)]
struct TestOutcome {
    model_id: String,
    status: &'static str,
    response_time: f64,
    message: &'static str,
    error: Option<String>,
}

/// The probe Xagent makes for a category: one token of chat, one embedding, or (other
/// categories) finding the model in the provider's list.
fn probe(
    test: &ConnectionTest,
    root: &str,
    protocol: Protocol,
) -> Result<(String, Option<Value>), String> {
    let provider = test.provider.trim().to_lowercase();
    // Azure OpenAI calls the deployment named like the model.
    let url = |operation: &str| call_url(protocol, root, Some(&test.model_name), operation);
    match test.category.as_str() {
        "llm" if anthropic(&provider) => {
            let body = json!({
                "model": test.model_name,
                "max_tokens": 1,
                "messages": [{ "role": "user", "content": "Hello" }],
            });
            Ok((format!("{root}/messages"), Some(body)))
        }
        "embedding" if anthropic(&provider) => {
            Err(format!("Provider '{provider}' has no embedding models"))
        }
        "llm" => {
            let name = test.model_name.to_lowercase();
            let reasoning = name.starts_with("o1")
                || name.starts_with("o3")
                || ["-o1", "-o3", "thinking", "reasoner"].iter().any(|m| name.contains(m));
            let mut body = json!({
                "model": test.model_name,
                "messages": [{ "role": "user", "content": "Hello" }],
            });
            // Reasoning models refuse a temperature and count their tokens differently.
            if !reasoning {
                body["max_tokens"] = json!(1);
                body["temperature"] = json!(test.temperature.unwrap_or(0.7));
            }
            Ok((url("chat/completions"), Some(body)))
        }
        "embedding" => {
            Ok((url("embeddings"), Some(json!({ "model": test.model_name, "input": "hello" }))))
        }
        "image" | "speech" => Ok((call_url(protocol, root, None, "models"), None)),
        other => Err(format!("Unsupported category for testing: {other}")),
    }
}

fn listed(answer: &Value, model_name: &str) -> bool {
    let wanted = model_name.trim().trim_start_matches("models/");
    answer["data"].as_array().is_some_and(|models| {
        models
            .iter()
            .filter_map(|m| m["id"].as_str())
            .any(|id| id.trim().trim_start_matches("models/") == wanted)
    })
}

/// `POST /test-connection`: always 200 once the caller and the body are accepted; `status`
/// says whether the provider answered.
pub async fn test_connection(
    req: HttpRequest,
    _caller: Caller<Xagent>,
    body: JsonBody<Xagent>,
) -> HttpResponse {
    let test = match request::connection_test(&body.into_inner()) {
        Ok(test) => test,
        Err(refusal) => return refusal.render(),
    };
    let Some(client) = provider_client(&req) else {
        return detail(StatusCode::NOT_IMPLEMENTED, NO_CLIENT);
    };
    let started = Instant::now();
    let provider = test.provider.trim().to_lowercase();
    let probed = api_root(&provider, test.base_url.as_deref()).and_then(|root| {
        let protocol = Protocol::of_upstream(Some(&provider), &root);
        probe(&test, &root, protocol).map(|(url, body)| (url, body, protocol))
    });
    let outcome = match probed {
        Err(reason) => Probed::Failed(reason),
        Ok((url, body, protocol)) => {
            let lists = body.is_none();
            let request = ProviderRequest {
                url,
                body,
                api_key: test.api_key.clone(),
                protocol,
                timeout: TEST_TIMEOUT,
            };
            match client.call(&req, request).await {
                Ok(answer) if lists && !listed(&answer, &test.model_name) => Probed::Failed(
                    format!("Model '{}' was not found in provider '{provider}'", test.model_name),
                ),
                Ok(_) => Probed::Passed,
                Err(ProviderFailure::TimedOut) => Probed::TimedOut,
                Err(failure) => Probed::Failed(failure.without_key(test.api_key.as_deref())),
            }
        }
    };
    let (status, message, error) = match outcome {
        Probed::Passed => ("passed", "Connection successful", None),
        Probed::TimedOut => (
            "failed",
            "Connection timed out",
            Some(format!(
                "Connection timed out after {} seconds. Please check your network connection \
                 and provider status.",
                TEST_TIMEOUT.as_secs()
            )),
        ),
        Probed::Failed(reason) => ("failed", "Connection failed", Some(reason)),
    };
    HttpResponse::Ok().json(TestOutcome {
        model_id: test.model_name,
        status,
        response_time: started.elapsed().as_secs_f64(),
        message,
        error,
    })
}

/// `POST /providers/{provider}/models`: `{provider, models: [{id, created, owned_by…}], count}`.
pub async fn provider_models(
    req: HttpRequest,
    _caller: Caller<Xagent>,
    path: web::Path<String>,
    body: JsonBody<Xagent>,
) -> HttpResponse {
    let provider = path.into_inner();
    let (api_key, base_url) = match request::provider_models(&body.into_inner()) {
        Ok(sent) => sent,
        Err(refusal) => return refusal.render(),
    };
    let id = provider.to_lowercase();
    if let Some((_, names)) = CURATED.iter().find(|(curated, _)| *curated == id) {
        let models: Vec<Value> =
            names.iter().map(|name| json!({ "id": name, "created": 0, "owned_by": id })).collect();
        return HttpResponse::Ok()
            .json(json!({ "provider": provider, "count": models.len(), "models": models }));
    }
    if !LISTABLE.contains(&id.as_str()) {
        let supported = LISTABLE.iter().chain(CURATED.iter().map(|(name, _)| name));
        let names: Vec<String> = supported.map(|p| format!("'{p}'")).collect();
        let message = format!(
            "Unsupported provider: {provider}. Supported providers: [{}]",
            names.join(", ")
        );
        return detail(StatusCode::BAD_REQUEST, message);
    }
    let Some(client) = provider_client(&req) else {
        return detail(StatusCode::NOT_IMPLEMENTED, NO_CLIENT);
    };
    let failed = |reason: String| {
        detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to fetch models from {provider}: {reason}"),
        )
    };
    let root = match api_root(&id, base_url.as_deref()) {
        Ok(root) => root,
        Err(reason) => return failed(reason),
    };
    // `openai` at an Azure endpoint lists the resource's models, with Azure's key header.
    let protocol = Protocol::of_upstream(Some(&id), &root);
    let request = ProviderRequest {
        url: call_url(protocol, &root, None, "models"),
        body: None,
        api_key: Some(api_key.clone()),
        protocol,
        timeout: LIST_TIMEOUT,
    };
    let answer = match client.call(&req, request).await {
        Ok(answer) => answer,
        Err(failure) => return failed(failure.without_key(Some(&api_key))),
    };
    let Some(items) = answer["data"].as_array() else {
        return failed("the provider's answer has no model list".to_owned());
    };
    // The fields of Xagent's ProviderModelInfo, as far as the provider gave them.
    const FIELDS: [&str; 7] =
        ["id", "name", "description", "created", "owned_by", "model", "status"];
    let models: Vec<Value> = items
        .iter()
        .filter(|m| m["id"].is_string())
        .map(|m| {
            let mut kept = FIELDS
                .iter()
                .filter_map(|f| m.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                .collect::<serde_json::Map<_, _>>();
            // Anthropic names a model `display_name`.
            if let (false, Some(name)) = (kept.contains_key("name"), m.get("display_name")) {
                kept.insert("name".into(), name.clone());
            }
            Value::Object(kept)
        })
        .collect();
    HttpResponse::Ok()
        .json(json!({ "provider": provider, "count": models.len(), "models": models }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::api_root;

    #[test]
    fn claude_compatible_plans_default_to_their_own_anthropic_roots() {
        assert_eq!(
            api_root("minimax-coding-plan", None).unwrap(),
            "https://api.minimax.io/anthropic/v1"
        );
        assert_eq!(
            api_root("minimax-cn-coding-plan", None).unwrap(),
            "https://api.minimaxi.com/anthropic/v1"
        );
        assert_eq!(api_root("kimi-for-coding", None).unwrap(), "https://api.kimi.com/coding/v1");
        assert_eq!(api_root("claude", None).unwrap(), "https://api.anthropic.com/v1");
        assert_eq!(
            api_root("kimi-for-coding", Some("https://proxy.example/v1")).unwrap(),
            "https://proxy.example/v1"
        );
        assert!(api_root("gemini", None).is_err());
    }
}
