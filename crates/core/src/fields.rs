//! Writable canonical fields, a dialect's view of them, and how a change is applied.
//!
//! A dialect's full-replace may only write the fields of its [`FieldSet`] view: fields it does
//! not show can never be reset by it (rule 1 of the architecture).

use serde_json::Value;

use crate::error::{DomainError, DomainResult, FieldError, Violation};
use crate::model::{Grant, JsonMap, ModelFields, Sealer, Secret, dedup_grants};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Field {
    Key,
    DisplayName,
    Description,
    Tags,
    Provider,
    ProviderRef,
    BaseModel,
    Category,
    BaseUrl,
    ApiKey,
    Params,
    Capabilities,
    InputCost,
    OutputCost,
    CacheHitInputCost,
    CacheCreationInputCost,
    ContextWindow,
    Dimension,
    SupportedParamsOverride,
    /// The calling dialect's own namespace in `extra`: no dialect can touch another's.
    Extra,
    IsActive,
    Public,
    Grants,
}

impl Field {
    pub const ALL: [Field; 23] = [
        Field::Key,
        Field::DisplayName,
        Field::Description,
        Field::Tags,
        Field::Provider,
        Field::ProviderRef,
        Field::BaseModel,
        Field::Category,
        Field::BaseUrl,
        Field::ApiKey,
        Field::Params,
        Field::Capabilities,
        Field::InputCost,
        Field::OutputCost,
        Field::CacheHitInputCost,
        Field::CacheCreationInputCost,
        Field::ContextWindow,
        Field::Dimension,
        Field::SupportedParamsOverride,
        Field::Extra,
        Field::IsActive,
        Field::Public,
        Field::Grants,
    ];

    /// The canonical name, as used in the field map and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Field::Key => "key",
            Field::DisplayName => "display_name",
            Field::Description => "description",
            Field::Tags => "tags",
            Field::Provider => "provider",
            Field::ProviderRef => "provider_ref",
            Field::BaseModel => "base_model",
            Field::Category => "category",
            Field::BaseUrl => "base_url",
            Field::ApiKey => "api_key",
            Field::Params => "params",
            Field::Capabilities => "capabilities",
            Field::InputCost => "input_cost",
            Field::OutputCost => "output_cost",
            Field::CacheHitInputCost => "cache_hit_input_cost",
            Field::CacheCreationInputCost => "cache_creation_input_cost",
            Field::ContextWindow => "context_window",
            Field::Dimension => "dimension",
            Field::SupportedParamsOverride => "supported_params_override",
            Field::Extra => "extra",
            Field::IsActive => "is_active",
            Field::Public => "public",
            Field::Grants => "grants",
        }
    }
}

/// A set of canonical fields: a dialect's view, or the fields a change sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FieldSet(u32);

impl FieldSet {
    pub const EMPTY: FieldSet = FieldSet(0);

    pub const fn of(fields: &[Field]) -> Self {
        let mut bits = 0u32;
        let mut i = 0;
        while i < fields.len() {
            bits |= 1 << fields[i] as u8;
            i += 1;
        }
        FieldSet(bits)
    }

    pub const fn contains(self, field: Field) -> bool {
        self.0 & (1 << field as u8) != 0
    }

    pub const fn with(self, field: Field) -> Self {
        FieldSet(self.0 | (1 << field as u8))
    }

    pub const fn without(self, field: Field) -> Self {
        FieldSet(self.0 & !(1 << field as u8))
    }

