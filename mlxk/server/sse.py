"""Answers as OpenAI shapes them: Server-Sent Events of chunks, or one folded answer.

A job's typed events (``mlxk.server.jobs``) become SSE ``data:`` lines in the OpenAI
chunk shapes (role first, deltas, a finish chunk with timings, an optional usage chunk,
``[DONE]``), with keep-alive comments while a prompt is prefilled; or they are folded into
one answer. A failure midway ends a stream with an error event and ``[DONE]``.
"""

from __future__ import annotations

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
        "weights": t.weights,
        "collective_seconds": t.collective_s,
    }


def usage_of(*counts: Usage | None) -> dict:
    """A response's usage, from each choice's: the prompt once, every choice's tokens."""
    assert counts and all(c is not None for c in counts), "only a last chunk has usage"
    first = counts[0]
    assert first is not None
    completion = sum(c.completion_tokens for c in counts if c is not None)
    return {
        "prompt_tokens": first.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": first.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": first.cached_tokens},
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


async def collect(job: Job, n: int = 1) -> list[Folded]:
    """Fold a job's pieces into one answer per choice."""
    texts: list[dict[str, list[str]]] = [{"answer": [], REASONING: []} for _ in range(n)]
    calls: list[list[ToolCall]] = [[] for _ in range(n)]
    logprobs: list[list[TokenLogprob]] = [[] for _ in range(n)]
    finals: list[Chunk | None] = [None] * n
    while True:
        event = await job.next()
        if isinstance(event, Ended):
            if None in finals:  # cancelled: its client left, or the server is stopping
                raise Interrupted("the generation ended before its answer was complete")
            break
        if isinstance(event, Failed):
            raise event.error
        assert isinstance(event, Piece), event
        chunk, i = event.chunk, event.index
        texts[i][chunk.channel].append(chunk.text)
        calls[i] += chunk.tool_calls
        logprobs[i] += chunk.logprobs
        if chunk.finish_reason is not None:
            finals[i] = chunk
    folded = []
    for i, final in enumerate(finals):
        assert final is not None, "a job that ended without error has a last chunk"
        reasoning = "".join(texts[i][REASONING]) or None
        folded.append(Folded("".join(texts[i]["answer"]), reasoning, final, calls[i], logprobs[i]))
    return folded


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


class Stream:
    """The shared shape of both SSE streams: each choice's deltas as they come, then each
    one's finish, the usage and ``[DONE]``."""

    def __init__(
        self,
        job: Job,
        ident: str,
        object_name: str,
        created: int,
        model: str,
        include_usage: bool,
        keepalive: float,
        n: int = 1,
    ):
        self.job, self.ident, self.object, self.created = job, ident, object_name, created
        self.model, self.include_usage, self.keepalive = model, include_usage, keepalive
        self.n = n

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

    async def run(self, body: Callable, choice: Callable) -> AsyncIterator[str]:
        """``body(chunk, index)`` yields the payloads of a choice's chunk;
        ``choice(payload, finish, index)`` wraps one in a choice."""
        finals: list[Chunk | None] = [None] * self.n
        try:
            ready: list[str] = []  # events of chunks that arrived together: one write
            async for item in self.job.pieces(self.keepalive):
                if item is None:
                    yield ": keep-alive\n\n"
                    continue
                chunk, index = item.chunk, item.index
                if chunk.finish_reason is not None:
                    finals[index] = chunk
                ready.extend(self.event(choice(p, None, index)) for p in body(chunk, index))
                if ready and self.job.queue.empty():
                    yield "".join(ready)
                    ready.clear()
            if ready:
                yield "".join(ready)
        except MlxkError as error:
            yield _error_event(error)
            yield "data: [DONE]\n\n"
            return
        for index, final in enumerate(finals):
            reason = final.finish_reason if final else "stop"
            timings = timings_of(final) if final and index == self.n - 1 else None
            yield self.event(choice(None, reason, index), timings=timings)
        if self.include_usage and None not in finals:
            yield self.event(None, usage=usage_of(*(f.usage for f in finals if f)))
        yield "data: [DONE]\n\n"


async def chat_events(stream: Stream, mode: str, logprobs: bool = False) -> AsyncIterator[str]:
    """A chat completion's chunks: reasoning as ``mode`` says, tool calls name first."""
    sections: dict[int, str | None] = {}

    def body(item: Any, index: int):
        scored = [chat_logprob(e) for e in item.logprobs] if logprobs else []
        if item.text and not (item.channel == REASONING and mode == "hidden"):
            if item.channel == REASONING and mode != "inline":
                yield {"reasoning": item.text, "reasoning_content": item.text}, scored
            else:
                section, prefix = sections.get(index), ""
                if mode == "inline" and item.channel != section:
                    prefix = (
                        REASONING_HEADER
                        if item.channel == REASONING
                        else (ANSWER_AFTER_REASONING if section == REASONING else "")
                    )
                sections[index] = item.channel
                yield {"content": prefix + item.text}, scored
            scored = []
        for part in item.tool_call_parts:  # each call's name first, then its arguments
            if part.id is not None:
                head = {"index": part.index, "id": part.id, "type": "function"}
                head["function"] = {"name": part.name, "arguments": ""}
                yield {"tool_calls": [head]}, []
            elif part.arguments:
                piece = {"index": part.index, "function": {"arguments": part.arguments}}
                yield {"tool_calls": [piece]}, []
        if scored:
            yield {}, scored

    def choice(part: tuple | None, finish: str | None, index: int):
        delta, scored = part if part is not None else ({}, [])
        return {
            "index": index,
            "delta": delta,
            "finish_reason": finish,
            "logprobs": {"content": scored} if scored else None,
        }

    for index in range(stream.n):
        yield stream.event(choice(({"role": "assistant", "content": ""}, []), None, index))
    async for event in stream.run(body, choice):
        yield event


async def completion_events(stream: Stream, logprobs: bool = False) -> AsyncIterator[str]:
    """A text completion's chunks (with the legacy logprobs shape when asked)."""
    offsets: dict[int, int] = {}

    def body(item: Any, index: int):
        if item.text or (logprobs and item.logprobs):
            offset = offsets.get(index, 0)
            scored = completion_logprobs(list(item.logprobs), offset) if logprobs else None
            offsets[index] = offset + sum(len(e.token) for e in item.logprobs)
            yield item.text, scored

    def choice(part: tuple | None, finish: str | None, index: int):
        text, scored = part if part is not None else ("", None)
        return {"index": index, "text": text, "finish_reason": finish, "logprobs": scored}

    async for event in stream.run(body, choice):
        yield event
