//! Database rows and their conversion to and from core types.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use modelgate_core::provider::ExtraSecrets;
use modelgate_core::{
    ApiKey, Endpoint, Grant, Group, JsonMap, Model, ModelEntry, ModelFields, Org, Permission,
    Pricing, PrincipalKind, Provider, ResponseType, Role, SealedSecret, Source, User,
};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::schema::{
    api_keys, audit_events, endpoints, model_grants, models, orgs, providers, user_groups, users,
};

/// Now, at the precision both backends keep (microseconds), so values read back compare equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn to_db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub fn from_db_time(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

pub fn json_text<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| corrupt("encode json", e))
}

fn parse_map(what: &str, text: &str) -> StoreResult<JsonMap> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn parse_opt_map(what: &str, text: Option<&str>) -> StoreResult<Option<JsonMap>> {
    text.map(|t| parse_map(what, t)).transpose()
}

fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| corrupt("uuid", e))
}

/// A stored secret as read from its row: the slot comes from the row's identity, so a ciphertext
/// moved here from another row or field does not open.
fn sealed(enc: Option<String>, mask: Option<String>, slot: String) -> Option<SealedSecret> {
    enc.map(|ciphertext| SealedSecret {
        ciphertext,
        mask: mask.unwrap_or_else(|| "...".into()),
        slot,
    })
}

/// The columns of a [`ModelEntry`].
#[derive(Queryable, Selectable)]
#[diesel(table_name = models)]
pub struct EntryRow {
    pub seq: i64,
    pub key: String,
    pub org_id: Option<String>,
    pub provider: Option<String>,
    pub created_at: NaiveDateTime,
}

