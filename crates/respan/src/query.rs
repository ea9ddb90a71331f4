//! Listing: `sort_by`, `all`, paging and the Respan filter body, turned into a core
//! [`ModelQuery`].
//!
//! Filters and sorting apply to the stored fields of each model, not to values a custom model
//! inherits from its base when rendered.

use actix_web::HttpRequest;
use chrono::{DateTime, NaiveDate, Utc};
use modelgate_core::{Column, Condition, Op, Provider, Sort, Target, Value as QueryValue};
use modelgate_http::input::{Issue, IssueKind, Loc, json_type_name};
use serde_json::{Map, Value, json};

use crate::render::{FLAGS, category_of};

/// Page size when none (or an unusable one) is asked for.
pub(crate) const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger page sizes are cut to this.
pub(crate) const MAX_PAGE_SIZE: i64 = 100;

/// The decoded query string, in order.
pub(crate) fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Whether the boolean query parameter `name` is on (`true`, `1` or `yes`, any case).
pub(crate) fn truthy(pairs: &[(String, String)], name: &str) -> bool {
    param(pairs, name).is_some_and(|v| matches!(v.to_lowercase().as_str(), "true" | "1" | "yes"))
}

/// `all=true`: include models switched off (`is_active = false`) through another dialect.
pub(crate) fn include_inactive(pairs: &[(String, String)]) -> bool {
    truthy(pairs, "all")
}

pub(crate) fn active_only() -> Condition {
    Condition::column(Column::IsActive, Op::Eq, QueryValue::Bool(true))
}

/// Columns models can be sorted by, under their wire names.
fn sort_column(name: &str) -> Option<Column> {
    Some(match name {
        "model_name" | "id" => Column::Key,
        "display_name" => Column::DisplayName,
        "base_model_name" => Column::BaseModel,
        "model_type" => Column::Category,
        "source" | "affiliation_category" => Column::Source,
        "input_cost" => Column::InputCost,
        "output_cost" => Column::OutputCost,
        "cache_hit_input_cost" => Column::CacheHitInputCost,
        "cache_creation_input_cost" => Column::CacheCreationInputCost,
        "max_context_window" => Column::ContextWindow,
        "created_at" => Column::CreatedAt,
        "updated_at" => Column::UpdatedAt,
        _ => return None,
    })
}

/// `sort_by` (comma-separated, `-` prefix for descending; default `model_name`).
pub(crate) fn sort_by(pairs: &[(String, String)]) -> Result<Vec<Sort>, Vec<Issue>> {
    let raw = param(pairs, "sort_by").unwrap_or("").trim();
    let raw = if raw.is_empty() { "model_name" } else { raw };
    let mut sorts = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (descending, name) = match item.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, item),
        };
        match sort_column(name) {
            Some(column) => sorts.push(Sort { column, descending }),
            None => {
                return Err(vec![Issue {
                    loc: vec![Loc::Key("sort_by".into())],
                    kind: IssueKind::Value {
                        message: format!("\"{item}\" is not a valid field to sort by."),
                    },
                    input: Value::String(item.to_owned()),
                }]);
            }
        }
    }
    Ok(sorts)
}

/// A requested page: `page` (1-based, or `last`) and `page_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageAsk {
    /// `None` for `last`.
    pub page: Option<i64>,
    pub size: i64,
}

/// `None` when `page` is not a page number (DRF answers 404 "Invalid page.").
pub(crate) fn page_ask(pairs: &[(String, String)]) -> Option<PageAsk> {
    let size = param(pairs, "page_size")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_PAGE_SIZE, |s| s.min(MAX_PAGE_SIZE));
    let page = match param(pairs, "page").map(str::trim) {
        None | Some("") => Some(1),
        Some("last") => None,
        Some(p) => Some(p.parse::<i64>().ok().filter(|p| *p >= 1)?),
    };
    Some(PageAsk { page, size })
}

/// The absolute URL of this request with `page` set to `page` (removed for page 1, as DRF
/// does), other parameters kept and sorted by name.
pub(crate) fn page_link(req: &HttpRequest, pairs: &[(String, String)], page: i64) -> String {
    let info = req.connection_info();
    let mut kept: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
    if page > 1 {
        kept.push(("page".into(), page.to_string()));
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    let mut url = format!("{}://{}{}", info.scheme(), info.host(), req.path());
    if !kept.is_empty() {
        let query =
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).finish();
        url.push('?');
        url.push_str(&query);
    }
    url
}

