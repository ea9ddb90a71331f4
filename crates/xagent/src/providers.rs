//! The provider list Xagent's "add model" wizard offers (`GET /api/models/providers/supported`).
//!
//! Static metadata, kept in `providers.json` beside this file: ids, names, descriptions, which
//! categories each provider serves and its default base URL. It names no secrets, which is why the
//! route is public, as it is in Xagent.

use std::sync::LazyLock;

use serde_json::{Value, json};

/// `{"providers": [...]}`, parsed once; the file is checked by a unit test, so the fallback (an
/// empty list) is never served in practice.
pub static SUPPORTED: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("providers.json"))
        .unwrap_or_else(|_| json!({ "providers": [] }))
});

/// The provider's default base URL, as the wizard shows it.
pub fn default_base_url(provider: &str) -> Option<&'static str> {
    SUPPORTED["providers"]
        .as_array()?
        .iter()
        .find(|p| p["id"] == provider)
        .and_then(|p| p["default_base_url"].as_str())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::abilities::CATEGORIES;

    #[test]
    fn every_provider_has_what_the_wizard_reads() {
        let parsed: Value = serde_json::from_str(include_str!("providers.json")).unwrap();
        assert_eq!(parsed, *SUPPORTED);
        let providers = SUPPORTED["providers"].as_array().unwrap();
        assert_eq!(providers.len(), 20);
        let mut ids = Vec::new();
        for p in providers {
            let id = p["id"].as_str().unwrap();
            assert!(!ids.contains(&id), "duplicate {id}");
            ids.push(id);
            assert!(p["name"].is_string() && p["description"].is_string(), "{p}");
            assert!(p["requires_base_url"].is_boolean(), "{p}");
            // The wizard calls `category.includes(...)`: an array of categories a model can have.
            let categories = p["category"].as_array().unwrap();
            assert!(!categories.is_empty());
            for c in categories {
                assert!(CATEGORIES.contains(&c.as_str().unwrap()), "{id}: {c}");
            }
            if let Some(url) = p.get("default_base_url") {
                assert!(url.as_str().unwrap().starts_with("https://"), "{id}");
            }
        }
    }
}
