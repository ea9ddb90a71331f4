//! The inference gateway's domain: where a call to a model goes, what its parameters are, what
//! it costs, and the usage rows that meter it. No IO: the store resolves, the server calls.

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::model::{JsonMap, Pricing, Secret};

/// Where a call to a registered model goes. Holds the decrypted key: built for one upstream
/// call and dropped with it.
#[derive(Debug)]
pub struct Upstream {
    /// The model the caller named (a key of its org or of the catalog).
    pub model_key: String,
    /// The name the upstream knows it by: the model's base model, else its own key.
    pub upstream_model: String,
    /// The API root, e.g. `https://api.openai.com/v1` (Azure's: see [`call_url`]).
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The model's own parameters (temperature, max_tokens, top_p, system prompt…).
    pub params: JsonMap,
    /// Prices per million tokens: the model's own, each unset one inherited from its base.
    pub pricing: Pricing,
    /// The API the upstream speaks.
    pub protocol: Protocol,
}

impl Upstream {
    /// Where `operation` (`chat/completions`, `embeddings`) of this model is called.
    pub fn url(&self, operation: &str) -> String {
        call_url(self.protocol, &self.base_url, Some(&self.upstream_model), operation)
    }
}

/// The API an upstream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI's chat completions and embeddings: OpenAI and most providers, vLLM, Ollama's `/v1`.
    OpenAi,
    /// Anthropic's Messages API: chat calls are translated both ways, embeddings are refused.
    Anthropic,
    /// Azure OpenAI: OpenAI's bodies, but a deployment's URL with an `api-version`, and the key
    /// in `api-key` (see [`call_url`]).
    AzureOpenAi,
}

/// Providers whose API is Anthropic's Messages API: Anthropic itself (`claude` is Xagent's name
/// for it) and the coding plans Xagent's provider list marks as Claude-compatible.
const SPEAK_ANTHROPIC: [&str; 5] =
    ["anthropic", "claude", "minimax-coding-plan", "minimax-cn-coding-plan", "kimi-for-coding"];

/// Azure OpenAI by its names in Respan (`azure`), Xagent (`azure_openai`) and LiteLLM's style.
const AZURE: [&str; 3] = ["azure", "azure_openai", "azure-openai"];

/// The host names of Azure OpenAI resources (classic, Cognitive Services and AI Foundry ones).
const AZURE_HOSTS: [&str; 3] =
    [".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"];

/// The API version asked of an Azure deployment whose URL names none: the newest GA version of
/// the inference API, the first GA one that takes `stream_options` (streams' usage).
pub const AZURE_API_VERSION: &str = "2024-10-21";

impl Protocol {
    /// What a model whose provider (its own, else its base's) is `provider` speaks.
    pub fn of_provider(provider: Option<&str>) -> Self {
        let provider = provider.map(str::trim).unwrap_or_default();
        let named = |names: &[&str]| names.iter().any(|p| p.eq_ignore_ascii_case(provider));
        if named(&SPEAK_ANTHROPIC) {
            Self::Anthropic
        } else if named(&AZURE) {
            Self::AzureOpenAi
        } else {
            Self::OpenAi
        }
    }

    /// What the upstream at `base_url` speaks for a model of `provider`: the provider's API,
    /// except that an OpenAI-speaking model on an Azure host is called as Azure OpenAI (Syft
    /// Space's `openai` type, or Xagent's `openai` provider, given an Azure endpoint).
    pub fn of_upstream(provider: Option<&str>, base_url: &str) -> Self {
        match Self::of_provider(provider) {
            Self::OpenAi if is_azure_host(base_url) => Self::AzureOpenAi,
            other => other,
        }
    }
}

/// Splits a URL into what precedes its query (without trailing slashes) and the query.
fn split_query(url: &str) -> (&str, Option<&str>) {
    let (root, query) = match url.split_once('?') {
        Some((root, query)) => (root, Some(query).filter(|q| !q.is_empty())),
        None => (url, None),
    };
    (root.trim_end_matches('/'), query)
}

/// What follows `url`'s `scheme://` (all of it when it has none). A `char` is looked for rather
/// than `"://"`: a string pattern sets up a substring searcher, and this runs on every call.
fn after_scheme(url: &str) -> &str {
    match url.find(':') {
        Some(at) if url[at..].starts_with("://") => &url[at + 3..],
        _ => url,
    }
}

/// The host of `url`, without user or port.
fn host_of(url: &str) -> &str {
    let rest = after_scheme(url);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    }
}

fn is_azure_host(url: &str) -> bool {
    let host = host_of(url).as_bytes();
    AZURE_HOSTS.iter().any(|suffix| {
        let suffix = suffix.as_bytes();
        host.len() > suffix.len() && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    })
}

