//! Model types (`dtype`): what `GET /models/types/` lists, and the configuration schema a new
//! model's `configuration` is checked against.

use modelgate_http::input::{Fields, IssueKind, Loc};
use serde_json::{Map, Value, json};

/// The configuration keys that map onto canonical fields; every other key is kept verbatim.
pub const API_KEY: &str = "api_key";
pub const MODEL: &str = "model";
pub const BASE_URL: &str = "base_url";
pub const SYSTEM_PROMPT: &str = "system_prompt";
pub const CANONICAL_KEYS: [&str; 4] = [API_KEY, MODEL, BASE_URL, SYSTEM_PROMPT];

/// One configuration key of a model type.
struct Property {
    key: &'static str,
    title: &'static str,
    description: &'static str,
    default: Option<&'static str>,
    required: bool,
    /// Write-only: stored encrypted and only ever shown masked.
    secret: bool,
}

pub struct ModelType {
    pub name: &'static str,
    description: &'static str,
    icon: &'static str,
    properties: &'static [Property],
}

const fn prop(key: &'static str, title: &'static str, description: &'static str) -> Property {
    Property { key, title, description, default: None, required: false, secret: false }
}

const fn api_key(required: bool, description: &'static str) -> Property {
    Property { required, secret: true, ..prop(API_KEY, "API Key", description) }
}

const fn system_prompt() -> Property {
    Property {
        default: Some(""),
        ..prop(SYSTEM_PROMPT, "System Prompt", "Instructions sent ahead of every conversation")
    }
}

pub const TYPES: [ModelType; 4] = [
    ModelType {
        name: "openai",
        description: "OpenAI chat models, or any OpenAI-compatible API reached through a custom \
                      base URL.",
        icon: "🤖",
        properties: &[
            api_key(true, "API key of the OpenAI account"),
            Property {
                default: Some("gpt-3.5-turbo"),
                ..prop(MODEL, "Model", "Chat model name, e.g. gpt-4")
            },
            Property {
                default: Some("https://api.openai.com/v1"),
                ..prop(BASE_URL, "Base URL", "OpenAI API, or any compatible server (optional)")
            },
            system_prompt(),
        ],
    },
    ModelType {
        name: "anthropic",
        description: "Anthropic Claude models through the Anthropic Messages API.",
        icon: "🧠",
        properties: &[
            api_key(true, "API key of the Anthropic account"),
            Property {
                default: Some("claude-3-5-sonnet-latest"),
                ..prop(MODEL, "Model", "Claude model to use")
            },
            Property {
                default: Some("https://api.anthropic.com"),
                ..prop(BASE_URL, "Base URL", "Custom base URL for the Anthropic API (optional)")
            },
            system_prompt(),
        ],
    },
    ModelType {
        name: "ollama",
        description: "Models served by a local or remote Ollama server.",
        icon: "🦙",
        properties: &[
            Property { required: true, ..prop(MODEL, "Model", "Name of the pulled Ollama model") },
            Property {
                default: Some("http://localhost:11434"),
                ..prop(BASE_URL, "Base URL", "Address of the Ollama server")
            },
            system_prompt(),
        ],
    },
    ModelType {
        name: "vllm",
        description: "Models served by a vLLM server through its OpenAI-compatible API.",
        icon: "⚡",
        properties: &[
            Property { required: true, ..prop(MODEL, "Model", "Model name served by vLLM") },
            Property {
                required: true,
                ..prop(BASE_URL, "Base URL", "OpenAI-compatible base URL of the vLLM server")
            },
            api_key(false, "API key, when the vLLM server was started with --api-key"),
            system_prompt(),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static ModelType> {
    TYPES.iter().find(|t| t.name == name)
}

impl ModelType {
    /// The JSON schema of the type's configuration (the shape Syft Space's UI renders forms from).
    pub fn config_schema(&self) -> Value {
        let mut properties = Map::new();
        for p in self.properties {
            let mut schema = json!({
                "type": "string",
                "title": p.title,
                "description": p.description,
            });
            if let (Some(default), Some(obj)) = (p.default, schema.as_object_mut()) {
                obj.insert("default".into(), json!(default));
            }
            if p.secret
                && let Some(obj) = schema.as_object_mut()
            {
                obj.insert("writeOnly".into(), json!(true));
            }
            properties.insert(p.key.into(), schema);
        }
        let required: Vec<&str> =
            self.properties.iter().filter(|p| p.required).map(|p| p.key).collect();
        let order: Vec<&str> = self.properties.iter().map(|p| p.key).collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "order": order,
        })
    }

    /// `ModelTypeInfoResponse`.
    pub fn info(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "config_schema": self.config_schema(),
            "icon": self.icon,
            "enabled": true,
        })
    }

    /// Checks a configuration against the schema: required keys present, string keys strings.
    /// The canonical keys must be strings whatever the type, since they land in string fields.
    pub fn check(&self, fields: &mut Fields<'_>, configuration: &Map<String, Value>) {
        let whole = Value::Object(configuration.clone());
        for p in self.properties {
            if p.required && !configuration.contains_key(p.key) {
                fields.nested_issue(
                    "configuration",
                    &[Loc::from(p.key)],
                    IssueKind::Missing,
                    whole.clone(),
                );
            }
        }
        for (key, value) in configuration {
            let typed = CANONICAL_KEYS.contains(&key.as_str())
                || self.properties.iter().any(|p| p.key == key);
            if typed && !value.is_string() {
                fields.nested_issue(
                    "configuration",
                    &[Loc::Key(key.clone())],
                    IssueKind::StringType,
                    value.clone(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_schema_marks_the_key_required_and_secret() {
        let schema = find("openai").map(ModelType::config_schema).unwrap_or_default();
        assert_eq!(schema["required"], json!(["api_key"]));
        assert_eq!(schema["properties"]["api_key"]["writeOnly"], json!(true));
        assert_eq!(schema["order"], json!(["api_key", "model", "base_url", "system_prompt"]));
        assert!(find("OpenAI").is_none());
    }

    #[test]
    fn configuration_checks_report_each_problem() {
        let body = json!({"configuration": {"model": 4, "x": 1}});
        let mut fields = Fields::new(&body, &[Loc::from("body")]);
        let configuration = body["configuration"].as_object().cloned().unwrap_or_default();
        if let Some(t) = find("vllm") {
            t.check(&mut fields, &configuration);
        }
        let kinds: Vec<_> = fields.issues().iter().map(|i| (i.loc.len(), &i.kind)).collect();
        assert_eq!(kinds, vec![(3, &IssueKind::Missing), (3, &IssueKind::StringType)]);
    }
}
