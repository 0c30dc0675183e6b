"""A model sharded over the ranks of an MLX distributed group (``mlx.launch``).

Every rank loads the same model directory lazily and keeps only its shard: tensor
sharding (mlx-lm's ``Model.shard``: each layer's matrices split across the ranks, an
``all_sum`` per layer joins them) or pipeline sharding (``model.pipeline``: each rank runs
a run of layers and hands the hidden state on). Rank 0 decides what runs; it sends each
step's decisions to the others through :class:`Exchange`, so every rank makes the same
calls in the same order (see :mod:`mlxk.engine.lockstep`).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlxk.errors import ModelNotRunnable, UsageError


@dataclass
class Group:
    """This process's place in the group, and what the group shares."""

    handle: Any  # mlx.core.distributed.Group
    backend: str
    sharding: str
    exchange: Exchange = field(init=False)

    def __post_init__(self) -> None:
        self.exchange = Exchange(self.handle)

    @property
    def rank(self) -> int:
        return int(self.handle.rank())

    @property
    def size(self) -> int:
        return int(self.handle.size())


def join(backend: str, sharding: str) -> Group:
    """Join the group ``mlx.launch`` started this process in (its rank and peers come
    from the environment the launcher set)."""
    from mlxk.engine.blas import use_fast_blas

    use_fast_blas()  # before mlx's import, as every mlxk process that computes
    import mlx.core as mx

    handle = mx.distributed.init(strict=True, backend=backend)
    return Group(handle, backend, sharding)


def sharding_support(config: dict) -> tuple[str, ...]:
    """The shardings mlx-lm's class for this model type implements (may be none)."""
    from mlx_lm.utils import _get_classes

    try:
        model_class, _ = _get_classes(config)
    except (ValueError, ImportError, KeyError):
        return ()
    found = []
    if hasattr(model_class, "shard"):
        found.append("tensor")
    module = importlib.import_module(model_class.__module__)
    from mlx_lm.models.pipeline import PipelineMixin

    if any(
        isinstance(obj, type) and issubclass(obj, PipelineMixin) and obj is not PipelineMixin
        for obj in vars(module).values()
    ):
        found.append("pipeline")
    return tuple(found)


def choose_sharding(config: dict, wanted: str | None, size: int) -> str:
    """``wanted`` if the model supports it; with none wanted, tensor where it can, else
    pipeline.

    Raises:
        ModelNotRunnable: the model supports neither (the message names its type).
        UsageError: it lacks the one wanted, or its heads or layers do not divide
            among ``size`` ranks.
    """
    model_type = config.get("model_type", "unknown")
    support = sharding_support(config)
    if not support:
        raise ModelNotRunnable(
            f"model type {model_type!r} cannot be sharded: mlx-lm's class for it has"
            " neither tensor (shard) nor pipeline support"
        )
    if wanted is not None and wanted not in support:
        raise UsageError(
            f"model type {model_type!r} has no {wanted} sharding in mlx-lm"
            f" (it has: {', '.join(support)})"
        )
    sharding = wanted or support[0]
    _check_divides(config, sharding, size)
    return sharding


def _check_divides(config: dict, sharding: str, size: int) -> None:
    from mlxk.configs import layer_count_of

    inner = config.get("text_config")
    text: dict = inner if isinstance(inner, dict) else config
    if sharding == "pipeline":
        layers = layer_count_of(config)
        if layers and layers < size:
            raise UsageError(f"{layers} layers cannot be split in a pipeline of {size} ranks")
        return
    for key in ("num_attention_heads", "num_key_value_heads"):
        heads = text.get(key)
        if isinstance(heads, int) and heads % size:
            raise UsageError(
                f"{key} = {heads} does not divide among {size} ranks for tensor sharding"
                " (use --sharding pipeline, or a group size that divides it)"
            )


def sharder(group: Group) -> Callable[[Any], None]:
    """What shards a lazily loaded mlx-lm model for this rank."""

    def shard(model: Any) -> None:
        if group.sharding == "tensor":
            model.shard(group.handle)
        else:
            model.model.pipeline(group.handle)

    return shard


def gather(group: Group, value: int) -> list[int]:
    """``value`` from every rank, by rank."""
    import mlx.core as mx
    from mlx_lm.generate import generation_stream

    row = mx.zeros((group.size,), dtype=mx.int64)
    row[group.rank] = value
    total = mx.distributed.all_sum(row, group=group.handle, stream=generation_stream)
    values: Any = total.tolist()
    return [int(v) for v in values]


class Exchange:
    """Rank 0's messages to every rank, through the group's ``all_sum`` (the other ranks
    add zeros): one sum of a fixed block holding the length and, for a short message
    (every plain step), the message itself; a longer one sends its rest in a second sum.
    A call returns once every rank has reached it, so its time is the step's wait for the
    slowest rank plus the transfer: what :attr:`seconds` adds up as the group's
    collective time outside the model.

    The sums run on mlx-lm's generation stream, the stream of the model's own
    collectives: on one stream they run in the order submitted, the same on every rank;
    on two, a rank could pair its message with a peer's layer sum."""

    INLINE = 252  # message bytes carried in the first sum

    def __init__(self, handle: Any):
        self._handle = handle
        self.seconds = 0.0
        self.calls = 0

    def share(self, payload: bytes | None) -> bytes:
        """Rank 0 passes its ``payload``; every rank gets it back.

        Raises:
            RuntimeError: a peer was lost (the backend's own error).
        """
        import numpy as np

        started = time.perf_counter()
        mine = payload if self._handle.rank() == 0 and payload is not None else b""
        block = np.zeros(4 + self.INLINE, np.uint8)
        block[:4] = np.frombuffer(len(mine).to_bytes(4, "little"), np.uint8)
        head = mine[: self.INLINE]
        block[4 : 4 + len(head)] = np.frombuffer(head, np.uint8)
        summed = self._sum(block)
        size = int.from_bytes(summed[:4].tobytes(), "little")
        data = summed[4 : 4 + min(size, self.INLINE)].tobytes()
        if size > self.INLINE:
            rest = mine[self.INLINE :]
            tail = np.frombuffer(rest, np.uint8) if rest else np.zeros(size - self.INLINE, np.uint8)
            data += self._sum(tail).tobytes()
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return data

    def _sum(self, row: Any) -> Any:
        import mlx.core as mx
        import numpy as np
        from mlx_lm.generate import generation_stream

        total = mx.distributed.all_sum(mx.array(row), group=self._handle, stream=generation_stream)
        return np.array(total, copy=False)


def load_shard(path: Any, group: Group, markers: Any = None) -> tuple[Any, list[int]]:
    """Load this rank's shard of the model at ``path`` (every rank calls this together);
    returns it and each rank's parameter bytes, by rank."""
    from mlxk.engine.model import load, parameter_bytes

    loaded = load(path, markers, shard=sharder(group))
    return loaded, gather(group, parameter_bytes(loaded.model))
