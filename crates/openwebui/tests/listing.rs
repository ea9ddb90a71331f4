//! The paged list and its parameters, tags, and export → import.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{API, V1, answer, detail, world};
use modelgate_testkit::backend_app_tests;
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<String> {
    let items = list.get("items").unwrap_or(list);
    items.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

/// Drops what an export → import cannot keep: the clocks.
fn timeless(models: &Value) -> Value {
    let mut models = models.clone();
    for model in models.as_array_mut().unwrap() {
        let model = model.as_object_mut().unwrap();
        model.remove("created_at");
        model.remove("updated_at");
    }
    models
}

backend_app_tests! {
    async fn paged_list_with_query_tag_and_order(db) {
        let w = world(db).await;
        for i in 0..35 {
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            w.create(&w.alice, json!({
                "id": format!("m-{i:02}"),
                "name": format!("Model {:02}", 34 - i),
                "params": {},
                "meta": {"description": format!("number {i}"), "tags": [{"name": tag}, {"name": "all"}]},
                "access_grants": if i == 7 { json!([{"access_type": "user", "access_id": "carol", "permission": "read"}]) } else { json!([]) }
            })).await;
        }
        let alice = Some(w.alice.as_str());
        let list = |query: &str| format!("{API}/list{query}");

        // 30 per page, newest first, 1-based pages.
        let first = w.app.get(&list(""), alice).await;
        assert_eq!(first.status, 200, "{first:?}");
        assert_eq!(first.json["total"], 35);
        let first_ids = ids(&first.json);
        assert_eq!(first_ids.len(), 30);
        assert_eq!((first_ids[0].as_str(), first_ids[29].as_str()), ("m-34", "m-05"));
        let second = w.app.get(&list("?page=2"), alice).await;
        assert_eq!((ids(&second.json), second.json["total"].clone()), (vec!["m-04".into(), "m-03".into(), "m-02".into(), "m-01".into(), "m-00".into()], json!(35)));
        assert_eq!(ids(&w.app.get(&list("?page=3"), alice).await.json), Vec::<String>::new());
        assert_eq!(ids(&w.app.get(&list("?page=0"), alice).await.json), first_ids);

        // Order by name / created_at / updated_at, in either direction.
        let by_name = w.app.get(&list("?order_by=name&direction=asc"), alice).await;
        assert_eq!(ids(&by_name.json)[0], "m-34");
        let by_name_desc = w.app.get(&list("?order_by=name&direction=desc"), alice).await;
        assert_eq!(ids(&by_name_desc.json)[0], "m-00");
        let oldest = w.app.get(&list("?order_by=created_at&direction=asc"), alice).await;
        assert_eq!(ids(&oldest.json)[0], "m-00");
        let toggled = w.app.send(Method::POST, &format!("{API}/model/toggle?id=m-03"), alice, None).await;
        assert_eq!(toggled.status, 200);
        let recent = w.app.get(&list("?order_by=updated_at"), alice).await;
        assert_eq!(ids(&recent.json)[0], "m-03");

        // Text search (id, name, description) and tags.
        let query = w.app.get(&list("?query=M-1"), alice).await;
        assert_eq!(query.json["total"], 10);
        let described = w.app.get(&list("?query=number%2033"), alice).await;
        assert_eq!(ids(&described.json), vec!["m-33".to_owned()]);
        let tagged = w.app.get(&format!("{V1}/list?tag=odd&order_by=created_at&direction=asc"), alice).await;
        assert_eq!(tagged.json["total"], 17);
        assert_eq!(ids(&tagged.json)[0], "m-01");
        let both = w.app.get(&list("?tag=even&query=m-2"), alice).await;
        assert_eq!(ids(&both.json), vec!["m-28", "m-26", "m-24", "m-22", "m-20"]);

        // Another member sees what was shared with it, read-only; view_option splits own/shared.
        let carol = w.app.get(&list(""), Some(&w.carol)).await;
        assert_eq!((ids(&carol.json), carol.json["total"].clone()), (vec!["m-07".to_owned()], json!(1)));
        assert_eq!(carol.json["items"][0]["write_access"], false);
        assert_eq!(w.app.get(&list("?view_option=shared"), Some(&w.carol)).await.json["total"], 1);
        assert_eq!(w.app.get(&list("?view_option=created"), Some(&w.carol)).await.json["total"], 0);
        assert_eq!(w.app.get(&list("?view_option=created"), alice).await.json["total"], 35);
        // Admins see every model of the org.
        let admin = w.app.get(&list(""), Some(&w.admin)).await;
        assert_eq!(admin.json["total"], 35);
        assert_eq!(admin.json["items"][0]["write_access"], true);

        // Tags of visible models, sorted and unique.
        assert_eq!(answer(&w.app.get(&format!("{API}/tags"), alice).await), (200, json!(["all", "even", "odd"])));
        assert_eq!(answer(&w.app.get(&format!("{API}/tags"), Some(&w.carol)).await), (200, json!(["all", "odd"])));
        // The legacy list has no paging.
        assert_eq!(ids(&w.app.get(&format!("{API}/"), alice).await.json).len(), 35);
        assert_eq!(ids(&w.app.get(&format!("{API}/"), Some(&w.carol)).await.json), vec!["m-07".to_owned()]);
    }

    async fn export_then_import_restores_the_same_models(db) {
        let w = world(db).await;
        let alice = Some(w.alice.as_str());
        w.create(&w.alice, json!({
            "id": "a/one", "name": "One", "base_model_id": "gpt-4o",
            "params": {"temperature": 0.3}, "meta": {"description": "first", "tags": [{"name": "x"}], "knowledge": [{"id": "k"}]},
            "access_grants": [{"principal_type": "group", "principal_id": "developers", "permission": "write"}]
        })).await;
        w.create(&w.alice, json!({"id": "two", "name": "Two", "params": {}, "meta": {"profile_image_url": "/two.png"}, "is_active": false})).await;
        w.create(&w.alice, json!({"id": "thrée", "name": "Three", "params": {"max_tokens": 10}, "meta": {"capabilities": {"vision": true}}})).await;

        let exported = w.app.get(&format!("{API}/export"), alice).await;
        assert_eq!(exported.status, 200);
        assert_eq!(ids(&exported.json), vec!["a/one", "two", "thrée"]);

        // Change one, delete the others, then import the export.
        let changed = w.app.post(&format!("{API}/model/update"), alice, json!({"id": "a/one", "name": "Changed", "params": {}, "meta": {}, "access_grants": []})).await;
        assert_eq!(changed.status, 200);
        for id in ["two", "thrée"] {
            assert_eq!(w.app.post(&format!("{API}/model/delete"), alice, json!({"id": id})).await.status, 200);
        }
        let imported = w.app.post(&format!("{V1}/import"), alice, json!({"models": exported.json})).await;
        assert_eq!(answer(&imported), (200, json!(true)));
        let again = w.app.get(&format!("{API}/export"), alice).await;
        assert_eq!(timeless(&again.json), timeless(&exported.json));
        // The model that was only changed kept its creation time.
        assert_eq!(again.json[0]["created_at"], exported.json[0]["created_at"]);

        // Importing over a model the importer cannot see is refused, and changes nothing.
        let refused = w.app.post(&format!("{API}/import"), Some(&w.carol), json!({"models": [
            {"id": "mine", "name": "Mine", "params": {}, "meta": {}},
            {"id": "two", "name": "Hijack", "params": {}, "meta": {}}
        ]})).await;
        assert_eq!(answer(&refused), (400, detail("Model ID is already taken")));
        // All or nothing: "mine" was not created.
        assert_eq!(w.get(&w.carol, "mine").await.status, 404);
        assert_eq!(w.get(&w.alice, "two").await.json["name"], "Two");
        // Only what the caller may change is exported.
        assert_eq!(ids(&w.app.get(&format!("{API}/export"), Some(&w.bob)).await.json), vec!["a/one"]);
        assert_eq!(ids(&w.app.get(&format!("{API}/export"), Some(&w.carol)).await.json), Vec::<String>::new());
        // An import item without name or meta keeps the stored name, like upstream's merge.
        let partial = w.app.post(&format!("{API}/import"), alice, json!({"models": [{"id": "two", "is_active": true}]})).await;
        assert_eq!(partial.status, 200);
        let two = w.get(&w.alice, "two").await.json;
        assert_eq!((two["name"].clone(), two["is_active"].clone(), two["meta"]["profile_image_url"].clone()), (json!("Two"), json!(true), json!("/static/favicon.png")));
    }
}
