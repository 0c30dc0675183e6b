"""What a request constrains its output to, as a grammar for its model.

* ``response_format`` ``json_object`` or ``json_schema``: the answer is one JSON
  document (valid against the schema). A model that reasons first answers after its
  reasoning: the grammar starts where the answer starts (after ``</think>`` when the
  template opened it, in harmony's ``final`` channel).
* ``tool_choice`` ``required`` or a named function: the output is one call, in the
  model's own format, whose arguments are valid against the function's parameters.
"""

from __future__ import annotations

import json
from typing import Any

from mlxk.engine.grammar import JSON_OPTIONS
from mlxk.engine.model import LoadedModel
from mlxk.engine.tools import ToolFormat
from mlxk.errors import InvalidRequest

ANY_OBJECT: dict = {"type": "object"}


def _token(loaded: LoadedModel, text: str) -> str:
    """An added token (special or not, as ``<tool_call>`` is) as Lark names it,
    ``<[id]>``: llguidance matches added tokens by id, never by their text."""
    ids = loaded.tokenizer.encode(text, add_special_tokens=False)
    added = getattr(loaded.tokenizer, "added_tokens_decoder", None) or {}
    if len(ids) == 1 and (ids[0] in added or text in loaded.special_tokens):
        return f"<[{ids[0]}]>"
    return json.dumps(text)


