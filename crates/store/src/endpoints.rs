//! Endpoints and per-user default models.

use diesel::prelude::*;
use modelgate_core::fields::normalize_tags;
use modelgate_core::policy::{self, Action};
use modelgate_core::{
    Ctx, Denied, DomainError, DomainResult, Endpoint, EndpointChange, Entity, FieldError, ModelRef,
    ModelView, NewEndpoint, UserDefault, Violation,
};
use uuid::Uuid;

use crate::audit::Auditor;
use crate::conn::{Backend, DbConn};
use crate::error::{StoreError, StoreResult, conflict_on_unique};
use crate::models::{hydrate, view};
use crate::rows::{EndpointRow, ModelRow, from_db_time, now, to_db_time};
use crate::schema::{endpoints, models, user_defaults, users};
use crate::{SharedCheck, Store};

/// The endpoints serving one model, as a cache keeps them ([`Store::model_with_endpoints`]).
#[derive(Clone, Debug)]
pub(crate) struct Served {
    pub endpoints: Vec<Endpoint>,
    /// Postgres: their stamp when read ([`crate::subquery::endpoints_stamp`]).
    pub stamp: Option<String>,
}

const MAX_SLUG_LEN: usize = 128;
const MAX_CONFIG_TYPE_LEN: usize = 64;

/// The user a default belongs to: defaults point at users by org and id.
macro_rules! defaults_user {
    () => {
        users::table
            .on(users::org_id.eq(user_defaults::org_id).and(users::id.eq(user_defaults::user_id)))
    };
}

fn invalid(name: &'static str, violation: Violation) -> StoreError {
    DomainError::invalid(FieldError::named(name, violation)).into()
}

fn load(conn: &mut DbConn, org_id: &str, slug: &str) -> StoreResult<Endpoint> {
    endpoints::table
        .filter(endpoints::org_id.eq(org_id))
        .filter(endpoints::slug.eq(slug))
        .select(EndpointRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::Domain(DomainError::NotFound(Entity::Endpoint)))?
        .into_endpoint()
}

