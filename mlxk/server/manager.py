"""The server's one door to models: admission, continuous batching, hot-swap, idle unload.

All mlx work runs on one worker thread, so the event loop never blocks and nothing
else touches the model. Requests for the loaded model join the running batch between
decode steps (``mlxk.engine.batch``); a request for another model waits until the
batch has drained, then the worker frees the old model and loads the new one, so every
request is answered by the model it named. Requests that no longer fit (running plus
queued beyond the bound) are refused at once with ``server_busy`` (HTTP 503).

A job reports through an asyncio queue: first ``("ready", prepared)`` or
``("error", exc)``, then ``("chunk", chunk)`` items, then ``("end", None)``; the route
can therefore answer a bad request with a 4xx before it commits to a 200 stream.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlxk.cache.info import ModelInfo, resolve_runnable
from mlxk.errors import InternalError, MlxkError, ServerBusy

if TYPE_CHECKING:
    from mlxk.engine.blas import DecodeThreads

log = logging.getLogger("mlxk.server")


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


@dataclass
class _Pending:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop  # the job's queue is read there
    queue: asyncio.Queue
    cancelled: threading.Event
    info: ModelInfo | None = None
    load_only: bool = False
    prepared: tuple | None = None  # (loaded model, prompt) made off the worker thread

    def emit(self, item) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


@dataclass
class Metrics:
    requests: int = 0
    completed: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generated_tokens: int = 0  # every token decoded, for requests finished or cancelled
    worker_restarts: int = 0
    ttft_seconds: list[float] = field(default_factory=list)
    decode_tokens_per_s: list[float] = field(default_factory=list)


class ModelManager:
    def __init__(
        self,
        hub: Path,
        *,
        default_max_tokens: int | None,
        max_concurrency: int,
        queue_size: int,
        cache_bytes: int,
        idle_unload: float | None,
        memory_limit: int | None,
        batch_window: float,
        decode_threads: DecodeThreads | None,
    ):
        self.hub = hub
        self.default_max_tokens = default_max_tokens
        self.max_concurrency = max(1, max_concurrency)
        self.queue_size = max(0, queue_size)
        self.cache_bytes = cache_bytes
        self.idle_unload = idle_unload
        self.memory_limit = memory_limit
        self.batch_window = max(0.0, batch_window)
        self.metrics = Metrics()
        self.state = "idle"
        self._cv = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._active: dict[int, _Pending] = {}
        self._loaded = None
        self._loaded_name: str | None = None
        self._loaded_bytes = 0
        self._batch = None
        self._last_used = time.monotonic()
        self._last_arrival = 0.0
        self._resolved: dict[str, ModelInfo] = {}
        self._trimmed = True
        self._blas_threads: int | None = None
        self._decode_threads = decode_threads
        self._timed_step: tuple[int, int, float] | None = None  # batch, threads, start
        self._decoded_last_step = False
        self._stopping = False
        self._aborting: str | None = None  # why every request is to end now (shutdown)
        self._thread: threading.Thread | None = None

    # -- read by routes ------------------------------------------------------------
    @property
    def loaded_name(self) -> str | None:
        return self._loaded_name

    @property
    def loaded_bytes(self) -> int:
        return self._loaded_bytes

    @property
    def active(self) -> int:
        return len(self._pending) + len(self._active)

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def prompt_cache_bytes(self) -> int:
        return self._batch.cache_bytes if self._batch is not None else 0

    # -- event-loop side -----------------------------------------------------------
    async def start(self, request: GenerationRequest, *, load_only: bool = False) -> Job:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        self._check_room()
        pending = _Pending(request, loop, queue, cancelled, load_only=load_only)
        if not load_only:
            # Render and tokenize on a pool thread while the model decodes others; a
            # prompt the model refuses fails here, before it is queued.
            pending.prepared = await asyncio.to_thread(self._prepare_if_loaded, request)
        with self._cv:
            self._check_room()
            self._pending.append(pending)
            self._last_arrival = time.monotonic()
            self.metrics.requests += 0 if load_only else 1
            self._ensure_worker()
            self._cv.notify()
        return Job(queue, cancelled)

    def _check_room(self) -> None:
        if self._aborting:
            raise ServerBusy(self._aborting, retry_after=5)
        if self.active >= self.max_concurrency + self.queue_size:
            raise ServerBusy(
                f"{self.active} requests running or queued; try again shortly",
                retry_after=1,
            )

    def _prepare_if_loaded(self, request: GenerationRequest) -> tuple | None:
        """(loaded model, prompt) when ``request`` names the loaded model, else None."""
        loaded, info = self._loaded, self._resolved.get(request.model)
        if loaded is None or info is None or info.name != self._loaded_name:
            return None
        try:
            return loaded, self._prompt(loaded, request)
        except MlxkError:
            raise
        except Exception as error:  # noqa: BLE001 - the worker prepares it again and says why
            log.warning("preparing a prompt failed off the worker thread: %r", error)
            return None

    async def preload(self, name: str) -> None:
        job = await self.start(GenerationRequest(name, None, None, {}), load_only=True)
        kind, value = await job.next()
        if kind == "error":
            raise value

    def abort_all(self, reason: str) -> None:
        """End every running and queued request with an error (the server is stopping)."""
        with self._cv:
            self._aborting = reason
            self._cv.notify()

    async def shutdown(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _ensure_worker(self) -> None:
        """Start the worker thread, or a new one if it died (it should not: see _run)."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self._thread is not None:
            self.metrics.worker_restarts += 1
            log.error("the model worker thread had stopped; started a new one")
        self._thread = threading.Thread(target=self._run, name="mlxk-model", daemon=True)
        self._thread.start()

    def check_worker(self) -> bool:
        """True if the worker is running or not needed yet; restarts it if it died."""
        with self._cv:
            if self._thread is None or self._thread.is_alive() or self._stopping:
                return True
            self._ensure_worker()
            return False

    # -- worker-thread side --------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    while not self._stopping and not self._pending and not self._active:
                        self._cv.wait(timeout=0.25)
                        self._maybe_idle_unload()
                    if self._stopping:
                        break
                try:
                    if self._aborting:
                        self._abort_jobs(ServerBusy(self._aborting, retry_after=5))
                        continue
                    self._cycle()
                except Exception as error:  # noqa: BLE001 - fail what ran, keep serving
                    log.exception("the model worker failed; its running requests fail")
                    self._fail_active(error)
        finally:
            died = None if self._stopping else InternalError("the model worker stopped; try again")
            with self._cv:
                pending, self._pending = list(self._pending), deque()
            for job in pending:
                job.emit(("error", died) if died else ("end", None))
            for job in self._active.values():
                job.emit(("failed", died) if died else ("end", None))
            self._active.clear()
            self._unload()

    def _cycle(self) -> None:
        self._drop_cancelled()
        idle = not self._active
        self._admit()
        if idle and self._active and self.batch_window > 0:
            self._gather()
        if self._active:
            self._step()

    def _abort_jobs(self, error: MlxkError) -> None:
        for uid in list(self._active):
            self._batch.cancel(uid)
        with self._cv:
            pending, self._pending = list(self._pending), deque()
        for job in pending:
            job.emit(("error", error))
            job.emit(("end", None))
        for job in self._active.values():
            job.emit(("failed", error))
            job.emit(("end", None))
        self._active.clear()

    def _fail_active(self, error: Exception) -> None:
        for job in self._active.values():
            job.emit(("failed", error))
            job.emit(("end", None))
        self._active.clear()
        self._timed_step, self._decoded_last_step = None, False
        self._unload()

    def _maybe_idle_unload(self) -> None:
        idle = time.monotonic() - self._last_used
        if self._loaded is not None and self.idle_unload is not None and idle > self.idle_unload:
            self._unload()
        elif idle > 1.0 and not self._trimmed:
            from mlxk.engine.model import release_freed_memory

            release_freed_memory()  # what the finished requests freed, back to the OS
            self._trimmed = True

    def _unload(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None
        if self._loaded is not None:
            from mlxk.engine.model import unload

            unload(self._loaded)
        self._loaded, self._loaded_name, self._loaded_bytes = None, None, 0
        self._resolved.clear()
        self.state = "idle"

    def _load(self, info: ModelInfo) -> None:
        from mlxk.engine.batch import Batch
        from mlxk.engine.memory import check_fits, model_bytes
        from mlxk.engine.model import load

        self._unload()
        needed = model_bytes(info.snapshot_path)
        check_fits(info.name, needed, self.memory_limit)
        self.state = "loading"
        try:
            self._loaded = load(info.snapshot_path)
            self._loaded_name = info.name
            self._loaded_bytes = needed
            self._batch = Batch(
                self._loaded, max_sequences=self.max_concurrency, cache_bytes=self.cache_bytes
            )
        finally:
            self.state = "ready" if self._loaded is not None else "idle"

    def _drop_cancelled(self) -> None:
        for uid, job in list(self._active.items()):
            if job.cancelled.is_set():
                self._batch.cancel(uid)
                del self._active[uid]
                job.emit(("end", None))
        with self._cv:
            for job in [j for j in self._pending if j.cancelled.is_set()]:
                self._pending.remove(job)
                job.emit(("end", None))

    def _admit(self) -> bool:
        """Start pending requests while the batch has room; False if one waits for a swap."""
        while len(self._active) < self.max_concurrency:
            with self._cv:
                if not self._pending:
                    return True
                job = self._pending[0]
            try:
                if job.info is None:
                    job.info = self._resolve(job.request.model)
                if job.info.name != self._loaded_name:
                    if self._active:
                        return False  # another model: wait until the batch has drained
                    self._load(job.info)
            except Exception as error:  # noqa: BLE001 - this request fails, the worker goes on
                self._pop(job)
                self._fail(job, error)
                continue
            self._pop(job)
            self._last_used = time.monotonic()
            if job.load_only:
                job.emit(("ready", None))
                job.emit(("end", None))
                continue
            self._add(job)
        return True

    def _gather(self) -> None:
        """Let the rest of a burst join its first request before the first step.

        Prefilling the first request at once takes every core while the others are still
        being received, and they then wait for its prefill and first token before theirs
        starts. So an idle server goes on admitting until no request has come for the
        batch window since the later of the last arrival and the end of the last
        admission (rendering and tokenizing a prompt takes ~2 ms, most of a 3 ms window:
        measured from the arrival, 1 burst in 3 of 8 clients lost its second request to a
        4 ms gap and prefilled its first alone, ~100 ms more to every other's first
        token). A lone request thus waits the window after its admission. Once a second
        one has come it is a burst, whose clients can be slower to send than the window
        (threads of one process sharing the cores), so the quiet gap then grows to 4
        windows, for at most 16 windows in all, or until the batch is full.
        """
        admitted = time.monotonic()
        started, quiet = admitted, self.batch_window
        while len(self._active) < self.max_concurrency:
            with self._cv:
                while not self._pending and not self._stopping:
                    since = max(self._last_arrival, admitted)
                    deadline = min(since + quiet, started + 16 * self.batch_window)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._cv.wait(remaining)
                if self._stopping:
                    return
            if not self._admit():
                return
            admitted = time.monotonic()
            quiet = 4 * self.batch_window

    def _resolve(self, name: str) -> ModelInfo:
        """The cache entry a request names. The loaded model's names are remembered while
        it stays loaded and its snapshot exists: a full resolve reads and checks its files,
        milliseconds that every request of a burst would wait for in turn."""
        info = self._resolved.get(name)
        if info is not None and info.snapshot_path.is_dir():
            return info
        info = resolve_runnable(self.hub, name)
        if info.name == self._loaded_name:
            self._resolved[name] = info
        return info

    def _pop(self, job: _Pending) -> None:
        with self._cv:
            if job in self._pending:
                self._pending.remove(job)

    def _fail(self, job: _Pending, error: Exception) -> None:
        if not isinstance(error, MlxkError):
            log.error("request for %s failed: %r", job.request.model, error)
            error = InternalError(f"{job.request.model}: {type(error).__name__}: {error}")
        self.metrics.errors += 1
        job.emit(("error", error))

    def _prompt(self, loaded, request: GenerationRequest):
        from mlxk.engine.chat import chat_prompt, raw_prompt

        if request.messages is not None:
            return chat_prompt(loaded, request.messages)
        return raw_prompt(loaded, request.prompt or "")

    def _add(self, job: _Pending) -> None:
        from mlxk.engine.generate import GenerationParams
        from mlxk.engine.limits import max_new_tokens

        request = job.request
        try:
            made_for, prompt = job.prepared or (None, None)
            if made_for is not self._loaded:  # not prepared, or for a model since swapped
                prompt = self._prompt(self._loaded, request)
            params = dict(request.params)
            requested = params.pop("max_tokens", None)
            if requested is None:
                requested = self.default_max_tokens
            max_tokens = max_new_tokens(
                len(prompt.token_ids),
                self._loaded.context_length,
                requested,
                default_fraction=request.default_fraction,
            )
            params.pop("seed", None)  # one RNG serves the whole batch
            generation = GenerationParams(max_tokens=max_tokens, **params)
            uid = self._batch.add(prompt, generation)
        except Exception as error:  # noqa: BLE001 - this request fails, the batch goes on
            self._fail(job, error)
            return
        self._active[uid] = job
        job.emit(("ready", Prepared(self._loaded_name, len(prompt.token_ids), max_tokens)))

    def _step(self) -> None:
        decoding, prefilling = len(self._active), self._batch.prefilling
        self._time_decode_threads(decoding, prefilling)
        try:
            results = self._batch.step()
        except Exception as error:  # noqa: BLE001 - the batch failed: fail its requests, go on
            self._fail_active(error)
            return
        if not self._active:
            self._timed_step, self._decoded_last_step = None, False
        self._last_used = time.monotonic()
        self._trimmed = False
        deliveries: dict[asyncio.AbstractEventLoop, list] = {}
        for result in results:
            job = self._active.get(result.uid)
            if job is None:
                continue
            items = [("chunk", chunk) for chunk in result.chunks]
            self.metrics.generated_tokens += 1  # a step decodes one token per sequence
            for chunk in result.chunks:
                if chunk.finish_reason is not None:
                    self._record(chunk)
            if result.done:
                del self._active[result.uid]
                items.append(("end", None))
            deliveries.setdefault(job.loop, []).append((job.queue, items))
        # One wake-up of the event loop per step, not one per token: on a CPU, each is a
        # thread switch on a core the BLAS threads share (measured, paired rounds: 2, 4
        # and 8 streaming clients got 1.02-1.03x the tokens/s, better in 54 of 70 rounds).
        for loop, delivery in deliveries.items():
            loop.call_soon_threadsafe(_deliver, delivery)
        self._batch.store_finished()  # after the tokens are on their way

    def _time_decode_threads(self, decoding: int, prefilling: bool) -> None:
        """Set the BLAS threads for the next step; time each decode step from its start to
        the next one's, so what the thread count does to the rest of the loop (delivering
        the tokens, the event loop on the other cores) counts too. Not timed: a cycle that
        took in a new request, and the first decode step after a prefill, which computes
        two tokens (the one it returns and, ahead, the next)."""
        if self._decode_threads is None:
            return
        now = time.perf_counter()
        if self._timed_step is not None and not prefilling:
            batch, threads, started = self._timed_step
            self._decode_threads.record(batch, threads, now - started)
        threads = self._decode_threads.choose(decoding, prefilling=prefilling)
        if threads != self._blas_threads:
            from mlxk.engine.blas import set_threads

            set_threads(threads)
            self._blas_threads = threads
        steady = not prefilling and self._decoded_last_step
        self._timed_step = (decoding, threads, now) if steady else None
        self._decoded_last_step = not prefilling

    def _record(self, chunk) -> None:
        m = self.metrics
        m.completed += 1
        m.prompt_tokens += chunk.usage.prompt_tokens
        m.completion_tokens += chunk.usage.completion_tokens
        m.ttft_seconds.append(chunk.timings.time_to_first_token_s)
        m.decode_tokens_per_s.append(chunk.timings.decode_tokens_per_s)
        del m.ttft_seconds[:-1000], m.decode_tokens_per_s[:-1000]


def _deliver(delivery: list[tuple[asyncio.Queue, list]]) -> None:
    """On the event loop: a step's items, into each job's queue."""
    for queue, items in delivery:
        for item in items:
            queue.put_nowait(item)


class Job:
    def __init__(self, queue: asyncio.Queue, cancelled: threading.Event):
        self.queue = queue
        self.cancelled = cancelled

    async def next(self, timeout: float | None = None):
        if not self.queue.empty():  # the common case while decoding: no timer needed
            return self.queue.get_nowait()
        if timeout is None:
            return await self.queue.get()
        return await asyncio.wait_for(self.queue.get(), timeout)

    def cancel(self) -> None:
        self.cancelled.set()
