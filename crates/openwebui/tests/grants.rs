//! Issue 11: a malformed grant (defect 4) or a `meta.tags` that is not a list of names (defect 7)
//! is a 422 naming it, wherever Open WebUI takes them, and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{API, World, grant, model_body, world};
use modelgate_core::{ModelRef, Registry};
use modelgate_testkit::backend_app_tests;
use serde_json::{Value, json};

/// What must not change: the model's version, its history and its grants (`None`: no model).
fn state(w: &World, id: &str) -> Option<(i64, usize, Value)> {
    let view = w.app.db.store.get_model(&w.admin_ctx, &ModelRef::Key(id.to_owned())).ok()?;
    let history = w.app.db.store.model_history(&w.admin_ctx, view.model.uuid).unwrap();
    let grants = json!(view.model.fields.grants);
    Some((view.model.version, history.len(), grants))
}

fn literal(loc: Value, input: &str, expected: &str) -> Value {
    json!({"type": "literal_error", "loc": loc, "msg": format!("Input should be {expected}"),
           "input": input, "ctx": {"expected": expected}})
}

/// The three repros, each with the 422 it now gets (loc below `access_grants`).
fn bad_grants(at: &[Value]) -> Vec<(Value, Value)> {
    let loc = |rest: &[Value]| Value::Array([at, rest].concat());
    let missing = |name: &str| json!({"type": "missing", "loc": loc(&[json!(0), json!(name)]), "msg": "Field required", "input": {}});
    let permission = |p: &str| {
        let grant = json!({"principal_type": "user", "principal_id": "bob", "permission": p});
        let error = literal(loc(&[json!(0), json!("permission")]), p, "'read' or 'write'");
        (json!([grant]), json!({"detail": [error]}))
    };
    vec![
        permission("Write"),
        permission("root"),
        (
            json!([{}]),
            json!({"detail": [missing("principal_type"), missing("principal_id"), missing("permission")]}),
        ),
    ]
}

