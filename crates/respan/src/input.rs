//! Request bodies read into core changes, with DRF's validation messages.

use modelgate_core::provider::MAX_PROVIDER_SLUG_LEN;
use modelgate_core::{
    Field, FieldSet, JsonMap, MAX_KEY_LEN, MapChange, ModelChange, NewProvider, ProviderChange,
    ProviderRef, Secret,
};
use modelgate_http::input::{Fields, Issue, IssueKind, Opt};
use serde_json::Value;

use crate::errors::Failing;
use crate::render::{FLAGS, category_of};

/// Everything a Respan model write may change: the view a `PUT` replaces. Capabilities are in
/// it only so the three flags can be written; they are always written as a merge of those keys,
/// never reset as a whole.
pub(crate) const VIEW: FieldSet = FieldSet::of(&[
    Field::DisplayName,
    Field::BaseModel,
    Field::ProviderRef,
    Field::Category,
    Field::InputCost,
    Field::OutputCost,
    Field::CacheHitInputCost,
    Field::CacheCreationInputCost,
    Field::ContextWindow,
    Field::Capabilities,
    Field::SupportedParamsOverride,
]);

const COSTS: [&str; 4] =
    ["input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `POST /models/`: create, or update the sent fields of an existing model.
    Upsert,
    /// `PATCH`: only the sent fields change.
    Patch,
    /// `PUT`: every editable field is replaced; unsent ones are reset.
    Put,
}

pub(crate) struct ModelBody {
    /// `model_name` (read for upserts only: it is read-only on update).
    pub key: String,
    pub change: ModelChange,
    /// How the provider was named, for error messages.
    pub failing: Failing,
}

/// DRF's answer to a body that is not an object.
pub(crate) fn not_an_object(body: &Value) -> Option<Vec<Issue>> {
    let kind = match body {
        Value::Object(_) => return None,
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
    };
    Some(vec![Issue {
        loc: Vec::new(),
        kind: IssueKind::Value {
            message: format!("Invalid data. Expected a dictionary, but got {kind}."),
        },
        input: body.clone(),
    }])
}

/// A text field that may be cleared with `null` or `""`.
fn optional_text(f: &mut Fields<'_>, name: &str, max: Option<usize>) -> Option<Option<String>> {
    match f.string(name) {
        Opt::Value(s) if s.trim().is_empty() => Some(None),
        Opt::Value(s) => {
            if let Some(max) = max.filter(|max| s.chars().count() > *max) {
                f.issue(name, IssueKind::StringTooLong { max }, Value::String(s));
                return None;
            }
            Some(Some(s))
        }
        other => other.into_patch(),
    }
}

/// Refuses a JSON boolean where a number is expected. The shared reader follows pydantic's lax
/// mode (`true` is 1), but DRF's IntegerField and DecimalField parse `str(value)`, and `"True"`
/// is no number. (Its FloatField would take `float(True)`; a price of `true` is a client bug
/// all the same, so every Respan number refuses it.)
fn refuse_bool(f: &mut Fields<'_>, name: &str, kind: IssueKind) -> bool {
    let Opt::Value(value @ Value::Bool(_)) = f.raw(name) else { return false };
    let value = value.clone();
    f.issue(name, kind, value);
    true
}

fn cost(f: &mut Fields<'_>, name: &str) -> Option<Option<f64>> {
    if refuse_bool(f, name, IssueKind::FloatType) {
        return None;
    }
    match f.float(name) {
        Opt::Value(v) if v < 0.0 => {
            f.issue(name, IssueKind::GreaterThanEqual { min: 0.0 }, serde_json::json!(v));
            None
        }
        other => other.into_patch(),
    }
}

fn context_window(f: &mut Fields<'_>) -> Option<Option<i64>> {
    let name = "max_context_window";
    if refuse_bool(f, name, IssueKind::IntType) {
        return None;
    }
    match f.int(name) {
        Opt::Value(v) if v < 1 => {
            f.issue(name, IssueKind::GreaterThanEqual { min: 1.0 }, serde_json::json!(v));
            None
        }
        other => other.into_patch(),
    }
}

/// A 0/1 flag: `Some(Some(b))` set, `Some(None)` for `null` (remove: inherit again).
fn flag(f: &mut Fields<'_>, name: &str) -> Option<Option<bool>> {
    let value = match f.raw(name) {
        Opt::Absent => return None,
        Opt::Null => return Some(None),
        Opt::Value(v) => v.clone(),
    };
    // DRF's ChoiceField compares the text form: 1 and "1" are the same choice.
    let text = match &value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    match text.as_str() {
        "0" => Some(Some(false)),
        "1" => Some(Some(true)),
        // Not 1 and 0 either: DRF looks up `str(value)`, and names the value as Python prints it.
        _ if value.is_boolean() => {
            let shown = if value == Value::Bool(true) { "True" } else { "False" };
            let message = format!("\"{shown}\" is not a valid choice.");
            f.issue(name, IssueKind::Value { message }, value);
            None
        }
        _ => {
            f.issue(name, IssueKind::Choice { expected: vec!["0".into(), "1".into()] }, value);
            None
        }
    }
}

