"""The model worker: the one thread that runs mlx, admitting requests and stepping batches.

It waits for queued requests (``RequestQueue``), admits them into their model's running
batch between decode steps (loading a model through ``Residents`` when a request names
one not loaded, unloading an idle one if it must), steps each busy model's batch in turn
and sends each step's events back to the event loop in one wake-up. A failing request
fails alone; a failing step fails the requests of that model; the loop keeps going.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from mlxk.errors import GroupUnavailable, InternalError, MlxkError, ServerBusy
from mlxk.server.embedder import EmbeddingSlot, EmbedRequest
from mlxk.server.jobs import (
    END,
    Event,
    Failed,
    Pending,
    Piece,
    Prepared,
    Ready,
    Refused,
    RequestQueue,
    deliver,
)
from mlxk.server.metrics import Metrics
from mlxk.server.resident import Residents
from mlxk.server.slot import ModelSlot

if TYPE_CHECKING:
    from mlxk.engine.blas import DecodeStepTimer
    from mlxk.engine.chat import Prompt

log = logging.getLogger("mlxk.server")


class Worker:
    def __init__(
        self,
        shared: RequestQueue,
        residents: Residents,
        embedder: EmbeddingSlot,
        metrics: Metrics,
        timer: DecodeStepTimer,
        *,
        max_concurrency: int,
        batch_window: float,
        default_max_tokens: int | None,
    ):
        self.shared = shared
        self.residents = residents
        self.embedder = embedder
        self.metrics = metrics
        self._timer = timer
        self.max_concurrency = max_concurrency  # sequences in each model's batch
        self.batch_window = batch_window
        self.default_max_tokens = default_max_tokens
        self._stepped: str | None = None  # the model of the last decode step (its timing)
        self.step_started: float | None = None  # while a step runs (a group's watchdog)
        self.group_lost: Callable[[str], None] = lambda reason: None

    @property
    def running(self) -> int:
        """Sequences decoding, over every resident model."""
        return sum(len(slot.active) for slot in self.residents.all())

    def run(self) -> None:
        try:
            while True:
                with self.shared.cv:
                    while not self.shared.stopping and not self.shared.pending and not self.running:
                        self.shared.cv.wait(timeout=0.25)
                        self.residents.tidy(idle=True)
                        self.embedder.tidy()
                    if self.shared.stopping:
                        break
                try:
                    if self.shared.aborting:
                        self._end_all(ServerBusy(self.shared.aborting, retry_after=5))
                    else:
                        self._cycle()
                except Exception as error:  # noqa: BLE001 - fail what ran, keep serving
                    log.exception("the model worker failed; its running requests fail")
                    if self.residents.group is not None:  # its ranks are out of step now
                        self.group_lost(f"the model worker failed ({error!r})")
                    self._end_all(_as_mlxk(error), pending=False)
                    self.residents.unload_all()
                    self.embedder.unload()
        finally:
            if self.shared.stopping:
                self._end_all(None)
            else:  # the thread itself is dying (see check_worker)
                self._end_all(InternalError("the model worker stopped; try again"))
            self.residents.unload_all()
            self.embedder.unload()

    def _cycle(self) -> None:
        """Admit what can start, then one decode step of each busy model in turn, so
        the models resident together share the device step for step."""
        self._drop_cancelled()
        idle = not self.running
        self._admit()
        if idle and self.running and self.batch_window > 0:
            self._gather()
        for slot in self.residents.busy():
            self._step(slot)
        with self.shared.cv:
            wanted = frozenset(job.info.name for job in self.shared.pending if job.info)
        self.residents.tidy(idle=False, wanted=wanted)

    def _end_all(self, error: MlxkError | None, *, pending: bool = True) -> None:
        """End running (and queued) requests: with ``error``, or quietly when None."""
        for slot in self.residents.all():
            self._end_slot(slot, error)
        self._timer.reset()
        if pending:
            with self.shared.cv:
                queued, self.shared.pending = list(self.shared.pending), deque()
            for job in queued:
                job.emit(Refused(error) if error else END)

    def _end_slot(self, slot: ModelSlot, error: MlxkError | None) -> None:
        """End the requests running on one model."""
        if slot.batch is not None:
            for uid in slot.active:
                slot.batch.cancel(uid)
        for job in {id(job): job for job in slot.active.values()}.values():
            job.running.clear()
            job.emit(Failed(error) if error else END)
        slot.active.clear()

    def _drop_cancelled(self) -> None:
        for slot in self.residents.all():
            for uid, job in list(slot.active.items()):
                if job.cancelled.is_set():
                    slot.batch.cancel(uid)
                    del slot.active[uid]
                    job.running.pop(uid, None)
                    if not job.running:
                        job.emit(END)
        with self.shared.cv:
            for job in [j for j in self.shared.pending if j.cancelled.is_set()]:
                self.shared.pending.remove(job)
                job.emit(END)

    def _admit(self) -> bool:
        """Start queued requests, in order, where their model's batch has room; False if
        one waits for its model to load (until a resident model goes idle): those behind
        it wait too, so it is never overtaken for good. A request whose model's batch is
        full waits for room without holding up other models' requests."""
        full: set[str] = set()  # models whose batch has no room for the next request
        index = 0
        while True:
            with self.shared.cv:
                if index >= len(self.shared.pending):
                    return True
                job = self.shared.pending[index]
            if isinstance(job.request, EmbedRequest):
                self._pop(job)
                self._embed(job)
                continue
            try:
                slot = self._slot_for(job, full)
            except Exception as error:  # noqa: BLE001 - this request fails, the worker goes on
                self._pop(job)
                self._refuse(job, error)
                continue
            if slot is None:
                return False
            if not isinstance(slot, ModelSlot):  # _FULL
                index += 1
                continue
            self._start(job, slot)

    def _slot_for(self, job: Pending, full: set[str]) -> ModelSlot | object | None:
        """The loaded model ``job`` runs on (loading it if it can be now); ``_FULL`` if
        its batch has no room; None if it must wait for its model to load."""
        if job.info is None:
            job.info = self.residents.resolve(job.request.model)
        slot = self.residents.get(job.info)
        if slot is None:
            slot = self.residents.place(job.info)
            if slot is None:
                return None
            self.metrics.loaded(slot.name)
        if slot.name in full or len(slot.active) + job.request.n > self.max_concurrency:
            full.add(slot.name)
            return _FULL
        return slot

    def _start(self, job: Pending, slot: ModelSlot) -> None:
        self._pop(job)
        self.residents.used(slot, getattr(job.request, "keep_alive", None), request=True)
        if job.load_only:
            job.emit(Ready(None), END)
        elif job.request.count_only:
            self._count(job, slot)
        else:
            self._add(job, slot)

    def _prompt(self, job: Pending, slot: ModelSlot) -> Prompt:
        """The job's prompt: the one made off the worker, unless it was made for another
        model (or not made), then made now for the loaded one."""
        from mlxk.engine.request import prompt_for

        loaded, request = slot.loaded, job.request
        made_for, prompt = job.prepared or (None, None)
        if made_for is not loaded:  # not prepared, or for a model since swapped
            prompt = prompt_for(loaded, request.messages, request.prompt, request.sampling)
        return prompt

    def _count(self, job: Pending, slot: ModelSlot) -> None:
        """Answer how many tokens a request's prompt has, without generating."""
        try:
            prompt = self._prompt(job, slot)
        except Exception as error:  # noqa: BLE001 - this request fails, the worker goes on
            self._refuse(job, error)
            return
        job.emit(Ready(Prepared(slot.name, len(prompt.token_ids), 0)), END)

    def _embed(self, job: Pending) -> None:
        """Answer an embeddings request now, between decode steps."""
        assert isinstance(job.request, EmbedRequest)
        try:
            result = self.embedder.run(job.request, job.info, self.residents)
        except Exception as error:  # noqa: BLE001 - this request fails, the worker goes on
            self._refuse(job, error)
            return
        job.emit(Ready(None), Piece(result), END)

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
        while self.running < self.max_concurrency:
            with self.shared.cv:
                while not self.shared.pending and not self.shared.stopping:
                    since = max(self.shared.last_arrival, admitted)
                    deadline = min(since + quiet, started + 16 * self.batch_window)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self.shared.cv.wait(remaining)
                if self.shared.stopping:
                    return
            waiting = len(self.shared.pending)
            if not self._admit() or len(self.shared.pending) == waiting:
                return  # what is queued cannot start now
            admitted = time.monotonic()
            quiet = 4 * self.batch_window

    def _pop(self, job: Pending) -> None:
        with self.shared.cv:
            if job in self.shared.pending:
                self.shared.pending.remove(job)

    def _refuse(self, job: Pending, error: Exception) -> None:
        if not isinstance(error, MlxkError):
            # formatted now: a log record holding the exception would hold its traceback,
            # and with it whatever the failed load had allocated, for as long as the record
            log.error("request for %s failed: %s", job.request.model, repr(error))
        self.metrics.errors += 1
        job.emit(Refused(_as_mlxk(error, job.request.model)))

    def _add(self, job: Pending, slot: ModelSlot) -> None:
        """Admit a job's sequences (one per choice, each its own random stream)."""
        from mlxk.engine.request import generation_params

        loaded, request = slot.loaded, job.request
        try:
            prompt = self._prompt(job, slot)
            params = generation_params(
                loaded,
                prompt,
                request.sampling,
                default_max_tokens=self.default_max_tokens,
                default_fraction=request.default_fraction,
            )
            for index in range(request.n):
                uid = slot.batch.add(prompt, replace(params, choice=index))
                job.running[uid] = index
        except Exception as error:  # noqa: BLE001 - this request fails, the batch goes on
            for uid in job.running:
                slot.batch.cancel(uid)
            job.running.clear()
            self._refuse(job, error)
            return
        slot.active.update(dict.fromkeys(job.running, job))
        job.emit(Ready(Prepared(slot.name, len(prompt.token_ids), params.max_tokens)))

    def _step(self, slot: ModelSlot) -> None:
        batch = slot.batch
        if slot.name != self._stepped:  # a step of another model: not one series of steps
            self._timer.reset()
            self._stepped = slot.name
        self._timer.before_step(len(slot.active), batch.prefilling)
        self.step_started = time.monotonic()
        try:
            results = batch.step()
        except Exception as error:  # noqa: BLE001 - the batch failed: fail its requests, go on
            if slot.group is not None:  # a rank is gone: this group cannot go on
                reason = f"the distributed group lost a rank ({error})"
                log.error("%s; its requests fail and the group restarts", reason)
                self.group_lost(reason)  # first: ending the requests may raise too
                self._end_slot(slot, GroupUnavailable(reason))
                return
            log.exception("a batch step of %s failed; its requests fail", slot.name)
            self._end_slot(slot, _as_mlxk(error))
            self.residents.drop(slot)
            return
        finally:
            self.step_started = None
        if not self.running:
            self._timer.reset()
        self.residents.used(slot)
        deliveries: dict[asyncio.AbstractEventLoop, list] = {}
        for result in results:
            job = slot.active.get(result.uid)
            if job is None:
                continue
            index = job.running[result.uid]
            events: list[Event] = [Piece(chunk, index) for chunk in result.chunks]
            self.metrics.generated(slot.name)  # a step decodes one token per sequence
            for chunk in result.chunks:
                if chunk.finish_reason is not None:
                    self.metrics.finished(chunk, index)
            if result.done:
                del slot.active[result.uid], job.running[result.uid]
                if not job.running:
                    events.append(END)
            deliveries.setdefault(job.loop, []).append((job.queue, events))
        # One wake-up of the event loop per step, not one per token: on a CPU, each is a
        # thread switch on a core the BLAS threads share.
        for loop, delivery in deliveries.items():
            loop.call_soon_threadsafe(deliver, delivery)
        batch.store_finished()  # after the tokens are on their way


_FULL = object()  # a model's batch has no room for the request now


def _as_mlxk(error: Exception, model: str | None = None) -> MlxkError:
    """An error for a client: mlxk's own as it is, anything else as an internal error."""
    if isinstance(error, MlxkError):
        return error
    where = f"{model}: " if model else ""
    return InternalError(f"{where}{type(error).__name__}: {error}")
