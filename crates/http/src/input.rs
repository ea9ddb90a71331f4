//! Reading request bodies field by field, collecting every problem at once.
//!
//! Dialects read their bodies with [`Fields`], which coerces values the way the upstream frameworks
//! do (pydantic's lax mode: `"3"` is an int, `1` a bool…) and records an [`Issue`] for each
//! problem. Issues render as pydantic v2 errors ([`pydantic_errors`], for the FastAPI dialects)
//! or Django REST framework field errors ([`drf_errors`], for Respan).

use serde_json::{Map, Value, json};

/// One step of a location: an object key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loc {
    Key(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(key: &str) -> Self {
        Loc::Key(key.to_owned())
    }
}

impl Loc {
    fn to_json(&self) -> Value {
        match self {
            Loc::Key(k) => Value::String(k.clone()),
            Loc::Index(i) => json!(i),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum IssueKind {
    Missing,
    /// `null` where a value is required.
    Null,
    StringType,
    /// An empty (or all-blank) string where text is required.
    Blank,
    IntType,
    IntParsing,
    IntFromFloat,
    FloatType,
    FloatParsing,
    BoolType,
    BoolParsing,
    DictType,
    ListType,
    StringTooLong {
        max: usize,
    },
    StringTooShort {
        min: usize,
    },
    GreaterThanEqual {
        min: f64,
    },
    GreaterThan {
        than: f64,
    },
    LessThanEqual {
        max: f64,
    },
    /// One of these values was expected.
    Choice {
        expected: Vec<String>,
    },
    /// A rule of the endpoint's own, with its sentence.
    Value {
        message: String,
    },
}

impl IssueKind {
    /// The issue for a rule core refused a value by.
    pub fn from_violation(violation: &modelgate_core::Violation) -> Self {
        use modelgate_core::Violation;
        match violation {
            Violation::Required => IssueKind::Missing,
            Violation::Empty => IssueKind::Blank,
            Violation::TooLong { max } => IssueKind::StringTooLong { max: *max },
            Violation::BelowMin { min } => IssueKind::GreaterThanEqual { min: *min },
            Violation::NotGreaterThan { than } => IssueKind::GreaterThan { than: *than },
            Violation::NotOneOf { allowed } => IssueKind::Choice { expected: allowed.clone() },
            Violation::UnknownReference => {
                IssueKind::Value { message: "refers to something that does not exist".into() }
            }
            Violation::Invalid { reason } => IssueKind::Value { message: reason.clone() },
            _ => IssueKind::Value { message: "invalid value".into() },
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub loc: Vec<Loc>,
    pub kind: IssueKind,
    pub input: Value,
}

/// A present value, `null`, or nothing: partial updates tell the three apart.
#[derive(Clone, Debug, PartialEq)]
pub enum Opt<T> {
    Absent,
    Null,
    Value(T),
}

impl<T> Opt<T> {
    /// `None` when absent, `Some(None)` for null: the shape of a patch field.
    pub fn into_patch(self) -> Option<Option<T>> {
        match self {
            Opt::Absent => None,
            Opt::Null => Some(None),
            Opt::Value(v) => Some(Some(v)),
        }
    }

    /// The value, treating null like absent.
    pub fn value(self) -> Option<T> {
        match self {
            Opt::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Opt::Absent)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Opt<U> {
        match self {
            Opt::Absent => Opt::Absent,
            Opt::Null => Opt::Null,
            Opt::Value(v) => Opt::Value(f(v)),
        }
    }
}

fn python_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { f.to_string() }
}

fn coerce_int(value: &Value) -> Result<i64, IssueKind> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.2e18 {
                    Ok(f as i64)
                } else {
                    Err(IssueKind::IntFromFloat)
                }
            } else {
                Err(IssueKind::IntType)
            }
        }
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| IssueKind::IntParsing),
        Value::Bool(b) => Ok(i64::from(*b)),
        _ => Err(IssueKind::IntType),
    }
}

fn coerce_float(value: &Value) -> Result<f64, IssueKind> {
    match value {
        Value::Number(n) => n.as_f64().ok_or(IssueKind::FloatType),
        Value::String(s) => {
            s.trim().parse::<f64>().ok().filter(|f| f.is_finite()).ok_or(IssueKind::FloatParsing)
        }
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        _ => Err(IssueKind::FloatType),
    }
}