/// `custom_provider_id` (or its alias `provider_id`): an integer id or a `provider_id` slug.
fn provider_ref(f: &mut Fields<'_>, failing: &mut Failing) -> Option<Option<ProviderRef>> {
    let name = if f.has("custom_provider_id") || !f.has("provider_id") {
        "custom_provider_id"
    } else {
        "provider_id"
    };
    failing.provider_field = name;
    let reference = match f.raw(name) {
        Opt::Absent => return None,
        Opt::Null => return Some(None),
        Opt::Value(Value::Number(n)) if n.as_i64().is_some() => {
            ProviderRef::Id(n.as_i64().unwrap_or_default())
        }
        Opt::Value(Value::String(s)) if s.trim().is_empty() => return Some(None),
        Opt::Value(Value::String(s)) => ProviderRef::Slug(s.trim().to_owned()),
        Opt::Value(other) => {
            let kind = match other {
                Value::Bool(_) => "bool",
                Value::Array(_) => "list",
                Value::Object(_) => "dict",
                _ => "float",
            };
            let message = format!("Incorrect type. Expected pk value, received {kind}.");
            f.issue(name, IssueKind::Value { message }, other.clone());
            return None;
        }
    };
    failing.provider_ref = Some(reference.clone());
    Some(Some(reference))
}

/// Reads a model body. `key` is the model name from the path for updates.
pub(crate) fn model_body(body: &Value, mode: Mode) -> Result<ModelBody, Vec<Issue>> {
    if let Some(issues) = not_an_object(body) {
        return Err(issues);
    }
    let mut f = Fields::new(body, &[]);
    let mut failing = Failing::modify();
    let key = match mode {
        Mode::Upsert => match f.required_string("model_name") {
            Some(k) if k.trim().is_empty() => {
                f.issue("model_name", IssueKind::Blank, Value::String(k));
                String::new()
            }
            Some(k) if k.chars().count() > MAX_KEY_LEN => {
                f.issue(
                    "model_name",
                    IssueKind::StringTooLong { max: MAX_KEY_LEN },
                    Value::String(k),
                );
                String::new()
            }
            Some(k) => k,
            None => String::new(),
        },
        // Read-only on update: ignored, as DRF ignores read-only fields.
        Mode::Patch | Mode::Put => String::new(),
    };
    let mut change = ModelChange {
        display_name: optional_text(&mut f, "display_name", Some(MAX_KEY_LEN)),
        base_model: optional_text(&mut f, "base_model_name", Some(MAX_KEY_LEN)),
        category: optional_text(&mut f, "model_type", Some(64)).map(|t| t.map(|t| category_of(&t))),
        provider_ref: provider_ref(&mut f, &mut failing),
        input_cost: cost(&mut f, COSTS[0]),
        output_cost: cost(&mut f, COSTS[1]),
        cache_hit_input_cost: cost(&mut f, COSTS[2]),
        cache_creation_input_cost: cost(&mut f, COSTS[3]),
        context_window: context_window(&mut f),
        ..ModelChange::default()
    };
    let mut flags = JsonMap::new();
    for (wire, capability) in FLAGS {
        match flag(&mut f, wire) {
            Some(value) => {
                flags.insert(capability.to_owned(), value.map_or(Value::Null, Value::Bool));
            }
            // A replace resets an unsent flag: it inherits from the base again.
            None if mode == Mode::Put => {
                flags.insert(capability.to_owned(), Value::Null);
            }
            None => {}
        }
    }
    if !flags.is_empty() {
        change.capabilities = Some(MapChange::Merge(flags));
    }
    change.supported_params_override = match f.object("supported_params_override") {
        Opt::Absent => None,
        Opt::Null => Some(MapChange::Set(None)),
        Opt::Value(map) if mode == Mode::Put => Some(MapChange::Set(Some(map))),
        Opt::Value(map) => Some(MapChange::Merge(map)),
    };
    f.finish()?;
    Ok(ModelBody { key, change, failing })
}

fn provider_slug(f: &mut Fields<'_>) -> Option<String> {
    let slug = f.required_string("provider_id")?;
    if slug.trim().is_empty() {
        f.issue("provider_id", IssueKind::Blank, Value::String(slug));
        return None;
    }
    if slug.chars().count() > MAX_PROVIDER_SLUG_LEN {
        f.issue(
            "provider_id",
            IssueKind::StringTooLong { max: MAX_PROVIDER_SLUG_LEN },
            Value::String(slug),
        );
        return None;
    }
    Some(slug.trim().to_owned())
}

