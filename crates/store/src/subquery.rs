//! Correlated subqueries that aggregate child rows into one JSON text column, so a single
//! statement reads a row with its children.
//!
//! Each is fixed SQL text per backend. Unlike diesel's `sql()` literal, which diesel never keeps
//! prepared (its text could differ between calls), these leave the statement cacheable: the
//! statements that authenticate a key and read a model are parsed once per connection.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, TypedExpressionType, ValidGrouping,
    is_aggregate,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Nullable, SqlType, Text};
use diesel::sqlite::Sqlite;

use crate::conn::MultiBackend;

/// A scalar subquery in two fixed texts per backend, with an optional bind parameter between
/// them, of SQL type `ST`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subquery<'a, ST> {
    pg: [&'static str; 2],
    sqlite: [&'static str; 2],
    bind: Option<&'a str>,
    sql_type: PhantomData<ST>,
}

/// A model's grants as one JSON array of `[principal_type, principal_id, permission]`, in their
/// stored order, correlated with the `models` row of the outer query.
pub(crate) const MODEL_GRANTS: Subquery<'static, Text> = Subquery {
    pg: [
        "(SELECT COALESCE(json_agg(json_build_array(g.principal_type, g.principal_id, \
         g.permission) ORDER BY g.position), '[]')::text \
         FROM model_grants g WHERE g.model_seq = models.seq)",
        "",
    ],
    sqlite: [
        "(SELECT json_group_array(json_array(g.principal_type, g.principal_id, g.permission) \
         ORDER BY g.position) FROM model_grants g WHERE g.model_seq = models.seq)",
        "",
    ],
    bind: None,
    sql_type: PhantomData,
};

/// The identity version (see the `identity_version` migration): it moves whenever what any key
/// authenticates may have changed, so a caller cached at version N is current while it reads N.
pub(crate) const IDENTITY_VERSION: Subquery<'static, Nullable<BigInt>> = Subquery {
    pg: ["(SELECT version FROM identity_version WHERE id = 1)", ""],
    sqlite: ["(SELECT version FROM identity_version WHERE id = 1)", ""],
    bind: None,
    sql_type: PhantomData,
};

/// Postgres: the snapshot the statement reads in, as the shared check reads it
/// ([`crate::fresh`]): a statement that also compares cached stamps is a check of its own.
/// SQLite has none (NULL).
pub(crate) const CURRENT_SNAPSHOT: Subquery<'static, Nullable<Text>> = Subquery {
    pg: ["pg_current_snapshot()::text", ""],
    sqlite: ["NULL", ""],
    bind: None,
    sql_type: PhantomData,
};

/// What a cached model row is checked against, as `seq:version` text. On Postgres the version is
/// the row's `xmin`, renewed by every update whoever makes it (a foreign key's `SET NULL`
/// included), where the `version` column only counts the registry's own changes. A model's
/// grants are only written together with its row.
pub(crate) const ROW_STAMP: Subquery<'static, Text> = Subquery {
    pg: ["(models.seq::text || ':' || models.xmin::text)", ""],
    sqlite: ["(models.seq || ':' || models.version)", ""],
    bind: None,
    sql_type: PhantomData,
};

/// What a cached list of the endpoints serving a model is checked against: each endpoint's id
/// and row version (Postgres: `xmin`, renewed by every change of the row), in id order, or ''
/// when none serves it; correlated with the `models` row of the outer query, for the org bound.
/// An endpoint that starts or stops serving the model, or changes, changes it.
pub(crate) fn endpoints_stamp(org_id: &str) -> Subquery<'_, Text> {
    Subquery {
        pg: [
            "(SELECT COALESCE(string_agg(e.id || ':' || e.xmin::text, ',' ORDER BY e.id), '') \
             FROM endpoints e WHERE e.model_seq = models.seq AND e.org_id = ",
            ")",
        ],
        sqlite: [
            "(SELECT COALESCE(group_concat(e.id || ':' || e.updated_at, ','), '') \
             FROM endpoints e WHERE e.model_seq = models.seq AND e.org_id = ",
            ")",
        ],
        bind: Some(org_id),
        sql_type: PhantomData,
    }
}

/// The caller a key hash authenticates now, as the JSON array
/// `[user_id, org_id, role, is_root, [group_id…]]`, or NULL for an unknown or revoked key: how a
/// key is authenticated, alone or inside the statement of a read it guards (a cached caller's
/// check).
pub(crate) fn caller_of_key(key_hash: &str) -> Subquery<'_, Nullable<Text>> {
    Subquery {
        pg: [
            "(SELECT json_build_array(u.id, u.org_id, u.role, o.is_root, \
             (SELECT COALESCE(json_agg(gm.group_id ORDER BY gm.group_id), '[]') \
             FROM group_members gm WHERE gm.org_id = u.org_id AND gm.user_id = u.id))::text \
             FROM api_keys k JOIN users u ON u.org_id = k.org_id AND u.id = k.user_id \
             JOIN orgs o ON o.id = u.org_id WHERE k.revoked_at IS NULL AND k.key_hash = ",
            ")",
        ],
        sqlite: [
            "(SELECT json_array(u.id, u.org_id, u.role, o.is_root <> 0, \
             json((SELECT json_group_array(gm.group_id ORDER BY gm.group_id) \
             FROM group_members gm WHERE gm.org_id = u.org_id AND gm.user_id = u.id))) \
             FROM api_keys k JOIN users u ON u.org_id = k.org_id AND u.id = k.user_id \
             JOIN orgs o ON o.id = u.org_id WHERE k.revoked_at IS NULL AND k.key_hash = ",
            ")",
        ],
        bind: Some(key_hash),
        sql_type: PhantomData,
    }
}

impl<ST: SqlType + TypedExpressionType> Expression for Subquery<'_, ST> {
    type SqlType = ST;
}

impl<QS, ST: SqlType + TypedExpressionType> AppearsOnTable<QS> for Subquery<'_, ST> {}

impl<QS, ST: SqlType + TypedExpressionType> SelectableExpression<QS> for Subquery<'_, ST> {}

impl<GroupBy, ST> ValidGrouping<GroupBy> for Subquery<'_, ST> {
    type IsAggregate = is_aggregate::Never;
}

/// No static id: the subqueries share this type, so diesel must key its statement cache by the
/// SQL text, which differs between them.
impl<ST> QueryId for Subquery<'_, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<'a, ST> Subquery<'a, ST> {
    fn render<'b, DB>(
        &'b self,
        sql: [&'static str; 2],
        mut out: AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        DB: Backend,
        str: ToSql<Text, DB>,
    {
        out.push_sql(sql[0]);
        if let Some(bind) = self.bind {
            out.push_bind_param::<Text, str>(bind)?;
        }
        out.push_sql(sql[1]);
        Ok(())
    }
}

impl<ST> QueryFragment<Pg> for Subquery<'_, ST> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.render(self.pg, out)
    }
}

impl<ST> QueryFragment<Sqlite> for Subquery<'_, ST> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.render(self.sqlite, out)
    }
}

impl<ST> QueryFragment<MultiBackend> for Subquery<'_, ST> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        // `backend()` is how diesel's own SQL functions tell the backends of a multi-connection
        // apart while rendering.
        let sql = match out.backend() {
            MultiBackend::Pg(_) => self.pg,
            MultiBackend::Sqlite(_) => self.sqlite,
        };
        self.render(sql, out)
    }
}
