//! The dialect calls that reach a model provider, made through the server's provider client
//! against the test kit's fake OpenAI-compatible upstream: Xagent's `POST /test-connection` and
//! `POST /providers/{provider}/models`, Syft Space's `fetch_available_models` type action. What
//! the provider receives, each answer's shape, the egress policy, failures, and the provider
//! key kept out of every answer; none of them writes anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use actix_web::web;
use modelgate_core::Role;
use modelgate_server::app::configure_main;
use modelgate_server::gateway::{EgressPolicy, GatewaySettings};
use modelgate_testkit::net::unreachable_base_url;
use modelgate_testkit::upstream::{FakeUpstream, LISTED_MODELS, REFUSED_KEY};
use modelgate_testkit::{TestApp, TestDb, TestResponse, backend_app_tests};
use serde_json::{Value, json};

const PROVIDER_KEY: &str = "sk-provider-secret-9876";

async fn app(db: TestDb, allow: &str) -> TestApp {
    let settings = web::Data::new(GatewaySettings {
        egress: EgressPolicy::parse(allow).unwrap(),
        connect_timeout: Duration::from_secs(2),
        // Bounds the connection test's own ten seconds, so that `slow` times out here.
        timeout: Duration::from_secs(1),
        body_limit: 1024 * 1024,
        ..GatewaySettings::default()
    });
    TestApp::new(db, move |cfg| {
        cfg.app_data(settings);
        configure_main(cfg);
    })
    .await
}

const TEST: &str = "/xagent/api/models/test-connection";

fn test_body(base_url: &str, category: &str, model_name: &str) -> Value {
    json!({
        "model_provider": "openai", "model_name": model_name, "api_key": PROVIDER_KEY,
        "base_url": base_url, "category": category, "temperature": 0.3
    })
}

/// A test's answer: always 200 with Xagent's `ModelTestResponse`; returns (status, message,
/// error).
fn outcome(response: &TestResponse, model_name: &str) -> (String, String, Value) {
    assert_eq!(response.status, 200, "{response:?}");
    let json = &response.json;
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["model_id", "status", "response_time", "message", "error"], "{json}");
    assert_eq!(json["model_id"], model_name);
    assert!(json["response_time"].as_f64().is_some_and(|t| t >= 0.0), "{json}");
    assert!(!response.text().contains(PROVIDER_KEY));
    let text = |k: &str| json[k].as_str().unwrap().to_owned();
    (text("status"), text("message"), json["error"].clone())
}

fn failed_with(response: &TestResponse, model_name: &str, error: &str) {
    let (status, message, got) = outcome(response, model_name);
    assert_eq!((status.as_str(), message.as_str()), ("failed", "Connection failed"), "{got}");
    assert_eq!(got, error);
}

/// Nothing a provider call did is in the registry.
async fn nothing_stored(app: &TestApp, key: &str) {
    let models = app.get("/xagent/api/models/", Some(key)).await;
    assert_eq!(models.json, json!([]), "{models:?}");
    let history = app.get("/admin/v1/usage", Some(key)).await;
    assert_eq!(history.json["data"], json!([]), "{history:?}");
}