fn coerce_bool(value: &Value) -> Result<bool, IssueKind> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Ok(false),
            Some(1.0) => Ok(true),
            _ => Err(IssueKind::BoolParsing),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(IssueKind::BoolParsing),
        },
        _ => Err(IssueKind::BoolType),
    }
}

/// Reads the fields of one JSON object, recording issues as it goes.
pub struct Fields<'a> {
    object: Option<&'a Map<String, Value>>,
    base: Vec<Loc>,
    issues: Vec<Issue>,
}

impl<'a> Fields<'a> {
    /// `base` is the location of the object itself (`["body"]` for FastAPI bodies, `[]` for DRF).
    /// A value that is not an object is reported once, as a `DictType` issue at `base`.
    pub fn new(value: &'a Value, base: &[Loc]) -> Self {
        let mut fields =
            Self { object: value.as_object(), base: base.to_vec(), issues: Vec::new() };
        if fields.object.is_none() {
            fields.issues.push(Issue {
                loc: base.to_vec(),
                kind: IssueKind::DictType,
                input: value.clone(),
            });
        }
        fields
    }

    pub fn is_object(&self) -> bool {
        self.object.is_some()
    }

    fn loc(&self, name: &str) -> Vec<Loc> {
        let mut loc = self.base.clone();
        loc.push(Loc::Key(name.to_owned()));
        loc
    }

    /// Records a problem with field `name`.
    pub fn issue(&mut self, name: &str, kind: IssueKind, input: Value) {
        let loc = self.loc(name);
        self.issues.push(Issue { loc, kind, input });
    }

    /// Records a problem with the object as a whole.
    pub fn issue_here(&mut self, kind: IssueKind) {
        let input = self.object.map_or(Value::Null, |o| Value::Object(o.clone()));
        self.issues.push(Issue { loc: self.base.clone(), kind, input });
    }

    /// The raw value of a field.
    pub fn raw(&self, name: &str) -> Opt<&'a Value> {
        match self.object.and_then(|o| o.get(name)) {
            None => Opt::Absent,
            Some(Value::Null) => Opt::Null,
            Some(v) => Opt::Value(v),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        !self.raw(name).is_absent()
    }

    fn read<T>(
        &mut self,
        name: &str,
        convert: impl FnOnce(&Value) -> Result<T, IssueKind>,
    ) -> Opt<T> {
        match self.raw(name) {
            Opt::Value(v) => match convert(v) {
                Ok(t) => Opt::Value(t),
                Err(kind) => {
                    self.issue(name, kind, v.clone());
                    Opt::Absent
                }
            },
            Opt::Null => Opt::Null,
            Opt::Absent => Opt::Absent,
        }
    }

    /// Turns an optional read into a required one: absent and null are issues.
    fn required<T>(&mut self, name: &str, value: Opt<T>) -> Option<T> {
        match value {
            Opt::Value(v) => Some(v),
            Opt::Null => {
                self.issue(name, IssueKind::Null, Value::Null);
                None
            }
            Opt::Absent => {
                if !self.has(name) {
                    let input = self.object.map_or(Value::Null, |o| Value::Object(o.clone()));
                    if self.object.is_some() {
                        self.issue(name, IssueKind::Missing, input);
                    }
                }
                None
            }
        }
    }

    pub fn string(&mut self, name: &str) -> Opt<String> {
        self.read(name, |v| v.as_str().map(str::to_owned).ok_or(IssueKind::StringType))
    }

    pub fn required_string(&mut self, name: &str) -> Option<String> {
        let value = self.string(name);
        self.required(name, value)
    }

    pub fn int(&mut self, name: &str) -> Opt<i64> {
        self.read(name, coerce_int)
    }

    pub fn required_int(&mut self, name: &str) -> Option<i64> {
        let value = self.int(name);
        self.required(name, value)
    }

    pub fn float(&mut self, name: &str) -> Opt<f64> {
        self.read(name, coerce_float)
    }

    pub fn bool(&mut self, name: &str) -> Opt<bool> {
        self.read(name, coerce_bool)
    }

