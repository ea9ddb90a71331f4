//! The inference gateway against a fake OpenAI-compatible upstream (its own port): what the
//! upstream receives (key, model name, merged parameters), streams passed through in order and
//! cancelled with their caller, usage rows and their cost (inherited pricing included),
//! permissions, egress refusals, upstream failures, and keys kept out of every answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::http::Method;
use actix_web::test::TestRequest;
use actix_web::web;
use modelgate_core::{Registry, Role};
use modelgate_server::app::configure_main;
use modelgate_server::gateway::{EgressPolicy, GatewaySettings, TrustStore, UpstreamTls};
use modelgate_testkit::net::unreachable_base_url;
use modelgate_testkit::tls::TlsUpstream;
use modelgate_testkit::upstream::{
    CACHED_TOKENS, COMPLETION_TOKENS, FakeUpstream, PROMPT_TOKENS, REMAINING_TOKENS, STREAM_WORDS,
};
use modelgate_testkit::{TestApp, TestDb, TestResponse, backend_app_tests};
use serde_json::{Value, json};

const UPSTREAM_KEY: &str = "sk-upstream-secret-wxyz";

async fn app(db: TestDb, allow: &str, timeout: Duration) -> TestApp {
    app_trusting(db, allow, timeout, TrustStore::system()).await
}

/// [`app`] with upstream TLS trusting `trust`.
async fn app_trusting(db: TestDb, allow: &str, timeout: Duration, trust: TrustStore) -> TestApp {
    let settings = web::Data::new(GatewaySettings {
        egress: EgressPolicy::parse(allow).unwrap(),
        connect_timeout: Duration::from_secs(2),
        timeout,
        body_limit: 3 * 1024 * 1024,
        tls: UpstreamTls::trusting(trust),
    });
    TestApp::new(db, move |cfg| {
        cfg.app_data(settings);
        configure_main(cfg);
    })
    .await
}

/// An Xagent model calling `base_url` as `model_name` with the upstream key.
async fn xagent_model(app: &TestApp, key: &str, id: &str, base_url: &str, model_name: &str) {
    let created = app
        .post("/xagent/api/models/", Some(key), json!({
            "model_id": id, "category": "llm", "model_provider": "openai", "model_name": model_name,
            "api_key": UPSTREAM_KEY, "base_url": base_url, "temperature": 0.3
        }))
        .await;
    assert_eq!(created.status, 200, "{created:?}");
}

/// Creates a Respan provider or model, which must answer 201.
async fn respan_created(app: &TestApp, key: &str, path: &str, body: Value) {
    let created = app.post(path, Some(key), body).await;
    assert_eq!(created.status, 201, "{created:?}");
}

async fn chat(app: &TestApp, key: &str, body: Value) -> TestResponse {
    app.post("/v1/chat/completions", Some(key), body).await
}

fn hello(model: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] })
}

