//! A fake OpenAI-compatible upstream for the gateway's tests: its own port and runtime, answers
//! chosen by the requested model's name, and a record of everything it received.
//!
//! Model names: `error-429` answers a rate-limit error, `error-text` a 503 in plain text,
//! `error-json-string` a 500 whose JSON is a string, `error-filtered`, `error-vllm` and
//! `error-detail` the errors of Azure OpenAI's content filter, vLLM and FastAPI;
//! `no-stream-options` refuses a request with `stream_options`, as older Azure OpenAI API
//! versions do; `slow` answers after 3 s; `slow-stream` streams a chunk every 200 ms for a
//! minute (cancellation), `split-stream` its events cut into pieces of five bytes;
//! `after-<N>ms` answers (or starts its stream) after N milliseconds, as an upstream that takes
//! time to think (the benchmark's latency-bound scenario); anything else answers at once.
//! `POST /v1/messages` answers as Anthropic's Messages API does: `anthropic-error` answers
//! Anthropic's 404, a request with tools is answered with a call of the first one.
//! `POST /openai/deployments/<name>/chat/completions` and `…/embeddings` answer as Azure OpenAI's
//! deployments do: 404 without an `api-version`, 401 without an `api-key` header.
//! `GET /v1/models` lists [`LISTED_MODELS`] (or, asked with Anthropic's `x-api-key`,
//! [`ANTHROPIC_LISTED`] in Anthropic's shape), or answers 401 to the key [`REFUSED_KEY`] with a
//! message that repeats the key, as some providers do.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{Value, json};

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// The query string, `""` for none.
    pub query: String,
    pub authorization: Option<String>,
    /// Azure OpenAI's key header.
    pub api_key: Option<String>,
    /// Anthropic's key header and version header.
    pub x_api_key: Option<String>,
    pub anthropic_version: Option<String>,
    pub body: Value,
    /// The body as it arrived.
    pub raw: String,
}

#[derive(Default)]
struct State {
    /// Off for load tests, which would otherwise keep every request.
    recording: bool,
    received: Mutex<Vec<Received>>,
    /// Set when a caller went away in the middle of a stream.
    stream_dropped: AtomicBool,
}

pub struct FakeUpstream {
    /// `http://127.0.0.1:<port>/v1`
    pub base_url: String,
    state: Arc<State>,
}

/// The usage every answer reports.
pub const PROMPT_TOKENS: i64 = 1_000;
pub const COMPLETION_TOKENS: i64 = 500;
pub const CACHED_TOKENS: i64 = 400;

/// The chunks of a streamed answer, in order (before the usage chunk and `[DONE]`).
pub const STREAM_WORDS: [&str; 3] = ["Hel", "lo", "!"];

impl FakeUpstream {
    pub fn start() -> Self {
        Self::serve(true)
    }

    /// Keeps nothing of what it receives (the benchmark's upstream).
    pub fn start_unrecorded() -> Self {
        Self::serve(false)
    }

    fn serve(recording: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let state = Arc::new(State { recording, ..State::default() });
        let shared = web::Data::from(state.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        // Long conversations, as a real upstream takes them.
                        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                        .route("/v1/chat/completions", web::post().to(chat))
                        .route("/v1/embeddings", web::post().to(embeddings))
                        .route("/v1/messages", web::post().to(messages))
                        .route("/v1/models", web::get().to(models))
                        .route(
                            "/openai/deployments/{deployment}/chat/completions",
                            web::post().to(azure_chat),
                        )
                        .route(
                            "/openai/deployments/{deployment}/embeddings",
                            web::post().to(azure_embeddings),
                        )
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                let _ = server.await;
            });
        });
        Self { base_url: format!("http://127.0.0.1:{port}/v1"), state }
    }

    /// `http://127.0.0.1:<port>`: the server's root, as Azure OpenAI's endpoint is given.
    pub fn root(&self) -> &str {
        self.base_url.trim_end_matches("/v1")
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    /// How many requests were received, without copying them (bodies can be megabytes).
    pub fn calls(&self) -> usize {
        self.state.received.lock().expect("lock").len()
    }

    pub fn stream_dropped(&self) -> bool {
        self.state.stream_dropped.load(Ordering::SeqCst)
    }
}

fn remember(state: &State, req: &HttpRequest, raw: &Bytes) -> Value {
    let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    if !state.recording {
        return body;
    }
    let header =
        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from);
    state.received.lock().expect("lock").push(Received {
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        authorization: header("authorization"),
        api_key: header("api-key"),
        x_api_key: header("x-api-key"),
        anthropic_version: header("anthropic-version"),
        body: body.clone(),
        raw: String::from_utf8_lossy(raw).into_owned(),
    });
    body
}

/// The models `GET /v1/models` lists, in the order it lists them: (id, owned_by).
pub const LISTED_MODELS: [(&str, &str); 2] =
    [("text-embedding-3-small", "openai"), ("gpt-4o-mini", "system")];

