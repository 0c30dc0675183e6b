"""The embedding model a server holds beside its chat models, and the requests it answers.

Used only from the model worker thread, between decode steps. An embedding model loads
beside the chat models when all fit the memory bound (the same footprint estimate that
guards chat models); when they do not, idle ones give way, and a busy chat model is
never unloaded for it (the request gets a 503 instead).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxk.cache.info import ModelInfo, resolve_runnable
from mlxk.errors import InsufficientMemory

log = logging.getLogger("mlxk.server")


@dataclass(frozen=True)
class EmbedRequest:
    """What ``/v1/embeddings`` asks of the worker."""

    model: str
    inputs: list  # texts, or token-id lists
    dimensions: int | None = None
    truncate: bool = False
    n = 0  # holds no place in the decoding batch


@dataclass(frozen=True)
class EmbedResult:
    model: str
    vectors: list[list[float]]
    tokens: int


class EmbeddingSlot:
    def __init__(
        self,
        hub: Path,
        *,
        roots: tuple[Path, ...] = (),
        memory_limit: int | None,
        idle_unload: float | None,
    ):
        self.hub = hub
        self.roots = roots
        self.memory_limit = memory_limit
        self.idle_unload = idle_unload
        self.model: Any = None  # engine.embeddings.EmbeddingModel
        self.last_used = time.monotonic()

    @property
    def name(self) -> str | None:
        return self.model.name if self.model is not None else None

    @property
    def weight_bytes(self) -> int:
        return self.model.weight_bytes if self.model is not None else 0

    def run(self, request: EmbedRequest, info: ModelInfo | None, chats: Any) -> EmbedResult:
        """Embed a request's inputs (loading its model beside ``chats``, the resident
        chat models, first)."""
        info = info or resolve_runnable(self.hub, request.model, kind="embed", roots=self.roots)
        facts = info.embedding
        assert facts is not None, "an embedding model has its facts"
        if request.dimensions is not None:
            facts.check_dimensions(request.dimensions)
        self._load(info, chats)
        model = self.model
        if not request.inputs:  # serve --model: load only
            return EmbedResult(model.name, [], 0)
        if isinstance(request.inputs[0], str):
            inputs = model.tokenize(request.inputs)
        else:
            inputs = [list(ids) for ids in request.inputs]
        from mlxk.engine.embeddings import check_inputs

        check_inputs(model, inputs, request.truncate)
        done = model.embed(inputs, dimensions=request.dimensions)
        self.last_used = time.monotonic()
        return EmbedResult(model.name, done.vectors, done.tokens)

    def _load(self, info: ModelInfo, chats: Any) -> None:
        """Load ``info``; idle chat models give way (least recently used first) when it
        does not fit beside them, busy ones never do."""
        from mlxk.engine.embeddings import load_embedding_model
        from mlxk.engine.memory import check_fits, model_bytes

        if self.name == info.name:
            return
        self.unload()
        needed = model_bytes(info.path)
        if self.memory_limit is not None:
            check_fits(info.name, needed, self.memory_limit)  # alone: else unload nothing
        while True:
            # against an explicit bound the chat models count; what is free already lacks them
            beside = chats.weight_bytes if self.memory_limit is not None else 0
            try:
                check_fits(info.name, needed + beside, self.memory_limit)
                break
            except InsufficientMemory:
                if not chats.evict_idle():
                    raise
                log.info("unloaded an idle chat model to make room for %s", info.name)
        log.info("loading %s", info.name, extra={"fields": {"event": "load", "model": info.name}})
        assert info.embedding is not None, "an embedding model has its facts"
        self.model = load_embedding_model(info.name, info.path, info.embedding)

    def unload(self) -> None:
        if self.model is None:
            return
        import gc

        from mlxk.engine.model import release_freed_memory

        name, self.model = self.model.name, None
        gc.collect()
        release_freed_memory()
        log.info("unloaded %s", name, extra={"fields": {"event": "unload", "model": name}})

    @property
    def idle_seconds(self) -> float:
        return time.monotonic() - self.last_used

    def tidy(self) -> None:
        idle = self.idle_seconds
        if self.model is not None and self.idle_unload is not None and idle > self.idle_unload:
            self.unload()
