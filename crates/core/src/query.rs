//! Model queries: filters, sorting and paging, independent of any wire format or SQL.

use chrono::{DateTime, Utc};

use crate::model::Source;

/// A model column that can be filtered and sorted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    Seq,
    Key,
    DisplayName,
    Description,
    Provider,
    ProviderRef,
    BaseModel,
    Category,
    BaseUrl,
    OwnerId,
    Source,
    IsActive,
    Public,
    InputCost,
    OutputCost,
    CacheHitInputCost,
    CacheCreationInputCost,
    ContextWindow,
    Dimension,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// Case-insensitive substring.
    IContains,
    /// Case-insensitive prefix.
    IStartsWith,
    /// Case-insensitive suffix.
    IEndsWith,
    /// Equal to one of a list.
    In,
    NotIn,
    /// `IsNull` with `Bool(true)` matches missing values, with `Bool(false)` present ones.
    IsNull,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(DateTime<Utc>),
    List(Vec<Value>),
}

/// What to match on: a column, a tag of the model, or a capability set to `true`.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Column(Column),
    /// Whether `tags` holds this tag (exact match). Only `Eq`/`Ne` apply.
    Tag(String),
    /// Whether the capability with this name is `true`. Only `Eq` with a `Bool` applies.
    Capability(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub target: Target,
    pub op: Op,
    pub value: Value,
}

impl Condition {
    pub fn column(column: Column, op: Op, value: Value) -> Self {
        Self { target: Target::Column(column), op, value }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

impl Sort {
    pub fn asc(column: Column) -> Self {
        Self { column, descending: false }
    }

    pub fn desc(column: Column) -> Self {
        Self { column, descending: true }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: i64,
    pub limit: i64,
}

/// Where a scan of models resumes: just after the model whose sort value and `seq` these are.
/// Scans read long lists in batches, each starting where the last ended, so that their cost does
/// not grow with the position (as an offset's would).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanCursor {
    pub value: Value,
    pub seq: i64,
}

impl ScanCursor {
    /// The columns a scan may be sorted by: unique enough with `seq` to break ties, never null.
    pub fn scannable(column: Column) -> bool {
        matches!(column, Column::Key | Column::CreatedAt | Column::Seq)
    }

    /// The cursor just after `model` in a scan sorted by `column` (`Seq` when unsorted).
    pub fn after(model: &crate::Model, column: Column) -> Option<Self> {
        Self::at(column, model.seq, &model.key, model.created_at)
    }

    /// The cursor just after `entry` in a scan sorted by `column`.
    pub fn after_entry(entry: &ModelEntry, column: Column) -> Option<Self> {
        Self::at(column, entry.seq, &entry.key, entry.created_at)
    }

    fn at(column: Column, seq: i64, key: &str, created_at: DateTime<Utc>) -> Option<Self> {
        let value = match column {
            Column::Key => Value::Text(key.to_owned()),
            Column::CreatedAt => Value::Time(created_at),
            Column::Seq => Value::Int(seq),
            _ => return None,
        };
        Some(Self { value, seq })
    }
}

/// What a list of model names shows of each model (OpenAI's `/v1/models`), read without the
/// rest of its row: a long list costs the columns it prints, not every field of every model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEntry {
    pub seq: i64,
    pub key: String,
    /// `None` for the catalog.
    pub org_id: Option<String>,
    pub provider: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which models to list. Only models the caller may read are ever returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelQuery {
    /// All conditions must hold.
    pub conditions: Vec<Condition>,
    /// Case-insensitive substring over key, display name and description.
    pub text: Option<String>,
    /// `None`: custom and built-in models.
    pub source: Option<Source>,
    /// Applied in order; ties are always broken by `seq` so paging is stable.
    pub sort: Vec<Sort>,
    /// `None`: every match.
    pub page: Option<PageRequest>,
}

impl ModelQuery {
    pub fn custom_only() -> Self {
        Self { source: Some(Source::Custom), ..Self::default() }
    }

    pub fn filter(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Matches over all pages.
    pub total: i64,
}