/// The path of `root` after its host (`""` for none).
fn path_of(root: &str) -> &str {
    let rest = after_scheme(root);
    rest.find('/').map_or("", |at| &rest[at..])
}

/// `query` with `api-version=<version>` unless it names one.
fn with_api_version(query: Option<&str>, version: &str) -> String {
    match query {
        Some(query) if query.split('&').any(|pair| pair.starts_with("api-version=")) => {
            query.to_owned()
        }
        Some(query) => format!("{query}&api-version={version}"),
        None => format!("api-version={version}"),
    }
}

/// `base_url` naming `version` as its `api-version` unless it names one already: an Azure
/// provider's own `api_version` setting.
pub fn base_url_with_api_version(base_url: &str, version: &str) -> String {
    let (root, query) = split_query(base_url.trim());
    format!("{root}?{}", with_api_version(query, version))
}

/// What a deployment's name keeps unescaped as a path segment: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The URL of an OpenAI operation (`chat/completions`, `embeddings`, `models`) at `base_url`,
/// whose query, if any, is kept after the operation's path (`…/v1?key=x` →
/// `…/v1/chat/completions?key=x`).
///
/// Azure OpenAI's base URL is taken in each of the forms its clients take:
/// - the resource's endpoint (`https://r.openai.azure.com`, with or without `/openai`): the
///   call goes to the deployment named like the upstream model,
///   `…/openai/deployments/<deployment>/chat/completions?api-version=…` (listing models,
///   `deployment` is `None`: `…/openai/models?api-version=…`);
/// - a deployment's URL (`…/openai/deployments/<name>`), which names the deployment itself;
/// - an API root of another kind (the v1 API's `…/openai/v1`, AI Foundry's `…/models`), used
///   as it is.
///
/// A deployment's calls carry the base URL's `api-version`, else [`AZURE_API_VERSION`].
pub fn call_url(
    protocol: Protocol,
    base_url: &str,
    deployment: Option<&str>,
    operation: &str,
) -> String {
    let (root, query) = split_query(base_url.trim());
    let (url, query) = match protocol {
        Protocol::AzureOpenAi => {
            let path = path_of(root);
            let versioned = Some(with_api_version(query, AZURE_API_VERSION));
            let endpoint = root.strip_suffix("/openai").unwrap_or(root);
            match (path, deployment, path.find("/deployments/")) {
                ("" | "/openai", Some(name), _) => {
                    let name = utf8_percent_encode(name, SEGMENT);
                    (format!("{endpoint}/openai/deployments/{name}/{operation}"), versioned)
                }
                ("" | "/openai", None, _) => (format!("{endpoint}/openai/{operation}"), versioned),
                // A deployment's own URL: its operations are under it, the resource's beside it.
                (_, Some(_), Some(_)) => (format!("{root}/{operation}"), versioned),
                (_, None, Some(at)) => {
                    let resource = &root[..root.len() - path.len() + at];
                    (format!("{resource}/{operation}"), versioned)
                }
                (_, _, None) => (format!("{root}/{operation}"), query.map(str::to_owned)),
            }
        }
        _ => (format!("{root}/{operation}"), query.map(str::to_owned)),
    };
    match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    }
}

/// Providers whose base URL is their server's root, with the OpenAI API under `/v1`: Ollama
/// (Syft Space's `ollama` type, `http://localhost:11434`) and Xinference (Xagent's).
const SERVED_UNDER_V1: [&str; 2] = ["ollama", "xinference"];

/// The OpenAI API root of a server of `provider` at `base_url`: `base_url` itself, but `…/v1`
/// under the root of a server whose clients take its root (see [`api_v1_root`]).
pub fn openai_root(provider: Option<&str>, base_url: String) -> String {
    let provider = provider.map(str::trim).unwrap_or_default();
    match SERVED_UNDER_V1.iter().any(|p| p.eq_ignore_ascii_case(provider)) {
        true => api_v1_root(&base_url),
        false => base_url,
    }
}

/// The `…/v1` API root under a base URL given either as the server's root (as Anthropic's and
/// Ollama's clients take it) or as the API root itself.
pub fn api_v1_root(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") { base.to_owned() } else { format!("{base}/v1") }
}