/// Pages for `total` results; an empty result still has its (empty) first page.
pub(crate) fn page_count(total: i64, size: i64) -> i64 {
    ((total + size - 1) / size).max(1)
}

/// The `next` and `previous` links of page `page` of `total` results, `size` per page.
///
/// Unlike DRF, a page after the last one is not an error but an empty page whose `next` is
/// `null` and whose `previous` is the last real page. Respan's generated client pages by asking
/// for page N+1 until a page comes back empty, and takes any error as a failure: with a 404
/// there, iterating every page would always end in an exception — even for an empty result,
/// since page 2 is always requested.
pub(crate) fn page_links(
    req: &HttpRequest,
    pairs: &[(String, String)],
    page: i64,
    size: i64,
    total: i64,
) -> (Option<String>, Option<String>) {
    let pages = page_count(total, size);
    let next = (page < pages).then(|| page_link(req, pairs, page + 1));
    let previous = (page > 1).then(|| page_link(req, pairs, (page - 1).min(pages)));
    (next, previous)
}

// ---- filters ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Category,
    Float,
    Int,
    Time,
    /// `source` ("db"/"hardcoded") or `affiliation_category` ("custom"/"respan").
    Source {
        affiliation: bool,
    },
    /// One of the 0/1 capability flags.
    Flag(&'static str),
    /// The custom provider, by its `provider_id` slug.
    Provider,
}

fn filter_field(name: &str) -> Option<(Option<Column>, Kind)> {
    use Column as C;
    Some(match name {
        "model_name" | "id" => (Some(C::Key), Kind::Text),
        "display_name" => (Some(C::DisplayName), Kind::Text),
        "base_model_name" => (Some(C::BaseModel), Kind::Text),
        "model_type" => (Some(C::Category), Kind::Category),
        "source" => (Some(C::Source), Kind::Source { affiliation: false }),
        "affiliation_category" => (Some(C::Source), Kind::Source { affiliation: true }),
        "input_cost" => (Some(C::InputCost), Kind::Float),
        "output_cost" => (Some(C::OutputCost), Kind::Float),
        "cache_hit_input_cost" => (Some(C::CacheHitInputCost), Kind::Float),
        "cache_creation_input_cost" => (Some(C::CacheCreationInputCost), Kind::Float),
        "max_context_window" => (Some(C::ContextWindow), Kind::Int),
        "created_at" => (Some(C::CreatedAt), Kind::Time),
        "updated_at" => (Some(C::UpdatedAt), Kind::Time),
        "provider_id" | "custom_provider_id" => (Some(C::ProviderRef), Kind::Provider),
        _ => {
            let (_, capability) = FLAGS.iter().find(|(wire, _)| *wire == name)?;
            (None, Kind::Flag(capability))
        }
    })
}

/// The operators Respan's filter format knows, and what each is in core. `Eq`/`Ne` turn into
/// `In`/`NotIn` when several values are given.
const OPERATORS: [(&str, Op); 20] = [
    ("", Op::Eq),
    ("=", Op::Eq),
    ("==", Op::Eq),
    ("eq", Op::Eq),
    ("equals", Op::Eq),
    ("not", Op::Ne),
    ("!=", Op::Ne),
    ("in", Op::In),
    ("not_in", Op::NotIn),
    ("gt", Op::Gt),
    ("gte", Op::Gte),
    ("lt", Op::Lt),
    ("lte", Op::Lte),
    // Core matches text patterns case-insensitively only: the case-sensitive forms are
    // answered with the case-insensitive match.
    ("contains", Op::IContains),
    ("icontains", Op::IContains),
    ("startswith", Op::IStartsWith),
    ("istartswith", Op::IStartsWith),
    ("endswith", Op::IEndsWith),
    ("iendswith", Op::IEndsWith),
    ("isnull", Op::IsNull),
];

fn operator(name: &str) -> Option<Op> {
    OPERATORS.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
}

fn allowed(kind: Kind, op: Op) -> bool {
    match op {
        Op::Eq | Op::Ne | Op::In | Op::NotIn => true,
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            matches!(kind, Kind::Text | Kind::Float | Kind::Int | Kind::Time)
        }
        Op::IContains | Op::IStartsWith | Op::IEndsWith => {
            matches!(kind, Kind::Text | Kind::Category)
        }
        Op::IsNull => !matches!(kind, Kind::Source { .. } | Kind::Flag(_)),
    }
}

