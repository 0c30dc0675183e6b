"""Answers as OpenAI shapes them: Server-Sent Events of chunks, or one folded answer.

A job's typed events (``mlxk.server.jobs``) become SSE ``data:`` lines in the OpenAI
chunk shapes (role first, deltas, a finish chunk with timings, an optional usage chunk,
``[DONE]``), with keep-alive comments while a prompt is prefilled; or they are folded into
one answer. A failure midway ends a stream with an error event and ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi.responses import StreamingResponse

from mlxk.engine.reasoning import ANSWER_AFTER_REASONING, REASONING, REASONING_HEADER
from mlxk.errors import Interrupted, MlxkError
from mlxk.server.jobs import Ended, Failed, Job, Piece, Prepared, Ready, Refused

if TYPE_CHECKING:
    from mlxk.engine.generate import Chunk, TokenLogprob, Usage
    from mlxk.engine.tools import ToolCall


def timings_of(chunk: Chunk) -> dict:
    """mlxk's ``timings`` extension of a response, from its last chunk."""
    t, counts = chunk.timings, chunk.usage
    assert t is not None and counts is not None, "only a last chunk has timings"
    return {
        "prefill_tokens_per_s": round(t.prefill_tokens_per_s, 2),
        "decode_tokens_per_s": round(t.decode_tokens_per_s, 2),
        "time_to_first_token_s": round(t.time_to_first_token_s, 4),
        "cached_tokens": counts.cached_tokens,
        "peak_memory_bytes": t.peak_memory_bytes,
    }


def usage_of(counts: Usage | None) -> dict:
    assert counts is not None, "only a last chunk has usage"
    return {
        "prompt_tokens": counts.prompt_tokens,
        "completion_tokens": counts.completion_tokens,
        "total_tokens": counts.total_tokens,
        "prompt_tokens_details": {"cached_tokens": counts.cached_tokens},
    }


async def first(job: Job) -> Prepared:
    """Wait until the worker admitted the job; raise why it did not."""
    event = await job.next()
    if isinstance(event, Ended):  # cancelled before it started: its client left
        raise Interrupted("the client disconnected")
    if isinstance(event, Refused):
        raise event.error
    assert isinstance(event, Ready) and event.prepared is not None, event
    return event.prepared


@dataclass
class Folded:
    """A whole answer: its text, reasoning, calls, log-probabilities and last chunk."""

    answer: str
    reasoning: str | None
    final: Chunk
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)


def tool_call_of(call: ToolCall, index: int | None = None) -> dict:
    """A call in OpenAI's shape (with ``index`` in a streamed delta)."""
    shaped: dict = {"id": call.id, "type": "function"}
    shaped["function"] = {"name": call.name, "arguments": call.arguments}
    return shaped if index is None else {"index": index, **shaped}


def _bytes(text: str) -> list[int]:
    return list(text.encode("utf-8", "replace"))


def chat_logprob(entry: TokenLogprob) -> dict:
    """One token's entry of a chat choice's ``logprobs.content``."""
    return {
        "token": entry.token,
        "logprob": entry.logprob,
        "bytes": _bytes(entry.token),
        "top_logprobs": [{"token": t, "logprob": lp, "bytes": _bytes(t)} for t, lp in entry.top],
    }


def completion_logprobs(entries: list[TokenLogprob], offset: int = 0) -> dict:
    """A completion choice's ``logprobs`` (the legacy shape: parallel lists)."""
    offsets, at = [], offset
    for entry in entries:
        offsets.append(at)
        at += len(entry.token)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [dict(e.top) for e in entries],
        "text_offset": offsets,
    }


async def collect(job: Job) -> Folded:
    """Fold a job's pieces into one answer."""
    texts: dict[str, list[str]] = {"answer": [], REASONING: []}
    calls: list[ToolCall] = []
    logprobs: list[TokenLogprob] = []
    final = None
    while True:
        event = await job.next()
        if isinstance(event, Ended):
            if final is None:  # cancelled: its client left, or the server is stopping
                raise Interrupted("the generation ended before its answer was complete")
            break
        if isinstance(event, Failed):
            raise event.error
        assert isinstance(event, Piece), event
        chunk = event.chunk
        texts[chunk.channel].append(chunk.text)
        calls += chunk.tool_calls
        logprobs += chunk.logprobs
        if chunk.finish_reason is not None:
            final = chunk
    assert final is not None, "a job that ended without error has a last chunk"
    reasoning = "".join(texts[REASONING]) or None
    return Folded("".join(texts["answer"]), reasoning, final, calls, logprobs)


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _error_event(error: MlxkError) -> str:
    body = {
        "message": error.message,
        "type": error.kind.openai_type,
        "param": None,
        "code": error.code,
    }
    return _sse({"error": body})


