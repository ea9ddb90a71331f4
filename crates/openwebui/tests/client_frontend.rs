//! Open WebUI's current frontend model client (`src/lib/apis/models/index.ts`), replayed call by
//! call: each request has the method, path, query, headers and body that client function sends,
//! under `/openwebui/api/v1/models`, and each answer is checked for every field the admin
//! Settings → Models page and the workspace Models page read, with its JSON type. The client
//! calls `res.json()` on errors too, so every error must be JSON with a `detail`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use actix_web::test::TestRequest;
use common::{V1, World, detail, world};
use modelgate_core::{CatalogModel, ModelChange, ModelRef, Registry};
use modelgate_testkit::{TestApp, TestResponse, assert_wire_snapshot, backend_app_tests, redact};
use serde_json::{Map, Value, json};
use url::form_urlencoded::Serializer;

// ---- the client's URLs, built as `URLSearchParams` builds them ----

fn search_params(pairs: &[(&str, &str)]) -> String {
    let mut params = Serializer::new(String::new());
    for (key, value) in pairs {
        params.append_pair(key, value);
    }
    params.finish()
}

/// `exportModels(token, ids?)`: no `?` without ids; no request at all for an empty list.
fn export_url(ids: Option<&[&str]>) -> Option<String> {
    match ids {
        None => Some("/export".into()),
        Some([]) => None,
        Some(ids) => {
            let pairs: Vec<(&str, &str)> = ids.iter().map(|id| ("ids", *id)).collect();
            Some(format!("/export?{}", search_params(&pairs)))
        }
    }
}

/// `getModelItems(token, query, viewOption, selectedTag, orderBy, direction, page)`: only the
/// truthy ones, always after a `?`.
fn list_url(
    query: &str,
    view: &str,
    tag: &str,
    order_by: &str,
    direction: &str,
    page: u32,
) -> String {
    let page = if page == 0 { String::new() } else { page.to_string() };
    let named = [
        ("query", query),
        ("view_option", view),
        ("tag", tag),
        ("order_by", order_by),
        ("direction", direction),
        ("page", page.as_str()),
    ];
    let sent: Vec<(&str, &str)> = named.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    format!("/list?{}", search_params(&sent))
}

/// `getBaseModels(token, tag = '')`.
fn base_url(tag: &str) -> String {
    let sent: Vec<(&str, &str)> =
        [("tag", tag)].into_iter().filter(|(_, v)| !v.is_empty()).collect();
    format!("/base?{}", search_params(&sent))
}

fn id_url(path: &str, id: &str) -> String {
    format!("{path}?{}", search_params(&[("id", id)]))
}

#[test]
fn urls_are_the_ones_the_client_builds() {
    assert_eq!(list_url("", "", "", "", "", 0), "/list?");
    assert_eq!(list_url("", "", "", "", "", 1), "/list?page=1");
    assert_eq!(
        list_url("team a", "created", "x", "updated_at", "asc", 2),
        "/list?query=team+a&view_option=created&tag=x&order_by=updated_at&direction=asc&page=2"
    );
    assert_eq!(base_url(""), "/base?");
    assert_eq!(base_url("x"), "/base?tag=x");
    assert_eq!(export_url(None).as_deref(), Some("/export"));
    assert_eq!(export_url(Some(&[])), None);
    assert_eq!(export_url(Some(&["a/b", "c"])).as_deref(), Some("/export?ids=a%2Fb&ids=c"));
    assert_eq!(id_url("/model", "a/b"), "/model?id=a%2Fb");
}

// ---- the client ----

/// Which headers a client function sends besides `authorization`.
#[derive(Clone, Copy)]
enum Headers {
    /// `Accept` and `Content-Type: application/json` (most functions).
    Json,
    /// `getAllModels`.
    AcceptOnly,
    /// `importModels`.
    ContentTypeOnly,
    /// `exportModels`.
    AuthOnly,
}

struct Client<'a> {
    app: &'a TestApp,
    token: &'a str,
}

/// `{ id, base_model_id, … } = model` then `JSON.stringify`: keys the object lacks are dropped.
fn pick(model: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|k| model.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect()
}

