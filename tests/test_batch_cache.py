"""KV caches joining the decoding batch: what mlx-lm's merge holds, with room to decode."""

from __future__ import annotations

import mlx.core as mx
import pytest
from mlx_lm.models.cache import BatchKVCache, KVCache

from mlxk.engine.batch_cache import JoiningKVCache, RoomyBatchKVCache
from mlxk.engine.compat import generation_batch

HEADS, DIM = 2, 4


def _filled(length: int, seed: int) -> KVCache:
    cache = KVCache()
    if length:
        mx.random.seed(seed)
        keys = mx.random.normal((1, HEADS, length, DIM))
        cache.update_and_fetch(keys, keys * 2)
    return cache


def _rows(lengths):
    return [_filled(length, seed) for seed, length in enumerate(lengths)]


def _same(ours: BatchKVCache, theirs: BatchKVCache) -> bool:
    mine, other = ours.keys_and_values(), theirs.keys_and_values()
    return (
        all(
            a.shape == b.shape and mx.array_equal(a, b).item()
            for a, b in zip(mine, other, strict=True)
        )
        and ours.left_padding.tolist() == theirs.left_padding.tolist()
        and ours.offset.tolist() == theirs.offset.tolist()
        and ours._idx == theirs._idx
    )


# spec: SCALE-BATCH
@pytest.mark.parametrize("lengths", [[3, 7, 0, 5], [1], [255, 2], [256, 40]])
def test_a_merge_with_room_holds_what_mlx_lms_merge_holds(lengths):
    """The rows, their left padding and offsets are mlx-lm's; the buffers already hold the
    next positions, so decode steps write into them instead of reallocating them, and
    read what mlx-lm's cache reads."""
    ours = JoiningKVCache.merge(JoiningKVCache.joining(_rows(lengths)))
    theirs = BatchKVCache.merge(_rows(lengths))
    assert type(ours) is RoomyBatchKVCache
    assert _same(ours, theirs)
    size = ours.keys.shape[2]
    assert size % BatchKVCache.step == 0 and size > max(lengths)
    for step in range(size - max(lengths)):
        mx.random.seed(100 + step)
        new = mx.random.normal((len(lengths), HEADS, 1, DIM))
        for cache in (ours, theirs):
            cache.update_and_fetch(new, -new)
        assert ours.keys.shape[2] == size, f"reallocated at step {step}"
    assert _same(ours, theirs)
    masks = [cache.make_mask(1, return_array=True) for cache in (ours, theirs)]
    assert mx.array_equal(*masks)


def test_a_filter_keeping_every_row_keeps_the_buffers():
    """Keeping every row in place copies nothing; keeping some does what mlx-lm does."""
    ours = JoiningKVCache.merge(JoiningKVCache.joining(_rows([3, 7, 5])))
    buffer = ours.keys
    ours.filter([0, 1, 2])
    assert ours.keys is buffer
    theirs = BatchKVCache.merge(_rows([3, 7, 5]))
    for cache in (ours, theirs):
        cache.filter([0, 2])  # the longest leaves: the rest shift left
    assert _same(ours, theirs)
    assert ours.left_padding.tolist() == [2, 0]


def test_caches_that_are_not_plain_kv_caches_are_left_to_mlx_lm():
    from mlx_lm.models.cache import RotatingKVCache

    rotating = [RotatingKVCache(max_size=8)]
    assert JoiningKVCache.joining(rotating) is rotating
    assert JoiningKVCache.joining([]) == []
    mixed = [JoiningKVCache.joining([_filled(3, 0)])[0], _filled(2, 1)]
    assert type(JoiningKVCache.merge(mixed)) is RoomyBatchKVCache
    empty = JoiningKVCache.merge(JoiningKVCache.joining(_rows([0, 0])))
    assert type(empty) is BatchKVCache and empty.keys is None


def test_the_generator_merges_joining_caches_with_room(tmp_path):
    """mlx-lm's generator merges the caches of sequences joining its batch through the
    first one's class: if it stops doing so, the first decode step of every batch
    reallocates its buffers again (this test is the alarm)."""
    from mlxk.engine.batch import Batch
    from mlxk.engine.chat import raw_prompt
    from mlxk.engine.generate import GenerationParams
    from mlxk.engine.model import loaded_model
    from mlxk.testing.synthetic import write_synthetic

    _, repo = write_synthetic(tmp_path / "hub", "tiny")
    with loaded_model(repo.snapshot) as loaded:
        batch = Batch(loaded, max_sequences=4, cache_bytes=0)
        for text in ("the sea", "a cat and a dog"):
            batch.add(raw_prompt(loaded, text), GenerationParams(max_tokens=6))
        batch.step()  # the prefill
        batch.step()  # the sequences join the generator's batch
        layers = list(generation_batch(batch._generator).prompt_cache)
        sizes = [layer.keys.shape[2] for layer in layers]
        while len(batch):
            batch.step()
        batch.close()
    assert layers and all(type(layer) is RoomyBatchKVCache for layer in layers)
    assert all(size % BatchKVCache.step == 0 for size in sizes), sizes
