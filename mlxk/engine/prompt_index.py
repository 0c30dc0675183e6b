"""The server's prompt cache: mlx-lm's ``LRUPromptCache`` with a faster prefix search.

mlx-lm indexes the cached sequences in a token trie. Where a new prompt leaves the trie
(past a system prompt that the cached chats share, say), it looks for the shortest cached
sequence below that point by walking every node of that subtree up to that length: one
node per token of every cached sequence's tail, on the model thread between decode steps,
where every decoding stream waits for it. Here the trie
also keeps the set of sequences it holds (at most the cache's 64), and the shortest one
that shares the prompt's path is found by comparing each one's start with it, in C: the
same answer (among several of that length maybe another one, which shares as many tokens
with the prompt and so serves as well).
"""

from __future__ import annotations

import functools
from typing import Any


def prompt_cache(max_size: int, max_bytes: int) -> Any:
    """An empty ``LRUPromptCache`` whose trie knows its sequences (where its trie is the
    one this module knows; otherwise mlx-lm's own, unchanged)."""
    from mlx_lm.models.cache import LRUPromptCache

    from mlxk.engine.compat import replace_trie

    cache = LRUPromptCache(max_size=max_size, max_bytes=max_bytes)
    replace_trie(cache, _fast_trie_class())
    return cache


@functools.cache
def _fast_trie_class():
    from mlx_lm.models.cache import PromptTrie, PromptTrieResult

    from mlxk.engine.compat import trie_nodes

    class IndexedPromptTrie(PromptTrie):
        """mlx-lm's trie, plus the sequences it holds per model, kept by its three
        methods that store and remove them."""

        def __init__(self):
            super().__init__()
            self.sequences: dict = {}  # model -> {tuple of tokens: None}

        def add(self, model: Any, tokens: list[int], value: Any):
            self.sequences.setdefault(model, {})[tuple(tokens)] = None
            return super().add(model, tokens, value)

        def pop(self, model: Any, tokens: list[int]):
            value = super().pop(model, tokens)
            self.sequences.get(model, {}).pop(tuple(tokens), None)
            return value

        def pop_prefixes(self, model: Any, tokens: list[int]):
            popped = super().pop_prefixes(model, tokens)
            held = self.sequences.get(model, {})
            for length, _ in popped:
                held.pop(tuple(tokens[:length]), None)
            return popped

        def search(self, model: Any, tokens: list[int]):
            root = trie_nodes(self).get(model)
            if root is None:
                return PromptTrieResult(model, None, None, None, 0)
            if not tokens and VALUE in root:
                return PromptTrieResult(model, [], None, None, 0)
            node, index, last = root, 0, -1
            while index < len(tokens) and tokens[index] in node:
                node = node[tokens[index]]
                if VALUE in node:
                    last = index
                index += 1
            if last == len(tokens) - 1 >= 0:
                return PromptTrieResult(model, tokens, None, None, 0)
            shorter = tokens[: last + 1] if last > 0 else None
            longer = None
            if index > 0:
                longer = shortest_with_prefix(self.sequences.get(model, {}), tuple(tokens[:index]))
            return PromptTrieResult(model, None, shorter, longer, index)

    return IndexedPromptTrie


VALUE = "__value__"  # where mlx-lm's trie keeps a node's cached sequence


def shortest_with_prefix(sequences: Any, prefix: tuple) -> list[int] | None:
    """The shortest of ``sequences`` (tuples of tokens) that starts with ``prefix``."""
    size = len(prefix)
    best = None
    for sequence in sequences:
        if len(sequence) >= size and (best is None or len(sequence) < len(best)):
            if sequence[:size] == prefix:
                best = sequence
    return list(best) if best is not None else None
