//! The OpenAPI document: it lists exactly the mounted routes, both path families alike, it is
//! served where the dialect is mounted, and its example error bodies are what the app answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{API, V1, model_body, world};
use modelgate_testkit::backend_app_tests;
use modelgate_testkit::openapi::{example, resolve};
use serde_json::{Value, json};

fn document() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).unwrap()
}

#[actix_web::test]
async fn openapi_document_matches_the_mounted_routes() {
    let document: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).unwrap();
    modelgate_testkit::openapi::assert_document_matches(
        &document,
        modelgate_openwebui::routes(),
        modelgate_openwebui::configure,
    )
    .await;
}

fn every_ref(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                out.push(reference.clone());
            }
            map.values().for_each(|v| every_ref(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| every_ref(v, out)),
        _ => {}
    }
}

#[test]
fn both_path_families_document_the_same_operations() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    let mut operation_ids = Vec::new();
    for (path, item) in paths {
        let twin = match (path.strip_prefix("/api/models"), path.strip_prefix("/api/v1/models")) {
            (Some(rest), _) => format!("/api/v1/models{rest}"),
            (_, Some(rest)) => format!("/api/models{rest}"),
            _ => panic!("{path} is in neither family"),
        };
        let twin_item = paths.get(&twin).unwrap_or_else(|| panic!("{path} has no twin {twin}"));
        let methods: Vec<&String> = item.as_object().unwrap().keys().collect();
        let twin_methods: Vec<&String> = twin_item.as_object().unwrap().keys().collect();
        assert_eq!(methods, twin_methods, "{path} and {twin}");
        for (method, operation) in item.as_object().unwrap() {
            let strip = |op: &Value| {
                let mut op = op.clone();
                let object = op.as_object_mut().unwrap();
                object.remove("operationId");
                object.remove("tags");
                op
            };
            assert_eq!(strip(operation), strip(&twin_item[method]), "{method} {path} vs {twin}");
            operation_ids.push(operation["operationId"].as_str().unwrap().to_owned());
        }
    }
    let count = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), count, "operationIds are unique");
    let mut refs = Vec::new();
    every_ref(&doc, &mut refs);
    for reference in refs {
        resolve(&doc, &json!({ "$ref": reference }));
    }
}

/// One documented error: the request that causes it and the example it must match.
struct Case {
    method: Method,
    /// After the family prefix, query included.
    path: &'static str,
    key: Option<String>,
    body: Option<Vec<u8>>,
    status: u16,
    example: &'static str,
}

fn case(
    method: Method,
    path: &'static str,
    key: Option<&str>,
    body: Option<Value>,
    status: u16,
    example: &'static str,
) -> Case {
    let body = body.map(|b| serde_json::to_vec(&b).unwrap());
    Case { method, path, key: key.map(str::to_owned), body, status, example }
}