def closed_objects(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its
    properties and says nothing of others (as OpenAI's strict mode requires anyway):
    otherwise a model may go on adding keys until its length runs out. What it
    produces still validates against the schema as given."""
    if isinstance(schema, list):
        return [closed_objects(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: closed_objects(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        if "patternProperties" not in schema and "unevaluatedProperties" not in schema:
            closed["additionalProperties"] = False
    return closed


def check_schema(schema: Any, param: str) -> None:
    """Raise a 400 naming ``param`` if ``schema`` is not a JSON Schema (draft 2020-12)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise InvalidRequest("a JSON Schema is an object", param=param)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise InvalidRequest(f"not a valid JSON Schema: {error.message}", param=param) from None


def _json_rule(schema: dict) -> str:
    """A Lark rule for JSON valid against ``schema``, compact as the JSON-schema path's
    (a weak model could otherwise fill its budget with white space)."""
    return "%json " + json.dumps({**schema, "x-guidance": JSON_OPTIONS})


def response_grammar(loaded: LoadedModel, schema: dict | None, prompt_text: str) -> Any:
    """A grammar for an answer that is one JSON document (``schema`` None: any object)."""
    schema = closed_objects(schema) if schema is not None else ANY_OBJECT
    rule = _json_rule(schema)
    style = loaded.reasoning_style(prompt_text)
    if style.kind == "harmony":
        channel, message = _token(loaded, "<|channel|>"), _token(loaded, "<|message|>")
        source = f'start: {channel} "final" {message} answer\nanswer: {rule}'
    elif style.kind == "think" and style.starts_in_reasoning:
        end = _token(loaded, style.end)
        source = f'start: {end} "\\n"? answer\nanswer: {rule}'
    else:
        return loaded.grammars.json_schema(schema, "response_format")
    return loaded.grammars.lark(source, "response_format")


def _call_schema(tool: dict, arguments_key: str) -> dict:
    function = tool["function"]
    return {
        "type": "object",
        "properties": {
            "name": {"const": function["name"]},
            arguments_key: closed_objects(function.get("parameters") or ANY_OBJECT),
        },
        "required": ["name", arguments_key],
        "additionalProperties": False,
    }


def tool_grammar(loaded: LoadedModel, form: ToolFormat, tools: list[dict]) -> Any:
    """A grammar for exactly one call to one of ``tools``, in the model's format.

    Raises:
        InvalidRequest: the model's format has no grammar here (a call cannot be forced).
    """
    if form.kind == "harmony":
        channel = _token(loaded, "<|channel|>")
        message = _token(loaded, "<|message|>")
        rules = []
        for i, tool in enumerate(tools):
            function = tool["function"]
            header = json.dumps(f"commentary to=functions.{function['name']} json")
            params = closed_objects(function.get("parameters") or ANY_OBJECT)
            rules.append(f"call{i}: {channel} {header} {message} args{i}")
            rules.append(f"args{i}: {_json_rule(params)}")
        alternatives = " | ".join(f"call{i}" for i in range(len(tools)))
        return loaded.grammars.lark(f"start: {alternatives}\n" + "\n".join(rules), "tool_choice")
    any_call = {"anyOf": [_call_schema(t, "arguments") for t in tools]}
    if form.kind == "llama3_json":
        params_call = {"anyOf": [_call_schema(t, "parameters") for t in tools]}
        return loaded.grammars.json_schema(params_call, "tool_choice")
    if form.start == "[TOOL_CALLS]":  # Mistral: a JSON list of calls
        listed = {"type": "array", "items": any_call, "minItems": 1, "maxItems": 1}
        source = f"start: {_token(loaded, form.start)} calls\ncalls: {_json_rule(listed)}"
        return loaded.grammars.lark(source, "tool_choice")
    if _parser_of(form) == "qwen3_coder":
        return loaded.grammars.lark(qwen3_coder_grammar(loaded, form, tools), "tool_choice")
    if (
        form.start == "<tool_call>"
        and form.end == "</tool_call>"
        and _parser_of(form) == "json_tools"
    ):
        source = (
            f'start: {_token(loaded, form.start)} "\\n" call "\\n" {_token(loaded, form.end)}\n'
            f"call: {_json_rule(any_call)}"
        )
        return loaded.grammars.lark(source, "tool_choice")
    raise InvalidRequest(
        f"this model's tool-call format ({form.start}…) cannot be forced; use tool_choice 'auto'",
        param="tool_choice",
    )


def _parser_of(form: ToolFormat) -> str:
    """Which of mlx-lm's tool parsers reads this format (its module's name)."""
    return str(getattr(form.parser, "__module__", "")).rsplit(".", 1)[-1]


def qwen3_coder_grammar(loaded: LoadedModel, form: ToolFormat, tools: list[dict]) -> str:
    """Qwen3-Coder's XML-like call, ``<function=NAME>`` with one ``<parameter=KEY>`` per
    argument: the required ones in order, then the optional ones, each value in the
    form the parser reads back to the schema's type (strings bare, on one line).

    Raises:
        InvalidRequest: a parameter whose schema has no type this format can carry.
    """
    rules = []
    for i, tool in enumerate(tools):
        function = tool["function"]
        schema = function.get("parameters") or ANY_OBJECT
        properties = schema.get("properties") or {}
        required = [k for k in schema.get("required", []) if k in properties]
        optional = [k for k in properties if k not in required]
        body = []
        for j, key in enumerate(required + optional):
            rule = f"f{i}p{j}"
            opening, closing = json.dumps(f"<parameter={key}>\n"), json.dumps("\n</parameter>\n")
            options = _xml_values(properties[key], key)
            for k, option in enumerate(options):
                if option.startswith("%json"):  # a rule of its own
                    rules.append(f"{rule}j{k}: {option}")
                    options[k] = f"{rule}j{k}"
            rules.append(f"{rule}: {opening} ({' | '.join(options)}) {closing}")
            body.append(rule if key in required else f"{rule}?")
        head = json.dumps(f"<function={function['name']}>\n")
        rules.append(f'call{i}: {head} {" ".join(body)} "</function>"')
    start, end = _token(loaded, form.start), _token(loaded, form.end)
    alternatives = " | ".join(f"call{i}" for i in range(len(tools)))
    return "\n".join([f'start: {start} "\\n" ({alternatives}) "\\n" {end}', *rules])


def _xml_values(schema: dict, key: str) -> list[str]:
    """Lark expressions for one parameter's value, as qwen3_coder's parser reads it."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    options = []
    for kind in kinds:
        if kind == "string" and "enum" in schema:
            options += [json.dumps(str(v)) for v in schema["enum"] if isinstance(v, str)]
        elif kind == "string" and "pattern" in schema:
            pattern = str(schema["pattern"]).removeprefix("^").removesuffix("$")
            options.append("/" + pattern.replace("/", "\\/") + "/")
        elif kind == "string":
            low, high = schema.get("minLength", 0), schema.get("maxLength", 256)
            options.append(f"/[^<\\n]{{{low},{high}}}/")
        elif kind == "boolean":
            options += ['"true"', '"false"']
        elif kind == "null":
            options.append('"null"')
        elif kind in ("integer", "number") and not {"minimum", "maximum"} & set(schema):
            # the parser reads numbers through float(): no exponent to overflow it
            fraction = "" if kind == "integer" else "(\\.[0-9]{1,15})?"
            options.append(f"/-?(0|[1-9][0-9]{{0,15}}){fraction}/")
        elif kind in ("integer", "number", "object", "array"):
            options.append(_json_rule(closed_objects({**schema, "type": kind})))
        else:
            raise InvalidRequest(
                f"parameter '{key}' has no type this model's call format can carry"
                " (string, number, integer, boolean, object, array, null); use tool_choice"
                " 'auto'",
                param="tool_choice",
            )
    return options
