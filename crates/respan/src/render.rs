//! Canonical records rendered as Respan wire objects.
//!
//! A custom model whose `base_model_name` names a model the caller can read inherits, when
//! rendered, each of these fields it leaves unset: `input_cost`, `output_cost`,
//! `cache_hit_input_cost`, `cache_creation_input_cost`, `max_context_window`, `model_type` and
//! the flags `streaming_support`, `function_call`, `image_support` (a flag is unset when its
//! capability key is absent). Bases are followed up to [`MAX_BASE_DEPTH`] levels. Nothing is copied into the stored record: a base's later changes
//! show through, and setting a field on the custom model overrides its base.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use modelgate_core::{
    Column, Condition, Ctx, DomainResult, JsonMap, Model, ModelQuery, ModelRef, Op, Provider,
    Registry, Source, Value as QueryValue,
};
use serde::Serialize;
use serde_json::{Value, json};

/// How many levels of `base_model_name` are followed (one list query per level).
pub(crate) const MAX_BASE_DEPTH: usize = 4;

/// Respan's 0/1 capability flags and the canonical capability each one is.
pub(crate) const FLAGS: [(&str, &str); 3] = [
    ("streaming_support", "streaming"),
    ("function_call", "function_calling"),
    ("image_support", "vision"),
];

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Canonical category → Respan `model_type`: Respan calls chat models "chat".
pub(crate) fn model_type_of(category: &str) -> &str {
    match category {
        "llm" => "chat",
        other => other,
    }
}

/// Respan `model_type` → canonical category.
pub(crate) fn category_of(model_type: &str) -> String {
    match model_type.trim().to_lowercase().as_str() {
        "chat" => "llm".to_owned(),
        other => other.to_owned(),
    }
}

pub(crate) fn source_of(model: &Model) -> &'static str {
    match model.source {
        Source::Builtin => "hardcoded",
        Source::Custom => "db",
    }
}

pub(crate) fn affiliation_of(model: &Model) -> &'static str {
    match model.source {
        Source::Builtin => "respan",
        Source::Custom => "custom",
    }
}

/// Everything needed to render a set of models, loaded with a fixed number of queries.
#[derive(Default)]
pub(crate) struct Renderer {
    providers: HashMap<i64, Provider>,
    org_seq: Option<i64>,
    bases: HashMap<String, Model>,
}

impl Renderer {
    /// Loads the bases of `models` (one list query per level of bases) and, when any of them
    /// points at a custom provider, the org's providers and the org (once each). `providers`
    /// may pass an already loaded provider list.
    pub(crate) fn load(
        registry: &dyn Registry,
        ctx: &Ctx,
        models: &[&Model],
        providers: Option<Vec<Provider>>,
    ) -> DomainResult<Self> {
        Self::load_knowing(registry, ctx, models, providers, Vec::new())
    }

    /// [`Renderer::load`] with bases the caller already read (a GET reads a model with its
    /// base in one registry call): only the bases beyond them are asked for.
    pub(crate) fn load_knowing(
        registry: &dyn Registry,
        ctx: &Ctx,
        models: &[&Model],
        providers: Option<Vec<Provider>>,
        known_bases: Vec<Model>,
    ) -> DomainResult<Self> {
        let mut renderer = Renderer::default();
        renderer.load_bases(registry, ctx, models, known_bases)?;
        if models.iter().any(|m| m.fields.provider_ref.is_some()) {
            let providers = match providers {
                Some(list) => list,
                None => registry.list_providers(ctx)?,
            };
            renderer.providers = providers.into_iter().map(|p| (p.seq, p)).collect();
            renderer.org_seq = Some(registry.get_org(ctx, &ctx.actor.org_id)?.seq);
        }
        Ok(renderer)
    }

