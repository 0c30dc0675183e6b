"""``POST /v1/responses``: OpenAI's Responses API on the engine Chat Completions uses.

The input items become chat messages (``function_call`` items an assistant turn's tool
calls, ``function_call_output`` items tool messages, a ``reasoning`` item the next
assistant turn's reasoning), the settings a :class:`SamplingRequest`; the answer's
blocks become output items: ``reasoning``, ``message`` and ``function_call``.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from mlxk.engine.constraints import check_schema
from mlxk.engine.reasoning import REASONING
from mlxk.engine.request import SamplingRequest
from mlxk.errors import InvalidRequest, UnsupportedParameter
from mlxk.server import responses_schemas as api
from mlxk.server.blocks import CALL, TEXT, Block, Blocks, fold
from mlxk.server.jobs import GenerationRequest
from mlxk.server.requests import template_arguments, tool_choice
from mlxk.server.sse import first, streaming, timings_of

if TYPE_CHECKING:
    from mlxk.server.manager import ModelManager
    from mlxk.server.settings import ServerSettings


def _text(content: str | list[api.Part], at: str) -> str:
    """The text of a message's content: its text parts (a refusal as its text)."""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.type in ("input_text", "output_text", "text") and part.text is not None:
            texts.append(part.text)
        elif part.type == "refusal" and part.refusal is not None:
            texts.append(part.refusal)
        else:
            raise UnsupportedParameter(
                f"'{part.type}' content is not supported by mlxk (text only)",
                param=f"{at}.content[{j}]",
            )
    return "".join(texts)


def response_messages(body: api.ResponseRequest) -> list[dict]:
    """The conversation ``input`` and ``instructions`` make, as chat templates read it."""
    messages: list[dict] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    if not body.input:
        raise InvalidRequest("input is empty", param="input")
    if isinstance(body.input, str):
        return [*messages, {"role": "user", "content": body.input}]
    calls: dict[str, str] = {}  # call_id -> function name
    reasoning: str | None = None  # for the next assistant turn
    for i, item in enumerate(body.input):
        at = f"input[{i}]"
        if isinstance(item, api.MessageItem):
            role = "system" if item.role in ("system", "developer") else item.role
            messages.append({"role": role, "content": _text(item.content, at)})
        elif isinstance(item, api.FunctionCallItem):
            last = messages[-1] if messages else {}
            if last.get("role") != "assistant":
                last = {"role": "assistant", "content": ""}
                messages.append(last)
            call = {"name": item.name, "arguments": template_arguments(item.arguments)}
            last.setdefault("tool_calls", []).append(
                {"id": item.call_id, "type": "function", "function": call}
            )
            calls[item.call_id] = item.name
        elif isinstance(item, api.FunctionCallOutputItem):
            if item.call_id not in calls:
                raise InvalidRequest(
                    f"function_call_output answers no earlier function_call ('{item.call_id}')",
                    param=f"{at}.call_id",
                )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.call_id,
                    "name": calls[item.call_id],
                    "content": _text(item.output, at),
                }
            )
        elif isinstance(item, api.ReasoningItem):
            reasoning = "".join(p.text for p in item.content or item.summary)
            continue
        else:
            raise _unknown_item(item.type, at)
        if reasoning is not None and messages[-1]["role"] == "assistant":
            messages[-1]["reasoning_content"], reasoning = reasoning, None
    if not any(m["role"] != "system" for m in messages):
        raise InvalidRequest("input has no message to answer", param="input")
    return messages


def _unknown_item(kind: str, at: str) -> Exception:
    if kind == "item_reference":
        return UnsupportedParameter(
            "mlxk keeps no responses: send the item itself, not a reference", param=at
        )
    return UnsupportedParameter(f"input items of type '{kind}' are not supported", param=at)


def response_sampling(body: api.ResponseRequest) -> SamplingRequest:
    """The request's settings, checked: tools, tool choice, text format, reasoning."""
    if body.previous_response_id is not None:
        raise UnsupportedParameter(
            "mlxk keeps no responses (store is false): send the whole conversation as input"
            " instead of previous_response_id",
            param="previous_response_id",
        )
    tools = tuple(_function_tool(tool, i) for i, tool in enumerate(body.tools or ()))
    named = body.tool_choice.name if isinstance(body.tool_choice, api.NamedTool) else None
    plain = body.tool_choice if isinstance(body.tool_choice, str) else None
    form = body.text.format if body.text else None
    schema = None
    if form is not None and form.type == "json_schema":
        if form.json_schema is None:
            raise InvalidRequest("a json_schema format needs its schema", param="text.format")
        schema = form.json_schema
        check_schema(schema, "text.format.schema")
    effort = body.reasoning.effort if body.reasoning else None
    return SamplingRequest(
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        json_schema=schema,
        json_object=form is not None and form.type == "json_object",
        tools=tools,
        tool_choice=tool_choice(tools, plain, named),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        reasoning_effort=effort,
        effort_param="reasoning.effort",
    )


