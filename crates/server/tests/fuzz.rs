//! Property-based fuzzing of every dialect's write endpoints (and a few reads) on the main
//! listener, on both backends. For every generated request — a valid body with fields mutated,
//! arbitrary JSON, raw junk bytes; path segments and query strings with percent-encoded junk —
//! it asserts:
//!
//! 1. never a 5xx;
//! 2. every error is JSON in the dialect's own format, with an `X-Request-Id` (and a 405 an
//!    `Allow`);
//! 3. a refused request (any 4xx) changes nothing: every custom model of the org (version and
//!    all), the fixtures' history lengths, providers, endpoints, users, groups, keys, orgs and
//!    per-user defaults are exactly as before.
//!
//! The gateway's endpoints (`/v1/chat/completions`, `/v1/embeddings`, against a fake upstream;
//! chat also to a model called through Anthropic's Messages API) answer errors in OpenAI's
//! shape; the only 5xx allowed is the 502 of an upstream that cannot be reached. A refused call never reaches the upstream, an answered one reaches it once (a
//! stream asked for comes as one, ending with `[DONE]`), and only calls that reached or tried
//! to reach an upstream are metered.
//!
//! Every response is also checked against its dialect's OpenAPI document by the test kit.
//!
//! The cases come from proptest strategies driven by a `TestRunner` inside the async test (the
//! `proptest!` macro cannot await). The seed is fixed so CI is reproducible;
//! `MODELGATE_FUZZ_SEED=random` (or 64 hex digits) explores, `MODELGATE_FUZZ_CASES=n` sets the
//! cases per endpoint. A failure prints the seed and the request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::test::TestRequest;
use actix_web::web;
use futures_util::FutureExt;
use modelgate_core::{
    ApiKey, Ctx, Endpoint, Group, ModelQuery, ModelRef, Org, Provider, Registry, Role, User,
    UserDefault,
};
use modelgate_server::app::configure_main;
use modelgate_server::gateway::{EgressPolicy, GatewaySettings};
use modelgate_testkit::upstream::FakeUpstream;
use modelgate_testkit::{TestApp, TestDb, TestResponse, backend_app_tests};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The world the cases run against.

const TARGET: &str = "fz-target";
const PROVIDER: &str = "fz-prov";
const ENDPOINT: &str = "fz-ep";
const MEMBER: &str = "fz-member";
const VIEWER: &str = "fz-viewer";
const SECRET: &str = "sk-fuzz-0123456789abcdef";
/// The models the gateway's families call, at the world's fake upstream: one speaking OpenAI's
/// API, one Anthropic's (the request translated).
const CHAT: &str = "fz-chat";
const CLAUDE: &str = "fz-claude";

/// The fixtures every family aims at, and the keys to call with.
struct World {
    app: TestApp,
    admin: Ctx,
    member: Ctx,
    viewer: Ctx,
    admin_key: String,
    member_key: String,
    viewer_key: String,
    target: Uuid,
    endpoint: Uuid,
    seed: [u8; 32],
    /// Where [`CHAT`] is called: it answers every call (a stream when asked), and counts them.
    upstream: FakeUpstream,
}

