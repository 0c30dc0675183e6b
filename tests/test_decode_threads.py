"""The server's worker and its decode-thread timer, on a real model: which steps it times.

The timer itself (:class:`mlxk.engine.blas.DecodeThreads`) is checked on given step times
in ``test_blas.py``; here a recording subclass sees what the model worker asks and tells
it while it serves real requests.
"""

from __future__ import annotations

import asyncio

from mlxk.engine.blas import DecodeThreads
from mlxk.engine.request import SamplingRequest
from mlxk.server.jobs import Ended, GenerationRequest, Piece, Ready
from mlxk.server.manager import ModelManager
from mlxk.server.settings import ServerSettings
from mlxk.testing.synthetic import write_synthetic


class Recording(DecodeThreads):
    def __init__(self):
        super().__init__(2)
        self.asked: list[tuple[int, bool]] = []
        self.timed: list[tuple[int, int, float]] = []

    def choose(self, batch: int, *, prefilling: bool = False) -> int:
        self.asked.append((batch, prefilling))
        return super().choose(batch, prefilling=prefilling)

    def record(self, batch: int, threads: int, seconds: float) -> None:
        self.timed.append((batch, threads, seconds))
        super().record(batch, threads, seconds)


def serve(hub, name: str, decode_threads: DecodeThreads, clients: int, max_tokens: int):
    """``clients`` requests at once; each one's completion tokens."""

    async def main():
        settings = ServerSettings(
            hub_cache=hub,
            max_concurrency=4,
            queue_size=4,
            prompt_cache_bytes=0,
            batch_window=0.05,
        )
        manager = ModelManager(settings, decode_threads=decode_threads)

        async def one(i: int) -> int:
            messages = [{"role": "user", "content": f"story {i}"}]
            sampling = SamplingRequest(max_tokens=max_tokens, temperature=0.0)
            job = await manager.start(GenerationRequest(name, messages, None, sampling))
            tokens = 0
            while True:
                event = await job.next(timeout=60)
                if isinstance(event, Ended):
                    return tokens
                assert isinstance(event, (Ready, Piece)), event
                if isinstance(event, Piece) and event.chunk.usage is not None:
                    tokens = event.chunk.usage.completion_tokens

        try:
            return await asyncio.gather(*(one(i) for i in range(clients)))
        finally:
            await manager.shutdown()

    return asyncio.run(main())


# spec: SCALE-BLAS
def test_the_worker_times_steady_decode_steps_only(tmp_path):
    name, _ = write_synthetic(tmp_path / "hub", "tiny")
    recording = Recording()
    (tokens,) = serve(tmp_path / "hub", name, recording, clients=1, max_tokens=9)
    assert tokens >= 5, "the model stopped too early to show the steps"
    # One prefill (every core), then a decode step per later token. Not timed: the first
    # decode step (it computes two tokens) and the last (no next step ends its cycle).
    assert recording.asked == [(1, True)] + [(1, False)] * (tokens - 1)
    assert [batch for batch, _, _ in recording.timed] == [1] * (tokens - 3)
    assert all(seconds > 0 for _, _, seconds in recording.timed)

    batched = Recording()
    counts = serve(tmp_path / "hub", name, batched, clients=3, max_tokens=9)
    assert batched.asked[0] == (3, True)  # a burst gathered into one prefill
    assert {batch for batch, _, _ in batched.timed} <= {1, 2, 3}
    assert len(batched.timed) >= min(counts) - 3