fn openai_error(response: &TestResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "{response:?}");
    assert_eq!(response.json["error"]["code"], code, "{response:?}");
    assert!(response.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// The usage report once `calls` calls are in it (rows are written after each answer).
async fn usage_of(app: &TestApp, key: &str, group_by: &str, calls: i64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = usage(app, key, group_by).await;
        if rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum::<i64>() >= calls {
            return rows;
        }
        assert!(Instant::now() < deadline, "{calls} calls not metered: {rows:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn usage(app: &TestApp, key: &str, group_by: &str) -> Vec<Value> {
    let report = app.get(&format!("/admin/v1/usage?group_by={group_by}"), Some(key)).await;
    assert_eq!(report.status, 200, "{report:?}");
    report.json["data"].as_array().unwrap().clone()
}

/// Waits for the usage row a stream writes when it ends.
async fn usage_eventually(app: &TestApp, key: &str, model: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = usage(app, key, "model").await;
        if let Some(row) = rows.into_iter().find(|r| r["group"] == model) {
            return row;
        }
        assert!(Instant::now() < deadline, "no usage row for {model}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

backend_app_tests! {
    async fn calls_reach_the_upstream_with_its_key_its_name_and_the_models_parameters(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "team-chat", &fake.base_url, "up-model").await;
        // Open WebUI sets the system prompt and max_tokens of the same model.
        let updated = app.post("/openwebui/api/models/model/update?id=team-chat", Some(&key), json!({
            "id": "team-chat", "name": "Team chat", "meta": {},
            "params": { "system": "Answer briefly.", "max_tokens": 111, "temperature": 0.3 }
        })).await;
        assert_eq!(updated.status, 200, "{updated:?}");

        let answer = chat(&app, &key, hello("team-chat")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json["choices"][0]["message"]["content"], "Hello!");
        assert_eq!(answer.header(REMAINING_TOKENS.0), Some(REMAINING_TOKENS.1));
        assert!(!answer.text().contains(UPSTREAM_KEY));

        // The request's own values win over the model's.
        let mut own = hello("team-chat");
        own["temperature"] = json!(0.9);
        own["messages"] = json!([{ "role": "system", "content": "Mine." }, { "role": "user", "content": "hi" }]);
        assert_eq!(chat(&app, &key, own).await.status, 200);

        let received = fake.received();
        assert_eq!(received.len(), 2, "{received:?}");
        let first = &received[0];
        assert_eq!(first.path, "/v1/chat/completions");
        assert_eq!(first.authorization.as_deref(), Some(format!("Bearer {UPSTREAM_KEY}").as_str()));
        assert_eq!(first.body["model"], "up-model");
        assert_eq!(first.body["temperature"], 0.3);
        assert_eq!(first.body["max_tokens"], 111);
        assert_eq!(first.body["messages"], json!([
            { "role": "system", "content": "Answer briefly." }, { "role": "user", "content": "hi" }
        ]));
        // Admins see the org's calls, members their own.
        assert_eq!(usage_of(&app, &key, "user", 2).await.len(), 1);
        let (_, member_key) = app.db.user(&app.db.ctx_for_key(&key), "mia", Role::Member);
        let mine = usage(&app, &member_key, "model").await;
        assert!(mine.is_empty(), "{mine:?}");

        // Conversations larger than the admin API's body limit go through; past the gateway's
        // own limit the answer is OpenAI's 413.
        let mut long = hello("team-chat");
        long["messages"][0]["content"] = json!("x".repeat(2 * 1024 * 1024));
        assert_eq!(chat(&app, &key, long.clone()).await.status, 200);
        long["messages"][0]["content"] = json!("x".repeat(4 * 1024 * 1024));
        let too_large = chat(&app, &key, long).await;
        openai_error(&too_large, 413, "request_too_large");

        let second = &received[1];
        assert_eq!(second.body["temperature"], 0.9);
        assert_eq!(second.body["max_tokens"], 111);
        assert_eq!(second.body["messages"][0], json!({ "role": "system", "content": "Mine." }));
        assert_eq!(second.body["messages"].as_array().unwrap().len(), 2);

        // What the gateway does not set reaches the upstream as the caller wrote it: numbers,
        // escapes, fields it does not know, and their order.
        let written = r#"{"top_p":1.50,"model":"team-chat","user":"caf\u00e9","logit_bias":{"50256":-100},"messages":[{"role":"user","content":"a\"b"}]}"#;
        let answer = app.send_raw(Method::POST, "/v1/chat/completions", Some(&key), written.into()).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let sent = fake.received().last().unwrap().raw.clone();
        let expected = r#"{"top_p":1.50,"model":"up-model","user":"caf\u00e9","logit_bias":{"50256":-100},"messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"a\"b"}],"temperature":0.3,"max_tokens":111}"#;
        assert_eq!(sent, expected);
    }

    async fn a_custom_provider_is_called_and_prices_come_from_the_base(db) {
        let (admin, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1/32", Duration::from_secs(5)).await;
        respan_created(&app, &key, "/respan/api/providers/", json!({
            "provider_id": "acme", "provider_name": "Acme", "api_key": "sk-provider-secret-abcd",
            "extra_kwargs": { "base_url": fake.base_url }
        })).await;
        respan_created(&app, &key, "/respan/api/models/", json!({
            "model_name": "priced-base", "input_cost": 2.0, "output_cost": 8.0, "cache_hit_input_cost": 0.5
        })).await;
        respan_created(&app, &key, "/respan/api/models/", json!({
            "model_name": "acme-chat", "base_model_name": "priced-base", "custom_provider_id": "acme"
        })).await;

        let answer = chat(&app, &key, hello("acme-chat")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let received = fake.received();
        assert_eq!(received[0].body["model"], "priced-base");
        assert_eq!(received[0].authorization.as_deref(), Some("Bearer sk-provider-secret-abcd"));

        let rows = usage_of(&app, &key, "model", 1).await;
        let row = rows.iter().find(|r| r["group"] == "acme-chat").unwrap();
        assert_eq!(row["requests"], 1);
        assert_eq!(row["errors"], 0);
        assert_eq!(row["prompt_tokens"], PROMPT_TOKENS);
        assert_eq!(row["completion_tokens"], COMPLETION_TOKENS);
        assert_eq!(row["cached_tokens"], CACHED_TOKENS);
        // 600 uncached × 2 + 400 cached × 0.5 + 500 × 8, per million tokens.
        let expected = (600.0 * 2.0 + 400.0 * 0.5 + 500.0 * 8.0) / 1e6;
        assert!((row["cost"].as_f64().unwrap() - expected).abs() < 1e-12, "{row}");
        // The metrics count the same cost.
        let metrics = app.get("/metrics", None).await.text();
        let gauge = format!("modelgate_gateway_cost_usd{{org=\"{}\",model=\"acme-chat\"}} ", admin.actor.org_id);
        let counted = metrics.lines().find_map(|line| line.strip_prefix(&gauge));
        let counted: f64 = counted.unwrap_or_else(|| panic!("no {gauge} in {metrics}")).parse().unwrap();
        assert!((counted - expected).abs() < 1e-12, "{counted}");
        // By user and key too; nothing of any key in the report.
        let by_key = usage(&app, &key, "key").await;
        assert_eq!(by_key.len(), 1);
        assert!(by_key[0]["group"].is_string(), "{by_key:?}");
        let by_day = usage(&app, &key, "day").await;
        assert_eq!(by_day[0]["group"], chrono::Utc::now().format("%Y-%m-%d").to_string());
        let report = app.get("/admin/v1/usage?group_by=user", Some(&key)).await;
        assert!(!report.text().contains("sk-"), "{report:?}");
        let refused = app.get("/admin/v1/usage?group_by=colour&from=yesterday", Some(&key)).await;
        assert_eq!(refused.status, 422);
        assert_eq!(refused.json["errors"].as_array().unwrap().len(), 2, "{refused:?}");
    }

    async fn streams_pass_through_in_order_and_are_metered(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "streamer", &fake.base_url, "up-model").await;
        let mut body = hello("streamer");
        body["stream"] = json!(true);
        let answer = chat(&app, &key, body).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.header("content-type").is_some_and(|t| t.starts_with("text/event-stream")));
        assert_eq!(answer.header(REMAINING_TOKENS.0), Some(REMAINING_TOKENS.1));
        let events: Vec<&str> = answer
            .text()
            .leak()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .collect();
        let words: Vec<String> = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ").unwrap()).ok())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(String::from))
            .collect();
        assert_eq!(words, STREAM_WORDS);
        assert_eq!(events.last(), Some(&"data: [DONE]"));
        // The upstream was asked for usage; the caller, who did not ask, gets no chunk without
        // choices (as from OpenAI), and the call is metered all the same.
        assert_eq!(fake.received()[0].body["stream_options"]["include_usage"], true);
        assert!(!events.iter().any(|e| e.contains("\"usage\"")), "{events:?}");
        // A caller that asks gets the usage chunk, last before [DONE]; one that declines does not,
        // and its call is metered too.
        for (asked, shown) in [(true, true), (false, false)] {
            let mut body = hello("streamer");
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": asked });
            let text = chat(&app, &key, body).await.text();
            let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
            let usage = events.iter().position(|e| e.contains("\"usage\""));
            assert_eq!(usage, shown.then(|| events.len() - 2), "{text}");
        }
        assert!(fake.received().iter().all(|r| r.body["stream_options"]["include_usage"] == true));
        // Events the network cut anywhere arrive whole and in order, the usage chunk left out.
        xagent_model(&app, &key, "splitter", &fake.base_url, "split-stream").await;
        let mut body = hello("splitter");
        body["stream"] = json!(true);
        let text = chat(&app, &key, body).await.text();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| serde_json::from_str(e.strip_prefix("data: ")?).ok())
            .collect();
        let words: Vec<&str> = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(words, STREAM_WORDS, "{text}");
        assert!(chunks.iter().all(|c| !c["choices"].as_array().unwrap().is_empty()), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        let rows = usage_of(&app, &key, "model", 4).await;
        let streamer = rows.iter().find(|r| r["group"] == "streamer").unwrap();
        assert_eq!((streamer["prompt_tokens"].as_i64(), streamer["errors"].as_i64()), (Some(3 * PROMPT_TOKENS), Some(0)));
        let splitter = rows.iter().find(|r| r["group"] == "splitter").unwrap();
        assert_eq!(splitter["completion_tokens"], COMPLETION_TOKENS, "{rows:?}");
        // A caller that accepts gzip (OpenAI's SDKs do) gets the events uncompressed; whole
        // answers are still compressed for it.
        let gzip = |body: Value| {
            TestRequest::post()
                .uri("/v1/chat/completions")
                .insert_header(("Authorization", format!("Bearer {key}")))
                .insert_header(("Accept-Encoding", "gzip"))
                .set_json(body)
        };
        let mut body = hello("streamer");
        body["stream"] = json!(true);
        let plain = app.call(gzip(body)).await;
        assert_eq!(plain.header("content-encoding"), Some("identity"), "{plain:?}");
        assert!(plain.text().starts_with("data: {") && plain.text().ends_with("data: [DONE]\n\n"));
        let whole = app.call(gzip(hello("streamer"))).await;
        assert_eq!((whole.status, whole.header("content-encoding")), (200, Some("gzip")));
    }

    async fn an_upstream_refusing_stream_options_is_streamed_without_them(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "old-azure", &fake.base_url, "no-stream-options").await;
        let streamed = |options: Option<Value>| {
            let mut body = hello("old-azure");
            body["stream"] = json!(true);
            if let Some(options) = options {
                body["stream_options"] = options;
            }
            body
        };
        let words = |text: &str| -> Vec<String> {
            text.split("\n\n")
                .filter_map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ")?).ok())
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(String::from))
                .collect()
        };
        // Refused with the usage request added for metering: asked once more without it.
        let answer = chat(&app, &key, streamed(None)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(words(&answer.text()), STREAM_WORDS);
        assert!(answer.text().ends_with("data: [DONE]\n\n"), "{answer:?}");
        let options: Vec<Value> = fake.received().iter().map(|r| r.body["stream_options"].clone()).collect();
        assert_eq!(options, [json!({ "include_usage": true }), Value::Null]);
        // Remembered: the next stream goes without it at once.
        let answer = chat(&app, &key, streamed(None)).await;
        assert_eq!(words(&answer.text()), STREAM_WORDS);
        assert_eq!(fake.calls(), 3);
        assert_eq!(fake.received()[2].body.get("stream_options"), None);
        // A caller's own stream_options go as they came, and their refusal comes back as is.
        let refused = chat(&app, &key, streamed(Some(json!({ "include_usage": true })))).await;
        assert_eq!(refused.status, 400, "{refused:?}");
        assert_eq!(refused.json, json!({ "error": {
            "message": "Unrecognized request argument supplied: stream_options",
            "type": "invalid_request_error", "param": null, "code": null
        } }));
        assert_eq!(fake.calls(), 4);
        // Another refusal of a stream is passed on whole, not retried.
        xagent_model(&app, &key, "filtered", &fake.base_url, "error-filtered").await;
        let mut body = hello("filtered");
        body["stream"] = json!(true);
        let filtered = chat(&app, &key, body).await;
        assert_eq!(filtered.status, 400, "{filtered:?}");
        assert_eq!(filtered.json["error"]["code"], "content_filter");
        assert_eq!(filtered.json["error"]["innererror"]["code"], "ResponsibleAIPolicyViolation");
        assert_eq!(fake.calls(), 5);
        // Every call metered; the streams without usage counted, with no tokens.
        let rows = usage_of(&app, &key, "model", 4).await;
        let old = rows.iter().find(|r| r["group"] == "old-azure").unwrap();
        assert_eq!((old["requests"].as_i64(), old["errors"].as_i64()), (Some(3), Some(1)), "{rows:?}");
        assert_eq!(old["prompt_tokens"], 0, "{rows:?}");
    }

    async fn anthropic_models_are_called_through_the_messages_api_and_answer_as_openai(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        let created = app
            .post("/xagent/api/models/", Some(&key), json!({
                "model_id": "claude", "category": "llm", "model_provider": "anthropic",
                "model_name": "claude-up", "api_key": UPSTREAM_KEY, "base_url": fake.base_url,
                "temperature": 0.3
            }))
            .await;
        assert_eq!(created.status, 200, "{created:?}");
        let updated = app.post("/openwebui/api/models/model/update?id=claude", Some(&key), json!({
            "id": "claude", "name": "Claude", "meta": {},
            "params": { "system": "Answer briefly.", "temperature": 0.3 }
        })).await;
        assert_eq!(updated.status, 200, "{updated:?}");

        let mut body = hello("claude");
        body["tools"] = json!([{ "type": "function", "function": {
            "name": "weather", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } }
        } }]);
        let answer = chat(&app, &key, body).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let choice = &answer.json["choices"][0];
        assert_eq!(answer.json["object"], "chat.completion");
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "Checking.");
        assert_eq!(choice["message"]["tool_calls"][0]["function"], json!({ "name": "weather", "arguments": "{\"city\":\"Paris\"}" }));
        assert_eq!(answer.json["usage"]["prompt_tokens"], PROMPT_TOKENS);
        assert_eq!(answer.json["usage"]["prompt_tokens_details"]["cached_tokens"], CACHED_TOKENS);
        assert!(!answer.text().contains(UPSTREAM_KEY));

        let received = &fake.received()[0];
        assert_eq!(received.path, "/v1/messages");
        assert_eq!(received.x_api_key.as_deref(), Some(UPSTREAM_KEY));
        assert_eq!(received.authorization, None, "Anthropic's key goes in x-api-key only");
        assert_eq!(received.anthropic_version.as_deref(), Some("2023-06-01"));
        assert_eq!(received.body["model"], "claude-up");
        assert_eq!(received.body["system"], json!([{ "type": "text", "text": "Answer briefly." }]));
        assert_eq!(received.body["messages"], json!([{ "role": "user", "content": [{ "type": "text", "text": "hi" }] }]));
        assert_eq!(received.body["temperature"], 0.3);
        assert_eq!(received.body["max_tokens"], 4096);
        assert_eq!(received.body["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");

        // Streamed: Anthropic's events come back as OpenAI's chunks, usage chunk (asked for) and
        // [DONE] last.
        let mut body = hello("claude");
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
        let answer = chat(&app, &key, body).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let text = answer.text();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        let chunks: Vec<Value> = events
            .iter()
            .filter_map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).ok())
            .collect();
        let words: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(words, STREAM_WORDS);
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"), "{text}");
        assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "{text}");
        assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], COMPLETION_TOKENS);
        assert_eq!(events.last(), Some(&"data: [DONE]"));

        // Both calls metered with Anthropic's counts, cached tokens included.
        let rows = usage_of(&app, &key, "model", 2).await;
        assert_eq!(rows[0]["prompt_tokens"], 2 * PROMPT_TOKENS, "{rows:?}");
        assert_eq!(rows[0]["cached_tokens"], 2 * CACHED_TOKENS, "{rows:?}");
        assert_eq!(rows[0]["completion_tokens"], 2 * COMPLETION_TOKENS, "{rows:?}");

        // Anthropic's errors in OpenAI's shape with their status (a model of Xagent's `claude`
        // provider, Anthropic by another name); no embeddings.
        let failing = app
            .post("/xagent/api/models/", Some(&key), json!({
                "model_id": "claude-missing", "category": "llm", "model_provider": "claude",
                "model_name": "anthropic-error", "api_key": UPSTREAM_KEY, "base_url": fake.base_url
            }))
            .await;
        assert_eq!(failing.status, 200, "{failing:?}");
        let refused = chat(&app, &key, hello("claude-missing")).await;
        openai_error(&refused, 404, "not_found_error");
        assert_eq!(refused.json["error"]["message"], "model: anthropic-error");
        let embedded = app.post("/v1/embeddings", Some(&key), json!({ "model": "claude", "input": "x" })).await;
        openai_error(&embedded, 400, "unsupported_endpoint");
        let audio = json!({ "model": "claude", "messages": [{ "role": "user", "content": [{ "type": "input_audio" }] }] });
        let unsendable = chat(&app, &key, audio).await;
        assert_eq!(unsendable.status, 400, "{unsendable:?}");
        assert_eq!(unsendable.json["error"]["param"], "messages");
    }

    async fn azure_openai_deployments_get_their_api_version_and_the_key_in_api_key(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        // Xagent's Azure provider: the resource's endpoint as base URL, the deployment as model
        // name; the fake refuses a deployment's call without an api-version or an api-key.
        for (id, category, deployment) in [("azure-chat", "llm", "chat-deploy"), ("azure-embed", "embedding", "embed-deploy")] {
            let created = app.post("/xagent/api/models/", Some(&key), json!({
                "model_id": id, "category": category, "model_provider": "azure_openai",
                "model_name": deployment, "api_key": UPSTREAM_KEY, "base_url": format!("{}/", fake.root())
            })).await;
            assert_eq!(created.status, 200, "{created:?}");
        }
        let answer = chat(&app, &key, hello("azure-chat")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json["choices"][0]["message"]["content"], "Hello!");
        let mut streamed = hello("azure-chat");
        streamed["stream"] = json!(true);
        let answer = chat(&app, &key, streamed).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.text().ends_with("data: [DONE]\n\n"), "{answer:?}");
        let embedded = app.post("/v1/embeddings", Some(&key), json!({ "model": "azure-embed", "input": "hi" })).await;
        assert_eq!(embedded.status, 200, "{embedded:?}");

        // A Respan provider that names its api_version is Azure's wherever it points, and a
        // deployment's own URL keeps the version it names.
        respan_created(&app, &key, "/respan/api/providers/", json!({
            "provider_id": "azure-east", "provider_name": "Azure East", "api_key": "sk-azure-east-5678",
            "extra_kwargs": { "base_url": fake.root(), "api_version": "2024-06-01" }
        })).await;
        respan_created(&app, &key, "/respan/api/models/", json!({
            "model_name": "east-chat", "base_model_name": "east-deploy", "custom_provider_id": "azure-east"
        })).await;
        assert_eq!(chat(&app, &key, hello("east-chat")).await.status, 200);
        let pinned = format!("{}/openai/deployments/pinned?api-version=2025-04-01-preview", fake.root());
        let created = app.post("/xagent/api/models/", Some(&key), json!({
            "model_id": "azure-pinned", "category": "llm", "model_provider": "azure_openai",
            "model_name": "gpt-4o", "api_key": UPSTREAM_KEY, "base_url": pinned
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        assert_eq!(chat(&app, &key, hello("azure-pinned")).await.status, 200);

        // Each call: its path and query, its key (in api-key only), the model named in its body.
        let sent: Vec<Value> = fake
            .received()
            .into_iter()
            .map(|r| json!([r.path, r.query, r.api_key, r.authorization, r.body["model"]]))
            .collect();
        let call = |path: &str, version: &str, key: &str, model: &str| {
            json!([path, format!("api-version={version}"), key, null, model])
        };
        assert_eq!(sent, [
            call("/openai/deployments/chat-deploy/chat/completions", "2024-10-21", UPSTREAM_KEY, "chat-deploy"),
            call("/openai/deployments/chat-deploy/chat/completions", "2024-10-21", UPSTREAM_KEY, "chat-deploy"),
            call("/openai/deployments/embed-deploy/embeddings", "2024-10-21", UPSTREAM_KEY, "embed-deploy"),
            call("/openai/deployments/east-deploy/chat/completions", "2024-06-01", "sk-azure-east-5678", "east-deploy"),
            call("/openai/deployments/pinned/chat/completions", "2025-04-01-preview", UPSTREAM_KEY, "gpt-4o"),
        ]);
        // Azure's stream carried its usage, as every call did: all five are metered in full.
        let rows = usage_of(&app, &key, "model", 5).await;
        let prompt: i64 = rows.iter().map(|r| r["prompt_tokens"].as_i64().unwrap()).sum();
        assert_eq!(prompt, 5 * PROMPT_TOKENS, "{rows:?}");
    }

    async fn ollama_and_xinference_given_by_their_server_root_are_called_under_v1(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        // Syft Space's ollama type takes the server's root, and has no key.
        let created = app.post("/syft/api/v1/models/", Some(&key), json!({
            "name": "local-llama", "dtype": "ollama",
            "configuration": { "model": "llama3", "base_url": fake.root(), "system_prompt": "Be brief." }
        })).await;
        assert_eq!(created.status, 201, "{created:?}");
        // Xagent's Xinference provider too.
        let created = app.post("/xagent/api/models/", Some(&key), json!({
            "model_id": "xinf-embed", "category": "embedding", "model_provider": "xinference",
            "model_name": "bge-m3", "base_url": format!("{}/", fake.root())
        })).await;
        assert_eq!(created.status, 200, "{created:?}");
        assert_eq!(chat(&app, &key, hello("local-llama")).await.status, 200);
        let embedded = app.post("/v1/embeddings", Some(&key), json!({ "model": "xinf-embed", "input": "hi" })).await;
        assert_eq!(embedded.status, 200, "{embedded:?}");
        let received = fake.received();
        let sent: Vec<(&str, &Value, Option<&str>)> =
            received.iter().map(|r| (r.path.as_str(), &r.body["model"], r.authorization.as_deref())).collect();
        assert_eq!(sent, [("/v1/chat/completions", &json!("llama3"), None), ("/v1/embeddings", &json!("bge-m3"), None)]);
        assert_eq!(received[0].body["messages"][0], json!({ "role": "system", "content": "Be brief." }));
    }

    async fn a_caller_that_goes_away_cancels_the_upstream_call(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(30)).await;
        xagent_model(&app, &key, "long", &fake.base_url, "slow-stream").await;
        let mut body = hello("long");
        body["stream"] = json!(true);
        let request = TestRequest::post()
            .uri("/v1/chat/completions")
            .insert_header(("Authorization", format!("Bearer {key}")))
            .set_json(body);
        let response = app.open(request).await;
        assert_eq!(response.status(), 200);
        let mut stream = Box::pin(response.into_body());
        let first = futures_util::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await;
        assert!(first.is_some_and(|c| c.is_ok()));
        assert!(!fake.stream_dropped());
        drop(stream);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fake.stream_dropped() {
            assert!(Instant::now() < deadline, "the upstream kept streaming to nobody");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        // Metered as a call its caller abandoned.
        let row = usage_eventually(&app, &key, "long").await;
        assert_eq!(row["errors"], 1, "{row}");
    }

    async fn built_in_models_use_the_orgs_credentials_for_their_provider(db) {
        let (_, key) = db.bootstrap();
        let catalog = modelgate_server::catalog::parse(r#"{"version": 1, "models": [
            {"key": "cat-chat", "provider": "openai", "category": "llm",
             "pricing": {"input": 1.0, "output": 4.0}}
        ]}"#, "test").unwrap();
        Registry::sync_catalog(db.store.as_ref(), catalog).unwrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        // Without credentials for the provider, the answer says what to create.
        let missing = chat(&app, &key, hello("cat-chat")).await;
        openai_error(&missing, 400, "upstream_not_configured");
        assert!(missing.json["error"]["message"].as_str().unwrap().contains("provider_id 'openai'"), "{missing:?}");

        respan_created(&app, &key, "/respan/api/providers/", json!({
            "provider_id": "openai", "provider_name": "OpenAI", "api_key": "sk-org-openai-1234",
            "extra_kwargs": { "base_url": fake.base_url }
        })).await;
        assert_eq!(chat(&app, &key, hello("cat-chat")).await.status, 200);
        // A custom model on that base goes the same way, at the base's prices.
        let custom = app.post("/openwebui/api/models/create", Some(&key), json!({
            "id": "team-cat", "name": "Team", "base_model_id": "cat-chat", "meta": {}, "params": {}
        })).await;
        assert_eq!(custom.status, 200, "{custom:?}");
        assert_eq!(chat(&app, &key, hello("team-cat")).await.status, 200);

        let received = fake.received();
        assert_eq!(received.len(), 2);
        for call in &received {
            assert_eq!(call.body["model"], "cat-chat");
            assert_eq!(call.authorization.as_deref(), Some("Bearer sk-org-openai-1234"));
        }
        let rows = usage_of(&app, &key, "model", 2).await;
        let expected = (PROMPT_TOKENS as f64 * 1.0 + COMPLETION_TOKENS as f64 * 4.0) / 1e6;
        for model in ["cat-chat", "team-cat"] {
            let row = rows.iter().find(|r| r["group"] == model).unwrap();
            assert!((row["cost"].as_f64().unwrap() - expected).abs() < 1e-12, "{row}");
        }
    }

    async fn embeddings_are_routed_and_metered(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "embedder", &fake.base_url, "up-embed").await;
        let answer = app.post("/v1/embeddings", Some(&key), json!({ "model": "embedder", "input": "hi" })).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json["data"][0]["embedding"], json!([0.25, -0.5]));
        let received = fake.received();
        assert_eq!((received[0].path.as_str(), &received[0].body["model"]), ("/v1/embeddings", &json!("up-embed")));
        let row = usage_of(&app, &key, "model", 1).await.into_iter().find(|r| r["group"] == "embedder").unwrap();
        assert_eq!(row["prompt_tokens"], PROMPT_TOKENS);
    }

    async fn only_readable_active_routable_models_are_called(db) {
        let (admin, key) = db.bootstrap();
        let (_, member_key) = db.user(&admin, "mia", Role::Member);
        let (_, other_key) = db.other_org(&admin, "elsewhere");
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "private", &fake.base_url, "up-model").await;

        openai_error(&chat(&app, &member_key, hello("private")).await, 404, "model_not_found");
        openai_error(&chat(&app, &other_key, hello("private")).await, 404, "model_not_found");
        openai_error(&chat(&app, &key, hello("nothing-here")).await, 404, "model_not_found");
        let missing = chat(&app, &key, json!({ "messages": [] })).await;
        assert_eq!((missing.status, &missing.json["error"]["param"]), (400, &json!("model")));

        let off = app.put("/xagent/api/models/private", Some(&key), json!({ "is_active": false })).await;
        assert_eq!(off.status, 200, "{off:?}");
        openai_error(&chat(&app, &key, hello("private")).await, 400, "model_inactive");

        // No base URL, no provider: the answer says what is missing.
        let bare = app.post("/openwebui/api/models/create", Some(&key), json!({
            "id": "bare", "name": "Bare", "base_model_id": null, "meta": {}, "params": {}
        })).await;
        assert_eq!(bare.status, 200, "{bare:?}");
        let unroutable = chat(&app, &key, hello("bare")).await;
        openai_error(&unroutable, 400, "upstream_not_configured");
        assert!(unroutable.json["error"]["message"].as_str().unwrap().contains("base_url"));
        assert!(fake.received().is_empty(), "{:?}", fake.received());
    }

    async fn a_key_revoked_elsewhere_is_refused_before_its_body_is_judged(db) {
        let (admin, _) = db.bootstrap();
        let (_, member_key) = db.user(&admin, "m1", Role::Member);
        let other_replica = db.replica();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        let no_model = json!({ "messages": [{ "role": "user", "content": "hi" }] });
        // This replica now remembers the key…
        assert_eq!(chat(&app, &member_key, no_model.clone()).await.status, 400);
        let key_id = other_replica.list_api_keys(&admin).unwrap().into_iter().find(|k| k.user_id == "m1").unwrap().id;
        other_replica.revoke_api_key(&admin, &key_id).unwrap();
        // …and still refuses it as revoked, not as a body without a model.
        let refused = chat(&app, &member_key, no_model).await;
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    }

    async fn private_and_metadata_addresses_are_refused_unless_allowed(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "metadata", "http://169.254.169.254/latest", "m").await;
        openai_error(&chat(&app, &key, hello("metadata")).await, 403, "upstream_not_allowed");
        // A name that resolves to a loopback address is refused where it is resolved.
        let by_name = fake.base_url.replace("127.0.0.1", "localhost");
        xagent_model(&app, &key, "by-name", &by_name, "m").await;
        let refused = chat(&app, &key, hello("by-name")).await;
        openai_error(&refused, 403, "upstream_not_allowed");
        assert!(fake.received().is_empty());
        // Both refusals are metered, the literal address as the resolved name.
        let rows = usage_of(&app, &key, "model", 2).await;
        let refusals: Vec<(&str, i64)> =
            rows.iter().map(|r| (r["group"].as_str().unwrap(), r["errors"].as_i64().unwrap())).collect();
        assert_eq!(refusals.len(), 2, "{rows:?}");
        assert!(refusals.iter().all(|(_, errors)| *errors == 1), "{rows:?}");
    }

    async fn upstream_failures_keep_openais_shape(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(1)).await;
        xagent_model(&app, &key, "limited", &fake.base_url, "error-429").await;
        let limited = chat(&app, &key, hello("limited")).await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.json["error"]["code"], "rate_limit_exceeded");
        // When to retry, as OpenAI's SDKs read it; the upstream's other headers stay its own.
        assert_eq!(limited.header("retry-after"), Some("7"), "{limited:?}");
        assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
        assert_eq!(limited.header("x-upstream-internal"), None);

        xagent_model(&app, &key, "slowpoke", &fake.base_url, "slow").await;
        openai_error(&chat(&app, &key, hello("slowpoke")).await, 504, "upstream_timeout");

        xagent_model(&app, &key, "gone", &unreachable_base_url(), "m").await;
        openai_error(&chat(&app, &key, hello("gone")).await, 502, "upstream_unreachable");

        // An error that is not a JSON object — text, or JSON of another kind — is wrapped in
        // OpenAI's shape, its status kept.
        xagent_model(&app, &key, "plain", &fake.base_url, "error-text").await;
        let plain = chat(&app, &key, hello("plain")).await;
        assert_eq!(plain.status, 503, "{plain:?}");
        assert_eq!(plain.json["error"]["message"], "the upstream is overloaded", "{plain:?}");
        xagent_model(&app, &key, "quoted", &fake.base_url, "error-json-string").await;
        let quoted = chat(&app, &key, hello("quoted")).await;
        assert_eq!(quoted.status, 500, "{quoted:?}");
        assert_eq!(quoted.json["error"]["message"], r#""overloaded""#, "{quoted:?}");

        // JSON errors of other shapes come back in OpenAI's, keeping what they say: Azure's
        // content filter its reason, vLLM's its code as a string, FastAPI's detail as message.
        xagent_model(&app, &key, "filtered", &fake.base_url, "error-filtered").await;
        let filtered = chat(&app, &key, hello("filtered")).await;
        assert_eq!(filtered.status, 400, "{filtered:?}");
        let error = &filtered.json["error"];
        assert_eq!((&error["type"], &error["param"], &error["code"]), (&json!("upstream_error"), &json!("prompt"), &json!("content_filter")));
        assert!(error["message"].as_str().unwrap().starts_with("The response was filtered"));
        assert_eq!(error["innererror"]["content_filter_result"]["hate"]["filtered"], true, "{filtered:?}");
        xagent_model(&app, &key, "vllm", &fake.base_url, "error-vllm").await;
        let vllm = chat(&app, &key, hello("vllm")).await;
        assert_eq!(vllm.status, 404, "{vllm:?}");
        assert_eq!(vllm.json, json!({ "error": {
            "message": "The model `error-vllm` does not exist.", "type": "NotFoundError", "param": "model", "code": "404"
        } }));
        xagent_model(&app, &key, "fastapi", &fake.base_url, "error-detail").await;
        let fastapi = chat(&app, &key, hello("fastapi")).await;
        assert_eq!(fastapi.status, 404, "{fastapi:?}");
        assert_eq!(fastapi.json, json!({ "error": {
            "message": "Not Found", "type": "upstream_error", "param": null, "code": null
        } }));

        let rows = usage_of(&app, &key, "model", 8).await;
        let errors: i64 = rows.iter().map(|r| r["errors"].as_i64().unwrap()).sum();
        assert_eq!(errors, 8, "{rows:?}");
    }

    // Found by fuzzing: a model name holding U+0000 reached Postgres, which refuses such text
    // (a 500). It is refused before the registry is asked; the rest of a body goes upstream.
    async fn a_model_name_with_a_null_character_is_refused(db) {
        let (_, key) = db.bootstrap();
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "plain", &fake.base_url, "up-model").await;
        let refusal = json!({ "error": {
            "message": "Null characters are not allowed.", "type": "invalid_request_error",
            "param": "model", "code": null
        } });
        for path in ["/v1/chat/completions", "/v1/embeddings"] {
            let refused = app.post(path, Some(&key), json!({ "model": "pl\u{0}ain", "input": "x",
                "messages": [{ "role": "user", "content": "hi" }] })).await;
            assert_eq!((refused.status, &refused.json), (400, &refusal), "{path}");
        }
        assert!(fake.received().is_empty());
        let mut held = hello("plain");
        held["messages"][0]["content"] = json!("a\u{0}b");
        assert_eq!(chat(&app, &key, held).await.status, 200);
        assert_eq!(fake.received()[0].body["messages"][0]["content"], "a\u{0}b");
        let rows = usage_of(&app, &key, "model", 1).await;
        assert_eq!(rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum::<i64>(), 1, "{rows:?}");
    }

    async fn calls_are_counted_by_org_model_and_status_and_timed(db) {
        let (admin, key) = db.bootstrap();
        let (_, other_key) = db.other_org(&admin, "elsewhere");
        let fake = FakeUpstream::start();
        let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
        xagent_model(&app, &key, "thinker", &fake.base_url, "after-200ms").await;
        xagent_model(&app, &key, "limited", &fake.base_url, "error-429").await;
        // Another org's model of the same key is another model, counted apart.
        xagent_model(&app, &other_key, "thinker", &fake.base_url, "up-model").await;
        assert_eq!(chat(&app, &key, hello("thinker")).await.status, 200);
        let mut streamed = hello("thinker");
        streamed["stream"] = json!(true);
        let stream = chat(&app, &key, streamed).await;
        assert_eq!(stream.status, 200, "{stream:?}");
        assert_eq!(chat(&app, &key, hello("limited")).await.status, 429);
        assert_eq!(chat(&app, &other_key, hello("thinker")).await.status, 200);
        // A stream is counted when it ends, with its usage row.
        let deadline = Instant::now() + Duration::from_secs(5);
        while usage_eventually(&app, &key, "thinker").await["requests"] != 2 {
            assert!(Instant::now() < deadline, "the streamed call was not metered");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }

        // The report's means: both calls waited 200 ms; only the stream has a first token.
        let rows = usage(&app, &key, "model").await;
        let row = |model: &str| rows.iter().find(|r| r["group"] == model).unwrap().clone();
        assert!(row("thinker")["avg_latency_ms"].as_f64().unwrap() >= 200.0, "{rows:?}");
        assert!(row("thinker")["avg_ttft_ms"].as_f64().unwrap() >= 200.0, "{rows:?}");
        assert!(row("limited")["avg_latency_ms"].as_f64().is_some(), "{rows:?}");
        assert_eq!(row("limited")["avg_ttft_ms"], Value::Null, "{rows:?}");

        let text = app.get("/metrics", None).await.text();
        let org = &admin.actor.org_id;
        // The sample of `name` for the bootstrap org's `model`, with `more` labels after.
        let sample = |name: &str, model: &str, more: &str| -> Option<f64> {
            let series = format!("{name}{{org=\"{org}\",model=\"{model}\"{more}}} ");
            let line = text.lines().find_map(|line| line.strip_prefix(&series))?;
            Some(line.parse().unwrap())
        };
        let calls = "modelgate_gateway_calls_total";
        assert_eq!(sample(calls, "thinker", ",status=\"200\""), Some(2.0), "{text}");
        assert_eq!(sample(calls, "limited", ",status=\"429\""), Some(1.0), "{text}");
        assert_eq!(sample(calls, "thinker", ",status=\"429\""), None, "{text}");
        let elsewhere = format!("{calls}{{org=\"elsewhere\",model=\"thinker\",status=\"200\"}} 1\n");
        assert!(text.contains(&elsewhere), "{text}");
        // Both calls waited 200 ms for the upstream: none is in a bucket below that.
        let took = "modelgate_gateway_call_duration_seconds";
        assert_eq!(sample(&format!("{took}_count"), "thinker", ""), Some(2.0), "{text}");
        assert_eq!(sample(&format!("{took}_bucket"), "thinker", ",le=\"0.1\""), Some(0.0), "{text}");
        assert_eq!(sample(&format!("{took}_bucket"), "thinker", ",le=\"300\""), Some(2.0), "{text}");
        assert!(sample(&format!("{took}_sum"), "thinker", "").unwrap() >= 0.4, "{text}");
        assert_eq!(sample(&format!("{took}_count"), "limited", ""), Some(1.0), "{text}");
        // Only the stream has a first token; the error and the whole answer have none.
        let first = "modelgate_gateway_time_to_first_token_seconds";
        assert_eq!(sample(&format!("{first}_count"), "thinker", ""), Some(1.0), "{text}");
        assert!(sample(&format!("{first}_sum"), "thinker", "").unwrap() >= 0.2, "{text}");
        assert_eq!(sample(&format!("{first}_count"), "limited", ""), None, "{text}");
        // Tokens by org too: the other org's call is not in this org's count.
        let tokens = "modelgate_gateway_tokens_total";
        assert_eq!(sample(tokens, "thinker", ",kind=\"prompt\""), Some(2.0 * PROMPT_TOKENS as f64), "{text}");
        for (name, kind) in [(calls, "counter"), (took, "histogram"), (first, "histogram"), (tokens, "counter")] {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}: {text}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
    }
}