/// Parsed filters: conditions core can run, plus provider conditions waiting for the org's
/// providers (slugs resolve to ids inside the registry call).
#[derive(Debug, Default)]
pub(crate) struct Filters {
    pub conditions: Vec<Condition>,
    provider: Vec<(Op, Vec<Value>)>,
    /// The filters as applied, normalised: `{field: {"operator", "value": [..]}}`.
    pub current: Map<String, Value>,
}

impl Filters {
    pub(crate) fn needs_providers(&self) -> bool {
        !self.provider.is_empty()
    }

    /// The provider conditions, with slugs resolved against the org's providers. A slug that
    /// names no provider matches nothing.
    pub(crate) fn provider_conditions(&self, providers: &[Provider]) -> Vec<Condition> {
        self.provider
            .iter()
            .map(|(op, values)| {
                let mut ids: Vec<QueryValue> = values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => {
                            providers.iter().find(|p| p.provider_id == *s).map(|p| p.seq)
                        }
                        _ => None,
                    })
                    .map(QueryValue::Int)
                    .collect();
                if ids.is_empty() {
                    // No id is ever below 1: an impossible id keeps `IN` well-formed.
                    ids.push(QueryValue::Int(-1));
                }
                Condition::column(Column::ProviderRef, *op, QueryValue::List(ids))
            })
            .collect()
    }
}

struct Reader {
    issues: Vec<Issue>,
}

impl Reader {
    fn issue(&mut self, path: &[&str], message: String, input: Value) {
        let mut loc = vec![Loc::Key("filters".into())];
        loc.extend(path.iter().map(|p| Loc::Key((*p).to_owned())));
        self.issues.push(Issue { loc, kind: IssueKind::Value { message }, input });
    }

