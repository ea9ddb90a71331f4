//! The respan dialect's custom-provider endpoints through the real app, on SQLite and Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NO_PERMISSION, env, expect};
use modelgate_core::{ProviderRef, Registry};
use modelgate_testkit::{assert_wire_snapshot, backend_app_tests, redact};
use serde_json::json;

const PROVIDERS: &str = "/respan/api/providers/";
const API_KEY: &str = "sk-azure-0123456789abcdef";

backend_app_tests! {
    async fn providers_have_full_crud_and_a_write_only_key(db) {
        let env = env(db).await;
        let created = env.app.post(PROVIDERS, env.admin(), json!({
            "provider_id": "my-azure-provider",
            "provider_name": "My Azure Provider",
            "api_key": API_KEY,
            "extra_kwargs": {"base_url": "https://my-azure-endpoint.openai.azure.com", "timeout": 60}
        })).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_wire_snapshot!("provider_created", redact(&created.json, &[]));
        assert!(!created.text().contains("0123456789abcdef"));
        // The key is stored (sealed) all the same.
        let ctx = env.app.db.ctx_for_key(&env.admin);
        let stored = env.app.db.store.get_provider(&ctx, &ProviderRef::Slug("my-azure-provider".into())).unwrap();
        assert_eq!(stored.api_key.map(|k| k.mask), Some("sk-...cdef".to_owned()));

        let listed = env.app.get(PROVIDERS, env.member()).await;
        assert_eq!(listed.status, 200);
        assert_eq!(listed.json, json!({"count": 1, "next": null, "previous": null, "results": [created.json.clone()]}));
        let path = format!("{PROVIDERS}my-azure-provider/");
        expect(&env.app.get(&path, env.member()).await, 200, created.json.clone());
        expect(&env.app.get("/respan/api/providers/my-azure-provider", env.member()).await, 200, created.json.clone());

        // PATCH changes only what is sent; `extra_kwargs` is replaced as a whole.
        let patched = env.app.patch(&path, env.admin(), json!({"provider_name": "Azure (EU)", "extra_kwargs": {"timeout": 30}})).await;
        assert_eq!(patched.status, 200, "{patched:?}");
        assert_eq!((patched.json["provider_name"].clone(), patched.json["extra_kwargs"].clone()), (json!("Azure (EU)"), json!({"timeout": 30})));
        let key_only = env.app.patch(&path, env.admin(), json!({"api_key": "sk-rotated-0000000000009999"})).await;
        assert_eq!(key_only.json["provider_name"], "Azure (EU)");
        assert!(key_only.json.get("api_key").is_none());
        let stored = env.app.db.store.get_provider(&ctx, &ProviderRef::Slug("my-azure-provider".into())).unwrap();
        assert_eq!(stored.api_key.map(|k| k.mask), Some("sk-...9999".to_owned()));

        // PUT replaces the name and extra_kwargs; the unsent write-only key stays.
        let replaced = env.app.put(&path, env.admin(), json!({"provider_name": "Azure"})).await;
        assert_eq!(replaced.status, 200, "{replaced:?}");
        assert_wire_snapshot!("provider_replaced", redact(&replaced.json, &[]));
        let stored = env.app.db.store.get_provider(&ctx, &ProviderRef::Slug("my-azure-provider".into())).unwrap();
        assert!(stored.api_key.is_some());
        expect(&env.app.put(&path, env.admin(), json!({})).await, 400, json!({"provider_name": ["This field is required."]}));
        // `null` removes the stored key.
        env.app.patch(&path, env.admin(), json!({"api_key": null})).await;
        let stored = env.app.db.store.get_provider(&ctx, &ProviderRef::Slug("my-azure-provider".into())).unwrap();
        assert!(stored.api_key.is_none());

        let deleted = env.app.delete(&path, env.admin()).await;
        assert_eq!(deleted.status, 204);
        assert!(deleted.bytes.is_empty());
        expect(&env.app.get(&path, env.admin()).await, 404, json!({"detail": "Not found."}));
        expect(&env.app.delete(&path, env.admin()).await, 404, json!({"detail": "Not found."}));
        assert_eq!(env.app.get(PROVIDERS, env.admin()).await.json, json!({"count": 0, "next": null, "previous": null, "results": []}));
    }

    async fn provider_errors(db) {
        let env = env(db).await;
        let body = json!({"provider_id": "dup", "provider_name": "Dup"});
        assert_eq!(env.app.post(PROVIDERS, env.admin(), body.clone()).await.status, 201);
        expect(&env.app.post(PROVIDERS, env.admin(), body.clone()).await,
            400, json!({"provider_id": ["custom provider with this provider id already exists."]}));
        expect(&env.app.post(PROVIDERS, env.admin(), json!({"api_key": 5, "extra_kwargs": "x"})).await, 400, json!({
            "provider_id": ["This field is required."],
            "provider_name": ["This field is required."],
            "api_key": ["Not a valid string."],
            "extra_kwargs": ["Expected a dictionary of items but got type \"str\"."]
        }));
        expect(&env.app.post(PROVIDERS, env.admin(), json!({"provider_id": "has space", "provider_name": "S"})).await,
            400, json!({"provider_id": ["Must not contain spaces, control characters or '/'."]}));
        expect(&env.app.patch(&format!("{PROVIDERS}dup/"), env.admin(), json!({"provider_name": ""})).await,
            400, json!({"provider_name": ["This field may not be blank."]}));
        // Viewers read providers but change nothing.
        assert_eq!(env.app.get(&format!("{PROVIDERS}dup/"), env.viewer()).await.status, 200);
        expect(&env.app.post(PROVIDERS, env.viewer(), json!({"provider_id": "v", "provider_name": "V"})).await,
            403, json!({"detail": NO_PERMISSION}));
        expect(&env.app.patch(&format!("{PROVIDERS}dup/"), env.viewer(), json!({"provider_name": "X"})).await,
            403, json!({"detail": NO_PERMISSION}));
        expect(&env.app.delete(&format!("{PROVIDERS}dup/"), env.viewer()).await, 403, json!({"detail": NO_PERMISSION}));
        // Another org's providers do not exist; it may reuse the slug.
        expect(&env.app.get(&format!("{PROVIDERS}dup/"), env.other()).await, 404, json!({"detail": "Not found."}));
        expect(&env.app.delete(&format!("{PROVIDERS}dup/"), env.other()).await, 404, json!({"detail": "Not found."}));
        assert_eq!(env.app.post(PROVIDERS, env.other(), body).await.status, 201);
        expect(&env.app.get(PROVIDERS, None).await, 401, json!({"detail": "Authentication credentials were not provided."}));
        expect(&env.app.get("/respan/api/providers/a/b/", env.admin()).await, 404, json!({"detail": "Not found."}));
    }

    async fn providers_are_listed_a_page_at_a_time(db) {
        let env = env(db).await;
        for n in 1..=5 {
            let created = env.app.post(PROVIDERS, env.admin(), json!({"provider_id": format!("prov-{n}"), "provider_name": format!("Provider {n}")})).await;
            assert_eq!(created.status, 201, "{created:?}");
        }
        let ids = |page: &serde_json::Value| -> Vec<String> {
            page["results"].as_array().unwrap().iter().map(|p| p["provider_id"].as_str().unwrap().to_owned()).collect()
        };
        let first = env.app.get(&format!("{PROVIDERS}?page=1&page_size=2"), env.member()).await;
        assert_eq!(first.status, 200, "{first:?}");
        assert_wire_snapshot!("provider_page", redact(&first.json, &[]));
        assert_eq!(ids(&first.json), ["prov-1", "prov-2"]);
        let last = env.app.get(&format!("{PROVIDERS}?page=3&page_size=2"), env.member()).await;
        assert_eq!((last.json["count"].clone(), last.json["next"].clone(), last.json["previous"].clone()),
            (json!(5), json!(null), json!("http://localhost:8080/respan/api/providers/?page=2&page_size=2")));
        assert_eq!(ids(&last.json), ["prov-5"]);
        // After the last page: an empty page, not DRF's 404 (Respan's client pages until it
        // receives an empty page and fails on any error).
        expect(&env.app.get(&format!("{PROVIDERS}?page=4&page_size=2"), env.member()).await, 200, json!({
            "count": 5, "next": null, "previous": "http://localhost:8080/respan/api/providers/?page=3&page_size=2", "results": []
        }));
        expect(&env.app.get(&format!("{PROVIDERS}?page=99&page_size=2"), env.member()).await, 200, json!({
            "count": 5, "next": null, "previous": "http://localhost:8080/respan/api/providers/?page=3&page_size=2", "results": []
        }));
        expect(&env.app.get(&format!("{PROVIDERS}?page=9223372036854775807"), env.member()).await, 200, json!({
            "count": 5, "next": null, "previous": "http://localhost:8080/respan/api/providers/", "results": []
        }));
        // `page=last`, as on the model filter.
        assert_eq!(ids(&env.app.get(&format!("{PROVIDERS}?page=last&page_size=2"), env.admin()).await.json), ["prov-5"]);
        // No parameters: page 1 of 50; sizes above 100 are cut to 100; unusable sizes are ignored.
        for query in ["", "?page_size=1000", "?page_size=0", "?page_size=x"] {
            let all = env.app.get(&format!("{PROVIDERS}{query}"), env.viewer()).await;
            assert_eq!((all.status, all.json["count"].clone(), all.json["next"].clone(), all.json["previous"].clone(), ids(&all.json).len()),
                (200, json!(5), json!(null), json!(null), 5), "{query}");
        }
        // Bad page numbers: DRF's 404.
        for query in ["page=0", "page=-1", "page=abc", "page=1.5"] {
            expect(&env.app.get(&format!("{PROVIDERS}?{query}"), env.admin()).await, 404, json!({"detail": "Invalid page."}));
        }
        // An empty `page` is page 1, as DRF reads it.
        assert_eq!(env.app.get(&format!("{PROVIDERS}?page="), env.admin()).await.json["count"], json!(5));
        // An empty organization still has an (empty) page 1; page 2 is empty too.
        expect(&env.app.get(PROVIDERS, env.other()).await, 200, json!({"count": 0, "next": null, "previous": null, "results": []}));
        expect(&env.app.get(&format!("{PROVIDERS}?page=2&page_size=10"), env.other()).await, 200, json!({
            "count": 0, "next": null, "previous": "http://localhost:8080/respan/api/providers/?page_size=10", "results": []
        }));
        // Another org's providers never appear nor count.
        assert_eq!(env.app.post(PROVIDERS, env.other(), json!({"provider_id": "acme-only", "provider_name": "Acme"})).await.status, 201);
        let theirs = env.app.get(PROVIDERS, env.other()).await;
        assert_eq!((theirs.json["count"].clone(), ids(&theirs.json)), (json!(1), vec!["acme-only".to_owned()]));
        assert_eq!(env.app.get(PROVIDERS, env.admin()).await.json["count"], json!(5));
        expect(&env.app.get(PROVIDERS, Some("mg_not_a_key")).await, 401, json!({"detail": "Incorrect authentication credentials."}));
        expect(&env.app.get(&format!("{PROVIDERS}?page=0"), None).await, 401, json!({"detail": "Authentication credentials were not provided."}));
    }

    async fn provider_pages_link_to_the_dialects_own_listener(db) {
        let env = common::env_at(db, "").await;
        for n in 1..=3 {
            env.app.post("/api/providers/", env.admin(), json!({"provider_id": format!("p{n}"), "provider_name": "P"})).await;
        }
        let page = env.app.get("/api/providers/?page_size=1&page=2", env.admin()).await;
        assert_eq!((page.json["next"].clone(), page.json["previous"].clone()),
            (json!("http://localhost:8080/api/providers/?page=3&page_size=1"), json!("http://localhost:8080/api/providers/?page_size=1")));
        let no_slash = env.app.get("/api/providers?page_size=1", env.admin()).await;
        assert_eq!(no_slash.json["next"], json!("http://localhost:8080/api/providers?page=2&page_size=1"));
    }
}
