//! Anthropic's Messages API behind the gateway's OpenAI face. A chat completion request for a
//! model whose provider is `anthropic` is sent as a Messages request, and the answer, whole or
//! streamed, comes back in OpenAI's shape (usage included, so metering reads it as any other).
//!
//! What maps: system and developer messages become `system`; user, assistant and tool turns
//! become content blocks (text, images by URL or data URL, tool calls and their results);
//! `max_tokens`/`max_completion_tokens`, `temperature`, `top_p`, `stop`, `tools`, `tool_choice`,
//! `user` and `stream`. Sampling settings Anthropic has no equivalent for (penalties, `seed`,
//! `n`, `logprobs`, `response_format`) are not sent.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::web::Bytes;
use futures_util::Stream;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The API version every request names: the one Anthropic's own clients send.
pub const VERSION: &str = "2023-06-01";

/// Anthropic requires a limit; this one applies when neither the request nor the model sets one.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The Messages endpoint under a base URL given as the API root (`…/v1`, as OpenAI clients are
/// configured) or as the host alone (`https://api.anthropic.com`, as Anthropic's clients are).
pub fn messages_url(base_url: &str) -> String {
    format!("{}/messages", modelgate_core::gateway::api_v1_root(base_url))
}

/// The Messages request for an OpenAI chat request (already merged with the model's
/// parameters). `Err` says what in the request cannot be sent to Anthropic.
pub fn messages_request(chat: &Map<String, Value>) -> Result<Value, String> {
    let messages = chat
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| "'messages' must be an array of messages.".to_owned())?;
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message["role"].as_str().unwrap_or_default() {
            "system" | "developer" => {
                system.extend(blocks_of(&message["content"])?);
                continue;
            }
            "user" => ("user", blocks_of(&message["content"])?),
            "assistant" => {
                let mut blocks = blocks_of(&message["content"])?;
                for call in message["tool_calls"].as_array().into_iter().flatten() {
                    let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
                    let input: Value =
                        serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                    blocks.push(json!({
                        "type": "tool_use", "id": call["id"],
                        "name": call["function"]["name"], "input": input
                    }));
                }
                ("assistant", blocks)
            }
            "tool" => {
                let result = json!({
                    "type": "tool_result", "tool_use_id": message["tool_call_id"],
                    "content": blocks_of(&message["content"])?
                });
                ("user", vec![result])
            }
            other => return Err(format!("Messages with role '{other}' cannot be sent.")),
        };
        if blocks.is_empty() {
            continue;
        }
        // Anthropic alternates turns: consecutive messages of one role are one turn.
        match turns.last_mut() {
            Some((last, earlier)) if *last == role => earlier.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let mut request = Map::new();
    request.insert("model".into(), chat.get("model").cloned().unwrap_or(Value::Null));
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|name| chat.get(*name).and_then(Value::as_u64))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    request.insert("max_tokens".into(), max_tokens.into());
    if !system.is_empty() {
        request.insert("system".into(), Value::Array(system));
    }
    let messages =
        turns.into_iter().map(|(role, content)| json!({"role": role, "content": content}));
    request.insert("messages".into(), messages.collect());
    for name in ["temperature", "top_p", "stream"] {
        if let Some(value) = chat.get(name).filter(|v| !v.is_null()) {
            request.insert(name.into(), value.clone());
        }
    }
    match chat.get("stop") {
        Some(Value::String(stop)) => {
            request.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            request.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if let Some(user) = chat.get("user").and_then(Value::as_str) {
        request.insert("metadata".into(), json!({ "user_id": user }));
    }
    if let Some(tools) = chat.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let function = &tool["function"];
                let mut out = json!({
                    "name": function["name"],
                    "input_schema": function.get("parameters").cloned()
                        .unwrap_or_else(|| json!({"type": "object"})),
                });
                if let Some(description) = function.get("description") {
                    out["description"] = description.clone();
                }
                out
            })
            .collect();
        request.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = chat.get("tool_choice").and_then(tool_choice) {
        request.insert("tool_choice".into(), choice);
    }
    Ok(Value::Object(request))
}

fn tool_choice(choice: &Value) -> Option<Value> {
    Some(match choice {
        Value::String(mode) => match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => return None,
        },
        Value::Object(named) => {
            json!({"type": "tool", "name": named.get("function")?.get("name")?})
        }
        _ => return None,
    })
}

