"""A streamed Responses answer: OpenAI's semantic events, in their documented order.

``response.created`` and ``response.in_progress``; for each output item
``response.output_item.added``, its content part's ``added``, the deltas
(``response.reasoning_text.delta``, ``response.output_text.delta`` or
``response.function_call_arguments.delta``), their ``done`` events and
``response.output_item.done``; then ``response.completed`` (``response.incomplete`` when
cut by ``max_output_tokens``). A failure midway sends ``error`` then ``response.failed``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mlxk.engine.reasoning import REASONING
from mlxk.errors import MlxkError
from mlxk.server.blocks import CALL, Block, BlockEvent, Blocks, Closed, Delta, Opened, pieces
from mlxk.server.responses import item_id, output_item, text_part

if TYPE_CHECKING:
    from mlxk.server.jobs import Job
    from mlxk.server.responses import Shape


class Events:
    """Numbered SSE events of one response."""

    def __init__(self):
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> str:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n"


def _part(block: Block, text: str) -> dict:
    if block.kind == REASONING:
        return {"type": "reasoning_text", "text": text}
    return text_part(text)


def _block_events(event: Events, item: BlockEvent, blocks: Blocks) -> str:
    block = item.block
    where = {"item_id": item_id(block), "output_index": block.index}
    if isinstance(item, Opened):
        out = event("response.output_item.added", output_index=block.index, item=output_item(block))
        if block.kind != CALL:
            out += event(
                "response.content_part.added", **where, content_index=0, part=_part(block, "")
            )
        return out
    if isinstance(item, Delta):
        if block.kind == CALL:
            return event("response.function_call_arguments.delta", **where, delta=item.text)
        if block.kind == REASONING:
            return event("response.reasoning_text.delta", **where, content_index=0, delta=item.text)
        return event(
            "response.output_text.delta", **where, content_index=0, delta=item.text, logprobs=[]
        )
    assert isinstance(item, Closed)
    if block.kind == CALL:
        out = event(
            "response.function_call_arguments.done", **where, name=block.name, arguments=block.text
        )
    else:
        done = (
            "response.reasoning_text.done"
            if block.kind == REASONING
            else "response.output_text.done"
        )
        extra: dict = {} if block.kind == REASONING else {"logprobs": []}
        out = event(done, **where, content_index=0, text=block.text, **extra)
        part = _part(block, block.text)
        out += event("response.content_part.done", **where, content_index=0, part=part)
    final = output_item(block, blocks)
    return out + event("response.output_item.done", output_index=block.index, item=final)


async def response_events(
    job: Job, shape: Shape, hide_reasoning: bool, keepalive: float
) -> AsyncIterator[str]:
    event, blocks = Events(), Blocks(hide_reasoning)
    yield event("response.created", response=shape(None))
    yield event("response.in_progress", response=shape(None))
    try:
        async for chunk in pieces(job, keepalive):
            if chunk is None:
                yield ": keep-alive\n\n"
                continue
            out = "".join(_block_events(event, e, blocks) for e in blocks.feed(chunk))
            if out:
                yield out
        yield "".join(_block_events(event, e, blocks) for e in blocks.finish())
    except MlxkError as error:
        failure = {"code": error.code, "message": error.message}
        yield event("error", code=error.code, message=error.message, param=error.param)
        yield event("response.failed", response=shape(blocks, failure))
        return
    response = shape(blocks)
    kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    yield event(kind, response=response)