    pub fn object(&mut self, name: &str) -> Opt<Map<String, Value>> {
        self.read(name, |v| v.as_object().cloned().ok_or(IssueKind::DictType))
    }

    pub fn required_object(&mut self, name: &str) -> Option<Map<String, Value>> {
        let value = self.object(name);
        self.required(name, value)
    }

    /// A list, returned as its raw items for the caller to read.
    pub fn list(&mut self, name: &str) -> Opt<Vec<Value>> {
        self.read(name, |v| v.as_array().cloned().ok_or(IssueKind::ListType))
    }

    /// A list of strings; each bad item is its own issue.
    pub fn string_list(&mut self, name: &str) -> Opt<Vec<String>> {
        let items = match self.list(name) {
            Opt::Value(items) => items,
            Opt::Null => return Opt::Null,
            Opt::Absent => return Opt::Absent,
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s.to_owned()),
                None => {
                    ok = false;
                    let mut loc = self.loc(name);
                    loc.push(Loc::Index(i));
                    self.issues.push(Issue {
                        loc,
                        kind: IssueKind::StringType,
                        input: item.clone(),
                    });
                }
            }
        }
        if ok { Opt::Value(out) } else { Opt::Absent }
    }

    /// Records an issue at a nested location below field `name`.
    pub fn nested_issue(&mut self, name: &str, path: &[Loc], kind: IssueKind, input: Value) {
        let mut loc = self.loc(name);
        loc.extend_from_slice(path);
        self.issues.push(Issue { loc, kind, input });
    }

    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// `Ok` when nothing was wrong, else every issue found.
    pub fn finish(self) -> Result<(), Vec<Issue>> {
        if self.issues.is_empty() { Ok(()) } else { Err(self.issues) }
    }
}

// ---- pydantic v2 (FastAPI) ----

fn pydantic_type_and_message(kind: &IssueKind) -> (&'static str, String, Option<Value>) {
    match kind {
        IssueKind::Missing => ("missing", "Field required".into(), None),
        IssueKind::Null | IssueKind::StringType => {
            ("string_type", "Input should be a valid string".into(), None)
        }
        IssueKind::Blank => (
            "string_too_short",
            "String should have at least 1 character".into(),
            Some(json!({"min_length": 1})),
        ),
        IssueKind::IntType => ("int_type", "Input should be a valid integer".into(), None),
        IssueKind::IntParsing => (
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer".into(),
            None,
        ),
        IssueKind::IntFromFloat => (
            "int_from_float",
            "Input should be a valid integer, got a number with a fractional part".into(),
            None,
        ),
        IssueKind::FloatType => ("float_type", "Input should be a valid number".into(), None),
        IssueKind::FloatParsing => (
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number".into(),
            None,
        ),
        IssueKind::BoolType => ("bool_type", "Input should be a valid boolean".into(), None),
        IssueKind::BoolParsing => (
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input".into(),
            None,
        ),
        IssueKind::DictType => ("dict_type", "Input should be a valid dictionary".into(), None),
        IssueKind::ListType => ("list_type", "Input should be a valid list".into(), None),
        IssueKind::StringTooLong { max } => (
            "string_too_long",
            format!(
                "String should have at most {max} character{}",
                if *max == 1 { "" } else { "s" }
            ),
            Some(json!({"max_length": max})),
        ),
        IssueKind::StringTooShort { min } => (
            "string_too_short",
            format!(
                "String should have at least {min} character{}",
                if *min == 1 { "" } else { "s" }
            ),
            Some(json!({"min_length": min})),
        ),
        IssueKind::GreaterThanEqual { min } => (
            "greater_than_equal",
            format!("Input should be greater than or equal to {}", pydantic_number(*min)),
            Some(json!({"ge": number_value(*min)})),
        ),
        IssueKind::GreaterThan { than } => (
            "greater_than",
            format!("Input should be greater than {}", pydantic_number(*than)),
            Some(json!({"gt": number_value(*than)})),
        ),
        IssueKind::LessThanEqual { max } => (
            "less_than_equal",
            format!("Input should be less than or equal to {}", pydantic_number(*max)),
            Some(json!({"le": number_value(*max)})),
        ),
        IssueKind::Choice { expected } => {
            let quoted: Vec<String> = expected.iter().map(|e| format!("'{e}'")).collect();
            let joined = match quoted.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => quoted.join(""),
            };
            (
                "literal_error",
                format!("Input should be {joined}"),
                Some(json!({"expected": joined})),
            )
        }
        IssueKind::Value { message } => {
            ("value_error", format!("Value error, {message}"), Some(json!({"error": message})))
        }
    }
}