    fn load_bases(
        &mut self,
        registry: &dyn Registry,
        ctx: &Ctx,
        models: &[&Model],
        known_bases: Vec<Model>,
    ) -> DomainResult<()> {
        let mut asked: HashSet<String> = HashSet::new();
        let mut wanted: Vec<String> = models.iter().filter_map(|m| base_of(m)).collect();
        for known in known_bases {
            asked.insert(known.key.clone());
            wanted.extend(base_of(&known));
            self.bases.insert(known.key.clone(), known);
        }
        for _ in 0..MAX_BASE_DEPTH {
            wanted.retain(|name| asked.insert(name.clone()));
            if wanted.is_empty() {
                break;
            }
            let found = if let [name] = wanted.as_slice() {
                // One model's base (a GET): a lookup by key, not a listing.
                let found = modelgate_core::error::found(
                    registry.get_model(ctx, &ModelRef::Key(name.clone())),
                )?
                .into_iter()
                .collect();
                wanted.clear();
                found
            } else {
                let names = wanted.drain(..).map(QueryValue::Text).collect();
                let query = ModelQuery::default().filter(Condition::column(
                    Column::Key,
                    Op::In,
                    QueryValue::List(names),
                ));
                registry.list_models(ctx, &query)?.items
            };
            for view in found {
                let model = view.model;
                wanted.extend(base_of(&model));
                // A key can name both an org model and a built-in one; the org's wins, as it
                // does when a request names a model.
                let keep_existing =
                    self.bases.get(&model.key).is_some_and(|m| m.source == Source::Custom);
                if !keep_existing {
                    self.bases.insert(model.key.clone(), model);
                }
            }
        }
        Ok(())
    }

    /// The model followed by its readable bases, nearest first, without cycles.
    fn chain<'a>(&'a self, model: &'a Model) -> Vec<&'a Model> {
        let mut chain = vec![model];
        let mut seen: HashSet<&str> = HashSet::from([model.key.as_str()]);
        let mut current = model;
        while chain.len() <= MAX_BASE_DEPTH {
            let Some(base) = base_of(current).and_then(|name| self.bases.get(&name)) else {
                break;
            };
            if !seen.insert(base.key.as_str()) {
                break;
            }
            chain.push(base);
            current = base;
        }
        chain
    }

    pub(crate) fn model<'a>(&'a self, model: &'a Model) -> ModelOut<'a> {
        let chain = self.chain(model);
        let first = |get: &dyn Fn(&Model) -> Option<f64>| chain.iter().find_map(|m| get(m));
        let flag = |name: &str| {
            let set = chain.iter().find_map(|m| {
                m.fields.capabilities.as_ref().and_then(|c| c.get(name)).and_then(Value::as_bool)
            });
            i64::from(set.unwrap_or(false))
        };
        let provider =
            model.fields.provider_ref.and_then(|seq| self.providers.get(&seq)).map(|p| {
                ProviderOut {
                    id: &p.provider_id,
                    provider_id: &p.provider_id,
                    provider_name: &p.name,
                    organization_id: self.org_seq,
                }
            });
        ModelOut {
            id: &model.key,
            model_name: &model.key,
            display_name: model.fields.display_name.as_deref(),
            base_model_name: model.fields.base_model.as_deref(),
            affiliation_category: affiliation_of(model),
            model_type: chain.iter().find_map(|m| m.fields.category.as_deref()).map(model_type_of),
            input_cost: first(&|m| m.fields.pricing.input),
            output_cost: first(&|m| m.fields.pricing.output),
            cache_hit_input_cost: first(&|m| m.fields.pricing.cache_hit_input),
            cache_creation_input_cost: first(&|m| m.fields.pricing.cache_creation_input),
            max_context_window: chain.iter().find_map(|m| m.fields.context_window),
            streaming_support: flag("streaming"),
            function_call: flag("function_calling"),
            image_support: flag("vision"),
            supported_params_override: model.fields.supported_params_override.as_ref(),
            source: source_of(model),
            provider,
            created_at: timestamp(model.created_at),
            updated_at: timestamp(model.updated_at),
        }
    }
}