fn provider_name(f: &mut Fields<'_>, required: bool) -> Option<String> {
    let name = if required {
        f.required_string("provider_name")?
    } else {
        match f.string("provider_name") {
            Opt::Value(name) => name,
            Opt::Null => {
                f.issue("provider_name", IssueKind::Null, Value::Null);
                return None;
            }
            Opt::Absent => return None,
        }
    };
    if name.trim().is_empty() {
        f.issue("provider_name", IssueKind::Blank, Value::String(name));
        return None;
    }
    if name.chars().count() > MAX_KEY_LEN {
        f.issue(
            "provider_name",
            IssueKind::StringTooLong { max: MAX_KEY_LEN },
            Value::String(name),
        );
        return None;
    }
    Some(name)
}

/// `api_key`: `null` or `""` removes the stored key.
fn api_key(f: &mut Fields<'_>) -> Option<Option<Secret>> {
    match f.string("api_key") {
        Opt::Value(k) if k.is_empty() => Some(None),
        other => other.map(Secret::new).into_patch(),
    }
}

pub(crate) fn new_provider(body: &Value) -> Result<NewProvider, Vec<Issue>> {
    if let Some(issues) = not_an_object(body) {
        return Err(issues);
    }
    let mut f = Fields::new(body, &[]);
    let provider_id = provider_slug(&mut f);
    let name = provider_name(&mut f, true);
    let api_key = api_key(&mut f).flatten();
    let extra = f.object("extra_kwargs").value().unwrap_or_default();
    f.finish()?;
    Ok(NewProvider {
        provider_id: provider_id.unwrap_or_default(),
        name: name.unwrap_or_default(),
        api_key,
        extra,
    })
}

/// A provider change: `put` replaces `provider_name` (required) and `extra_kwargs`; the
/// write-only `api_key` changes only when sent, since a client can never read it back.
pub(crate) fn provider_change(body: &Value, put: bool) -> Result<ProviderChange, Vec<Issue>> {
    if let Some(issues) = not_an_object(body) {
        return Err(issues);
    }
    let mut f = Fields::new(body, &[]);
    let name = provider_name(&mut f, put);
    let api_key = api_key(&mut f);
    let extra = match f.object("extra_kwargs") {
        Opt::Value(map) => Some(MapChange::Set(Some(map))),
        Opt::Null => Some(MapChange::Set(None)),
        Opt::Absent if put => Some(MapChange::Set(None)),
        Opt::Absent => None,
    };
    f.finish()?;
    Ok(ProviderChange { name, api_key, extra })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patch_reads_only_sent_fields() {
        let body = json!({"display_name": "X", "input_cost": 0.03, "image_support": 1,
            "model_name": "ignored", "supported_params_override": {"t": {"max": 1}}});
        let parsed = model_body(&body, Mode::Patch).ok().map(|b| b.change);
        let change = parsed.unwrap_or_default();
        assert_eq!(
            change.fields(),
            FieldSet::of(&[
                Field::DisplayName,
                Field::InputCost,
                Field::Capabilities,
                Field::SupportedParamsOverride
            ])
        );
        let merged = match json!({"vision": true}) {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        };
        assert_eq!(change.capabilities, Some(MapChange::Merge(merged)));
    }

    #[test]
    fn put_resets_unsent_flags_by_merge() {
        let change = model_body(&json!({}), Mode::Put).ok().map(|b| b.change).unwrap_or_default();
        let reset = match json!({"streaming": null, "function_calling": null, "vision": null}) {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        };
        assert_eq!(change.capabilities, Some(MapChange::Merge(reset)));
        assert!(change.fields().is_subset_of(VIEW));
    }

    #[test]
    fn bad_values_are_drf_field_errors() {
        let body = json!({"input_cost": -1, "max_context_window": 0, "streaming_support": 2,
            "custom_provider_id": true});
        let issues = model_body(&body, Mode::Patch).err().unwrap_or_default();
        assert_eq!(
            modelgate_http::input::drf_errors(&issues),
            json!({
                "custom_provider_id": ["Incorrect type. Expected pk value, received bool."],
                "input_cost": ["Ensure this value is greater than or equal to 0."],
                "max_context_window": ["Ensure this value is greater than or equal to 1."],
                "streaming_support": ["\"2\" is not a valid choice."]
            })
        );
    }

    #[test]
    fn booleans_are_not_numbers() {
        let body = json!({"max_context_window": true, "input_cost": false, "image_support": true,
            "function_call": false, "output_cost": 1, "streaming_support": 1});
        let issues = model_body(&body, Mode::Patch).err().unwrap_or_default();
        assert_eq!(
            modelgate_http::input::drf_errors(&issues),
            json!({
                "input_cost": ["A valid number is required."],
                "max_context_window": ["A valid integer is required."],
                "function_call": ["\"False\" is not a valid choice."],
                "image_support": ["\"True\" is not a valid choice."]
            })
        );
    }
}
