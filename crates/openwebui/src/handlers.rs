//! Request handlers: read the wire body, call the registry, render.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use modelgate_core::policy::{self, Action};
use modelgate_core::{
    Column, Condition, DomainError, Entity, FieldSet, JsonMap, MapChange, ModelChange, ModelQuery,
    ModelRef, ModelUpdate, ModelView, NewModel, Op as Cmp, PageRequest, Sort, Source, Target,
    UpsertModel, Value as QueryValue,
};
use modelgate_http::input::{Fields, Issue, IssueKind, Loc, Opt};
use modelgate_http::stream::{ModelList, scan_all, stream_models};
use modelgate_http::{Caller, Deferred, JsonBody, Services, detail};
use serde_json::{Value, json};

use crate::OpenWebUi;
use crate::errors::{Op, UNAUTHORIZED, domain_error, invalid_input};
use crate::wire::{self, Mode, ModelForm};

type Svc = web::Data<Services>;
type Me = Caller<OpenWebUi, Deferred>;
/// The body is taken as a `Result` so that authentication is always checked first, as FastAPI
/// resolves the user dependency before it validates the body.
type Body = Result<JsonBody<OpenWebUi>, actix_web::Error>;

/// Open WebUI's page size for `GET /list`.
const PAGE_SIZE: i64 = 30;

fn body_loc() -> Vec<Loc> {
    vec![Loc::Key("body".into())]
}

/// An answer that ends a handler early (validation), as an actix error carrying the response.
fn refuse(response: HttpResponse) -> actix_web::Error {
    actix_web::error::InternalError::from_response("request refused", response).into()
}

