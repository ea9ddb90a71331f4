//! Checks a dialect's OpenAPI document against the routes it really mounts.

use actix_web::http::Method;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use modelgate_http::routes::{Routes, openapi_path};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// What the probe app answers when no route matched.
const UNMATCHED: u16 = 599;

/// Every `(method, path)` the document describes, paths normalized like [`openapi_path`].
pub fn documented(document: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    let Some(paths) = document["paths"].as_object() else { return out };
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let entry = (method, openapi_path(path));
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
    }
    out
}

fn without_meta(mut endpoints: Vec<(Method, String)>) -> Vec<(Method, String)> {
    endpoints.retain(|(_, path)| path != "/openapi.json");
    endpoints.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    endpoints
}

fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("probe-1");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// Fails unless `document` is an OpenAPI 3.1 document describing exactly the routes of `table`
/// (a route missing from the document, or documented but not in the table, fails), and every
/// documented route is answered by a handler when `configure` is mounted (not by "no route"
/// and not by 405).
pub async fn assert_document_matches(
    document: &Value,
    table: Routes,
    configure: impl FnOnce(&mut web::ServiceConfig),
) {
    assert!(
        document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "not an OpenAPI 3.1 document: openapi = {}",
        document["openapi"]
    );
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let doc = without_meta(documented(document));
    let mounted = without_meta(table.endpoints());
    let missing: Vec<_> = mounted.iter().filter(|e| !doc.contains(e)).collect();
    let phantom: Vec<_> = doc.iter().filter(|e| !mounted.contains(e)).collect();
    assert!(
        missing.is_empty() && phantom.is_empty(),
        "mounted but not documented: {missing:?}\ndocumented but not mounted: {phantom:?}"
    );
    for (method, path) in &doc {
        let operation = &document["paths"]
            .as_object()
            .and_then(|p| p.iter().find(|(k, _)| openapi_path(k) == *path))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()[method.as_str().to_lowercase()];
        assert!(
            operation["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no responses"
        );
    }

    let app = test::init_service(App::new().service(
        web::scope("/probe").configure(configure).default_service(web::to(|| async {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(UNMATCHED).unwrap()).finish()
        })),
    ))
    .await;
    for (method, path) in &doc {
        let uri = format!("/probe{}", concrete(path));
        let request = TestRequest::default().method(method.clone()).uri(&uri).to_request();
        let status = test::call_service(&app, request).await.status().as_u16();
        assert!(
            status != UNMATCHED && status != 405,
            "{method} {path} is documented but not served (probe {uri} answered {status})"
        );
    }
}

/// Follows local `$ref`s (`#/components/…`) until a value that is not a reference.
pub fn resolve<'a>(document: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').unwrap_or(reference);
        value = document.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    value
}

/// The JSON example a document gives for one response of `method path` (method in lower case,
/// as OpenAPI spells it): the named one of its `examples`, or its single `example`.
pub fn example(
    document: &Value,
    path: &str,
    method: &str,
    status: &str,
    name: Option<&str>,
) -> Value {
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = resolve(document, &operation["responses"][status]);
    assert!(response.is_object(), "{method} {path} documents no {status}");
    let media = &response["content"]["application/json"];
    let found = match name {
        Some(name) => resolve(document, &media["examples"][name])["value"].clone(),
        None => media["example"].clone(),
    };
    assert!(!found.is_null(), "{method} {path} {status} has no example {name:?}");
    found
}

/// One dialect's OpenAPI document, ready to check the responses of the app that serves it.
pub struct ResponseContract {
    document: Value,
    /// `(path template, compiled pattern)`, most specific first.
    paths: Vec<(String, Vec<Segment>)>,
    validators:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    /// `{name}`: one path segment.
    Param,
}

fn template_segments(template: &str) -> Vec<Segment> {
    openapi_path(template)
        .trim_start_matches('/')
        .split('/')
        .map(|part| {
            if part.starts_with('{') && part.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(part.to_owned())
            }
        })
        .collect()
}

/// Whether `parts` (a request path split on `/`) fits `pattern`. A parameter takes one segment,
/// except the last parameter of a pattern, which may take several: the dialects' ids may contain
/// `/` (`/by-id/{model_id:.+}`, Respan's `{model_name:.+}`).
fn fits(pattern: &[Segment], parts: &[&str]) -> bool {
    let last_param = pattern.iter().rposition(|s| *s == Segment::Param);
    let mut i = 0;
    for (index, segment) in pattern.iter().enumerate() {
        match segment {
            Segment::Literal(text) => {
                if parts.get(i) != Some(&text.as_str()) {
                    return false;
                }
                i += 1;
            }
            Segment::Param if Some(index) == last_param => {
                // Leave exactly enough segments for the literals after it.
                let rest = pattern.len() - index - 1;
                if parts.len() < i + 1 + rest {
                    return false;
                }
                i = parts.len() - rest;
            }
            Segment::Param => {
                if parts.get(i).is_none_or(|p| p.is_empty()) {
                    return false;
                }
                i += 1;
            }
        }
    }
    i == parts.len()
}

