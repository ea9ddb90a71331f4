//! `/api/v1/models`: models of the caller's tenant, and the model types.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::{
    Column, DomainError, DomainResult, Entity, ModelChange, ModelQuery, ModelRef, ModelUpdate,
    ModelView, NewModel, Registry, Sort, Source,
};
use modelgate_http::input::{Fields, Loc, Opt};
use modelgate_http::stream::{ModelList, Render, RenderBatch, stream_models};
use modelgate_http::{Caller, Deferred, JsonBody, Services};
use serde_json::{Value, json};

use crate::errors::{self, About};
use crate::types::{self, API_KEY};
use crate::wire::{self, Shape};
use crate::{Syft, check_tenant, tenant_and_object};

/// How often a PATCH re-reads and retries when the model changed between its read and write.
const PATCH_ATTEMPTS: usize = 5;

fn body_loc() -> [Loc; 1] {
    [Loc::from("body")]
}

/// A model Syft can see: a custom model of the tenant. Catalog models are not Syft models.
fn syft_model(view: ModelView) -> DomainResult<ModelView> {
    if view.model.is_builtin() {
        return Err(DomainError::NotFound(Entity::Model));
    }
    Ok(view)
}

/// A string field with a default: absent is the default, `null` is a type error (as pydantic
/// treats a non-optional `str` with a default).
fn string_or(fields: &mut Fields<'_>, name: &str, default: &str) -> String {
    match fields.string(name) {
        Opt::Value(v) => v,
        Opt::Null => {
            fields.issue(name, modelgate_http::input::IssueKind::Null, Value::Null);
            default.to_owned()
        }
        Opt::Absent => default.to_owned(),
    }
}

pub async fn list_types(_caller: Caller<Syft, Deferred>) -> HttpResponse {
    let infos: Vec<Value> = types::TYPES.iter().map(types::ModelType::info).collect();
    HttpResponse::Ok().json(infos)
}

pub async fn get_type(_caller: Caller<Syft, Deferred>, name: web::Path<String>) -> HttpResponse {
    match types::find(&name) {
        Some(t) => HttpResponse::Ok().json(t.info()),
        None => errors::model_type_not_found(StatusCode::NOT_FOUND, &name),
    }
}

pub async fn type_schema(_caller: Caller<Syft, Deferred>, name: web::Path<String>) -> HttpResponse {
    match types::find(&name) {
        Some(t) => HttpResponse::Ok().json(t.config_schema()),
        None => errors::model_type_not_found(StatusCode::NOT_FOUND, &name),
    }
}

pub async fn list(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let query = ModelQuery {
        source: Some(Source::Custom),
        sort: vec![Sort::asc(Column::CreatedAt)],
        ..ModelQuery::default()
    };
    // Each batch of models with its `connected_endpoints`: one query per batch.
    let render: RenderBatch = Arc::new(|r, ctx, batch| {
        let seqs: Vec<i64> = batch.iter().map(|v| v.model.seq).collect();
        let endpoints = r.model_endpoints(ctx, &seqs)?;
        let grouped = wire::by_model(&endpoints);
        Ok(batch
            .iter()
            .map(|v| {
                let served = grouped.get(&v.model.seq).map_or(&[][..], Vec::as_slice);
                wire::model(&v.model, served, Shape::ListItem)
            })
            .collect())
    });
    let list =
        ModelList { queries: vec![query], head: "[", tail: "]", render: Render::Views(render) };
    match stream_models(services, ctx, list).await {
        Ok(response) => response,
        Err(e) => modelgate_http::default_service_failure(&e),
    }
}

pub async fn get(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let name = name.into_inner();
    let key = name.clone();
    let result = services
        .read(move |r| {
            let (view, served) = r.get_model_with_endpoints(&ctx, &ModelRef::Key(key.clone()))?;
            Ok((syft_model(view)?, served))
        })
        .await;
    match result {
        Ok((view, endpoints)) => HttpResponse::Ok().json(wire::model(
            &view.model,
            &endpoints.iter().collect::<Vec<_>>(),
            Shape::WithEndpoints,
        )),
        Err(e) => errors::domain(&e, About::Model(&name), None),
    }
}

