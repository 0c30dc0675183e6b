"""The one chat model a server holds: load, swap, idle unload, and memory handed back.

Used only from the model worker thread. Loading checks the estimated footprint first
(beside the embedding model, if one is loaded: it gives way when both do not fit) and
frees the previous model before the new one loads, so two are never resident.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlxk.cache.info import ModelInfo, resolve_runnable

log = logging.getLogger("mlxk.server")
TRIM_AFTER_S = 1.0  # idle this long: give what finished requests freed back to the OS


class ModelSlot:
    def __init__(
        self,
        hub: Path,
        *,
        roots: tuple[Path, ...] = (),
        max_sequences: int,
        cache_bytes: int,
        idle_unload: float | None,
        memory_limit: int | None,
        markers_for: Callable[[ModelInfo], Any] = lambda info: None,
    ):
        self.hub = hub
        self.markers_for = markers_for  # the reasoning markers configured for a model
        self.roots = roots  # where model folders may be named from (--model-dir)
        self.max_sequences = max_sequences
        self.cache_bytes = cache_bytes
        self.idle_unload = idle_unload
        self.memory_limit = memory_limit
        self.state = "idle"  # idle | loading | ready
        self.loaded: Any = None  # engine.model.LoadedModel
        self.name: str | None = None
        self.weight_bytes = 0
        self.batch: Any = None  # engine.batch.Batch
        self.beside: Any = None  # the server's EmbeddingSlot (weight_bytes, unload)
        self.last_used = time.monotonic()
        self._trimmed = True
        self._resolved: dict[str, ModelInfo] = {}

    def resolve(self, name: str) -> ModelInfo:
        """The cache entry a request names. The loaded model's names are remembered while
        it stays loaded and its snapshot exists: a full resolve reads and checks its files,
        milliseconds that every request of a burst would wait for in turn."""
        info = self._resolved.get(name)
        if info is not None and info.snapshot_path is not None and info.snapshot_path.is_dir():
            return info
        info = resolve_runnable(self.hub, name, roots=self.roots)
        if info.name == self.name:
            self._resolved[name] = info
        return info

    def serves(self, name: str) -> bool:
        """True if ``name`` is already known to name the loaded model (no file access)."""
        info = self._resolved.get(name)
        return info is not None and info.name == self.name and self.loaded is not None

    def load(self, info: ModelInfo) -> None:
        """Make ``info`` the loaded model, freeing the current one first.

        Raises:
            InsufficientMemory: its estimated footprint does not fit.
        """
        from mlxk.engine.batch import Batch
        from mlxk.engine.memory import check_fits, model_bytes
        from mlxk.engine.model import load
        from mlxk.errors import InsufficientMemory

        self.unload()
        needed = model_bytes(info.path)
        # against an explicit bound the embedding model counts; what is free already lacks it
        loaded = self.beside is not None and self.beside.weight_bytes > 0
        beside = self.beside.weight_bytes if loaded and self.memory_limit is not None else 0
        try:
            check_fits(info.name, needed + beside, self.memory_limit)
        except InsufficientMemory:
            if not loaded:
                raise
            self.beside.unload()  # it is idle: embeddings run between decode steps
            check_fits(info.name, needed, self.memory_limit)
        self.state = "loading"
        log.info("loading %s", info.name, extra={"fields": {"event": "load", "model": info.name}})
        try:
            self.loaded = load(info.path, self.markers_for(info))
            self.name = info.name
            self.weight_bytes = needed
            self.batch = Batch(
                self.loaded, max_sequences=self.max_sequences, cache_bytes=self.cache_bytes
            )
        finally:
            self.state = "ready" if self.loaded is not None else "idle"

    def unload(self) -> None:
        if self.batch is not None:
            self.batch.close()
            self.batch = None
        if self.loaded is not None:
            from mlxk.engine.model import unload

            unload(self.loaded)
            fields = {"event": "unload", "model": self.name}
            log.info("unloaded %s", self.name, extra={"fields": fields})
        self.loaded, self.name, self.weight_bytes = None, None, 0
        self._resolved.clear()
        self.state = "idle"

    def used(self) -> None:
        self.last_used = time.monotonic()
        self._trimmed = False

    def tidy(self) -> None:
        """While idle: unload after --idle-unload, else give freed memory back once."""
        idle = time.monotonic() - self.last_used
        if self.loaded is not None and self.idle_unload is not None and idle > self.idle_unload:
            self.unload()
        elif idle > TRIM_AFTER_S and not self._trimmed:
            from mlxk.engine.model import release_freed_memory

            release_freed_memory()
            self._trimmed = True

    @property
    def prompt_cache_bytes(self) -> int:
        return self.batch.cache_bytes if self.batch is not None else 0
