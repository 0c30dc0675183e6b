"""Reuse the KV cache across prompts that share a prefix (the turns of a chat).

The cache remembers which tokens it holds. A new prompt is compared with them: the
common prefix stays, the rest of the cache is trimmed, and only the new suffix is fed
to the model. Turn N of a chat therefore processes only what turn N added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PromptCache:
    def __init__(self, model: Any):
        from mlx_lm.models.cache import make_prompt_cache

        self._model = model
        self.cache = make_prompt_cache(model)
        self.tokens: list[int] = []

    def _offset(self) -> int:
        first = self.cache[0] if self.cache else None
        return int(getattr(first, "offset", 0) or 0)

    def reset(self) -> None:
        from mlx_lm.models.cache import make_prompt_cache

        self.cache = make_prompt_cache(self._model)
        self.tokens = []

    def prepare(self, prompt_ids: Sequence[int]) -> tuple[list[int], int]:
        """Trim to the shared prefix; return (tokens still to feed, tokens reused)."""
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        prompt_ids = list(prompt_ids)
        keep = min(common_prefix(self.tokens, prompt_ids), len(prompt_ids) - 1)
        surplus = self._offset() - keep
        if surplus > 0:
            if keep > 0 and can_trim_prompt_cache(self.cache):
                trim_prompt_cache(self.cache, surplus)
            else:
                self.reset()
                keep = 0
        self.tokens = prompt_ids[:keep]
        return prompt_ids[keep:], keep

    def record(self, fed_ids: Sequence[int]) -> None:
        """After a generation: the cache now holds these tokens, up to its offset."""
        sequence = self.tokens + list(fed_ids)
        self.tokens = sequence[: self._offset()]