pub async fn create(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let ctx = caller.ctx;
    let body = match tenant_and_object(&services, &ctx, &req, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut f = Fields::new(&body, &body_loc());
    let name = f.required_string("name");
    let dtype = f.required_string("dtype");
    let configuration = f.required_object("configuration");
    let summary = string_or(&mut f, "summary", "");
    let tags = string_or(&mut f, "tags", "");
    if let Err(issues) = f.finish() {
        return errors::unprocessable(&issues);
    }
    let (Some(name), Some(dtype), Some(configuration)) = (name, dtype, configuration) else {
        return errors::unprocessable(&[]);
    };
    let Some(model_type) = types::find(&dtype) else {
        return errors::model_type_not_found(StatusCode::BAD_REQUEST, &dtype);
    };
    let mut f = Fields::new(&body, &body_loc());
    model_type.check(&mut f, &configuration);
    if let Err(issues) = f.finish() {
        return errors::unprocessable(&issues);
    }
    let change = wire::create_change(&dtype, &configuration, &summary, &tags);
    match services.call(move |r| r.create_model(&ctx, NewModel { key: name, change })).await {
        Ok(view) => HttpResponse::Created().json(wire::model(&view.model, &[], Shape::Model)),
        Err(e) => errors::domain(&e, About::NewModel, Some(&body)),
    }
}

/// Why a PATCH was refused after reading the model.
enum Refusal {
    /// It tried to change `configuration` or `dtype`.
    Immutable,
    /// Its `configuration`/`dtype` matched and nothing else was asked for.
    NothingToChange,
}

/// Whether a configuration sent with a PATCH equals the stored one. The api_key is compared
/// with the stored secret without revealing it; sending back the mask the API showed counts as
/// equal too, so a client may PATCH a model it just read.
fn same_configuration(
    registry: &dyn Registry,
    view: &ModelView,
    sent: &Value,
) -> DomainResult<bool> {
    let Value::Object(sent) = sent else { return Ok(false) };
    let sent = wire::normalized(sent);
    let stored = wire::configuration(&view.model);
    if sent.len() != stored.len() || sent.keys().any(|k| !stored.contains_key(k)) {
        return Ok(false);
    }
    for (key, value) in &sent {
        if key == API_KEY {
            let (Some(sealed), Some(candidate)) = (&view.model.fields.api_key, value.as_str())
            else {
                return Ok(false);
            };
            if candidate != sealed.mask && !registry.secret_equals(sealed, candidate)? {
                return Ok(false);
            }
        } else if stored.get(key) != Some(value) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A key of the body that the seed lets through only unchanged; `null` counts as not sent.
fn sent(body: &Value, key: &str) -> Option<Value> {
    body.get(key).filter(|v| !v.is_null()).cloned()
}

pub async fn update(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    name: web::Path<String>,
    body: JsonBody<Syft>,
) -> HttpResponse {
    let ctx = caller.ctx;
    let body = match tenant_and_object(&services, &ctx, &req, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let name = name.into_inner();
    let mut f = Fields::new(&body, &body_loc());
    // `null` is "not provided", as for pydantic's `str | None = None`.
    let rename = f.string("name").value();
    let summary = f.string("summary").value();
    let tags = f.string("tags").value();
    if let Err(issues) = f.finish() {
        return errors::unprocessable(&issues);
    }
    let dtype = sent(&body, "dtype");
    let configuration = sent(&body, "configuration");
    let provided = rename.is_some() || summary.is_some() || tags.is_some();
    if !provided && dtype.is_none() && configuration.is_none() {
        return errors::at_least_one_field(&body);
    }
    let change = ModelChange {
        description: summary.map(|s| Some(s).filter(|s| !s.is_empty())),
        tags: tags.as_deref().map(wire::tags_in),
        ..ModelChange::default()
    };
    let key = name.clone();
    let result = services
        .call(move |r| {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let view = syft_model(r.get_model(&ctx, &ModelRef::Key(key.clone()))?)?;
                if dtype.as_ref().is_some_and(|d| d.as_str() != Some(wire::dtype(&view.model))) {
                    return Ok(Err(Refusal::Immutable));
                }
                if let Some(sent) = &configuration
                    && !same_configuration(r, &view, sent)?
                {
                    return Ok(Err(Refusal::Immutable));
                }
                if !provided {
                    return Ok(Err(Refusal::NothingToChange));
                }
                // The version pins the configuration checked above: a change in between retries.
                let update = ModelUpdate {
                    rename: rename.clone(),
                    change: change.clone(),
                    expected_version: Some(view.model.version),
                    replace: None,
                };
                match r.update_model(&ctx, &ModelRef::Uuid(view.model.uuid), update) {
                    Ok(view) => {
                        let served = r.model_endpoints(&ctx, &[view.model.seq])?;
                        return Ok(Ok((view, served)));
                    }
                    Err(DomainError::VersionMismatch) if attempt < PATCH_ATTEMPTS => continue,
                    Err(e) => return Err(e),
                }
            }
        })
        .await;
    match result {
        Ok(Ok((view, endpoints))) => HttpResponse::Ok().json(wire::model(
            &view.model,
            &endpoints.iter().collect::<Vec<_>>(),
            Shape::WithEndpoints,
        )),
        Ok(Err(Refusal::Immutable)) => {
            modelgate_http::detail(StatusCode::BAD_REQUEST, errors::IMMUTABLE)
        }
        Ok(Err(Refusal::NothingToChange)) => errors::at_least_one_field(&body),
        Err(e) => errors::domain(&e, About::Model(&name), Some(&body)),
    }
}

pub async fn delete(
    services: web::Data<Services>,
    caller: Caller<Syft, Deferred>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = caller.ctx;
    if let Err(response) = check_tenant(&services, &ctx, &req).await {
        return response;
    }
    let name = name.into_inner();
    let key = name.clone();
    // Core deletes the model's endpoints with it, each with its own audit row.
    match services.call(move |r| r.delete_model(&ctx, &ModelRef::Key(key))).await {
        Ok(view) => HttpResponse::Ok()
            .json(json!({ "message": format!("Successfully deleted model '{}'", view.model.key) })),
        Err(e) => errors::domain(&e, About::Model(&name), None),
    }
}