    fn convert(&mut self, field: &str, kind: Kind, op: Op, value: &Value) -> Option<QueryValue> {
        let text = || match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let bad = |reader: &mut Self, message: &str| {
            reader.issue(&[field, "value"], message.to_owned(), value.clone());
            None
        };
        if op == Op::IsNull {
            return match value {
                Value::Bool(b) => Some(QueryValue::Bool(*b)),
                Value::Number(n) if n.as_i64() == Some(1) => Some(QueryValue::Bool(true)),
                Value::Number(n) if n.as_i64() == Some(0) => Some(QueryValue::Bool(false)),
                Value::String(s) if matches!(s.to_lowercase().as_str(), "true" | "1") => {
                    Some(QueryValue::Bool(true))
                }
                Value::String(s) if matches!(s.to_lowercase().as_str(), "false" | "0") => {
                    Some(QueryValue::Bool(false))
                }
                _ => bad(self, "Must be a valid boolean."),
            };
        }
        match kind {
            Kind::Text | Kind::Provider => match text() {
                Some(t) => Some(QueryValue::Text(t)),
                None => bad(self, "Not a valid string."),
            },
            Kind::Category => match text() {
                Some(t) if matches!(op, Op::Eq | Op::Ne | Op::In | Op::NotIn) => {
                    Some(QueryValue::Text(category_of(&t)))
                }
                Some(t) => Some(QueryValue::Text(t)),
                None => bad(self, "Not a valid string."),
            },
            Kind::Float => match value {
                Value::Number(n) => n.as_f64().map(QueryValue::Float),
                Value::String(s) => match s.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => Some(QueryValue::Float(f)),
                    _ => bad(self, "A valid number is required."),
                },
                _ => bad(self, "A valid number is required."),
            },
            Kind::Int => match value {
                Value::Number(n) if n.as_i64().is_some() => n.as_i64().map(QueryValue::Int),
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(i) => Some(QueryValue::Int(i)),
                    _ => bad(self, "A valid integer is required."),
                },
                _ => bad(self, "A valid integer is required."),
            },
            Kind::Time => match value.as_str().and_then(parse_time) {
                Some(t) => Some(QueryValue::Time(t)),
                None => bad(
                    self,
                    "Datetime has wrong format. Use one of these formats instead: \
                     YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                ),
            },
            Kind::Source { affiliation } => {
                let source = match (affiliation, value.as_str().unwrap_or_default()) {
                    (false, "db") | (true, "custom") => "custom",
                    (false, "hardcoded") | (true, "respan" | "keywordsai") => "builtin",
                    _ => {
                        let shown = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                        return bad(self, &format!("\"{shown}\" is not a valid choice."));
                    }
                };
                Some(QueryValue::Text(source.to_owned()))
            }
            Kind::Flag(_) => match value {
                Value::Bool(b) => Some(QueryValue::Bool(*b)),
                Value::Number(n) if n.as_i64() == Some(1) => Some(QueryValue::Bool(true)),
                Value::Number(n) if n.as_i64() == Some(0) => Some(QueryValue::Bool(false)),
                Value::String(s) if s == "1" => Some(QueryValue::Bool(true)),
                Value::String(s) if s == "0" => Some(QueryValue::Bool(false)),
                _ => {
                    let shown = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                    bad(self, &format!("\"{shown}\" is not a valid choice."))
                }
            },
        }
    }

    /// One `{"operator": .., "value": ..}` of `field`; pushes its condition into `out`.
    fn one(&mut self, field: &str, spec: &Value, out: &mut Filters) -> Option<Value> {
        let Some(spec) = spec.as_object() else {
            let message = format!(
                "Expected a dictionary with \"operator\" and \"value\" but got type \"{}\".",
                json_type_name(spec)
            );
            self.issue(&[field], message, spec.clone());
            return None;
        };
        let Some((column, kind)) = filter_field(field) else {
            self.issue(&[field], format!("\"{field}\" is not a valid filter field."), Value::Null);
            return None;
        };
        let op_name = match spec.get("operator") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                self.issue(&[field, "operator"], "Not a valid string.".into(), other.clone());
                return None;
            }
        };
        let op = match operator(op_name).filter(|op| allowed(kind, *op)) {
            Some(op) => op,
            None => {
                let message = format!("\"{op_name}\" is not a valid choice.");
                self.issue(&[field, "operator"], message, Value::String(op_name.to_owned()));
                return None;
            }
        };
        let values: Vec<Value> = match spec.get("value") {
            None => {
                self.issue(&[field, "value"], "This field is required.".into(), Value::Null);
                return None;
            }
            Some(Value::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
        };
        if values.is_empty() {
            self.issue(&[field, "value"], "This list may not be empty.".into(), json!([]));
            return None;
        }
        let single_only = !matches!(op, Op::Eq | Op::Ne | Op::In | Op::NotIn);
        if single_only && values.len() > 1 {
            let message = format!("Operator \"{op_name}\" takes exactly one value.");
            self.issue(&[field, "value"], message, Value::Array(values));
            return None;
        }
        let converted: Vec<QueryValue> =
            values.iter().filter_map(|v| self.convert(field, kind, op, v)).collect();
        if converted.len() != values.len() {
            return None;
        }
        let echo = json!({"operator": op_name, "value": values});
        if kind == Kind::Provider && op != Op::IsNull {
            let op = if matches!(op, Op::Ne | Op::NotIn) { Op::NotIn } else { Op::In };
            out.provider.push((op, values));
            return Some(echo);
        }
        let (op, value) = match (op, converted.len()) {
            (Op::Eq | Op::In, 1) => (Op::Eq, first(converted)),
            (Op::Ne | Op::NotIn, 1) => (Op::Ne, first(converted)),
            (Op::Eq | Op::In, _) => (Op::In, QueryValue::List(converted)),
            (Op::Ne | Op::NotIn, _) => (Op::NotIn, QueryValue::List(converted)),
            (op, _) => (op, first(converted)),
        };
        match (kind, column) {
            (Kind::Flag(capability), _) => {
                // A flag is 0 or 1: `[0, 1]` matches everything, `not [0, 1]` nothing.
                let condition = match (op, value) {
                    (Op::Eq | Op::Ne, QueryValue::Bool(b)) => Some(Condition {
                        target: Target::Capability(capability.into()),
                        op,
                        value: QueryValue::Bool(b),
                    }),
                    (Op::NotIn, _) => {
                        Some(Condition::column(Column::Seq, Op::Lt, QueryValue::Int(0)))
                    }
                    _ => None,
                };
                out.conditions.extend(condition);
            }
            (_, Some(column)) => out.conditions.push(Condition::column(column, op, value)),
            (_, None) => {}
        }
        Some(echo)
    }
}