/// An OpenAI message's content as Anthropic content blocks (empty text is left out: Anthropic
/// refuses empty text blocks).
fn blocks_of(content: &Value) -> Result<Vec<Value>, String> {
    let text = |text: &str| json!({"type": "text", "text": text});
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![text(s)]),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| part["type"] != "text" || part["text"] != "")
            .map(|part| match part["type"].as_str().unwrap_or_default() {
                "text" => Ok(text(part["text"].as_str().unwrap_or_default())),
                "image_url" => {
                    let url = part["image_url"]["url"].as_str().unwrap_or_default();
                    Ok(json!({"type": "image", "source": image_source(url)}))
                }
                other => Err(format!("Content parts of type '{other}' cannot be sent.")),
            })
            .collect(),
        _ => Err("A message's content must be a string or an array of parts.".to_owned()),
    }
}

/// A data URL as base64 data, anything else as a URL Anthropic fetches.
fn image_source(url: &str) -> Value {
    let inline = url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,"));
    match inline {
        Some((media_type, data)) => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        None => json!({"type": "url", "url": url}),
    }
}

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's usage: Anthropic counts prompt tokens read from or written to its cache apart from
/// `input_tokens`; OpenAI counts them in `prompt_tokens` and names the cached ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: CachedTokens,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
struct CachedTokens {
    cached_tokens: i64,
}

/// Anthropic's usage counters as they arrive (a stream reports them in two events).
#[derive(Clone, Copy, Debug, Default)]
struct Counted {
    input: i64,
    cache_read: i64,
    cache_creation: i64,
    output: i64,
}

impl Counted {
    /// Takes in the counters `usage` reports; those it leaves out keep their value.
    fn take(&mut self, usage: &Value) {
        let set = |field: &mut i64, name: &str| {
            if let Some(n) = usage.get(name).and_then(Value::as_i64) {
                *field = n;
            }
        };
        set(&mut self.input, "input_tokens");
        set(&mut self.cache_read, "cache_read_input_tokens");
        set(&mut self.cache_creation, "cache_creation_input_tokens");
        set(&mut self.output, "output_tokens");
    }

    fn openai(self) -> Usage {
        let prompt = self.input + self.cache_read + self.cache_creation;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt + self.output,
            prompt_tokens_details: CachedTokens { cached_tokens: self.cache_read },
        }
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [Choice; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice {
    index: u32,
    message: AssistantMessage,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall>,
}

#[derive(Serialize)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall,
}

#[derive(Serialize)]
struct FunctionCall {
    name: String,
    arguments: String,
}

/// OpenAI's chat completion for a Messages answer; `None` when it is not one.
pub fn chat_completion(message: &Value, created: i64) -> Option<Value> {
    let blocks = message.get("content")?.as_array()?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_owned(),
                kind: "function",
                function: FunctionCall {
                    name: block["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: block["input"].to_string(),
                },
            }),
            // Thinking blocks have no place in OpenAI's message.
            _ => {}
        }
    }
    let mut counted = Counted::default();
    counted.take(&message["usage"]);
    let completion = ChatCompletion {
        id: message["id"].as_str().unwrap_or_default(),
        object: "chat.completion",
        created,
        model: message["model"].as_str().unwrap_or_default(),
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_reason(message["stop_reason"].as_str().unwrap_or_default()),
        }],
        usage: counted.openai(),
    };
    serde_json::to_value(completion).ok()
}

/// An Anthropic error answer (`{"type": "error", "error": {"type", "message"}}`) as OpenAI's
/// `(message, type)`.
pub fn error_of(body: &Value) -> Option<(String, String)> {
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?.to_owned();
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("api_error").to_owned();
    Some((message, kind))
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: Value,
    finish_reason: Option<&'static str>,
}

/// Turns a Messages event stream into OpenAI's chunk stream as its bytes arrive: each event
/// becomes at most one chunk, the usage chunk and `[DONE]` close it.
pub struct StreamTranslator {
    created: i64,
    id: String,
    model: String,
    counted: Counted,
    /// Content block index → the index of its tool call in OpenAI's numbering.
    tool_calls: HashMap<u64, usize>,
    /// The end of the bytes taken in so far that is not yet a whole line.
    partial: Vec<u8>,
    done: bool,
}

