"""KV caches that join mlx-lm's decoding batch with room to grow.

mlx-lm merges the KV caches of sequences joining its batch into buffers exactly as long
as the longest of them, so the batch's first decode step reallocates every layer's
buffer (256 more positions, zeroed, the old ones copied over); and it then takes the
merged batch apart and puts it back together (``split``, which gathers every row of
every buffer even when all of them stay): the batch's first step cost about twice a
decode step.

A sequence's cache is handed to the generator as a :class:`JoiningKVCache` (the same
arrays, no copy): mlx-lm merges caches by calling ``merge`` on the first one's class,
and this one merges into buffers already holding the next 256 positions, as a
:class:`RoomyBatchKVCache`, whose ``filter`` keeps every row without copying them when
that is what it is asked to keep. Everything else is mlx-lm's own code.
"""

from __future__ import annotations

from typing import Any

from mlx_lm.models.cache import BatchKVCache, KVCache

from mlxk.engine.compat import set_write_position


class RoomyBatchKVCache(BatchKVCache):
    """mlx-lm's batch KV cache, made by :meth:`merge_with_room`; a filter that keeps
    every row in place keeps the buffers as they are."""

    @classmethod
    def merge_with_room(cls, caches: list) -> BatchKVCache:
        """Left-pad ``caches`` (plain KV caches) into one batch cache whose buffers hold
        their longest plus the rest of a ``step`` (at least one position) for decoding."""
        import mlx.core as mx

        lengths = [c.size() for c in caches]
        longest = max(lengths)
        if longest == 0:
            return BatchKVCache.merge(caches)
        filled = next(c for c in caches if c.keys is not None)
        keys0, values0 = filled.keys, filled.values
        size = (longest // cls.step + 1) * cls.step
        batch = len(caches)
        keys = mx.zeros((batch, keys0.shape[1], size, keys0.shape[3]), dtype=keys0.dtype)
        values = mx.zeros((batch, values0.shape[1], size, values0.shape[3]), dtype=values0.dtype)
        padding = [longest - length for length in lengths]
        for row, (pad, cache) in enumerate(zip(padding, caches, strict=True)):
            if cache.keys is None:
                continue
            keys[row : row + 1, :, pad:longest] = cache.keys[..., : cache.offset, :]
            values[row : row + 1, :, pad:longest] = cache.values[..., : cache.offset, :]
        merged: Any = cls(padding)
        merged.keys, merged.values = keys, values
        merged.offset += longest
        set_write_position(merged, longest)
        return merged

    def filter(self, batch_indices: Any) -> None:
        rows = self.offset.shape[0]
        padding: Any = self.left_padding.tolist()
        if list(batch_indices) == list(range(rows)) and min(padding) == 0:
            return  # keeps every row where it is: the buffers stay as they are
        super().filter(batch_indices)


class JoiningKVCache(KVCache):
    """A plain KV cache whose class merges with room (see the module's docstring)."""

    @classmethod
    def merge(cls, caches: list):
        if all(_plain(c) for c in caches):
            return RoomyBatchKVCache.merge_with_room(caches)
        return BatchKVCache.merge(caches)

    @classmethod
    def joining(cls, layers: list | None) -> list | None:
        """The same layers (sharing their arrays) as :class:`JoiningKVCache`, where all
        are plain KV caches; other layers, or None (no cache), are returned as they are."""
        if not layers or not all(_plain(layer) for layer in layers):
            return layers
        joined = []
        for layer in layers:
            copy = cls()
            copy.keys, copy.values, copy.offset = layer.keys, layer.values, layer.offset
            joined.append(copy)
        return joined


def _plain(cache: Any) -> bool:
    """A KV cache of one sequence with nothing but keys, values and an offset."""
    return type(cache) in (KVCache, JoiningKVCache)