async fn world(db: TestDb) -> World {
    let (admin, admin_key) = db.bootstrap();
    let (member, member_key) = db.user(&admin, MEMBER, Role::Member);
    let (viewer, viewer_key) = db.user(&admin, VIEWER, Role::Viewer);
    let upstream = FakeUpstream::start();
    let settings = web::Data::new(GatewaySettings {
        egress: EgressPolicy::parse("127.0.0.1").unwrap(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        // Over the families' huge body (1.1 MB), which the gateway passes on.
        body_limit: 2 * 1024 * 1024,
        ..GatewaySettings::default()
    });
    let app = TestApp::new(db, move |cfg| {
        cfg.app_data(settings);
        configure_main(cfg);
    })
    .await;
    let k = Some(admin_key.as_str());
    let ok = |r: &TestResponse, what: &str| assert!(r.status < 300, "{what}: {r:?}");

    let provider = app
        .post(
            "/respan/api/providers/",
            k,
            json!({"provider_id": PROVIDER, "provider_name": "Fuzz", "api_key": SECRET,
               "extra_kwargs": {"base_url": "https://llm.example.com/v1", "timeout": 30,
                                "headers": {"Authorization": "Bearer fuzz-token-0123456789"}}}),
        )
        .await;
    ok(&provider, "provider");
    let created = app
        .post(
            "/xagent/api/models/",
            k,
            json!({"model_id": TARGET, "category": "llm", "model_provider": "openai",
               "model_name": "gpt-4o", "api_key": SECRET, "base_url": "https://llm.example.com/v1",
               "temperature": 0.7, "abilities": ["chat", "vision"], "description": "fuzz target"}),
        )
        .await;
    ok(&created, "target");
    let grants = app
        .post(
            "/openwebui/api/v1/models/model/access/update",
            k,
            json!({"id": TARGET, "access_grants": [
                {"principal_type": "user", "principal_id": MEMBER, "permission": "read"},
                {"principal_type": "user", "principal_id": VIEWER, "permission": "read"}]}),
        )
        .await;
    ok(&grants, "grants");
    let priced = app
        .patch(
            &format!("/respan/api/models/{TARGET}/"),
            k,
            json!({"custom_provider_id": PROVIDER, "input_cost": 1.0, "output_cost": 2.0}),
        )
        .await;
    ok(&priced, "pricing");
    let target = app.db.store.get_model(&admin, &ModelRef::Key(TARGET.into())).unwrap().model;
    let endpoint = app
        .post(
            "/syft/api/v1/endpoints/",
            k,
            json!({"name": "Fuzz", "slug": ENDPOINT, "model_id": target.uuid, "response_type": "summary"}),
        )
        .await;
    ok(&endpoint, "endpoint");
    let default = app
        .post(
            "/xagent/api/models/user-default",
            k,
            json!({"model_id": target.seq, "config_type": "general"}),
        )
        .await;
    ok(&default, "default");
    let endpoint = app.db.store.get_endpoint(&admin, ENDPOINT).unwrap().id;
    for (model, provider, upstream_name) in
        [(CHAT, "openai", "up-chat"), (CLAUDE, "anthropic", "claude-up")]
    {
        let body = json!({"model_id": model, "category": "llm", "model_provider": provider,
            "model_name": upstream_name, "api_key": SECRET, "base_url": upstream.base_url});
        ok(&app.post("/xagent/api/models/", k, body).await, model);
    }
    // A system prompt: the gateway then reads each message's role.
    let prompted = app
        .post(
            &format!("/openwebui/api/models/model/update?id={CHAT}"),
            k,
            json!({"id": CHAT, "name": "Chat", "meta": {},
               "params": {"system": "Be brief.", "max_tokens": 64, "temperature": 0.2}}),
        )
        .await;
    ok(&prompted, "system prompt");
    let shared = app
        .post(
            "/openwebui/api/v1/models/model/access/update",
            k,
            json!({"id": CHAT, "access_grants": [
                {"principal_type": "user", "principal_id": MEMBER, "permission": "read"}]}),
        )
        .await;
    ok(&shared, "chat grants");
    World {
        app,
        admin,
        member,
        viewer,
        admin_key,
        member_key,
        viewer_key,
        target: target.uuid,
        endpoint,
        seed: seed(),
        upstream,
    }
}

fn seed() -> [u8; 32] {
    let mut seed = [7u8; 32];
    match std::env::var("MODELGATE_FUZZ_SEED").ok().as_deref() {
        None | Some("") => {}
        Some("random") => {
            seed[..16].copy_from_slice(Uuid::new_v4().as_bytes());
            seed[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        }
        Some(hex) => {
            assert!(hex.len() == 64, "MODELGATE_FUZZ_SEED: 64 hex digits or `random`");
            for (i, byte) in seed.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex seed");
            }
        }
    }
    seed
}

fn cases(default: u32) -> u32 {
    std::env::var("MODELGATE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// Everything a refused request must leave as it was.
#[derive(Debug, PartialEq)]
struct State {
    models: Vec<Value>,
    histories: Vec<usize>,
    providers: Vec<Provider>,
    endpoints: Vec<Endpoint>,
    users: Vec<User>,
    groups: Vec<Group>,
    keys: Vec<ApiKey>,
    orgs: Vec<Org>,
    defaults: Vec<Vec<UserDefault>>,
}

impl World {
    fn state(&self) -> State {
        let store = &self.app.db.store;
        let ctx = &self.admin;
        let mut models: Vec<_> = store.list_models(ctx, &ModelQuery::custom_only()).unwrap().items;
        models.sort_by_key(|v| v.model.seq);
        let histories = models
            .iter()
            .filter(|v| v.model.uuid == self.target)
            .map(|v| store.model_history(ctx, v.model.uuid).unwrap().len())
            .collect();
        State {
            models: models.iter().map(|v| serde_json::to_value(&v.model).unwrap()).collect(),
            histories,
            providers: store.list_providers(ctx).unwrap(),
            endpoints: store.list_endpoints(ctx).unwrap(),
            users: store.list_users(ctx).unwrap(),
            groups: store.list_groups(ctx).unwrap(),
            keys: store.list_api_keys(ctx).unwrap(),
            orgs: store.list_orgs(ctx).unwrap(),
            defaults: [&self.admin, &self.member, &self.viewer]
                .into_iter()
                .map(|c| store.list_user_defaults(c).unwrap())
                .collect(),
        }
    }

    /// The target's current key, stable integer id and uuid (a rename moves the key).
    fn target(&self) -> (String, i64, Uuid) {
        match self.app.db.store.get_model(&self.admin, &ModelRef::Uuid(self.target)) {
            Ok(view) => (view.model.key, view.model.seq, view.model.uuid),
            Err(_) => (TARGET.to_owned(), 0, self.target),
        }
    }

    fn endpoint_slug(&self) -> String {
        let endpoints = self.app.db.store.list_endpoints(&self.admin).unwrap();
        endpoints
            .into_iter()
            .find(|e| e.id == self.endpoint)
            .map_or_else(|| ENDPOINT.to_owned(), |e| e.slug)
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoint families.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    FastApi,
    Drf,
    Admin,
    OpenAi,
}

/// What a path segment or the valid query value names.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fix {
    Model,
    Provider,
    Endpoint,
    Literal(&'static str),
}

/// The values a valid body is built from.
struct Fixtures {
    key: String,
    seq: i64,
    uuid: Uuid,
    n: u32,
}

struct Family {
    name: &'static str,
    method: Method,
    /// `{}` is replaced by the (fuzzed) segment naming `seg`'s fixture.
    path: &'static str,
    seg: Option<Fix>,
    /// The query key naming the target (`?id=`), fuzzed like a segment.
    id_query: Option<&'static str>,
    /// Query keys the endpoint reads, mixed into generated query strings.
    query_keys: &'static [&'static str],
    body: Option<fn(&Fixtures) -> Value>,
    cases: u32,
}

const WRITE_CASES: u32 = 64;
const READ_CASES: u32 = 24;

fn family(name: &'static str, method: Method, path: &'static str) -> Family {
    Family {
        name,
        method,
        path,
        seg: None,
        id_query: None,
        query_keys: &[],
        body: None,
        cases: WRITE_CASES,
    }
}

impl Family {
    fn seg(mut self, fix: Fix) -> Self {
        self.seg = Some(fix);
        self
    }
    fn id_query(mut self, key: &'static str) -> Self {
        self.id_query = Some(key);
        self
    }
    fn query(mut self, keys: &'static [&'static str]) -> Self {
        self.query_keys = keys;
        self
    }
    fn body(mut self, body: fn(&Fixtures) -> Value) -> Self {
        self.body = Some(body);
        self
    }
    fn read(mut self) -> Self {
        self.cases = READ_CASES;
        self
    }
}

fn owui_model(id: &str) -> Value {
    json!({
        "id": id, "name": "Fuzz", "base_model_id": "gpt-4o",
        "params": {"temperature": 0.5, "max_tokens": 100, "system": "Be brief."},
        "meta": {"description": "d", "profile_image_url": "/static/favicon.png",
                 "capabilities": {"vision": true, "citations": false},
                 "tags": [{"name": "fuzz"}, "plain"], "suggestion_prompts": null},
        "access_grants": [{"access_type": "user", "access_id": MEMBER, "permission": "read"},
                          {"principal_type": "group", "principal_id": "g", "permission": "write"}],
        "is_active": true
    })
}

fn openwebui() -> Vec<Family> {
    const LIST: &[&str] = &["page", "query", "order_by", "direction", "tag", "view_option"];
    let mut out = Vec::new();
    for base in ["/openwebui/api/models", "/openwebui/api/v1/models"] {
        let p = |suffix: &str| -> &'static str { format!("{base}{suffix}").leak() };
        out.extend([
            family("owui create", Method::POST, p("/create"))
                .body(|f| owui_model(&format!("fz-new-{}", f.n))),
            family("owui update", Method::POST, p("/model/update"))
                .id_query("id")
                .body(|f| owui_model(&f.key)),
            family("owui access", Method::POST, p("/model/access/update")).body(|f| {
                json!({"id": f.key, "access_grants": [
                    {"principal_type": "user", "principal_id": MEMBER, "permission": "write"},
                    {"access_type": "group", "access_id": "g", "permission": "read"}]})
            }),
            family("owui import", Method::POST, p("/import")).body(
                |f| json!({"models": [owui_model(&format!("fz-imp-{}", f.n)), owui_model(&f.key)]}),
            ),
            family("owui toggle", Method::POST, p("/model/toggle")).id_query("id").read(),
            family("owui get", Method::GET, p("/model")).id_query("id").read(),
            family("owui list", Method::GET, p("/list")).query(LIST).read(),
            family("owui export", Method::GET, p("/export")).query(&["ids"]).id_query("ids").read(),
        ]);
    }
    out
}

fn xagent_model(id: &str) -> Value {
    json!({
        "model_id": id, "category": "llm", "model_provider": "openai", "model_name": "gpt-4o",
        "api_key": SECRET, "base_url": "https://llm.example.com/v1", "temperature": 0.7,
        "abilities": ["chat", "vision", "tool_calling"], "description": "d", "dimension": null,
        "context_window": 8192, "is_active": true, "share_with_users": false
    })
}

fn xagent_update(_: &Fixtures) -> Value {
    json!({
        "category": "llm", "model_name": "gpt-4o-mini", "temperature": 0.2, "description": "e",
        "abilities": ["chat"], "context_window": 4096, "base_url": "https://other.example.com",
        "api_key": "sk-fuzz-rotated-000000000000", "is_active": true, "dimension": 1536
    })
}

fn xagent() -> Vec<Family> {
    const LIST: &[&str] = &["skip", "limit", "model_provider", "category", "is_active"];
    vec![
        family("xagent create", Method::POST, "/xagent/api/models/")
            .body(|f| xagent_model(&format!("fz-new-{}", f.n))),
        family("xagent register", Method::POST, "/xagent/api/models/register")
            .body(|f| xagent_model(&format!("fz-reg-{}", f.n))),
        family("xagent put", Method::PUT, "/xagent/api/models/{}")
            .seg(Fix::Model)
            .body(xagent_update),
        family("xagent put by-id", Method::PUT, "/xagent/api/models/by-id/{}")
            .seg(Fix::Model)
            .body(xagent_update),
        family("xagent user-default", Method::POST, "/xagent/api/models/user-default")
            .body(|f| json!({"model_id": f.seq, "config_type": "general"})),
        family("xagent get", Method::GET, "/xagent/api/models/{}").seg(Fix::Model).read(),
        family("xagent list", Method::GET, "/xagent/api/models/").query(LIST).read(),
        family("xagent default", Method::GET, "/xagent/api/models/default/{}")
            .seg(Fix::Literal("general"))
            .read(),
    ]
}

fn syft() -> Vec<Family> {
    fn endpoint_body(f: &Fixtures) -> Value {
        json!({
            "name": "Fuzz EP", "slug": format!("fz-ep-{}", f.n), "description": "# d",
            "summary": "s", "model_id": f.uuid, "response_type": "summary", "published": false,
            "tags": "a,b", "system_prompt": "Be brief."
        })
    }
    vec![
        family("syft model create", Method::POST, "/syft/api/v1/models/").body(|f| {
            json!({
                "name": format!("fz-new-{}", f.n), "dtype": "openai", "summary": "s", "tags": "a, b",
                "configuration": {"api_key": SECRET, "model": "gpt-4o",
                                  "base_url": "https://llm.example.com/v1", "system_prompt": "p"}
            })
        }),
        family("syft model patch", Method::PATCH, "/syft/api/v1/models/{}")
            .seg(Fix::Model)
            .body(|f| json!({"name": f.key, "summary": "patched", "tags": "x,y"})),
        family("syft endpoint create", Method::POST, "/syft/api/v1/endpoints/").body(endpoint_body),
        family("syft endpoint patch", Method::PATCH, "/syft/api/v1/endpoints/{}")
            .seg(Fix::Endpoint)
            .body(|f| {
                json!({"name": "Renamed", "description": "d2", "summary": "s2", "published": true,
                       "tags": "t", "system_prompt": "q", "model_id": f.uuid, "response_type": "summary"})
            }),
        family("syft validate-slug", Method::POST, "/syft/api/v1/endpoints/validate-slug").body(
            |f| json!({"slug": format!("fz-slug-{}", f.n), "check_all_marketplaces": true, "marketplace_ids": []}),
        ),
        family("syft model get", Method::GET, "/syft/api/v1/models/{}").seg(Fix::Model).read(),
        family("syft endpoint get", Method::GET, "/syft/api/v1/endpoints/{}").seg(Fix::Endpoint).read(),
        family("syft list", Method::GET, "/syft/api/v1/models/").query(&["skip", "limit", "name"]).read(),
    ]
}

fn respan_model(name: Option<String>) -> Value {
    let mut body = json!({
        "base_model_name": "gpt-4o", "display_name": "Fuzz", "custom_provider_id": PROVIDER,
        "input_cost": 0.5, "output_cost": 1.5, "cache_hit_input_cost": 0.1,
        "cache_creation_input_cost": 0.2, "max_context_window": 8192, "model_type": "chat",
        "image_support": 1, "function_call": 0, "streaming_support": 1,
        "supported_params_override": {"temperature": {"max": 1}}
    });
    if let Some(name) = name {
        body["model_name"] = json!(name);
    }
    body
}

fn respan_filters(_: &Fixtures) -> Value {
    json!({"filters": {
        "model_name": {"operator": "icontains", "value": ["fz"]},
        "input_cost": {"operator": "gte", "value": [0.1]},
        "source": {"operator": "", "value": ["db"]}
    }, "sort_by": "-input_cost"})
}

fn respan() -> Vec<Family> {
    const PAGES: &[&str] = &["page", "page_size", "all", "sort_by"];
    vec![
        family("respan create", Method::POST, "/respan/api/models/")
            .body(|f| respan_model(Some(format!("fz-new-{}", f.n)))),
        family("respan patch", Method::PATCH, "/respan/api/models/{}/")
            .seg(Fix::Model)
            .body(|_| respan_model(None)),
        family("respan put", Method::PUT, "/respan/api/models/{}/")
            .seg(Fix::Model)
            .body(|f| respan_model(Some(f.key.clone()))),
        family("respan filter", Method::POST, "/respan/api/models/list/")
            .query(PAGES)
            .body(respan_filters),
        family("respan summary", Method::POST, "/respan/api/models/summary/").body(respan_filters),
        family("respan provider create", Method::POST, "/respan/api/providers/").body(|f| {
            json!({"provider_id": format!("fz-prov-{}", f.n), "provider_name": "P", "api_key": SECRET,
                   "extra_kwargs": {"base_url": "https://llm.example.com", "timeout": 30,
                                    "headers": {"X-Api-Key": "k-0123456789abcdef"}}})
        }),
        family("respan provider patch", Method::PATCH, "/respan/api/providers/{}/")
            .seg(Fix::Provider)
            .body(|_| {
                json!({"provider_name": "P2", "api_key": "sk-fuzz-rotated-0000000000",
                       "extra_kwargs": {"timeout": 60, "client_secret": "cs-0123456789"}})
            }),
        family("respan get", Method::GET, "/respan/api/models/{}/").seg(Fix::Model).read(),
        family("respan list", Method::GET, "/respan/api/models/").query(PAGES).read(),
        family("respan providers", Method::GET, "/respan/api/providers/").query(PAGES).read(),
    ]
}

fn admin() -> Vec<Family> {
    vec![
        family("admin user", Method::POST, "/admin/v1/users").body(|f| {
            json!({"id": format!("fz-u-{}", f.n), "name": "U", "email": format!("u{}@example.com", f.n), "role": "member"})
        }),
        family("admin group", Method::POST, "/admin/v1/groups").body(|f| {
            json!({"id": format!("fz-g-{}", f.n), "name": "G", "description": "d", "member_ids": [MEMBER, VIEWER]})
        }),
        family("admin key", Method::POST, "/admin/v1/keys")
            .body(|_| json!({"user_id": MEMBER, "name": "fuzz"})),
        family("admin get user", Method::GET, "/admin/v1/users/{}").seg(Fix::Literal(MEMBER)).read(),
        family("admin list users", Method::GET, "/admin/v1/users").query(&["q"]).read(),
    ]
}

/// A chat completion's body for `model`, streamed for every other `n`.
fn chat_body(model: &str, n: u32) -> Value {
    json!({"model": model, "stream": n.is_multiple_of(2), "stream_options": {"include_usage": true},
           "messages": [{"role": "system", "content": "Mine."},
                        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                        {"role": "assistant", "content": "Hello."},
                        {"role": "user", "content": "again"}],
           "temperature": 0.5, "max_tokens": 16, "top_p": 1, "stop": ["x"], "user": "fz"})
}

/// The inference gateway: a viewer cannot read [`CHAT`], a member can; nobody but the admin
/// [`CLAUDE`].
fn gateway() -> Vec<Family> {
    vec![
        family("gateway chat", Method::POST, "/v1/chat/completions").body(|f| chat_body(CHAT, f.n)),
        family("gateway chat, Anthropic's API", Method::POST, "/v1/chat/completions")
            .body(|f| chat_body(CLAUDE, f.n)),
        family("gateway embeddings", Method::POST, "/v1/embeddings")
            .body(|_| json!({"model": CHAT, "input": ["a", "b"], "encoding_format": "float"})),
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn deep(depth: usize) -> Value {
    (0..depth)
        .fold(json!(1), |inner, i| if i % 2 == 0 { json!([inner]) } else { json!({"a": inner}) })
}

fn junk_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-zA-Z0-9/_.:@-]{0,300}",
        1 => Just(String::new()),
        1 => Just("  ".to_owned()),
        // U+0000 is refused before anything else looks at a request (tests/nul.rs pins that);
        // rare here, so the other checks get to run.
        1 => prop_oneof![Just("\u{0}"), Just("fz\u{0}target")].prop_map(str::to_owned),
        2 => Just("\u{1}\u{1f}\u{7f}\u{1b}[31m\r\n\t\u{85}".to_owned()),
        1 => Just("a/".repeat(150)),
        1 => Just("x".repeat(257)),
        1 => Just("../../etc/passwd".to_owned()),
        1 => Just("ü名🤖\u{202e}\u{feff}\u{200b}\u{fffd}".to_owned()),
        1 => Just("%00%2F%FF".to_owned()),
        1 => Just("\\u0000".to_owned()),
        1 => Just("' OR 1=1 --".to_owned()),
        1 => prop_oneof![Just("null"), Just("true"), Just("1"), Just("-1"), Just("1.5"),
                         Just("1e999"), Just("NaN"), Just("[]"), Just("{}")]
            .prop_map(str::to_owned),
        1 => Just("y".repeat(70_000)),
    ]
    .boxed()
}

fn junk_scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::from),
        2 => prop_oneof![Just(0i64), Just(-1), Just(1), Just(i64::MIN), Just(i64::MAX), any::<i64>()]
            .prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        2 => prop_oneof![Just(0.5f64), Just(-1.5), Just(1e308), Just(-1e308), Just(1e-300),
                         Just(2.0), any::<f64>()]
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        6 => junk_string().prop_map(Value::String),
    ]
    .boxed()
}

