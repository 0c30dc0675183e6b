"""One choice's chunks as a sequence of blocks: reasoning, text and tool calls, in order.

The Responses and Messages APIs answer in blocks (output items, content blocks) where
Chat Completions has one message. Both fold a job's chunks through :class:`Blocks`,
streamed or not, so a reassembled stream is the unstreamed answer by construction: each
chunk gives open, delta and close events, and the blocks they built are the answer.

White space alone between two blocks (the line breaks after ``</think>`` or before a
call) opens no text block; an answer with no text and no call is one empty text block.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlxk.engine.reasoning import REASONING
from mlxk.errors import Interrupted
from mlxk.server.jobs import Job

if TYPE_CHECKING:
    from mlxk.engine.generate import Chunk

TEXT, CALL = "text", "call"


@dataclass
class Block:
    kind: str  # REASONING | TEXT | CALL
    index: int  # its place in the answer
    text: str = ""  # the reasoning or answer text; a call's arguments
    call_id: str = ""
    name: str = ""
    done: bool = False
    ident: str = field(default_factory=lambda: uuid.uuid4().hex)  # for the dialect's ids


@dataclass(frozen=True)
class Opened:
    block: Block


@dataclass(frozen=True)
class Delta:
    block: Block
    text: str


@dataclass(frozen=True)
class Closed:
    block: Block


BlockEvent = Opened | Delta | Closed


class Blocks:
    """Chunks in, block events out; ``blocks`` is the answer so far."""

    def __init__(self, hide_reasoning: bool = False):
        self.blocks: list[Block] = []
        self.final: Chunk | None = None  # the last chunk: finish reason, usage, timings
        self.reasoning_tokens = 0
        self._hide = hide_reasoning
        self._held = ""  # answer text that is only white space so far
        self._calls: dict[int, Block] = {}  # a streamed call's index -> its block

    @property
    def current(self) -> Block | None:
        return self.blocks[-1] if self.blocks and not self.blocks[-1].done else None

    def feed(self, chunk: Chunk) -> list[BlockEvent]:
        events: list[BlockEvent] = []
        if chunk.text and chunk.channel == REASONING:
            self.reasoning_tokens += len(chunk.token_ids)
            if not self._hide:
                events += self._write(REASONING, chunk.text)
        elif chunk.text:
            events += self._answer(chunk.text)
        for part in chunk.tool_call_parts:
            if part.id is not None:
                self._held = ""  # the white space before a call is no text of its own
                block = Block(CALL, len(self.blocks), call_id=part.id, name=part.name or "")
                self._calls[part.index] = block
                events += self._open(block)
            block = self._calls[part.index]
            if part.arguments:
                block.text += part.arguments
                events.append(Delta(block, part.arguments))
        if chunk.finish_reason is not None:
            self.final = chunk
        return events

    def finish(self) -> list[BlockEvent]:
        """Close the last block; an answer with no text and no call gets an empty one.

        Raises:
            Interrupted: the job ended with no last chunk (its client left, or the server
                is stopping).
        """
        if self.final is None:
            raise Interrupted("the generation ended before its answer was complete")
        events: list[BlockEvent] = []
        if not any(b.kind in (TEXT, CALL) for b in self.blocks):
            events += self._open(Block(TEXT, len(self.blocks)))
            if self._held:
                events += self._write(TEXT, self._held)
        return events + self._close()

    def _answer(self, text: str) -> list[BlockEvent]:
        current = self.current
        if current is not None and current.kind == TEXT:
            return self._write(TEXT, text)
        self._held += text
        if not self._held.strip():
            return []
        text, self._held = self._held, ""
        return self._write(TEXT, text)

    def _write(self, kind: str, text: str) -> list[BlockEvent]:
        events: list[BlockEvent] = []
        block = self.current
        if block is None or block.kind != kind:
            block = Block(kind, len(self.blocks))
            events += self._open(block)
        block.text += text
        events.append(Delta(block, text))
        return events

    def _open(self, block: Block) -> list[BlockEvent]:
        events = self._close()
        self.blocks.append(block)
        return [*events, Opened(block)]

    def _close(self) -> list[BlockEvent]:
        block = self.current
        if block is None:
            return []
        block.done = True
        return [Closed(block)]


async def pieces(job: Job, keepalive: float | None = None) -> AsyncIterator[Chunk | None]:
    """A job's chunks as they come (None: a keep-alive is due; see ``Job.pieces``)."""
    async for piece in job.pieces(keepalive):
        yield None if piece is None else piece.chunk


async def fold(job: Job, hide_reasoning: bool = False) -> Blocks:
    """A whole answer's blocks."""
    blocks = Blocks(hide_reasoning)
    async for chunk in pieces(job):
        assert chunk is not None
        blocks.feed(chunk)
    blocks.finish()
    return blocks
