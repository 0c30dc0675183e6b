"""Steps for structured output from any model, n choices, seeds and logprobs."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import jsonschema
from pytest_bdd import parsers, then, when

from steps.server_steps import client

RANDOM = "mlx-community/Tiny-Random-Llama"
FREE_TEXTS = ["Hi", "Tell me about banana", "Hello there"]
# (temperature, seed) of the runs of a schema: greedy, then four seeded samples
RUNS = [(0.0, None), (1.0, 1), (1.0, 2), (1.0, 3), (1.0, 4)]
SCHEMAS = {
    "json_object": None,
    "nested schema": {
        "type": "object",
        "properties": {
            "outer": {
                "type": "object",
                "properties": {
                    "inner": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
                        "required": ["name", "n"],
                    },
                    "note": {"type": "string"},
                },
                "required": ["inner"],
            },
            "id": {"type": "integer"},
        },
        "required": ["outer", "id"],
    },
    "schema with enums": {
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "flag": {"type": "boolean"},
            "nothing": {"type": "null"},
        },
        "required": ["colour", "mode", "flag", "nothing"],
    },
    "schema with arrays": {
        "type": "object",
        "properties": {
            "words": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                    "required": ["x", "y"],
                },
            },
        },
        "required": ["words", "points"],
    },
    "schema with bounds and patterns": {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"},
            "email": {"type": "string", "pattern": "^[a-z]+@[a-z]+\\.com$"},
            "short": {"type": "string", "minLength": 2, "maxLength": 5},
        },
        "required": ["age", "score", "code", "email", "short"],
    },
    "schema with free text": {
        "type": "object",
        "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
        "required": ["title", "body"],
    },
}


def _chat(world, text, max_tokens=16, **extra):
    return client(world).chat.completions.create(
        model=RANDOM, messages=[{"role": "user", "content": text}], max_tokens=max_tokens, **extra
    )


def _format(schema):
    if schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def _constrained(world, schema, budget, temperature, seed):
    return _chat(
        world,
        "Answer in JSON",
        max_tokens=budget,
        response_format=_format(schema),
        temperature=temperature,
        seed=seed,
    )


@when(
    parsers.parse(
        "the random model answers a {kind} in 5 runs alone and 5 beside free requests,"
        " in at most {budget:d} tokens"
    )
)
def random_constrained(world, kind, budget):
    schema = SCHEMAS[kind]
    world["schema"] = schema
    world["alone"] = [_chat(world, t).choices[0].message.content for t in FREE_TEXTS]
    answers = [_constrained(world, schema, budget, t, s) for t, s in RUNS]
    world["batched"] = []
    with ThreadPoolExecutor(4) as pool:
        for temperature, seed in RUNS:
            constrained = pool.submit(_constrained, world, schema, budget, temperature, seed)
            free = [pool.submit(_chat, world, t) for t in FREE_TEXTS]
            world["batched"].append([f.result().choices[0].message.content for f in free])
            answers.append(constrained.result())
    world["answers"] = answers


@then("every constrained answer is JSON valid for its schema")
def every_valid(world):
    schema = world["schema"] if world["schema"] is not None else {"type": "object"}
    for completion in world["answers"]:
        choice = completion.choices[0]
        assert choice.finish_reason in ("stop", "length"), choice
        jsonschema.validate(json.loads(choice.message.content), schema)


@then("each free answer equals its answer alone")
def free_equal(world):
    batched = world["batched"]
    batched = batched if isinstance(batched[0], list) else [batched]
    for texts in batched:
        assert texts == world["alone"]


@when(
    parsers.parse(
        "the openai client asks the random model for {n:d} choices"
        " at temperature 1 with seed {seed:d}"
    )
)
def n_choices(world, n, seed):
    ask = {"temperature": 1.0, "seed": seed, "n": n, "logprobs": True, "max_tokens": 12}
    world["ask"] = ask
    world["n"] = _chat(world, "Tell me a story", **ask)
    world["one"] = _chat(world, "Tell me a story", max_tokens=1)


def _texts(completion):
    return [c.message.content for c in sorted(completion.choices, key=lambda c: c.index)]


@then(parsers.parse("there are {n:d} choices, indexed 0 to {last:d}, not all the same"))
def choices_there(world, n, last):
    choices = world["n"].choices
    assert sorted(c.index for c in choices) == list(range(last + 1)) and len(choices) == n
    assert len(set(_texts(world["n"]))) > 1


@then("the usage counts the prompt once and every choice's tokens")
def usage_counts(world):
    usage, choices = world["n"].usage, world["n"].choices
    assert usage.prompt_tokens == world["one"].usage.prompt_tokens
    generated = [len(c.logprobs.content) for c in choices]  # one entry per token
    assert usage.completion_tokens == sum(generated)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@then(parsers.parse("the same request again gives the same {n:d} choices"))
def same_again(world, n):
    again = _chat(world, "Tell me a story", **world["ask"])
    assert _texts(again) == _texts(world["n"])


@then(parsers.parse("the same request streamed gives the same {n:d} choices"))
def same_streamed(world, n):
    stream = client(world).chat.completions.create(
        model=RANDOM,
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
        **world["ask"],
    )
    texts, finished, usage = [""] * n, set(), None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished.add(choice.index)
    assert texts == _texts(world["n"])
    assert finished == set(range(n))
    assert usage is not None and usage.completion_tokens == world["n"].usage.completion_tokens


@when(
    parsers.parse(
        "the random model is asked at temperature 1 with seed {seed:d} alone,"
        " then beside 3 other requests"
    )
)
def seeded(world, seed):
    ask = {"temperature": 1.0, "max_tokens": 16}
    world["seeded"] = lambda s: _chat(world, "Tell me a story", seed=s, **ask)
    world["alone_seeded"] = world["seeded"](seed).choices[0].message.content
    with ThreadPoolExecutor(4) as pool:
        others = [pool.submit(_chat, world, t, temperature=1.0) for t in FREE_TEXTS]
        mine = pool.submit(world["seeded"], seed)
        [o.result() for o in others]
        world["batched_seeded"] = mine.result().choices[0].message.content


@then("both answers are the same")
def both_same(world):
    assert world["alone_seeded"] == world["batched_seeded"]


@then(parsers.parse("with seed {seed:d} the answer is another"))
def other_seed(world, seed):
    assert world["seeded"](seed).choices[0].message.content != world["alone_seeded"]


@when(
    parsers.parse("the random model gives {count:d} greedy tokens with {top:d} top logprobs {how}")
)
def greedy_logprobs(world, count, top, how):
    text = "Tell me about banana"
    world["logprob_prompt"] = ("raw", text) if "completions" in how else ("chat", text)
    if "completions" in how:
        done = client(world).completions.create(
            model=RANDOM, prompt=text, max_tokens=count, temperature=0, logprobs=top
        )
        lp = done.choices[0].logprobs
        world["scored"] = [
            (token, value, sorted(alts.values(), reverse=True))
            for token, value, alts in zip(
                lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True
            )
        ]
        return
    ask = {"max_tokens": count, "temperature": 0, "logprobs": True, "top_logprobs": top}
    with ThreadPoolExecutor(3) as pool:
        others = [pool.submit(_chat, world, t) for t in FREE_TEXTS[:2]] if "beside" in how else []
        done = pool.submit(_chat, world, text, **ask).result()
        [o.result() for o in others]
    world["scored"] = [
        (e.token, e.logprob, [alt.logprob for alt in e.top_logprobs])
        for e in done.choices[0].logprobs.content
    ]


@then("each token, its logprob and its top logprobs are those of the model's logits, within 1e-4")
def logprobs_match(world, standard_hub):
    import mlx.core as mx

    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.chat import chat_prompt, raw_prompt
    from mlxk.engine.model import load

    loaded = load(resolve_runnable(standard_hub, RANDOM).path)
    kind, text = world["logprob_prompt"]
    if kind == "raw":
        prompt = raw_prompt(loaded, text)
    else:
        prompt = chat_prompt(loaded, [{"role": "user", "content": text}])
    ids = list(prompt.token_ids)
    assert world["scored"]
    for token, logprob, top in world["scored"]:
        logits = loaded.model(mx.array([ids]))[0, -1].astype(mx.float32)
        row = (logits - mx.logsumexp(logits)).tolist()
        best = max(range(len(row)), key=row.__getitem__)
        assert token == loaded.tokenizer.decode([best])
        assert math.isclose(logprob, row[best], abs_tol=1e-4), (logprob, row[best])
        expected = sorted(row, reverse=True)[: len(top)]
        assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(top, expected, strict=True))
        ids.append(best)


@when(
    parsers.parse('the openai client asks "{model}" for a json_object in at most {budget:d} tokens')
)
def reasoning_json(world, model, budget):
    world["json_answer"] = client(world).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Hi there"}],
        max_tokens=budget,
        response_format={"type": "json_object"},
    )


@then("the answer's content is a JSON object")
def content_is_object(world):
    assert isinstance(json.loads(world["json_answer"].choices[0].message.content), dict)
