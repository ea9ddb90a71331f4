//! The built-in catalog file: parsing it into the models the store keeps in sync.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use modelgate_core::{CatalogModel, JsonMap, MapChange, ModelChange};
use serde::Deserialize;

/// The catalog shipped inside the binary, used when no catalog file is found.
pub const EMBEDDED: &str = include_str!("../../../catalog/models.json");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("catalog {origin} is not valid: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[allow(dead_code)]
    version: u32,
    models: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: String,
    display_name: Option<String>,
    provider: Option<String>,
    category: Option<String>,
    description: Option<String>,
    context_window: Option<i64>,
    max_output_tokens: Option<i64>,
    dimension: Option<i64>,
    #[serde(default)]
    pricing: Pricing,
    #[serde(default)]
    capabilities: JsonMap,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Pricing {
    input: Option<f64>,
    output: Option<f64>,
    cache_hit_input: Option<f64>,
    cache_creation_input: Option<f64>,
}

impl Entry {
    fn into_model(self) -> CatalogModel {
        let mut extra = JsonMap::new();
        if let Some(max) = self.max_output_tokens {
            extra.insert("max_output_tokens".into(), max.into());
        }
        CatalogModel {
            key: self.key,
            change: ModelChange {
                display_name: Some(self.display_name),
                description: Some(self.description),
                tags: Some(self.tags),
                provider: Some(self.provider),
                category: Some(self.category),
                context_window: Some(self.context_window),
                dimension: Some(self.dimension),
                input_cost: Some(self.pricing.input),
                output_cost: Some(self.pricing.output),
                cache_hit_input_cost: Some(self.pricing.cache_hit_input),
                cache_creation_input_cost: Some(self.pricing.cache_creation_input),
                capabilities: Some(MapChange::Set(Some(self.capabilities))),
                extra: Some(MapChange::Set(Some(extra))),
                ..Default::default()
            },
        }
    }
}

/// Parses catalog JSON; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<CatalogModel>, CatalogError> {
    let invalid = |message: String| CatalogError::Invalid { origin: origin.to_owned(), message };
    let file: CatalogFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut seen = HashSet::new();
    for entry in &file.models {
        if !seen.insert(entry.key.as_str()) {
            return Err(invalid(format!("key '{}' appears twice", entry.key)));
        }
    }
    Ok(file.models.into_iter().map(Entry::into_model).collect())
}

/// The catalog to sync: `explicit` (MODELGATE_CATALOG) if given, else `./catalog/models.json`
/// when it exists (editing it and restarting updates the built-in models), else the copy built
/// into the binary. Returns the models and where they came from.
pub fn load(explicit: Option<&Path>) -> Result<(Vec<CatalogModel>, String), CatalogError> {
    let local = Path::new("catalog/models.json");
    let path = match explicit {
        Some(path) => Some(path),
        None if local.is_file() => Some(local),
        None => None,
    };
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| CatalogError::Read { path: path.to_owned(), source })?;
            let origin = path.display().to_string();
            Ok((parse(&text, &origin)?, origin))
        }
        None => Ok((parse(EMBEDDED, "built-in catalog")?, "built-in catalog".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_is_valid_and_broad() {
        let models = parse(EMBEDDED, "embedded").unwrap();
        assert!(models.len() >= 30, "only {} models", models.len());
        let category = |m: &CatalogModel| m.change.category.clone().flatten();
        let count = |c: &str| models.iter().filter(|m| category(m).as_deref() == Some(c)).count();
        assert!(count("embedding") >= 2);
        assert!(count("rerank") >= 1);
        for provider in ["openai", "anthropic", "google", "mistral", "meta", "deepseek"] {
            assert!(
                models
                    .iter()
                    .any(|m| m.change.provider.clone().flatten().as_deref() == Some(provider)),
                "no {provider} model"
            );
        }
        // Prices are per 1M tokens and never negative.
        for m in &models {
            for cost in [m.change.input_cost, m.change.output_cost].into_iter().flatten().flatten()
            {
                assert!(cost >= 0.0, "{} has a negative price", m.key);
            }
        }
    }

    /// Every base model the README's examples name is a built-in model with prices and a
    /// context window, so the examples' models inherit them.
    #[test]
    fn the_readme_examples_bases_are_priced_catalog_models() {
        let models = parse(EMBEDDED, "embedded").unwrap();
        let readme = include_str!("../../../README.md");
        let mut bases: Vec<&str> = Vec::new();
        for field in ["\"base_model_id\": \"", "\"base_model\": \""] {
            for (at, _) in readme.match_indices(field) {
                let rest = &readme[at + field.len()..];
                bases.extend(rest.split('"').next());
            }
        }
        assert!(bases.contains(&"gpt-4") && bases.contains(&"gpt-4o-mini"), "{bases:?}");
        for base in bases {
            let model = models.iter().find(|m| m.key == base);
            let model = model.unwrap_or_else(|| panic!("README uses {base}, not in the catalog"));
            assert!(model.change.input_cost.flatten().is_some_and(|c| c > 0.0), "{base}");
            assert!(model.change.output_cost.flatten().is_some_and(|c| c > 0.0), "{base}");
            assert!(model.change.context_window.flatten().is_some_and(|c| c > 0), "{base}");
        }
    }

    #[test]
    fn duplicate_keys_and_unknown_fields_are_refused() {
        let dup = r#"{"version":1,"models":[{"key":"a"},{"key":"a"}]}"#;
        assert!(matches!(parse(dup, "t"), Err(CatalogError::Invalid { .. })));
        let unknown = r#"{"version":1,"models":[{"key":"a","price":1}]}"#;
        assert!(matches!(parse(unknown, "t"), Err(CatalogError::Invalid { .. })));
    }
}
