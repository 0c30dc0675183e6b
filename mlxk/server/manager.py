"""The server's one door to models: admission on the event loop, and the worker thread.

All mlx work runs on one worker thread (``mlxk.server.worker``), so the event loop never
blocks and nothing else touches a model. Requests for a loaded model join its running
batch between decode steps; a request for another model loads it beside the others when
``--max-models`` and the memory budget allow, else once an idle one has been unloaded
(``mlxk.server.resident``), so every request is answered by the model it named. Requests
that no longer fit (running plus queued beyond the bound) are refused at once with
``server_busy`` (HTTP 503). Events go back to the routes as typed objects
(``mlxk.server.jobs``). If the worker thread ever dies, ``check_worker`` starts another.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from mlxk.cache.folder import folder_path, is_path_spec
from mlxk.errors import MlxkError, ServerBusy
from mlxk.server.embedder import EmbeddingSlot, EmbedRequest
from mlxk.server.group_watch import GroupWatch
from mlxk.server.jobs import (
    GenerationRequest,
    Job,
    Pending,
    Refused,
    RequestQueue,
)
from mlxk.server.metrics import Metrics
from mlxk.server.resident import Residents
from mlxk.server.worker import Worker

if TYPE_CHECKING:
    from pathlib import Path

    from mlxk.cache.info import ModelInfo
    from mlxk.cache.markers import ReasoningMarkers
    from mlxk.engine.blas import DecodeThreads
    from mlxk.server.settings import ServerSettings

log = logging.getLogger("mlxk.server")


def served_roots(settings: ServerSettings) -> tuple[Path, ...]:
    """Where a request may name model folders: the --model-dir folders, and the folder
    --model names, if it names one."""
    roots = tuple(settings.model_dirs)
    if settings.model and is_path_spec(settings.model):
        roots += (folder_path(settings.model),)
    return roots


class ModelManager:
    def __init__(
        self,
        settings: ServerSettings,
        *,
        decode_threads: DecodeThreads | None,
        group: Any = None,
    ):
        from mlxk.engine.blas import DecodeStepTimer

        self.max_concurrency = max(1, settings.max_concurrency)
        self.max_models = max(1, settings.max_models)
        self.queue_size = max(0, settings.queue_size)
        self.batch_window = max(0.0, settings.batch_window)
        self.metrics = Metrics()
        self.roots = served_roots(settings)
        self.settings = settings
        self._flagged: str | None = None  # the model --reasoning-tokens is for, resolved
        # --model as a folder is preloaded by its absolute path (a relative one would be
        # looked up under the roots, and the folder is a root itself)
        self.preload_name = settings.model
        if settings.model and is_path_spec(settings.model):
            self.preload_name = str(self.roots[-1])  # served_roots put it last
        budget = settings.memory_budget or settings.memory_limit
        self.memory_budget = budget
        self.residents = Residents(
            settings.hub_cache,
            roots=self.roots,
            max_models=self.max_models,
            budget=budget,
            max_sequences=self.max_concurrency,
            cache_bytes=settings.prompt_cache_bytes,
            idle_unload=settings.idle_unload,
            markers_for=self._markers_for,
            cpu_float32=settings.cpu_float32,
            group=group,
        )
        self.embedder = EmbeddingSlot(
            settings.hub_cache,
            roots=self.roots,
            memory_limit=budget,
            idle_unload=settings.idle_unload,
        )
        self.residents.beside = self.embedder
        self.shared = RequestQueue()
        self.worker = Worker(
            self.shared,
            self.residents,
            self.embedder,
            self.metrics,
            DecodeStepTimer(decode_threads),
            max_concurrency=self.max_concurrency,
            batch_window=self.batch_window,
            default_max_tokens=settings.max_tokens,
        )
        self._thread: threading.Thread | None = None
        self.group = (
            GroupWatch(group, self.worker, settings.hosts, settings.group_timeout)
            if group is not None
            else None
        )

    def _markers_for(self, info: ModelInfo) -> ReasoningMarkers | None:
        """The reasoning markers ``info`` loads with: --reasoning-tokens for --model's
        model, else its configuration (read at each load, so an edit takes effect)."""
        from mlxk.cache.info import resolve_runnable
        from mlxk.cache.markers import configured

        flag, home = self.settings.reasoning_tokens, self.settings.config_home
        if flag is not None and self.preload_name is not None:
            if self._flagged is None:
                name = self.preload_name
                self._flagged = resolve_runnable(self.residents.hub, name, roots=self.roots).name
            if info.name == self._flagged:
                return flag
        return configured(info.name, info.path, config_home=home)

    # -- read by routes ------------------------------------------------------------
    @property
    def state(self) -> str:
        """ready (a model is loaded, whatever else loads), loading (one is) or idle."""
        states = {slot.state for slot in self.residents.all()}
        return "ready" if "ready" in states else "loading" if "loading" in states else "idle"

    @property
    def loaded_name(self) -> str | None:
        """The most recently used loaded chat model."""
        latest = self.residents.latest
        return latest.name if latest is not None else None

    @property
    def loaded_bytes(self) -> int:
        return self.residents.weight_bytes + self.embedder.weight_bytes

    @property
    def embedding_model(self) -> str | None:
        return self.embedder.name

    def resident_models(self) -> list[dict]:
        """Every loaded model (chat models, least recently used first, then the
        embedding model) with its memory, requests in flight and idle seconds."""
        models = self.residents.describe()
        if self.embedder.name is not None:
            idle = round(self.embedder.idle_seconds, 3)
            models.append(
                {
                    "name": self.embedder.name,
                    "kind": "embedding",
                    "state": "ready",
                    "memory_bytes": self.embedder.weight_bytes,
                    "requests_in_flight": 0,
                    "idle_seconds": idle,
                    "keep_alive": None,
                }
            )
        return models

    @property
    def active(self) -> int:
        return len(self.shared.pending) + self.worker.running

    @property
    def queued(self) -> int:
        return len(self.shared.pending)

    @property
    def prompt_cache_bytes(self) -> int:
        return self.residents.prompt_cache_bytes

    # -- event-loop side -----------------------------------------------------------
    async def start(
        self,
        request: GenerationRequest | EmbedRequest,
        *,
        load_only: bool = False,
        info: ModelInfo | None = None,
    ) -> Job:
        """Queue ``request``; raise ``ServerBusy`` when running plus queued are at the bound.

        A prompt for the loaded model is rendered and tokenized here, on a pool thread,
        while the worker decodes others; one the model refuses fails here, before it is
        queued (``InvalidRequest``, ``ContextLengthExceeded``).
        """
        loop = asyncio.get_running_loop()
        if self.group is not None:
            self.group.admit(request)
        self._check_room()
        pending = Pending(
            request, loop, asyncio.Queue(), threading.Event(), info=info, load_only=load_only
        )
        if isinstance(request, GenerationRequest) and not load_only:
            pending.prepared = await asyncio.to_thread(self._prepare_if_loaded, request)
        with self.shared.cv:
            self._check_room()
            self.shared.pending.append(pending)
            self.shared.last_arrival = time.monotonic()
            self.metrics.requests += 0 if load_only else 1
            self._ensure_worker()
            self.shared.cv.notify()
        return Job(pending.queue, pending.cancelled)

    async def check_model(self, name: str, kind: str | None = "generate") -> ModelInfo | None:
        """Raise what naming ``name`` would (no such model, not runnable, not of ``kind``)
        before a request's own fields are checked against each other: an unknown model
        is a 404 whatever else the request says. Returns what it resolved (None: the
        loaded chat model, known already)."""
        if kind == "generate" and self.residents.serving(name) is not None:
            return None
        from mlxk.cache.info import resolve_runnable

        return await asyncio.to_thread(
            resolve_runnable, self.residents.hub, name, kind=kind, roots=self.roots
        )

    def _check_room(self) -> None:
        if self.shared.aborting:
            raise ServerBusy(self.shared.aborting, retry_after=5)
        if self.active >= self.max_concurrency * self.max_models + self.queue_size:
            raise ServerBusy(
                f"{self.active} requests running or queued; try again shortly",
                retry_after=1,
            )

    def _prepare_if_loaded(self, request: GenerationRequest) -> tuple | None:
        """(loaded model, prompt) when ``request`` names the loaded model, else None."""
        from mlxk.engine.request import prompt_for

        slot = self.residents.serving(request.model)
        loaded = slot.loaded if slot is not None else None
        if loaded is None:
            return None
        try:
            return loaded, prompt_for(loaded, request.messages, request.prompt, request.sampling)
        except MlxkError:
            raise
        except Exception as error:  # noqa: BLE001 - the worker prepares it again and says why
            log.warning("preparing a prompt failed off the worker thread: %s", repr(error))
            return None

    async def preload(self, name: str) -> None:
        """Load ``name`` now (``serve --model``: a chat or an embedding model); raise what
        loading it raised."""
        from mlxk.engine.request import SamplingRequest

        info = await self.check_model(name, kind=None)
        request: GenerationRequest | EmbedRequest
        if info is not None and info.model_type == "embedding":
            request = EmbedRequest(name, [])  # no inputs: load only
        else:
            request = GenerationRequest(name, None, None, SamplingRequest())
        event = await (await self.start(request, load_only=True, info=info)).next()
        if isinstance(event, Refused):
            raise event.error

    def abort_all(self, reason: str) -> None:
        """End every running and queued request with an error (the server is stopping)."""
        with self.shared.cv:
            self.shared.aborting = reason
            self.shared.cv.notify()

    async def shutdown(self) -> None:
        with self.shared.cv:
            self.shared.stopping = True
            self.shared.cv.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _ensure_worker(self) -> None:
        """Start the worker thread, or a new one if it died (it should not: see Worker.run)."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self._thread is not None:
            self.metrics.worker_restarts += 1
            log.error("the model worker thread had stopped; started a new one")
        self._thread = threading.Thread(target=self.worker.run, name="mlxk-model", daemon=True)
        self._thread.start()

    def check_worker(self) -> bool:
        """True if the worker is running or not needed yet; restarts it if it died."""
        with self.shared.cv:
            if self._thread is None or self._thread.is_alive() or self.shared.stopping:
                return True
            self._ensure_worker()
            return False