/// Constraint numbers print as Python would: integers without a fraction.
fn pydantic_number(n: f64) -> String {
    if n.fract() == 0.0 { format!("{}", n as i64) } else { n.to_string() }
}

fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 { json!(n as i64) } else { json!(n) }
}

/// One pydantic v2 error object, as FastAPI returns it (no `url`).
pub fn pydantic_error(issue: &Issue) -> Value {
    let (kind, msg, ctx) = pydantic_type_and_message(&issue.kind);
    let mut error = json!({
        "type": kind,
        "loc": issue.loc.iter().map(Loc::to_json).collect::<Vec<_>>(),
        "msg": msg,
        "input": issue.input,
    });
    if let (Some(ctx), Some(obj)) = (ctx, error.as_object_mut()) {
        obj.insert("ctx".into(), ctx);
    }
    error
}

/// FastAPI's 422 body: `{"detail": [errors…]}`.
pub fn pydantic_errors(issues: &[Issue]) -> Value {
    json!({ "detail": issues.iter().map(pydantic_error).collect::<Vec<_>>() })
}

/// A FastAPI 422 body for a JSON body that failed to parse.
pub fn pydantic_json_invalid(position: usize, message: &str) -> Value {
    json!({
        "detail": [{
            "type": "json_invalid",
            "loc": ["body", position],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": message},
        }]
    })
}

/// A FastAPI 422 body for a required body that was not sent.
pub fn pydantic_body_missing() -> Value {
    json!({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}]})
}

// ---- Django REST framework ----

/// Python's name for the type of a JSON value, as DRF and pydantic messages print it.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn drf_number(n: f64) -> String {
    if n.fract() == 0.0 { format!("{}", n as i64) } else { python_float(n) }
}