/// A model as Respan shows it, borrowed from the model and the [`Renderer`] that loaded its
/// bases and provider: serialized straight to the response, no JSON tree in between.
#[derive(Serialize)]
pub(crate) struct ModelOut<'a> {
    id: &'a str,
    model_name: &'a str,
    display_name: Option<&'a str>,
    base_model_name: Option<&'a str>,
    affiliation_category: &'static str,
    model_type: Option<&'a str>,
    input_cost: Option<f64>,
    output_cost: Option<f64>,
    cache_hit_input_cost: Option<f64>,
    cache_creation_input_cost: Option<f64>,
    max_context_window: Option<i64>,
    streaming_support: i64,
    function_call: i64,
    image_support: i64,
    supported_params_override: Option<&'a JsonMap>,
    source: &'static str,
    provider: Option<ProviderOut<'a>>,
    created_at: String,
    updated_at: String,
}

/// A model's custom provider, as its model shows it.
#[derive(Serialize)]
struct ProviderOut<'a> {
    id: &'a str,
    provider_id: &'a str,
    provider_name: &'a str,
    organization_id: Option<i64>,
}

fn base_of(model: &Model) -> Option<String> {
    model.base_key().map(str::to_owned)
}

/// A custom provider; its `api_key` is write-only and never part of the answer. The store keeps
/// `extra_kwargs` with each credential-bearing value (core's `is_credential_key`) sealed and
/// its mask in place.
pub(crate) fn provider(p: &Provider) -> Value {
    json!({
        "id": p.provider_id,
        "provider_id": p.provider_id,
        "provider_name": p.name,
        "extra_kwargs": p.shown_extra(),
        "created_at": timestamp(p.created_at),
        "updated_at": timestamp(p.updated_at),
    })
}

/// DRF's page envelope (`POST /api/models/list/`, `GET /api/providers/`). `count` is the total
/// over all pages.
#[derive(Serialize)]
pub(crate) struct Paged<T> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_filters: Option<Value>,
}

/// `POST /api/models/summary/`.
#[derive(Serialize)]
pub(crate) struct Summary {
    pub summary: Counts,
}

#[derive(Serialize)]
pub(crate) struct Counts {
    pub total_count: i64,
    pub global_count: i64,
    pub custom_count: i64,
}

/// The provider type of a catalog model, as the public catalog shows it.
#[derive(Serialize)]
pub(crate) struct CatalogProvider {
    pub provider_id: String,
    pub provider_name: String,
}

/// One model of the public catalog (`GET /api/models/public/`).
#[derive(Serialize)]
pub(crate) struct CatalogEntry {
    pub model_name: String,
    pub max_context_window: Option<i64>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub provider: Option<CatalogProvider>,
}

/// A readable name for a provider type; unknown types are shown as they are.
fn provider_name(provider_id: &str) -> String {
    const NAMES: [(&str, &str); 14] = [
        ("openai", "OpenAI"),
        ("anthropic", "Anthropic"),
        ("google", "Google"),
        ("mistral", "Mistral AI"),
        ("meta", "Meta"),
        ("cohere", "Cohere"),
        ("deepseek", "DeepSeek"),
        ("voyage", "Voyage AI"),
        ("jina", "Jina AI"),
        ("azure", "Azure OpenAI"),
        ("ollama", "Ollama"),
        ("vllm", "vLLM"),
        ("groq", "Groq"),
        ("xai", "xAI"),
    ];
    NAMES
        .iter()
        .find(|(id, _)| *id == provider_id)
        .map_or_else(|| provider_id.to_owned(), |(_, name)| (*name).to_owned())
}

pub(crate) fn catalog_entry(model: &Model) -> CatalogEntry {
    CatalogEntry {
        model_name: model.key.clone(),
        max_context_window: model.fields.context_window,
        input_cost: model.fields.pricing.input,
        output_cost: model.fields.pricing.output,
        provider: model.fields.provider.as_deref().filter(|p| !p.is_empty()).map(|p| {
            CatalogProvider { provider_id: p.to_owned(), provider_name: provider_name(p) }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_type_maps_chat_to_llm_and_back() {
        assert_eq!(category_of(" Chat "), "llm");
        assert_eq!(model_type_of("llm"), "chat");
        assert_eq!(category_of("embedding"), "embedding");
    }
}
