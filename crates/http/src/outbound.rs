//! Calls to a model provider that a dialect makes on its user's behalf: testing a connection
//! before a model is saved, listing the models a provider offers. The dialect says what to send
//! and how to answer; the server makes the call with the gateway's HTTP client, so the same
//! egress policy and timeouts apply as to inference.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use modelgate_core::gateway::Protocol;
use serde_json::Value;

/// One request to a provider's API.
#[derive(Debug)]
pub struct ProviderRequest {
    /// The full URL, e.g. `https://api.openai.com/v1/models`.
    pub url: String,
    /// `None` for a GET, else the JSON body of a POST.
    pub body: Option<Value>,
    /// Sent as the provider's API takes it (`protocol`) when set and not empty.
    pub api_key: Option<String>,
    /// The API the provider speaks: OpenAI's takes the key as `Authorization: Bearer …`, Azure
    /// OpenAI's as `api-key`, Anthropic's as `x-api-key` with an `anthropic-version` header.
    pub protocol: Protocol,
    /// The whole call.
    pub timeout: Duration,
}

/// Why a provider call gave no JSON answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderFailure {
    /// The egress policy refuses the address (`MODELGATE_EGRESS_ALLOW`).
    NotAllowed(String),
    /// No connection could be made (name not found, refused, TLS).
    Unreachable,
    /// No answer within the call's timeout.
    TimedOut,
    /// The provider answered with an error status; `message` is its error message, if any.
    Status { status: u16, message: Option<String> },
    /// A success status whose body is not JSON.
    NotJson,
    /// The URL cannot be called (not http(s), no host).
    BadUrl,
}

impl std::fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAllowed(address) => write!(
                f,
                "upstream address {address} is not allowed: an operator may allow it with \
                 MODELGATE_EGRESS_ALLOW"
            ),
            Self::Unreachable => write!(f, "the provider could not be reached"),
            Self::TimedOut => write!(f, "the provider did not answer in time"),
            Self::Status { status, message: Some(message) } => {
                write!(f, "the provider answered {status}: {message}")
            }
            Self::Status { status, message: None } => write!(f, "the provider answered {status}"),
            Self::NotJson => write!(f, "the provider's answer is not JSON"),
            Self::BadUrl => write!(f, "the base URL is not an http(s) URL"),
        }
    }
}

impl ProviderFailure {
    /// What the failure says, with the key that was sent replaced by `***` wherever the
    /// provider repeated it (keys under four characters are left: they would mask plain words).
    pub fn without_key(&self, api_key: Option<&str>) -> String {
        let text = self.to_string();
        match api_key.map(str::trim).filter(|k| k.len() >= 4) {
            Some(key) => text.replace(key, "***"),
            None => text,
        }
    }
}

/// Makes provider calls. The server's implementation is the gateway's client.
pub trait ProviderClient: 'static {
    fn call(
        &self,
        req: &HttpRequest,
        request: ProviderRequest,
    ) -> LocalBoxFuture<'static, Result<Value, ProviderFailure>>;
}

/// The provider client the server installed, if any (a dialect mounted by a tool or a test
/// without one answers that it cannot call providers).
pub fn provider_client(req: &HttpRequest) -> Option<Arc<dyn ProviderClient>> {
    req.app_data::<web::Data<dyn ProviderClient>>().map(|data| data.clone().into_inner())
}
