"""The Responses and Messages streams when generation fails midway or a prompt is slow.

A real model cannot fail on cue, so the job's events are written here (the one fake):
real chunks, then the error the worker sends when the server stops or runs out of
memory. Everything else about both streams runs over HTTP in features/server.
"""

from __future__ import annotations

import asyncio
import json
import threading

from mlxk.engine.generate import Chunk, Timings, Usage
from mlxk.errors import InsufficientMemory
from mlxk.server.jobs import END, Failed, Job, Piece, Prepared
from mlxk.server.messages_stream import message_events
from mlxk.server.responses import Shape
from mlxk.server.responses_schemas import ResponseRequest
from mlxk.server.responses_stream import response_events

FINAL = Chunk(
    finish_reason="stop",
    usage=Usage(3, 2, 0),
    timings=Timings(0.1, 30.0, 20.0, 1000),
)


def _run(make_stream, events, delay=0.0) -> list[tuple[str, dict]]:
    """The (event name, data) of a stream over a job with these events, which arrive
    after ``delay`` seconds (``: comment`` lines come back as ("comment", {}))."""

    async def main():
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: [queue.put_nowait(e) for e in events])
        return [text async for text in make_stream(Job(queue, threading.Event()))]

    parsed = []
    for block in "".join(asyncio.run(main())).split("\n\n"):
        if block.startswith(":"):
            parsed.append(("comment", {}))
        elif block:
            name, data = block.split("\n")
            parsed.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return parsed


def _responses(job):
    body = ResponseRequest.model_validate({"model": "org/model", "input": "Hi"})
    return response_events(job, Shape(body, "org/model"), False, keepalive=0.1)


def _messages(job):
    return message_events(job, "msg_1", Prepared("org/model", 3, 10), False, keepalive=0.1)


FAILURE = [Piece(Chunk(text="Hel")), Failed(InsufficientMemory("out of memory midway"))]


def test_a_response_that_fails_midway_ends_with_error_then_failed():
    events = _run(_responses, FAILURE)
    names = [name for name, _ in events]
    assert names[-2:] == ["error", "response.failed"], names
    assert "response.output_text.delta" in names and "response.completed" not in names
    assert events[-2][1]["message"] == "out of memory midway"
    failed = events[-1][1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "insufficient_memory"
    assert [e[1]["sequence_number"] for e in events] == list(range(len(events)))


def test_a_message_that_fails_midway_ends_with_an_anthropic_error_event():
    events = _run(_messages, FAILURE)
    names = [name for name, _ in events]
    assert names[-1] == "error" and "message_stop" not in names, names
    assert events[-1][1]["error"] == {"type": "overloaded_error", "message": "out of memory midway"}


def test_both_streams_keep_a_slow_prompt_open_then_answer():
    answer = [Piece(Chunk(text="Hello", token_ids=(1,))), Piece(FINAL), END]
    responses = _run(_responses, answer, delay=0.35)
    assert ("comment", {}) in responses and responses[-1][0] == "response.completed"
    messages = _run(_messages, answer, delay=0.35)
    names = [name for name, _ in messages]
    assert names.count("ping") >= 3 and names[-2:] == ["message_delta", "message_stop"], names