impl Client<'_> {
    async fn fetch(
        &self,
        method: Method,
        path: &str,
        headers: Headers,
        body: Option<Value>,
    ) -> TestResponse {
        let url = format!("{V1}{path}");
        let mut request = TestRequest::default()
            .method(method.clone())
            .uri(&url)
            .insert_header(("authorization", format!("Bearer {}", self.token)));
        if matches!(headers, Headers::Json | Headers::AcceptOnly) {
            request = request.insert_header(("Accept", "application/json"));
        }
        if matches!(headers, Headers::Json | Headers::ContentTypeOnly) {
            request = request.insert_header(("Content-Type", "application/json"));
        }
        if let Some(body) = body {
            request = request.set_payload(serde_json::to_vec(&body).unwrap());
        }
        let response = self.app.call(request).await;
        // `throw await res.json()`: errors must parse as JSON too, and carry a detail.
        assert!(response.is_json(), "{method} {url}: {response:?}");
        if response.status >= 400 {
            let detail = &response.json["detail"];
            assert!(detail.is_string() || detail.is_array(), "{method} {url}: {response:?}");
        }
        response
    }

    async fn export_models(&self, ids: Option<&[&str]>) -> Option<TestResponse> {
        let url = export_url(ids)?;
        Some(self.fetch(Method::GET, &url, Headers::AuthOnly, None).await)
    }

    async fn get_model_items(
        &self,
        query: &str,
        view: &str,
        tag: &str,
        order_by: &str,
        direction: &str,
        page: u32,
    ) -> TestResponse {
        let url = list_url(query, view, tag, order_by, direction, page);
        self.fetch(Method::GET, &url, Headers::Json, None).await
    }

    async fn get_model_tags(&self) -> TestResponse {
        self.fetch(Method::GET, "/tags", Headers::Json, None).await
    }

    async fn get_base_model_tags(&self) -> TestResponse {
        self.fetch(Method::GET, "/base/tags", Headers::Json, None).await
    }

    async fn import_models(&self, models: Value) -> TestResponse {
        self.fetch(
            Method::POST,
            "/import",
            Headers::ContentTypeOnly,
            Some(json!({ "models": models })),
        )
        .await
    }

    async fn get_all_models(&self) -> TestResponse {
        self.fetch(Method::GET, "/all", Headers::AcceptOnly, None).await
    }

    async fn get_base_models(&self, tag: &str) -> TestResponse {
        self.fetch(Method::GET, &base_url(tag), Headers::Json, None).await
    }

    async fn create_new_model(&self, model: &Value) -> TestResponse {
        let keys = ["id", "base_model_id", "name", "meta", "params", "access_grants", "is_active"];
        let body = Value::Object(pick(model, &keys));
        self.fetch(Method::POST, "/create", Headers::Json, Some(body)).await
    }

    async fn get_model_by_id(&self, id: &str) -> TestResponse {
        self.fetch(Method::GET, &id_url("/model", id), Headers::Json, None).await
    }

    async fn toggle_model_by_id(&self, id: &str) -> TestResponse {
        self.fetch(Method::POST, &id_url("/model/toggle", id), Headers::Json, None).await
    }

    /// The id comes from the argument, never from the model object, and travels in the body only.
    async fn update_model_by_id(&self, id: &str, model: &Value) -> TestResponse {
        let mut body = Map::new();
        body.insert("id".into(), json!(id));
        body.extend(pick(
            model,
            &["base_model_id", "name", "meta", "params", "access_grants", "is_active"],
        ));
        self.fetch(Method::POST, "/model/update", Headers::Json, Some(Value::Object(body))).await
    }

    async fn update_model_access_grants(
        &self,
        id: &str,
        name: &str,
        grants: Value,
    ) -> TestResponse {
        let body = json!({"id": id, "name": name, "access_grants": grants});
        self.fetch(Method::POST, "/model/access/update", Headers::Json, Some(body)).await
    }

    async fn delete_model_by_id(&self, id: &str) -> TestResponse {
        self.fetch(Method::POST, "/model/delete", Headers::Json, Some(json!({ "id": id }))).await
    }

    async fn delete_all_models(&self) -> TestResponse {
        self.fetch(Method::DELETE, "/delete/all", Headers::Json, None).await
    }
}

impl World {
    fn client<'a>(&'a self, token: &'a str) -> Client<'a> {
        Client { app: &self.app, token }
    }
}

// ---- what the pages read ----

fn is_int(value: &Value) -> bool {
    value.is_i64() || value.is_u64()
}