/// What `GET /v1/models` lists, Anthropic's way, to a request with `x-api-key`: (id, display name).
pub const ANTHROPIC_LISTED: [(&str, &str); 1] = [("claude-listed", "Claude Listed")];

/// The key `GET /v1/models` refuses.
pub const REFUSED_KEY: &str = "sk-refused-0123456789";

async fn models(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let _ = remember(&state, &req, &Bytes::new());
    let authorization =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if authorization == format!("Bearer {REFUSED_KEY}") {
        return HttpResponse::Unauthorized().json(json!({
            "error": {
                "message": format!("Incorrect API key provided: {REFUSED_KEY}."),
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"
            }
        }));
    }
    if req.headers().contains_key("x-api-key") {
        // Anthropic's list, asked for with Anthropic's key header.
        let data: Vec<Value> = ANTHROPIC_LISTED
            .iter()
            .map(|(id, name)| json!({ "type": "model", "id": id, "display_name": name, "created_at": "2025-05-22T00:00:00Z" }))
            .collect();
        return HttpResponse::Ok().json(json!({ "data": data, "has_more": false }));
    }
    let data: Vec<Value> = LISTED_MODELS
        .iter()
        .map(|(id, owner)| json!({ "id": id, "object": "model", "created": 1_700_000_000, "owned_by": owner }))
        .collect();
    HttpResponse::Ok().json(json!({ "object": "list", "data": data }))
}

fn usage() -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": { "cached_tokens": CACHED_TOKENS }
    })
}

/// Sets the flag when dropped before the end: the caller disconnected mid-stream.
struct DropWatch(Arc<State>);

impl Drop for DropWatch {
    fn drop(&mut self) {
        self.0.stream_dropped.store(true, Ordering::SeqCst);
    }
}

async fn chat(req: HttpRequest, state: web::Data<State>, body: Bytes) -> HttpResponse {
    let body = remember(&state, &req, &body);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "error-429" => {
            return HttpResponse::TooManyRequests()
                .insert_header(("retry-after", "7"))
                .insert_header(("x-ratelimit-remaining-requests", "0"))
                .insert_header(("x-upstream-internal", "not for callers"))
                .json(json!({
                "error": { "message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded" }
            }));
        }
        "error-text" => {
            return HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("the upstream is overloaded");
        }
        "error-json-string" => {
            return HttpResponse::InternalServerError().json("overloaded");
        }
        // Azure OpenAI's content filter: `type` null, the reason in `innererror`.
        "error-filtered" => {
            return HttpResponse::BadRequest().json(json!({ "error": {
                "message": "The response was filtered due to the prompt triggering content management policy.",
                "type": null, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": { "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": { "hate": { "filtered": true, "severity": "high" } } }
            } }));
        }
        // vLLM's: a numeric code, and a field of its own beside the error.
        "error-vllm" => {
            return HttpResponse::NotFound().json(json!({ "object": "error", "error": {
                "message": "The model `error-vllm` does not exist.", "type": "NotFoundError",
                "param": "model", "code": 404
            } }));
        }
        // FastAPI's.
        "error-detail" => {
            return HttpResponse::NotFound().json(json!({ "detail": "Not Found" }));
        }
        // Azure OpenAI before API version 2024-09-01-preview.
        "no-stream-options" if body.get("stream_options").is_some() => {
            return HttpResponse::BadRequest().json(json!({ "error": {
                "message": "Unrecognized request argument supplied: stream_options",
                "type": "invalid_request_error", "param": null, "code": null
            } }));
        }
        "slow" => actix_web::rt::time::sleep(Duration::from_secs(3)).await,
        other => {
            if let Some(millis) = thinking_time(other) {
                actix_web::rt::time::sleep(millis).await;
            }
        }
    }
    if body["stream"] != json!(true) {
        return HttpResponse::Ok().insert_header(REMAINING_TOKENS).json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello!" }, "finish_reason": "stop" }],
            "usage": usage()
        }));
    }
    let slow = model == "slow-stream";
    let mut events: Vec<String> = STREAM_WORDS
        .iter()
        .map(|word| {
            json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                "choices": [{ "index": 0, "delta": { "content": word }, "finish_reason": null }] })
            .to_string()
        })
        .collect();
    if slow {
        events = (0..300).map(|i| json!({ "n": i }).to_string()).collect();
    }
    if body["stream_options"]["include_usage"] == json!(true) {
        events.push(
            json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                "choices": [], "usage": usage() })
            .to_string(),
        );
    }
    events.push("[DONE]".into());
    if model == "split-stream" {
        // The same events in pieces of five bytes, as a network may cut them.
        let bytes: Vec<u8> =
            events.iter().flat_map(|e| format!("data: {e}\n\n").into_bytes()).collect();
        let pieces: Vec<Result<Bytes, actix_web::Error>> =
            bytes.chunks(5).map(|piece| Ok(Bytes::copy_from_slice(piece))).collect();
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(futures_util::stream::iter(pieces));
    }
    let watch = DropWatch(state.into_inner());
    let stream = futures_util::stream::unfold(
        (events.into_iter(), watch, slow),
        |(mut events, watch, slow)| async move {
            if slow {
                actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            }
            match events.next() {
                Some(event) => {
                    let chunk = Bytes::from(format!("data: {event}\n\n"));
                    Some((Ok::<_, actix_web::Error>(chunk), (events, watch, slow)))
                }
                None => {
                    // Finished: not a disconnect (the guard's Arc is leaked, tests only).
                    std::mem::forget(watch);
                    None
                }
            }
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(REMAINING_TOKENS)
        .streaming(stream)
}

/// The rate-limit header every chat answer carries, as OpenAI's do.
pub const REMAINING_TOKENS: (&str, &str) = ("x-ratelimit-remaining-tokens", "149984");

/// The delay a model named `after-<N>ms` asks for.
fn thinking_time(model: &str) -> Option<Duration> {
    let millis = model.strip_prefix("after-")?.strip_suffix("ms")?.parse().ok()?;
    Some(Duration::from_millis(millis))
}

async fn embeddings(req: HttpRequest, state: web::Data<State>, body: Bytes) -> HttpResponse {
    let body = remember(&state, &req, &body);
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": [{ "object": "embedding", "index": 0, "embedding": [0.25, -0.5] }],
        "model": body["model"],
        "usage": { "prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS }
    }))
}

