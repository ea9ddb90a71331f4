//! Xagent's `abilities` list and `category`, and how they map onto canonical capabilities.
//!
//! `abilities` is the list of capabilities whose value is `true`. Two Xagent names differ from
//! the canonical ones; every other name (`chat`, `generate`, `edit`, `asr`, `tts`, and anything
//! another dialect stored) is the same on both sides.

use modelgate_core::{JsonMap, ModelFields};
use serde_json::Value;

/// `(xagent ability, canonical capability)` pairs whose names differ.
pub const ALIASES: [(&str, &str); 2] =
    [("tool_calling", "function_calling"), ("thinking_mode", "reasoning")];

/// The category a model has for Xagent when none is stored: Xagent's own default.
pub const DEFAULT_CATEGORY: &str = "llm";

/// Categories a create accepts (Xagent refuses others with 400 `Invalid model category`).
pub const CATEGORIES: [&str; 8] =
    ["llm", "embedding", "rerank", "image", "speech", "video", "music", "sound_effect"];

/// The canonical capability name for an Xagent ability.
pub fn to_capability(ability: &str) -> &str {
    ALIASES.iter().find(|(a, _)| *a == ability).map_or(ability, |(_, c)| c)
}

/// The Xagent ability name for a canonical capability.
pub fn to_ability(capability: &str) -> &str {
    ALIASES.iter().find(|(_, c)| *c == capability).map_or(capability, |(a, _)| a)
}

/// The abilities a model shows: `None` when it has no capabilities at all.
pub fn abilities_of(fields: &ModelFields) -> Option<Vec<String>> {
    let capabilities = fields.capabilities.as_ref()?;
    let mut abilities: Vec<String> = Vec::new();
    for (name, value) in capabilities {
        let ability = to_ability(name);
        if value.as_bool() == Some(true) && !abilities.iter().any(|a| a == ability) {
            abilities.push(ability.to_owned());
        }
    }
    Some(abilities)
}

/// The capabilities object for a list of abilities, in the order given.
pub fn capabilities_for(abilities: &[String]) -> JsonMap {
    abilities.iter().map(|a| (to_capability(a.trim()).to_owned(), Value::Bool(true))).collect()
}

/// The category shown for a model.
pub fn category_of(fields: &ModelFields) -> String {
    fields.category.clone().unwrap_or_else(|| DEFAULT_CATEGORY.to_owned())
}

/// Which abilities a category allows (`None`: any) and the label Xagent's messages use.
fn allowed_for(category: &str) -> Option<(&'static str, &'static [&'static str])> {
    match category {
        "image" => Some(("Image", &["generate", "edit"])),
        "embedding" => Some(("Embedding", &["embedding"])),
        "speech" => Some(("Speech", &["asr", "tts"])),
        "rerank" => Some(("Rerank", &["rerank"])),
        "video" => Some(("Video", &["generate"])),
        _ => None,
    }
}

/// A Python set literal, as Xagent's messages print one.
fn python_set<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|i| format!("'{i}'")).collect();
    format!("{{{}}}", quoted.join(", "))
}

/// Xagent's rule between a category and the abilities sent with it; `Err` carries its sentence.
pub fn check_for_category(abilities: &[String], category: &str) -> Result<(), String> {
    let category = category.trim().to_lowercase();
    let Some((label, allowed)) = allowed_for(&category) else { return Ok(()) };
    let mut invalid: Vec<&str> = Vec::new();
    for ability in abilities {
        if !allowed.contains(&ability.as_str()) && !invalid.contains(&ability.as_str()) {
            invalid.push(ability);
        }
    }
    if !invalid.is_empty() {
        return Err(format!(
            "Invalid abilities for {category} model: {}. Valid abilities are: {}",
            python_set(invalid),
            python_set(allowed.iter().copied())
        ));
    }
    if abilities.is_empty() {
        return Err(format!("{label} model must have at least one ability"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn fields(capabilities: Value) -> ModelFields {
        ModelFields { capabilities: capabilities.as_object().cloned(), ..Default::default() }
    }

    #[test]
    fn aliases_map_both_ways() {
        assert_eq!(to_capability("tool_calling"), "function_calling");
        assert_eq!(to_capability("thinking_mode"), "reasoning");
        assert_eq!(to_capability("chat"), "chat");
        assert_eq!(to_ability("function_calling"), "tool_calling");
        assert_eq!(to_ability("vision"), "vision");
    }

    #[test]
    fn abilities_are_the_true_capabilities_in_order() {
        let f = fields(
            json!({"chat": true, "vision": false, "function_calling": true, "tool_calling": true, "x": 1}),
        );
        assert_eq!(abilities_of(&f), Some(vec!["chat".to_owned(), "tool_calling".to_owned()]));
        assert_eq!(abilities_of(&ModelFields::default()), None);
        assert_eq!(abilities_of(&fields(json!({}))), Some(vec![]));
    }

    #[test]
    fn capabilities_round_trip() {
        let abilities = vec!["chat".to_owned(), "thinking_mode".to_owned()];
        let map = capabilities_for(&abilities);
        assert_eq!(Value::Object(map.clone()), json!({"chat": true, "reasoning": true}));
        assert_eq!(abilities_of(&fields(Value::Object(map))), Some(abilities));
    }

    #[test]
    fn category_rules() {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check_for_category(&list(&["chat", "anything"]), "llm").is_ok());
        assert!(check_for_category(&list(&["rerank"]), "rerank").is_ok());
        assert_eq!(
            check_for_category(&list(&["chat", "vision", "chat"]), "embedding").unwrap_err(),
            "Invalid abilities for embedding model: {'chat', 'vision'}. Valid abilities are: {'embedding'}"
        );
        assert_eq!(
            check_for_category(&[], "speech").unwrap_err(),
            "Speech model must have at least one ability"
        );
        assert!(check_for_category(&list(&["edit"]), "Image").is_ok());
    }
}
