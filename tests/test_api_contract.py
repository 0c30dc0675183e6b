"""The server's OpenAPI and its real responses agree with the JSON Schemas in schemas/api."""

from __future__ import annotations

import json

import httpx
import pytest

from mlxk.contract import load_schema, validate
from mlxk.server.app import ServerSettings, create_app
from mlxk.testing.embedders import BERT_NAME
from mlxk.testing.fixtures import build_cache
from mlxk.testing.live_server import live_server

CHAT = "mlx-community/TinyQwen3-Think-4bit"
TOOLS = "mlx-community/TinyQwen3-Tools-4bit"
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PAIRS = {
    "ChatCompletionRequest": "api/chat_completion_request.json",
    "CompletionRequest": "api/completion_request.json",
    "EmbeddingRequest": "api/embedding_request.json",
    "EmbeddingList": "api/embedding_list.json",
    "ChatCompletion": "api/chat_completion.json",
    "Completion": "api/completion.json",
    "ModelList": "api/model_list.json",
    "ModelCard": "api/model.json",
    "Health": "api/health.json",
    "ErrorBody": "api/error.json",
    "ResponseRequest": "api/response_request.json",
    "ResponseObject": "api/response.json",
    "MessageRequest": "api/message_request.json",
    "CountTokensRequest": "api/count_tokens_request.json",
    "MessageResponse": "api/message.json",
    "TokenCount": "api/token_count.json",
    "AnthropicError": "api/anthropic_error.json",
}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    hub = tmp_path_factory.mktemp("contract") / "hub"
    build_cache(hub, [CHAT, "mlx-community/TinyLlama-Base", BERT_NAME, TOOLS])
    with live_server(ServerSettings(hub_cache=hub)) as base:
        yield base


@pytest.mark.parametrize("component,schema_name", sorted(PAIRS.items()))
def test_openapi_components_match_the_contract(tmp_path, component, schema_name):
    openapi = create_app(ServerSettings(hub_cache=tmp_path)).openapi()
    generated = openapi["components"]["schemas"][component]
    contract = load_schema(schema_name)
    assert set(generated["properties"]) == set(contract["properties"]), component
    assert set(generated.get("required", [])) == set(contract.get("required", [])), component


def test_every_route_declares_its_error_statuses(tmp_path):
    openapi = create_app(ServerSettings(hub_cache=tmp_path)).openapi()
    for path in (
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models/{model_id}",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
    ):
        operation = next(iter(openapi["paths"][path].values()))
        assert {"200", "400", "404"} <= set(operation["responses"]), path


def _events(response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            events.append(json.loads(line[6:]))
    return events


def test_responses_match_their_schemas(url):
    chat = {"model": CHAT, "messages": [{"role": "user", "content": "Hi"}]}
    validate(
        "api/chat_completion.json",
        httpx.post(url + "/v1/chat/completions", json=chat, timeout=60).json(),
    )
    validate(
        "api/chat_completion.json",
        httpx.post(url + "/v1/chat/completions", json={**chat, "n": 2}, timeout=60).json(),
    )
    completion = {"model": "mlx-community/TinyLlama-Base", "prompt": "one", "max_tokens": 3}
    for extra in ({}, {"n": 2, "logprobs": 2}):
        validate(
            "api/completion.json",
            httpx.post(url + "/v1/completions", json={**completion, **extra}, timeout=60).json(),
        )
    for form in ("float", "base64"):
        embedded = {"model": BERT_NAME, "input": ["one", "two three"], "encoding_format": form}
        validate(
            "api/embedding_list.json",
            httpx.post(url + "/v1/embeddings", json=embedded, timeout=60).json(),
        )
    validate("api/model_list.json", httpx.get(url + "/v1/models").json())
    validate("api/model.json", httpx.get(url + "/v1/models/" + CHAT).json())
    validate("api/health.json", httpx.get(url + "/health").json())
    bad = httpx.post(url + "/v1/chat/completions", json={"model": CHAT}, timeout=60)
    assert bad.status_code == 400
    validate("api/error.json", bad.json())


def test_stream_chunks_match_their_schemas_and_end_with_done(url):
    body = {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    for event in events:
        validate("api/chat_completion_chunk.json", event)
    assert lines[-1] == "data: [DONE]"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0
    body = {
        "model": "mlx-community/TinyLlama-Base",
        "prompt": "one",
        "max_tokens": 4,
        "stream": True,
    }
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as r:
        events = _events(r)
    for event in events:
        validate("api/completion_chunk.json", event)
    # mlx-lm's BPE detokenizer drops the first token's leading space (noted on issue 5).
    assert "".join(e["choices"][0]["text"] for e in events) == "two three four five"
    assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_responses_and_messages_match_their_schemas(url):
    """Every kind of output item and content block, and both dialects' errors."""
    for body in (
        {"model": CHAT, "input": "Hi"},  # a reasoning item and a message
        {"model": TOOLS, "input": "Weather?", "tools": [{"type": "function", **WEATHER}]},
        {"model": CHAT, "input": "Hi", "max_output_tokens": 2},  # incomplete
    ):
        answer = httpx.post(url + "/v1/responses", json=body, timeout=60).json()
        validate("api/response.json", answer)
    assert answer["status"] == "incomplete", answer
    claude_weather = {"name": WEATHER["name"], "input_schema": WEATHER["parameters"]}
    for body in (
        {"model": CHAT, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]},
        {
            "model": TOOLS,
            "max_tokens": 100,
            "tools": [claude_weather],
            "messages": [{"role": "user", "content": "Weather?"}],
        },
    ):
        validate("api/message.json", httpx.post(url + "/v1/messages", json=body, timeout=60).json())
        del body["max_tokens"]
        counted = httpx.post(url + "/v1/messages/count_tokens", json=body, timeout=60)
        validate("api/token_count.json", counted.json())
    bad = httpx.post(url + "/v1/messages", json={"model": CHAT}, timeout=60)
    assert bad.status_code == 400
    validate("api/anthropic_error.json", bad.json())
    bad = httpx.post(url + "/v1/responses", json={"model": CHAT, "input": "Hi", "store": True})
    assert bad.status_code == 400
    validate("api/error.json", bad.json())
