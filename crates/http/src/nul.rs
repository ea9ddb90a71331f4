//! U+0000 in client input. Postgres cannot keep it in text (`invalid byte sequence for encoding
//! "UTF8": 0x00`) and SQLite would keep it silently, so it is refused as invalid input before
//! anything reaches the store, the same way on both backends: in a JSON body by [`crate::JsonBody`]
//! (any string value or object key, at any depth), in a decoded path parameter or query key or
//! value by [`crate::Caller`] (after authentication, so a bad key still wins). Each dialect
//! renders the refusal in its own format ([`crate::Dialect::nul_refused`]).

use actix_web::HttpRequest;
use serde_json::{Value, json};

use crate::input::{Issue, IssueKind, Loc};

/// pydantic's `msg` is "Value error, " and this.
pub const NUL_MESSAGE: &str = "Null characters are not allowed";

/// Django's sentence for the same rule (`ProhibitNullCharactersValidator`).
pub const NUL_SENTENCE: &str = "Null characters are not allowed.";

/// At most this many places are reported, so a body full of NULs does not get a far larger
/// answer.
const MAX_REPORTED: usize = 50;

/// Where a refused value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Body,
    Path,
    Query,
}

impl Place {
    /// FastAPI's first `loc` step for the place.
    pub fn name(self) -> &'static str {
        match self {
            Place::Body => "body",
            Place::Path => "path",
            Place::Query => "query",
        }
    }
}

/// One value containing U+0000.
#[derive(Clone, Debug, PartialEq)]
pub struct NulFound {
    pub place: Place,
    /// Inside the place: body keys and indexes, or the path parameter / query key.
    pub loc: Vec<Loc>,
    /// The NUL is in the object key that `loc` ends with, not in its value.
    pub in_key: bool,
    /// The offending string, decoded (the key itself when `in_key`).
    pub input: Value,
}

impl NulFound {
    /// The location as pydantic writes it: the place, the steps, and `[key]` for a key (as
    /// pydantic reports a bad dict key).
    pub fn pydantic_loc(&self) -> Vec<Loc> {
        let mut loc = vec![Loc::Key(self.place.name().to_owned())];
        loc.extend(self.loc.iter().cloned());
        if self.in_key {
            loc.push(Loc::Key("[key]".to_owned()));
        }
        loc
    }