/// The API roots of the providers whose catalog models can be called with an org's key alone.
pub fn default_base_url(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "openai" => "https://api.openai.com/v1",
        "anthropic" | "claude" => "https://api.anthropic.com/v1",
        "google" => "https://generativelanguage.googleapis.com/v1beta/openai",
        "mistral" => "https://api.mistral.ai/v1",
        "deepseek" => "https://api.deepseek.com/v1",
        "xai" => "https://api.x.ai/v1",
        "groq" => "https://api.groq.com/openai/v1",
        "together" => "https://api.together.xyz/v1",
        "openrouter" => "https://openrouter.ai/api/v1",
        _ => return None,
    })
}

/// Tokens one call used, as the upstream reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: i64,
    pub completion: i64,
    /// Prompt tokens served from the upstream's cache (part of `prompt`).
    pub cached: i64,
}

impl Tokens {
    /// USD at `pricing` (per million tokens); `None` when the model has no input or output price.
    pub fn cost(&self, pricing: &Pricing) -> Option<f64> {
        let input = pricing.input?;
        let output = pricing.output.unwrap_or(0.0);
        let cached_price = pricing.cache_hit_input.unwrap_or(input);
        let uncached = (self.prompt - self.cached).max(0) as f64;
        let total = uncached * input
            + self.cached.max(0) as f64 * cached_price
            + self.completion.max(0) as f64 * output;
        Some(total / 1_000_000.0)
    }
}

/// One metered call.
#[derive(Clone, Debug)]
pub struct UsageRecord {
    /// Hash of the key the call was made with (the store records the key's id).
    pub key_hash: Option<String>,
    pub model_key: String,
    pub upstream_model: String,
    /// `chat.completions` or `embeddings`.
    pub endpoint: &'static str,
    pub tokens: Tokens,
    pub cost: Option<f64>,
    pub latency_ms: i64,
    /// Time to the first byte of the answer (streams: the first chunk).
    pub ttft_ms: Option<i64>,
    /// The status the caller got.
    pub status: u16,
    pub stream: bool,
    /// When the call ended: a row is written up to a batch interval later, and must count on
    /// the day (and in the range) of its call.
    pub at: DateTime<Utc>,
}

/// How usage is grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageGroup {
    Model,
    User,
    Key,
    Day,
}

impl UsageGroup {
    const ALL: [Self; 4] = [Self::Model, Self::User, Self::Key, Self::Day];

    pub fn name(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::User => "user",
            Self::Key => "key",
            Self::Day => "day",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|group| group.name() == name)
    }
}

#[derive(Clone, Debug)]
pub struct UsageQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: UsageGroup,
}

