"""One resident chat model: loaded once, its own continuous batch and running requests,
and how long it may stay loaded without them.

Used only from the model worker thread, through :class:`mlxk.server.resident.Residents`,
which decides what is loaded and what gives way.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from mlxk.cache.info import ModelInfo

log = logging.getLogger("mlxk.server")


class ModelSlot:
    def __init__(self, info: ModelInfo, weight_bytes: int, *, idle_unload: float | None):
        self.info = info
        self.name = info.name
        self.weight_bytes = weight_bytes  # the footprint estimate it was admitted with
        self.idle_unload = idle_unload
        self.keep_alive: float | None = None  # the last request's keep_alive (None: default)
        self.state = "loading"  # loading | ready | unloaded
        self.loaded: Any = None  # engine.model.LoadedModel
        self.batch: Any = None  # engine.batch.Batch
        self.active: dict[int, Any] = {}  # batch uid -> its Pending job
        self.precision: Any = None  # engine.precision.Precision: how its weights run
        self.group: Any = None  # engine.distributed.Group, when sharded over a group
        self.rank_bytes: list[int] = []  # each rank's share of it, in a group
        self.last_used = time.monotonic()

    def load(self, markers: Any, precision: Any, *, max_sequences: int, cache_bytes: int) -> None:
        """Load the model with its reasoning ``markers``, its weights as ``precision``
        says (a float32 copy, or as stored), and start its batch; in a group, this rank's
        shard, and a batch the other ranks follow."""
        from mlxk.engine.batch import Batch
        from mlxk.engine.model import load

        fields = {"event": "load", "model": self.name}
        if precision is not None:
            fields |= {"weights": precision.label, "weights_reason": precision.reason}
        how = f" ({precision.label}: {precision.reason})" if precision is not None else ""
        log.info("loading %s%s", self.name, how, extra={"fields": fields})
        try:
            if self.group is not None:
                self._load_shard(markers, max_sequences=max_sequences, cache_bytes=cache_bytes)
            else:
                self.loaded = load(self.info.path, markers, precision)
                self.batch = Batch(
                    self.loaded, max_sequences=max_sequences, cache_bytes=cache_bytes
                )
        except BaseException:
            self.unload()
            raise
        self.state = "ready"

    def _load_shard(self, markers: Any, *, max_sequences: int, cache_bytes: int) -> None:
        from mlxk.engine.distributed import load_shard
        from mlxk.engine.lockstep import LeaderBatch, group_batch

        self.loaded, self.rank_bytes = load_shard(self.info.path, self.group, markers)
        self.weight_bytes = self.rank_bytes[0]
        batch = group_batch(
            self.loaded, self.rank_bytes, max_sequences=max_sequences, cache_bytes=cache_bytes
        )
        self.batch = LeaderBatch(batch, self.group, stop_followers=False)

    def unload(self) -> None:
        if self.batch is not None:
            self.batch.close()
            self.batch = None
        if self.loaded is not None:
            from mlxk.engine.model import unload

            unload(self.loaded)
            log.info(
                "unloaded %s", self.name, extra={"fields": {"event": "unload", "model": self.name}}
            )
        self.loaded = None
        self.state = "unloaded"

    @property
    def idle_seconds(self) -> float:
        return 0.0 if self.active else time.monotonic() - self.last_used

    @property
    def expired(self) -> bool:
        """Idle past its keep_alive (else --idle-unload); never while it has requests."""
        limit = self.keep_alive if self.keep_alive is not None else self.idle_unload
        if self.group is not None:  # every rank holds it: it stays for the group's life
            return False
        if self.active or limit is None or math.isinf(limit):
            return False
        return self.idle_seconds >= limit

    @property
    def prompt_cache_bytes(self) -> int:
        return self.batch.cache_bytes if self.batch is not None else 0