backend_app_tests! {
    async fn xagent_tests_a_chat_model_with_one_token_and_the_sent_key(db) {
        let (admin_ctx, admin) = db.bootstrap();
        let (_, viewer) = db.user(&admin_ctx, "v", Role::Viewer);
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1").await;

        // Any signed-in user may test a connection, as in Xagent.
        for key in [&admin, &viewer] {
            let response = app.post(TEST, Some(key), test_body(&fake.base_url, "llm", "gpt-4o-mini")).await;
            let (status, message, error) = outcome(&response, "gpt-4o-mini");
            assert_eq!((status.as_str(), message.as_str(), error), ("passed", "Connection successful", Value::Null));
        }
        let received = fake.received();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].path, "/v1/chat/completions");
        assert_eq!(received[0].authorization.as_deref(), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
        assert_eq!(received[0].body, json!({
            "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hello" }],
            "max_tokens": 1, "temperature": 0.3
        }));

        // Reasoning models get neither a temperature nor a token limit.
        let response = app.post(TEST, Some(&admin), test_body(&fake.base_url, "llm", "o3-mini")).await;
        assert_eq!(outcome(&response, "o3-mini").0, "passed");
        assert_eq!(fake.received()[2].body, json!({
            "model": "o3-mini", "messages": [{ "role": "user", "content": "Hello" }]
        }));

        // Embedding models embed "hello".
        let response = app.post(TEST, Some(&admin), test_body(&fake.base_url, "embedding", "text-embedding-3-small")).await;
        assert_eq!(outcome(&response, "text-embedding-3-small").0, "passed");
        let last = fake.received().pop().unwrap();
        assert_eq!((last.path.as_str(), last.body), ("/v1/embeddings", json!({ "model": "text-embedding-3-small", "input": "hello" })));

        // Other categories look for the model in the provider's list.
        let response = app.post(TEST, Some(&admin), test_body(&fake.base_url, "image", "gpt-4o-mini")).await;
        assert_eq!(outcome(&response, "gpt-4o-mini").0, "passed");
        let response = app.post(TEST, Some(&admin), test_body(&fake.base_url, "image", "dall-e-3")).await;
        failed_with(&response, "dall-e-3", "Model 'dall-e-3' was not found in provider 'openai'");
        nothing_stored(&app, &admin).await;
    }

    async fn xagent_connection_failures_are_answered_as_failed_tests(db) {
        let (_, admin) = db.bootstrap();
        let fake = FakeUpstream::start();
        let allowed = app(db, "127.0.0.1").await;

        let response = allowed.post(TEST, Some(&admin), test_body(&fake.base_url, "llm", "error-429")).await;
        failed_with(&response, "error-429", "the provider answered 429: Rate limit reached");

        let response = allowed.post(TEST, Some(&admin), test_body(&fake.base_url, "llm", "slow")).await;
        let (status, message, error) = outcome(&response, "slow");
        assert_eq!((status.as_str(), message.as_str()), ("failed", "Connection timed out"));
        assert_eq!(error, "Connection timed out after 10 seconds. Please check your network connection and provider status.");

        // The key the provider repeats in its error is not repeated here.
        let mut refused_key = test_body(&fake.base_url, "image", "gpt-4o-mini");
        refused_key["api_key"] = json!(REFUSED_KEY);
        let response = allowed.post(TEST, Some(&admin), refused_key).await;
        failed_with(&response, "gpt-4o-mini", "the provider answered 401: Incorrect API key provided: ***.");

        // The cloud metadata address, whatever the allowed loopback.
        let metadata = test_body("http://169.254.169.254/v1", "llm", "gpt-4o-mini");
        failed_with(&allowed.post(TEST, Some(&admin), metadata).await, "gpt-4o-mini", "upstream address 169.254.169.254 is not allowed: an operator may allow it with MODELGATE_EGRESS_ALLOW");

        let unreachable = test_body(&unreachable_base_url(), "llm", "gpt-4o-mini");
        failed_with(&allowed.post(TEST, Some(&admin), unreachable).await, "gpt-4o-mini", "the provider could not be reached");

        let mut gemini = test_body(&fake.base_url, "llm", "gemini-2.5-pro");
        gemini["model_provider"] = json!("gemini");
        failed_with(&allowed.post(TEST, Some(&admin), gemini).await, "gemini-2.5-pro", "modelgate calls providers that speak the OpenAI or Anthropic API; 'gemini' does not");

        let rerank = test_body(&fake.base_url, "rerank", "bge-reranker");
        failed_with(&allowed.post(TEST, Some(&admin), rerank).await, "bge-reranker", "Unsupported category for testing: rerank");

        let no_url = json!({ "model_provider": "openai-compatible", "model_name": "m", "category": "llm" });
        failed_with(&allowed.post(TEST, Some(&admin), no_url).await, "m", "base_url is required for provider 'openai-compatible'");

        // The rate-limited and the slow chat calls and the refused list: nothing else reached it.
        assert_eq!(fake.calls(), 3);
        nothing_stored(&allowed, &admin).await;
    }

    async fn xagent_refuses_a_bad_test_body_as_pydantic_does(db) {
        let (_, admin) = db.bootstrap();
        let app = app(db, "127.0.0.1").await;
        let response = app.post(TEST, Some(&admin), json!({ "model_provider": "openai", "temperature": "hot" })).await;
        assert_eq!(response.status, 422, "{response:?}");
        let detail = response.json["detail"].as_array().unwrap();
        let locs: Vec<&Value> = detail.iter().map(|d| &d["loc"]).collect();
        assert_eq!(locs, [&json!(["body", "model_name"]), &json!(["body", "temperature"])], "{detail:?}");
        assert_eq!(detail[0]["type"], "missing");
        assert_eq!(detail[1]["type"], "float_parsing");
    }

    async fn xagent_lists_a_providers_models(db) {
        let (_, admin) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1").await;
        let url = "/xagent/api/models/providers/openai/models";

        let response = app.post(url, Some(&admin), json!({ "api_key": PROVIDER_KEY, "base_url": fake.base_url })).await;
        assert_eq!(response.status, 200, "{response:?}");
        let models: Vec<Value> = LISTED_MODELS
            .iter()
            .map(|(id, owner)| json!({ "id": id, "created": 1_700_000_000, "owned_by": owner }))
            .collect();
        assert_eq!(response.json, json!({ "provider": "openai", "models": models, "count": 2 }));
        let received = fake.received();
        assert_eq!(received[0].path, "/v1/models");
        assert_eq!(received[0].authorization.as_deref(), Some(format!("Bearer {PROVIDER_KEY}").as_str()));

        let refused = app.post(url, Some(&admin), json!({ "api_key": REFUSED_KEY, "base_url": fake.base_url })).await;
        assert_eq!(refused.status, 500);
        assert_eq!(refused.json, json!({ "detail": "Failed to fetch models from openai: the provider answered 401: Incorrect API key provided: ***." }));

        let gemini = app.post("/xagent/api/models/providers/gemini/models", Some(&admin), json!({ "api_key": "k" })).await;
        assert_eq!(gemini.status, 400);
        assert_eq!(gemini.json, json!({ "detail": "Unsupported provider: gemini. Supported providers: ['openai', 'openrouter', 'deepseek', 'dashscope', 'xinference', 'zai-coding-plan', 'zhipuai-coding-plan', 'claude', 'anthropic', 'kimi-for-coding', 'alibaba-coding-plan', 'alibaba-coding-plan-cn', 'minimax-coding-plan', 'minimax-cn-coding-plan']" }));

        let xinference = app.post("/xagent/api/models/providers/xinference/models", Some(&admin), json!({ "api_key": "" })).await;
        assert_eq!(xinference.status, 500);
        assert_eq!(xinference.json, json!({ "detail": "Failed to fetch models from xinference: base_url is required for Xinference" }));

        let missing = app.post(url, Some(&admin), json!({ "base_url": fake.base_url })).await;
        assert_eq!(missing.status, 422, "{missing:?}");
        assert_eq!(missing.json["detail"][0]["loc"], json!(["body", "api_key"]));
        assert_eq!(fake.calls(), 2);
        nothing_stored(&app, &admin).await;
    }

    async fn anthropic_is_tested_and_listed_with_its_own_key_header(db) {
        let (_, admin) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1").await;
        // Anthropic's clients take the host alone; its API is under /v1.
        let host = fake.base_url.trim_end_matches("/v1").to_owned();
        let mut body = test_body(&host, "llm", "claude-up");
        body["model_provider"] = json!("claude");
        let response = app.post(TEST, Some(&admin), body).await;
        assert_eq!(outcome(&response, "claude-up").0, "passed", "{response:?}");
        let sent = &fake.received()[0];
        assert_eq!(sent.path, "/v1/messages");
        assert_eq!((sent.x_api_key.as_deref(), sent.authorization.as_deref()), (Some(PROVIDER_KEY), None));
        assert_eq!(sent.anthropic_version.as_deref(), Some("2023-06-01"));
        assert_eq!(sent.body, json!({
            "model": "claude-up", "max_tokens": 1, "messages": [{ "role": "user", "content": "Hello" }]
        }));
        let mut embedding = test_body(&host, "embedding", "claude-up");
        embedding["model_provider"] = json!("anthropic");
        let response = app.post(TEST, Some(&admin), embedding).await;
        assert_eq!(outcome(&response, "claude-up").2, "Provider 'anthropic' has no embedding models");

        let listed = app
            .post("/xagent/api/models/providers/claude/models", Some(&admin), json!({ "api_key": PROVIDER_KEY, "base_url": host }))
            .await;
        assert_eq!(listed.json, json!({ "provider": "claude", "count": 1, "models": [{ "id": "claude-listed", "name": "Claude Listed" }] }), "{listed:?}");
        let syft = app
            .post("/syft/api/v1/models/types/anthropic/actions/fetch_available_models", Some(&admin), json!({ "base_url": host, "api_key": PROVIDER_KEY }))
            .await;
        assert_eq!(syft.json, json!({ "models": [{ "id": "claude-listed", "name": "Claude Listed", "owned_by": null }] }), "{syft:?}");
        for sent in &fake.received()[2..] {
            assert_eq!((sent.path.as_str(), sent.x_api_key.as_deref()), ("/v1/models", Some(PROVIDER_KEY)));
        }
    }

    async fn xagent_tests_an_azure_deployment_with_its_api_version_and_key_header(db) {
        let (_, admin) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1").await;
        // The resource's endpoint as base URL, the deployment as model name.
        for (category, deployment, operation) in [("llm", "chat-deploy", "chat/completions"), ("embedding", "embed-deploy", "embeddings")] {
            let mut body = test_body(fake.root(), category, deployment);
            body["model_provider"] = json!("azure_openai");
            let response = app.post(TEST, Some(&admin), body).await;
            assert_eq!(outcome(&response, deployment).0, "passed", "{response:?}");
            let sent = fake.received().pop().unwrap();
            assert_eq!(sent.path, format!("/openai/deployments/{deployment}/{operation}"));
            assert_eq!(sent.query, "api-version=2024-10-21");
            assert_eq!((sent.api_key.as_deref(), sent.authorization.as_deref()), (Some(PROVIDER_KEY), None));
        }
        let no_url = json!({ "model_provider": "azure_openai", "model_name": "d", "category": "llm", "api_key": "k" });
        failed_with(&app.post(TEST, Some(&admin), no_url).await, "d", "base_url is required for provider 'azure_openai'");
        assert_eq!(fake.calls(), 2);
        nothing_stored(&app, &admin).await;
    }

    async fn xagent_coding_plans_are_tested_and_listed_as_xagent_does(db) {
        let (_, admin) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1").await;
        let host = fake.base_url.trim_end_matches("/v1").to_owned();
        // MiniMax's and Kimi's coding plans are Claude-compatible: tested with Anthropic's call.
        for provider in ["minimax-coding-plan", "minimax-cn-coding-plan", "kimi-for-coding"] {
            let mut body = test_body(&host, "llm", "MiniMax-M2.5");
            body["model_provider"] = json!(provider);
            let response = app.post(TEST, Some(&admin), body).await;
            assert_eq!(outcome(&response, "MiniMax-M2.5").0, "passed", "{provider}: {response:?}");
            let sent = fake.received().pop().unwrap();
            assert_eq!(sent.path, "/v1/messages", "{provider}");
            assert_eq!((sent.x_api_key.as_deref(), sent.authorization.as_deref()), (Some(PROVIDER_KEY), None));
        }
        let calls = fake.calls();
        // Kimi's list is Anthropic's model list at its base URL.
        let kimi = app
            .post("/xagent/api/models/providers/kimi-for-coding/models", Some(&admin), json!({ "api_key": PROVIDER_KEY, "base_url": host }))
            .await;
        assert_eq!(kimi.json, json!({ "provider": "kimi-for-coding", "count": 1, "models": [{ "id": "claude-listed", "name": "Claude Listed" }] }), "{kimi:?}");
        assert_eq!(fake.received()[calls].x_api_key.as_deref(), Some(PROVIDER_KEY));
        // MiniMax's and Alibaba's plans answer Xagent's own lists: nothing is called.
        for (provider, names) in [
            ("minimax-coding-plan", vec!["MiniMax-M2", "MiniMax-M2.1", "MiniMax-M2.5"]),
            ("alibaba-coding-plan-cn", vec!["glm-4.7", "glm-5", "qwen3-coder-next", "qwen3-coder-plus", "qwen3-max-2026-01-23", "qwen3.5-plus"]),
        ] {
            let url = format!("/xagent/api/models/providers/{provider}/models");
            let listed = app.post(&url, Some(&admin), json!({ "api_key": "plan-key" })).await;
            let models: Vec<Value> = names.iter().map(|id| json!({ "id": id, "created": 0, "owned_by": provider })).collect();
            assert_eq!(listed.json, json!({ "provider": provider, "count": names.len(), "models": models }), "{listed:?}");
        }
        assert_eq!(fake.calls(), calls + 1);
        nothing_stored(&app, &admin).await;
    }

    async fn syft_fetches_the_models_an_openai_compatible_api_lists(db) {
        let (_, admin) = db.bootstrap();
        let fake = FakeUpstream::start();
        let allowed = app(db, "127.0.0.1").await;
        let url = "/syft/api/v1/models/types/openai/actions/fetch_available_models";
        let body = json!({ "base_url": fake.base_url, "api_key": PROVIDER_KEY });

        let response = allowed.post(url, Some(&admin), body.clone()).await;
        assert_eq!(response.status, 200, "{response:?}");
        // Sorted by id.
        assert_eq!(response.json, json!({ "models": [
            { "id": "gpt-4o-mini", "name": null, "owned_by": "system" },
            { "id": "text-embedding-3-small", "name": null, "owned_by": "openai" }
        ]}));
        assert_eq!(fake.received()[0].authorization.as_deref(), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
        // Ollama is given as its server's root; its list is under /v1.
        let ollama = "/syft/api/v1/models/types/ollama/actions/fetch_available_models";
        let listed = allowed.post(ollama, Some(&admin), json!({ "base_url": format!("{}/", fake.root()), "api_key": PROVIDER_KEY })).await;
        assert_eq!(listed.json["models"].as_array().map(Vec::len), Some(2), "{listed:?}");
        assert_eq!(fake.received()[1].path, "/v1/models");

        let refused = allowed.post(url, Some(&admin), json!({ "base_url": fake.base_url, "api_key": REFUSED_KEY })).await;
        assert_eq!(refused.status, 502);
        assert_eq!(refused.json, json!({ "detail": "Failed to fetch models: the provider answered 401: Incorrect API key provided: ***." }));

        let metadata = json!({ "base_url": "http://169.254.169.254/v1", "api_key": PROVIDER_KEY });
        let blocked = allowed.post(url, Some(&admin), metadata).await;
        assert_eq!(blocked.status, 403);
        assert_eq!(blocked.json, json!({ "detail": "Failed to fetch models: upstream address 169.254.169.254 is not allowed: an operator may allow it with MODELGATE_EGRESS_ALLOW" }));

        let unknown_type = allowed.post("/syft/api/v1/models/types/nope/actions/fetch_available_models", Some(&admin), body.clone()).await;
        assert_eq!((unknown_type.status, unknown_type.json), (404, json!({ "detail": "Model type 'nope' not found" })));
        let unknown_action = allowed.post("/syft/api/v1/models/types/openai/actions/refresh", Some(&admin), body.clone()).await;
        assert_eq!((unknown_action.status, unknown_action.json), (404, json!({ "detail": "Action 'refresh' not found for model type 'openai'" })));

        let missing = allowed.post(url, Some(&admin), json!({ "base_url": fake.base_url })).await;
        assert_eq!(missing.status, 422, "{missing:?}");
        assert_eq!(missing.json["detail"][0]["loc"], json!(["body", "api_key"]));
        let unauthenticated = allowed.post(url, None, body).await;
        assert_eq!(unauthenticated.status, 401);
        // The two lists and the refused key: nothing else reached it.
        assert_eq!(fake.calls(), 3);
        nothing_stored(&allowed, &admin).await;
    }
}
