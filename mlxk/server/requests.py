"""An OpenAI request body, checked and turned into what the engine takes.

What the body's own schema cannot say is checked here, each a 400 naming the param: a
tool's parameters that are not a JSON Schema, a ``tool_choice`` naming no offered tool,
a ``tool`` message answering no earlier call, ``top_logprobs`` without ``logprobs``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from mlxk.engine.constraints import check_schema
from mlxk.engine.request import SamplingRequest
from mlxk.errors import InvalidRequest
from mlxk.server import schemas as api


def sampling_of(body: api.SamplingFields, max_tokens: int | None, split: bool) -> SamplingRequest:
    """The sampling settings shared by chat and completions."""
    bias: tuple[tuple[int, float], ...] = ()
    if body.logit_bias:
        try:
            bias = tuple((int(token), float(value)) for token, value in body.logit_bias.items())
        except ValueError:
            raise InvalidRequest(
                "logit_bias keys are token ids (integers, as strings)", param="logit_bias"
            ) from None
    json_schema, json_object = None, False
    form = body.response_format
    if isinstance(form, api.ResponseFormatJsonObject):
        json_object = True
    elif isinstance(form, api.ResponseFormatJsonSchema):
        json_schema = form.json_schema.json_schema or {}
        check_schema(json_schema, "response_format.json_schema.schema")
    return SamplingRequest(
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        repetition_penalty=body.repetition_penalty,
        frequency_penalty=body.frequency_penalty,
        presence_penalty=body.presence_penalty,
        seed=body.seed,
        stop=body.stop_list(),
        split_reasoning=split,
        logit_bias=bias,
        json_schema=json_schema,
        json_object=json_object,
    )


def chat_sampling(body: api.ChatCompletionRequest) -> SamplingRequest:
    base = sampling_of(body, body.max_completion_tokens or body.max_tokens, split=True)
    if body.top_logprobs and not body.logprobs:
        raise InvalidRequest("top_logprobs needs logprobs: true", param="top_logprobs")
    tools = tuple(t.model_dump(exclude_none=True) for t in body.tools or ())
    for i, tool in enumerate(tools):
        parameters = tool["function"].get("parameters")
        if parameters is not None:
            check_schema(parameters, f"tools[{i}].function.parameters")
    named = (
        body.tool_choice.function.name
        if isinstance(body.tool_choice, api.ToolChoiceFunction)
        else None
    )
    plain = body.tool_choice if isinstance(body.tool_choice, str) else None
    return replace(
        base,
        logprobs=(body.top_logprobs or 0) if body.logprobs else None,
        tools=tools,
        tool_choice=tool_choice(tools, plain, named),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        reasoning_effort=body.reasoning_effort,
    )


def tool_choice(tools: tuple[dict, ...], plain: str | None, named: str | None) -> str | dict:
    """The engine's tool choice ("auto", "none", "required" or {"name": …}) from a
    dialect's: a named function must be an offered tool, a forced call needs tools, and
    two tools may not share a name."""
    names = [t["function"]["name"] for t in tools]
    if len(set(names)) != len(names):
        raise InvalidRequest("two tools have the same name", param="tools")
    if named is not None:
        if named not in names:
            raise InvalidRequest(
                f"tool_choice names '{named}', not an offered tool", param="tool_choice"
            )
        return {"name": named}
    choice = plain or "auto"
    if choice not in ("none", "auto") and not tools:
        raise InvalidRequest(
            "tool_choice asks for a call but no tools are offered", param="tool_choice"
        )
    return choice


def chat_messages(body: api.ChatCompletionRequest) -> list[dict]:
    """Messages for the chat template, as templates read them: ``developer`` as
    ``system``, assistant ``tool_calls`` with their arguments, and each ``tool`` message
    with the ``name`` of the function whose call it answers (harmony templates need it).
    """
    messages: list[dict] = []
    calls: dict[str, str] = {}  # tool_call_id -> function name
    for i, m in enumerate(body.messages):
        message: dict[str, Any] = {
            "role": "system" if m.role == "developer" else m.role,
            "content": m.text(),
        }
        if m.name is not None:
            message["name"] = m.name
        if m.tool_calls:
            if m.role != "assistant":
                raise InvalidRequest(
                    "only assistant messages carry tool_calls", param=_at(i, "role")
                )
            message["tool_calls"] = [_call_for_template(c) for c in m.tool_calls]
            calls.update({c.id: c.function.name for c in m.tool_calls})
        if m.role == "tool":
            if m.tool_call_id is None or m.tool_call_id not in calls:
                raise InvalidRequest(
                    "a tool message must answer an earlier assistant tool call (tool_call_id)",
                    param=_at(i, "tool_call_id"),
                )
            message["tool_call_id"] = m.tool_call_id
            message.setdefault("name", calls[m.tool_call_id])
        elif m.content is None and not m.tool_calls:
            raise InvalidRequest(
                "content is null in a message without tool calls", param=_at(i, "content")
            )
        messages.append(message)
    return messages


def _at(index: int, field: str) -> str:
    return f"messages[{index}].{field}"


def _call_for_template(call: api.ToolCallIn) -> dict:
    arguments = template_arguments(call.function.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.function.name, "arguments": arguments},
    }


def template_arguments(text: str) -> Any:
    """A call's arguments as templates read them: the JSON object (its text if not JSON)."""
    try:
        return json.loads(text)
    except ValueError:
        return text