def streaming(events: AsyncIterator[str], job: Job) -> StreamingResponse:
    async def guarded():
        try:
            async for event in events:
                yield event
        finally:
            job.cancel()  # the client went away, or we are done: stop generating

    return StreamingResponse(
        guarded(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _chunks(job: Job, keepalive: float):
    """Yield chunks, or None when nothing came for ``keepalive`` seconds (prefill)."""
    while True:
        try:
            event = await job.next(timeout=keepalive)
        except asyncio.TimeoutError:
            yield None
            continue
        if isinstance(event, Ended):
            return
        if isinstance(event, Failed):
            raise event.error
        if isinstance(event, Piece):
            yield event.chunk


class _Stream:
    """The shared shape of both SSE streams: one choice, then finish, usage and [DONE]."""

    def __init__(
        self,
        job: Job,
        ident: str,
        object_name: str,
        created: int,
        model: str,
        include_usage: bool,
        keepalive: float,
    ):
        self.job, self.ident, self.object, self.created = job, ident, object_name, created
        self.model, self.include_usage, self.keepalive = model, include_usage, keepalive

    def event(
        self, choice: dict | None, usage: dict | None = None, timings: dict | None = None
    ) -> str:
        payload = {
            "id": self.ident,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [choice] if choice is not None else [],
        }
        if usage is not None:
            payload["usage"] = usage
        if timings is not None:
            payload["timings"] = timings
        return _sse(payload)

    async def run(self, body: Callable, choice: Any):
        """``body(item)`` yields the choice payloads of one chunk; ``choice`` wraps them."""
        final = None
        try:
            ready: list[str] = []  # events of chunks that arrived together: one write
            async for item in _chunks(self.job, self.keepalive):
                if item is None:
                    yield ": keep-alive\n\n"
                    continue
                if item.finish_reason is not None:
                    final = item
                ready.extend(self.event(choice(part, None)) for part in body(item))
                if ready and self.job.queue.empty():
                    yield "".join(ready)
                    ready.clear()
            if ready:
                yield "".join(ready)
        except MlxkError as error:
            yield _error_event(error)
            yield "data: [DONE]\n\n"
            return
        reason = final.finish_reason if final else "stop"
        yield self.event(choice(None, reason), timings=timings_of(final) if final else None)
        if self.include_usage and final is not None:
            yield self.event(None, usage=usage_of(final.usage))
        yield "data: [DONE]\n\n"


async def chat_events(
    job: Job,
    model: Any,
    ident: str,
    created: int,
    mode: str,
    include_usage: bool,
    keepalive: float,
    logprobs: bool = False,
) -> AsyncIterator[str]:
    stream = _Stream(job, ident, "chat.completion.chunk", created, model, include_usage, keepalive)
    section = None
    calls = 0

    def body(item: Any):
        nonlocal section, calls
        scored = [chat_logprob(e) for e in item.logprobs] if logprobs else []
        if item.text and not (item.channel == REASONING and mode == "hidden"):
            if item.channel == REASONING and mode != "inline":
                yield {"reasoning": item.text, "reasoning_content": item.text}, scored
            else:
                prefix = ""
                if mode == "inline" and item.channel != section:
                    prefix = (
                        REASONING_HEADER
                        if item.channel == REASONING
                        else (ANSWER_AFTER_REASONING if section == REASONING else "")
                    )
                section = item.channel
                yield {"content": prefix + item.text}, scored
            scored = []
        for call in item.tool_calls:  # its name first, then its arguments
            head = tool_call_of(call, calls)
            head["function"] = {"name": call.name, "arguments": ""}
            yield {"tool_calls": [head]}, []
            yield {"tool_calls": [{"index": calls, "function": {"arguments": call.arguments}}]}, []
            calls += 1
        if scored:
            yield {}, scored

    def choice(part: tuple | None, finish: str | None):
        delta, scored = part if part is not None else ({}, [])
        return {
            "index": 0,
            "delta": delta,
            "finish_reason": finish,
            "logprobs": {"content": scored} if scored else None,
        }

    yield stream.event(choice(({"role": "assistant", "content": ""}, []), None))
    async for event in stream.run(body, choice):
        yield event


async def completion_events(
    job: Job,
    model: Any,
    ident: str,
    created: int,
    include_usage: bool,
    keepalive: float,
    logprobs: bool = False,
) -> AsyncIterator[str]:
    stream = _Stream(job, ident, "text_completion", created, model, include_usage, keepalive)
    offset = 0

    def body(item: Any):
        nonlocal offset
        if item.text or (logprobs and item.logprobs):
            scored = completion_logprobs(list(item.logprobs), offset) if logprobs else None
            offset += sum(len(e.token) for e in item.logprobs)
            yield item.text, scored

    def choice(part: tuple | None, finish: str | None):
        text, scored = part if part is not None else ("", None)
        return {"index": 0, "text": text, "finish_reason": finish, "logprobs": scored}

    async for event in stream.run(body, choice):
        yield event