/// A `ModelModel` with every field the pages read, typed as they use it.
fn check_model(model: &Value) {
    let ctx = || format!("{model:#}");
    assert!(model["id"].is_string(), "id: {}", ctx());
    assert!(model["user_id"].is_string(), "user_id: {}", ctx());
    assert!(
        model["base_model_id"].is_string() || model["base_model_id"].is_null(),
        "base_model_id: {}",
        ctx()
    );
    assert!(model["name"].is_string(), "name: {}", ctx());
    assert!(model["params"].is_object(), "params: {}", ctx());
    let meta = &model["meta"];
    assert!(meta.is_object(), "meta: {}", ctx());
    // `meta.hidden` is read with `?? false`: absent or a boolean.
    assert!(meta.get("hidden").is_none_or(Value::is_boolean), "meta.hidden: {}", ctx());
    assert!(
        meta["description"].is_string() || meta["description"].is_null(),
        "meta.description: {}",
        ctx()
    );
    if let Some(tags) = meta.get("tags") {
        assert!(
            tags.as_array().unwrap().iter().all(|t| t["name"].is_string()),
            "meta.tags: {}",
            ctx()
        );
    }
    for grant in model["access_grants"].as_array().expect("access_grants is a list") {
        for key in ["principal_type", "principal_id", "permission"] {
            assert!(grant[key].is_string(), "access_grants[].{key}: {}", ctx());
        }
    }
    assert!(model["is_active"].is_boolean(), "is_active: {}", ctx());
    assert!(is_int(&model["created_at"]) && is_int(&model["updated_at"]), "timestamps: {}", ctx());
}

/// A `ModelAccessResponse`: a model and the caller's `write_access`.
fn check_model_with_access(model: &Value) {
    check_model(model);
    assert!(model["write_access"].is_boolean(), "write_access: {model:#}");
}

fn check_models(list: &Value) {
    list.as_array().expect("a list of models").iter().for_each(check_model);
}

fn ids(list: &Value) -> Vec<&str> {
    let items = list.get("items").unwrap_or(list);
    items.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect()
}

fn is_public(model: &Value) -> bool {
    model["access_grants"].as_array().unwrap().iter().any(|g| {
        g["principal_type"] == "user" && g["principal_id"] == "*" && g["permission"] == "read"
    })
}

fn refused(response: &TestResponse, status: u16, message: &str) {
    assert_eq!((response.status, &response.json), (status, &detail(message)), "{response:?}");
}

// ---- set-up ----

fn catalog_entry(key: &str, name: &str, tags: &[&str]) -> CatalogModel {
    CatalogModel {
        key: key.into(),
        change: ModelChange {
            display_name: Some(Some(name.into())),
            description: Some(Some(format!("{name}, built in."))),
            tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
            ..Default::default()
        },
    }
}

/// The common world plus a catalog of three base models, two of them tagged `chat`.
async fn setup(db: modelgate_testkit::TestDb) -> World {
    let w = world(db).await;
    w.app
        .db
        .store
        .sync_catalog(vec![
            catalog_entry("gpt-4o", "GPT-4o", &["openai", "chat"]),
            catalog_entry("claude-3-5-sonnet", "Claude 3.5 Sonnet", &["chat", "anthropic"]),
            catalog_entry("text-embedding-3-small", "Embedding", &[]),
        ])
        .unwrap();
    w
}

/// A model as the workspace editor submits it (more keys than `createNewModel` picks).
fn editor_model(id: &str, name: &str, tags: &[&str]) -> Value {
    let tags: Vec<Value> = tags.iter().map(|t| json!({ "name": t })).collect();
    json!({
        "id": id,
        "base_model_id": "gpt-4o",
        "name": name,
        "meta": {"profile_image_url": "/static/favicon.png", "description": format!("{name} helps."),
                 "capabilities": {"vision": false}, "tags": tags, "suggestion_prompts": null},
        "params": {"system": "Be brief."},
        "access_grants": [],
        "is_active": true,
        // Not picked by the client: must never reach the server.
        "write_access": true,
        "user": {"name": "Alice"},
        "preset": true
    })
}

const PUBLIC: &str = r#"[{"principal_type": "user", "principal_id": "*", "permission": "read"}]"#;

fn public_grants() -> Value {
    serde_json::from_str(PUBLIC).unwrap()
}

