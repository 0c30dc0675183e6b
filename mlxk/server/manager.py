"""The server's one door to models: load, hot-swap, generate, on one worker thread.

All mlx work (load, generate, free) runs on a single worker thread, so the event loop
never blocks and two requests never touch the model at once. A job names the model it
needs; the worker loads it first when another one is resident (freeing the old one
before loading), so a request is always served by the model it asked for, even when
swaps are queued between requests.

A job reports through an asyncio queue: first ``("ready", prepared)`` or
``("error", exc)``, then its chunks, then ``("end", None)``. The route can therefore
answer a bad request with a 4xx before it commits to a 200 stream.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.info import ModelInfo, resolve_runnable
from mlxk.errors import MlxkError


@dataclass
class Prepared:
    model: str
    prompt_tokens: int
    max_tokens: int


@dataclass
class GenerationRequest:
    model: str
    messages: list[dict] | None
    prompt: str | None
    params: dict
    default_fraction: float = 0.5


class ModelManager:
    def __init__(self, hub: Path, *, default_max_tokens: int | None = None):
        self.hub = hub
        self.default_max_tokens = default_max_tokens
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlxk-model")
        self._loaded = None  # mlxk.engine.model.LoadedModel, touched only on the worker
        self._loaded_name: str | None = None
        self.state = "idle"
        self._count_lock = threading.Lock()
        self.active = 0  # generations running or queued
        self.generated_tokens = 0  # total, for tests and metrics

    @property
    def loaded_name(self) -> str | None:
        return self._loaded_name

    # -- worker-thread side --------------------------------------------------------
    def _ensure(self, info: ModelInfo):
        if self._loaded is not None and self._loaded_name == info.name:
            return self._loaded
        from mlxk.engine.model import load, unload

        if self._loaded is not None:
            unload(self._loaded)
            self._loaded, self._loaded_name = None, None
        self.state = "loading"
        try:
            self._loaded = load(info.snapshot_path)
            self._loaded_name = info.name
        finally:
            self.state = "ready" if self._loaded is not None else "idle"
        return self._loaded

    def _unload(self) -> None:
        if self._loaded is not None:
            from mlxk.engine.model import unload

            unload(self._loaded)
        self._loaded, self._loaded_name, self.state = None, None, "idle"

    def _generate(self, request: GenerationRequest, emit, cancelled: threading.Event) -> None:
        from mlxk.engine.chat import chat_prompt, raw_prompt
        from mlxk.engine.generate import GenerationParams, stream
        from mlxk.engine.limits import max_new_tokens

        try:
            info = resolve_runnable(self.hub, request.model)
            loaded = self._ensure(info)
            if request.messages is not None:
                prompt = chat_prompt(loaded, request.messages)
            else:
                prompt = raw_prompt(loaded, request.prompt or "")
            requested = request.params.pop("max_tokens", None)
            if requested is None and self.default_max_tokens is not None:
                requested = self.default_max_tokens
            max_tokens = max_new_tokens(
                len(prompt.token_ids),
                loaded.context_length,
                requested,
                default_fraction=request.default_fraction,
            )
            params = GenerationParams(max_tokens=max_tokens, **request.params)
        except MlxkError as error:
            emit(("error", error))
            return
        except Exception as error:  # a failing load is reported, not raised into the loop
            emit(("error", error))
            return
        emit(("ready", Prepared(info.name, len(prompt.token_ids), max_tokens)))
        chunks = stream(loaded, prompt, params)
        try:
            for chunk in chunks:
                if cancelled.is_set():
                    break
                self.generated_tokens += len(chunk.token_ids)
                emit(("chunk", chunk))
        except Exception as error:
            emit(("failed", error))
        finally:
            chunks.close()
            emit(("end", None))

    # -- event-loop side -----------------------------------------------------------
    async def start(self, request: GenerationRequest) -> Job:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                self._generate(request, emit, cancelled)
            finally:
                with self._count_lock:
                    self.active -= 1

        with self._count_lock:
            self.active += 1
        self._executor.submit(run)
        return Job(queue, cancelled)

    async def preload(self, name: str) -> None:
        info = resolve_runnable(self.hub, name)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._ensure, info)

    async def shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._unload)
        self._executor.shutdown(wait=False, cancel_futures=True)


class Job:
    def __init__(self, queue: asyncio.Queue, cancelled: threading.Event):
        self.queue = queue
        self.cancelled = cancelled

    async def next(self, timeout: float | None = None):
        if timeout is None:
            return await self.queue.get()
        return await asyncio.wait_for(self.queue.get(), timeout)

    def cancel(self) -> None:
        self.cancelled.set()