    pub const fn is_subset_of(self, other: FieldSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// A change to a JSON object field.
#[derive(Clone, Debug, PartialEq)]
pub enum MapChange {
    /// Replace the whole object (`None` clears it).
    Set(Option<JsonMap>),
    /// Merge key by key: a value replaces that key (a nested object replaces the whole nested
    /// object), `null` removes the key.
    Merge(JsonMap),
}

impl MapChange {
    pub fn apply(self, current: Option<JsonMap>) -> Option<JsonMap> {
        match self {
            MapChange::Set(value) => value,
            MapChange::Merge(patch) => {
                let mut merged = current.unwrap_or_default();
                for (key, value) in patch {
                    if value.is_null() {
                        merged.remove(&key);
                    } else {
                        merged.insert(key, value);
                    }
                }
                Some(merged)
            }
        }
    }
}

/// A partial change of a model's writable fields: `None` leaves a field alone; for nullable
/// fields `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct ModelChange {
    pub display_name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub provider: Option<Option<String>>,
    pub provider_ref: Option<Option<ProviderRefInput>>,
    pub base_model: Option<Option<String>>,
    pub category: Option<Option<String>>,
    pub base_url: Option<Option<String>>,
    pub api_key: Option<Option<Secret>>,
    pub params: Option<MapChange>,
    pub capabilities: Option<MapChange>,
    pub input_cost: Option<Option<f64>>,
    pub output_cost: Option<Option<f64>>,
    pub cache_hit_input_cost: Option<Option<f64>>,
    pub cache_creation_input_cost: Option<Option<f64>>,
    pub context_window: Option<Option<i64>>,
    pub dimension: Option<Option<i64>>,
    pub supported_params_override: Option<MapChange>,
    pub extra: Option<MapChange>,
    pub is_active: Option<bool>,
    pub public: Option<bool>,
    pub grants: Option<Vec<Grant>>,
}

/// How a request names a custom provider: its integer id or its `provider_id` slug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderRefInput {
    Id(i64),
    Slug(String),
}

impl ModelChange {
    /// The fields this change sets.
    pub fn fields(&self) -> FieldSet {
        let pairs = [
            (self.display_name.is_some(), Field::DisplayName),
            (self.description.is_some(), Field::Description),
            (self.tags.is_some(), Field::Tags),
            (self.provider.is_some(), Field::Provider),
            (self.provider_ref.is_some(), Field::ProviderRef),
            (self.base_model.is_some(), Field::BaseModel),
            (self.category.is_some(), Field::Category),
            (self.base_url.is_some(), Field::BaseUrl),
            (self.api_key.is_some(), Field::ApiKey),
            (self.params.is_some(), Field::Params),
            (self.capabilities.is_some(), Field::Capabilities),
            (self.input_cost.is_some(), Field::InputCost),
            (self.output_cost.is_some(), Field::OutputCost),
            (self.cache_hit_input_cost.is_some(), Field::CacheHitInputCost),
            (self.cache_creation_input_cost.is_some(), Field::CacheCreationInputCost),
            (self.context_window.is_some(), Field::ContextWindow),
            (self.dimension.is_some(), Field::Dimension),
            (self.supported_params_override.is_some(), Field::SupportedParamsOverride),
            (self.extra.is_some(), Field::Extra),
            (self.is_active.is_some(), Field::IsActive),
            (self.public.is_some(), Field::Public),
            (self.grants.is_some(), Field::Grants),
        ];
        pairs
            .into_iter()
            .filter(|(set, _)| *set)
            .fold(FieldSet::EMPTY, |acc, (_, field)| acc.with(field))
    }

    /// Sets every field of `view` this change leaves alone to its default, turning a partial
    /// change into a full replace of that view.
    pub fn reset_unset(mut self, view: FieldSet) -> Self {
        let unset = |f: Field| view.contains(f);
        if unset(Field::DisplayName) && self.display_name.is_none() {
            self.display_name = Some(None);
        }
        if unset(Field::Description) && self.description.is_none() {
            self.description = Some(None);
        }
        if unset(Field::Tags) && self.tags.is_none() {
            self.tags = Some(Vec::new());
        }
        if unset(Field::Provider) && self.provider.is_none() {
            self.provider = Some(None);
        }
        if unset(Field::ProviderRef) && self.provider_ref.is_none() {
            self.provider_ref = Some(None);
        }
        if unset(Field::BaseModel) && self.base_model.is_none() {
            self.base_model = Some(None);
        }
        if unset(Field::Category) && self.category.is_none() {
            self.category = Some(None);
        }
        if unset(Field::BaseUrl) && self.base_url.is_none() {
            self.base_url = Some(None);
        }
        if unset(Field::ApiKey) && self.api_key.is_none() {
            self.api_key = Some(None);
        }
        if unset(Field::Params) && self.params.is_none() {
            self.params = Some(MapChange::Set(None));
        }
        if unset(Field::Capabilities) && self.capabilities.is_none() {
            self.capabilities = Some(MapChange::Set(None));
        }
        if unset(Field::InputCost) && self.input_cost.is_none() {
            self.input_cost = Some(None);
        }
        if unset(Field::OutputCost) && self.output_cost.is_none() {
            self.output_cost = Some(None);
        }
        if unset(Field::CacheHitInputCost) && self.cache_hit_input_cost.is_none() {
            self.cache_hit_input_cost = Some(None);
        }
        if unset(Field::CacheCreationInputCost) && self.cache_creation_input_cost.is_none() {
            self.cache_creation_input_cost = Some(None);
        }
        if unset(Field::ContextWindow) && self.context_window.is_none() {
            self.context_window = Some(None);
        }
        if unset(Field::Dimension) && self.dimension.is_none() {
            self.dimension = Some(None);
        }
        if unset(Field::SupportedParamsOverride) && self.supported_params_override.is_none() {
            self.supported_params_override = Some(MapChange::Set(None));
        }
        if unset(Field::Extra) && self.extra.is_none() {
            self.extra = Some(MapChange::Set(None));
        }
        if unset(Field::IsActive) && self.is_active.is_none() {
            self.is_active = Some(true);
        }
        if unset(Field::Public) && self.public.is_none() {
            self.public = Some(false);
        }
        if unset(Field::Grants) && self.grants.is_none() {
            self.grants = Some(Vec::new());
        }
        self
    }
}

