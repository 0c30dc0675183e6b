"""The chat models a server keeps loaded: up to ``--max-models``, within a memory budget.

Used only from the model worker thread. Each resident model is a
:class:`~mlxk.server.slot.ModelSlot` with its own batch. A request for a model that is
not loaded loads it beside the others when it fits, both in count and in the footprint
estimate that guards every load (against ``--memory-budget``, else what is free). When it
does not fit, the least recently used idle model is unloaded first, then the next; a
model with requests in flight is never unloaded, so a request that still does not fit
waits until one goes idle. With one model allowed (the default) this is a swap.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxk.cache.info import ModelInfo, resolve_runnable
from mlxk.errors import GroupUnavailable, InsufficientMemory, ModelNotFound
from mlxk.server.slot import ModelSlot

log = logging.getLogger("mlxk.server")
TRIM_AFTER_S = 1.0  # idle this long: give what finished requests freed back to the OS


@dataclass
class Evictions:
    """Models unloaded to make room, by why: the model count, or the memory budget."""

    max_models: int = 0
    memory: int = 0
    last: dict | None = field(default=None)  # {"model", "for", "reason"}


class Residents:
    def __init__(
        self,
        hub: Path,
        *,
        roots: tuple[Path, ...] = (),
        max_models: int = 1,
        budget: int | None = None,
        max_sequences: int,
        cache_bytes: int,
        idle_unload: float | None,
        markers_for: Callable[[ModelInfo], Any] = lambda info: None,
        cpu_float32: str = "auto",
        group: Any = None,
    ):
        self.hub = hub
        self.roots = roots  # where model folders may be named from (--model-dir)
        self.max_models = max(1, max_models)
        self.budget = budget  # bytes for every loaded model together; None: what is free
        self.max_sequences = max_sequences
        self.cache_bytes = cache_bytes
        self.idle_unload = idle_unload
        self.markers_for = markers_for  # the reasoning markers configured for a model
        self.cpu_float32 = cpu_float32  # --cpu-float32
        self.group = group  # engine.distributed.Group: one model, sharded over its ranks
        self.group_model: str | None = None  # that model's name, once resolved
        # by name, least recently used first; the event loop reads it (through list(),
        # which copies under the GIL), the worker thread alone changes it
        self.slots: OrderedDict[str, ModelSlot] = OrderedDict()
        self._plans: dict[str, Any] = {}  # how models waiting to load will run (Precision)
        self.beside: Any = None  # the server's EmbeddingSlot (weight_bytes, unload)
        self.loads = 0
        self.evictions = Evictions()
        self._resolved: dict[str, ModelInfo] = {}
        self._trimmed = True

    # -- names ---------------------------------------------------------------------
    def resolve(self, name: str) -> ModelInfo:
        """The model a request names. Names of resident models are remembered while they
        stay loaded and their files exist: a full resolve reads and checks the files,
        milliseconds that every request of a burst would wait for in turn."""
        info = self._resolved.get(name)
        if info is not None and info.snapshot_path is not None and info.snapshot_path.is_dir():
            return info
        info = resolve_runnable(self.hub, name, roots=self.roots)
        if self.group is not None:
            self._only_the_group_model(name, info)
        if info.name in self.slots:
            self._resolved[name] = info
        return info

    def _only_the_group_model(self, name: str, info: ModelInfo) -> None:
        """A group runs the one model every rank loaded: refuse any other."""
        if self.group_model is None:
            self.group_model = info.name
        elif info.name != self.group_model:
            raise ModelNotFound(
                f"{name}: this server runs {self.group_model} sharded over"
                f" {self.group.size} ranks, and no other model"
            )

    def serving(self, name: str) -> ModelSlot | None:
        """The loaded slot ``name`` is already known to name (no file access), if any."""
        info = self._resolved.get(name)
        slot = self.slots.get(info.name) if info is not None else None
        return slot if slot is not None and slot.loaded is not None else None

    # -- what is loaded ------------------------------------------------------------
    def all(self) -> list[ModelSlot]:
        """The resident models, least recently used first (a copy: safe from any thread)."""
        return list(self.slots.values())

    @property
    def weight_bytes(self) -> int:
        return sum(slot.weight_bytes for slot in self.all())

    @property
    def latest(self) -> ModelSlot | None:
        """The most recently used model that is ready."""
        return next((s for s in reversed(self.all()) if s.state == "ready"), None)

    def busy(self) -> list[ModelSlot]:
        return [slot for slot in self.all() if slot.active]

    def get(self, info: ModelInfo) -> ModelSlot | None:
        slot = self.slots.get(info.name)
        if slot is not None:
            self.used(slot)
            self._resolved.setdefault(info.name, info)
        return slot

    def used(
        self, slot: ModelSlot, keep_alive: float | None = None, *, request: bool = False
    ) -> None:
        """``slot`` was used now (a request admitted, with its keep_alive, or a step taken):
        it becomes the most recently used."""
        if request:
            slot.keep_alive = keep_alive  # each request sets it; none: --idle-unload
        slot.last_used = time.monotonic()
        if slot.name in self.slots:
            self.slots.move_to_end(slot.name)

    def place(self, info: ModelInfo) -> ModelSlot | None:
        """Load ``info`` beside the resident models, unloading idle ones (least recently
        used first) while it does not fit; None when it must wait for a busy one.

        Raises:
            InsufficientMemory: it does not fit even with nothing else loaded.
        """
        from mlxk.engine.precision import plan_here

        if self.group is not None:
            return self._place_shard(info)
        precision = self._plans.get(info.name)
        if precision is None:  # asked again after each step while it waits: planned once
            busy = sum(s.weight_bytes for s in self.all() if s.active)
            room = self.budget - busy if self.budget is not None else None  # idle ones may go
            precision = plan_here(info.path, self.cpu_float32, room)
            self._plans[info.name] = precision
        needed = precision.bytes  # the float32 copy's bytes when it runs from one
        try:
            self._refuse_if_never_fits(info.name, needed)
        except InsufficientMemory:
            self._plans.pop(info.name, None)
            raise
        while not self._fits(info.name, needed):
            if not self._evict_for(info.name):
                if self.busy():
                    return None
                self._fits(info.name, needed, refuse=True)  # raises why it never fits
        self._plans.pop(info.name, None)
        slot = ModelSlot(info, needed, idle_unload=self.idle_unload)
        slot.precision = precision
        return self._load(slot, info)

    def _place_shard(self, info: ModelInfo) -> ModelSlot:
        """Load this rank's shard of the group's model (it has no other), once: the other
        ranks load theirs when they start, never again."""
        from mlxk.engine.memory import model_bytes

        if self.loads:
            raise GroupUnavailable("the distributed group's model was lost; the group restarts")
        slot = ModelSlot(info, model_bytes(info.path) // self.group.size, idle_unload=None)
        slot.group = self.group
        return self._load(slot, info)

    def _load(self, slot: ModelSlot, info: ModelInfo) -> ModelSlot:
        """Make ``slot`` resident and load its model (as its precision and group say)."""
        self.slots[info.name] = slot
        self._resolved[info.name] = info
        try:
            slot.load(
                self.markers_for(info),
                slot.precision,
                max_sequences=self.max_sequences,
                cache_bytes=self.cache_bytes,
            )
        except BaseException:
            self.drop(slot)
            raise
        self.loads += 1
        return slot

    def _refuse_if_never_fits(self, name: str, needed: int) -> None:
        """Refuse a model that would not fit even with every idle model unloaded, before
        unloading any: naming a huge model must not flush the ones in use."""
        from mlxk.engine.memory import available_bytes, check_fits

        if self.budget is not None:
            check_fits(name, needed, self.budget)  # the budget alone
        free = available_bytes()
        if free is None:
            return
        reclaimable = sum(s.weight_bytes for s in self.all() if not s.active)
        reclaimable += self.beside.weight_bytes if self.beside is not None else 0
        check_fits(name, needed, free + reclaimable)

    def _fits(self, name: str, needed: int, *, refuse: bool = False) -> bool:
        """True if ``name`` fits now: in the count, in the budget beside every loaded
        model, and in what is free (a budget is a bound, not a promise)."""
        from mlxk.engine.memory import check_fits

        if len(self.slots) >= self.max_models and not refuse:
            return False
        beside = self.beside.weight_bytes if self.beside is not None else 0
        try:
            if self.budget is not None:
                check_fits(name, needed + self.weight_bytes + beside, self.budget)
            check_fits(name, needed)  # against what is free, which lacks the loaded ones
        except InsufficientMemory:
            if refuse:
                raise
            return False
        return True

    def _evict_for(self, name: str) -> bool:
        """Unload one idle model (the least recently used) to make room for ``name``."""
        reason = "max_models" if len(self.slots) >= self.max_models else "memory"
        if reason == "memory" and self.beside is not None and self.beside.weight_bytes:
            self.beside.unload()  # an idle embedding model gives way first
            return True
        idle = self._least_recently_used_idle()
        if idle is None:
            return False
        if reason == "memory":
            self.evictions.memory += 1
            log.warning(
                "the memory budget does not hold %s beside %s: unloading %s (swapping)",
                name,
                ", ".join(self.slots),
                idle.name,
            )
        else:
            self.evictions.max_models += 1
        self.evictions.last = {"model": idle.name, "for": name, "reason": reason}
        self.drop(idle)
        return True

    def _least_recently_used_idle(self) -> ModelSlot | None:
        idle = [slot for slot in self.all() if not slot.active]
        return min(idle, key=lambda slot: slot.last_used, default=None)

    def evict_idle(self) -> bool:
        """Unload the least recently used idle model (an embedding model needs room)."""
        idle = self._least_recently_used_idle()
        if idle is not None:
            self.drop(idle)
        return idle is not None

    def drop(self, slot: ModelSlot) -> None:
        slot.unload()
        self.slots.pop(slot.name, None)
        self._resolved = {k: v for k, v in self._resolved.items() if v.name in self.slots}

    def unload_all(self) -> None:
        for slot in self.all():
            self.drop(slot)

    def tidy(self, *, idle: bool, wanted: frozenset[str] = frozenset()) -> None:
        """Unload models idle past their keep_alive (not one that queued requests
        ``wanted``); while the worker is ``idle`` also give what finished requests freed
        back to the OS, once."""
        for slot in [s for s in self.all() if s.expired and s.name not in wanted]:
            self.drop(slot)
            self._trimmed = True  # unloading gave it back
        if not idle:
            self._trimmed = False
            return
        quiet = min((s.idle_seconds for s in self.all()), default=TRIM_AFTER_S + 1)
        if quiet > TRIM_AFTER_S and not self._trimmed:
            from mlxk.engine.model import release_freed_memory

            release_freed_memory()
            self._trimmed = True

    @property
    def prompt_cache_bytes(self) -> int:
        return sum(slot.prompt_cache_bytes for slot in self.all())

    def describe(self) -> list[dict]:
        """Each resident model, for /health and /v1/models."""
        return [
            {
                "name": slot.name,
                "kind": "chat",
                "state": slot.state,
                "memory_bytes": slot.weight_bytes,
                "requests_in_flight": len({id(job) for job in list(slot.active.values())}),
                "idle_seconds": round(slot.idle_seconds, 3),
                "keep_alive": _seconds(slot.keep_alive),
                "weights": slot.precision.label if slot.precision else None,
                "weights_reason": slot.precision.reason if slot.precision else None,
            }
            for slot in self.all()
        ]


def _seconds(value: float | None) -> float | None:
    """keep_alive for JSON: -1 for "keep loaded" (JSON has no infinity)."""
    if value is None:
        return None
    return -1.0 if value == float("inf") else value