/// The message DRF gives for an issue.
pub fn drf_message(issue: &Issue) -> String {
    match &issue.kind {
        IssueKind::Missing => "This field is required.".into(),
        IssueKind::Null => "This field may not be null.".into(),
        IssueKind::Blank => "This field may not be blank.".into(),
        IssueKind::StringType => "Not a valid string.".into(),
        IssueKind::IntType | IssueKind::IntParsing | IssueKind::IntFromFloat => {
            "A valid integer is required.".into()
        }
        IssueKind::FloatType | IssueKind::FloatParsing => "A valid number is required.".into(),
        IssueKind::BoolType | IssueKind::BoolParsing => "Must be a valid boolean.".into(),
        IssueKind::DictType => format!(
            "Expected a dictionary of items but got type \"{}\".",
            json_type_name(&issue.input)
        ),
        IssueKind::ListType => {
            format!("Expected a list of items but got type \"{}\".", json_type_name(&issue.input))
        }
        IssueKind::StringTooLong { max } => {
            format!("Ensure this field has no more than {max} characters.")
        }
        IssueKind::StringTooShort { min } => {
            format!("Ensure this field has at least {min} characters.")
        }
        IssueKind::GreaterThanEqual { min } => {
            format!("Ensure this value is greater than or equal to {}.", drf_number(*min))
        }
        IssueKind::GreaterThan { than } => {
            format!("Ensure this value is greater than {}.", drf_number(*than))
        }
        IssueKind::LessThanEqual { max } => {
            format!("Ensure this value is less than or equal to {}.", drf_number(*max))
        }
        IssueKind::Choice { .. } => {
            let shown = match &issue.input {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("\"{shown}\" is not a valid choice.")
        }
        IssueKind::Value { message } => message.clone(),
    }
}

fn insert_message(node: &mut Map<String, Value>, path: &[String], message: String) {
    match path {
        [] => {}
        [last] => {
            let messages = node.entry(last.clone()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = messages {
                list.push(Value::String(message));
            }
        }
        [first, rest @ ..] => {
            let entry = node.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(child) = entry {
                insert_message(child, rest, message);
            }
        }
    }
}

/// DRF's 400 body: `{"field": ["message", …], …}`; nested locations nest objects, issues about
/// the body as a whole go under `non_field_errors`.
pub fn drf_errors(issues: &[Issue]) -> Value {
    let mut root = Map::new();
    for issue in issues {
        let mut path: Vec<String> = issue
            .loc
            .iter()
            .map(|l| match l {
                Loc::Key(k) => k.clone(),
                Loc::Index(i) => i.to_string(),
            })
            .collect();
        if path.is_empty() {
            path.push("non_field_errors".to_owned());
        }
        insert_message(&mut root, &path, drf_message(issue));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_coerces_like_pydantic() {
        let body = json!({"name": "x", "n": "42", "f": 1, "b": "true", "bad": "x", "nul": null, "list": ["a", 1]});
        let mut f = Fields::new(&body, &["body".into()]);
        assert_eq!(f.required_string("name").as_deref(), Some("x"));
        assert_eq!(f.int("n"), Opt::Value(42));
        assert_eq!(f.float("f"), Opt::Value(1.0));
        assert_eq!(f.bool("b"), Opt::Value(true));
        assert_eq!(f.int("bad"), Opt::Absent);
        assert_eq!(f.string("nul"), Opt::Null);
        assert_eq!(f.string("none"), Opt::Absent);
        assert_eq!(f.string_list("list"), Opt::Absent);
        assert_eq!(f.required_string("missing"), None);
        let issues = f.finish().unwrap_err();
        let kinds: Vec<_> = issues.iter().map(|i| (i.loc.clone(), i.kind.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (vec!["body".into(), "bad".into()], IssueKind::IntParsing),
                (vec!["body".into(), "list".into(), Loc::Index(1)], IssueKind::StringType),
                (vec!["body".into(), "missing".into()], IssueKind::Missing),
            ]
        );
    }

    #[test]
    fn pydantic_rendering() {
        let body = json!({"id": "m"});
        let mut f = Fields::new(&body, &["body".into()]);
        f.required_string("name");
        f.issue("temperature", IssueKind::GreaterThanEqual { min: 0.0 }, json!(-1));
        let rendered = pydantic_errors(&f.finish().unwrap_err());
        assert_eq!(
            rendered,
            json!({"detail": [
                {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"id": "m"}},
                {"type": "greater_than_equal", "loc": ["body", "temperature"],
                 "msg": "Input should be greater than or equal to 0", "input": -1, "ctx": {"ge": 0}}
            ]})
        );
    }

    #[test]
    fn non_object_body_is_one_dict_type_issue() {
        let body = json!([1]);
        let f = Fields::new(&body, &["body".into()]);
        let rendered = pydantic_errors(&f.finish().unwrap_err());
        assert_eq!(rendered["detail"][0]["type"], "dict_type");
        assert_eq!(rendered["detail"][0]["loc"], json!(["body"]));
    }

    #[test]
    fn drf_rendering() {
        let body = json!({"input_cost": -1, "image_support": "x"});
        let mut f = Fields::new(&body, &[]);
        f.issue("input_cost", IssueKind::GreaterThanEqual { min: 0.0 }, json!(-1));
        f.issue(
            "image_support",
            IssueKind::Choice { expected: vec!["0".into(), "1".into()] },
            json!("x"),
        );
        f.issue_here(IssueKind::Value { message: "Something is off.".into() });
        assert_eq!(
            drf_errors(&f.finish().unwrap_err()),
            json!({
                "input_cost": ["Ensure this value is greater than or equal to 0."],
                "image_support": ["\"x\" is not a valid choice."],
                "non_field_errors": ["Something is off."]
            })
        );
    }

    #[test]
    fn choice_messages_join_like_pydantic() {
        let issue = Issue {
            loc: vec![],
            kind: IssueKind::Choice {
                expected: vec!["read".into(), "write".into(), "admin".into()],
            },
            input: json!("x"),
        };
        assert_eq!(pydantic_error(&issue)["msg"], "Input should be 'read', 'write' or 'admin'");
    }
}