fn ok(value: Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

fn model(view: &ModelView) -> Value {
    Value::Object(wire::model_json(view))
}

/// Every query parameter in order, repeated keys included, decoded as Starlette does (`+` is a
/// space, percent escapes decoded).
fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

/// Query parameters by name; the last of a repeated one wins (FastAPI's scalar parameters).
fn query(req: &HttpRequest) -> HashMap<String, String> {
    query_pairs(req).into_iter().collect()
}

/// Every value of a repeated parameter (FastAPI's `list[str]` query parameters); `None` when the
/// key is absent.
fn query_list(req: &HttpRequest, name: &str) -> Option<Vec<String>> {
    let values: Vec<String> =
        query_pairs(req).into_iter().filter(|(key, _)| key == name).map(|(_, v)| v).collect();
    (!values.is_empty()).then_some(values)
}

/// Upstream's admin-only routes answer non-admins with a 401 before doing anything.
fn refuse_non_admin(me: &Me) -> Option<HttpResponse> {
    (!policy::role_allows(&me.ctx.actor, Action::Admin))
        .then(|| detail(StatusCode::UNAUTHORIZED, UNAUTHORIZED))
}

fn query_issue(name: &str, kind: IssueKind, input: Value) -> HttpResponse {
    let loc = vec![Loc::Key("query".into()), Loc::Key(name.into())];
    invalid_input(&[Issue { loc, kind, input }])
}

/// The required `?id=` of the single-model routes.
fn query_id(req: &HttpRequest) -> actix_web::Result<String> {
    query(req)
        .remove("id")
        .ok_or_else(|| refuse(query_issue("id", IssueKind::Missing, Value::Null)))
}

/// The custom models the caller can read, oldest first.
fn custom_query() -> ModelQuery {
    ModelQuery { sort: vec![Sort::asc(Column::CreatedAt)], ..ModelQuery::custom_only() }
}

/// The built-in catalog (Open WebUI's "base models") by id, optionally only those with `tag`.
fn catalog_query(tag: Option<String>) -> ModelQuery {
    let mut q = ModelQuery {
        source: Some(Source::Builtin),
        sort: vec![Sort::asc(Column::Key)],
        ..ModelQuery::default()
    };
    if let Some(tag) = tag {
        q = q.filter(Condition {
            target: Target::Tag(tag),
            op: Cmp::Eq,
            value: QueryValue::Bool(true),
        });
    }
    q
}

/// The sorted, de-duplicated tag names of the models `query` finds, read in batches so that only
/// the names are kept.
async fn tag_names(svc: &Svc, me: Me, query: ModelQuery) -> HttpResponse {
    let ctx = me.ctx;
    let found = svc
        .call(move |r| {
            let mut tags = BTreeSet::new();
            scan_all(r, &ctx, &query, |batch| {
                tags.extend(batch.into_iter().flat_map(|v| v.model.fields.tags));
                true
            })?;
            Ok(tags)
        })
        .await;
    match found {
        Ok(tags) => ok(json!(tags)),
        Err(e) => domain_error(Op::List, &e, None),
    }
}

// ---- reads ----

/// Answers `queries` as one JSON array of `item`s, written as it is read.
async fn stream_array(
    svc: Svc,
    me: Me,
    queries: Vec<ModelQuery>,
    item: impl Fn(&ModelView) -> Option<Value> + Send + Sync + 'static,
) -> HttpResponse {
    match stream_models(svc, me.ctx, ModelList::array(queries, item)).await {
        Ok(response) => response,
        Err(e) => domain_error(Op::List, &e, None),
    }
}

/// `GET /`: every custom model the caller can read (the pre-paging list).
pub async fn list_legacy(svc: Svc, me: Me) -> HttpResponse {
    stream_array(svc, me, vec![custom_query()], |view| Some(model(view))).await
}

/// `GET /list`: one page of the custom models the caller can read, with `write_access`.
pub async fn list(svc: Svc, me: Me, req: HttpRequest) -> HttpResponse {
    let params = query(&req);
    let text = |name: &str| params.get(name).map(String::as_str).filter(|s| !s.is_empty());
    let page = match text("page").map(|p| p.trim().parse::<i64>()) {
        None => 1,
        Some(Ok(page)) => page.max(1),
        Some(Err(_)) => {
            let input = json!(params.get("page"));
            return query_issue("page", IssueKind::IntParsing, input);
        }
    };
    let mut q = ModelQuery::custom_only();
    q.text = text("query").map(str::to_owned);
    if let Some(tag) = text("tag") {
        q = q.filter(Condition {
            target: Target::Tag(tag.to_owned()),
            op: Cmp::Eq,
            value: QueryValue::Bool(true),
        });
    }
    let me_id = QueryValue::Text(me.ctx.actor.user_id.clone());
    match text("view_option") {
        Some("created") => q = q.filter(Condition::column(Column::OwnerId, Cmp::Eq, me_id)),
        Some("shared") => q = q.filter(Condition::column(Column::OwnerId, Cmp::Ne, me_id)),
        _ => {}
    }
    // Like upstream: any direction but `asc` is descending; newest first by default.
    let descending = text("direction") != Some("asc");
    let column = match text("order_by") {
        Some("name") => Some(Column::DisplayName),
        Some("created_at") => Some(Column::CreatedAt),
        Some("updated_at") => Some(Column::UpdatedAt),
        _ => None,
    };
    q.sort = vec![match column {
        Some(column) => Sort { column, descending },
        None => Sort::desc(Column::CreatedAt),
    }];
    q.page = Some(PageRequest { offset: (page - 1).saturating_mul(PAGE_SIZE), limit: PAGE_SIZE });
    let ctx = me.ctx;
    match svc.call(move |r| r.list_models(&ctx, &q)).await {
        Ok(page) => ok(json!({
            "items": page.items.iter().map(wire::model_access_json).collect::<Vec<_>>(),
            "total": page.total,
        })),
        Err(e) => domain_error(Op::List, &e, None),
    }
}

/// `GET /base?tag=`: the built-in catalog, for admins (upstream's admin dependency answers 401).
/// A non-empty `tag` keeps the models with exactly that tag.
pub async fn base(svc: Svc, me: Me, req: HttpRequest) -> HttpResponse {
    if let Some(refused) = refuse_non_admin(&me) {
        return refused;
    }
    let tag = query(&req).remove("tag").filter(|tag| !tag.is_empty());
    let q = catalog_query(tag.clone());
    // The store's tag filter narrows the rows; checking again here keeps the match exact
    // whatever a backend's LIKE does with case.
    let exact = move |v: &ModelView| tag.as_ref().is_none_or(|t| v.model.fields.tags.contains(t));
    stream_array(svc, me, vec![q], move |view| exact(view).then(|| model(view))).await
}

/// `GET /base/tags`: the sorted tag names of the catalog models, for admins.
pub async fn base_tags(svc: Svc, me: Me) -> HttpResponse {
    if let Some(refused) = refuse_non_admin(&me) {
        return refused;
    }
    tag_names(&svc, me, catalog_query(None)).await
}

/// `GET /all`: every model of the org, for admins: the custom models of every owner (oldest
/// first), then the catalog (by id). modelgate keeps no per-org records of catalog models, so
/// the catalog stands in for upstream's base-model rows.
pub async fn all(svc: Svc, me: Me) -> HttpResponse {
    if let Some(refused) = refuse_non_admin(&me) {
        return refused;
    }
    let queries = vec![custom_query(), catalog_query(None)];
    stream_array(svc, me, queries, |view| Some(model(view))).await
}

/// `GET /tags`: the sorted tag names of the custom models the caller can read.
pub async fn tags(svc: Svc, me: Me) -> HttpResponse {
    tag_names(&svc, me, custom_query()).await
}

/// `GET /model?id=`: one model, with `write_access`. Like upstream, a model of the org the
/// caller may not read is a 401, a missing one a 404.
pub async fn get(
    svc: Svc,
    me: Caller<OpenWebUi, Deferred>,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    let id = query_id(&req)?;
    let ctx = me.ctx;
    let found = svc
        .read(move |r| {
            let reference = ModelRef::Key(id.clone());
            match r.get_model(&ctx, &reference) {
                Err(DomainError::NotFound(Entity::Model))
                    if r.model_exists(&ctx, &reference)? =>
                {
                    Ok(None)
                }
                other => other.map(Some),
            }
        })
        .await;
    Ok(match found {
        Ok(Some(view)) => ok(wire::model_access_json(&view)),
        Ok(None) => detail(StatusCode::UNAUTHORIZED, UNAUTHORIZED),
        Err(e) => domain_error(Op::Get, &e, None),
    })
}

/// `GET /export?ids=a&ids=b`: the custom models the caller may change, ready for `POST /import`;
/// with `ids` (repeated, never comma-joined), only those of them. Ids that are unknown, not
/// exportable or catalog models are left out silently, as upstream's `id IN (…)` filter does.
pub async fn export(svc: Svc, me: Me, req: HttpRequest) -> HttpResponse {
    let mut q = custom_query();
    if let Some(ids) = query_list(&req, "ids") {
        let ids = ids.into_iter().map(QueryValue::Text).collect();
        q = q.filter(Condition::column(Column::Key, Cmp::In, QueryValue::List(ids)));
    }
    stream_array(svc, me, vec![q], |view| view.rights.write.then(|| model(view))).await
}

// ---- writes ----

/// `POST /create`.
pub async fn create(svc: Svc, me: Me, body: Body) -> actix_web::Result<HttpResponse> {
    let body = body?.into_inner();
    let form = match wire::read_model_form(&body, &body_loc(), Mode::Full) {
        Ok(form) => form,
        Err(issues) => return Err(refuse(invalid_input(&issues))),
    };
    // A new model is active unless the body says otherwise.
    let form = ModelForm { is_active: Some(form.is_active.unwrap_or(true)), ..form };
    let (key, _, change) = form.into_change(policy::may_share_public(&me.ctx.actor));
    let ctx = me.ctx;
    Ok(match svc.call(move |r| r.create_model(&ctx, NewModel { key, change })).await {
        Ok(view) => ok(model(&view)),
        Err(e) => domain_error(Op::Create, &e, Some(&body)),
    })
}

/// `POST /model/update`: replaces the Open WebUI view of the model named by `id`; `is_active` and
/// `base_model_id` only when sent (upstream keeps the stored state when they are omitted).
pub async fn update(svc: Svc, me: Me, body: Body) -> actix_web::Result<HttpResponse> {
    let body = body?.into_inner();
    let form = match wire::read_model_form(&body, &body_loc(), Mode::Full) {
        Ok(form) => form,
        Err(issues) => return Err(refuse(invalid_input(&issues))),
    };
    let (key, view, change) = form.into_change(policy::may_share_public(&me.ctx.actor));
    let ctx = me.ctx;
    let update = ModelUpdate::replace(view, change);
    Ok(match svc.call(move |r| r.update_model(&ctx, &ModelRef::Key(key), update)).await {
        Ok(view) => ok(model(&view)),
        Err(e) => domain_error(Op::Update, &e, Some(&body)),
    })
}

/// `POST /model/toggle?id=`: flips `is_active`.
pub async fn toggle(svc: Svc, me: Me, req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let id = query_id(&req)?;
    let ctx = me.ctx;
    Ok(match svc.call(move |r| r.toggle_model(&ctx, &ModelRef::Key(id))).await {
        Ok(view) => ok(model(&view)),
        Err(e) => domain_error(Op::Toggle, &e, None),
    })
}

async fn delete_model(svc: Svc, me: Me, id: String) -> HttpResponse {
    let ctx = me.ctx;
    match svc.call(move |r| r.delete_model(&ctx, &ModelRef::Key(id))).await {
        Ok(_) => ok(json!(true)),
        Err(e) => domain_error(Op::Delete, &e, None),
    }
}

/// `POST /model/delete` with `{"id": …}`.
pub async fn delete(svc: Svc, me: Me, body: Body) -> actix_web::Result<HttpResponse> {
    let body = body?.into_inner();
    let mut f = Fields::new(&body, &body_loc());
    let id = f.required_string("id");
    Ok(match (f.finish(), id) {
        (Ok(()), Some(id)) => delete_model(svc, me, id).await,
        (Err(issues), _) => invalid_input(&issues),
        (Ok(()), None) => invalid_input(&[]),
    })
}

/// `DELETE /model/delete?id=` (older clients).
pub async fn delete_by_query(
    svc: Svc,
    me: Me,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    Ok(delete_model(svc, me, query_id(&req)?).await)
}

/// `DELETE /delete/all`: every custom model of the org, whoever owns it, in one transaction (as
/// Open WebUI's "Reset All Models"); the catalog stays. Core refuses non-admins (401 here).
pub async fn delete_all(svc: Svc, me: Me) -> HttpResponse {
    let ctx = me.ctx;
    match svc.call(move |r| r.delete_org_models(&ctx)).await {
        Ok(_) => ok(json!(true)),
        Err(e) => domain_error(Op::Delete, &e, None),
    }
}

/// `POST /model/access/update` with `{id, name?, access_grants}`: replaces the grants only.
pub async fn update_access(svc: Svc, me: Me, body: Body) -> actix_web::Result<HttpResponse> {
    let body = body?.into_inner();
    let mut f = Fields::new(&body, &body_loc());
    let id = f.required_string("id");
    let name = f.string("name").value();
    let grants = match f.raw("access_grants") {
        Opt::Absent => {
            if f.is_object() {
                f.issue("access_grants", IssueKind::Missing, body.clone());
            }
            None
        }
        Opt::Null => {
            f.issue("access_grants", IssueKind::ListType, Value::Null);
            None
        }
        Opt::Value(_) => wire::read_grants(&mut f, "access_grants"),
    };
    let (id, grants) = match (f.finish(), id, grants) {
        (Ok(()), Some(id), Some(grants)) => (id, grants),
        (Err(issues), ..) => return Err(refuse(invalid_input(&issues))),
        _ => return Err(refuse(invalid_input(&[]))),
    };
    let actor = &me.ctx.actor;
    let (may_share, admin) =
        (policy::may_share_public(actor), policy::role_allows(actor, Action::Admin));
    let mut view = FieldSet::EMPTY;
    let mut change = ModelChange::default();
    wire::set_grants(&mut view, &mut change, grants, may_share);
    let ctx = me.ctx;
    let result = svc
        .call(move |r| {
            let reference = ModelRef::Key(id.clone());
            match r.update_model(&ctx, &reference, ModelUpdate::replace(view, change.clone())) {
                // Like upstream, an admin may set grants on a model that has no record yet (a
                // connection's model): it gets a minimal one.
                Err(DomainError::NotFound(Entity::Model)) if admin => {
                    let change = ModelChange {
                        display_name: Some(Some(name.unwrap_or_else(|| id.clone()))),
                        params: Some(MapChange::Set(Some(JsonMap::new()))),
                        ..change
                    };
                    r.create_model(&ctx, NewModel { key: id, change })
                }
                other => other,
            }
        })
        .await;
    Ok(match result {
        Ok(view) => ok(model(&view)),
        Err(e) => domain_error(Op::Access, &e, Some(&body)),
    })
}

/// `POST /import` with `{"models": […]}`: upserts every model by id, all or nothing.
pub async fn import(svc: Svc, me: Me, body: Body) -> actix_web::Result<HttpResponse> {
    let body = body?.into_inner();
    let mut f = Fields::new(&body, &body_loc());
    let items = match f.raw("models") {
        Opt::Absent => {
            if f.is_object() {
                f.issue("models", IssueKind::Missing, body.clone());
            }
            None
        }
        Opt::Null => {
            f.issue("models", IssueKind::ListType, Value::Null);
            None
        }
        Opt::Value(_) => f.list("models").value(),
    };
    let mut issues = f.finish().err().unwrap_or_default();
    let may_share = policy::may_share_public(&me.ctx.actor);
    let mut models = Vec::new();
    for (i, item) in items.iter().flatten().enumerate() {
        let loc = [Loc::Key("body".into()), Loc::Key("models".into()), Loc::Index(i)];
        match wire::read_model_form(item, &loc, Mode::Import) {
            Ok(form) => {
                let (key, view, change) = form.into_change(may_share);
                models.push(UpsertModel { key, replace: Some(view), change });
            }
            Err(found) => issues.extend(found),
        }
    }
    if !issues.is_empty() {
        return Err(refuse(invalid_input(&issues)));
    }
    let ctx = me.ctx;
    Ok(match svc.call(move |r| r.import_models(&ctx, models)).await {
        Ok(_) => ok(json!(true)),
        Err(e) => domain_error(Op::Import, &e, None),
    })
}
