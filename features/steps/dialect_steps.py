"""Steps for the Responses and Messages APIs, through the openai and anthropic clients."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import anthropic
import jsonschema
import pytest
from pytest_bdd import parsers, then, when

from steps.server_steps import client
from steps.tools_steps import SCHEMAS, WEATHER

FUNCTION = WEATHER["function"]
RESPONSES_WEATHER = {"type": "function", **FUNCTION}
ANTHROPIC_WEATHER = {
    "name": FUNCTION["name"],
    "description": FUNCTION["description"],
    "input_schema": FUNCTION["parameters"],
}
RESULT = json.dumps({"sky": "sunny"})


def claude(world, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=world["url"], api_key=key, max_retries=0)


def _user(text):
    return [{"role": "user", "content": text}]


# -- Responses ----------------------------------------------------------------------


def _respond(world, **request):
    world["rrequest"] = request
    world["rresponse"] = client(world).responses.create(**request)
    return world["rresponse"]


@when(parsers.parse('the openai client creates a response from "{model}" for "{text}"'))
def create_response(world, model, text):
    _respond(world, model=model, input=text)


@then(parsers.parse('the response is completed with the output text "{text}"'))
def response_text(world, text):
    response = world["rresponse"]
    assert response.status == "completed", response
    assert response.output_text == text, response.output


@then("the response's usage counts its input and output tokens as chat completions does")
def response_usage(world):
    request, usage = world["rrequest"], world["rresponse"].usage
    chat = client(world).chat.completions.create(
        model=request["model"], messages=_user(request["input"])
    )
    assert (usage.input_tokens, usage.output_tokens) == (
        chat.usage.prompt_tokens,
        chat.usage.completion_tokens,
    )
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


@when(parsers.parse('the openai client sends instructions and message items to "{model}"'))
def instructions_and_items(world, model):
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
        {"type": "message", "role": "user", "content": "And again?"},
    ]
    _respond(world, model=model, instructions="Be brief.", input=items)
    world["same_messages"] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "And again?"},
    ]


@then("the response's input tokens equal the chat completion's prompt tokens for the same messages")
def response_input_tokens(world):
    model = world["rrequest"]["model"]
    chat = client(world).chat.completions.create(model=model, messages=world["same_messages"])
    assert world["rresponse"].usage.input_tokens == chat.usage.prompt_tokens


@when("the openai client streams the same response")
def stream_response(world):
    world["revents"] = list(client(world).responses.create(**world["rrequest"], stream=True))


ITEM_EVENTS = {
    "message": (
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
    ),
    "reasoning": (
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
    ),
    "function_call": (
        None,
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        None,
    ),
}


@then("the events come in the documented order, numbered from 0")
def response_event_order(world):
    events = world["revents"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete"), kinds
    at, index = 2, 0
    while kinds[at] == "response.output_item.added":
        item = events[at].item
        assert events[at].output_index == index
        opened, delta, done, closed = ITEM_EVENTS[item.type]
        expected = [opened] if opened else []
        at += 1 + len(expected)
        assert kinds[at - len(expected) : at] == expected, kinds
        while kinds[at] == delta:
            assert events[at].output_index == index and events[at].item_id == item.id
            at += 1
        tail = [done, *([closed] if closed else []), "response.output_item.done"]
        assert kinds[at : at + len(tail)] == tail, kinds[at:]
        assert events[at + len(tail) - 1].item.id == item.id
        at, index = at + len(tail), index + 1
    assert index > 0 and at == len(events) - 1, kinds


def _streamed_items(events) -> list[tuple[str, str]]:
    items: dict[int, list] = {}
    for e in events:
        if e.type == "response.output_item.added":
            items[e.output_index] = [e.item.type, ""]
        elif e.type.endswith(".delta"):
            items[e.output_index][1] += e.delta
    return [tuple(items[i]) for i in sorted(items)]


def _items(output) -> list[tuple[str, str]]:
    shaped = []
    for item in output:
        if item.type == "function_call":
            shaped.append((item.type, item.arguments))
        else:
            shaped.append((item.type, "".join(part.text for part in item.content)))
    return shaped


@then("the streamed deltas and the completed response equal the unstreamed response")
def response_stream_equal(world):
    unstreamed, last = world["rresponse"], world["revents"][-1].response
    assert _streamed_items(world["revents"]) == _items(unstreamed.output)
    assert _items(last.output) == _items(unstreamed.output)
    assert last.status == unstreamed.status
    assert last.usage.output_tokens == unstreamed.usage.output_tokens
    assert last.usage.input_tokens == unstreamed.usage.input_tokens


@then(parsers.parse('the output is a reasoning item "{reasoning}" then a message "{text}"'))
def reasoning_item(world, reasoning, text):
    output = world["rresponse"].output
    assert [item.type for item in output] == ["reasoning", "message"], output
    assert output[0].content[0].text == reasoning
    assert output[1].content[0].text == text


@then("the response counts its reasoning tokens")
def reasoning_tokens(world):
    usage = world["rresponse"].usage
    assert 0 < usage.output_tokens_details.reasoning_tokens < usage.output_tokens, usage


@when(
    parsers.parse(
        'the openai client asks "{model}" for "{text}"'
        ' with reasoning effort "{low}" and then "{high}"'
    )
)
def efforts(world, model, text, low, high):
    world["efforts"] = {
        effort: _respond(world, model=model, input=text, reasoning={"effort": effort})
        for effort in (low, high)
    }


@then(parsers.parse('both are answered "{text}" and the high-effort prompt says "Reasoning: high"'))
def efforts_reach_template(world, standard_hub, text):
    from transformers import AutoTokenizer

    from mlxk.cache.info import resolve_runnable

    model = world["rrequest"]["model"]
    tokenizer = AutoTokenizer.from_pretrained(resolve_runnable(standard_hub, model).path)
    lengths = {}
    for effort, response in world["efforts"].items():
        assert response.output_text == text
        rendered = tokenizer.apply_chat_template(
            _user("Hi"), add_generation_prompt=True, tokenize=False, reasoning_effort=effort
        )
        assert f"Reasoning: {effort}" in rendered
        lengths[effort] = len(tokenizer.encode(rendered, add_special_tokens=False))
        assert response.usage.input_tokens == lengths[effort], effort
        chat = client(world).chat.completions.create(
            model=model, messages=_user("Hi"), reasoning_effort=effort
        )
        assert chat.usage.prompt_tokens == lengths[effort], effort
    assert len(set(lengths.values())) == 2, "the two efforts must make prompts of other lengths"


@when(parsers.parse('the openai client offers get_weather in a response from "{model}": "{text}"'))
def offer_response(world, model, text):
    _respond(world, model=model, input=text, tools=[RESPONSES_WEATHER])


@when(
    parsers.parse(
        'the openai client offers get_weather in a response from "{model}": "{text}"'
        ' with tool_choice "{choice}"'
    )
)
def offer_response_choice(world, model, text, choice):
    _respond(
        world,
        model=model,
        input=text,
        tools=[RESPONSES_WEATHER],
        tool_choice=choice,
        max_output_tokens=200,
    )


def _function_calls(response):
    return [item for item in response.output if item.type == "function_call"]


@then(parsers.parse("the output is a function call to get_weather with {arguments}"))
def function_call(world, arguments):
    (call,) = _function_calls(world["rresponse"])
    assert call.name == "get_weather" and call.call_id and call.id
    assert json.loads(call.arguments) == json.loads(arguments)
    assert not [item for item in world["rresponse"].output if item.type == "message"]


@when("the openai client sends the function call and its output back")
def function_output(world):
    request, response = world["rrequest"], world["rresponse"]
    outputs = [
        {"type": "function_call_output", "call_id": call.call_id, "output": RESULT}
        for call in _function_calls(response)
    ]
    replayed = [item.model_dump(exclude_none=True) for item in response.output]
    _respond(world, **{**request, "input": [*_user(request["input"]), *replayed, *outputs]})


@then("the call's arguments arrived in several argument deltas")
def argument_deltas(world):
    deltas = [e.delta for e in world["revents"] if e.type.endswith("arguments.delta")]
    (call,) = _function_calls(world["rresponse"])
    assert len(deltas) >= 2 and "".join(deltas) == call.arguments


@when(parsers.parse('the openai client asks "{model}" for a response in the nested schema'))
def response_in_schema(world, model):
    form = {"type": "json_schema", "name": "nested", "schema": SCHEMAS["nested schema"]}
    _respond(world, model=model, input="Hi", text={"format": form}, max_output_tokens=120)


@then("the output text is JSON valid for the nested schema")
def response_json_valid(world):
    jsonschema.validate(json.loads(world["rresponse"].output_text), SCHEMAS["nested schema"])


@when(
    parsers.parse('LangChain on the Responses API binds get_weather to "{model}" and asks "{text}"')
)
def langchain_responses(world, model, text):
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model=model,
        base_url=world["url"] + "/v1",
        api_key="unused",
        max_retries=0,
        temperature=0,
        use_responses_api=True,
    )
    world["lc"] = chat.bind_tools([WEATHER])
    world["lc_messages"] = [HumanMessage(text)]
    world["lc_answer"] = world["lc"].invoke(world["lc_messages"])


# -- Messages -----------------------------------------------------------------------


def _message(world, **request):
    world["arequest"] = request
    world["amessage"] = claude(world).messages.create(**request)
    return world["amessage"]


@when(parsers.parse('the anthropic client asks "{model}" for "{text}" with max_tokens {count:d}'))
def ask_claude(world, model, text, count):
    _message(world, model=model, max_tokens=count, messages=_user(text))


@then(parsers.parse('the message is one text block "{text}" ending with "{reason}"'))
def one_text_block(world, text, reason):
    message = world["amessage"]
    assert [(b.type, b.text) for b in message.content] == [("text", text)], message.content
    assert message.stop_reason == reason, message


@then("the message's usage counts its input as chat completions counts its prompt")
def message_usage(world):
    request, usage = world["arequest"], world["amessage"].usage
    chat = client(world).chat.completions.create(
        model=request["model"], messages=request["messages"], max_tokens=request["max_tokens"]
    )
    assert usage.input_tokens + usage.cache_read_input_tokens == chat.usage.prompt_tokens
    assert usage.output_tokens == chat.usage.completion_tokens


@when(parsers.parse('the anthropic client sends a system prompt in two text blocks to "{model}"'))
def system_blocks(world, model):
    system = [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]
    _message(world, model=model, max_tokens=50, system=system, messages=_user("Hi"))
    world["same_messages"] = [{"role": "system", "content": "Be brief."}, *_user("Hi")]


@then("the message's input tokens equal the chat completion's prompt tokens for the same messages")
def message_input_tokens(world):
    model, usage = world["arequest"]["model"], world["amessage"].usage
    chat = client(world).chat.completions.create(model=model, messages=world["same_messages"])
    assert usage.input_tokens + usage.cache_read_input_tokens == chat.usage.prompt_tokens


@when("the anthropic client streams the same message")
def stream_message(world):
    request = world["arequest"]
    world["araw"] = list(claude(world).messages.create(**request, stream=True))
    with claude(world).messages.stream(**request) as stream:
        world["astreamed"] = stream.get_final_message()


DELTAS = {"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}


@then("the stream's events follow Anthropic's sequence")
def message_event_order(world):
    events = [e for e in world["araw"] if e.type != "ping"]
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"], kinds
    assert events[0].message.content == [] and events[0].message.stop_reason is None
    at, index = 1, 0
    while kinds[at] == "content_block_start":
        assert events[at].index == index
        delta = DELTAS[events[at].content_block.type]
        at += 1
        while kinds[at] == "content_block_delta":
            assert events[at].index == index and events[at].delta.type == delta, events[at]
            at += 1
        assert kinds[at] == "content_block_stop" and events[at].index == index, kinds
        at, index = at + 1, index + 1
    assert index > 0 and at == len(events) - 2, kinds
    assert events[-2].delta.stop_reason == world["amessage"].stop_reason


def _blocks(message) -> list:
    shaped = []
    for block in message.content:
        if block.type == "tool_use":
            shaped.append((block.type, block.name, block.input))
        else:
            shaped.append((block.type, getattr(block, "text", None) or block.thinking))
    return shaped


@then("the streamed message equals the unstreamed one")
def message_stream_equal(world):
    unstreamed, streamed = world["amessage"], world["astreamed"]
    assert _blocks(streamed) == _blocks(unstreamed)
    assert (streamed.stop_reason, streamed.stop_sequence) == (
        unstreamed.stop_reason,
        unstreamed.stop_sequence,
    )
    assert streamed.usage.output_tokens == unstreamed.usage.output_tokens
    whole = [u.input_tokens + u.cache_read_input_tokens for u in (streamed.usage, unstreamed.usage)]
    assert whole[0] == whole[1], whole


@when(parsers.parse('the anthropic client asks "{model}" for "{text}" with thinking {state}'))
def ask_thinking(world, model, text, state):
    thinking = (
        {"type": "enabled", "budget_tokens": 1024} if state == "enabled" else {"type": "disabled"}
    )
    _message(world, model=model, max_tokens=2000, messages=_user(text), thinking=thinking)


@then(parsers.parse('the message is a thinking block "{reasoning}" then a text block "{text}"'))
def thinking_block(world, reasoning, text):
    assert _blocks(world["amessage"]) == [("thinking", reasoning), ("text", text)]


def _offer_claude(world, model, text, **extra):
    _message(
        world,
        model=model,
        max_tokens=200,
        messages=_user(text),
        tools=[ANTHROPIC_WEATHER],
        **extra,
    )


@when(parsers.parse('the anthropic client offers get_weather to "{model}": "{text}"'))
def offer_claude(world, model, text):
    _offer_claude(world, model, text)


@when(
    parsers.parse(
        'the anthropic client offers get_weather to "{model}": "{text}" with tool_choice any'
    )
)
def offer_claude_any(world, model, text):
    _offer_claude(world, model, text, tool_choice={"type": "any"})


def _tool_uses(message):
    return [block for block in message.content if block.type == "tool_use"]


@then(parsers.parse('the message ends with "tool_use" and calls get_weather with {arguments}'))
def tool_use(world, arguments):
    message = world["amessage"]
    (use,) = _tool_uses(message)
    assert use.name == "get_weather" and use.id
    assert use.input == json.loads(arguments)
    assert message.stop_reason == "tool_use"


@when("the anthropic client sends the tool_use and its tool_result back")
def tool_result(world):
    request, message = world["arequest"], world["amessage"]
    assistant = {
        "role": "assistant",
        "content": [b.model_dump(exclude_none=True) for b in message.content],
    }
    results = [
        {"type": "tool_result", "tool_use_id": use.id, "content": RESULT}
        for use in _tool_uses(message)
    ]
    messages = [*request["messages"], assistant, {"role": "user", "content": results}]
    _message(world, **{**request, "messages": messages})


@then("the tool input arrived in several input_json_delta events")
def input_deltas(world):
    pieces = [
        e.delta.partial_json
        for e in world["araw"]
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    (use,) = _tool_uses(world["amessage"])
    assert len(pieces) >= 2 and json.loads("".join(pieces)) == use.input


@when(parsers.parse('the anthropic client asks "{model}" for "{text}" with stop sequence "{stop}"'))
def ask_stop(world, model, text, stop):
    _message(world, model=model, max_tokens=100, messages=_user(text), stop_sequences=[stop])


@then(parsers.parse('the message\'s stop_sequence is "{stop}"'))
def stop_sequence(world, stop):
    assert world["amessage"].stop_sequence == stop


@then(parsers.parse('the message ends with "{reason}" after {count:d} output tokens'))
def ends_after(world, reason, count):
    message = world["amessage"]
    assert message.stop_reason == reason and message.usage.output_tokens == count, message


@when(parsers.parse('the anthropic client asks "{model}" for a message in the nested schema'))
def message_in_schema(world, model):
    config = {"format": {"type": "json_schema", "schema": SCHEMAS["nested schema"]}}
    _message(world, model=model, max_tokens=120, messages=_user("Hi"), output_config=config)


@then("the message's text is JSON valid for the nested schema")
def message_json_valid(world):
    (block,) = world["amessage"].content
    jsonschema.validate(json.loads(block.text), SCHEMAS["nested schema"])


@then(parsers.parse('the message\'s text is "{text}"'))
def raw_message_text(world, text):
    content = world["http"].json()["content"]
    assert "".join(b.get("text", "") for b in content if b["type"] == "text") == text, content


@when(
    parsers.parse(
        'the anthropic client counts the tokens of "{text}" with get_weather for "{model}"'
    )
)
def count_tokens(world, text, model):
    request = {"model": model, "messages": _user(text), "tools": [ANTHROPIC_WEATHER]}
    world["count"] = claude(world).messages.count_tokens(**request).input_tokens
    _message(world, **request, max_tokens=50)


@then("the count equals the input tokens the same message uses")
def count_equal(world):
    usage = world["amessage"].usage
    assert world["count"] == usage.input_tokens + usage.cache_read_input_tokens > 0


@then(parsers.parse('the anthropic client with key "{key}" is answered'))
def claude_key_ok(world, key):
    message = claude(world, key).messages.create(
        model="mlx-community/TinyLlama-Chat-4bit", max_tokens=20, messages=_user("Hi")
    )
    assert message.content[0].text


@then(parsers.parse('the anthropic client with key "{key}" gets a 401 authentication_error'))
def claude_key_refused(world, key):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        claude(world, key).messages.create(
            model="mlx-community/TinyLlama-Chat-4bit", max_tokens=20, messages=_user("Hi")
        )
    body = caught.value.body
    assert caught.value.status_code == 401 and body["type"] == "error", body
    assert body["error"]["type"] == "authentication_error", body


@then(parsers.parse('the error has Anthropic\'s shape with type "{kind}" mentioning "{words}"'))
def anthropic_error(world, kind, words):
    body = world["http"].json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == kind, body
    assert words in body["error"]["message"], body


# -- all three ----------------------------------------------------------------------


def _three_calls(world, model, text):
    """Each dialect's call and its answer after the tool's result."""
    chat = client(world).chat.completions.create(
        model=model, messages=_user(text), tools=[WEATHER], max_tokens=200
    )
    (call,) = chat.choices[0].message.tool_calls
    results = [{"role": "tool", "tool_call_id": call.id, "content": RESULT}]
    history = [*_user(text), chat.choices[0].message.model_dump(exclude_none=True), *results]
    after = client(world).chat.completions.create(
        model=model, messages=history, tools=[WEATHER], max_tokens=200
    )
    found = {
        "chat": (
            (call.function.name, json.loads(call.function.arguments)),
            after.choices[0].message.content,
        )
    }
    _respond(world, model=model, input=text, tools=[RESPONSES_WEATHER], max_output_tokens=200)
    (rcall,) = _function_calls(world["rresponse"])
    function_output(world)
    found["responses"] = ((rcall.name, json.loads(rcall.arguments)), world["rresponse"].output_text)
    _offer_claude(world, model, text)
    (use,) = _tool_uses(world["amessage"])
    tool_result(world)
    answer = "".join(b.text for b in world["amessage"].content if b.type == "text")
    found["messages"] = ((use.name, use.input), answer)
    return found


@when(parsers.parse('the same tool conversation goes to "{model}" through all three dialects'))
def three_tool_conversations(world, model):
    world["three"] = _three_calls(world, model, "What is the weather?")


@then("each dialect makes the same call to get_weather with the same arguments")
def same_calls(world):
    calls = {dialect: call for dialect, (call, _) in world["three"].items()}
    assert len({json.dumps(c, sort_keys=True) for c in calls.values()}) == 1, calls
    assert calls["chat"][0] == "get_weather"


@then("after the tool's result each dialect answers the same text")
def same_answers(world):
    answers = {dialect: answer for dialect, (_, answer) in world["three"].items()}
    assert len(set(answers.values())) == 1 and answers["chat"], answers


@when(parsers.parse('"{model}" is asked "{text}" through all three dialects'))
def three_questions(world, model, text):
    chat = client(world).chat.completions.create(model=model, messages=_user(text), max_tokens=200)
    message = chat.choices[0].message
    response = _respond(world, model=model, input=text, max_output_tokens=200)
    reasoning = [i.content[0].text for i in response.output if i.type == "reasoning"]
    claude_message = _message(world, model=model, max_tokens=200, messages=_user(text))
    blocks = dict((b[0], b[1]) for b in _blocks(claude_message))
    world["three"] = {
        "chat": (message.content, message.reasoning),
        "responses": (response.output_text, reasoning[0] if reasoning else None),
        "messages": (blocks.get("text"), blocks.get("thinking")),
    }


@then("the three answers and their reasoning are the same")
def three_same(world):
    values = list(world["three"].values())
    assert values[0][0] and values[0][1], values
    assert values.count(values[0]) == 3, world["three"]


PROMPTS = ["Tell me a story", "What is a cloud?", "Count to ten", "Name a colour", "Why?", "Hello"]


def _ask_in(world, dialect, model, prompt, tokens):
    if dialect == "chat":
        chat = client(world).chat.completions.create(
            model=model, messages=_user(prompt), max_tokens=tokens, temperature=0
        )
        return chat.choices[0].message.content
    if dialect == "responses":
        return (
            client(world)
            .responses.create(model=model, input=prompt, max_output_tokens=tokens, temperature=0)
            .output_text
        )
    message = claude(world).messages.create(  # this client has no temperature argument
        model=model, messages=_user(prompt), max_tokens=tokens, extra_body={"temperature": 0}
    )
    return "".join(b.text for b in message.content if b.type == "text")


@when(
    parsers.parse(
        '{count:d} requests in each dialect run at once on "{model}" for {tokens:d} greedy tokens'
    )
)
def three_at_once(world, count, model, tokens):
    jobs = [
        (dialect, PROMPTS[(i * count + j) % len(PROMPTS)])
        for i, dialect in enumerate(("chat", "responses", "messages"))
        for j in range(count)
    ]
    alone = [_ask_in(world, d, model, p, tokens) for d, p in jobs]
    with ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(lambda job: _ask_in(world, job[0], model, job[1], tokens), jobs))
    world["alone"], world["together"] = alone, together


@then("each answers the text it gives alone")
def same_alone(world):
    assert all(world["alone"]), world["alone"]
    assert world["together"] == world["alone"]


@when(
    parsers.parse(
        'the anthropic client counts the tokens of "{text}" for "{model}"'
        " with thinking enabled and disabled"
    )
)
def count_thinking(world, text, model):
    world["counted"] = {}
    for on, thinking in ((True, {"type": "enabled", "budget_tokens": 1024}), (False, None)):
        thinking = thinking or {"type": "disabled"}
        counted = claude(world).messages.count_tokens(
            model=model, messages=_user(text), thinking=thinking
        )
        world["counted"][on] = counted.input_tokens
    world["count_request"] = (model, text)


@then("each count is the prompt the template renders with enable_thinking on and off")
def counts_follow_switch(world, standard_hub):
    from transformers import AutoTokenizer

    from mlxk.cache.info import resolve_runnable

    model, text = world["count_request"]
    tokenizer = AutoTokenizer.from_pretrained(resolve_runnable(standard_hub, model).path)
    for on, count in world["counted"].items():
        rendered = tokenizer.apply_chat_template(
            _user(text), add_generation_prompt=True, tokenize=False, enable_thinking=on
        )
        assert rendered.endswith("<think>\n") == on, rendered
        assert count == len(tokenizer.encode(rendered, add_special_tokens=False)), on
    assert world["counted"][True] != world["counted"][False]