fn junk_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z_]{1,12}",
        1 => junk_string(),
        1 => prop_oneof![Just("id"), Just("name"), Just("api_key"), Just("__proto__"), Just(""),
                         Just("k\u{0}"), Just("$ref"), Just("model_id")]
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn junk_value() -> BoxedStrategy<Value> {
    prop_oneof![
        12 => junk_scalar().prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((junk_key(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        }),
        1 => prop_oneof![Just(deep(100)), Just(deep(200)), Just(json!([[[[[[]]]]]])), Just(json!({}))],
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum Op {
    Replace(Value),
    /// Another value of the same JSON type: an edge of the field's own domain rather than a
    /// type error, so the request gets past type checks more often.
    Similar(Index),
    Remove,
    AddKey(String, Value),
}

fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        4 => junk_value().prop_map(Op::Replace),
        5 => any::<Index>().prop_map(Op::Similar),
        2 => Just(Op::Remove),
        2 => (junk_key(), junk_value()).prop_map(|(k, v)| Op::AddKey(k, v)),
    ]
    .boxed()
}

/// A value of `like`'s JSON type from a pool of edge cases.
fn similar(like: &Value, index: Index) -> Value {
    match like {
        Value::String(_) => {
            let pool = [
                String::new(),
                " ".into(),
                "x".into(),
                "GPT-4o".into(),
                "a/b".into(),
                "ü名🤖".into(),
                "x".repeat(256),
                "x".repeat(257),
                "1".into(),
                "-1".into(),
                "true".into(),
                "https://".into(),
                "llm".into(),
                "openai".into(),
                "fz-target".into(),
                "fz-prov".into(),
                "summary".into(),
                "both".into(),
                "admin".into(),
                "viewer".into(),
                "gpt-4o".into(),
                "sk-...cdef".into(),
                "*".into(),
                "write".into(),
                "a,,b, ,".into(),
                "\u{200b}".into(),
            ];
            Value::String(index.get(&pool).clone())
        }
        Value::Number(_) => {
            let pool = [
                json!(0),
                json!(-1),
                json!(1),
                json!(0.5),
                json!(-0.000001),
                json!(1e308),
                json!(i64::MAX),
                json!(i64::MIN),
                json!(u64::MAX),
                json!(2_147_483_648_i64),
                json!(1.0),
                json!(1e-300),
                json!(100),
                json!(1_000_000_000_000_i64),
            ];
            index.get(&pool).clone()
        }
        Value::Bool(b) => Value::Bool(!b),
        Value::Array(items) => {
            let mut doubled = items.clone();
            doubled.extend(items.iter().cloned());
            index.get(&[json!([]), Value::Array(doubled), json!([null])]).clone()
        }
        Value::Object(_) => index.get(&[json!({}), json!({"": null})]).clone(),
        Value::Null => {
            index.get(&[json!(""), json!(0), json!(false), json!([]), json!({})]).clone()
        }
    }
}

#[derive(Clone, Debug)]
enum BodyPlan {
    Valid,
    Mutated(Vec<(Index, Op)>),
    Arbitrary(Value),
    Raw(Vec<u8>),
    /// Over the 1 MiB body limit.
    Huge,
}

/// Bodies that are almost JSON, or JSON that parsers disagree on.
const RAW_BODIES: &[&[u8]] = &[
    b"",
    b"{",
    b"null",
    b"[]",
    b"\"x\"",
    b"1e999",
    br#"{"a": 1, "a": 2}"#,
    b"{\"name\": \"\xff\xfe\"}",
    b"\xef\xbb\xbf{}",
    br#"{"name": "\ud800"}"#,
    br#"{"id": "a\u0000b", "model_id": "\u0000"}"#,
    br#"{"x": 1e400}"#,
    b"{} trailing",
    b"  {}  ",
    b"{\"a\":}",
];

fn body_plan() -> BoxedStrategy<BodyPlan> {
    let raw = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..48),
        3 => prop::sample::select(RAW_BODIES).prop_map(<[u8]>::to_vec),
    ];
    prop_oneof![
        4 => Just(BodyPlan::Valid),
        16 => (any::<Index>(), op()).prop_map(|m| BodyPlan::Mutated(vec![m])),
        8 => prop::collection::vec((any::<Index>(), op()), 2..5).prop_map(BodyPlan::Mutated),
        6 => junk_value().prop_map(BodyPlan::Arbitrary),
        5 => raw.prop_map(BodyPlan::Raw),
        1 => Just(BodyPlan::Huge),
    ]
    .boxed()
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A path segment or query value, already encoded: the fixture's own name (encoded), the name
/// with junk around it, or junk alone.
#[derive(Clone, Debug)]
enum SegPlan {
    Fixture,
    Around(String, String),
    Junk(String),
}

