"""A request's life between a route and the model worker, as typed events.

A job reports through an asyncio queue read on the event loop: first :class:`Ready` or
:class:`Refused`, then :class:`Piece` items, then :class:`Ended` (or :class:`Failed`
midway). The route can therefore answer a bad request with a 4xx before it commits to
a 200 stream.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlxk.errors import MlxkError

if TYPE_CHECKING:
    from mlxk.cache.info import ModelInfo
    from mlxk.engine.request import SamplingRequest


@dataclass(frozen=True)
class GenerationRequest:
    """What a route asks of the model worker: a model, chat messages or a raw prompt."""

    model: str
    messages: list[dict] | None
    prompt: str | None
    sampling: SamplingRequest
    default_fraction: float = 0.5  # of the context, when the request sets no max_tokens
    n: int = 1  # choices: sequences sharing the prompt, decoded side by side
    count_only: bool = False  # only count the prompt's tokens (Messages' count_tokens)
    keep_alive: float | None = None  # seconds the model stays loaded after (inf: always)


@dataclass(frozen=True)
class Prepared:
    """What the worker settled for a request it admitted."""

    model: str
    prompt_tokens: int
    max_tokens: int


@dataclass(frozen=True)
class Ready:
    prepared: Prepared | None  # None for a load-only job


@dataclass(frozen=True)
class Refused:
    """The request never started (bad input, no such model, no memory…)."""

    error: MlxkError


@dataclass(frozen=True)
class Piece:
    """One chunk of generated text (``mlxk.engine.generate.Chunk``) of choice ``index``."""

    chunk: Any
    index: int = 0


@dataclass(frozen=True)
class Failed:
    """Generation failed midway; nothing more follows."""

    error: MlxkError


@dataclass(frozen=True)
class Ended:
    """The job is over: finished, or cancelled because its client left."""


END = Ended()
Event = Ready | Refused | Piece | Failed | Ended


@dataclass
class Pending:
    """A job on the worker's side: its request, where its events go, whether it is wanted."""

    request: Any  # GenerationRequest, or server.embedder.EmbedRequest
    loop: asyncio.AbstractEventLoop  # the job's queue is read there
    queue: asyncio.Queue
    cancelled: threading.Event
    info: ModelInfo | None = None
    load_only: bool = False
    prepared: tuple | None = field(default=None)  # (loaded model, prompt) made off the worker
    running: dict[int, int] = field(default_factory=dict)  # batch uid -> choice index

    def emit(self, *events: Event) -> None:
        self.loop.call_soon_threadsafe(_put_all, self.queue, events)


@dataclass
class RequestQueue:
    """What the event loop and the worker thread share, guarded by ``cv``: the queued
    jobs, when the last one arrived, and whether the server is stopping or aborting."""

    cv: threading.Condition = field(default_factory=threading.Condition)
    pending: deque[Pending] = field(default_factory=deque)
    last_arrival: float = 0.0
    stopping: bool = False
    aborting: str | None = None  # why every request is to end now (shutdown)


def _put_all(queue: asyncio.Queue, events: Sequence[Event]) -> None:
    for event in events:
        queue.put_nowait(event)


def deliver(delivery: list[tuple[asyncio.Queue, list[Event]]]) -> None:
    """On the event loop: a step's events, into each job's queue (one wake-up per step)."""
    for queue, events in delivery:
        _put_all(queue, events)


class Job:
    """The route's handle on a request: read its events, or cancel it."""

    def __init__(self, queue: asyncio.Queue, cancelled: threading.Event):
        self.queue = queue
        self.cancelled = cancelled

    async def next(self, timeout: float | None = None) -> Event:
        """The next event; with ``timeout``, raise ``TimeoutError`` if none came by then."""
        if not self.queue.empty():  # the common case while decoding: no timer needed
            return self.queue.get_nowait()
        if timeout is None:
            return await self.queue.get()
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def pieces(self, keepalive: float | None = None) -> AsyncIterator[Piece | None]:
        """The job's pieces as they come, or None when none came for ``keepalive`` seconds
        (a stream sends a keep-alive then); raises what failed it midway."""
        while True:
            try:
                event = await self.next(timeout=keepalive)
            except asyncio.TimeoutError:
                yield None
                continue
            if isinstance(event, Ended):
                return
            if isinstance(event, Failed):
                raise event.error
            if isinstance(event, Piece):
                yield event

    def cancel(self) -> None:
        self.cancelled.set()