/// [`load`], with the row locked until the transaction ends (Postgres; SQLite writers are
/// serialized already).
fn load_for_update(conn: &mut DbConn, org_id: &str, slug: &str) -> StoreResult<Endpoint> {
    if let DbConn::Pg(pg) = conn {
        endpoints::table
            .filter(endpoints::org_id.eq(org_id))
            .filter(endpoints::slug.eq(slug))
            .select(endpoints::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    load(conn, org_id, slug)
}

impl Store {
    pub(crate) fn create_endpoint_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        new: NewEndpoint,
    ) -> StoreResult<Endpoint> {
        policy::authorize(&ctx.actor, Action::Create)?;
        let slug = new.slug.trim().to_owned();
        if slug.is_empty() {
            return Err(invalid("slug", Violation::Empty));
        }
        if slug.chars().count() > MAX_SLUG_LEN {
            return Err(invalid("slug", Violation::TooLong { max: MAX_SLUG_LEN }));
        }
        if new.name.trim().is_empty() {
            return Err(invalid("name", Violation::Required));
        }
        let model_seq = match &new.model {
            Some(reference) => Some(self.get_model_in(conn, ctx, reference)?.model.seq),
            None => None,
        };
        let at = now();
        let endpoint = Endpoint {
            id: Uuid::new_v4(),
            org_id: ctx.actor.org_id.clone(),
            name: new.name.trim().to_owned(),
            slug,
            description: new.description,
            summary: new.summary,
            response_type: new.response_type,
            published: new.published,
            tags: normalize_tags(new.tags),
            system_prompt: new.system_prompt.filter(|p| !p.is_empty()),
            model_seq,
            owner_id: Some(ctx.actor.user_id.clone()),
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(endpoints::table)
            .values(EndpointRow::from_endpoint(&endpoint)?)
            .execute(conn)
            .map_err(conflict_on_unique(Entity::Endpoint, &endpoint.slug))?;
        Auditor::of(ctx).record(
            conn,
            "endpoint",
            &endpoint.id.to_string(),
            "create",
            None,
            Some(&endpoint),
        )?;
        Ok(endpoint)
    }

    pub(crate) fn get_endpoint_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        slug: &str,
    ) -> StoreResult<Endpoint> {
        load(conn, &ctx.actor.org_id, slug)
    }

    pub(crate) fn list_endpoints_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        model_seqs: Option<&[i64]>,
    ) -> StoreResult<Vec<Endpoint>> {
        let mut query =
            endpoints::table.filter(endpoints::org_id.eq(ctx.actor.org_id.clone())).into_boxed();
        if let Some(seqs) = model_seqs {
            query = query.filter(endpoints::model_seq.eq_any(seqs.to_vec()));
        }
        query
            .order((endpoints::created_at, endpoints::id))
            .select(EndpointRow::as_select())
            .load(conn)?
            .into_iter()
            .map(EndpointRow::into_endpoint)
            .collect()
    }

    /// A model and the endpoints that serve it ([`Registry::get_model_with_endpoints`]), both
    /// from the caches where they hold: on Postgres one light statement checks the model's row,
    /// the caller and the endpoints' stamp together; on SQLite one look at the commits serves
    /// both.
    ///
    /// [`Registry::get_model_with_endpoints`]: modelgate_core::Registry::get_model_with_endpoints
    pub(crate) fn model_with_endpoints(
        &self,
        ctx: &Ctx,
        named: &ModelRef,
    ) -> DomainResult<(ModelView, Vec<Endpoint>)> {
        let check = SharedCheck::default();
        if let Some(both) = self.cached_with_endpoints(&check, ctx, named)? {
            return Ok(both);
        }
        let epoch = self.read_epoch();
        let view = self.get_model_at(epoch, &check, ctx, named)?;
        let key = (ctx.actor.org_id.clone(), view.model.seq);
        let seq = view.model.seq;
        let served = match self.backend {
            Backend::Sqlite => self.cached_at(epoch, &self.served, key, |conn| {
                let endpoints = self.list_endpoints_in(conn, ctx, Some(&[seq]))?;
                Ok(Some(Served { endpoints, stamp: None }))
            })?,
            Backend::Postgres => {
                let read_at = self.fresh.seen();
                let served = self.read_as(ctx, |conn, ctx| {
                    // The stamp first: a change between the two reads then fails the next check
                    // instead of leaving a stale list under a current stamp.
                    let stamp = crate::models::endpoints_stamp_of(conn, &ctx.actor.org_id, seq)?;
                    let endpoints = self.list_endpoints_in(conn, ctx, Some(&[seq]))?;
                    Ok(Served { endpoints, stamp: Some(stamp) })
                })?;
                let known_at = check.taken().unwrap_or(0);
                let now = self.fresh.seen();
                self.served.put_at_generation(read_at, now, key, served.clone(), known_at);
                Some(served)
            }
        };
        Ok((view, served.map(|s| s.endpoints).unwrap_or_default()))
    }

    /// Postgres: a model and its endpoints that this replica read before, served with no
    /// statement when the shared check finds nothing committed since they were last known
    /// current, else after one light statement finds the row, the caller and the endpoints
    /// unchanged; `None` when either is not cached or something changed.
    fn cached_with_endpoints(
        &self,
        check: &SharedCheck,
        ctx: &Ctx,
        named: &ModelRef,
    ) -> DomainResult<Option<(ModelView, Vec<Endpoint>)>> {
        let Some(model) = self.cached_on_postgres(ctx, named) else { return Ok(None) };
        let org = &ctx.actor.org_id;
        let Some(seq) = model.looked.found.as_ref().map(|m| m.seq) else { return Ok(None) };
        let served_key = (org.clone(), seq);
        let Some((served, served_known_at)) =
            self.served.lookup_with_generation(model.epoch, &served_key)
        else {
            return Ok(None);
        };
        let current = self.cached_still_current(
            check,
            ctx,
            &[model.known_at, served_known_at],
            |conn| {
                let read = crate::models::stamps_with_endpoints(conn, org, named)?;
                Ok(read.compared(|[row, endpoints]| {
                    row == model.looked.stamp && endpoints == served.stamp
                }))
            },
            |generation| {
                self.confirm_model(&model.key, &model.looked.stamp, generation);
                self.served.confirm(&served_key, generation, |s| s.stamp == served.stamp);
            },
        )?;
        if !current {
            return Ok(None);
        }
        self.models.count_hit();
        self.served.count_hit();
        let view = crate::models::readable(&ctx.actor, model.looked.found)?;
        Ok(Some((view, served.endpoints)))
    }

    /// The endpoint's owner (if its role writes) or an org admin may change or delete it.
    fn may_manage(ctx: &Ctx, endpoint: &Endpoint) -> StoreResult<()> {
        let owner = endpoint.owner_id.as_deref() == Some(ctx.actor.user_id.as_str());
        if ctx.actor.is_admin() || (owner && policy::role_allows(&ctx.actor, Action::Write)) {
            Ok(())
        } else {
            Err(DomainError::Denied(Denied::Write).into())
        }
    }

    /// Applies a partial change. A change that sets every field to what it already is writes
    /// nothing: no `updated_at` bump and no audit row.
    pub(crate) fn update_endpoint_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        slug: &str,
        change: EndpointChange,
    ) -> StoreResult<Endpoint> {
        let before = load_for_update(conn, &ctx.actor.org_id, slug)?;
        Self::may_manage(ctx, &before)?;
        let mut after = before.clone();
        if let Some(name) = change.name {
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err(invalid("name", Violation::Required));
            }
            after.name = name;
        }
        if let Some(summary) = change.summary {
            after.summary = summary;
        }
        if let Some(description) = change.description {
            after.description = description;
        }
        if let Some(prompt) = change.system_prompt {
            // An empty prompt removes the override, as Syft Space does.
            after.system_prompt = prompt.filter(|p| !p.is_empty());
        }
        if after == before {
            return Ok(before);
        }
        after.updated_at = now();
        diesel::update(endpoints::table.find(after.id.to_string()))
            .set(EndpointRow::from_endpoint(&after)?)
            .execute(conn)?;
        Auditor::of(ctx).record(
            conn,
            "endpoint",
            &after.id.to_string(),
            "update",
            Some(&before),
            Some(&after),
        )?;
        Ok(after)
    }

    pub(crate) fn delete_endpoint_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        slug: &str,
    ) -> StoreResult<Endpoint> {
        let endpoint = load_for_update(conn, &ctx.actor.org_id, slug)?;
        Self::may_manage(ctx, &endpoint)?;
        diesel::delete(endpoints::table.find(endpoint.id.to_string())).execute(conn)?;
        Auditor::of(ctx).record(
            conn,
            "endpoint",
            &endpoint.id.to_string(),
            "delete",
            Some(&endpoint),
            None,
        )?;
        Ok(endpoint)
    }

    pub(crate) fn set_user_default_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        config_type: &str,
        model: &ModelRef,
    ) -> StoreResult<UserDefault> {
        let config_type = config_type.trim();
        if config_type.is_empty() {
            return Err(invalid("config_type", Violation::Empty));
        }
        if config_type.chars().count() > MAX_CONFIG_TYPE_LEN {
            return Err(invalid("config_type", Violation::TooLong { max: MAX_CONFIG_TYPE_LEN }));
        }
        let model = self.get_model_in(conn, ctx, model)?;
        let (org_id, user_id) = (ctx.actor.org_id.clone(), ctx.actor.user_id.clone());
        let existing: Option<chrono::NaiveDateTime> = user_defaults::table
            .find((&org_id, &user_id, config_type))
            .select(user_defaults::created_at)
            .first(conn)
            .optional()?;
        let at = now();
        match existing {
            Some(_) => {
                diesel::update(user_defaults::table.find((&org_id, &user_id, config_type)))
                    .set((
                        user_defaults::model_seq.eq(model.model.seq),
                        user_defaults::updated_at.eq(to_db_time(at)),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(user_defaults::table)
                    .values((
                        user_defaults::org_id.eq(&org_id),
                        user_defaults::user_id.eq(&user_id),
                        user_defaults::config_type.eq(config_type),
                        user_defaults::model_seq.eq(model.model.seq),
                        user_defaults::created_at.eq(to_db_time(at)),
                        user_defaults::updated_at.eq(to_db_time(at)),
                    ))
                    .execute(conn)?;
            }
        }
        // The database numbers new rows (a sequence on Postgres, a trigger on SQLite).
        let (id, user_seq): (i64, i64) = user_defaults::table
            .inner_join(defaults_user!())
            .filter(user_defaults::org_id.eq(&org_id))
            .filter(user_defaults::user_id.eq(&user_id))
            .filter(user_defaults::config_type.eq(config_type))
            .select((user_defaults::id, users::seq))
            .first(conn)?;
        let state = serde_json::json!({"config_type": config_type, "model": model.model.uuid});
        Auditor::of(ctx).record(
            conn,
            "user_default",
            &format!("{user_id}/{config_type}"),
            "set",
            None,
            Some(&state),
        )?;
        Ok(UserDefault {
            id,
            user_seq,
            config_type: config_type.to_owned(),
            model,
            created_at: existing.map(from_db_time).unwrap_or(at),
            updated_at: at,
        })
    }

    pub(crate) fn list_user_defaults_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
    ) -> StoreResult<Vec<UserDefault>> {
        type Row = (i64, i64, String, chrono::NaiveDateTime, chrono::NaiveDateTime, ModelRow);
        let rows: Vec<Row> = user_defaults::table
            .inner_join(models::table)
            .inner_join(defaults_user!())
            .filter(user_defaults::org_id.eq(&ctx.actor.org_id))
            .filter(user_defaults::user_id.eq(&ctx.actor.user_id))
            .order(user_defaults::config_type)
            .select((
                user_defaults::id,
                users::seq,
                user_defaults::config_type,
                user_defaults::created_at,
                user_defaults::updated_at,
                ModelRow::as_select(),
            ))
            .load(conn)?;
        let (meta, model_rows): (Vec<_>, Vec<_>) =
            rows.into_iter().map(|(id, u, t, c, up, m)| ((id, u, t, c, up), m)).unzip();
        let loaded = hydrate(conn, model_rows)?;
        Ok(meta
            .into_iter()
            .zip(loaded)
            .map(|((id, user_seq, config_type, created, updated), model)| UserDefault {
                id,
                user_seq,
                config_type,
                model: view(&ctx.actor, model),
                created_at: from_db_time(created),
                updated_at: from_db_time(updated),
            })
            // A model the caller lost access to is no longer its default.
            .filter(|d| d.model.rights.read)
            .collect())
    }

    pub(crate) fn delete_user_default_in(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx,
        config_type: &str,
    ) -> StoreResult<()> {
        let deleted = diesel::delete(user_defaults::table.find((
            &ctx.actor.org_id,
            &ctx.actor.user_id,
            config_type,
        )))
        .execute(conn)?;
        if deleted == 0 {
            return Err(DomainError::NotFound(Entity::UserDefault).into());
        }
        let key = format!("{}/{config_type}", ctx.actor.user_id);
        Auditor::of(ctx).record::<()>(conn, "user_default", &key, "delete", None, None)?;
        Ok(())
    }
}
