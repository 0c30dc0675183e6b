"""The lone-request path of the batch: a sequence that starts alone decodes alone.

It runs on its own KV cache, as mlx-lm's ``generate_step`` does, pipelined (the next
token set computing before the current one is delivered, none past the length limit):
the generator's batch cache, masks and bookkeeping would cost a lone request part of its
speed, and compute one token past its last. When another request comes, the lone
sequence joins the generator's batch with its cache and the token it would feed next, as
a prefilled prompt does (:meth:`SoloPath._hand_over_solo`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlxk.engine.batch_sequence import Sequence, StepResult, sample


@dataclass
class Solo:
    """The one sequence decoding alone: its cache, how many of its sampled tokens that
    cache holds, and the next token (an mx array, maybe still being computed), sampled
    from the last one fed and not yet delivered; None before its first step."""

    ident: int
    cache: list
    fed: int = 0
    pending: Any = None  # mx.array
    pending_logprobs: Any = None  # what ``pending`` was sampled from
    context: Any = None  # the tokens fed so far, for logits processors that need them


class SoloPath:
    """The lone sequence's steps; mixed into :class:`mlxk.engine.batch.Batch`."""

    loaded: Any
    _generator: Any
    _solo: Solo | None
    _sequences: dict[int, Sequence]
    _finished: Callable[..., StepResult]
    _insert: Callable[..., None]

    def _decode_solo(self) -> list[StepResult]:
        """One token of the lone sequence. The one after it is set computing first (unless
        this one is the last the length allows), so it runs while this one is delivered."""
        import mlx.core as mx

        solo = self._solo
        assert solo is not None, "called only while a sequence decodes alone"
        sequence = self._sequences[solo.ident]
        pipeline = sequence.pipeline
        with mx.stream(self._generator.stream):
            current, logprobs = solo.pending, solo.pending_logprobs
            if current is None:
                current, logprobs = self._solo_next(sequence, solo, mx.array(pipeline.sampled[-1:]))
            solo.pending = solo.pending_logprobs = None
            if len(pipeline.sampled) + 1 < pipeline.max_tokens:
                solo.pending, solo.pending_logprobs = self._solo_next(sequence, solo, current)
                mx.async_eval(solo.pending)
            token = current.item()
        chunks = pipeline.feed(token, logprobs)
        if not pipeline.done:
            return [StepResult(solo.ident, chunks, False)]
        self._solo = None
        return [self._finished(solo.ident, chunks, solo.cache, self._solo_held(sequence, solo))]

    def _solo_next(self, sequence: Sequence, solo: Solo, token: Any) -> tuple[Any, Any]:
        """Feed ``token`` (an mx array of one id) to the lone sequence's cache; the next
        token, sampled as the generator samples, and the log-probabilities it was
        sampled from."""
        import mlx.core as mx

        logits = self.loaded.model(token[None], cache=solo.cache)[:, -1, :]
        solo.fed += 1
        if sequence.processors:
            if solo.context is None:
                solo.context = mx.array(sequence.prompt_ids, dtype=mx.int32)
            solo.context = mx.concatenate([solo.context, token.astype(mx.int32)])
        return sample(sequence, logits, solo.context)

    @staticmethod
    def _solo_held(sequence: Sequence, solo: Solo) -> list[int]:
        """The tokens the lone sequence's cache holds: its prompt, then those fed."""
        return sequence.prompt_ids + sequence.pipeline.sampled[: solo.fed]

    def _hand_over_solo(self) -> list[StepResult]:
        """The lone sequence joins the generator's batch: a token it has computed is
        delivered first, then it goes in with its cache and the token to feed next."""
        solo, self._solo = self._solo, None
        assert solo is not None, "called only while a sequence decodes alone"
        sequence = self._sequences[solo.ident]
        pipeline = sequence.pipeline
        results = []
        held = self._solo_held(sequence, solo)  # the pending token is not in the cache
        if solo.pending is not None:
            chunks = pipeline.feed(solo.pending.item(), solo.pending_logprobs)
            if pipeline.done:
                return [self._finished(solo.ident, chunks, solo.cache, held)]
            results.append(StepResult(solo.ident, chunks, False))
        limit = pipeline.max_tokens - len(pipeline.sampled)
        self._insert(solo.ident, pipeline.sampled[-1:], solo.cache, held, limit)
        return results
