"""A sequence in the batch, what a step returns for it, and how its tokens are sampled.

Sampling follows mlx-lm's decoding batch exactly (processors on the logits with the
tokens so far as context, then the sampler on normalized log-probabilities), so a
sequence sampled here (its first token, the lone path) continues as the generator would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlxk.engine.generate import Chunk, TokenPipeline


@dataclass
class StepResult:
    uid: int
    chunks: list[Chunk]
    done: bool


@dataclass
class Sequence:
    pipeline: TokenPipeline
    prompt_ids: list[int]
    cache: list | None  # the prompt cache's KV for the prefix it had, if any
    rest: list[int]  # the prompt tokens that cache lacks (at least one)
    sampler: Callable[[Any], Any]
    processors: list
    generator_uid: int | None = None


def first_token(sequence: Sequence, logits: Any) -> tuple[Any, Any]:
    """Sample as mlx-lm's decoding batch does: processors on the logits (with the
    prompt as context), then the sampler on the normalized log-probabilities.
    Returns the token and those log-probabilities (both mx arrays)."""
    import mlx.core as mx

    context = None
    if sequence.processors:
        context = mx.array(sequence.prompt_ids, dtype=mx.int32)
    token, logprobs = sample(sequence, logits, context)
    return token[0], logprobs


def sample(sequence: Sequence, logits: Any, context: Any) -> tuple[Any, Any]:
    """The sequence's logits processors (given the tokens so far), then its sampler on
    the normalized log-probabilities: the token and those log-probabilities."""
    import mlx.core as mx

    for processor in sequence.processors:
        logits = processor(context, logits)
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return sequence.sampler(logprobs), logprobs
