"""``POST /v1/messages`` and its ``count_tokens``: Anthropic's Messages API on the engine
Chat Completions uses.

Content blocks become chat messages (``tool_use`` blocks an assistant turn's tool calls,
``tool_result`` blocks tool messages, a ``thinking`` block that turn's reasoning); the
answer's blocks become ``thinking``, ``text`` and ``tool_use`` blocks.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from mlxk.engine.constraints import check_schema
from mlxk.engine.reasoning import REASONING
from mlxk.engine.request import SamplingRequest
from mlxk.errors import InvalidRequest, UnsupportedParameter
from mlxk.server import messages_schemas as api
from mlxk.server.blocks import CALL, Block, Blocks, fold
from mlxk.server.jobs import GenerationRequest
from mlxk.server.requests import tool_choice
from mlxk.server.sse import first, streaming, timings_of

if TYPE_CHECKING:
    from mlxk.server.manager import ModelManager
    from mlxk.server.settings import ServerSettings

STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use"}
# Anthropic's error types, by HTTP status (its API's own table)
ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}
CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _joined(blocks: str | list[api.TextBlock] | None) -> str:
    if blocks is None or isinstance(blocks, str):
        return blocks or ""
    return "".join(b.text for b in blocks)


def anthropic_error(status: int, message: str) -> dict:
    """An error in Anthropic's shape, its type from the HTTP status."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_messages(body: api.PromptFields) -> list[dict]:
    """The conversation as chat templates read it; tool results before the user's text."""
    system = _joined(body.system)
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    uses: dict[str, str] = {}  # tool_use id -> tool name
    for i, m in enumerate(body.messages):
        if isinstance(m.content, str):
            messages.append({"role": m.role, "content": m.content})
            continue
        turn: dict[str, Any] = {"role": m.role, "content": ""}
        results: list[dict] = []
        for j, block in enumerate(m.content):
            at = f"messages[{i}].content[{j}]"
            if isinstance(block, api.TextBlock):
                turn["content"] += block.text
            elif isinstance(block, api.ToolUseBlock) and m.role == "assistant":
                call = {"name": block.name, "arguments": block.input}
                turn.setdefault("tool_calls", []).append(
                    {"id": block.id, "type": "function", "function": call}
                )
                uses[block.id] = block.name
            elif isinstance(block, api.ToolResultBlock) and m.role == "user":
                results.append(_tool_result(block, uses, at))
            elif isinstance(block, api.ThinkingBlock) and m.role == "assistant":
                turn["reasoning_content"] = block.thinking
            elif isinstance(block, api.OtherBlock):
                raise UnsupportedParameter(
                    f"'{block.type}' blocks are not supported by mlxk (text models)", param=at
                )
            else:
                raise InvalidRequest(
                    f"a {m.role} message cannot hold {block.type} blocks", param=at
                )
        messages.extend(results)
        if turn["content"] or "tool_calls" in turn or not results:
            messages.append(turn)
    return messages


def _tool_result(block: api.ToolResultBlock, uses: dict[str, str], at: str) -> dict:
    if block.tool_use_id not in uses:
        raise InvalidRequest(
            f"tool_result answers no earlier tool_use ('{block.tool_use_id}')",
            param=f"{at}.tool_use_id",
        )
    text = _joined(block.content)
    return {
        "role": "tool",
        "tool_call_id": block.tool_use_id,
        "name": uses[block.tool_use_id],
        "content": f"Error: {text}" if block.is_error else text,
    }


def _tools(body: api.PromptFields) -> tuple[dict, ...]:
    tools = []
    for i, tool in enumerate(body.tools or ()):
        if tool.type not in (None, "custom"):
            raise UnsupportedParameter(
                f"'{tool.type}' tools run on Anthropic's servers: mlxk takes custom tools only",
                param=f"tools[{i}].type",
            )
        if tool.input_schema is None:
            raise InvalidRequest("a tool needs its input_schema", param=f"tools[{i}].input_schema")
        check_schema(tool.input_schema, f"tools[{i}].input_schema")
        function = {"name": tool.name, "parameters": tool.input_schema}
        if tool.description is not None:
            function["description"] = tool.description
        tools.append({"type": "function", "function": function})
    return tuple(tools)