fn encoded_junk() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        3 => junk_string().prop_map(|s| encode(&s.chars().take(300).collect::<String>())),
        3 => prop_oneof![
            Just("%00"), Just("%2F"), Just("%2f"), Just("%FF"), Just("%C0%AF"), Just(".."),
            Just("."), Just("%2E%2E"), Just("%"), Just("%zz"), Just("%E2%80%AE"), Just("%20"),
            Just("+"), Just("~"), Just("%3F"), Just("%23"), Just(";"), Just("a;b=c"), Just("%25"),
            Just("x/y"), Just("%C3%BC"), Just("%F0%9F%A4%96"), Just("%ED%A0%80"), Just("*"),
            Just("!$&'()*+,=:@"), Just("%0A"), Just("%7F"),
        ]
        .prop_map(str::to_owned),
        1 => Just("x".repeat(300)),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|p| p.concat()).boxed()
}

fn seg_plan() -> BoxedStrategy<SegPlan> {
    prop_oneof![
        5 => Just(SegPlan::Fixture),
        2 => (prop_oneof![Just(String::new()), encoded_junk()], encoded_junk())
            .prop_map(|(a, b)| SegPlan::Around(a, b)),
        3 => encoded_junk().prop_map(SegPlan::Junk),
    ]
    .boxed()
}