fn first(mut values: Vec<QueryValue>) -> QueryValue {
    if values.is_empty() { QueryValue::List(Vec::new()) } else { values.swap_remove(0) }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

/// Reads the body of `POST /models/list/`: `{"filters": {field: spec | [spec, ..]}}`.
pub(crate) fn filters(body: &Value) -> Result<Filters, Vec<Issue>> {
    if let Some(issues) = crate::input::not_an_object(body) {
        return Err(issues);
    }
    let mut out = Filters::default();
    let mut reader = Reader { issues: Vec::new() };
    let specs = match body.get("filters") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(specs)) => specs,
        Some(other) => {
            let message = format!(
                "Expected a dictionary of items but got type \"{}\".",
                json_type_name(other)
            );
            reader.issues.push(Issue {
                loc: vec![Loc::Key("filters".into())],
                kind: IssueKind::Value { message },
                input: other.clone(),
            });
            return Err(reader.issues);
        }
    };
    for (field, spec) in specs {
        let echo = match spec {
            // Several conditions on one field: all must hold.
            Value::Array(list) => {
                let echoed: Vec<Value> =
                    list.iter().filter_map(|s| reader.one(field, s, &mut out)).collect();
                Value::Array(echoed)
            }
            single => match reader.one(field, single, &mut out) {
                Some(echo) => echo,
                None => continue,
            },
        };
        out.current.insert(field.clone(), echo);
    }
    if reader.issues.is_empty() { Ok(out) } else { Err(reader.issues) }
}

#[cfg(test)]
mod tests {
    use modelgate_http::input::drf_errors;

    use super::*;

    #[test]
    fn operators_map_to_core_conditions() {
        let body = json!({"filters": {
            "model_name": {"operator": "icontains", "value": ["GPT"]},
            "input_cost": {"operator": "gte", "value": [1]},
            "model_type": {"operator": "", "value": ["chat", "embedding"]},
            "source": {"operator": "in", "value": ["db"]},
            "image_support": {"operator": "", "value": 1}
        }});
        let parsed = filters(&body).map_err(|e| drf_errors(&e));
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            parsed.conditions,
            vec![
                Condition::column(Column::Key, Op::IContains, QueryValue::Text("GPT".into())),
                Condition::column(Column::InputCost, Op::Gte, QueryValue::Float(1.0)),
                Condition::column(
                    Column::Category,
                    Op::In,
                    QueryValue::List(vec![
                        QueryValue::Text("llm".into()),
                        QueryValue::Text("embedding".into())
                    ])
                ),
                Condition::column(Column::Source, Op::Eq, QueryValue::Text("custom".into())),
                Condition {
                    target: Target::Capability("vision".into()),
                    op: Op::Eq,
                    value: QueryValue::Bool(true)
                },
            ]
        );
        assert_eq!(parsed.current["image_support"], json!({"operator": "", "value": [1]}));
    }

    #[test]
    fn unknown_fields_operators_and_values_are_field_errors() {
        let body = json!({"filters": {
            "colour": {"operator": "", "value": ["red"]},
            "input_cost": {"operator": "near", "value": [1]},
            "max_context_window": {"operator": "gt", "value": ["big"]},
            "model_name": {"operator": "gt", "value": ["a", "b"]}
        }});
        let issues = filters(&body).err().unwrap_or_default();
        assert_eq!(
            drf_errors(&issues),
            json!({"filters": {
                "colour": ["\"colour\" is not a valid filter field."],
                "input_cost": {"operator": ["\"near\" is not a valid choice."]},
                "max_context_window": {"value": ["A valid integer is required."]},
                "model_name": {"value": ["Operator \"gt\" takes exactly one value."]}
            }})
        );
    }

    #[test]
    fn pages_round_up_and_never_drop_below_one() {
        assert_eq!(page_count(0, 50), 1);
        assert_eq!(page_count(50, 50), 1);
        assert_eq!(page_count(51, 50), 2);
    }

    #[test]
    fn page_parameters() {
        let pairs = |q: &str| -> Vec<(String, String)> {
            url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
        };
        assert_eq!(page_ask(&pairs("")), Some(PageAsk { page: Some(1), size: 50 }));
        assert_eq!(
            page_ask(&pairs("page=3&page_size=500")),
            Some(PageAsk { page: Some(3), size: 100 })
        );
        assert_eq!(page_ask(&pairs("page_size=x")), Some(PageAsk { page: Some(1), size: 50 }));
        assert_eq!(page_ask(&pairs("page=0")), None);
        assert_eq!(page_ask(&pairs("page=x")), None);
        assert_eq!(page_ask(&pairs("page=last")), Some(PageAsk { page: None, size: 50 }));
    }
}