backend_app_tests! {
    async fn a_malformed_grant_is_a_422_and_removes_nothing(db) {
        let w = world(db).await;
        let alice = Some(w.alice.as_str());
        let mut body = model_body("g", "G");
        body["access_grants"] = json!([
            {"principal_type": "user", "principal_id": "carol", "permission": "read"},
            {"access_type": "group", "access_id": "developers", "permission": "write"}
        ]);
        w.create(&w.alice, body).await;
        let before = state(&w, "g").unwrap();
        assert_eq!(before.2.as_array().map(Vec::len), Some(2));

        let at = [json!("body"), json!("access_grants")];
        for (grants, expected) in bad_grants(&at) {
            // The repro: access/update with the bad grant.
            let access = w.app.post(&format!("{API}/model/access/update"), alice,
                json!({"id": "g", "access_grants": grants})).await;
            assert_eq!((access.status, &access.json), (422, &expected), "{grants}");
            // The same grant in a full update and in a create.
            let mut update = model_body("g", "Renamed");
            update["access_grants"] = grants.clone();
            let updated = w.app.post(&format!("{API}/model/update"), alice, update).await;
            assert_eq!((updated.status, &updated.json), (422, &expected), "{grants}");
            let mut create = model_body("h", "H");
            create["access_grants"] = grants.clone();
            let created = w.app.post(&format!("{API}/create"), alice, create).await;
            assert_eq!((created.status, &created.json), (422, &expected), "{grants}");
            assert_eq!(state(&w, "g").as_ref(), Some(&before), "{grants}");
            assert_eq!(state(&w, "h"), None);
        }
        // An admin's access/update on a missing id would create it: a bad grant does not.
        let fresh = w.app.post(&format!("{API}/model/access/update"), Some(&w.admin),
            json!({"id": "ollama/x", "access_grants": [{"principal_type": "user", "principal_id": "bob", "permission": "Write"}]})).await;
        assert_eq!(fresh.status, 422, "{fresh:?}");
        assert_eq!(state(&w, "ollama/x"), None);

        // Import: the item's grant is named under its own location, and nothing is imported.
        let at = [json!("body"), json!("models"), json!(1), json!("access_grants")];
        for (grants, expected) in bad_grants(&at) {
            let imported = w.app.post(&format!("{API}/import"), alice, json!({"models": [
                {"id": "new-one", "name": "New"},
                {"id": "g", "name": "Renamed", "access_grants": grants}
            ]})).await;
            assert_eq!((imported.status, &imported.json), (422, &expected), "{grants}");
            assert_eq!(state(&w, "g").as_ref(), Some(&before));
            assert_eq!(state(&w, "new-one"), None);
        }

        // A valid list still replaces the grants (both spellings), and `[]` still clears them:
        // removing is fine when asked for.
        let access = w.app.post(&format!("{API}/model/access/update"), alice, json!({"id": "g", "access_grants": [
            {"access_type": "user", "access_id": "bob", "permission": "write"}
        ]})).await;
        assert_eq!((access.status, access.json["access_grants"].clone()), (200, json!([grant("user", "bob", "write")])));
        let cleared = w.app.post(&format!("{API}/model/access/update"), alice, json!({"id": "g", "access_grants": []})).await;
        assert_eq!((cleared.status, cleared.json["access_grants"].clone()), (200, json!([])));
    }

    async fn meta_tags_must_be_a_list_of_names(db) {
        let w = world(db).await;
        let alice = Some(w.alice.as_str());
        let mut body = model_body("t", "T");
        body["meta"] = json!({"tags": [{"name": "team"}]});
        w.create(&w.alice, body).await;
        let before = state(&w, "t").unwrap();
        let list_type = |loc: Value, input: Value| {
            json!({"detail": [{"type": "list_type", "loc": loc, "msg": "Input should be a valid list", "input": input}]})
        };

        for tags in [json!("team,ops"), json!({"name": "team"}), json!(7)] {
            let mut create = model_body("u", "U");
            create["meta"] = json!({"tags": tags});
            let created = w.app.post(&format!("{API}/create"), alice, create).await;
            assert_eq!((created.status, &created.json), (422, &list_type(json!(["body", "meta", "tags"]), tags.clone())));
            let mut update = model_body("t", "T");
            update["meta"] = json!({"tags": tags});
            let updated = w.app.post(&format!("{API}/model/update"), alice, update).await;
            assert_eq!((updated.status, &updated.json), (422, &list_type(json!(["body", "meta", "tags"]), tags.clone())));
            let imported = w.app.post(&format!("{API}/import"), alice,
                json!({"models": [{"id": "t", "meta": {"tags": tags}}]})).await;
            assert_eq!((imported.status, &imported.json),
                (422, &list_type(json!(["body", "models", 0, "meta", "tags"]), tags.clone())));
            assert_eq!(state(&w, "t").as_ref(), Some(&before));
            assert_eq!(state(&w, "u"), None);
        }
        // A bad item is named by its index.
        let mut update = model_body("t", "T");
        update["meta"] = json!({"tags": [{"name": "a"}, {"name": 1}, 2]});
        let updated = w.app.post(&format!("{API}/model/update"), alice, update).await;
        assert_eq!((updated.status, updated.json.clone()), (422, json!({"detail": [
            {"type": "string_type", "loc": ["body", "meta", "tags", 1, "name"], "msg": "Input should be a valid string", "input": 1},
            {"type": "value_error", "loc": ["body", "meta", "tags", 2],
             "msg": "Value error, a tag is an object with a string `name`, or a string", "input": 2,
             "ctx": {"error": "a tag is an object with a string `name`, or a string"}}
        ]})));
        assert_eq!(state(&w, "t").as_ref(), Some(&before));

        // Names as objects or plain strings are tags, and read back in Open WebUI's shape.
        let mut update = model_body("t", "T");
        update["meta"] = json!({"tags": ["ops", {"name": "team"}]});
        let updated = w.app.post(&format!("{API}/model/update"), alice, update).await;
        assert_eq!((updated.status, updated.json["meta"]["tags"].clone()), (200, json!([{"name": "ops"}, {"name": "team"}])));
        // `null` is no tags.
        let mut update = model_body("t", "T");
        update["meta"] = json!({"tags": null});
        let updated = w.app.post(&format!("{API}/model/update"), alice, update).await;
        assert_eq!((updated.status, updated.json["meta"].get("tags")), (200, None));
    }

    async fn a_405_names_the_methods_the_path_takes(db) {
        let w = world(db).await;
        for (method, path, allow) in [
            (Method::GET, "/model/update", "POST"),
            (Method::PUT, "/model/delete", "POST, DELETE"),
            (Method::POST, "/list", "GET"),
        ] {
            let refused = w.app.send(method.clone(), &format!("{API}{path}"), Some(&w.admin), None).await;
            assert_eq!((refused.status, refused.json.clone()), (405, json!({"detail": "Method Not Allowed"})), "{method} {path}");
            assert_eq!(refused.header("allow"), Some(allow), "{method} {path}");
        }
    }
}