impl EntryRow {
    pub fn into_entry(self) -> ModelEntry {
        ModelEntry {
            seq: self.seq,
            key: self.key,
            org_id: self.org_id,
            provider: self.provider,
            created_at: from_db_time(self.created_at),
        }
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = models)]
pub struct ModelRow {
    pub seq: i64,
    pub uuid: String,
    pub org_id: Option<String>,
    pub key: String,
    pub source: String,
    pub owner_id: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: String,
    pub provider: Option<String>,
    pub provider_ref: Option<i64>,
    pub base_model: Option<String>,
    pub category: Option<String>,
    pub base_url: Option<String>,
    pub api_key_enc: Option<String>,
    pub api_key_mask: Option<String>,
    pub params: String,
    pub capabilities: Option<String>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub cache_hit_input_cost: Option<f64>,
    pub cache_creation_input_cost: Option<f64>,
    pub context_window: Option<i64>,
    pub dimension: Option<i64>,
    pub supported_params_override: Option<String>,
    pub extra: String,
    pub is_active: bool,
    pub public_read: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl ModelRow {
    pub fn into_model(self, grants: Vec<Grant>) -> StoreResult<Model> {
        let tags: Vec<String> =
            serde_json::from_str(&self.tags).map_err(|e| corrupt("model tags", e))?;
        let uuid = parse_uuid(&self.uuid)?;
        Ok(Model {
            seq: self.seq,
            uuid,
            org_id: self.org_id,
            key: self.key,
            source: Source::parse(&self.source)
                .ok_or_else(|| corrupt("model source", &self.source))?,
            owner_id: self.owner_id,
            fields: ModelFields {
                display_name: self.display_name,
                description: self.description,
                tags,
                provider: self.provider,
                provider_ref: self.provider_ref,
                base_model: self.base_model,
                category: self.category,
                base_url: self.base_url,
                api_key: sealed(
                    self.api_key_enc,
                    self.api_key_mask,
                    crate::cipher::model_slot(&uuid, "api_key"),
                ),
                params: parse_map("model params", &self.params)?,
                capabilities: parse_opt_map("model capabilities", self.capabilities.as_deref())?,
                pricing: Pricing {
                    input: self.input_cost,
                    output: self.output_cost,
                    cache_hit_input: self.cache_hit_input_cost,
                    cache_creation_input: self.cache_creation_input_cost,
                },
                context_window: self.context_window,
                dimension: self.dimension,
                supported_params_override: parse_opt_map(
                    "model supported_params_override",
                    self.supported_params_override.as_deref(),
                )?,
                extra: parse_map("model extra", &self.extra)?,
                is_active: self.is_active,
                public: self.public_read,
                grants,
            },
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        })
    }
}

/// Every column but `seq`: used for inserts and for full-row updates.
#[derive(Insertable, AsChangeset, Debug)]
#[diesel(table_name = models, treat_none_as_null = true)]
pub struct ModelWrite {
    pub uuid: String,
    pub org_id: Option<String>,
    pub key: String,
    pub source: String,
    pub owner_id: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: String,
    pub provider: Option<String>,
    pub provider_ref: Option<i64>,
    pub base_model: Option<String>,
    pub category: Option<String>,
    pub base_url: Option<String>,
    pub api_key_enc: Option<String>,
    pub api_key_mask: Option<String>,
    pub params: String,
    pub capabilities: Option<String>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub cache_hit_input_cost: Option<f64>,
    pub cache_creation_input_cost: Option<f64>,
    pub context_window: Option<i64>,
    pub dimension: Option<i64>,
    pub supported_params_override: Option<String>,
    pub extra: String,
    pub is_active: bool,
    pub public_read: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl ModelWrite {
    pub fn from_model(model: &Model) -> StoreResult<Self> {
        let f = &model.fields;
        Ok(Self {
            uuid: model.uuid.to_string(),
            org_id: model.org_id.clone(),
            key: model.key.clone(),
            source: model.source.as_str().to_owned(),
            owner_id: model.owner_id.clone(),
            display_name: f.display_name.clone(),
            description: f.description.clone(),
            tags: json_text(&f.tags)?,
            provider: f.provider.clone(),
            provider_ref: f.provider_ref,
            base_model: f.base_model.clone(),
            category: f.category.clone(),
            base_url: f.base_url.clone(),
            api_key_enc: f.api_key.as_ref().map(|s| s.ciphertext.clone()),
            api_key_mask: f.api_key.as_ref().map(|s| s.mask.clone()),
            params: json_text(&f.params)?,
            capabilities: f.capabilities.as_ref().map(json_text).transpose()?,
            input_cost: f.pricing.input,
            output_cost: f.pricing.output,
            cache_hit_input_cost: f.pricing.cache_hit_input,
            cache_creation_input_cost: f.pricing.cache_creation_input,
            context_window: f.context_window,
            dimension: f.dimension,
            supported_params_override: f
                .supported_params_override
                .as_ref()
                .map(json_text)
                .transpose()?,
            extra: json_text(&f.extra)?,
            is_active: f.is_active,
            public_read: f.public,
            created_at: to_db_time(model.created_at),
            updated_at: to_db_time(model.updated_at),
            version: model.version,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = model_grants)]
pub struct GrantRow {
    pub model_seq: i64,
    pub principal_type: String,
    pub principal_id: String,
    pub permission: String,
    pub position: i32,
}

impl GrantRow {
    pub fn into_grant(self) -> StoreResult<Grant> {
        Ok(Grant {
            kind: PrincipalKind::parse(&self.principal_type)
                .ok_or_else(|| corrupt("grant principal type", &self.principal_type))?,
            principal_id: self.principal_id,
            permission: Permission::parse(&self.permission)
                .ok_or_else(|| corrupt("grant permission", &self.permission))?,
        })
    }

    pub fn rows_for(model_seq: i64, grants: &[Grant]) -> Vec<GrantRow> {
        grants
            .iter()
            .zip(0..)
            .map(|(g, position)| GrantRow {
                model_seq,
                principal_type: g.kind.as_str().to_owned(),
                principal_id: g.principal_id.clone(),
                permission: g.permission.as_str().to_owned(),
                position,
            })
            .collect()
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub name: String,
    pub is_root: bool,
    pub created_at: NaiveDateTime,
}

impl From<OrgRow> for Org {
    fn from(row: OrgRow) -> Self {
        Org {
            id: row.id,
            seq: row.seq,
            name: row.name,
            is_root: row.is_root,
            created_at: from_db_time(row.created_at),
        }
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl UserRow {
    pub fn into_user(self) -> StoreResult<User> {
        Ok(User {
            role: Role::parse(&self.role).ok_or_else(|| corrupt("user role", &self.role))?,
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            email: self.email,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = user_groups)]
pub struct GroupRow {
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl GroupRow {
    pub fn into_group(self, member_ids: Vec<String>) -> Group {
        Group {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            description: self.description,
            member_ids,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        }
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub org_id: String,
}

impl ApiKeyRow {
    pub fn into_key(self) -> ApiKey {
        ApiKey {
            id: self.id,
            user_id: self.user_id,
            org_id: self.org_id,
            name: self.name,
            prefix: self.prefix,
            created_at: from_db_time(self.created_at),
            revoked_at: self.revoked_at.map(from_db_time),
        }
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = providers)]
pub struct ProviderRow {
    pub seq: i64,
    pub org_id: String,
    pub provider_id: String,
    pub name: String,
    pub api_key_enc: Option<String>,
    pub api_key_mask: Option<String>,
    pub extra: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub owner_id: Option<String>,
    /// JSON object: pointer into `extra` → ciphertext.
    pub extra_secrets: String,
}

impl ProviderRow {
    pub fn into_provider(self) -> StoreResult<Provider> {
        let extra = parse_map("provider extra", &self.extra)?;
        let ciphertexts: BTreeMap<String, String> = serde_json::from_str(&self.extra_secrets)
            .map_err(|e| corrupt("provider extra_secrets", e))?;
        // Each secret's mask is what `extra` shows at its place.
        let holder = serde_json::Value::Object(extra);
        let extra_secrets = ciphertexts
            .into_iter()
            .map(|(pointer, ciphertext)| {
                let mask = holder.pointer(&pointer).and_then(|v| v.as_str()).unwrap_or("...");
                let slot = crate::cipher::provider_slot(
                    &self.org_id,
                    &self.provider_id,
                    &modelgate_core::provider::extra_field(&pointer),
                );
                let secret = SealedSecret { ciphertext, mask: mask.to_owned(), slot };
                (pointer, secret)
            })
            .collect();
        let serde_json::Value::Object(extra) = holder else {
            return Err(corrupt("provider extra", "not an object"));
        };
        let (org_id, provider_id) = (self.org_id.clone(), self.provider_id.clone());
        Ok(Provider {
            seq: self.seq,
            org_id: self.org_id,
            provider_id: self.provider_id,
            name: self.name,
            owner_id: self.owner_id,
            api_key: sealed(
                self.api_key_enc,
                self.api_key_mask,
                crate::cipher::provider_slot(&org_id, &provider_id, "api_key"),
            ),
            extra,
            extra_secrets,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        })
    }
}

/// A provider's sealed settings values as stored: pointer → ciphertext.
pub fn extra_secrets_text(secrets: &ExtraSecrets) -> StoreResult<String> {
    let ciphertexts: BTreeMap<&str, &str> =
        secrets.iter().map(|(p, s)| (p.as_str(), s.ciphertext.as_str())).collect();
    json_text(&ciphertexts)
}

/// Every provider column but `seq`.
#[derive(Insertable, AsChangeset, Debug)]
#[diesel(table_name = providers, treat_none_as_null = true)]
pub struct ProviderWrite {
    pub org_id: String,
    pub provider_id: String,
    pub name: String,
    pub api_key_enc: Option<String>,
    pub api_key_mask: Option<String>,
    pub extra: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub owner_id: Option<String>,
    pub extra_secrets: String,
}

impl ProviderWrite {
    pub fn from_provider(p: &Provider) -> StoreResult<Self> {
        Ok(Self {
            org_id: p.org_id.clone(),
            provider_id: p.provider_id.clone(),
            name: p.name.clone(),
            api_key_enc: p.api_key.as_ref().map(|s| s.ciphertext.clone()),
            api_key_mask: p.api_key.as_ref().map(|s| s.mask.clone()),
            extra: json_text(&p.extra)?,
            created_at: to_db_time(p.created_at),
            updated_at: to_db_time(p.updated_at),
            version: p.version,
            owner_id: p.owner_id.clone(),
            extra_secrets: extra_secrets_text(&p.extra_secrets)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Debug, Clone)]
#[diesel(table_name = endpoints, treat_none_as_null = true)]
pub struct EndpointRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub model_seq: Option<i64>,
    pub owner_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub summary: String,
    pub response_type: String,
    pub published: bool,
    pub tags: String,
    pub system_prompt: Option<String>,
}

impl EndpointRow {
    pub fn into_endpoint(self) -> StoreResult<Endpoint> {
        Ok(Endpoint {
            id: parse_uuid(&self.id)?,
            response_type: ResponseType::parse(&self.response_type)
                .ok_or_else(|| corrupt("endpoint response_type", &self.response_type))?,
            tags: serde_json::from_str(&self.tags).map_err(|e| corrupt("endpoint tags", e))?,
            org_id: self.org_id,
            name: self.name,
            slug: self.slug,
            description: self.description,
            summary: self.summary,
            published: self.published,
            system_prompt: self.system_prompt,
            model_seq: self.model_seq,
            owner_id: self.owner_id,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        })
    }

    pub fn from_endpoint(e: &Endpoint) -> StoreResult<Self> {
        Ok(Self {
            id: e.id.to_string(),
            org_id: e.org_id.clone(),
            name: e.name.clone(),
            slug: e.slug.clone(),
            description: e.description.clone(),
            model_seq: e.model_seq,
            owner_id: e.owner_id.clone(),
            created_at: to_db_time(e.created_at),
            updated_at: to_db_time(e.updated_at),
            summary: e.summary.clone(),
            response_type: e.response_type.as_str().to_owned(),
            published: e.published,
            tags: json_text(&e.tags)?,
            system_prompt: e.system_prompt.clone(),
        })
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: i64,
    pub org_id: Option<String>,
    pub entity: String,
    pub entity_id: String,
    pub actor_id: Option<String>,
    pub dialect: String,
    pub action: String,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub at: NaiveDateTime,
}

impl AuditRow {
    pub fn into_event(self) -> StoreResult<modelgate_core::AuditEvent> {
        let parse = |text: Option<String>| -> StoreResult<Option<serde_json::Value>> {
            text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("audit state", e)))
                .transpose()
        };
        Ok(modelgate_core::AuditEvent {
            id: self.id,
            org_id: self.org_id,
            entity: self.entity,
            entity_id: self.entity_id,
            actor_id: self.actor_id,
            dialect: self.dialect,
            action: self.action,
            before: parse(self.before_state)?,
            after: parse(self.after_state)?,
            at: from_db_time(self.at),
        })
    }
}

#[derive(Insertable, Debug)]
#[diesel(table_name = audit_events)]
pub struct NewAuditRow {
    pub org_id: Option<String>,
    pub entity: String,
    pub entity_id: String,
    pub actor_id: Option<String>,
    pub dialect: String,
    pub action: String,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub at: NaiveDateTime,
}
