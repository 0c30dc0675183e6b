"""Steps for tool calls and structured output, through the openai client and LangChain."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import jsonschema
from pytest_bdd import parsers, then, when

from steps.server_steps import client

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 12}},
            "required": ["city"],
        },
    },
}
SCHEMAS = {
    "json_object": None,
    "nested schema": {
        "type": "object",
        "properties": {
            "point": {
                "type": "object",
                "properties": {
                    "x": {"type": "integer", "minimum": 0, "maximum": 9},
                    "y": {"type": "integer", "minimum": -5, "maximum": 5},
                },
                "required": ["x", "y"],
            },
            "tags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
            "code": {"type": "string", "pattern": "^[a-z]{2,5}$"},
        },
        "required": ["point", "tags", "code"],
    },
    "schema with enums": {
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "size": {"type": "integer", "minimum": 1, "maximum": 3},
            "ok": {"type": "boolean"},
        },
        "required": ["colour", "size", "ok"],
    },
}


def _offer(world, model, text, **extra):
    world["request"] = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "tools": [WEATHER],
        **extra,
    }
    world["response"] = client(world).chat.completions.create(**world["request"])


@when(parsers.parse('the openai client offers get_weather to "{model}": "{text}"'))
def offer(world, model, text):
    _offer(world, model, text)


@when(
    parsers.parse(
        'the openai client offers get_weather to "{model}": "{text}" with tool_choice "{choice}"'
    )
)
def offer_choice(world, model, text, choice):
    _offer(world, model, text, tool_choice=choice, max_tokens=200)


@when(
    parsers.parse(
        'the openai client offers get_weather to "{model}": "{text}" with tool_choice get_weather'
    )
)
def offer_named(world, model, text):
    named = {"type": "function", "function": {"name": "get_weather"}}
    _offer(world, model, text, tool_choice=named, max_tokens=200)


@when(
    parsers.parse(
        'the openai client offers get_weather to "{model}": "{text}" with parallel_tool_calls false'
    )
)
def offer_single(world, model, text):
    _offer(world, model, text, parallel_tool_calls=False)


def _calls(world):
    return world["response"].choices[0].message.tool_calls or []


@then(
    parsers.parse(
        'the answer is a call to get_weather with {arguments} and finish reason "{reason}"'
    )
)
def call_made(world, arguments, reason):
    (call,) = _calls(world)
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == json.loads(arguments)
    assert world["response"].choices[0].finish_reason == reason


@then("the message content is empty")
def content_empty(world):
    assert not world["response"].choices[0].message.content


@then("no tool is called")
def no_call(world):
    assert not _calls(world)
    assert world["response"].choices[0].finish_reason == "stop"


@when("the openai client sends the tool's result back")
def send_result(world):
    message = world["response"].choices[0].message
    results = [
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"sky": "sunny"})}
        for call in message.tool_calls
    ]
    request = dict(world["request"])
    request["messages"] = [*request["messages"], message.model_dump(exclude_none=True), *results]
    world["response"] = client(world).chat.completions.create(**request)


@then(parsers.parse('the message has {count:d} tool calls, for "{first}" and "{second}"'))
def calls_for_two(world, count, first, second):
    calls = _calls(world)
    assert len(calls) == count
    assert [json.loads(c.function.arguments)["city"] for c in calls] == [first, second]
    assert len({c.id for c in calls}) == count


@then(parsers.parse('the message has {count:d} tool calls, for "{city}"'))
def calls_for_one(world, count, city):
    calls = _calls(world)
    assert [json.loads(c.function.arguments)["city"] for c in calls] == [city] * count


@then(
    parsers.parse("the message has {count:d} tool calls whose arguments are valid for get_weather")
)
def calls_valid(world, count):
    calls = _calls(world)
    assert len(calls) == count, world["response"].choices[0].message
    for call in calls:
        assert call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


@when("the openai client streams the same request")
def stream_same(world):
    chunks = list(client(world).chat.completions.create(**world["request"], stream=True))
    world["chunks"] = chunks


@then("the streamed tool calls equal the unstreamed ones, name first")
def streamed_calls(world):
    calls: dict[int, dict] = {}
    for chunk in world["chunks"]:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta.index not in calls:
                assert delta.id and delta.function.name, "a call's first delta names it"
                calls[delta.index] = {"name": delta.function.name, "arguments": ""}
            calls[delta.index]["arguments"] += delta.function.arguments or ""
    unstreamed = [
        {"name": c.function.name, "arguments": json.loads(c.function.arguments)}
        for c in _calls(world)
    ]
    streamed = [
        {"name": c["name"], "arguments": json.loads(c["arguments"])}
        for _, c in sorted(calls.items())
    ]
    assert streamed == unstreamed and streamed


@then("the call's arguments arrived in several pieces whose text is the unstreamed arguments")
def arguments_in_pieces(world):
    pieces = [
        delta.function.arguments
        for chunk in world["chunks"]
        if chunk.choices
        for delta in chunk.choices[0].delta.tool_calls or []
        if delta.function and delta.function.arguments
    ]
    (call,) = _calls(world)
    assert len(pieces) > 2, pieces
    assert "".join(pieces) == call.function.arguments


@then(parsers.parse('the stream\'s finish reason is "{reason}"'))
def stream_finish(world, reason):
    reasons = [c.choices[0].finish_reason for c in world["chunks"] if c.choices]
    assert reasons[-1] == reason


def _langchain(world, model):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model=model, base_url=world["url"] + "/v1", api_key="unused", max_retries=0, temperature=0
    )
    return chat.bind_tools([WEATHER])


@when(parsers.parse('LangChain binds get_weather to "{model}" and asks "{text}"'))
def langchain_ask(world, model, text):
    from langchain_core.messages import HumanMessage

    world["lc"] = _langchain(world, model)
    world["lc_messages"] = [HumanMessage(text)]
    world["lc_answer"] = world["lc"].invoke(world["lc_messages"])


@then(parsers.parse("LangChain gets a call to get_weather with {arguments}"))
def langchain_call(world, arguments):
    (call,) = world["lc_answer"].tool_calls
    assert call["name"] == "get_weather" and call["args"] == json.loads(arguments)


@then("LangChain's streamed call is the same")
def langchain_stream(world):
    merged = None
    for piece in world["lc"].stream(world["lc_messages"]):
        merged = piece if merged is None else merged + piece
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [
        (c["name"], c["args"]) for c in world["lc_answer"].tool_calls
    ]


@then(parsers.parse('LangChain, given the tool\'s result, answers "{text}"'))
def langchain_result(world, text):
    from langchain_core.messages import ToolMessage

    answer = world["lc_answer"]
    results = [ToolMessage('{"sky": "sunny"}', tool_call_id=c["id"]) for c in answer.tool_calls]
    final = world["lc"].invoke([*world["lc_messages"], answer, *results])
    assert final.text == text and not final.tool_calls  # .text: content may be blocks


def _ask(world, model, text, max_tokens=60, **extra):
    return client(world).chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=max_tokens, **extra
    )


@when(parsers.parse('3 free requests and one asking for a {kind} run together on "{model}"'))
def constrained_in_batch(world, kind, model):
    schema = SCHEMAS[kind]
    if schema is None:
        form = {"type": "json_object"}
    else:
        form = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    texts = ["Hi", "Tell me about banana", "Hello there"]
    world["alone"] = [_ask(world, model, t).choices[0].message.content for t in texts]
    with ThreadPoolExecutor(4) as pool:
        constrained = pool.submit(
            _ask, world, model, "Answer in JSON", response_format=form, max_tokens=400
        )
        free = [pool.submit(_ask, world, model, t) for t in texts]
        world["batched"] = [f.result().choices[0].message.content for f in free]
        world["constrained"] = (constrained.result(), schema)


@then("the constrained answer is JSON valid for its schema")
def constrained_valid(world):
    completion, schema = world["constrained"]
    value = json.loads(completion.choices[0].message.content)
    assert completion.choices[0].finish_reason == "stop"
    jsonschema.validate(value, schema if schema is not None else {"type": "object"})