/// A custom provider reference after the store resolved it against the org.
pub type ResolvedProviderRef = Option<i64>;

/// Validates a model key: non-empty, at most [`crate::MAX_KEY_LEN`] characters.
pub fn validate_key(key: &str) -> Result<(), FieldError> {
    if key.trim().is_empty() {
        return Err(FieldError::model(Field::Key, Violation::Empty));
    }
    if key.chars().count() > crate::MAX_KEY_LEN {
        return Err(FieldError::model(Field::Key, Violation::TooLong { max: crate::MAX_KEY_LEN }));
    }
    Ok(())
}

fn check_cost(errors: &mut Vec<FieldError>, field: Field, value: Option<Option<f64>>) {
    if let Some(Some(v)) = value
        && (!v.is_finite() || v < 0.0)
    {
        errors.push(FieldError::model(field, Violation::BelowMin { min: 0.0 }));
    }
}

fn check_positive(errors: &mut Vec<FieldError>, field: Field, value: Option<Option<i64>>) {
    if let Some(Some(v)) = value
        && v <= 0
    {
        errors.push(FieldError::model(field, Violation::NotGreaterThan { than: 0.0 }));
    }
}

/// Checks the rules every dialect shares. All violations are reported together.
pub fn validate_change(change: &ModelChange) -> DomainResult<()> {
    let mut errors = Vec::new();
    check_cost(&mut errors, Field::InputCost, change.input_cost);
    check_cost(&mut errors, Field::OutputCost, change.output_cost);
    check_cost(&mut errors, Field::CacheHitInputCost, change.cache_hit_input_cost);
    check_cost(&mut errors, Field::CacheCreationInputCost, change.cache_creation_input_cost);
    check_positive(&mut errors, Field::ContextWindow, change.context_window);
    check_positive(&mut errors, Field::Dimension, change.dimension);
    if let Some(Some(name)) = &change.display_name
        && name.chars().count() > crate::MAX_KEY_LEN
    {
        errors.push(FieldError::model(
            Field::DisplayName,
            Violation::TooLong { max: crate::MAX_KEY_LEN },
        ));
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}

fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Trims tags and drops empty and repeated ones, keeping the first occurrence's position.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tags.into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && seen.insert(t.clone()))
        .collect()
}

