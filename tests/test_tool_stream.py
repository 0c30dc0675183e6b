"""Streaming a call's arguments: whatever way the text is cut, the pieces sent are
the arguments value exactly, and never the call's own closing brace."""

from __future__ import annotations

import json

import pytest

from mlxk.engine.tool_stream import ArgumentStream

BODIES = [
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    '{"name":"f","arguments":{"a":{"b":[1,2,{"c":"}"}]},"q":"say \\"hi\\" {"}}',
    ' {"name": "f", "parameters": {"x": "a,b]"}} ',
    '{"name": "f", "arguments": {}}',
]


def _stream(body: str, cut: int, whole_body: bool = False) -> tuple[ArgumentStream, str]:
    stream = ArgumentStream(0, "call_1", "f" if whole_body else None)
    sent = []
    for at in range(0, len(body), cut):
        sent += [p.arguments for p in stream.feed(body[at : at + cut]) if p.id is None]
    rest = stream.rest()
    return stream, "".join(sent) + rest


# spec: TOOLS-STREAM
@pytest.mark.parametrize("cut", [1, 2, 5, 1000])
@pytest.mark.parametrize("body", BODIES)
def test_the_pieces_are_the_arguments_value_exactly(body, cut):
    stream, text = _stream(body, cut)
    value = json.loads(body)
    arguments = value.get("arguments", value.get("parameters"))
    assert json.loads(text) == arguments
    assert stream.name == value["name"] and stream.headed
    assert text == text.strip() and body.strip().endswith(text + "}")


# spec: TOOLS-STREAM
@pytest.mark.parametrize("cut", [1, 3, 1000])
def test_a_harmony_body_is_streamed_whole_without_its_white_space(cut):
    stream, text = _stream('  {"city": "Paris"}\n', cut, whole_body=True)
    assert text == '{"city": "Paris"}'
    assert stream.name == "f"


# spec: TOOLS-STREAM
def test_a_body_that_is_not_name_first_json_streams_nothing():
    stream = ArgumentStream(0, "call_1")
    assert stream.feed("<function=f><parameter=x>1</parameter></function>") == []
    assert not stream.headed and stream.rest() == ""


# spec: TOOLS-STREAM
@pytest.mark.parametrize(
    "body",
    [
        r'{"name": "get\_weather", "arguments": {"a": 1}}',  # an escape JSON does not know
        '{"name": "f", "arguments": "{\\"a\\": 1}"}',  # arguments as a JSON string
    ],
)
def test_a_body_it_cannot_stream_safely_is_left_whole(body):
    stream = ArgumentStream(0, "call_1")
    assert stream.feed(body) == [] and not stream.headed