    /// The location as one dotted name (`meta.tags.0.name`), for formats with a single field.
    pub fn dotted(&self) -> String {
        self.loc
            .iter()
            .map(|step| match step {
                Loc::Key(key) => key.clone(),
                Loc::Index(i) => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The top-level body field it is in (DRF reports a JSON field as a whole); `None` when the
    /// body itself is the string.
    pub fn field(&self) -> Option<&str> {
        match self.loc.first() {
            Some(Loc::Key(key)) => Some(key),
            _ => None,
        }
    }
}

/// Pydantic-style issues (`value_error`) for the values found.
pub fn issues(found: &[NulFound]) -> Vec<Issue> {
    found
        .iter()
        .map(|f| Issue {
            loc: f.pydantic_loc(),
            kind: IssueKind::Value { message: NUL_MESSAGE.to_owned() },
            input: f.input.clone(),
        })
        .collect()
}

/// FastAPI's 422 body for the values found, with `ctx.error` as [`crate::input`] renders it.
pub fn pydantic_body(found: &[NulFound]) -> Value {
    crate::input::pydantic_errors(&issues(found))
}

/// DRF's 400 body for NULs in a request body: each top-level field once with Django's sentence;
/// a body that is itself such a string under `non_field_errors`.
pub fn drf_body(found: &[NulFound]) -> Value {
    let mut body = serde_json::Map::new();
    for f in found {
        let field = f.field().unwrap_or("non_field_errors").to_owned();
        body.entry(field).or_insert_with(|| json!([NUL_SENTENCE]));
    }
    Value::Object(body)
}

/// Every string value and object key of `value` containing U+0000 (up to a bound).
pub fn scan_json(value: &Value) -> Vec<NulFound> {
    let mut found = Vec::new();
    let mut loc = Vec::new();
    walk(value, &mut loc, &mut found);
    found
}

fn walk(value: &Value, loc: &mut Vec<Loc>, found: &mut Vec<NulFound>) {
    if found.len() >= MAX_REPORTED {
        return;
    }
    match value {
        Value::String(s) if s.contains('\0') => found.push(NulFound {
            place: Place::Body,
            loc: loc.clone(),
            in_key: false,
            input: value.clone(),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                loc.push(Loc::Index(i));
                walk(item, loc, found);
                loc.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                loc.push(Loc::Key(key.clone()));
                if key.contains('\0') && found.len() < MAX_REPORTED {
                    found.push(NulFound {
                        place: Place::Body,
                        loc: loc.clone(),
                        in_key: true,
                        input: Value::String(key.clone()),
                    });
                }
                walk(item, loc, found);
                loc.pop();
            }
        }
        _ => {}
    }
}

/// Path parameters and query keys and values containing U+0000, decoded as handlers read them:
/// a path parameter percent-decoded in full (as `web::Path` does), the query as a form
/// (`+` is a space).
pub fn scan_request(req: &HttpRequest) -> Vec<NulFound> {
    let mut found = Vec::new();
    for (name, raw) in req.match_info().iter() {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        if decoded.contains('\0') {
            found.push(NulFound {
                place: Place::Path,
                loc: vec![Loc::Key(name.to_owned())],
                in_key: false,
                input: Value::String(decoded.into_owned()),
            });
        }
    }
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if found.len() >= MAX_REPORTED {
            break;
        }
        if key.contains('\0') || value.contains('\0') {
            found.push(NulFound {
                place: Place::Query,
                loc: vec![Loc::Key(key.into_owned())],
                in_key: false,
                input: Value::String(value.into_owned()),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn finds_nul_in_values_and_keys_at_any_depth() {
        let body = json!({"a": "ok", "meta": {"description": "x\u{0}y", "tags": [{"name": "\u{0}"}]}, "k\u{0}": 1});
        let found = scan_json(&body);
        let locs: Vec<_> = found.iter().map(|f| (f.pydantic_loc(), f.input.clone())).collect();
        let key = |k: &str| Loc::Key(k.to_owned());
        assert_eq!(
            locs,
            vec![
                (vec![key("body"), key("meta"), key("description")], json!("x\u{0}y")),
                (
                    vec![key("body"), key("meta"), key("tags"), Loc::Index(0), key("name")],
                    json!("\u{0}")
                ),
                (vec![key("body"), key("k\u{0}"), key("[key]")], json!("k\u{0}")),
            ]
        );
        assert_eq!(found[1].dotted(), "meta.tags.0.name");
        assert_eq!(drf_body(&found), json!({"meta": [NUL_SENTENCE], "k\u{0}": [NUL_SENTENCE]}));
        assert!(scan_json(&json!({"a": ["b", 1, null, {"c": "d"}]})).is_empty());
        assert_eq!(
            drf_body(&scan_json(&json!("\u{0}"))),
            json!({"non_field_errors": [NUL_SENTENCE]})
        );
    }

    #[test]
    fn reports_a_bounded_number() {
        let body = Value::Array(vec![json!("\u{0}"); 500]);
        assert_eq!(scan_json(&body).len(), MAX_REPORTED);
    }

    #[test]
    fn finds_nul_in_decoded_queries() {
        let req = TestRequest::get().uri("/m?ok=1&id=a%00b&x%00=v&plus=+").to_http_request();
        let found = scan_request(&req);
        assert_eq!(
            found.iter().map(|f| (f.pydantic_loc(), f.input.clone())).collect::<Vec<_>>(),
            vec![
                (vec![Loc::Key("query".into()), Loc::Key("id".into())], json!("a\u{0}b")),
                (vec![Loc::Key("query".into()), Loc::Key("x\u{0}".into())], json!("v")),
            ]
        );
        // `%2500` is the text `%00`, not a NUL.
        let req = TestRequest::get().uri("/m?id=a%2500b").to_http_request();
        assert!(scan_request(&req).is_empty());
    }
}
