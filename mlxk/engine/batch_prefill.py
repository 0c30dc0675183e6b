"""The batch's own prefill: prompts that arrived since the last step, fed together.

Their first tokens are sampled in the same step; only then do they join the generator's
decoding batch. Left to the generator, a prompt takes three steps to its first token
(prefill, move into the decoding batch, decode), and on a CPU ``mx.async_eval`` of a
model's step returns only once it is nearly computed, so the last of them would compute
the second token before the first is returned. Prompts longer than one prefill chunk are
left to the generator, which prefills them a chunk per step so that the sequences already
decoding are not stalled.

A model computes logits for every position it is fed, and only each prompt's last ones
are needed. mlx-lm therefore feeds a prompt's last token apart, in a pass of its own,
which costs as long as a decode step (reading every weight once). Short prompts are
cheaper fed whole: the logits of their other positions cost less arithmetic than a
device does in the time it reads the weights (:func:`one_pass_positions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlxk.engine.batch_sequence import Sequence, StepResult, first_token
from mlxk.engine.batch_solo import Solo

PREFILL_CHUNK = 2048  # prompt tokens per forward pass, as mlx-lm's default
# Arithmetic a device does in the time it reads one byte of memory: a CPU core ~5-10
# FLOP, a GPU 30 or more. The lowest is used, so the rule below errs toward two passes.
FLOPS_PER_WEIGHT_BYTE = 5


def one_pass_positions(model: Any, weight_bytes: int | None = None) -> int:
    """How many positions besides the prompts' last ones a prefill may compute logits for
    (2 * hidden * vocab FLOPs each) and still beat the pass that feeding the last tokens
    apart costs (at least the time to read every weight). 0 for a model whose shape it
    cannot read, which then always takes two passes. ``weight_bytes``: the whole model's
    (a rank of a group holds a shard, and every rank must decide alike)."""
    from mlxk.engine.model import parameter_bytes

    args = getattr(model, "args", None)
    hidden, vocab = getattr(args, "hidden_size", None), getattr(args, "vocab_size", None)
    if not isinstance(hidden, int) or not isinstance(vocab, int) or hidden * vocab <= 0:
        return 0
    if weight_bytes is None:
        weight_bytes = parameter_bytes(model)
    return int(FLOPS_PER_WEIGHT_BYTE * weight_bytes / (2 * hidden * vocab))


class PrefillPath:
    """Prefilling waiting prompts; mixed into :class:`mlxk.engine.batch.Batch`."""

    loaded: Any
    _generator: Any
    _waiting: list[int]
    _sequences: dict[int, Sequence]
    _solo: Solo | None
    _by_generator_uid: dict[int, int]
    _one_pass_positions: int
    solo_path: bool
    _finished: Callable[..., StepResult]
    _insert: Callable[..., None]

    def _prefill(self) -> list[StepResult]:
        """Prefill the waiting prompts together and sample each one's first token.

        Sequences with the same prompt (a request's ``n`` choices, or the same question
        asked twice at once) are fed once; each samples its first token from those logits
        with its own sampler and takes its own copy of the KV cache."""
        import mlx.core as mx

        idents, self._waiting = self._waiting, []
        # Those with more than a last token to feed come first (the two-pass feed needs it).
        order = sorted(idents, key=lambda i: len(self._sequences[i].rest) == 1)
        rows, fed = _shared_rows([self._sequences[i] for i in order])
        sequences = [self._sequences[order[i]] for i in fed]
        rests = [s.rest for s in sequences]
        with mx.stream(self._generator.stream):
            if len(rests) * (max(map(len, rests)) - 1) <= self._one_pass_positions:
                batch, logits, caches = self._feed_whole(sequences, rows)
            else:
                batch, logits = self._feed_last_apart(sequences)
                caches = None
            sampled = [
                first_token(self._sequences[ident], logits[row : row + 1])
                for ident, row in zip(order, rows, strict=True)
            ]
            firsts = [token for token, _ in sampled]
            mx.eval(firsts)
            if caches is None:
                caches = [batch.extract_cache(row) for row in rows]
            mx.eval([[layer.state for layer in cache] for cache in caches])
        del batch, logits

        results = []
        for ident, (first, logprobs), cache in zip(order, sampled, caches, strict=True):
            sequence = self._sequences[ident]
            token = first.item()
            chunks = sequence.pipeline.feed(token, logprobs)
            if not sequence.pipeline.done:
                alone = len(order) == 1 and not self._by_generator_uid and not self._waiting
                if alone and self._solo is None and self.solo_path:
                    self._solo = Solo(ident, cache)
                else:
                    limit = sequence.pipeline.max_tokens - 1
                    self._insert(ident, [token], cache, sequence.prompt_ids, limit)
                results.append(StepResult(ident, chunks, False))
                continue
            results.append(self._finished(ident, chunks, cache, sequence.prompt_ids))
        return results

    def _prompt_batch(self, sequences: list[Sequence]):
        """mlx-lm's prompt batch over these sequences' caches (left-padded to one)."""
        from mlx_lm.models.cache import make_prompt_cache

        from mlxk.engine.batch_cache import JoiningKVCache
        from mlxk.engine.compat import prompt_batch

        model = self.loaded.model
        caches = [s.cache if s.cache is not None else make_prompt_cache(model) for s in sequences]
        return prompt_batch(
            model,
            list(range(len(sequences))),
            [JoiningKVCache.joining(cache) for cache in caches],
            [s.prompt_ids[: len(s.prompt_ids) - len(s.rest)] for s in sequences],
            prefill_step_size=PREFILL_CHUNK,
        )

    def _feed_whole(self, sequences: list[Sequence], rows: list[int]):
        """One pass over every sequence's rest, right-padded to the longest as mlx-lm's
        prompt batch pads them; the batch, each row's logits at its last real token, and
        a KV cache for each of ``rows`` (a row named twice gets two copies).

        mlx-lm then rolls every layer's whole KV buffer to turn the right padding into left
        padding (a gather over all rows and the buffer's 256 positions, a fifth of a short
        burst's prefill), only for each row to be sliced out of it here. Where every layer
        is a batch KV cache, the rows are sliced out of the padded buffer directly instead."""
        import mlx.core as mx
        from mlx_lm.models.cache import BatchKVCache, KVCache

        from mlxk.engine.compat import write_position

        batch = self._prompt_batch(sequences)
        lengths = [len(s.rest) for s in sequences]
        padding = [max(lengths) - length for length in lengths]
        direct = all(isinstance(layer, BatchKVCache) for layer in batch.prompt_cache)
        if any(padding) and not direct:
            for layer in batch.prompt_cache:
                layer.prepare(lengths=lengths, right_padding=padding)
        tokens = mx.array([s.rest + [0] * pad for s, pad in zip(sequences, padding, strict=True)])
        logits = self.loaded.model(tokens, cache=batch.prompt_cache)
        logits = logits[mx.arange(len(sequences)), mx.array(lengths) - 1]
        if not direct:
            if any(padding):
                for layer in batch.prompt_cache:
                    layer.finalize()
            return batch, logits, None
        starts = [layer.left_padding.tolist() for layer in batch.prompt_cache]
        caches = []
        for row in rows:
            pad = padding[row]
            cache = []
            for layer, layer_starts in zip(batch.prompt_cache, starts, strict=True):
                start, end = layer_starts[row], write_position(layer) - pad
                copy = KVCache()
                copy.keys = mx.contiguous(layer.keys[row : row + 1, :, start:end])
                copy.values = mx.contiguous(layer.values[row : row + 1, :, start:end])
                copy.offset = end - start
                cache.append(copy)
            caches.append(cache)
        return batch, logits, caches

    def _feed_last_apart(self, sequences: list[Sequence]):
        """All but the last token of each rest, then the last tokens together; the batch
        and their logits. A rest of one token (its prefix all cached) has nothing to feed
        in the first pass: those come last in ``sequences`` and join after it."""
        import mlx.core as mx

        fed = [s for s in sequences if len(s.rest) > 1]
        unfed = sequences[len(fed) :]
        batch = None
        if fed:
            batch = self._prompt_batch(fed)
            batch.prompt([s.rest[:-1] for s in fed])
        if unfed:
            cached_only = self._prompt_batch(unfed)
            if batch is None:
                batch = cached_only
            else:
                batch.extend(cached_only)
        assert batch is not None, "there is at least one sequence"
        last = mx.array([[s.rest[-1]] for s in sequences])
        return batch, self.loaded.model(last, cache=batch.prompt_cache)[:, -1, :]


def _shared_rows(sequences: list[Sequence]) -> tuple[list[int], list[int]]:
    """For each sequence, the row it is fed in; and which sequences are fed (one of each
    group with the same prompt and the same cached prefix), in their order."""
    rows: list[int] = []
    fed: list[int] = []
    seen: dict[tuple, int] = {}
    for i, sequence in enumerate(sequences):
        key = (len(sequence.rest), tuple(sequence.prompt_ids))
        if key not in seen:
            seen[key] = len(fed)
            fed.append(i)
        rows.append(seen[key])
    return rows, fed