/// What must be percent-encoded in a URI fragment (path templates bring `{` and `}`).
const FRAGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// JSON pointer escaping of one reference token.
fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl ResponseContract {
    pub fn new(document: Value) -> Self {
        let mut paths: Vec<(String, Vec<Segment>)> = document["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .keys()
                    .map(|template| (template.clone(), template_segments(template)))
                    .collect()
            })
            .unwrap_or_default();
        // Fixed segments win over parameters, as the route tables put fixed paths first.
        let literals =
            |s: &[Segment]| s.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        paths.sort_by_key(|(_, pattern)| std::cmp::Reverse(literals(pattern)));
        Self { document, paths, validators: Default::default() }
    }

    /// The documented path template a request path (relative to the dialect's root) falls under.
    fn template_for(&self, path: &str) -> Option<&str> {
        let trimmed = path.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let parts: Vec<&str> = trimmed.split('/').collect();
        self.paths.iter().find(|(_, pattern)| fits(pattern, &parts)).map(|(t, _)| t.as_str())
    }

    fn validator(&self, pointer: &str) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(pointer.to_owned())
            .or_insert_with(|| {
                // The whole document is the root schema, so `#/components/...` references resolve;
                // OpenAPI 3.1 schemas are JSON Schema 2020-12.
                let mut root = self.document.clone();
                let fragment = percent_encoding::utf8_percent_encode(pointer, FRAGMENT);
                root["$ref"] = Value::String(format!("#{fragment}"));
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(&root)
                    .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
                std::sync::Arc::new(validator)
            })
            .clone()
    }

    /// Fails unless the response to `method path` is described by the document: the status is
    /// documented for that operation, and a JSON body validates against its schema. Requests
    /// outside the documented operations (unknown paths, unserved methods) are not checked.
    pub fn check(&self, method: &Method, path: &str, status: u16, body: &[u8]) {
        let Some(template) = self.template_for(path) else { return };
        let method_key = method.as_str().to_lowercase();
        let operation = &self.document["paths"][template][&method_key];
        if !operation.is_object() {
            return;
        }
        let responses = &operation["responses"];
        let status_key = status.to_string();
        let class_key = format!("{}XX", status / 100);
        let Some(key) = [status_key.as_str(), class_key.as_str(), "default"]
            .into_iter()
            .find(|k| responses.get(*k).is_some())
        else {
            panic!(
                "{method} {path} answered {status}, which the OpenAPI document does not list for \
                 {method_key} {template}; body: {}",
                String::from_utf8_lossy(body)
            );
        };
        let mut pointer = format!(
            "/paths/{}/{method_key}/responses/{}",
            pointer_token(template),
            pointer_token(key)
        );
        let mut response = &responses[key];
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            pointer = reference.trim_start_matches('#').to_owned();
            response = resolve(&self.document, response);
        }
        let Some(media) = response["content"].get("application/json") else {
            assert!(
                body.is_empty(),
                "{method} {path} answered {status} with a body, but {method_key} {template} \
                 documents none: {}",
                String::from_utf8_lossy(body)
            );
            return;
        };
        if media.get("schema").is_none() {
            return;
        }
        let instance: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "{method} {path} answered {status} with a body that is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            )
        });
        let schema_pointer = format!("{pointer}/content/application~1json/schema");
        let validator = self.validator(&schema_pointer);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("  at {}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} answered {status} with a body that does not match the OpenAPI \
             document ({method_key} {template} → {key}):\n{}\nbody: {instance}",
            errors.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract() -> ResponseContract {
        ResponseContract::new(json!({
            "openapi": "3.1.0",
            "paths": {
                "/api/models/{id}": {"get": {"responses": {
                    "200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/M"}}}},
                    "404": {"$ref": "#/components/responses/NotFound"}
                }}},
                "/api/models/summary": {"get": {"responses": {
                    "200": {"description": "", "content": {"application/json": {"schema": {"type": "object", "required": ["total"], "properties": {"total": {"type": "integer"}}}}}}
                }}},
                "/api/models/by-id/{id}": {"delete": {"responses": {"204": {"description": ""}}}}
            },
            "components": {
                "schemas": {"M": {"type": "object", "required": ["id", "n"], "properties": {"id": {"type": "string"}, "n": {"type": ["integer", "null"]}}}},
                "responses": {"NotFound": {"description": "", "content": {"application/json": {"schema": {"type": "object", "required": ["detail"]}}}}}
            }
        }))
    }

    #[test]
    fn documented_bodies_pass() {
        let c = contract();
        c.check(&Method::GET, "/api/models/x", 200, br#"{"id": "x", "n": null}"#);
        c.check(&Method::GET, "/api/models/x", 404, br#"{"detail": "no"}"#);
        c.check(&Method::GET, "/api/models/summary", 200, br#"{"total": 3}"#);
        c.check(&Method::DELETE, "/api/models/by-id/a/b/c", 204, b"");
        // Not a documented operation: not checked.
        c.check(&Method::POST, "/api/models/x", 405, b"whatever");
        c.check(&Method::GET, "/elsewhere", 404, b"whatever");
    }

    #[test]
    #[should_panic(expected = "does not match")]
    fn a_wrong_type_fails() {
        contract().check(&Method::GET, "/api/models/x", 200, br#"{"id": 7, "n": null}"#);
    }

    #[test]
    #[should_panic(expected = "does not match")]
    fn a_missing_required_key_fails() {
        // The fixed path wins over the parameter: `summary` is not read as an id.
        contract().check(&Method::GET, "/api/models/summary", 200, br#"{"count": 3}"#);
    }

    #[test]
    #[should_panic(expected = "does not list")]
    fn an_undocumented_status_fails() {
        contract().check(&Method::GET, "/api/models/x", 500, br#"{"detail": "x"}"#);
    }

    #[test]
    #[should_panic(expected = "documents none")]
    fn a_body_where_none_is_documented_fails() {
        contract().check(&Method::DELETE, "/api/models/by-id/a", 204, b"{}");
    }
}
