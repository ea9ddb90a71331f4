//! The respan dialect's model endpoints through the real app, on SQLite and on Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{DELETE_HARDCODED, MODIFY_HARDCODED, NO_PERMISSION, env, env_at, expect};
use modelgate_core::{ModelChange, ModelRef, ModelUpdate, Registry};
use modelgate_testkit::{assert_wire_snapshot, backend_app_tests, redact};
use serde_json::{Value, json};

const MODELS: &str = "/respan/api/models/";

fn model_path(name: &str) -> String {
    format!("{MODELS}{name}/")
}

backend_app_tests! {
    async fn seed_example_request_updates_only_the_sent_fields(db) {
        let env = env(db).await;
        let provider = env.app.post("/respan/api/providers/", env.admin(), json!({
            "provider_id": "my-custom-provider",
            "provider_name": "My Custom Provider",
            "api_key": "sk-live-0123456789abcdef"
        })).await;
        assert_eq!(provider.status, 201, "{provider:?}");
        let created = env.app.post(MODELS, env.admin(), json!({
            "model_name": "my-custom-gpt-4",
            "base_model_name": "gpt-4",
            "display_name": "My Custom GPT-4",
            "custom_provider_id": "my-custom-provider",
            "input_cost": 0.025,
            "output_cost": 0.075
        })).await;
        assert_eq!(created.status, 201, "{created:?}");

        // The seed's request exactly as its cURL example sends it (Python and TypeScript send
        // the same object).
        let body = br#"{
    "display_name": "My Updated Custom GPT-4",
    "input_cost": 0.030
  }"#;
        let updated = env.app.send_raw(
            Method::PATCH, "/respan/api/models/my-custom-gpt-4/", env.admin(), body.to_vec(),
        ).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        let m = &updated.json;
        assert_eq!(m["id"], "my-custom-gpt-4");
        assert_eq!(m["model_name"], "my-custom-gpt-4");
        assert_eq!(m["display_name"], "My Updated Custom GPT-4");
        assert_eq!(m["base_model_name"], "gpt-4");
        assert_eq!(m["affiliation_category"], "custom");
        assert_eq!(m["input_cost"], json!(0.03));
        // Not sent, so unchanged.
        assert_eq!(m["output_cost"], json!(0.075));
        // Not set on the custom model: inherited from its base `gpt-4`.
        assert_eq!(m["max_context_window"], json!(8192));
        assert_eq!(m["streaming_support"], json!(1));
        assert_eq!(m["function_call"], json!(1));
        assert_eq!(m["image_support"], json!(0));
        assert_eq!(m["source"], "db");
        assert_eq!(m["provider"], json!({
            "id": "my-custom-provider",
            "provider_id": "my-custom-provider",
            "provider_name": "My Custom Provider",
            "organization_id": env.org_seq
        }));
        assert!(updated.is_json());
        // A read afterwards shows the same model.
        let read = env.app.get("/respan/api/models/my-custom-gpt-4/", env.admin()).await;
        assert_eq!(read.json, updated.json);
        // `model_name` is read-only: sent on an update, it is ignored.
        let renamed = env.app.patch("/respan/api/models/my-custom-gpt-4/", env.admin(),
            json!({"model_name": "renamed", "output_cost": 0.075})).await;
        assert_eq!((renamed.status, renamed.json["model_name"].clone()), (200, json!("my-custom-gpt-4")));
        assert_eq!(env.app.get("/respan/api/models/renamed/", env.admin()).await.status, 404);

        // The seed's error responses.
        let seed_body = json!({"display_name": "My Updated Custom GPT-4", "input_cost": 0.030});
        expect(&env.app.patch("/respan/api/models/gpt-4/", env.admin(), seed_body.clone()).await,
            403, json!({"detail": MODIFY_HARDCODED}));
        expect(&env.app.patch("/respan/api/models/no-such-model/", env.admin(), seed_body.clone()).await,
            404, json!({"detail": "Not found."}));
        expect(&env.app.patch("/respan/api/models/my-custom-gpt-4/", None, seed_body).await,
            401, json!({"detail": "Authentication credentials were not provided."}));
    }

    async fn model_endpoints_answer_respan_shapes(db) {
        let env = env(db).await;
        env.app.post("/respan/api/providers/", env.admin(),
            json!({"provider_id": "azure-east", "provider_name": "Azure East"})).await;
        let created = env.app.post(MODELS, env.admin(), json!({
            "model_name": "enterprise-gpt-4",
            "display_name": "Enterprise GPT-4",
            "base_model_name": "gpt-4",
            "provider_id": "azure-east",
            "model_type": "chat",
            "input_cost": 3,
            "output_cost": 12,
            "cache_hit_input_cost": 0.75,
            "cache_creation_input_cost": 4,
            "max_context_window": 131072,
            "streaming_support": 1,
            "function_call": 1,
            "image_support": 1,
            "supported_params_override": {"temperature": {"type": "number", "min": 0, "max": 1.5}}
        })).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_wire_snapshot!("model_created", redact(&created.json, &["organization_id"]));
        let retrieved = env.app.get(&model_path("enterprise-gpt-4"), env.admin()).await;
        expect(&retrieved, 200, created.json.clone());

        // Create-or-update: the same name again updates the sent fields and answers 200.
        let again = env.app.post(MODELS, env.admin(),
            json!({"model_name": "enterprise-gpt-4", "output_cost": 10})).await;
        assert_eq!(again.status, 200, "{again:?}");
        assert_eq!(again.json["output_cost"], json!(10.0));
        assert_eq!(again.json["input_cost"], json!(3.0));
        assert_eq!(again.json["display_name"], "Enterprise GPT-4");

        // The list: built-in models and the org's, sorted by model_name by default.
        let listed = env.app.get(MODELS, env.admin()).await;
        assert_eq!(listed.status, 200);
        let names: Vec<&str> = listed.json.as_array().unwrap().iter()
            .map(|m| m["model_name"].as_str().unwrap()).collect();
        assert_eq!(names, ["enterprise-gpt-4", "gpt-4", "openai/gpt-4o-mini", "text-embedding-3-small"]);
        assert_wire_snapshot!("model_list", redact(&listed.json, &["organization_id"]));

        // PUT replaces every editable field: what it leaves out is reset (and inherited again).
        let replaced = env.app.put(&model_path("enterprise-gpt-4"), env.admin(), json!({
            "display_name": "Enterprise GPT-4 (replaced)",
            "base_model_name": "gpt-4",
            "input_cost": 2.5,
            "image_support": 0
        })).await;
        assert_eq!(replaced.status, 200, "{replaced:?}");
        assert_wire_snapshot!("model_replaced", redact(&replaced.json, &["organization_id"]));

        let deleted = env.app.delete(&model_path("enterprise-gpt-4"), env.admin()).await;
        assert_eq!(deleted.status, 204);
        assert!(deleted.bytes.is_empty());
        expect(&env.app.get(&model_path("enterprise-gpt-4"), env.admin()).await, 404, json!({"detail": "Not found."}));
        expect(&env.app.delete(&model_path("enterprise-gpt-4"), env.admin()).await, 404, json!({"detail": "Not found."}));
    }

    async fn built_in_models_are_listed_retrievable_and_never_changed(db) {
        let env = env(db).await;
        let path = model_path("openai/gpt-4o-mini");
        let before = env.app.get(&path, env.member()).await;
        assert_eq!(before.status, 200, "{before:?}");
        assert_wire_snapshot!("builtin_model", redact(&before.json, &[]));
        assert_eq!(before.json["source"], "hardcoded");
        assert_eq!(before.json["affiliation_category"], "respan");
        assert_eq!(before.json["provider"], Value::Null);

        for key in [env.admin(), env.member()] {
            expect(&env.app.patch(&path, key, json!({"input_cost": 1})).await, 403, json!({"detail": MODIFY_HARDCODED}));
            expect(&env.app.put(&path, key, json!({"display_name": "x"})).await, 403, json!({"detail": MODIFY_HARDCODED}));
            expect(&env.app.delete(&path, key).await, 403, json!({"detail": DELETE_HARDCODED}));
            // Create-or-update cannot take a built-in name over either.
            expect(&env.app.post(MODELS, key, json!({"model_name": "openai/gpt-4o-mini", "input_cost": 1})).await,
                403, json!({"detail": MODIFY_HARDCODED}));
        }
        // An invalid body aimed at a built-in model is refused as a built-in model first.
        expect(&env.app.patch(&path, env.admin(), json!({"input_cost": -1})).await, 403, json!({"detail": MODIFY_HARDCODED}));
        let after = env.app.get(&path, env.member()).await;
        assert_eq!(after.json, before.json);
    }

    async fn error_rows_of_the_dialect_sheet(db) {
        let env = env(db).await;
        let created = env.app.post(MODELS, env.admin(), json!({"model_name": "shared-model", "input_cost": 1})).await;
        assert_eq!(created.status, 201);
        let path = model_path("shared-model");

        expect(&env.app.get(&path, None).await, 401, json!({"detail": "Authentication credentials were not provided."}));
        expect(&env.app.get(&path, Some("mg_not_a_key")).await, 401, json!({"detail": "Incorrect authentication credentials."}));
        expect(&env.app.get(&model_path("missing"), env.admin()).await, 404, json!({"detail": "Not found."}));

        // A viewer reads the org's model but may not change it, nor create one.
        assert_eq!(env.app.get(&path, env.viewer()).await.status, 200);
        expect(&env.app.patch(&path, env.viewer(), json!({"input_cost": 2})).await, 403, json!({"detail": NO_PERMISSION}));
        expect(&env.app.put(&path, env.viewer(), json!({})).await, 403, json!({"detail": NO_PERMISSION}));
        expect(&env.app.delete(&path, env.viewer()).await, 403, json!({"detail": NO_PERMISSION}));
        expect(&env.app.post(MODELS, env.viewer(), json!({"model_name": "mine"})).await, 403, json!({"detail": NO_PERMISSION}));
        // A member too: the model is the admin's.
        expect(&env.app.patch(&path, env.member(), json!({"input_cost": 2})).await, 403, json!({"detail": NO_PERMISSION}));

        // Invalid fields: DRF field errors, and nothing changes.
        expect(&env.app.patch(&path, env.admin(), json!({"input_cost": -1})).await,
            400, json!({"input_cost": ["Ensure this value is greater than or equal to 0."]}));
        expect(&env.app.patch(&path, env.admin(), json!({
            "output_cost": "cheap", "max_context_window": 0, "streaming_support": 2, "function_call": "yes",
            "cache_hit_input_cost": -0.5, "supported_params_override": [1]
        })).await, 400, json!({
            "output_cost": ["A valid number is required."],
            "cache_hit_input_cost": ["Ensure this value is greater than or equal to 0."],
            "max_context_window": ["Ensure this value is greater than or equal to 1."],
            "streaming_support": ["\"2\" is not a valid choice."],
            "function_call": ["\"yes\" is not a valid choice."],
            "supported_params_override": ["Expected a dictionary of items but got type \"list\"."]
        }));
        expect(&env.app.post(MODELS, env.admin(), json!({"input_cost": 1})).await,
            400, json!({"model_name": ["This field is required."]}));
        expect(&env.app.post(MODELS, env.admin(), json!({"model_name": "  "})).await,
            400, json!({"model_name": ["This field may not be blank."]}));
        expect(&env.app.post(MODELS, env.admin(), json!({"model_name": "x".repeat(257)})).await,
            400, json!({"model_name": ["Ensure this field has no more than 256 characters."]}));
        expect(&env.app.post(MODELS, env.admin(), json!(["not", "an", "object"])).await,
            400, json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}));
        expect(&env.app.send_raw(Method::PATCH, &path, env.admin(), b"{bad json".to_vec()).await,
            400, json!({"detail": "JSON parse error - key must be a string at line 1 column 2"}));
        assert_eq!(env.app.get(&path, env.admin()).await.json["input_cost"], json!(1.0));

        // Bad pages of the filter endpoint (a page after the last one is not bad: it is empty).
        for query in ["page=0", "page=-1", "page=abc", "page=1.5"] {
            expect(&env.app.post(&format!("{MODELS}list/?{query}"), env.admin(), json!({})).await,
                404, json!({"detail": "Invalid page."}));
        }
        // Unknown sort field.
        expect(&env.app.get(&format!("{MODELS}?sort_by=colour"), env.admin()).await,
            400, json!({"sort_by": ["\"colour\" is not a valid field to sort by."]}));
        // A method a path does not take.
        expect(&env.app.send(Method::DELETE, MODELS, env.admin(), None).await,
            405, json!({"detail": "Method \"DELETE\" not allowed."}));
        // Every answer is JSON, even for paths the dialect does not serve.
        expect(&env.app.get("/respan/api/nothing/", env.admin()).await, 404, json!({"detail": "Not found."}));
    }

    async fn another_orgs_models_do_not_exist(db) {
        let env = env(db).await;
        assert_eq!(env.app.post(MODELS, env.other(), json!({"model_name": "acme-secret", "input_cost": 9})).await.status, 201);
        let path = model_path("acme-secret");
        for response in [
            env.app.get(&path, env.admin()).await,
            env.app.patch(&path, env.admin(), json!({"input_cost": 1})).await,
            env.app.put(&path, env.admin(), json!({})).await,
            env.app.delete(&path, env.admin()).await,
        ] {
            expect(&response, 404, json!({"detail": "Not found."}));
        }
        let names: Vec<Value> = env.app.get(MODELS, env.admin()).await.json.as_array().unwrap()
            .iter().map(|m| m["model_name"].clone()).collect();
        assert!(!names.contains(&json!("acme-secret")));
        // The same name is free in this org, and the two models stay apart.
        assert_eq!(env.app.post(MODELS, env.admin(), json!({"model_name": "acme-secret", "input_cost": 1})).await.status, 201);
        assert_eq!(env.app.get(&path, env.other()).await.json["input_cost"], json!(9.0));
    }

    async fn supported_params_override_merges_key_by_key(db) {
        let env = env(db).await;
        env.app.post(MODELS, env.admin(), json!({"model_name": "tuned"})).await;
        let path = model_path("tuned");
        let first = env.app.patch(&path, env.admin(), json!({"supported_params_override": {
            "temperature": {"name": "temperature", "type": "number", "default": 0.7, "min": 0, "max": 1.5},
            "top_p": {"type": "number", "max": 1}
        }})).await;
        assert_eq!(first.status, 200, "{first:?}");
        // A key's new object replaces its old one whole; `null` removes a key; others stay.
        let second = env.app.patch(&path, env.admin(), json!({"supported_params_override": {
            "temperature": {"max": 2},
            "top_p": null,
            "seed": {"type": "integer"}
        }})).await;
        assert_eq!(second.status, 200, "{second:?}");
        assert_eq!(second.json["supported_params_override"], json!({
            "temperature": {"max": 2},
            "seed": {"type": "integer"}
        }));
        // Other fields were not touched by either patch; `null` clears the whole object.
        let cleared = env.app.patch(&path, env.admin(), json!({"supported_params_override": null})).await;
        assert_eq!(cleared.json["supported_params_override"], Value::Null);
    }

    async fn provider_is_referenced_by_id_or_by_slug(db) {
        let env = env(db).await;
        for (slug, name) in [("prov-a", "Provider A"), ("prov-b", "Provider B")] {
            let created = env.app.post("/respan/api/providers/", env.admin(),
                json!({"provider_id": slug, "provider_name": name})).await;
            assert_eq!(created.status, 201);
        }
        let ctx = env.app.db.ctx_for_key(&env.admin);
        let b_id = env.app.db.store.list_providers(&ctx).unwrap()
            .into_iter().find(|p| p.provider_id == "prov-b").unwrap().seq;
        env.app.post(MODELS, env.admin(), json!({"model_name": "routed", "custom_provider_id": "prov-a"})).await;
        let path = model_path("routed");
        assert_eq!(env.app.get(&path, env.admin()).await.json["provider"]["provider_id"], "prov-a");

        let by_id = env.app.patch(&path, env.admin(), json!({"custom_provider_id": b_id})).await;
        assert_eq!(by_id.json["provider"], json!({
            "id": "prov-b", "provider_id": "prov-b", "provider_name": "Provider B", "organization_id": env.org_seq
        }));
        let by_slug = env.app.patch(&path, env.admin(), json!({"custom_provider_id": "prov-a"})).await;
        assert_eq!(by_slug.json["provider"]["provider_id"], "prov-a");
        // `provider_id` is accepted as an alias.
        let by_alias = env.app.patch(&path, env.admin(), json!({"provider_id": "prov-b"})).await;
        assert_eq!(by_alias.json["provider"]["provider_id"], "prov-b");
        // Through core the model points at the provider's integer id.
        let stored = env.app.db.store.get_model(&ctx, &ModelRef::Key("routed".into())).unwrap();
        assert_eq!(stored.model.fields.provider_ref, Some(b_id));

        expect(&env.app.patch(&path, env.admin(), json!({"custom_provider_id": "nope"})).await,
            400, json!({"custom_provider_id": ["Object with provider_id=nope does not exist."]}));
        expect(&env.app.patch(&path, env.admin(), json!({"custom_provider_id": 999_999})).await,
            400, json!({"custom_provider_id": ["Invalid pk \"999999\" - object does not exist."]}));
        expect(&env.app.patch(&path, env.admin(), json!({"provider_id": "nope"})).await,
            400, json!({"provider_id": ["Object with provider_id=nope does not exist."]}));
        // Another org's provider is unknown here.
        env.app.post("/respan/api/providers/", env.other(), json!({"provider_id": "acme-prov", "provider_name": "Acme"})).await;
        expect(&env.app.patch(&path, env.admin(), json!({"custom_provider_id": "acme-prov"})).await,
            400, json!({"custom_provider_id": ["Object with provider_id=acme-prov does not exist."]}));
        assert_eq!(env.app.get(&path, env.admin()).await.json["provider"]["provider_id"], "prov-b");

        let detached = env.app.patch(&path, env.admin(), json!({"custom_provider_id": null})).await;
        assert_eq!(detached.json["provider"], Value::Null);
        // Deleting a provider detaches the models that used it.
        env.app.patch(&path, env.admin(), json!({"custom_provider_id": "prov-a"})).await;
        assert_eq!(env.app.delete("/respan/api/providers/prov-a/", env.admin()).await.status, 204);
        assert_eq!(env.app.get(&path, env.admin()).await.json["provider"], Value::Null);
    }

    async fn names_with_slashes_with_and_without_trailing_slash(db) {
        let env = env(db).await;
        for path in [
            "/respan/api/models/openai/gpt-4o-mini/",
            "/respan/api/models/openai/gpt-4o-mini",
            "/respan/api/models/openai%2Fgpt-4o-mini/",
        ] {
            let response = env.app.get(path, env.admin()).await;
            assert_eq!((response.status, response.json["model_name"].clone()), (200, json!("openai/gpt-4o-mini")), "{path}");
        }
        let created = env.app.post(MODELS, env.admin(), json!({"model_name": "team/llama-3/70b", "input_cost": 1})).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.json["id"], "team/llama-3/70b");
        let patched = env.app.patch("/respan/api/models/team/llama-3/70b", env.admin(), json!({"input_cost": 2})).await;
        assert_eq!((patched.status, patched.json["input_cost"].clone()), (200, json!(2.0)));
        let put = env.app.put("/respan/api/models/team/llama-3/70b/", env.admin(), json!({"input_cost": 3})).await;
        assert_eq!((put.status, put.json["input_cost"].clone()), (200, json!(3.0)));
        // Unicode names travel percent-encoded.
        env.app.post(MODELS, env.admin(), json!({"model_name": "modèle/ünï"})).await;
        assert_eq!(env.app.get("/respan/api/models/mod%C3%A8le/%C3%BCn%C3%AF/", env.admin()).await.json["model_name"], "modèle/ünï");
        // A model may even be called `list`: only POST on that path is the filter endpoint.
        assert_eq!(env.app.post(MODELS, env.admin(), json!({"model_name": "list", "input_cost": 4})).await.status, 201);
        assert_eq!(env.app.get("/respan/api/models/list/", env.admin()).await.json["input_cost"], json!(4.0));
        assert_eq!(env.app.delete("/respan/api/models/list", env.admin()).await.status, 204);
        assert_eq!(env.app.delete("/respan/api/models/team/llama-3/70b/", env.admin()).await.status, 204);
        assert_eq!(env.app.get("/respan/api/models/team/llama-3/70b", env.admin()).await.status, 404);
    }

    async fn custom_models_inherit_unset_fields_from_their_base(db) {
        let env = env(db).await;
        // A chain: leaf → middle (custom) → gpt-4 (built-in).
        env.app.post(MODELS, env.admin(), json!({"model_name": "middle", "base_model_name": "gpt-4",
            "output_cost": 50, "image_support": 1})).await;
        let leaf = env.app.post(MODELS, env.admin(), json!({"model_name": "leaf", "base_model_name": "middle",
            "input_cost": 1})).await;
        assert_eq!(leaf.status, 201);
        let m = &leaf.json;
        assert_eq!((m["input_cost"].clone(), m["output_cost"].clone()), (json!(1.0), json!(50.0)));
        assert_eq!(m["max_context_window"], json!(8192));
        assert_eq!((m["streaming_support"].clone(), m["function_call"].clone(), m["image_support"].clone()), (json!(1), json!(1), json!(1)));
        assert_eq!(m["model_type"], "chat");
        // Never inherited: names and the provider.
        assert_eq!((m["display_name"].clone(), m["provider"].clone()), (Value::Null, Value::Null));
        assert_eq!(m["cache_hit_input_cost"], Value::Null);

        // Setting a field overrides the base; `null` clears it and the base shows again.
        let own = env.app.patch(&model_path("leaf"), env.admin(), json!({"output_cost": 5, "image_support": 0})).await;
        assert_eq!((own.json["output_cost"].clone(), own.json["image_support"].clone()), (json!(5.0), json!(0)));
        let back = env.app.patch(&model_path("leaf"), env.admin(), json!({"output_cost": null, "image_support": null})).await;
        assert_eq!((back.json["output_cost"].clone(), back.json["image_support"].clone()), (json!(50.0), json!(1)));
        // A base's change shows through at once.
        env.app.patch(&model_path("middle"), env.admin(), json!({"output_cost": 40})).await;
        assert_eq!(env.app.get(&model_path("leaf"), env.admin()).await.json["output_cost"], json!(40.0));
        // Inherited values are not stored on the model.
        let ctx = env.app.db.ctx_for_key(&env.admin);
        let stored = env.app.db.store.get_model(&ctx, &ModelRef::Key("leaf".into())).unwrap().model;
        assert_eq!((stored.fields.pricing.output, stored.fields.context_window), (None, None));
        // An unknown base inherits nothing; a cycle ends.
        let orphan = env.app.post(MODELS, env.admin(), json!({"model_name": "orphan", "base_model_name": "nowhere"})).await;
        assert_eq!((orphan.json["max_context_window"].clone(), orphan.json["streaming_support"].clone()), (Value::Null, json!(0)));
        env.app.post(MODELS, env.admin(), json!({"model_name": "ping", "base_model_name": "pong"})).await;
        let pong = env.app.post(MODELS, env.admin(), json!({"model_name": "pong", "base_model_name": "ping", "input_cost": 7})).await;
        assert_eq!(pong.status, 201);
        assert_eq!(env.app.get(&model_path("ping"), env.admin()).await.json["input_cost"], json!(7.0));
        // The list renders inheritance too.
        let listed = env.app.get(MODELS, env.admin()).await;
        let leaf_listed = listed.json.as_array().unwrap().iter().find(|m| m["model_name"] == "leaf").unwrap().clone();
        assert_eq!(leaf_listed, env.app.get(&model_path("leaf"), env.admin()).await.json);
    }

    async fn put_and_patch_leave_other_dialects_fields_alone(db) {
        let env = env(db).await;
        env.app.post(MODELS, env.admin(), json!({"model_name": "shared", "input_cost": 1, "streaming_support": 1})).await;
        let ctx = env.app.db.ctx_for_key(&env.admin);
        let reference = ModelRef::Key("shared".into());
        // Another dialect's data: description, tags, params, a capability Respan does not show.
        let mut caps = modelgate_core::JsonMap::new();
        caps.insert("json_mode".into(), json!(true));
        env.app.db.store.update_model(&ctx, &reference, ModelUpdate::patch(ModelChange {
            description: Some(Some("kept".into())),
            tags: Some(vec!["prod".into()]),
            capabilities: Some(modelgate_core::MapChange::Merge(caps)),
            ..Default::default()
        })).unwrap();
        let put = env.app.put(&model_path("shared"), env.admin(), json!({"display_name": "Shared"})).await;
        assert_eq!(put.status, 200, "{put:?}");
        assert_eq!((put.json["input_cost"].clone(), put.json["streaming_support"].clone()), (Value::Null, json!(0)));
        env.app.patch(&model_path("shared"), env.admin(), json!({"function_call": 1})).await;
        let model = env.app.db.store.get_model(&ctx, &reference).unwrap().model;
        assert_eq!(model.fields.description.as_deref(), Some("kept"));
        assert_eq!(model.fields.tags, vec!["prod".to_owned()]);
        assert_eq!(model.fields.capabilities, Some(match json!({"json_mode": true, "function_calling": true}) {
            Value::Object(m) => m, _ => unreachable!(),
        }));
        assert_eq!(model.fields.display_name.as_deref(), Some("Shared"));
    }

    async fn listing_sorts_and_hides_switched_off_models_unless_all(db) {
        let env = env(db).await;
        for (name, cost) in [("cheap", 0.5), ("pricey", 90.0)] {
            env.app.post(MODELS, env.admin(), json!({"model_name": name, "input_cost": cost})).await;
        }
        let names = |json: &Value| -> Vec<String> {
            json.as_array().unwrap().iter().map(|m| m["model_name"].as_str().unwrap().to_owned()).collect()
        };
        let by_cost = env.app.get(&format!("{MODELS}?sort_by=-input_cost"), env.admin()).await;
        assert_eq!(names(&by_cost.json), ["pricey", "gpt-4", "cheap", "openai/gpt-4o-mini", "text-embedding-3-small"]);
        // Switched off through another dialect: hidden unless `all=true`.
        let ctx = env.app.db.ctx_for_key(&env.admin);
        env.app.db.store.toggle_model(&ctx, &ModelRef::Key("cheap".into())).unwrap();
        assert!(!names(&env.app.get(MODELS, env.admin()).await.json).contains(&"cheap".to_owned()));
        assert!(names(&env.app.get(&format!("{MODELS}?all=true"), env.admin()).await.json).contains(&"cheap".to_owned()));
        // Still retrievable by name.
        assert_eq!(env.app.get(&model_path("cheap"), env.admin()).await.status, 200);
    }

    async fn visibility_follows_the_one_policy(db) {
        let env = env(db).await;
        // An admin's model belongs to the whole org; a member's is the member's (and admins').
        env.app.post(MODELS, env.admin(), json!({"model_name": "org-wide"})).await;
        let own = env.app.post(MODELS, env.member(), json!({"model_name": "alices"})).await;
        assert_eq!(own.status, 201, "{own:?}");
        assert_eq!(env.app.get(&model_path("org-wide"), env.member2()).await.status, 200);
        assert_eq!(env.app.get(&model_path("alices"), env.member2()).await.status, 404);
        assert_eq!(env.app.get(&model_path("alices"), env.admin()).await.status, 200);
        assert_eq!(env.app.patch(&model_path("alices"), env.member(), json!({"input_cost": 1})).await.status, 200);
        // Create-or-update of one's own model updates it: 200.
        let again = env.app.post(MODELS, env.member(), json!({"model_name": "alices", "output_cost": 2})).await;
        assert_eq!((again.status, again.json["input_cost"].clone(), again.json["output_cost"].clone()), (200, json!(1.0), json!(2.0)));
        // The name is taken even where it cannot be seen.
        expect(&env.app.post(MODELS, env.member2(), json!({"model_name": "alices"})).await,
            400, json!({"model_name": ["model with this model name already exists."]}));
        // A member's create-or-update of a visible but foreign model is refused.
        expect(&env.app.post(MODELS, env.member2(), json!({"model_name": "org-wide", "input_cost": 1})).await,
            403, json!({"detail": NO_PERMISSION}));
    }

    async fn filter_endpoint_operators_and_paging(db) {
        let env = env(db).await;
        for body in [
            json!({"model_name": "team/alpha", "input_cost": 1.0, "max_context_window": 4096, "model_type": "chat"}),
            json!({"model_name": "team/beta", "input_cost": 2.5, "max_context_window": 16000}),
            json!({"model_name": "team/gamma", "input_cost": 5.0, "base_model_name": "gpt-4"}),
            json!({"model_name": "solo", "input_cost": 0.5, "image_support": 1}),
        ] {
            assert_eq!(env.app.post(MODELS, env.admin(), body).await.status, 201);
        }
        let list = |query: &'static str, filters: Value| {
            let app = &env.app;
            let key = env.admin.clone();
            async move {
                let response = app.post(&format!("{MODELS}list/{query}"), Some(&key), json!({"filters": filters})).await;
                assert_eq!(response.status, 200, "{response:?}");
                response.json
            }
        };
        let names = |json: &Value| -> Vec<String> {
            json["results"].as_array().unwrap().iter().map(|m| m["model_name"].as_str().unwrap().to_owned()).collect()
        };

        let icontains = list("", json!({"model_name": {"operator": "icontains", "value": ["TEAM/"]}})).await;
        assert_eq!((icontains["count"].clone(), names(&icontains)), (json!(3), vec!["team/alpha".to_owned(), "team/beta".into(), "team/gamma".into()]));
        let gte = list("", json!({"input_cost": {"operator": "gte", "value": [2.5]}})).await;
        assert_eq!(names(&gte), ["gpt-4", "team/beta", "team/gamma"]);
        let equal = list("", json!({"model_name": {"operator": "", "value": ["solo"]}})).await;
        assert_eq!(names(&equal), ["solo"]);
        let any_of = list("", json!({"model_name": {"operator": "", "value": ["solo", "gpt-4"]}})).await;
        assert_eq!(names(&any_of), ["gpt-4", "solo"]);
        let within = list("", json!({"model_name": {"operator": "in", "value": ["solo", "team/alpha", "nope"]}})).await;
        assert_eq!(names(&within), ["solo", "team/alpha"]);
        let combined = list("?sort_by=-input_cost", json!({
            "source": {"operator": "", "value": ["db"]},
            "input_cost": {"operator": "lt", "value": [3]}
        })).await;
        assert_eq!(names(&combined), ["team/beta", "team/alpha", "solo"]);
        assert_eq!(combined["current_filters"], json!({
            "source": {"operator": "", "value": ["db"]},
            "input_cost": {"operator": "lt", "value": [3]}
        }));
        let vision = list("", json!({"image_support": {"operator": "", "value": [1]}})).await;
        assert_eq!(names(&vision), ["openai/gpt-4o-mini", "solo"]);
        let chat = list("", json!({"model_type": {"operator": "", "value": ["chat"]}, "affiliation_category": {"operator": "", "value": ["custom"]}})).await;
        assert_eq!(names(&chat), ["team/alpha"]);
        let prefixed = list("", json!({"model_name": {"operator": "startswith", "value": ["openai/"]}})).await;
        assert_eq!(names(&prefixed), ["openai/gpt-4o-mini"]);
        let no_base = list("", json!({"base_model_name": {"operator": "isnull", "value": [false]}})).await;
        assert_eq!(names(&no_base), ["team/gamma"]);
        let excluded = list("", json!({"source": {"operator": "not", "value": ["db"]}})).await;
        assert_eq!(excluded["count"], json!(3));

        // Paging: absolute links built from the request, `page` dropped for page 1.
        let first = list("?page_size=2&sort_by=model_name", json!({"source": {"operator": "", "value": ["db"]}})).await;
        assert_wire_snapshot!("model_filter_page", redact(&first, &["organization_id"]));
        assert_eq!(first["count"], json!(4));
        assert_eq!(first["next"], "http://localhost:8080/respan/api/models/list/?page=2&page_size=2&sort_by=model_name");
        assert_eq!(first["previous"], Value::Null);
        let second = list("?page=2&page_size=2&sort_by=model_name", json!({"source": {"operator": "", "value": ["db"]}})).await;
        assert_eq!(names(&second), ["team/beta", "team/gamma"]);
        assert_eq!(second["next"], Value::Null);
        assert_eq!(second["previous"], "http://localhost:8080/respan/api/models/list/?page_size=2&sort_by=model_name");
        let last = list("?page=last&page_size=3", json!({})).await;
        assert_eq!(names(&last), ["text-embedding-3-small"]);
        assert_eq!(last["previous"], "http://localhost:8080/respan/api/models/list/?page=2&page_size=3");
        // After the last page: an empty page pointing back at the last one (Respan's client
        // pages until it receives an empty page).
        expect(&env.app.post(&format!("{MODELS}list/?page=3&page_size=2&sort_by=model_name"), env.admin(),
            json!({"filters": {"source": {"operator": "", "value": ["db"]}}})).await,
            200, json!({
                "count": 4, "next": null,
                "previous": "http://localhost:8080/respan/api/models/list/?page=2&page_size=2&sort_by=model_name",
                "results": [], "current_filters": {"source": {"operator": "", "value": ["db"]}}
            }));
        let far = list("?page=40&page_size=2", json!({"source": {"operator": "", "value": ["db"]}})).await;
        assert_eq!((far["results"].clone(), far["previous"].clone()),
            (json!([]), json!("http://localhost:8080/respan/api/models/list/?page=2&page_size=2")));
        let farthest = list("?page=9223372036854775807&page_size=100", json!({})).await;
        assert_eq!((farthest["count"].clone(), farthest["results"].clone(), farthest["next"].clone(), farthest["previous"].clone()),
            (json!(7), json!([]), Value::Null, json!("http://localhost:8080/respan/api/models/list/?page_size=100")));
        // No filters, empty body: everything, the first page.
        let all = env.app.send(Method::POST, &format!("{MODELS}list/"), env.admin(), None).await;
        assert_eq!((all.status, all.json["count"].clone(), all.json["current_filters"].clone()), (200, json!(7), json!({})));

        // Unknown fields and operators, and bad values, are field errors.
        expect(&env.app.post(&format!("{MODELS}list/"), env.admin(), json!({"filters": {
            "colour": {"operator": "", "value": ["red"]},
            "input_cost": {"operator": "near", "value": [1]},
            "max_context_window": {"operator": "gte", "value": ["big"]},
            "image_support": {"operator": "icontains", "value": [1]}
        }})).await, 400, json!({"filters": {
            "colour": ["\"colour\" is not a valid filter field."],
            "input_cost": {"operator": ["\"near\" is not a valid choice."]},
            "max_context_window": {"value": ["A valid integer is required."]},
            "image_support": {"operator": ["\"icontains\" is not a valid choice."]}
        }}));
        expect(&env.app.post(&format!("{MODELS}list/"), env.admin(), json!({"filters": [1]})).await,
            400, json!({"filters": ["Expected a dictionary of items but got type \"list\"."]}));
    }

    async fn the_dialect_serves_its_own_listener_root(db) {
        let env = env_at(db, "").await;
        let created = env.app.post("/api/models/", env.admin(), json!({"model_name": "root-model", "input_cost": 1})).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(env.app.get("/api/models/root-model/", env.admin()).await.json["input_cost"], json!(1.0));
        assert_eq!(env.app.get("/api/models", env.admin()).await.json.as_array().unwrap().len(), 4);
        let page = env.app.post("/api/models/list/?page_size=1", env.admin(), json!({})).await;
        assert_eq!(page.json["next"], "http://localhost:8080/api/models/list/?page=2&page_size=1");
        assert_eq!(env.app.post("/api/providers/", env.admin(), json!({"provider_id": "p", "provider_name": "P"})).await.status, 201);
        expect(&env.app.get("/api/elsewhere", env.admin()).await, 404, json!({"detail": "Not found."}));
    }

    async fn summary_counts_what_the_filter_lists(db) {
        let env = env(db).await;
        let summary = format!("{MODELS}summary/");
        env.app.post("/respan/api/providers/", env.admin(), json!({"provider_id": "prov-s", "provider_name": "S"})).await;
        // An admin's models are org-wide; the member's private one only counts for the member and admins.
        for body in [
            json!({"model_name": "team/chat-a", "model_type": "chat", "input_cost": 1, "custom_provider_id": "prov-s"}),
            json!({"model_name": "team/embed-b", "model_type": "embedding", "input_cost": 4}),
        ] {
            assert_eq!(env.app.post(MODELS, env.admin(), body).await.status, 201);
        }
        assert_eq!(env.app.post(MODELS, env.member(), json!({"model_name": "alice/private", "model_type": "chat"})).await.status, 201);
        assert_eq!(env.app.post(MODELS, env.other(), json!({"model_name": "acme/secret", "model_type": "chat"})).await.status, 201);

        let everything = env.app.post(&summary, env.admin(), json!({})).await;
        assert_eq!(everything.status, 200, "{everything:?}");
        assert_wire_snapshot!("model_summary", &everything.json);
        assert_eq!(everything.json, json!({"summary": {"total_count": 6, "global_count": 3, "custom_count": 3}}));
        // No body and `"filters": null` are no filter either.
        for response in [
            env.app.send(Method::POST, &summary, env.admin(), None).await,
            env.app.post(&summary, env.admin(), json!({"filters": null})).await,
            env.app.post(&summary, env.admin(), json!({"filters": {}})).await,
            env.app.post("/respan/api/models/summary", env.admin(), json!({})).await,
        ] {
            expect(&response, 200, everything.json.clone());
        }
        // Who counts what: the caller's readable models only; another org's never.
        for (who, expected) in [
            (env.member(), json!({"total_count": 6, "global_count": 3, "custom_count": 3})),
            (env.member2(), json!({"total_count": 5, "global_count": 3, "custom_count": 2})),
            (env.viewer(), json!({"total_count": 5, "global_count": 3, "custom_count": 2})),
            (env.other(), json!({"total_count": 4, "global_count": 3, "custom_count": 1})),
        ] {
            expect(&env.app.post(&summary, who, json!({})).await, 200, json!({"summary": expected}));
        }

        // The filter syntax of /list/, and the same numbers as its `count`.
        for filters in [
            json!({"model_type": {"operator": "", "value": ["chat"]}}),
            json!({"model_name": {"operator": "icontains", "value": ["team/"]}}),
            json!({"input_cost": {"operator": "gte", "value": [1]}}),
            json!({"affiliation_category": {"operator": "", "value": ["respan"]}}),
            json!({"provider_id": {"operator": "", "value": ["prov-s"]}}),
            json!({"model_name": [{"operator": "startswith", "value": ["team"]}, {"operator": "endswith", "value": ["b"]}]}),
        ] {
            let body = json!({"filters": filters});
            let counted = env.app.post(&summary, env.admin(), body.clone()).await;
            let listed = env.app.post(&format!("{MODELS}list/"), env.admin(), body.clone()).await;
            let builtin = listed.json["results"].as_array().unwrap().iter().filter(|m| m["source"] == "hardcoded").count();
            assert_eq!(counted.json["summary"]["total_count"], listed.json["count"], "{body}");
            assert_eq!(counted.json["summary"]["global_count"], json!(builtin), "{body}");
        }
        expect(&env.app.post(&summary, env.admin(), json!({"filters": {"model_type": {"operator": "", "value": ["chat"]}}})).await,
            200, json!({"summary": {"total_count": 4, "global_count": 2, "custom_count": 2}}));

        // A model switched off elsewhere is left out unless `all=true`.
        env.app.db.store.toggle_model(&env.admin_ctx, &ModelRef::Key("team/embed-b".into())).unwrap();
        expect(&env.app.post(&summary, env.admin(), json!({})).await,
            200, json!({"summary": {"total_count": 5, "global_count": 3, "custom_count": 2}}));
        expect(&env.app.post(&format!("{summary}?all=true"), env.admin(), json!({})).await,
            200, json!({"summary": {"total_count": 6, "global_count": 3, "custom_count": 3}}));
    }

    async fn summary_errors_are_the_filters_errors(db) {
        let env = env(db).await;
        let summary = format!("{MODELS}summary/");
        expect(&env.app.post(&summary, env.admin(), json!({"filters": {
            "colour": {"operator": "", "value": ["red"]},
            "input_cost": {"operator": "near", "value": [1]},
            "max_context_window": {"operator": "gte", "value": ["big"]},
            "image_support": {"operator": "icontains", "value": [1]}
        }})).await, 400, json!({"filters": {
            "colour": ["\"colour\" is not a valid filter field."],
            "input_cost": {"operator": ["\"near\" is not a valid choice."]},
            "max_context_window": {"value": ["A valid integer is required."]},
            "image_support": {"operator": ["\"icontains\" is not a valid choice."]}
        }}));
        expect(&env.app.post(&summary, env.admin(), json!({"filters": [1]})).await,
            400, json!({"filters": ["Expected a dictionary of items but got type \"list\"."]}));
        expect(&env.app.post(&summary, env.admin(), json!({"filters": {"model_name": {"operator": "", "value": []}}})).await,
            400, json!({"filters": {"model_name": {"value": ["This list may not be empty."]}}}));
        expect(&env.app.post(&summary, env.admin(), json!(["not", "an", "object"])).await,
            400, json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}));
        expect(&env.app.send_raw(Method::POST, &summary, env.admin(), b"{bad json".to_vec()).await,
            400, json!({"detail": "JSON parse error - key must be a string at line 1 column 2"}));
        expect(&env.app.post(&summary, None, json!({})).await,
            401, json!({"detail": "Authentication credentials were not provided."}));
        expect(&env.app.post(&summary, Some("mg_not_a_key"), json!({})).await,
            401, json!({"detail": "Incorrect authentication credentials."}));
        // Viewers may count (it is a read).
        assert_eq!(env.app.post(&summary, env.viewer(), json!({})).await.status, 200);
    }

    async fn a_model_called_summary_keeps_its_routes(db) {
        let env = env(db).await;
        let created = env.app.post(MODELS, env.admin(), json!({"model_name": "summary", "input_cost": 1})).await;
        assert_eq!(created.status, 201, "{created:?}");
        for path in ["/respan/api/models/summary/", "/respan/api/models/summary"] {
            let read = env.app.get(path, env.admin()).await;
            assert_eq!((read.status, read.json["model_name"].clone()), (200, json!("summary")), "{path}");
            let patched = env.app.patch(path, env.admin(), json!({"output_cost": 2})).await;
            assert_eq!((patched.status, patched.json["output_cost"].clone()), (200, json!(2.0)), "{path}");
            // POST counts (the model itself among the custom ones).
            expect(&env.app.post(path, env.admin(), json!({"filters": {"model_name": {"value": "summary"}}})).await,
                200, json!({"summary": {"total_count": 1, "global_count": 0, "custom_count": 1}}));
        }
        expect(&env.app.put("/respan/api/models/summary/", env.viewer(), json!({})).await, 403, json!({"detail": NO_PERMISSION}));
        expect(&env.app.send(Method::OPTIONS, "/respan/api/models/summary/", env.admin(), None).await,
            405, json!({"detail": "Method \"OPTIONS\" not allowed."}));
        assert_eq!(env.app.delete("/respan/api/models/summary/", env.admin()).await.status, 204);
        expect(&env.app.get("/respan/api/models/summary/", env.admin()).await, 404, json!({"detail": "Not found."}));
    }

    async fn the_public_catalog_needs_no_key(db) {
        let env = env(db).await;
        // Custom models (the caller's org or another's) never appear.
        assert_eq!(env.app.post(MODELS, env.admin(), json!({"model_name": "org/custom", "input_cost": 1})).await.status, 201);
        assert_eq!(env.app.post(MODELS, env.other(), json!({"model_name": "acme/custom"})).await.status, 201);
        let public = env.app.get("/respan/api/models/public/", None).await;
        assert_eq!(public.status, 200, "{public:?}");
        assert_wire_snapshot!("public_catalog", &public.json);
        assert_eq!(public.json["models"].as_array().unwrap().len(), 3);
        assert_eq!(public.json["models"][1], json!({
            "model_name": "openai/gpt-4o-mini", "max_context_window": 128000, "input_cost": 0.15, "output_cost": 0.6,
            "provider": {"provider_id": "openai", "provider_name": "OpenAI"}
        }));
        // `unnest=true`: the bare array.
        let unnested = env.app.get("/respan/api/models/public/?unnest=true", None).await;
        assert_eq!((unnested.status, &unnested.json), (200, &public.json["models"]));
        for query in ["?unnest=True", "?unnest=1"] {
            assert_eq!(env.app.get(&format!("/respan/api/models/public/{query}"), None).await.json, public.json["models"], "{query}");
        }
        for query in ["?unnest=false", "?unnest=0", "?unnest=", ""] {
            assert_eq!(env.app.get(&format!("/respan/api/models/public/{query}"), None).await.json, public.json, "{query}");
        }
        // Whoever asks, with a key or a bad one, reads the same.
        for key in [env.admin(), env.member(), env.viewer(), env.other(), Some("mg_not_a_key")] {
            expect(&env.app.get("/respan/api/models/public/", key).await, 200, public.json.clone());
        }
        expect(&env.app.get("/respan/api/models/public", None).await, 200, public.json.clone());
        expect(&env.app.post("/respan/api/models/public/", env.admin(), json!({})).await,
            405, json!({"detail": "Method \"POST\" not allowed."}));
    }

    async fn a_model_called_public_is_changed_but_not_read_by_name(db) {
        let env = env(db).await;
        let created = env.app.post(MODELS, env.admin(), json!({"model_name": "public", "input_cost": 1})).await;
        assert_eq!(created.status, 201, "{created:?}");
        let path = "/respan/api/models/public/";
        // GET is the catalog.
        let read = env.app.get(path, env.admin()).await;
        assert_eq!((read.status, read.json["models"].as_array().map(Vec::len)), (200, Some(3)));
        let patched = env.app.patch(path, env.admin(), json!({"output_cost": 2})).await;
        assert_eq!((patched.status, patched.json["model_name"].clone(), patched.json["output_cost"].clone()), (200, json!("public"), json!(2.0)));
        let put = env.app.put(path, env.admin(), json!({"input_cost": 3})).await;
        assert_eq!((put.status, put.json["input_cost"].clone()), (200, json!(3.0)));
        // It is still listed and filterable.
        let listed = env.app.post(&format!("{MODELS}list/"), env.admin(), json!({"filters": {"model_name": {"value": "public"}}})).await;
        assert_eq!(listed.json["results"][0]["input_cost"], json!(3.0));
        expect(&env.app.patch(path, None, json!({})).await, 401, json!({"detail": "Authentication credentials were not provided."}));
        expect(&env.app.delete(path, env.viewer()).await, 403, json!({"detail": NO_PERMISSION}));
        assert_eq!(env.app.delete(path, env.admin()).await.status, 204);
        expect(&env.app.delete(path, env.admin()).await, 404, json!({"detail": "Not found."}));
    }

    async fn status_metrics_are_not_served(db) {
        let env = env(db).await;
        // `/api/models/{name}/status/` is read as the model called `{name}/status`.
        expect(&env.app.get("/respan/api/models/gpt-4/status/?start_time=2025-01-01T00:00:00Z&end_time=2025-01-02T00:00:00Z", env.admin()).await,
            404, json!({"detail": "Not found."}));
        expect(&env.app.post("/respan/api/models/gpt-4/status/", env.admin(), json!({"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-02T00:00:00Z"})).await,
            405, json!({"detail": "Method \"POST\" not allowed."}));
    }
}