/// Every outcome of a call — success, stream, upstream error, refusal, unreachable — logs
/// nothing of the upstream key or the caller's key; the metrics count tokens and cost.
#[actix_web::test]
async fn keys_stay_out_of_the_logs_and_tokens_are_counted() {
    let captured = modelgate_testkit::logs::Captured::default();
    let _guard = captured.install(tracing::Level::TRACE);
    let db = TestDb::sqlite();
    let (admin, key) = db.bootstrap();
    let org = admin.actor.org_id.clone();
    let fake = FakeUpstream::start();
    let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
    xagent_model(&app, &key, "logged", &fake.base_url, "up-model").await;
    xagent_model(&app, &key, "refused", "http://169.254.169.254/v1", "m").await;
    xagent_model(&app, &key, "limited", &fake.base_url, "error-429").await;
    xagent_model(&app, &key, "gone", "http://127.0.0.1:1/v1", "m").await;
    assert_eq!(chat(&app, &key, hello("logged")).await.status, 200);
    let mut streamed = hello("logged");
    streamed["stream"] = json!(true);
    assert_eq!(chat(&app, &key, streamed).await.status, 200);
    for (model, status) in [("refused", 403), ("limited", 429), ("gone", 502)] {
        assert_eq!(chat(&app, &key, hello(model)).await.status, status, "{model}");
    }
    // The stream's row is written once it ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    while usage_eventually(&app, &key, "logged").await["requests"] != 2 {
        assert!(Instant::now() < deadline, "the streamed call was not metered");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = captured.text();
    assert!(logs.contains("/v1/chat/completions"), "nothing captured: {logs}");
    assert!(!logs.contains(UPSTREAM_KEY) && !logs.contains("wxyz"), "upstream key logged: {logs}");
    assert!(!logs.contains(&key), "caller's key logged: {logs}");

    let metrics = app.get("/metrics", None).await.text();
    let line = format!(
        "modelgate_gateway_tokens_total{{org=\"{org}\",model=\"logged\",kind=\"prompt\"}} {}",
        2 * PROMPT_TOKENS
    );
    assert!(metrics.contains(&line), "{line} not in {metrics}");
    // The model has no price: tokens are counted, no cost is made up.
    assert!(!metrics.contains("modelgate_gateway_cost_usd{"), "{metrics}");
}