def prompt_sampling(body: api.PromptFields, **limits: Any) -> SamplingRequest:
    """The settings that shape the prompt and the output: tools, thinking, format."""
    tools = _tools(body)
    choice = body.tool_choice
    if choice is not None and choice.type == "tool" and not choice.name:
        raise InvalidRequest("tool_choice of type tool needs a name", param="tool_choice.name")
    named = choice.name if choice is not None and choice.type == "tool" else None
    plain = CHOICES.get(choice.type) if choice is not None else None
    thinking = None if body.thinking is None else body.thinking.type != "disabled"
    config = body.output_config
    schema = config.format.json_schema if config and config.format else None
    if schema is not None:
        check_schema(schema, "output_config.format.schema")
    return SamplingRequest(
        json_schema=schema,
        tools=tools,
        tool_choice=tool_choice(tools, plain, named),
        parallel_tool_calls=not (choice is not None and choice.disable_parallel_tool_use),
        thinking=thinking,
        reasoning_effort=config.effort if config else None,
        effort_param="output_config.effort",
        **limits,
    )


def message_sampling(body: api.MessageRequest) -> SamplingRequest:
    thinking = body.thinking
    if thinking is not None and thinking.type == "enabled":
        if thinking.budget_tokens is None:
            raise InvalidRequest("thinking needs budget_tokens", param="thinking.budget_tokens")
        if thinking.budget_tokens >= body.max_tokens:
            raise InvalidRequest(
                "thinking.budget_tokens must be less than max_tokens",
                param="thinking.budget_tokens",
            )
    return prompt_sampling(
        body,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(body.stop_sequences or ()),
    )


def hides_thinking(body: api.PromptFields) -> bool:
    """Thinking turned off, or asked to be left out: no thinking blocks in the answer."""
    thinking = body.thinking
    return thinking is not None and (thinking.type == "disabled" or thinking.display == "omitted")


def content_block(block: Block, whole: bool = True) -> dict:
    """A content block; ``whole=False``: as a stream opens it, before its deltas."""
    if block.kind == REASONING:
        return {"type": "thinking", "thinking": block.text if whole else "", "signature": ""}
    if block.kind == CALL:
        return {
            "type": "tool_use",
            "id": block.call_id,
            "name": block.name,
            "input": tool_input(block.text) if whole else {},
        }
    return {"type": "text", "text": block.text if whole else ""}


def tool_input(arguments: str) -> dict:
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        value = arguments
    return value if isinstance(value, dict) else {"arguments": value}


def stop_of(blocks: Blocks) -> tuple[str, str | None]:
    """Anthropic's stop_reason and stop_sequence."""
    final = blocks.final
    assert final is not None and final.finish_reason is not None
    if final.stop_sequence is not None and final.finish_reason == "stop":
        return "stop_sequence", final.stop_sequence
    return STOP_REASONS.get(final.finish_reason, "end_turn"), None


def usage_of(blocks: Blocks) -> dict:
    """Anthropic's usage: input tokens read from the prompt cache are counted apart."""
    assert blocks.final is not None and blocks.final.usage is not None
    counts = blocks.final.usage
    return {
        "input_tokens": counts.prompt_tokens - counts.cached_tokens,
        "output_tokens": counts.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": counts.cached_tokens,
    }


def message_object(ident: str, model: str, blocks: Blocks) -> dict:
    stop_reason, stop_sequence = stop_of(blocks)
    assert blocks.final is not None
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [content_block(b) for b in blocks.blocks],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_of(blocks),
        "timings": timings_of(blocks.final),
    }


def build_messages_router(
    settings: ServerSettings, manager: ModelManager, responses: dict
) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/messages", response_model=api.MessageResponse, responses=responses)
    async def create_message(body: api.MessageRequest, request: Request):
        from mlxk.server.messages_stream import message_events
        from mlxk.server.routes import cancel_on_hang_up

        await manager.check_model(body.model)
        messages, sampling = anthropic_messages(body), message_sampling(body)
        generation = GenerationRequest(
            body.model, messages, None, sampling, keep_alive=body.keep_alive
        )
        job = await manager.start(generation)
        hide = hides_thinking(body)
        with cancel_on_hang_up(request, job):
            prepared = await first(job)
            ident = f"msg_{uuid.uuid4().hex}"
            if body.stream:
                events = message_events(job, ident, prepared, hide, settings.keepalive_seconds)
                return streaming(events, job)
            blocks = await fold(job, hide)
        return message_object(ident, prepared.model, blocks)

    @router.post("/v1/messages/count_tokens", response_model=api.TokenCount, responses=responses)
    async def count_tokens(body: api.CountTokensRequest):
        await manager.check_model(body.model)
        generation = GenerationRequest(
            body.model, anthropic_messages(body), None, prompt_sampling(body), count_only=True
        )
        prepared = await first(await manager.start(generation))
        return {"input_tokens": prepared.prompt_tokens}

    return router
