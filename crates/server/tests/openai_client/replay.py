#!/usr/bin/env python3
"""Drives OpenAI's Python SDK (PyPI `openai`) against modelgate's gateway.

Environment:
    MODELGATE_URL  modelgate's root, e.g. http://127.0.0.1:8080 (the SDK is pointed at its /v1)
    MODELGATE_KEY  an org admin's modelgate API key
    UPSTREAM_URL   the test kit's fake upstream (`fake-upstream`), e.g. http://127.0.0.1:9000/v1

Models are made through Xagent's API (one OpenAI-compatible, one answering 429, one called
through Anthropic's Messages API), then every call an application makes of the SDK's model,
chat and embedding resources is made once and its parsed result checked: listing, a whole
answer, a stream with usage, the SDK's stream helper, embeddings (the SDK asks for base64 unless
told otherwise), tool calls, and the typed errors the SDK raises. One line is printed per call;
the first failure prints what went wrong and exits with status 1. Retries are off, so that a
refusal shows at once instead of being sent three times.
"""
import json
import os
import sys
import urllib.request

import openai
from openai import OpenAI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../testkit/clients"))
from replaykit import Failure, Steps, check  # noqa: E402

# The fake upstream's usage (crates/testkit/src/upstream.rs).
PROMPT_TOKENS, COMPLETION_TOKENS, CACHED_TOKENS = 1000, 500, 400
HELLO = [{"role": "user", "content": "Say hello."}]


def expect_error(kind, fn):
    """Runs fn, which must raise the SDK's error class `kind`; returns the error."""
    try:
        fn()
    except kind as error:
        return error
    except openai.APIStatusError as error:
        raise Failure(f"expected {kind.__name__}, got {type(error).__name__} {error.status_code}: {error.body!r}")
    raise Failure(f"expected {kind.__name__}, the call succeeded")


def create_model(root, key, body):
    request = urllib.request.Request(
        f"{root}/xagent/api/models/", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        check(answer.status == 200, f"creating {body['model_id']}: {answer.status}")


def main() -> int:
    root = os.environ.get("MODELGATE_URL", "").rstrip("/")
    key = os.environ.get("MODELGATE_KEY", "")
    upstream = os.environ.get("UPSTREAM_URL", "")
    if not root or not key or not upstream:
        print("MODELGATE_URL, MODELGATE_KEY and UPSTREAM_URL must be set", file=sys.stderr)
        return 2
    for model_id, provider, name in [
        ("sdk-chat", "openai", "up-model"),
        ("sdk-limited", "openai", "error-429"),
        ("sdk-claude", "anthropic", "claude-up"),
    ]:
        create_model(root, key, {
            "model_id": model_id, "category": "llm", "model_provider": provider,
            "model_name": name, "api_key": "sk-upstream-replay", "base_url": upstream,
        })
    client = OpenAI(base_url=f"{root}/v1", api_key=key, max_retries=0, timeout=30)
    chat = client.chat.completions

    step = Steps()

    @step("models.list")
    def _():
        listed = {m.id: m for m in client.models.list()}
        for model_id in ["sdk-chat", "sdk-limited", "sdk-claude"]:
            check(model_id in listed, f"{model_id} not listed: {sorted(listed)}")
        check(all(m.object == "model" for m in listed.values()), "an entry is not a model")
        return f"{len(listed)} models"

    @step("models.retrieve")
    def _():
        model = client.models.retrieve("sdk-chat")
        check(model.id == "sdk-chat" and isinstance(model.created, int), f"{model!r}")
        return f"owned_by={model.owned_by}"

    @step("chat.completions.create")
    def _():
        answer = chat.create(model="sdk-chat", messages=HELLO)
        message = answer.choices[0].message
        check(message.role == "assistant" and message.content == "Hello!", f"{message!r}")
        usage = answer.usage
        check((usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS), f"{usage!r}")
        check(usage.prompt_tokens_details.cached_tokens == CACHED_TOKENS, f"{usage!r}")
        return f"id={answer.id}"

    @step("chat.completions.create(stream=True, include_usage)")
    def _():
        chunks = list(chat.create(model="sdk-chat", messages=HELLO, stream=True,
                                  stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        check(text == "Hello!", f"streamed text {text!r}")
        check(chunks[-1].choices == [] and chunks[-1].usage.total_tokens == PROMPT_TOKENS + COMPLETION_TOKENS,
              f"last chunk {chunks[-1]!r}")
        return f"{len(chunks)} chunks"

    @step("chat.completions.create(stream=True) without usage")
    def _():
        chunks = list(chat.create(model="sdk-chat", messages=HELLO, stream=True))
        # modelgate asks the upstream for usage to meter the call; a caller that did not ask
        # gets no usage chunk.
        check(all(c.usage is None for c in chunks), f"usage sent unasked: {chunks[-1]!r}")
        return f"{len(chunks)} chunks"

    @step("chat.completions.stream (the SDK's stream helper), Anthropic model")
    def _():
        with chat.stream(model="sdk-claude", messages=HELLO,
                         stream_options={"include_usage": True}) as stream:
            kinds = {event.type for event in stream}
            final = stream.get_final_completion()
        check("content.delta" in kinds, f"events {kinds}")
        check(final.choices[0].message.content == "Hello!", f"{final!r}")
        check(final.choices[0].finish_reason == "stop", f"{final.choices[0]!r}")
        check(final.usage is not None and final.usage.completion_tokens > 0, f"usage {final.usage!r}")
        return f"events={sorted(kinds)}"

    @step("chat.completions.create with tools, Anthropic model")
    def _():
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }}]
        answer = chat.create(model="sdk-claude", messages=HELLO, tools=tools)
        choice = answer.choices[0]
        check(choice.finish_reason == "tool_calls", f"{choice!r}")
        call = choice.message.tool_calls[0]
        check(call.type == "function" and call.function.name == "get_weather", f"{call!r}")
        check(isinstance(json.loads(call.function.arguments), dict), f"arguments {call.function.arguments!r}")
        return f"call={call.id}"

    @step("embeddings.create (base64 asked for by default)")
    def _():
        answer = client.embeddings.create(model="sdk-chat", input="hello")
        vector = answer.data[0].embedding
        check(isinstance(vector, list) and all(isinstance(x, float) for x in vector), f"{vector!r}")
        check(answer.usage.prompt_tokens == PROMPT_TOKENS, f"{answer.usage!r}")
        return f"dimension={len(vector)}"

    @step("NotFoundError: a model the caller cannot call")
    def _():
        error = expect_error(openai.NotFoundError, lambda: chat.create(model="sdk-nothing", messages=HELLO))
        check(error.code == "model_not_found" and error.param == "model", f"{error.body!r}")
        return error.code

    @step("RateLimitError: the upstream's 429, its retry-after kept")
    def _():
        error = expect_error(openai.RateLimitError, lambda: chat.create(model="sdk-limited", messages=HELLO))
        check(error.code == "rate_limit_exceeded", f"{error.body!r}")
        check(error.response.headers.get("retry-after") == "7", f"{dict(error.response.headers)!r}")
        return error.code

    @step("AuthenticationError: an unknown key")
    def _():
        stranger = OpenAI(base_url=f"{root}/v1", api_key="mg_not-a-key", max_retries=0, timeout=30)
        error = expect_error(openai.AuthenticationError, lambda: stranger.models.list())
        return f"status={error.status_code}"

    return step.run()

if __name__ == "__main__":
    sys.exit(main())
