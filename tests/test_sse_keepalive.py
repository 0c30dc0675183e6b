"""Keep-alive comments while a generation is silent (e.g. a long prefill).

A real tiny model prefills in milliseconds, so the silence is injected: a job whose
queue stays empty for a while, then ends. This is the one fault a real model cannot
produce here.
"""

from __future__ import annotations

import asyncio
import threading

from mlxk.server.jobs import END, Job
from mlxk.server.sse import Stream, chat_events


def test_a_silent_generation_gets_keepalive_comments_then_ends_normally():
    async def scenario():
        queue: asyncio.Queue = asyncio.Queue()
        job = Job(queue, threading.Event())

        async def finish_later():
            await asyncio.sleep(0.35)
            await queue.put(END)

        asyncio.get_running_loop().create_task(finish_later())
        stream = Stream(job, "chatcmpl-x", "chat.completion.chunk", 0, "m", False, keepalive=0.1)
        events = chat_events(stream, "separate")
        return [event async for event in events]

    events = asyncio.run(scenario())
    assert events[0].startswith("data: ")  # the role chunk comes at once
    keepalives = [e for e in events if e == ": keep-alive\n\n"]
    assert 2 <= len(keepalives) <= 4, events
    assert events[-1] == "data: [DONE]\n\n"
