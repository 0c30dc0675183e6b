"""The server's prompt cache index answers as mlx-lm's own trie does, after any sequence
of stores, evictions and prefix removals."""

from __future__ import annotations

import random

import pytest

from mlxk.engine.prompt_index import prompt_cache, shortest_with_prefix

MODEL = "/models/a"


def _chats(rng: random.Random, count: int) -> list[list[int]]:
    """Token sequences shaped like chats: a few shared system prompts, then turns that
    sometimes continue an earlier chat (so some sequences are prefixes of others)."""
    headers = [[1, 2, 3] + [rng.randrange(4, 9)] * rng.randrange(0, 6) for _ in range(3)]
    chats: list[list[int]] = []
    for _ in range(count):
        if chats and rng.random() < 0.3:
            base = list(rng.choice(chats))
        else:
            base = list(rng.choice(headers))
        chats.append(base + [rng.randrange(4, 12) for _ in range(rng.randrange(1, 12))])
    return chats


def _search_fields(result):
    return result.exact, result.shorter, result.common_prefix


@pytest.mark.parametrize("seed", range(6))
def test_the_index_finds_what_mlx_lms_trie_finds(seed):
    from mlx_lm.models.cache import PromptTrie

    rng = random.Random(seed)
    ours, theirs = prompt_cache(max_size=64, max_bytes=1 << 40)._trie, PromptTrie()
    held: list[list[int]] = []
    for tokens in _chats(rng, 120):
        action = rng.random()
        if held and action < 0.2:
            victim = held.pop(rng.randrange(len(held)))
            assert ours.pop(MODEL, victim) == theirs.pop(MODEL, victim)
        elif held and action < 0.3:
            longest = max(held, key=len)
            assert ours.pop_prefixes(MODEL, longest) == theirs.pop_prefixes(MODEL, longest)
            held = [h for h in held if h == longest or h != longest[: len(h)]]
        else:
            value = object()
            assert (ours.add(MODEL, tokens, value) is None) == (
                theirs.add(MODEL, tokens, value) is None
            )
            if tokens not in held:
                held.append(tokens)
        assert sorted(ours.sequences[MODEL]) == sorted(tuple(h) for h in held)
        for query in _chats(rng, 4) + [rng.choice(held)[:-1] if held else [1]]:
            mine, reference = ours.search(MODEL, query), theirs.search(MODEL, query)
            assert _search_fields(mine) == _search_fields(reference), query
            if reference.longer is None:
                assert mine.longer is None
                continue
            # a shortest cached sequence through the same path (ties may differ)
            assert len(mine.longer) == len(reference.longer)
            assert mine.longer[: mine.common_prefix] == query[: mine.common_prefix]
            assert tuple(mine.longer) in ours.sequences[MODEL]


def test_the_cache_fetches_as_mlx_lms_does_through_evictions():
    from mlx_lm.models.cache import KVCache, LRUPromptCache

    rng = random.Random(7)
    ours, theirs = prompt_cache(max_size=12, max_bytes=1 << 40), LRUPromptCache(max_size=12)
    for tokens in _chats(rng, 200):
        for cache in (ours, theirs):
            cache.insert_cache(MODEL, list(tokens), [KVCache()])
        assert len(ours) == len(theirs) == len(ours._trie.sequences[MODEL])
        query = rng.choice(_chats(rng, 3))
        assert (
            ours.fetch_nearest_cache(MODEL, query)[1] == theirs.fetch_nearest_cache(MODEL, query)[1]
        )


def test_shortest_with_prefix():
    held = {(1, 2, 3, 4): None, (1, 2, 5): None, (1, 9): None, (1, 2): None}
    assert shortest_with_prefix(held, (1, 2)) == [1, 2]
    assert shortest_with_prefix(held, (1, 2, 3)) == [1, 2, 3, 4]
    assert shortest_with_prefix(held, (7,)) is None