def _function_tool(tool: api.FunctionTool, i: int) -> dict:
    if tool.type != "function":
        raise UnsupportedParameter(
            f"'{tool.type}' tools are not supported by mlxk (function tools only)",
            param=f"tools[{i}].type",
        )
    if tool.model_extra:
        name = next(iter(tool.model_extra))
        raise InvalidRequest(f"unknown parameter '{name}'", param=f"tools[{i}].{name}")
    if tool.name is None:
        raise InvalidRequest("a function tool needs a name", param=f"tools[{i}].name")
    if tool.parameters is not None:
        check_schema(tool.parameters, f"tools[{i}].parameters")
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": {k: v for k, v in function.items() if v is not None}}


ID_PREFIXES = {REASONING: "rs_", CALL: "fc_", TEXT: "msg_"}


def item_id(block: Block) -> str:
    return ID_PREFIXES[block.kind] + block.ident


def output_item(block: Block, blocks: Blocks | None = None) -> dict:
    """One output item; its status is "incomplete" when the answer was cut inside it."""
    cut = blocks is not None and blocks.final is not None and blocks.final.finish_reason == "length"
    last = blocks is not None and blocks.blocks and blocks.blocks[-1] is block
    status = "in_progress" if not block.done else ("incomplete" if cut and last else "completed")
    if block.kind == REASONING:
        content = [{"type": "reasoning_text", "text": block.text}] if block.done else []
        return {
            "type": "reasoning",
            "id": item_id(block),
            "summary": [],
            "content": content,
            "status": status,
        }
    if block.kind == CALL:
        return {
            "type": "function_call",
            "id": item_id(block),
            "call_id": block.call_id,
            "name": block.name,
            "arguments": block.text if block.done else "",
            "status": status,
        }
    content = [text_part(block.text)] if block.done else []
    return {
        "type": "message",
        "id": item_id(block),
        "status": status,
        "role": "assistant",
        "content": content,
    }


def text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class Shape:
    """The response object of one request, at any point of its life."""

    def __init__(self, body: api.ResponseRequest, model: str):
        self.body, self.model = body, model
        self.ident, self.created = f"resp_{uuid.uuid4().hex}", int(time.time())

    def __call__(self, blocks: Blocks | None, error: dict | None = None) -> dict:
        body, final = self.body, blocks.final if blocks is not None else None
        status, incomplete = "in_progress", None
        if error is not None:
            status = "failed"
        elif final is not None and final.finish_reason == "length":
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        elif final is not None:
            status = "completed"
        form = body.text.format if body.text and body.text.format else None
        choice = body.tool_choice
        return {
            "id": self.ident,
            "object": "response",
            "created_at": self.created,
            "completed_at": int(time.time()) if status == "completed" else None,
            "status": status,
            "model": self.model,
            "output": [output_item(b, blocks) for b in blocks.blocks] if blocks else [],
            "error": error,
            "incomplete_details": incomplete,
            "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens,
            "temperature": body.temperature,
            "top_p": body.top_p,
            "tools": [t.model_dump(exclude_none=True) for t in body.tools or ()],
            "tool_choice": choice.model_dump()
            if isinstance(choice, api.NamedTool)
            else choice or "auto",
            "parallel_tool_calls": body.parallel_tool_calls is not False,
            "text": {
                "format": form.model_dump(by_alias=True, exclude_none=True)
                if form
                else {"type": "text"}
            },
            "reasoning": {
                "effort": body.reasoning.effort if body.reasoning else None,
                "summary": None,
            },
            "store": False,
            "previous_response_id": None,
            "metadata": body.metadata or {},
            "truncation": "disabled",
            "user": body.user,
            "usage": _usage(blocks) if blocks is not None and final is not None else None,
            "timings": timings_of(final) if final is not None else None,
        }


def _usage(blocks: Blocks) -> dict:
    assert blocks.final is not None and blocks.final.usage is not None
    counts = blocks.final.usage
    return {
        "input_tokens": counts.prompt_tokens,
        "input_tokens_details": {"cached_tokens": counts.cached_tokens},
        "output_tokens": counts.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": blocks.reasoning_tokens},
        "total_tokens": counts.prompt_tokens + counts.completion_tokens,
    }


def build_responses_router(
    settings: ServerSettings, manager: ModelManager, responses: dict
) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/responses", response_model=api.ResponseObject, responses=responses)
    async def create_response(body: api.ResponseRequest, request: Request):
        from mlxk.server.responses_stream import response_events
        from mlxk.server.routes import cancel_on_hang_up

        await manager.check_model(body.model)
        generation = GenerationRequest(
            body.model,
            response_messages(body),
            None,
            response_sampling(body),
            keep_alive=body.keep_alive,
        )
        hide = body.reasoning is not None and body.reasoning.effort == "none"
        job = await manager.start(generation)
        with cancel_on_hang_up(request, job):
            prepared = await first(job)
            shape = Shape(body, prepared.model)
            if body.stream:
                events = response_events(job, shape, hide, settings.keepalive_seconds)
                return streaming(events, job)
            blocks = await fold(job, hide)
        return shape(blocks)

    return router