fn query_value() -> BoxedStrategy<String> {
    prop_oneof![
        2 => prop_oneof![Just("1"), Just("0"), Just("-1"), Just("99999999999999999999"),
                         Just("1.5"), Just("true"), Just("false"), Just("name"), Just("asc"),
                         Just("desc"), Just(""), Just("llm"), Just("openai"), Just("-input_cost")]
            .prop_map(str::to_owned),
        3 => encoded_junk(),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
struct QueryPlan {
    /// Where the fixture `?id=` goes, and how it is fuzzed.
    id: Option<SegPlan>,
    /// `(index into the family's keys or a junk key, value)`, keys often repeated.
    pairs: Vec<(Index, Option<String>, String)>,
    /// No `=` on some pairs, stray `&`.
    bare: bool,
}

fn query_plan() -> BoxedStrategy<QueryPlan> {
    (
        prop_oneof![1 => Just(None), 4 => seg_plan().prop_map(Some)],
        prop_oneof![
            // Mostly no other pairs, so body fuzzing is not drowned by query refusals.
            3 => Just(Vec::new()),
            2 => prop::collection::vec(
                (any::<Index>(), prop::option::weighted(0.3, encoded_junk()), query_value()),
                1..6,
            ),
        ],
        prop::bool::weighted(0.1),
    )
        .prop_map(|(id, pairs, bare)| QueryPlan { id, pairs, bare })
        .boxed()
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Admin,
    Member,
    Viewer,
    Anonymous,
    BadKey,
}

#[derive(Clone, Debug)]
struct Plan {
    who: Who,
    n: u32,
    seg: SegPlan,
    query: QueryPlan,
    body: BodyPlan,
    content_type: &'static str,
    request_id: Option<String>,
    tenant: Option<String>,
}

fn plan() -> BoxedStrategy<Plan> {
    let who = prop_oneof![
        14 => Just(Who::Admin), 3 => Just(Who::Member), 2 => Just(Who::Viewer),
        1 => Just(Who::Anonymous), 1 => Just(Who::BadKey),
    ];
    let content_type = prop_oneof![
        12 => Just("application/json"),
        1 => Just("text/plain"),
        1 => Just(""),
        1 => Just("application/json; charset=latin1"),
        1 => Just("application/x-www-form-urlencoded"),
        1 => Just("multipart/form-data; boundary=x"),
    ];
    let header = || prop::option::weighted(0.1, "[ -~]{0,300}");
    (who, any::<u32>(), seg_plan(), query_plan(), body_plan(), content_type, header(), header())
        .prop_map(|(who, n, seg, query, body, content_type, request_id, tenant)| Plan {
            who,
            n,
            seg,
            query,
            body,
            content_type,
            request_id,
            tenant,
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Building and checking one request.

#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Every place in `value` a mutation can hit (the root included), as paths of steps.
fn places(value: &Value) -> Vec<Vec<String>> {
    fn walk(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    at.push(k.clone());
                    walk(v, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(i.to_string());
                    walk(v, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn step<'a>(container: &Value, token: &'a str) -> Step<'a> {
    match container {
        Value::Array(_) => Step::Index(token.parse().unwrap()),
        _ => Step::Key(token),
    }
}

fn child<'v>(value: &'v mut Value, s: Step<'_>) -> Option<&'v mut Value> {
    match s {
        Step::Key(k) => value.as_object_mut()?.get_mut(k),
        Step::Index(i) => value.as_array_mut()?.get_mut(i),
    }
}

fn mutate(body: &mut Value, at: &[String], op: &Op) {
    let Some((last, parent_path)) = at.split_last() else {
        match op {
            Op::Replace(v) => *body = v.clone(),
            Op::Similar(index) => *body = similar(body, *index),
            Op::Remove => *body = json!({}),
            Op::AddKey(k, v) => {
                if let Some(map) = body.as_object_mut() {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        return;
    };
    let mut parent = &mut *body;
    for token in parent_path {
        let s = step(parent, token);
        parent = child(parent, s).unwrap();
    }
    match op {
        Op::Replace(v) => {
            let s = step(parent, last);
            *child(parent, s).unwrap() = v.clone();
        }
        Op::Similar(index) => {
            let s = step(parent, last);
            let target = child(parent, s).unwrap();
            *target = similar(target, *index);
        }
        Op::Remove => match parent {
            Value::Object(map) => {
                map.remove(last);
            }
            Value::Array(items) => {
                items.remove(last.parse::<usize>().unwrap());
            }
            _ => {}
        },
        Op::AddKey(k, v) => {
            let s = step(parent, last);
            let target = child(parent, s).unwrap();
            match target {
                Value::Object(map) => {
                    map.insert(k.clone(), v.clone());
                }
                Value::Array(items) => items.push(v.clone()),
                other => *other = v.clone(),
            }
        }
    }
}

struct Built {
    method: Method,
    uri: String,
    who: Who,
    content_type: &'static str,
    body: Option<Vec<u8>>,
    request_id: Option<String>,
    tenant: Option<String>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} {}", self.method, self.uri)?;
        writeln!(f, "as {:?}, Content-Type: {:?}", self.who, self.content_type)?;
        if let Some(id) = &self.request_id {
            writeln!(f, "X-Request-Id: {id:?}")?;
        }
        if let Some(tenant) = &self.tenant {
            writeln!(f, "X-Tenant-Name: {tenant:?}")?;
        }
        if let Some(body) = &self.body {
            let text = String::from_utf8_lossy(body);
            let shown: String = text.chars().take(4000).collect();
            write!(f, "body ({} bytes): {shown}", body.len())?;
            if shown.len() < text.len() {
                write!(f, "…")?;
            }
        }
        Ok(())
    }
}

fn resolve_seg(plan: &SegPlan, fixture: &str) -> String {
    match plan {
        SegPlan::Fixture => encode(fixture),
        SegPlan::Around(before, after) => format!("{before}{}{after}", encode(fixture)),
        SegPlan::Junk(junk) => junk.clone(),
    }
}

fn build(world: &World, family: &Family, plan: &Plan) -> Built {
    let (key, seq, uuid) = world.target();
    let fixture = |fix: Fix| match fix {
        Fix::Model => key.clone(),
        Fix::Provider => PROVIDER.to_owned(),
        Fix::Endpoint => world.endpoint_slug(),
        Fix::Literal(text) => text.to_owned(),
    };
    let mut uri = if family.path.contains("{}") {
        let named = family.seg.map(fixture).unwrap_or_default();
        family.path.replace("{}", &resolve_seg(&plan.seg, &named))
    } else {
        family.path.to_owned()
    };
    let mut query = Vec::new();
    if let (Some(name), Some(id)) = (family.id_query, &plan.query.id) {
        query.push(format!("{name}={}", resolve_seg(id, &key)));
    }
    for (index, junk_key, value) in &plan.query.pairs {
        let name = match junk_key {
            Some(junk) => junk.clone(),
            None if family.query_keys.is_empty() => "q".to_owned(),
            None => index.get(family.query_keys).to_string(),
        };
        if plan.query.bare {
            query.push(name);
        } else {
            query.push(format!("{name}={value}"));
        }
    }
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query.join("&"));
    }

    let body = family.body.map(|valid| {
        let mut value = valid(&Fixtures { key: key.clone(), seq, uuid, n: plan.n });
        match &plan.body {
            BodyPlan::Valid => {}
            BodyPlan::Mutated(ops) => {
                for (index, op) in ops {
                    let places = places(&value);
                    let at = index.get(&places[..]).clone();
                    mutate(&mut value, &at, op);
                }
            }
            BodyPlan::Arbitrary(junk) => value = junk.clone(),
            BodyPlan::Raw(bytes) => return bytes.clone(),
            BodyPlan::Huge => value = json!({"name": "z".repeat(1_100_000)}),
        }
        serde_json::to_vec(&value).unwrap()
    });
    Built {
        method: family.method.clone(),
        uri,
        who: plan.who,
        content_type: plan.content_type,
        body,
        request_id: plan.request_id.clone(),
        tenant: plan.tenant.clone(),
    }
}

fn format_of(uri: &str) -> Format {
    if uri.starts_with("/respan") {
        Format::Drf
    } else if uri.starts_with("/admin") {
        Format::Admin
    } else if uri.starts_with("/v1/") {
        Format::OpenAi
    } else {
        Format::FastApi
    }
}

/// DRF field errors: `{"field": ["message", …]}`, nested objects for nested fields.
fn drf_fields(value: &Value) -> bool {
    value.as_object().is_some_and(|map| {
        !map.is_empty()
            && map.values().all(|v| match v {
                Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
                Value::Object(_) => drf_fields(v),
                _ => false,
            })
    })
}

/// Why `body` is not an error in `format`, if it is not.
fn format_problem(format: Format, body: &Value) -> Option<String> {
    let Some(map) = body.as_object() else { return Some("not a JSON object".into()) };
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    match format {
        Format::FastApi => {
            if keys != ["detail"] {
                return Some(format!("keys {keys:?}, expected only `detail`"));
            }
            match &map["detail"] {
                Value::String(_) => None,
                Value::Array(items) if !items.is_empty() => {
                    let pydantic = |e: &Value| {
                        e["type"].is_string() && e["loc"].is_array() && e["msg"].is_string()
                    };
                    (!items.iter().all(pydantic))
                        .then(|| "a pydantic error lacks type, loc or msg".into())
                }
                other => Some(format!("`detail` is {other}")),
            }
        }
        Format::Drf => {
            if keys == ["detail"] {
                return (!map["detail"].is_string()).then(|| "`detail` is not a string".into());
            }
            (!drf_fields(body)).then(|| "neither {detail} nor DRF field errors".into())
        }
        Format::Admin => {
            if !map["detail"].is_string() || !map["code"].is_string() {
                return Some("`detail` and `code` must be strings".into());
            }
            if keys.iter().any(|k| !["detail", "code", "errors"].contains(k)) {
                return Some(format!("unexpected keys {keys:?}"));
            }
            match map.get("errors") {
                None => None,
                Some(Value::Array(errors))
                    if errors
                        .iter()
                        .all(|e| e["field"].is_string() && e["message"].is_string()) =>
                {
                    None
                }
                Some(other) => Some(format!("`errors` is {other}")),
            }
        }
        Format::OpenAi => {
            if keys != ["error"] {
                return Some(format!("keys {keys:?}, expected only `error`"));
            }
            let error = &map["error"];
            let text_or_null = |v: &Value| v.is_string() || v.is_null();
            let message = error["message"].as_str().is_some_and(|m| !m.is_empty());
            (!(message
                && text_or_null(&error["type"])
                && text_or_null(&error["param"])
                && text_or_null(&error["code"])))
            .then(|| {
                "`error` lacks a message, or a type, param or code that is a string or null".into()
            })
        }
    }
}

async fn send(world: &World, built: &Built) -> TestResponse {
    let mut request = TestRequest::default().method(built.method.clone()).uri(&built.uri);
    let key = match built.who {
        Who::Admin => Some(world.admin_key.as_str()),
        Who::Member => Some(world.member_key.as_str()),
        Who::Viewer => Some(world.viewer_key.as_str()),
        Who::Anonymous => None,
        Who::BadKey => Some("mg_not-a-key"),
    };
    if let Some(key) = key {
        request = request.insert_header(("Authorization", format!("Bearer {key}")));
    }
    if let Some(id) = &built.request_id {
        request = request.insert_header(("X-Request-Id", id.as_str()));
    }
    if let Some(tenant) = &built.tenant {
        request = request.insert_header(("X-Tenant-Name", tenant.as_str()));
    }
    if let Some(body) = &built.body {
        if !built.content_type.is_empty() {
            request = request.insert_header(("Content-Type", built.content_type));
        }
        request = request.set_payload(body.clone());
    }
    // The test kit panics on an answer its OpenAPI document does not describe; say which
    // request it was.
    match std::panic::AssertUnwindSafe(world.app.call(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => panic!(
            "seed {}: the answer breaks the OpenAPI document (above) for:\n{built:?}",
            hex(&world.seed)
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs every family's cases; the statuses answered, counted over all of them.
async fn fuzz(world: &World, families: Vec<Family>) -> std::collections::BTreeMap<u16, u32> {
    let mut answered = std::collections::BTreeMap::<u16, u32>::new();
    println!("MODELGATE_FUZZ_SEED={}", hex(&world.seed));
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &world.seed),
    );
    let strategy = plan();
    // Every request and the start of its answer, to see what the strategies reach.
    let verbose = std::env::var_os("MODELGATE_FUZZ_VERBOSE").is_some();
    let mut before = world.state();
    for family in &families {
        let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
        for _ in 0..cases(family.cases) {
            let plan = strategy.new_tree(&mut runner).unwrap().current();
            let built = build(world, family, &plan);
            let called_before = world.upstream.calls();
            let response = send(world, &built).await;
            *statuses.entry(response.status).or_default() += 1;
            if verbose {
                let answer: String = response.text().chars().take(300).collect();
                println!("{} {} -> {} {answer}", built.method, built.uri, response.status);
            }
            let fail = |why: String| -> ! {
                panic!(
                    "seed {} [{}]: {why}\nrequest: {built:?}\nresponse: {response:?}",
                    hex(&world.seed),
                    family.name
                )
            };
            if response.status >= 500 && !unreachable_upstream(&built, &response) {
                fail(format!("answered {}", response.status));
            }
            if response.header("x-request-id").is_none_or(str::is_empty) {
                fail("no X-Request-Id".into());
            }
            if response.status == 405 && response.header("allow").is_none() {
                fail("a 405 without Allow".into());
            }
            if let Some(problem) = gateway_problem(world, &built, &response, called_before) {
                fail(problem);
            }
            let after = world.state();
            if response.status >= 400 {
                if !response.is_json() {
                    fail("the error body is not JSON".into());
                }
                if let Some(problem) = format_problem(format_of(&built.uri), &response.json) {
                    fail(format!("the error is not in the dialect's format: {problem}"));
                }
                if after != before {
                    fail(format!(
                        "a refused request changed data:\nbefore: {before:#?}\nafter: {after:#?}"
                    ));
                }
            }
            before = after;
        }
        println!("{}: {statuses:?}", family.name);
        for (status, count) in statuses {
            *answered.entry(status).or_default() += count;
        }
    }
    answered
}

/// The gateway's 502 for a model whose upstream cannot be reached: the fuzz target's base URL
/// names a host this machine cannot resolve, and mutations sometimes call it.
fn unreachable_upstream(built: &Built, response: &TestResponse) -> bool {
    built.uri.starts_with("/v1/")
        && response.status == 502
        && response.json["error"]["code"] == "upstream_unreachable"
}

/// Why a gateway call's answer is wrong, if it is: a refused call must not have reached the
/// upstream, an answered one must have, once, and a stream asked for must come as one, whole.
fn gateway_problem(
    world: &World,
    built: &Built,
    response: &TestResponse,
    called_before: usize,
) -> Option<String> {
    if !built.uri.starts_with("/v1/") {
        return None;
    }
    let calls = world.upstream.calls() - called_before;
    if response.status >= 400 {
        return (calls > 0)
            .then(|| format!("refused with {}, yet the upstream was called", response.status));
    }
    if calls != 1 {
        return Some(format!("answered {} after {calls} upstream calls", response.status));
    }
    // Read as the gateway reads it: top-level fields kept raw, whatever their depth.
    type Fields = std::collections::HashMap<String, Box<serde_json::value::RawValue>>;
    let fields: Option<Fields> = built.body.as_deref().and_then(|b| serde_json::from_slice(b).ok());
    let chat = built.uri.split('?').next() == Some("/v1/chat/completions");
    let streamed =
        chat && fields.is_some_and(|f| f.get("stream").is_some_and(|v| v.get() == "true"));
    // The fake upstream reads a body with serde_json, 128 levels deep at most, and answers one
    // nested deeper as it answers an empty one: what it answered then says nothing of `stream`.
    let readable =
        || built.body.as_deref().is_some_and(|b| serde_json::from_slice::<Value>(b).is_ok());
    if streamed && !readable() {
        return None;
    }
    let event_stream =
        response.header("content-type").is_some_and(|t| t.starts_with("text/event-stream"));
    if streamed != event_stream {
        return Some(format!("a stream asked for: {streamed}, answered as one: {event_stream}"));
    }
    if streamed && !response.text().ends_with("data: [DONE]\n\n") {
        return Some("the stream does not end with [DONE]".into());
    }
    (!streamed && !response.is_json()).then(|| "the answer is not JSON".into())
}

/// A body nested one level deeper than the body reader accepts (the offending `[` at byte 72).
fn too_deep_body() -> Vec<u8> {
    let depth = modelgate_http::body::MAX_BODY_DEPTH;
    format!("{{\"name\": {}1{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

backend_app_tests! {
    // Found by the fuzzer: `"role": null` passed validation and the create went on without a
    // role (a 500). It is a 422 naming the field, and no user is created.
    async fn admin_refuses_a_null_role(db) {
        let world = world(db).await;
        let before = world.state();
        let k = Some(world.admin_key.as_str());
        let body = json!({"id": "fz-u-1", "name": "U", "email": "u1@example.com", "role": null});
        let created = world.app.post("/admin/v1/users", k, body).await;
        assert_eq!((created.status, created.json), (422, json!({
            "detail": "Invalid request", "code": "invalid",
            "errors": [{"field": "role", "message": "This field may not be null."}]
        })));
        let patched = world.app.patch(&format!("/admin/v1/users/{MEMBER}"), k, json!({"role": null})).await;
        assert_eq!(patched.status, 422, "{patched:?}");
        assert_eq!(world.state(), before);
    }

    // Found by the fuzzer: a body nested 100+ levels deep was accepted and echoed a few levels
    // deeper (pydantic's `input`, stored params in later answers), past the 128 levels JSON
    // parsers such as serde_json accept. Bodies nested more than 64 levels are invalid JSON in
    // every dialect, and change nothing.
    async fn bodies_nested_too_deeply_are_refused_everywhere(db) {
        let world = world(db).await;
        let before = world.state();
        let k = Some(world.admin_key.as_str());
        let error = "nested more than 64 levels deep";
        let pydantic = json!({"detail": [{
            "type": "json_invalid", "loc": ["body", 72], "msg": "JSON decode error",
            "input": {}, "ctx": {"error": error}
        }]});
        for (method, path) in [
            (Method::POST, "/openwebui/api/v1/models/create".to_owned()),
            (Method::PUT, format!("/xagent/api/models/{TARGET}")),
            (Method::PATCH, format!("/syft/api/v1/models/{TARGET}")),
        ] {
            let refused = world.app.send_raw(method, &path, k, too_deep_body()).await;
            assert_eq!((refused.status, &refused.json), (422, &pydantic), "{path}");
        }
        let respan = world.app.send_raw(Method::PATCH, &format!("/respan/api/models/{TARGET}/"), k, too_deep_body()).await;
        assert_eq!((respan.status, respan.json), (400, json!({"detail": format!("JSON parse error - {error}")})));
        let admin = world.app.send_raw(Method::POST, "/admin/v1/groups", k, too_deep_body()).await;
        assert_eq!((admin.status, admin.json), (400, json!({"detail": format!("Invalid JSON: {error}"), "code": "invalid_json"})));
        assert_eq!(world.state(), before);
    }

    async fn openwebui_survives_fuzzing(db) {
        let world = world(db).await;
        fuzz(&world, openwebui()).await;
    }

    async fn xagent_survives_fuzzing(db) {
        let world = world(db).await;
        fuzz(&world, xagent()).await;
    }

    async fn syft_survives_fuzzing(db) {
        let world = world(db).await;
        fuzz(&world, syft()).await;
    }

    async fn respan_survives_fuzzing(db) {
        let world = world(db).await;
        fuzz(&world, respan()).await;
    }

    async fn admin_api_survives_fuzzing(db) {
        let world = world(db).await;
        fuzz(&world, admin()).await;
    }

    async fn gateway_survives_fuzzing(db) {
        let world = world(db).await;
        let answered = fuzz(&world, gateway()).await;
        // Every call that reached an upstream or tried to was metered, and no refused one.
        let unreachable = i64::from(answered.get(&502).copied().unwrap_or(0));
        let called = i64::try_from(world.upstream.calls()).unwrap() + unreachable;
        assert!(called > 0, "no generated call reached the upstream");
        let deadline = Instant::now() + Duration::from_secs(10);
        let metered = loop {
            let report = world.app.get("/admin/v1/usage?group_by=model", Some(&world.admin_key)).await;
            assert_eq!(report.status, 200, "{report:?}");
            let rows = report.json["data"].as_array().unwrap();
            let metered: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
            if metered >= called || Instant::now() > deadline {
                break metered;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(metered, called);
    }
}
