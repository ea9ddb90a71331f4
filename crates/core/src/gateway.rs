//! The inference gateway's domain: where a call to a model goes, what its parameters are, what
//! it costs, and the usage rows that meter it. No IO: the store resolves, the server calls.

use chrono::{DateTime, Utc};
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
    /// The OpenAI-compatible API root, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The model's own parameters (temperature, max_tokens, top_p, system prompt…).
    pub params: JsonMap,
    /// Prices per million tokens: the model's own, each unset one inherited from its base.
    pub pricing: Pricing,
    /// The API the upstream speaks.
    pub protocol: Protocol,
}

/// The API an upstream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI's chat completions and embeddings: OpenAI and most providers, vLLM, Ollama's `/v1`.
    OpenAi,
    /// Anthropic's Messages API: chat calls are translated both ways, embeddings are refused.
    Anthropic,
}

/// Providers whose API is Anthropic's Messages API: Anthropic itself (`claude` is Xagent's name
/// for it) and the coding plans Xagent's provider list marks as Claude-compatible.
const SPEAK_ANTHROPIC: [&str; 5] =
    ["anthropic", "claude", "minimax-coding-plan", "minimax-cn-coding-plan", "kimi-for-coding"];

impl Protocol {
    /// What a model whose provider (its own, else its base's) is `provider` speaks.
    pub fn of_provider(provider: Option<&str>) -> Self {
        let provider = provider.map(str::trim).unwrap_or_default();
        match SPEAK_ANTHROPIC.iter().any(|p| p.eq_ignore_ascii_case(provider)) {
            true => Self::Anthropic,
            false => Self::OpenAi,
        }
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
    fn anthropic_and_the_providers_that_speak_its_api_are_told_apart() {
        for anthropic in ["anthropic", "Claude", " kimi-for-coding ", "minimax-coding-plan"] {
            assert_eq!(Protocol::of_provider(Some(anthropic)), Protocol::Anthropic, "{anthropic}");
        }
        for openai in [Some("openai"), Some("openrouter"), Some(""), None] {
            assert_eq!(Protocol::of_provider(openai), Protocol::OpenAi, "{openai:?}");
        }
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