/// Applies a validated change to `fields`. `dialect` names the `extra` namespace the change may
/// write; `provider_ref` is the store's resolution of `change.provider_ref`.
pub fn apply_change(
    fields: &mut ModelFields,
    change: ModelChange,
    dialect: &str,
    provider_ref: Option<ResolvedProviderRef>,
    sealer: &dyn Sealer,
) -> DomainResult<()> {
    validate_change(&change)?;
    let ModelChange {
        display_name,
        description,
        tags,
        provider,
        provider_ref: _,
        base_model,
        category,
        base_url,
        api_key,
        params,
        capabilities,
        input_cost,
        output_cost,
        cache_hit_input_cost,
        cache_creation_input_cost,
        context_window,
        dimension,
        supported_params_override,
        extra,
        is_active,
        public,
        grants,
    } = change;

    if let Some(v) = display_name {
        fields.display_name = v;
    }
    if let Some(v) = description {
        fields.description = v;
    }
    if let Some(v) = tags {
        fields.tags = normalize_tags(v);
    }
    if let Some(v) = provider {
        fields.provider = trimmed(v).map(|p| p.to_lowercase());
    }
    if let Some(v) = provider_ref {
        fields.provider_ref = v;
    }
    if let Some(v) = base_model {
        fields.base_model = trimmed(v);
    }
    if let Some(v) = category {
        fields.category = trimmed(v).map(|c| c.to_lowercase());
    }
    if let Some(v) = base_url {
        fields.base_url = trimmed(v);
    }
    if let Some(v) = api_key {
        fields.api_key = match v {
            Some(secret) if !secret.expose().is_empty() => Some(sealer.seal(&secret, "api_key")?),
            _ => None,
        };
    }
    if let Some(v) = params {
        fields.params = v.apply(Some(std::mem::take(&mut fields.params))).unwrap_or_default();
    }
    if let Some(v) = capabilities {
        fields.capabilities = v.apply(fields.capabilities.take());
    }
    if let Some(v) = input_cost {
        fields.pricing.input = v;
    }
    if let Some(v) = output_cost {
        fields.pricing.output = v;
    }
    if let Some(v) = cache_hit_input_cost {
        fields.pricing.cache_hit_input = v;
    }
    if let Some(v) = cache_creation_input_cost {
        fields.pricing.cache_creation_input = v;
    }
    if let Some(v) = context_window {
        fields.context_window = v;
    }
    if let Some(v) = dimension {
        fields.dimension = v;
    }
    if let Some(v) = supported_params_override {
        fields.supported_params_override = v.apply(fields.supported_params_override.take());
    }
    if let Some(v) = extra {
        let current = match fields.extra.remove(dialect) {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        };
        match v.apply(current) {
            Some(map) if !map.is_empty() => {
                fields.extra.insert(dialect.to_owned(), Value::Object(map));
            }
            _ => {}
        }
    }
    if let Some(v) = is_active {
        fields.is_active = v;
    }
    if let Some(v) = public {
        fields.public = v;
    }
    if let Some(v) = grants {
        fields.grants = dedup_grants(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{PrincipalKind, SealedSecret};

    struct PlainSealer;
    impl Sealer for PlainSealer {
        fn seal(&self, secret: &Secret, field: &str) -> DomainResult<SealedSecret> {
            Ok(SealedSecret {
                ciphertext: format!("enc:{}", secret.expose()),
                mask: secret.mask(),
                slot: field.to_owned(),
            })
        }
    }

    fn obj(v: serde_json::Value) -> JsonMap {
        match v {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        }
    }

    #[test]
    fn field_set_operations() {
        let view = FieldSet::of(&[Field::DisplayName, Field::Params]);
        assert!(view.contains(Field::DisplayName));
        assert!(!view.contains(Field::InputCost));
        assert!(FieldSet::of(&[Field::Params]).is_subset_of(view));
        assert!(!FieldSet::of(&[Field::Grants]).is_subset_of(view));
        assert_eq!(view.without(Field::Params), FieldSet::of(&[Field::DisplayName]));
        assert_eq!(view.iter().collect::<Vec<_>>(), vec![Field::DisplayName, Field::Params]);
    }

    #[test]
    fn every_field_is_in_all_once() {
        let all = FieldSet::of(&Field::ALL);
        assert_eq!(all.iter().count(), Field::ALL.len());
    }

    #[test]
    fn change_reports_the_fields_it_sets() {
        let change =
            ModelChange { input_cost: Some(Some(1.0)), grants: Some(vec![]), ..Default::default() };
        assert_eq!(change.fields(), FieldSet::of(&[Field::InputCost, Field::Grants]));
    }

    #[test]
    fn reset_unset_touches_only_the_view() {
        let view = FieldSet::of(&[Field::DisplayName, Field::Params, Field::IsActive]);
        let change = ModelChange { display_name: Some(Some("x".into())), ..Default::default() }
            .reset_unset(view);
        assert_eq!(change.fields(), view);
        assert_eq!(change.display_name, Some(Some("x".into())));
        assert_eq!(change.is_active, Some(true));
        assert_eq!(change.params, Some(MapChange::Set(None)));
    }

    #[test]
    fn replace_of_a_view_keeps_fields_outside_it() {
        let mut fields = ModelFields {
            display_name: Some("old".into()),
            pricing: crate::Pricing { input: Some(3.0), ..Default::default() },
            category: Some("llm".into()),
            ..Default::default()
        };
        let view = FieldSet::of(&[Field::DisplayName, Field::Params]);
        let change = ModelChange::default().reset_unset(view);
        apply_change(&mut fields, change, "openwebui", None, &PlainSealer).ok();
        assert_eq!(fields.display_name, None);
        assert_eq!(fields.pricing.input, Some(3.0));
        assert_eq!(fields.category.as_deref(), Some("llm"));
    }

    #[test]
    fn merge_replaces_nested_objects_and_null_removes() {
        let mut fields = ModelFields {
            supported_params_override: Some(obj(json!({
                "temperature": {"min": 0, "max": 1},
                "top_p": {"min": 0}
            }))),
            ..Default::default()
        };
        let change = ModelChange {
            supported_params_override: Some(MapChange::Merge(obj(json!({
                "temperature": {"max": 2},
                "top_p": null,
                "seed": {"type": "number"}
            })))),
            ..Default::default()
        };
        apply_change(&mut fields, change, "respan", None, &PlainSealer).ok();
        assert_eq!(
            fields.supported_params_override,
            Some(obj(json!({"temperature": {"max": 2}, "seed": {"type": "number"}})))
        );
    }

    #[test]
    fn extra_is_namespaced_by_dialect() {
        let mut fields = ModelFields {
            extra: obj(json!({"syft": {"k": 1}, "openwebui": {"a": 1}})),
            ..Default::default()
        };
        let change = ModelChange::default().reset_unset(FieldSet::of(&[Field::Extra]));
        apply_change(&mut fields, change, "openwebui", None, &PlainSealer).ok();
        assert_eq!(fields.extra, obj(json!({"syft": {"k": 1}})));
    }

    #[test]
    fn api_key_is_sealed_and_empty_clears() {
        let mut fields = ModelFields::default();
        let change = ModelChange {
            api_key: Some(Some(Secret::new("sk-abcdefghijklmnop"))),
            ..Default::default()
        };
        apply_change(&mut fields, change, "xagent", None, &PlainSealer).ok();
        assert_eq!(fields.api_key.as_ref().map(|s| s.mask.as_str()), Some("sk-...mnop"));
        let clear = ModelChange { api_key: Some(Some(Secret::new(""))), ..Default::default() };
        apply_change(&mut fields, clear, "xagent", None, &PlainSealer).ok();
        assert_eq!(fields.api_key, None);
    }

    #[test]
    fn validation_reports_every_violation() {
        let change = ModelChange {
            input_cost: Some(Some(-1.0)),
            output_cost: Some(Some(f64::NAN)),
            context_window: Some(Some(0)),
            ..Default::default()
        };
        match validate_change(&change) {
            Err(DomainError::Invalid(errors)) => assert_eq!(errors.len(), 3),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn key_rules() {
        assert!(validate_key(&"a".repeat(256)).is_ok());
        assert!(validate_key("org/model ünïcode").is_ok());
        assert_eq!(
            validate_key(&"a".repeat(257)),
            Err(FieldError::model(Field::Key, Violation::TooLong { max: 256 }))
        );
        assert_eq!(validate_key("  "), Err(FieldError::model(Field::Key, Violation::Empty)));
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let mut fields = ModelFields::default();
        let change = ModelChange {
            tags: Some(vec![" a ".into(), "b".into(), "a".into(), "".into()]),
            grants: Some(vec![
                Grant::new(PrincipalKind::User, "u", crate::Permission::Read),
                Grant::new(PrincipalKind::User, "u", crate::Permission::Read),
            ]),
            ..Default::default()
        };
        apply_change(&mut fields, change, "openwebui", None, &PlainSealer).ok();
        assert_eq!(fields.tags, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(fields.grants.len(), 1);
    }
}