backend_app_tests! {
    async fn the_document_is_served_where_the_dialect_is_mounted(db) {
        let w = world(db).await;
        let served = w.app.get("/openwebui/openapi.json", None).await;
        assert_eq!(served.status, 200, "{served:?}");
        assert_eq!(served.json["servers"], json!([{"url": "/openwebui"}]));
        let mut expected = document();
        expected["servers"] = json!([{"url": "/openwebui"}]);
        assert_eq!(served.json, expected);
    }

    async fn the_example_error_bodies_are_what_the_app_answers(db) {
        let w = world(db).await;
        let doc = document();
        let (alice, bob, carol, victor) =
            (Some(w.alice.as_str()), Some(w.bob.as_str()), Some(w.carol.as_str()), Some(w.victor.as_str()));
        // `taken` is alice's alone; `shared` is readable by carol.
        w.create(&w.alice, model_body("taken", "Taken")).await;
        w.create(&w.alice, json!({"id": "shared", "name": "Shared", "params": {}, "meta": {},
            "access_grants": [{"access_type": "user", "access_id": "carol", "permission": "read"}]})).await;

        let post = Method::POST;
        let get = Method::GET;
        let mut cases = vec![
            case(post.clone(), "/create", None, Some(model_body("m", "M")), 401, "notAuthenticated"),
            case(get.clone(), "/list", Some("mg_not_a_key"), None, 401, "notAuthenticated"),
            case(get.clone(), "/", None, None, 401, "notAuthenticated"),
            case(get.clone(), "/model?id=nope", alice, None, 404, "modelNotFound"),
            case(get.clone(), "/model?id=taken", carol, None, 401, "unauthorized"),
            case(get.clone(), "/model", alice, None, 422, "queryIdMissing"),
            case(get.clone(), "/list?page=two", alice, None, 422, "pageNotAnInteger"),
            case(get.clone(), "/base", alice, None, 401, "unauthorized"),
            case(get.clone(), "/base?tag=chat", victor, None, 401, "unauthorized"),
            case(get.clone(), "/base/tags", alice, None, 401, "unauthorized"),
            case(get.clone(), "/base/tags", None, None, 401, "notAuthenticated"),
            case(get.clone(), "/all", bob, None, 401, "unauthorized"),
            case(get.clone(), "/all", Some("mg_not_a_key"), None, 401, "notAuthenticated"),
            case(Method::DELETE, "/delete/all", alice, None, 401, "unauthorized"),
            case(Method::DELETE, "/delete/all", victor, None, 401, "unauthorized"),
            case(Method::DELETE, "/delete/all", None, None, 401, "notAuthenticated"),
            case(get.clone(), "/export?ids=taken", None, None, 401, "notAuthenticated"),
            case(post.clone(), "/create", victor, Some(model_body("v", "V")), 401, "unauthorized"),
            case(post.clone(), "/create", bob, Some(model_body("taken", "Again")), 400, "idTaken"),
            case(post.clone(), "/create", alice, Some(model_body("", "M")), 400, "idTooLong"),
            case(post.clone(), "/create", alice, Some(json!({"id": "x"})), 422, "modelFormMissingFields"),
            case(post.clone(), "/create", alice, Some(json!({
                "id": 7, "name": null, "base_model_id": 1, "meta": {"description": 3, "capabilities": []},
                "params": "hot", "access_grants": ["x"], "is_active": "perhaps"
            })), 422, "modelFormWrongTypes"),
            case(post.clone(), "/create", alice, Some(json!([1])), 422, "bodyNotAnObject"),
            case(post.clone(), "/model/update", alice, Some(model_body("nope", "N")), 401, "modelNotFound"),
            case(post.clone(), "/model/update", carol, Some(model_body("shared", "S")), 400, "accessProhibited"),
            case(post.clone(), "/model/toggle?id=nope", alice, None, 401, "modelNotFound"),
            case(post.clone(), "/model/toggle?id=shared", carol, None, 401, "unauthorized"),
            case(post.clone(), "/model/toggle", alice, None, 422, "queryIdMissing"),
            case(post.clone(), "/model/delete", alice, Some(json!({"id": "nope"})), 401, "modelNotFound"),
            case(post.clone(), "/model/delete", alice, Some(json!({})), 422, "deleteIdMissing"),
            case(Method::DELETE, "/model/delete?id=shared", carol, None, 401, "unauthorized"),
            case(Method::DELETE, "/model/delete", alice, None, 422, "queryIdMissing"),
            case(post.clone(), "/model/access/update", alice, Some(json!({"id": "nope", "access_grants": []})), 403, "accessProhibited"),
            case(post.clone(), "/model/access/update", carol, Some(json!({"id": "shared", "access_grants": []})), 400, "accessProhibited"),
            case(post.clone(), "/model/access/update", alice, Some(json!({"id": "shared"})), 422, "accessGrantsMissing"),
            case(post.clone(), "/model/access/update", alice, Some(json!({"id": "x", "access_grants": null})), 422, "accessGrantsNull"),
            case(post.clone(), "/import", alice, Some(json!({})), 422, "importModelsMissing"),
            case(post.clone(), "/import", alice, Some(json!({"models": [{"name": "no id"}]})), 422, "importItemIdMissing"),
            case(post.clone(), "/import", carol, Some(json!({"models": [{"id": "taken"}]})), 400, "idTaken"),
            case(post.clone(), "/import", carol, Some(json!({"models": [{"id": "shared"}]})), 400, "accessProhibited"),
            case(post.clone(), "/import", alice, Some(json!({"models": [{"id": ""}]})), 400, "idTooLong"),
            case(post.clone(), "/import", victor, Some(json!({"models": [{"id": "new"}]})), 401, "unauthorized"),
        ];
        let raw = |path, body: &[u8], example| Case {
            method: Method::POST,
            path,
            key: Some(w.alice.clone()),
            body: Some(body.to_vec()),
            status: 422,
            example,
        };
        cases.push(raw("/create", b"{\"id\": ", "jsonInvalid"));
        cases.push(raw("/model/update", b"", "bodyMissing"));
        cases.push(Case {
            status: 413,
            ..raw("/import", &vec![b' '; modelgate_http::DEFAULT_BODY_LIMIT + 1], "bodyTooLarge")
        });

        // Every case in both families: the routes are the same, and nothing here changes state.
        for family in [API, V1] {
            for case in &cases {
                let url = format!("{family}{}", case.path);
                let response = match &case.body {
                    Some(body) => w.app.send_raw(case.method.clone(), &url, case.key.as_deref(), body.clone()).await,
                    None => w.app.send(case.method.clone(), &url, case.key.as_deref(), None).await,
                };
                let documented_path = url
                    .strip_prefix("/openwebui")
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_owned();
                let expected = example(&doc, &documented_path, &case.method.as_str().to_lowercase(), &case.status.to_string(), Some(case.example));
                assert_eq!(
                    (response.status, &response.json),
                    (case.status, &expected),
                    "{} {url} ({})",
                    case.method,
                    case.example
                );
            }
        }
        assert_eq!(w.get(&w.alice, "taken").await.json["name"], "Taken");
        assert_eq!(w.get(&w.alice, "shared").await.status, 200, "a refused reset deletes nothing");
    }
}
