"""How one sequence picks its tokens: mlx-lm's sampler and logits processors, plus a
per-sequence random stream (``seed``), token biases and a grammar's mask.

Every sequence gets its own sampler and processors, so these settings are per request
even inside a batch: a seeded sequence draws from its own key, split once per token, so
the same seed gives the same text alone or batched, whatever else runs beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlxk.engine.generate import GenerationParams


def make_sampling(params: GenerationParams) -> tuple[Callable[[Any], Any], list]:
    """A sampler and the logits processors for one sequence with ``params``."""
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    if params.seed is not None and params.temperature > 0:
        sampler: Callable[[Any], Any] = SeededSampler(params)
    else:
        sampler = make_sampler(
            temp=params.temperature, top_p=params.top_p, min_p=params.min_p, top_k=params.top_k
        )
    processors = make_logits_processors(
        logit_bias=dict(params.logit_bias) or None,
        repetition_penalty=params.repetition_penalty,
        presence_penalty=params.presence_penalty,
        frequency_penalty=params.frequency_penalty,
    )
    if params.grammar is not None:
        from mlxk.engine.grammar import GrammarProcessor

        processors.append(GrammarProcessor(params.grammar, params.max_tokens))  # last: masks
    return sampler, processors


class SeededSampler:
    """mlx-lm's filters (top-p, min-p, top-k), then a categorical draw from this
    sequence's own key: token *n* always uses the *n*-th split of ``seed``'s key (of a
    key split from it for a request's later choices, so they differ)."""

    def __init__(self, params: GenerationParams):
        import mlx.core as mx
        from mlx_lm.sample_utils import apply_min_p, apply_top_k, apply_top_p

        assert params.seed is not None, "only for seeded requests"
        self._key = mx.random.key(params.seed)
        if params.choice:  # choice 0 keeps the seed's own stream: n=1 is unchanged
            self._key = mx.random.split(self._key, params.choice + 1)[params.choice]
        self._temperature = params.temperature
        self._filters: list[Callable[[Any], Any]] = []
        if 0 < params.top_p < 1.0:
            self._filters.append(lambda x: apply_top_p(x, params.top_p))
        if params.min_p != 0.0:
            self._filters.append(lambda x: apply_min_p(x, params.min_p))
        if params.top_k > 0:
            self._filters.append(lambda x: apply_top_k(x, params.top_k))

    def __call__(self, logprobs: Any) -> Any:
        import mlx.core as mx

        for method in self._filters:
            logprobs = method(logprobs)
        self._key, draw = mx.random.split(self._key)
        return mx.random.categorical(logprobs * (1.0 / self._temperature), key=draw)