/// Upstream TLS verifies the upstream's certificate against the authorities the settings trust:
/// an upstream whose authority is not among the system's is refused before any request is
/// sent; named as a bundle file or as a directory of hashed certificates, it is called.
#[actix_web::test]
async fn upstream_tls_is_verified_against_the_trusted_authorities() {
    let upstream = TlsUpstream::start();

    let db = TestDb::sqlite();
    let (_, key) = db.bootstrap();
    let app = app(db, "127.0.0.1", Duration::from_secs(5)).await;
    xagent_model(&app, &key, "secure", &upstream.base_url, "tls-model").await;
    openai_error(&chat(&app, &key, hello("secure")).await, 502, "upstream_unreachable");
    assert_eq!(upstream.answered(), 0, "a request went to an untrusted upstream");

    let named = [
        TrustStore { file: Some(upstream.ca_file.clone()), dirs: vec![] },
        TrustStore { file: None, dirs: vec![upstream.ca_dir.clone()] },
    ];
    for (n, trust) in named.into_iter().enumerate() {
        let db = TestDb::sqlite();
        let (_, key) = db.bootstrap();
        let app = app_trusting(db, "127.0.0.1", Duration::from_secs(5), trust).await;
        xagent_model(&app, &key, "secure", &upstream.base_url, "tls-model").await;
        let answer = chat(&app, &key, hello("secure")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json["choices"][0]["message"]["content"], "over TLS");
        assert_eq!(upstream.answered(), n + 1);
    }
}
