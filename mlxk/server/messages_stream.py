"""A streamed Messages answer: Anthropic's event sequence.

``message_start`` (the message with no content yet, and the prompt's token count),
``ping``; for each block ``content_block_start``, its ``content_block_delta`` events
(``thinking_delta``, ``text_delta`` or ``input_json_delta``) and ``content_block_stop``;
then ``message_delta`` with the stop reason and usage, and ``message_stop``. A failure
midway sends an ``error`` event and ends the stream; pings keep it open while a long
prompt is prefilled.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mlxk.engine.reasoning import REASONING
from mlxk.errors import MlxkError
from mlxk.server.blocks import CALL, BlockEvent, Blocks, Closed, Delta, Opened, pieces
from mlxk.server.messages import anthropic_error, content_block, stop_of, usage_of

if TYPE_CHECKING:
    from mlxk.server.jobs import Job, Prepared


def event(kind: str, **fields: Any) -> str:
    data = json.dumps({"type": kind, **fields}, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n"


def _block_event(item: BlockEvent) -> str:
    block = item.block
    if isinstance(item, Opened):
        opened = content_block(block, whole=False)
        return event("content_block_start", index=block.index, content_block=opened)
    if isinstance(item, Delta):
        if block.kind == CALL:
            delta = {"type": "input_json_delta", "partial_json": item.text}
        elif block.kind == REASONING:
            delta = {"type": "thinking_delta", "thinking": item.text}
        else:
            delta = {"type": "text_delta", "text": item.text}
        return event("content_block_delta", index=block.index, delta=delta)
    assert isinstance(item, Closed)
    return event("content_block_stop", index=block.index)


async def message_events(
    job: Job, ident: str, prepared: Prepared, hide_thinking: bool, keepalive: float
) -> AsyncIterator[str]:
    blocks = Blocks(hide_thinking)
    start: dict[str, Any] = {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": prepared.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prepared.prompt_tokens,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    yield event("message_start", message=start) + event("ping")
    try:
        async for chunk in pieces(job, keepalive):
            if chunk is None:
                yield event("ping")
                continue
            out = "".join(_block_event(e) for e in blocks.feed(chunk))
            if out:
                yield out
        yield "".join(_block_event(e) for e in blocks.finish())
    except MlxkError as error:
        yield event("error", error=anthropic_error(error.kind.http_status, error.message)["error"])
        return
    stop_reason, stop_sequence = stop_of(blocks)
    delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    yield event("message_delta", delta=delta, usage=usage_of(blocks)) + event("message_stop")