impl StreamTranslator {
    pub fn new(created: i64) -> Self {
        Self {
            created,
            id: String::new(),
            model: String::new(),
            counted: Counted::default(),
            tool_calls: HashMap::new(),
            partial: Vec::new(),
            done: false,
        }
    }

    /// What `bytes` of the upstream's stream come to (often nothing yet: events span chunks).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.partial.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            // Each event's data names its type: the `event:` lines add nothing.
            let Some(data) = line.trim().strip_prefix("data:") else { continue };
            if let Ok(event) = serde_json::from_str::<Value>(data.trim()) {
                self.event(&event, &mut out);
            }
        }
        out
    }

    fn event(&mut self, event: &Value, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &event["message"];
                self.id = message["id"].as_str().unwrap_or_default().to_owned();
                self.model = message["model"].as_str().unwrap_or_default().to_owned();
                self.counted.take(&message["usage"]);
                self.chunk(out, json!({"role": "assistant", "content": ""}), None, None);
            }
            "content_block_start" => {
                let block = &event["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let index = self.tool_calls.len();
                        self.tool_calls.insert(event["index"].as_u64().unwrap_or(0), index);
                        let call = json!({
                            "index": index, "id": block["id"], "type": "function",
                            "function": {"name": block["name"], "arguments": ""}
                        });
                        self.chunk(out, json!({"tool_calls": [call]}), None, None);
                    }
                    Some("text") if block["text"].as_str().is_some_and(|t| !t.is_empty()) => {
                        self.chunk(out, json!({"content": block["text"]}), None, None);
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        self.chunk(out, json!({"content": delta["text"]}), None, None);
                    }
                    Some("input_json_delta") => {
                        let block = event["index"].as_u64().unwrap_or(0);
                        let index = self.tool_calls.get(&block).copied().unwrap_or(0);
                        let call = json!({
                            "index": index, "function": {"arguments": delta["partial_json"]}
                        });
                        self.chunk(out, json!({"tool_calls": [call]}), None, None);
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                self.counted.take(&event["usage"]);
                let reason = event["delta"]["stop_reason"].as_str().map(finish_reason);
                if reason.is_some() {
                    self.chunk(out, json!({}), reason, None);
                }
            }
            "message_stop" => self.close(out),
            "error" => {
                let (message, kind) = error_of(event)
                    .unwrap_or_else(|| ("The upstream stream failed.".into(), "api_error".into()));
                // As the gateway words any upstream's error (see `upstream_error`).
                let error = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": kind}});
                out.extend_from_slice(format!("data: {error}\n\n").as_bytes());
                self.done = true;
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            _ => {}
        }
    }

    fn chunk(
        &self,
        out: &mut Vec<u8>,
        delta: Value,
        finish_reason: Option<&'static str>,
        usage: Option<Usage>,
    ) {
        let choices = match usage {
            Some(_) => Vec::new(),
            None => vec![ChunkChoice { index: 0, delta, finish_reason }],
        };
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        if let Ok(json) = serde_json::to_string(&chunk) {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(json.as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }

    /// The usage chunk and `[DONE]`: the stream is complete.
    fn close(&mut self, out: &mut Vec<u8>) {
        let usage = self.counted.openai();
        self.chunk(out, Value::Null, None, Some(usage));
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.done = true;
    }
}

/// An upstream's Messages event stream as OpenAI's chunk stream, pulled as the caller reads it.
pub struct Translated<S> {
    inner: S,
    translator: StreamTranslator,
}

impl<S> Translated<S> {
    pub fn new(inner: S, created: i64) -> Self {
        Self { inner, translator: StreamTranslator::new(created) }
    }
}

impl<S, E> Stream for Translated<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    let out = self.translator.feed(&bytes);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: Value) -> Map<String, Value> {
        body.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_messages_endpoint_is_found_under_either_form_of_base_url() {
        assert_eq!(
            messages_url("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            messages_url("https://api.anthropic.com/v1/"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            messages_url("http://proxy.local/anthropic"),
            "http://proxy.local/anthropic/v1/messages"
        );
    }

    #[test]
    fn a_conversation_with_tools_maps_to_alternating_turns() {
        let request = messages_request(&chat(json!({
            "model": "claude-x",
            "max_tokens": 100,
            "stop": "END",
            "user": "u1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
                {"role": "user", "content": "Weather?"},
                {"role": "user", "content": [
                    {"type": "text", "text": "In Paris."},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"}
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "description": "Now", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "frequency_penalty": 1
        })))
        .unwrap();
        assert_eq!(
            request,
            json!({
                "model": "claude-x",
                "max_tokens": 100,
                "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric units."}],
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "Weather?"},
                        {"type": "text", "text": "In Paris."},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
                    ]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18C"}]}
                    ]}
                ],
                "stop_sequences": ["END"],
                "metadata": {"user_id": "u1"},
                "tools": [{"name": "weather", "description": "Now", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"}
            })
        );
    }

    #[test]
    fn a_request_without_a_limit_gets_the_default_and_bad_content_is_refused() {
        let request = messages_request(&chat(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        ));
        assert_eq!(request.unwrap()["max_tokens"], DEFAULT_MAX_TOKENS);
        let audio = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]});
        assert_eq!(
            messages_request(&chat(audio)).unwrap_err(),
            "Content parts of type 'input_audio' cannot be sent."
        );
        let role = json!({"model": "m", "messages": [{"role": "function", "content": "x"}]});
        assert!(messages_request(&chat(role)).is_err());
        assert!(messages_request(&chat(json!({"model": "m"}))).is_err());
    }

    #[test]
    fn an_answer_with_a_tool_call_and_cached_tokens_maps_to_a_chat_completion() {
        let answer = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 5, "output_tokens": 7}
        });
        assert_eq!(
            chat_completion(&answer, 42).unwrap(),
            json!({
                "id": "msg_1", "object": "chat.completion", "created": 42, "model": "claude-x",
                "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "Checking.",
                    "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
                }}],
                "usage": {"prompt_tokens": 45, "completion_tokens": 7, "total_tokens": 52, "prompt_tokens_details": {"cached_tokens": 30}}
            })
        );
        assert!(chat_completion(&json!({"type": "error"}), 0).is_none());
    }

    #[test]
    fn a_stream_split_anywhere_maps_event_by_event() {
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
            json!({"type": "message_stop"}),
        ];
        let wire: String = events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect();
        // Fed three bytes at a time: lines and events split across chunks.
        let mut translator = StreamTranslator::new(7);
        let out: Vec<u8> = wire.as_bytes().chunks(3).flat_map(|c| translator.feed(c)).collect();
        let out = String::from_utf8(out).unwrap();
        let chunks: Vec<&str> = out.split("\n\n").filter(|c| !c.is_empty()).collect();
        let data = |i: usize| -> Value {
            serde_json::from_str(chunks[i].strip_prefix("data: ").unwrap()).unwrap()
        };
        assert_eq!(chunks.len(), 7, "{out}");
        assert_eq!(data(0)["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
        assert_eq!((data(0)["id"].clone(), data(0)["created"].clone()), (json!("msg_1"), json!(7)));
        assert_eq!(data(1)["choices"][0]["delta"], json!({"content": "Hi"}));
        assert_eq!(data(2)["choices"][0]["delta"]["tool_calls"][0]["id"], "toolu_1");
        assert_eq!(
            data(3)["choices"][0]["delta"]["tool_calls"][0],
            json!({"index": 0, "function": {"arguments": "{\"city\":"}})
        );
        assert_eq!(data(4)["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(data(5)["choices"], json!([]));
        assert_eq!(data(5)["usage"]["prompt_tokens"], 12);
        assert_eq!(data(5)["usage"]["completion_tokens"], 9);
        assert_eq!(chunks[6], "data: [DONE]");
        assert!(
            translator.feed(b"data: {\"type\": \"ping\"}\n").is_empty(),
            "nothing after the end"
        );
    }

    #[test]
    fn an_error_event_ends_the_stream_in_openai_shape() {
        let mut translator = StreamTranslator::new(0);
        let event = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        let out =
            String::from_utf8(translator.feed(format!("data: {event}\n").as_bytes())).unwrap();
        assert_eq!(
            out,
            "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"upstream_error\",\"param\":null,\"code\":\"overloaded_error\"}}\n\ndata: [DONE]\n\n"
        );
    }
}
