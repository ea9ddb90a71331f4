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