/// Usage of one group over the query's range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsageRow {
    /// The model key, user id, key id or day (`YYYY-MM-DD`, UTC); `null` for calls without a
    /// recorded key.
    pub group: Option<String>,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    /// USD; calls to unpriced models count as 0.
    pub cost: f64,
    /// The calls' mean latency, from the request to the upstream to the end of its answer.
    pub avg_latency_ms: f64,
    /// The streamed calls' mean time to their first chunk; `null` when none was streamed.
    pub avg_ttft_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_root_is_found_under_either_form_of_base_url() {
        assert_eq!(api_v1_root("https://api.anthropic.com"), "https://api.anthropic.com/v1");
        assert_eq!(api_v1_root("http://ollama:11434/v1/"), "http://ollama:11434/v1");
    }

    #[test]
    fn ollama_and_xinference_are_called_under_v1_of_their_root() {
        assert_eq!(openai_root(Some("ollama"), "http://gpu:11434/".into()), "http://gpu:11434/v1");
        assert_eq!(openai_root(Some("Xinference"), "http://x:9997/v1".into()), "http://x:9997/v1");
        assert_eq!(openai_root(Some("vllm"), "http://v:8000".into()), "http://v:8000");
        assert_eq!(
            openai_root(None, "https://api.openai.com/v1/".into()),
            "https://api.openai.com/v1/"
        );
    }

    #[test]
    fn anthropic_and_the_providers_that_speak_its_api_are_told_apart() {
        for anthropic in ["anthropic", "Claude", " kimi-for-coding ", "minimax-coding-plan"] {
            assert_eq!(Protocol::of_provider(Some(anthropic)), Protocol::Anthropic, "{anthropic}");
        }
        for openai in [Some("openai"), Some("openrouter"), Some(""), None] {
            assert_eq!(Protocol::of_provider(openai), Protocol::OpenAi, "{openai:?}");
        }
    }

    #[test]
    fn azure_is_told_by_its_provider_names_and_by_its_hosts() {
        for azure in ["azure", "Azure_OpenAI", "azure-openai"] {
            assert_eq!(Protocol::of_provider(Some(azure)), Protocol::AzureOpenAi, "{azure}");
        }
        let of = Protocol::of_upstream;
        for host in [
            "https://res.openai.azure.com",
            "https://RES.openai.azure.com:443/openai/v1/",
            "https://res.cognitiveservices.azure.com/openai/deployments/gpt",
            "https://proj.services.ai.azure.com/models",
            "https://user:secret@res.openai.azure.com?api-version=2024-10-21",
        ] {
            assert_eq!(of(Some("openai"), host), Protocol::AzureOpenAi, "{host}");
            assert_eq!(of(None, host), Protocol::AzureOpenAi, "{host}");
        }
        // Claude served from an Azure host is still Anthropic's API; look-alike hosts are not Azure.
        assert_eq!(
            of(Some("anthropic"), "https://p.services.ai.azure.com/anthropic"),
            Protocol::Anthropic
        );
        for other in [
            "https://openai.azure.com.evil.example/v1",
            "https://evil.example/res.openai.azure.com",
            "http://[::1]:8000/v1",
            "http://127.0.0.1:9/v1",
            "https://api.openai.com/v1",
        ] {
            assert_eq!(of(Some("openai"), other), Protocol::OpenAi, "{other}");
        }
        assert_eq!(of(Some("azure"), "http://127.0.0.1:9"), Protocol::AzureOpenAi);
    }

    #[test]
    fn azure_calls_go_to_the_deployment_with_an_api_version() {
        let azure = |base: &str, deployment: Option<&str>, operation: &str| {
            call_url(Protocol::AzureOpenAi, base, deployment, operation)
        };
        let chat = Some("gpt-4o prod");
        assert_eq!(
            azure("https://r.openai.azure.com/", chat, "chat/completions"),
            "https://r.openai.azure.com/openai/deployments/gpt-4o%20prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            azure(
                "https://r.openai.azure.com/openai?api-version=2025-04-01-preview",
                Some("emb"),
                "embeddings"
            ),
            "https://r.openai.azure.com/openai/deployments/emb/embeddings?api-version=2025-04-01-preview"
        );
        // A deployment's own URL names the deployment; its query is kept, a version added.
        assert_eq!(
            azure(
                "https://r.openai.azure.com/openai/deployments/mine/?x=1",
                chat,
                "chat/completions"
            ),
            "https://r.openai.azure.com/openai/deployments/mine/chat/completions?x=1&api-version=2024-10-21"
        );
        // Listing models is the resource's, not a deployment's.
        assert_eq!(
            azure(
                "https://r.openai.azure.com/openai/deployments/mine?api-version=2024-06-01",
                None,
                "models"
            ),
            "https://r.openai.azure.com/openai/models?api-version=2024-06-01"
        );
        assert_eq!(
            azure("https://r.openai.azure.com", None, "models"),
            "https://r.openai.azure.com/openai/models?api-version=2024-10-21"
        );
        // Other API roots (the v1 API, AI Foundry's models API) are used as they are.
        assert_eq!(
            azure("https://r.openai.azure.com/openai/v1/", chat, "chat/completions"),
            "https://r.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(
            azure(
                "https://p.services.ai.azure.com/models?api-version=2024-05-01-preview",
                chat,
                "chat/completions"
            ),
            "https://p.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview"
        );
        assert_eq!(
            base_url_with_api_version("https://r.openai.azure.com/", "2024-06-01"),
            "https://r.openai.azure.com?api-version=2024-06-01"
        );
        assert_eq!(
            base_url_with_api_version("https://r.x/?api-version=1", "2"),
            "https://r.x?api-version=1"
        );
    }

    #[test]
    fn an_openai_base_urls_query_follows_the_operations_path() {
        let openai = |base: &str| call_url(Protocol::OpenAi, base, Some("m"), "chat/completions");
        assert_eq!(
            openai("https://api.openai.com/v1/"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            openai("https://gw.example/v1?team=a"),
            "https://gw.example/v1/chat/completions?team=a"
        );
    }

    #[test]
    fn cost_prices_cached_prompt_tokens_at_the_cache_price() {
        let pricing = Pricing {
            input: Some(2.0),
            output: Some(8.0),
            cache_hit_input: Some(0.5),
            cache_creation_input: None,
        };
        let tokens = Tokens { prompt: 1_000, completion: 500, cached: 400 };
        // 600 × 2 + 400 × 0.5 + 500 × 8 = 5,400 per million.
        assert_eq!(tokens.cost(&pricing), Some(0.0054));
        assert_eq!(tokens.cost(&Pricing::default()), None);
        let no_cache_price = Pricing { cache_hit_input: None, ..pricing };
        assert_eq!(tokens.cost(&no_cache_price), Some((1_000.0 * 2.0 + 500.0 * 8.0) / 1e6));
    }
}
