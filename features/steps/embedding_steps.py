"""Steps for /v1/embeddings and mlxk embed, against mlx-embeddings' own output."""

from __future__ import annotations

import base64
import math
import random

import httpx
import numpy as np
from pytest_bdd import given, parsers, then, when

from steps.server_steps import client

WORDS = "the sea river cat dog paris london weather sunny rain story banana apple".split()


def _texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def _library(standard_hub, model: str):
    """mlx-embeddings' own model and tokenizer for a cached model, loaded directly."""
    from mlx_embeddings.utils import load

    from mlxk.cache.info import resolve_runnable

    return load(str(resolve_runnable(standard_hub, model, kind="embed").path))


def _close(a, b, tolerance=1e-5) -> bool:
    return len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b, strict=True)) <= tolerance


@when(parsers.parse('the openai client embeds {count:d} texts of mixed length with "{model}"'))
def embed_many(world, count, model):
    world["texts"] = _texts(count)
    world["model"] = model
    world["batch"] = client(world).embeddings.create(model=model, input=world["texts"])


@when(parsers.parse('the openai client embeds one of them alone with "{model}"'))
def embed_alone(world, model):
    world["alone"] = client(world).embeddings.create(model=model, input=world["texts"][5])


@then("each vector equals mlx-embeddings' own output for its text, within 1e-5")
def equals_library(world, standard_hub):
    import mlx.core as mx

    model, tokenizer = _library(standard_hub, world["model"])
    data = sorted(world["batch"].data, key=lambda d: d.index)
    assert [d.index for d in data] == list(range(len(world["texts"])))
    for text, item in zip(world["texts"], data, strict=True):
        ids = tokenizer.encode(text)
        direct = model(mx.array([ids])).text_embeds[0].tolist()
        assert _close(item.embedding, direct), text


@then("the text embedded alone has the vector it has in the batch, within 1e-5")
def alone_equals_batched(world):
    assert _close(world["alone"].data[0].embedding, world["batch"].data[5].embedding)


@then("every vector has norm 1")
def unit_norm(world):
    for item in world["batch"].data:
        assert math.isclose(math.sqrt(sum(x * x for x in item.embedding)), 1.0, abs_tol=1e-5)


@then("the usage counts the real tokens of the texts")
def usage_real(world, standard_hub):
    _, tokenizer = _library(standard_hub, world["model"])
    expected = sum(len(tokenizer.encode(t)) for t in world["texts"])
    assert world["batch"].usage.prompt_tokens == expected
    assert world["batch"].usage.total_tokens == expected


@when(parsers.parse('the openai client embeds "{text}" with "{model}"'))
def embed_one(world, text, model):
    world["text"], world["model"] = text, model
    world["one"] = client(world).embeddings.create(model=model, input=text).data[0].embedding


def _raw(world, **extra):
    body = {"model": world["model"], "input": world["text"], **extra}
    response = httpx.post(world["url"] + "/v1/embeddings", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["data"][0]["embedding"]


@then("as base64 it decodes to the same floats")
def base64_same(world):
    encoded = _raw(world, encoding_format="base64")
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4").tolist()
    assert decoded == [float(np.float32(x)) for x in world["one"]]


@then("as token ids it gives the same vector")
def token_ids_same(world, standard_hub):
    _, tokenizer = _library(standard_hub, world["model"])
    ids = tokenizer.encode(world["text"])
    vector = client(world).embeddings.create(model=world["model"], input=[ids]).data[0].embedding
    assert _close(vector, world["one"])


@then(parsers.parse("with dimensions {count:d} it is the first {same:d} numbers normalised again"))
def dimensions_cut(world, count, same):
    cut = client(world).embeddings.create(
        model=world["model"], input=world["text"], dimensions=count
    )
    head = np.array(world["one"][:same])
    assert _close(cut.data[0].embedding, (head / np.linalg.norm(head)).tolist())


@when(
    parsers.parse('LangChain\'s OpenAIEmbeddings embeds two documents and a query with "{model}"')
)
def langchain_embeds(world, model):
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=model,
        base_url=world["url"] + "/v1",
        api_key="unused",
        check_embedding_ctx_length=False,
    )
    docs = ["the sea is blue", "a cat and a dog"]
    world["lc"] = (embeddings.embed_documents(docs), embeddings.embed_query("weather in paris"))
    direct = client(world).embeddings.create(model=model, input=[*docs, "weather in paris"])
    world["direct"] = [d.embedding for d in sorted(direct.data, key=lambda d: d.index)]


