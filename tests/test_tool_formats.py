"""Every tool-call format mlx-lm has a parser for goes through mlxk's splitter: the call
text is cut out of the answer (however the stream cuts it), parsed by mlx-lm's own
parser, and streamed as a head and arguments that reassemble into the call."""

from __future__ import annotations

import importlib
import json

import pytest

from mlxk.engine.reasoning import ANSWER
from mlxk.engine.tools import ToolCallSplitter, ToolFormat, ToolUse

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
)
# One call to get_weather(city="Paris") in each format: the text between its markers.
BODIES = {
    "function_gemma": "call:get_weather{city:<escape>Paris<escape>}",
    "gemma4": 'call:get_weather{city:<|"|>Paris<|"|>}',
    "glm47": "get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n",
    "json_tools": '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n',
    "kimi_k2": "<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
    '{"city": "Paris"}<|tool_call_end|>',
    "kimi_k3": '<|open|>call tool="get_weather" index="1"<|sep|><|open|>argument key="city"'
    ' type="string"<|sep|>Paris<|close|>argument<|sep|><|close|>call<|sep|>',
    "laguna": "get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>",
    "longcat": "get_weather\n<longcat_arg_key>city</longcat_arg_key>\n"
    "<longcat_arg_value>Paris</longcat_arg_value>\n",
    "minicpm5": '"get_weather"><param name="city">Paris</param>',
    "minimax_m2": '\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n'
    "</invoke>\n",
    "mistral": 'get_weather[ARGS]{"city": "Paris"}',
    "muse_spark": '<atem:invoke name="get_weather"><atem:parameter name="city">Paris'
    "</atem:parameter></atem:invoke>",
    "pythonic": '[get_weather(city="Paris")]',
    "qwen3_coder": "\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n",
}


def test_every_parser_mlx_lm_has_is_covered():
    from pathlib import Path

    package = Path(importlib.import_module("mlx_lm.tool_parsers").__file__).parent
    parsers = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert parsers <= set(BODIES), f"formats with no example here: {parsers - set(BODIES)}"


# spec: TOOLS-CALL
@pytest.mark.parametrize("cut", [1, 4, 10_000])
@pytest.mark.parametrize("name", sorted(BODIES))
def test_each_format_is_cut_out_parsed_by_mlx_lm_and_streamed(name, cut):
    module = importlib.import_module(f"mlx_lm.tool_parsers.{name}")
    form = ToolFormat(
        "markers", module.tool_call_start, module.tool_call_end, module.parse_tool_call
    )
    splitter = ToolCallSplitter(ToolUse(form, TOOLS))
    after = "" if not form.end else " Done."  # mistral's call runs to the end of the text
    text = "Let me check. " + form.start + BODIES[name] + form.end + after
    answer, calls, parts = [], [], []
    for at in range(0, len(text), cut):
        pieces, made = splitter.feed([(ANSWER, text[at : at + cut])])
        answer += [t for _, t in pieces]
        calls += made
        parts += splitter.take_parts()
    pieces, made = splitter.finish()
    answer += [t for _, t in pieces]
    calls += made
    parts += splitter.take_parts()
    assert "".join(answer) == "Let me check. " + after
    ((call),) = calls
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    heads = [p for p in parts if p.id is not None]
    assert [(p.index, p.id, p.name) for p in heads] == [(0, call.id, "get_weather")]
    assert "".join(p.arguments for p in parts) == call.arguments


# spec: TOOLS-PARALLEL
def test_with_one_call_allowed_a_broken_call_does_not_use_up_its_place():
    module = importlib.import_module("mlx_lm.tool_parsers.json_tools")
    form = ToolFormat(
        "markers", module.tool_call_start, module.tool_call_end, module.parse_tool_call
    )
    splitter = ToolCallSplitter(ToolUse(form, TOOLS, single=True))
    good = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    text = f"<tool_call>oops</tool_call><tool_call>{good}</tool_call>"
    _, calls = splitter.feed([(ANSWER, text)])
    _, more = splitter.finish()
    (call,) = calls + more
    assert call.name == "get_weather"
    parts = splitter.take_parts()
    assert {p.index for p in parts} == {0}