/// What Azure OpenAI answers a deployment's call without an API version or its key header.
fn azure_refusal(req: &HttpRequest) -> Option<HttpResponse> {
    if !req.query_string().split('&').any(|pair| pair.starts_with("api-version=")) {
        return Some(HttpResponse::NotFound().json(json!({
            "error": { "code": "404", "message": "Resource not found" }
        })));
    }
    if !req.headers().contains_key("api-key") {
        return Some(HttpResponse::Unauthorized().json(json!({
            "error": { "code": "401", "message": "Access denied due to invalid subscription key \
                or wrong API endpoint." }
        })));
    }
    None
}

/// Azure OpenAI's chat: a deployment's, answered as [`chat`] answers.
async fn azure_chat(req: HttpRequest, state: web::Data<State>, body: Bytes) -> HttpResponse {
    match azure_refusal(&req) {
        Some(refused) => refused,
        None => chat(req, state, body).await,
    }
}

async fn azure_embeddings(req: HttpRequest, state: web::Data<State>, body: Bytes) -> HttpResponse {
    match azure_refusal(&req) {
        Some(refused) => refused,
        None => embeddings(req, state, body).await,
    }
}

/// Anthropic's usage for the same call as [`usage`]: cached prompt tokens counted apart.
fn anthropic_usage() -> Value {
    json!({
        "input_tokens": PROMPT_TOKENS - CACHED_TOKENS,
        "cache_read_input_tokens": CACHED_TOKENS,
        "cache_creation_input_tokens": 0,
        "output_tokens": COMPLETION_TOKENS
    })
}

async fn messages(req: HttpRequest, state: web::Data<State>, body: Bytes) -> HttpResponse {
    let body = remember(&state, &req, &body);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    if model == "anthropic-error" {
        return HttpResponse::NotFound().json(json!({
            "type": "error", "error": { "type": "not_found_error", "message": format!("model: {model}") }
        }));
    }
    if body["stream"] != json!(true) {
        let (content, stop_reason) = match body["tools"][0]["name"].as_str() {
            Some(tool) => (
                json!([
                    { "type": "text", "text": "Checking." },
                    { "type": "tool_use", "id": "toolu_fake", "name": tool, "input": { "city": "Paris" } }
                ]),
                "tool_use",
            ),
            None => (json!([{ "type": "text", "text": "Hello!" }]), "end_turn"),
        };
        return HttpResponse::Ok().json(json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": anthropic_usage()
        }));
    }
    let mut start_usage = anthropic_usage();
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![
        json!({ "type": "message_start", "message": { "id": "msg_fake", "type": "message",
            "role": "assistant", "model": model, "content": [], "usage": start_usage } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
    ];
    events.extend(STREAM_WORDS.iter().map(|word| {
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": word } })
    }));
    events.extend([
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": COMPLETION_TOKENS } }),
        json!({ "type": "message_stop" }),
    ]);
    let mut chunks: Vec<Bytes> = events
        .iter()
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or_default();
            Bytes::from(format!("event: {kind}\ndata: {event}\n\n"))
        })
        .collect();
    // The first event in two pieces, split mid-line, as a network may deliver it.
    let first = chunks.remove(0);
    chunks.insert(0, first.slice(first.len() / 2..));
    chunks.insert(0, first.slice(..first.len() / 2));
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, actix_web::Error>));
    HttpResponse::Ok().content_type("text/event-stream").streaming(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_time_is_read_from_the_model_name() {
        assert_eq!(thinking_time("after-10ms"), Some(Duration::from_millis(10)));
        assert_eq!(thinking_time("after-0ms"), Some(Duration::ZERO));
        for plain in ["bench-up", "after-ms", "after-10", "after-tenms", "slow"] {
            assert_eq!(thinking_time(plain), None, "{plain}");
        }
    }
}
