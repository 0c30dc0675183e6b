"""A forced call in Qwen3-Coder's XML-like format: whatever a model with random weights
samples under the grammar, mlx-lm's own qwen3_coder parser reads one call whose
arguments validate against the function's schema."""

from __future__ import annotations

import jsonschema
import pytest

from mlxk.engine.model import loaded_model
from mlxk.errors import InvalidRequest

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 12},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "alerts": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "note": {"type": ["string", "null"]},
    },
    "required": ["city", "days", "unit", "code"],
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {
        "type": "function",
        "function": {
            "name": "scale",
            "parameters": {
                "type": "object",
                "properties": {"x": {"type": "number"}},
                "required": ["x"],
            },
        },
    },
]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from mlxk.testing.synthetic import write_synthetic

    _, repo = write_synthetic(tmp_path_factory.mktemp("hub"), "tiny")
    with loaded_model(repo.snapshot) as loaded:
        yield loaded


def _format():
    import mlx_lm.tool_parsers.qwen3_coder as parser

    from mlxk.engine.tools import ToolFormat

    return parser, ToolFormat(
        "markers", parser.tool_call_start, parser.tool_call_end, parser.parse_tool_call
    )


# spec: TOOLS-CHOICE
@pytest.mark.parametrize("seed", [None, *range(1, 81)])
def test_a_forced_qwen3_coder_call_always_parses_and_validates(random_model, seed):
    from mlxk.engine.chat import raw_prompt
    from mlxk.engine.constraints import tool_grammar
    from mlxk.engine.generate import GenerationParams, complete

    parser, form = _format()
    grammar = tool_grammar(random_model, form, TOOLS)
    params = GenerationParams(
        max_tokens=120, temperature=0.0 if seed is None else 1.0, seed=seed, grammar=grammar
    )
    text = complete(random_model, raw_prompt(random_model, "call a tool"), params).text
    body = text.removeprefix(form.start).removesuffix(form.end)
    call = parser.parse_tool_call(body, TOOLS)
    schema = next(
        t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call["name"]
    )
    jsonschema.validate(call["arguments"], schema)


# spec: TOOLS-CHOICE
def test_a_line_break_resyncs_the_closing_lexer():
    """A Qwen3-Coder text value may hold what looks like JSON ({" opens an object and a
    string); compact JSON never holds a raw line break, so the next line starts afresh."""
    from mlxk.engine.closing import LexState, lex

    _, state = lex(b'Paris {"a', LexState())
    assert state == LexState(in_string=True, depth=1)
    _, state = lex(b'Paris {"a\n</parameter>', LexState())
    assert state == LexState()


# spec: TOOLS-BAD-INPUT
def test_a_parameter_this_format_cannot_carry_is_a_400(random_model):
    from mlxk.engine.constraints import tool_grammar

    _, form = _format()
    untyped = {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}]}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": untyped}}]
    with pytest.raises(InvalidRequest) as refused:
        tool_grammar(random_model, form, tools)
    assert refused.value.param == "tool_choice"
