"""The server's one door to models: admission and the worker that runs the batch.

All mlx work runs on one worker thread, so the event loop never blocks and nothing
else touches the model. Requests for the loaded model join the running batch between
decode steps (``mlxk.engine.batch``); a request for another model waits until the
batch has drained, then the worker swaps the model (``ModelSlot``), so every request is
answered by the model it named. Requests that no longer fit (running plus queued
beyond the bound) are refused at once with ``server_busy`` (HTTP 503). Events go back
to the routes as typed objects (``mlxk.server.jobs``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from mlxk.errors import InternalError, MlxkError, ServerBusy
from mlxk.server.jobs import (
    END,
    Event,
    Failed,
    GenerationRequest,
    Job,
    Pending,
    Piece,
    Prepared,
    Ready,
    Refused,
    deliver,
)
from mlxk.server.metrics import Metrics
from mlxk.server.slot import ModelSlot

if TYPE_CHECKING:
    from mlxk.engine.blas import DecodeThreads
    from mlxk.server.settings import ServerSettings

log = logging.getLogger("mlxk.server")


class ModelManager:
    def __init__(self, settings: ServerSettings, *, decode_threads: DecodeThreads | None):
        from mlxk.engine.blas import DecodeStepTimer

        self.default_max_tokens = settings.max_tokens
        self.max_concurrency = max(1, settings.max_concurrency)
        self.queue_size = max(0, settings.queue_size)
        self.batch_window = max(0.0, settings.batch_window)
        self.metrics = Metrics()
        self.slot = ModelSlot(
            settings.hub_cache,
            max_sequences=self.max_concurrency,
            cache_bytes=settings.prompt_cache_bytes,
            idle_unload=settings.idle_unload,
            memory_limit=settings.memory_limit,
        )
        self._timer = DecodeStepTimer(decode_threads)
        self._cv = threading.Condition()
        self._pending: deque[Pending] = deque()
        self._active: dict[int, Pending] = {}
        self._last_arrival = 0.0
        self._stopping = False
        self._aborting: str | None = None  # why every request is to end now (shutdown)
        self._thread: threading.Thread | None = None

    # -- read by routes ------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.slot.state

    @property
    def loaded_name(self) -> str | None:
        return self.slot.name

    @property
    def loaded_bytes(self) -> int:
        return self.slot.weight_bytes

    @property
    def active(self) -> int:
        return len(self._pending) + len(self._active)

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def prompt_cache_bytes(self) -> int:
        return self.slot.prompt_cache_bytes

    # -- event-loop side -----------------------------------------------------------
    async def start(self, request: GenerationRequest, *, load_only: bool = False) -> Job:
        """Queue ``request``; raise ``ServerBusy`` when running plus queued are at the bound.

        A prompt for the loaded model is rendered and tokenized here, on a pool thread,
        while the worker decodes others; one the model refuses fails here, before it is
        queued (``InvalidRequest``, ``ContextLengthExceeded``).
        """
        loop = asyncio.get_running_loop()
        self._check_room()
        pending = Pending(request, loop, asyncio.Queue(), threading.Event(), load_only=load_only)
        if not load_only:
            pending.prepared = await asyncio.to_thread(self._prepare_if_loaded, request)
        with self._cv:
            self._check_room()
            self._pending.append(pending)
            self._last_arrival = time.monotonic()
            self.metrics.requests += 0 if load_only else 1
            self._ensure_worker()
            self._cv.notify()
        return Job(pending.queue, pending.cancelled)

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
        from mlxk.engine.request import prompt_for

        loaded = self.slot.loaded
        if loaded is None or not self.slot.serves(request.model):
            return None
        try:
            return loaded, prompt_for(loaded, request.messages, request.prompt)
        except MlxkError:
            raise
        except Exception as error:  # noqa: BLE001 - the worker prepares it again and says why
            log.warning("preparing a prompt failed off the worker thread: %r", error)
            return None

    async def preload(self, name: str) -> None:
        """Load ``name`` now (``serve --model``); raise what loading it raised."""
        from mlxk.engine.request import SamplingRequest

        request = GenerationRequest(name, None, None, SamplingRequest())
        event = await (await self.start(request, load_only=True)).next()
        if isinstance(event, Refused):
            raise event.error

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
                        self.slot.tidy()
                    if self._stopping:
                        break
                try:
                    if self._aborting:
                        self._end_all(ServerBusy(self._aborting, retry_after=5))
                    else:
                        self._cycle()
                except Exception as error:  # noqa: BLE001 - fail what ran, keep serving
                    log.exception("the model worker failed; its running requests fail")
                    self._end_all(_as_mlxk(error), pending=False)
                    self.slot.unload()
        finally:
            if self._stopping:
                self._end_all(None)
            else:  # the thread itself is dying (see check_worker)
                self._end_all(InternalError("the model worker stopped; try again"))
            self.slot.unload()

    def _cycle(self) -> None:
        self._drop_cancelled()
        idle = not self._active
        self._admit()
        if idle and self._active and self.batch_window > 0:
            self._gather()
        if self._active:
            self._step()

    def _end_all(self, error: MlxkError | None, *, pending: bool = True) -> None:
        """End running (and queued) requests: with ``error``, or quietly when None."""
        batch = self.slot.batch
        for uid, job in self._active.items():
            if batch is not None:
                batch.cancel(uid)
            job.emit(Failed(error) if error else END)
        self._active.clear()
        self._timer.reset()
        if pending:
            with self._cv:
                queued, self._pending = list(self._pending), deque()
            for job in queued:
                job.emit(Refused(error) if error else END)

    def _drop_cancelled(self) -> None:
        for uid, job in list(self._active.items()):
            if job.cancelled.is_set():
                self.slot.batch.cancel(uid)
                del self._active[uid]
                job.emit(END)
        with self._cv:
            for job in [j for j in self._pending if j.cancelled.is_set()]:
                self._pending.remove(job)
                job.emit(END)

    def _admit(self) -> bool:
        """Start pending requests while the batch has room; False if one waits for a swap."""
        while len(self._active) < self.max_concurrency:
            with self._cv:
                if not self._pending:
                    return True
                job = self._pending[0]
            try:
                if job.info is None:
                    job.info = self.slot.resolve(job.request.model)
                if job.info.name != self.slot.name:
                    if self._active:
                        return False  # another model: wait until the batch has drained
                    self.slot.load(job.info)
            except Exception as error:  # noqa: BLE001 - this request fails, the worker goes on
                self._pop(job)
                self._refuse(job, error)
                continue
            self._pop(job)
            self.slot.used()
            if job.load_only:
                job.emit(Ready(None), END)
                continue
            self._add(job)
        return True

    def _gather(self) -> None:
        """Let the rest of a burst join its first request before the first step.

        Prefilling the first request at once takes every core while the others are still
        being received, and they then wait for its prefill and first token. So an idle
        server goes on admitting until no request has come for the batch window since the
        later of the last arrival and the end of the last admission. Once a second one
        has come it is a burst, whose clients can be slower to send than the window, so
        the quiet gap then grows to 4 windows, for at most 16 windows in all, or until
        the batch is full. (benchmarks/README.md has the measurements behind this.)
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

    def _pop(self, job: Pending) -> None:
        with self._cv:
            if job in self._pending:
                self._pending.remove(job)

    def _refuse(self, job: Pending, error: Exception) -> None:
        if not isinstance(error, MlxkError):
            log.error("request for %s failed: %r", job.request.model, error)
        self.metrics.errors += 1
        job.emit(Refused(_as_mlxk(error, job.request.model)))

    def _add(self, job: Pending) -> None:
        from mlxk.engine.request import generation_params, prompt_for

        loaded, request = self.slot.loaded, job.request
        try:
            made_for, prompt = job.prepared or (None, None)
            if made_for is not loaded:  # not prepared, or for a model since swapped
                prompt = prompt_for(loaded, request.messages, request.prompt)
            params = generation_params(
                loaded,
                prompt,
                request.sampling,
                default_max_tokens=self.default_max_tokens,
                default_fraction=request.default_fraction,
            )
            uid = self.slot.batch.add(prompt, params)
        except Exception as error:  # noqa: BLE001 - this request fails, the batch goes on
            self._refuse(job, error)
            return
        self._active[uid] = job
        name = self.slot.name or job.request.model
        job.emit(Ready(Prepared(name, len(prompt.token_ids), params.max_tokens)))

    def _step(self) -> None:
        batch = self.slot.batch
        self._timer.before_step(len(self._active), batch.prefilling)
        try:
            results = batch.step()
        except Exception as error:  # noqa: BLE001 - the batch failed: fail its requests, go on
            log.exception("a batch step failed; its requests fail")
            self._end_all(_as_mlxk(error), pending=False)
            self.slot.unload()
            return
        if not self._active:
            self._timer.reset()
        self.slot.used()
        deliveries: dict[asyncio.AbstractEventLoop, list] = {}
        for result in results:
            job = self._active.get(result.uid)
            if job is None:
                continue
            events: list[Event] = [Piece(chunk) for chunk in result.chunks]
            self.metrics.generated_tokens += 1  # a step decodes one token per sequence
            for chunk in result.chunks:
                if chunk.finish_reason is not None:
                    self.metrics.finished(chunk)
            if result.done:
                del self._active[result.uid]
                events.append(END)
            deliveries.setdefault(job.loop, []).append((job.queue, events))
        # One wake-up of the event loop per step, not one per token: on a CPU, each is a
        # thread switch on a core the BLAS threads share.
        for loop, delivery in deliveries.items():
            loop.call_soon_threadsafe(deliver, delivery)
        batch.store_finished()  # after the tokens are on their way


def _as_mlxk(error: Exception, model: str | None = None) -> MlxkError:
    """An error for a client: mlxk's own as it is, anything else as an internal error."""
    if isinstance(error, MlxkError):
        return error
    where = f"{model}: " if model else ""
    return InternalError(f"{where}{type(error).__name__}: {error}")