@then("it gets vectors equal to the openai client's")
def langchain_equal(world):
    documents, query = world["lc"]
    for got, expected in zip([*documents, query], world["direct"], strict=True):
        assert _close(got, expected)


@when("a chat request, an embeddings request and a chat request run one after another")
def alternate(world):
    chat = client(world).chat.completions.create
    ask = {
        "model": "mlx-community/TinyLlama-Chat-4bit",
        "messages": [{"role": "user", "content": "hi"}],
    }
    world["answers"] = [
        chat(**ask).choices[0].message.content,
        client(world).embeddings.create(model="mlx-community/tiny-bert-embedder", input="hi"),
        chat(**ask).choices[0].message.content,
    ]


@then("each is answered")
def each_answered(world):
    first, embedded, last = world["answers"]
    assert first == last == "Hello! I am a tiny test model, happy to help."
    assert len(embedded.data[0].embedding) == 32


@then("/health shows the chat model and the embedding model both loaded")
def health_both(world):
    health = httpx.get(world["url"] + "/health").json()
    assert health["model"] == "mlx-community/TinyLlama-Chat-4bit"
    assert health["embedding_model"] == "mlx-community/tiny-bert-embedder"


@then("/v1/models marks both loaded, with their types")
def models_both(world):
    cards = {m["id"]: m for m in httpx.get(world["url"] + "/v1/models").json()["data"]}
    chat, embedder = (
        cards["mlx-community/TinyLlama-Chat-4bit"],
        cards["mlx-community/tiny-bert-embedder"],
    )
    assert chat["loaded"] and chat["type"] == "chat"
    assert embedder["loaded"] and embedder["type"] == "embedding"
    assert embedder["capabilities"] == ["embeddings"]


@when(parsers.parse('I POST {count:d} inputs to "{path}" for "{model}"'))
def post_many(world, count, path, model):
    body = {"model": model, "input": ["word"] * count}
    world["http"] = httpx.post(world["url"] + path, json=body, timeout=60)


@then(parsers.parse("the usage counts {count:d} tokens"))
def usage_tokens(world, count):
    assert world["http"].json()["usage"]["prompt_tokens"] == count


@then(
    parsers.parse(
        "stdout has {count:d} JSON lines with indexes 0 and 1 and vectors of {size:d} numbers"
        " with norm 1"
    )
)
def jsonl_vectors(world, count, size):
    import json

    lines = [json.loads(line) for line in world["result"].stdout.splitlines()]
    assert [line["index"] for line in lines] == list(range(count))
    for line in lines:
        vector = line["embedding"]
        assert len(vector) == size
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-5)


@then(parsers.parse('its vector equals the server\'s for "{text}" with "{model}"'))
def cli_equals_server(world, text, model):
    import json

    printed = json.loads(world["result"].stdout.splitlines()[0])["embedding"]
    served = client(world).embeddings.create(model=model, input=text).data[0].embedding
    assert _close(printed, served)


@given(parsers.parse('a running server of its own started with --model "{model}"'))
def server_with_model(world, standard_hub, model):
    from steps.server_steps import start_server

    start_server(world, standard_hub, model=model.replace("<tmp>", str(world["tmp"])))


@then(parsers.parse('/health shows "{model}" as the embedding model before any request'))
def health_preloaded(world, model):
    health = httpx.get(world["url"] + "/health").json()
    assert health["embedding_model"] == model and health["model"] is None


@given(
    parsers.parse(
        'a running server of its own whose memory bound holds "{chat}" or "{embedder}" but not both'
    )
)
def server_with_tight_memory(world, standard_hub, chat, embedder):
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.memory import OVERHEAD, model_bytes
    from steps.server_steps import start_server

    sizes = [
        model_bytes(resolve_runnable(standard_hub, chat).path),
        model_bytes(resolve_runnable(standard_hub, embedder, kind="embed").path),
    ]
    bound = int(OVERHEAD * (max(sizes) + min(sizes) / 2))
    start_server(world, standard_hub, memory_limit=bound)


@then(parsers.parse('/health shows "{model}" loaded and no embedding model'))
def health_only_chat(world, model):
    health = httpx.get(world["url"] + "/health").json()
    assert health["model"] == model and health["embedding_model"] is None, health