backend_app_tests! {
    // Admin Settings → Models, in the page's order: init (base tags, then base models for the
    // selected tag), a toggle of a connection model without a record, sharing it, importing,
    // and "Reset All Models".
    async fn admin_settings_models_page(db) {
        let w = setup(db).await;
        let admin = w.client(&w.admin);

        // init(): tags first, then the base models of the selected tag (none selected: `/base?`).
        let tags = admin.get_base_model_tags().await;
        assert_eq!((tags.status, &tags.json), (200, &json!(["anthropic", "chat", "openai"])));
        let base = admin.get_base_models("").await;
        assert_eq!(base.status, 200);
        check_models(&base.json);
        assert_eq!(ids(&base.json), ["claude-3-5-sonnet", "gpt-4o", "text-embedding-3-small"]);
        // Picking a tag from the list: `/base?tag=chat`.
        let chat = admin.get_base_models("chat").await;
        assert_eq!(ids(&chat.json), ["claude-3-5-sonnet", "gpt-4o"]);
        assert!(chat.json.as_array().unwrap().iter().all(|m| m["is_active"] == true && is_public(m)));

        // toggleModelHandler on a connection model with no record: createNewModel.
        let created = admin.create_new_model(&json!({
            "id": "ollama/llama3:8b", "name": "llama3:8b", "base_model_id": null,
            "meta": {}, "params": {}, "access_grants": [], "is_active": false
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        check_model(&created.json);
        assert_eq!((created.json["is_active"].clone(), created.json["base_model_id"].clone()), (json!(false), Value::Null));

        // toggleModelPrivacyHandler: make it public, then read `res.access_grants`.
        let shared = admin.update_model_access_grants("ollama/llama3:8b", "llama3:8b", public_grants()).await;
        assert_eq!(shared.status, 200, "{shared:?}");
        check_model(&shared.json);
        assert!(is_public(&shared.json));
        // Catalog models are read-only: toggling one is refused in JSON.
        refused(&admin.toggle_model_by_id("gpt-4o").await, 401, "Unauthorized");

        // Import (the page shows `e?.detail` on failure).
        let imported = admin.import_models(json!([
            {"id": "imported/one", "name": "One", "meta": {"tags": [{"name": "imp"}]}, "params": {}},
            {"id": "imported/two", "name": "Two", "meta": {}, "params": {}, "is_active": false}
        ])).await;
        assert_eq!((imported.status, &imported.json), (200, &json!(true)));

        // Reset All Models: every custom model goes, the base models stay.
        let reset = admin.delete_all_models().await;
        assert_eq!((reset.status, &reset.json), (200, &json!(true)));
        assert_eq!(ids(&admin.get_base_models("").await.json).len(), 3);
        let left = admin.get_model_items("", "", "", "", "", 0).await;
        assert_eq!((ids(&left.json).len(), left.json["total"].clone()), (0, json!(0)));
    }

    // The workspace Models page of a member: create, list, tags, open, edit, toggle, share,
    // export the selected ones, import them back, delete.
    async fn workspace_models_page(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);

        for (id, name, tags) in [("a/b", "Alpha", &["team"][..]), ("c", "Gamma", &["team", "docs"][..]), ("d", "Delta", &[][..])] {
            let created = alice.create_new_model(&editor_model(id, name, tags)).await;
            assert_eq!(created.status, 200, "{created:?}");
            check_model(&created.json);
            assert_eq!(created.json.get("write_access"), None, "not picked, not stored");
        }

        // Page load: items of page 1, then the tag filter's options.
        let items = alice.get_model_items("", "", "", "", "", 1).await;
        assert_eq!(items.status, 200);
        assert!(is_int(&items.json["total"]));
        assert_eq!(items.json["total"], 3);
        items.json["items"].as_array().unwrap().iter().for_each(check_model_with_access);
        assert_eq!(ids(&items.json), ["d", "c", "a/b"]);
        let tags = alice.get_model_tags().await;
        assert_eq!((tags.status, &tags.json), (200, &json!(["docs", "team"])));
        let filtered = alice.get_model_items("a", "created", "team", "name", "asc", 1).await;
        assert_eq!((ids(&filtered.json), filtered.json["total"].clone()), (vec!["a/b", "c"], json!(2)));

        // Open the editor, save it without `is_active` (a partial object): the state is kept.
        let opened = alice.get_model_by_id("a/b").await;
        assert_eq!(opened.status, 200);
        check_model_with_access(&opened.json);
        assert_eq!(opened.json["write_access"], true);
        let toggled = alice.toggle_model_by_id("a/b").await;
        assert_eq!((toggled.status, toggled.json["is_active"].clone()), (200, json!(false)));
        check_model(&toggled.json);
        let mut edited = opened.json.clone();
        edited["name"] = json!("Alpha v2");
        edited.as_object_mut().unwrap().remove("is_active");
        let updated = alice.update_model_by_id("a/b", &edited).await;
        assert_eq!(updated.status, 200, "{updated:?}");
        check_model(&updated.json);
        assert_eq!((updated.json["name"].clone(), updated.json["is_active"].clone()), (json!("Alpha v2"), json!(false)));

        // Share with the developers group.
        let grants = json!([{"principal_type": "group", "principal_id": "developers", "permission": "read"}]);
        let shared = alice.update_model_access_grants("c", "Gamma", grants).await;
        assert_eq!(shared.status, 200);
        assert_eq!(shared.json["access_grants"][0]["principal_id"], "developers");

        // Export the selected models, import the file back.
        assert!(alice.export_models(Some(&[])).await.is_none(), "an empty selection sends nothing");
        let exported = alice.export_models(Some(&["a/b", "c"])).await.unwrap();
        assert_eq!(exported.status, 200);
        check_models(&exported.json);
        assert_eq!(ids(&exported.json), ["a/b", "c"]);
        assert_eq!(alice.delete_model_by_id("c").await.json, json!(true));
        let imported = alice.import_models(exported.json.clone()).await;
        assert_eq!((imported.status, &imported.json), (200, &json!(true)));
        assert_eq!(alice.get_model_by_id("c").await.json["access_grants"], exported.json[1]["access_grants"]);

        // Delete from the list.
        let deleted = alice.delete_model_by_id("d").await;
        assert_eq!((deleted.status, &deleted.json), (200, &json!(true)));
        assert_eq!(ids(&alice.get_model_items("", "", "", "", "", 0).await.json), ["c", "a/b"]);
    }

    async fn get_model_items(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        alice.create_new_model(&editor_model("m", "M", &["x"])).await;
        // The bare `?` of a call without parameters.
        let bare = alice.get_model_items("", "", "", "", "", 0).await;
        assert_eq!((bare.status, ids(&bare.json)), (200, vec!["m"]));
        let item = &bare.json["items"][0];
        check_model_with_access(item);
        assert_eq!(item["meta"]["description"], "M helps.");
        // Another member sees nothing of it; a viewer neither.
        assert_eq!(w.client(&w.carol).get_model_items("", "", "", "", "", 1).await.json, json!({"items": [], "total": 0}));
        assert_eq!(w.client(&w.victor).get_model_items("", "", "", "", "", 1).await.json["total"], 0);
        // A page that is not a number: FastAPI's 422, whose detail is a list.
        let bad = alice.fetch(Method::GET, "/list?page=x", Headers::Json, None).await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.json["detail"][0]["loc"], json!(["query", "page"]));
        let anonymous = Client { app: &w.app, token: "mg_unknown" }.get_model_items("", "", "", "", "", 0).await;
        refused(&anonymous, 401, "Not authenticated");
    }

    async fn get_model_tags(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        assert_eq!(alice.get_model_tags().await.json, json!([]));
        alice.create_new_model(&editor_model("m", "M", &["zeta", "alpha", "zeta"])).await;
        assert_eq!(alice.get_model_tags().await.json, json!(["alpha", "zeta"]));
        // Only tags of readable custom models: never the catalog's, never unreadable models'.
        assert_eq!(w.client(&w.carol).get_model_tags().await.json, json!([]));
    }

    async fn get_base_models(db) {
        let w = setup(db).await;
        let admin = w.client(&w.admin);
        let all = admin.get_base_models("").await;
        check_models(&all.json);
        assert_eq!(ids(&all.json).len(), 3);
        let openai = admin.get_base_models("openai").await;
        assert_eq!(openai.status, 200);
        assert_wire_snapshot!("base_tagged", redact(&openai.json, &[]));
        // Exact, case-sensitive tag names; an empty `tag=` is no filter.
        assert_eq!(admin.get_base_models("OpenAI").await.json, json!([]));
        assert_eq!(admin.get_base_models("open").await.json, json!([]));
        assert_eq!(admin.get_base_models("nothing").await.json, json!([]));
        let empty_tag = admin.fetch(Method::GET, "/base?tag=", Headers::Json, None).await;
        assert_eq!(empty_tag.json, all.json);
        let repeated = admin.fetch(Method::GET, "/base?tag=chat&tag=openai", Headers::Json, None).await;
        assert_eq!(ids(&repeated.json), ["gpt-4o"], "the last of a repeated tag counts");
        // Custom models are never base models, even tagged alike.
        w.client(&w.alice).create_new_model(&editor_model("mine", "Mine", &["openai"])).await;
        assert_eq!(ids(&admin.get_base_models("openai").await.json), ["gpt-4o"]);

        // Admins only, in any org; the catalog is the same everywhere.
        for key in [&w.alice, &w.victor] {
            refused(&w.client(key).get_base_models("").await, 401, "Unauthorized");
            refused(&w.client(key).get_base_models("openai").await, 401, "Unauthorized");
        }
        let (_, acme) = w.app.db.other_org(&w.admin_ctx, "acme");
        assert_eq!(ids(&w.client(&acme).get_base_models("openai").await.json), ["gpt-4o"]);
    }

    async fn get_base_model_tags(db) {
        let w = setup(db).await;
        let tags = w.client(&w.admin).get_base_model_tags().await;
        assert_eq!(tags.status, 200);
        assert_wire_snapshot!("base_tags", &tags.json);
        assert_eq!(tags.json, json!(["anthropic", "chat", "openai"]));
        // Custom models' tags are not base tags.
        w.client(&w.alice).create_new_model(&editor_model("mine", "Mine", &["custom"])).await;
        assert_eq!(w.client(&w.admin).get_base_model_tags().await.json, tags.json);
        for key in [&w.alice, &w.bob, &w.victor] {
            refused(&w.client(key).get_base_model_tags().await, 401, "Unauthorized");
        }
        let (_, acme) = w.app.db.other_org(&w.admin_ctx, "acme");
        assert_eq!(w.client(&acme).get_base_model_tags().await.json, tags.json);
        refused(&Client { app: &w.app, token: "mg_unknown" }.get_base_model_tags().await, 401, "Not authenticated");
    }

    async fn export_models(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        for id in ["a/b", "c", "d", "a,b", "x y"] {
            alice.create_new_model(&editor_model(id, id, &[])).await;
        }
        let write = json!([{"principal_type": "user", "principal_id": "bob", "permission": "write"}]);
        alice.update_model_access_grants("c", "c", write).await;
        let read = json!([{"principal_type": "user", "principal_id": "bob", "permission": "read"}]);
        alice.update_model_access_grants("d", "d", read).await;

        // No ids: everything the caller may change, oldest first (as before).
        let everything = alice.export_models(None).await.unwrap();
        assert_eq!(ids(&everything.json), ["a/b", "c", "d", "a,b", "x y"]);
        // Repeated ids, percent-decoded, in stored order; never split on commas.
        let picked = alice.export_models(Some(&["c", "a/b"])).await.unwrap();
        assert_eq!(picked.status, 200);
        check_models(&picked.json);
        assert_wire_snapshot!("export_by_ids", redact(&picked.json, &[]));
        assert_eq!(ids(&picked.json), ["a/b", "c"]);
        assert_eq!(ids(&alice.export_models(Some(&["a,b"])).await.unwrap().json), ["a,b"]);
        assert_eq!(ids(&alice.export_models(Some(&["x y"])).await.unwrap().json), ["x y"]);
        let joined = alice.fetch(Method::GET, "/export?ids=a%2Fb,c", Headers::AuthOnly, None).await;
        assert_eq!(joined.json, json!([]), "a comma-joined value is one (unknown) id");
        // Unknown ids, catalog models and duplicates: left out or collapsed, no error.
        let mixed = alice.export_models(Some(&["nope", "gpt-4o", "c", "c"])).await.unwrap();
        assert_eq!((mixed.status, ids(&mixed.json)), (200, vec!["c"]));

        // Only models the caller may change: bob has write on c, read on d.
        let bob = w.client(&w.bob);
        assert_eq!(ids(&bob.export_models(Some(&["a/b", "c", "d"])).await.unwrap().json), ["c"]);
        assert_eq!(ids(&bob.export_models(None).await.unwrap().json), ["c"]);
        // A viewer changes nothing; an admin everything of the org; another org's admin nothing.
        assert_eq!(w.client(&w.victor).export_models(Some(&["a/b"])).await.unwrap().json, json!([]));
        assert_eq!(ids(&w.client(&w.admin).export_models(Some(&["d", "a/b"])).await.unwrap().json), ["a/b", "d"]);
        let (_, acme) = w.app.db.other_org(&w.admin_ctx, "acme");
        assert_eq!(w.client(&acme).export_models(Some(&["a/b", "c"])).await.unwrap().json, json!([]));
        refused(&Client { app: &w.app, token: "mg_unknown" }.export_models(None).await.unwrap(), 401, "Not authenticated");
    }

    async fn import_models(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        let imported = alice.import_models(json!([editor_model("new/one", "One", &["t"])])).await;
        assert_eq!((imported.status, &imported.json), (200, &json!(true)));
        let one = alice.get_model_by_id("new/one").await.json;
        assert_eq!((one["name"].clone(), one["meta"]["tags"].clone()), (json!("One"), json!([{"name": "t"}])));
        // Errors the page shows through `e?.detail`.
        let invalid = alice.import_models(json!([{"name": "no id"}])).await;
        assert_eq!(invalid.status, 422);
        assert_eq!(invalid.json["detail"][0]["loc"], json!(["body", "models", 0, "id"]));
        refused(&w.client(&w.victor).import_models(json!([{"id": "v"}])).await, 401, "Unauthorized");
        refused(&w.client(&w.carol).import_models(json!([{"id": "new/one"}])).await, 400, "Model ID is already taken");
    }

    async fn get_all_models(db) {
        let w = setup(db).await;
        w.client(&w.alice).create_new_model(&editor_model("alice/m", "Alice's", &[])).await;
        w.client(&w.bob).create_new_model(&editor_model("bob/m", "Bob's", &[])).await;
        let (_, acme) = w.app.db.other_org(&w.admin_ctx, "acme");
        w.client(&acme).create_new_model(&editor_model("acme/m", "Acme's", &[])).await;

        let all = w.client(&w.admin).get_all_models().await;
        assert_eq!(all.status, 200);
        check_models(&all.json);
        assert_wire_snapshot!("all_models", redact(&all.json, &[]));
        // Custom models of every owner (oldest first), then the catalog by id; no other org's.
        assert_eq!(ids(&all.json), ["alice/m", "bob/m", "claude-3-5-sonnet", "gpt-4o", "text-embedding-3-small"]);
        assert!(all.json.as_array().unwrap().iter().all(|m| m.get("write_access").is_none()));
        let theirs = w.client(&acme).get_all_models().await;
        assert_eq!(ids(&theirs.json), ["acme/m", "claude-3-5-sonnet", "gpt-4o", "text-embedding-3-small"]);
        for key in [&w.alice, &w.bob, &w.victor] {
            refused(&w.client(key).get_all_models().await, 401, "Unauthorized");
        }
    }

    async fn create_new_model(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        // is_active not sent: a new model is active.
        let mut model = editor_model("fresh", "Fresh", &[]);
        model.as_object_mut().unwrap().remove("is_active");
        let created = alice.create_new_model(&model).await;
        assert_eq!(created.status, 200);
        check_model(&created.json);
        assert_eq!((created.json["is_active"].clone(), created.json["user_id"].clone()), (json!(true), json!("alice")));
        // `throw err.detail`: the errors' details are what the page shows.
        refused(&alice.create_new_model(&editor_model("fresh", "Again", &[])).await, 400, "Model ID is already taken");
        refused(&alice.create_new_model(&editor_model("gpt-4o", "Mine", &[])).await, 400, "Model ID is already taken");
        refused(&w.client(&w.victor).create_new_model(&editor_model("v", "V", &[])).await, 401, "Unauthorized");
        let missing = alice.create_new_model(&json!({"id": "x", "name": "x"})).await;
        assert_eq!(missing.status, 422);
        assert!(missing.json["detail"].is_array());
    }

    async fn get_model_by_id(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        alice.create_new_model(&editor_model("team/m", "Team", &[])).await;
        let got = alice.get_model_by_id("team/m").await;
        assert_eq!(got.status, 200);
        check_model_with_access(&got.json);
        assert_eq!(got.json["write_access"], true);
        let catalog = alice.get_model_by_id("gpt-4o").await;
        check_model_with_access(&catalog.json);
        assert_eq!(catalog.json["write_access"], false);
        refused(&alice.get_model_by_id("nope").await, 404, "Model not found");
        refused(&w.client(&w.carol).get_model_by_id("team/m").await, 401, "Unauthorized");
    }

    async fn toggle_model_by_id(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        alice.create_new_model(&editor_model("t/m", "T", &[])).await;
        let off = alice.toggle_model_by_id("t/m").await;
        assert_eq!((off.status, off.json["is_active"].clone()), (200, json!(false)));
        check_model(&off.json);
        assert_eq!(alice.toggle_model_by_id("t/m").await.json["is_active"], true);
        refused(&alice.toggle_model_by_id("nope").await, 401, "Model not found");
        refused(&w.client(&w.carol).toggle_model_by_id("t/m").await, 401, "Model not found");
    }

    async fn update_model_by_id(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        alice.create_new_model(&editor_model("u/m", "U", &[])).await;
        alice.toggle_model_by_id("u/m").await;

        // Without is_active: a disabled model stays disabled (and an enabled one enabled).
        let mut partial = alice.get_model_by_id("u/m").await.json;
        partial.as_object_mut().unwrap().remove("is_active");
        partial["name"] = json!("U2");
        let kept = alice.update_model_by_id("u/m", &partial).await;
        assert_eq!(kept.status, 200, "{kept:?}");
        check_model(&kept.json);
        assert_eq!((kept.json["name"].clone(), kept.json["is_active"].clone()), (json!("U2"), json!(false)));
        // With it: set.
        partial["is_active"] = json!(true);
        assert_eq!(alice.update_model_by_id("u/m", &partial).await.json["is_active"], true);
        partial.as_object_mut().unwrap().remove("is_active");
        assert_eq!(alice.update_model_by_id("u/m", &partial).await.json["is_active"], true);
        partial["is_active"] = json!(false);
        assert_eq!(alice.update_model_by_id("u/m", &partial).await.json["is_active"], false);
        let stored = w.app.db.store.get_model(&w.admin_ctx, &ModelRef::Key("u/m".into())).unwrap();
        assert!(!stored.model.fields.is_active);

        // The id comes from the argument, whatever the object says.
        let mut other = partial.clone();
        other["id"] = json!("ignored");
        assert_eq!(alice.update_model_by_id("u/m", &other).await.json["id"], "u/m");
        refused(&alice.update_model_by_id("nope", &partial).await, 401, "Model not found");
        let grants = json!([{"principal_type": "user", "principal_id": "carol", "permission": "read"}]);
        alice.update_model_access_grants("u/m", "U2", grants).await;
        refused(&w.client(&w.carol).update_model_by_id("u/m", &partial).await, 400, "Access prohibited");
    }

    async fn update_model_access_grants(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        alice.create_new_model(&editor_model("g/m", "G", &[])).await;
        let grants = json!([{"principal_type": "user", "principal_id": "bob", "permission": "write"}]);
        let res = alice.update_model_access_grants("g/m", "G", grants).await;
        assert_eq!(res.status, 200);
        check_model(&res.json);
        assert_eq!(res.json["access_grants"][0]["principal_id"], "bob");
        // A member's public grant is dropped; an admin's is kept.
        let res = alice.update_model_access_grants("g/m", "G", public_grants()).await;
        assert!(!is_public(&res.json));
        let res = w.client(&w.admin).update_model_access_grants("g/m", "G", public_grants()).await;
        assert!(is_public(&res.json));
        refused(&w.client(&w.carol).update_model_access_grants("g/m", "G", json!([])).await, 400, "Access prohibited");
        refused(&alice.update_model_access_grants("nope", "N", json!([])).await, 403, "Access prohibited");
    }

    async fn delete_model_by_id(db) {
        let w = setup(db).await;
        let alice = w.client(&w.alice);
        alice.create_new_model(&editor_model("del/m", "D", &[])).await;
        refused(&w.client(&w.carol).delete_model_by_id("del/m").await, 401, "Model not found");
        let deleted = alice.delete_model_by_id("del/m").await;
        assert_eq!((deleted.status, &deleted.json), (200, &json!(true)));
        refused(&alice.delete_model_by_id("del/m").await, 401, "Model not found");
        refused(&alice.delete_model_by_id("gpt-4o").await, 401, "Unauthorized");
    }

    async fn delete_all_models(db) {
        let w = setup(db).await;
        w.client(&w.alice).create_new_model(&editor_model("alice/m", "A", &[])).await;
        w.client(&w.bob).create_new_model(&editor_model("bob/m", "B", &[])).await;
        let (_, acme) = w.app.db.other_org(&w.admin_ctx, "acme");
        w.client(&acme).create_new_model(&editor_model("acme/m", "Acme's", &[])).await;
        let uuid = w.app.db.store.get_model(&w.admin_ctx, &ModelRef::Key("bob/m".into())).unwrap().model.uuid;

        // Members, viewers: refused, nothing deleted.
        for key in [&w.alice, &w.bob, &w.victor] {
            refused(&w.client(key).delete_all_models().await, 401, "Unauthorized");
        }
        assert_eq!(w.client(&w.admin).get_model_items("", "", "", "", "", 0).await.json["total"], 2);
        refused(&Client { app: &w.app, token: "mg_unknown" }.delete_all_models().await, 401, "Not authenticated");

        // The admin: every custom model of every owner; the catalog and other orgs stay.
        let reset = w.client(&w.admin).delete_all_models().await;
        assert_eq!((reset.status, &reset.json), (200, &json!(true)));
        assert_eq!(ids(&w.client(&w.admin).get_all_models().await.json), ["claude-3-5-sonnet", "gpt-4o", "text-embedding-3-small"]);
        assert_eq!(ids(&w.client(&acme).get_all_models().await.json)[0], "acme/m");
        let history = w.app.db.store.model_history(&w.admin_ctx, uuid).unwrap();
        assert_eq!(history.last().map(|e| e.action.as_str()), Some("delete"), "the deletion is audited");
        // Nothing left is still `true`.
        assert_eq!(w.client(&w.admin).delete_all_models().await.json, json!(true));
        // Another org's admin deletes only its own.
        assert_eq!(w.client(&acme).delete_all_models().await.json, json!(true));
        assert_eq!(w.client(&acme).get_model_items("", "", "", "", "", 0).await.json["total"], 0);
    }
}
