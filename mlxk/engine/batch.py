"""Continuous batching over mlx-lm's ``BatchGenerator``, with a prompt cache.

Sequences join between decode steps and leave when done; each one's tokens go through
its own :class:`~mlxk.engine.generate.TokenPipeline`, so batched output is the same as
unbatched output. Finished sequences leave their KV cache in an LRU prompt cache (bounded
in bytes); a new prompt that shares a prefix with one of them (the system prompt, the
earlier turns of a chat) starts from it and only prefills the rest.

Three paths, each in its own module: new prompts are prefilled together by the batch
itself (:mod:`~mlxk.engine.batch_prefill`); a sequence that starts alone decodes alone
(:mod:`~mlxk.engine.batch_solo`); every other sequence decodes in mlx-lm's generator
(here), which this class feeds and reads.
"""

from __future__ import annotations

from typing import Any

from mlxk.engine import batch_prefill
from mlxk.engine.batch_prefill import PrefillPath, one_pass_positions
from mlxk.engine.batch_sequence import Sequence, StepResult
from mlxk.engine.batch_solo import Solo, SoloPath
from mlxk.engine.chat import Prompt
from mlxk.engine.generate import GenerationParams, TokenPipeline
from mlxk.engine.model import LoadedModel
from mlxk.engine.sampling import make_sampling


def _pipelined(model: Any) -> bool:
    return getattr(getattr(model, "model", None), "pipeline_size", 1) > 1


class Batch(SoloPath, PrefillPath):
    """The sequences a server decodes together, on one loaded model (one thread only)."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_sequences: int,
        cache_bytes: int,
        model_bytes: int | None = None,
    ):
        from mlx_lm.generate import BatchGenerator

        from mlxk.engine.prompt_index import prompt_cache

        self.loaded = loaded
        self._generator = BatchGenerator(
            loaded.model,
            stop_tokens=[[token] for token in sorted(loaded.eos_token_ids)],
            completion_batch_size=max_sequences,
            prefill_batch_size=max_sequences,
            prefill_step_size=batch_prefill.PREFILL_CHUNK,
        )
        self._cache = prompt_cache(max_size=64, max_bytes=max(cache_bytes, 0))
        self._cache_enabled = cache_bytes > 0
        self._one_pass_positions = one_pass_positions(loaded.model, model_bytes)
        self._next_id = 0
        self._sequences: dict[int, Sequence] = {}
        self._waiting: list[int] = []  # to prefill in the next step
        self._by_generator_uid: dict[int, int] = {}
        self._solo: Solo | None = None
        # a lone sequence decodes alone (see batch_solo); not on a pipeline of ranks, where
        # its pipelined steps deadlock the ranks' send and receive (mlx 0.32, ring backend)
        self.solo_path = not _pipelined(loaded.model)
        self._unstored: list[tuple[list, list[int]]] = []  # finished: (KV cache, its tokens)

    def __len__(self) -> int:
        return len(self._sequences)

    @property
    def prefilling(self) -> bool:
        """Whether the next step prefills a prompt (admitted, no token yet)."""
        return any(s.pipeline.first_token_at is None for s in self._sequences.values())

    @property
    def cache_bytes(self) -> int:
        return int(self._cache.nbytes)

    def _cached_start(self, tokens: list[int]):
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        if not self._cache_enabled:
            return None, tokens
        cache, rest = self._cache.fetch_nearest_cache(self.loaded.path, tokens)
        if cache is not None and not rest:  # the whole prompt is cached: re-feed its end
            if not can_trim_prompt_cache(cache):
                return None, tokens
            trim_prompt_cache(cache, 1)
            rest = tokens[-1:]
        return cache, rest

    def add(self, prompt: Prompt, params: GenerationParams, *, ident: int | None = None) -> int:
        """Admit a sequence; it is prefilled by the next :meth:`step`.

        Args:
            prompt: its tokens; a prefix the prompt cache holds is not computed again.
            params: its limits and sampling (each sequence samples with its own).
            ident: the id to give it (a follower rank takes the one rank 0 gave).

        Returns:
            The sequence's id, as :class:`StepResult` and :meth:`cancel` name it.
        """
        self.store_finished()
        tokens = list(prompt.token_ids)
        cache, rest = self._cached_start(tokens)
        cached = len(tokens) - len(rest)
        sampler, processors = make_sampling(params)
        ident = self._next_id if ident is None else ident
        self._next_id = ident + 1
        sequence = Sequence(
            TokenPipeline(self.loaded, prompt, params, cached, processors),
            tokens,
            cache,
            rest,
            sampler,
            processors,
        )
        self._sequences[ident] = sequence
        if len(rest) > batch_prefill.PREFILL_CHUNK:
            self._insert(ident, rest, cache, tokens[:cached], params.max_tokens)
        else:
            self._waiting.append(ident)
        return ident

    def _insert(self, ident: int, feed: list[int], cache: Any, held: list[int], limit: int) -> None:
        """Hand a sequence to the generator: the tokens to feed it, the KV cache holding
        ``held`` (None: empty), and how many more tokens it may make."""
        from mlxk.engine.batch_cache import JoiningKVCache

        sequence = self._sequences[ident]
        (uid,) = self._generator.insert(
            [feed],
            max_tokens=[limit],
            caches=[JoiningKVCache.joining(cache)],
            all_tokens=[list(held)],
            samplers=[sequence.sampler],
            logits_processors=[sequence.processors],
        )
        sequence.generator_uid = uid
        self._by_generator_uid[uid] = ident

    def cancel(self, uid: int) -> None:
        """Drop a sequence (its client left); its KV cache goes to the prompt cache. An
        unknown or finished ``uid`` is ignored."""
        sequence = self._sequences.pop(uid, None)
        if sequence is None:
            return
        if uid in self._waiting:
            self._waiting.remove(uid)
        elif self._solo is not None and self._solo.ident == uid:
            solo, self._solo = self._solo, None
            self._remember({uid: (solo.cache, self._solo_held(sequence, solo))})
        elif sequence.generator_uid is not None:
            del self._by_generator_uid[sequence.generator_uid]
            self._remember(
                self._generator.remove([sequence.generator_uid], return_prompt_caches=True)
            )
        self.store_finished()  # a cancelled request may leave the batch idle: not kept lazy

    def _remember(self, caches: dict) -> None:
        """Finished sequences' KV caches, for the prompt cache (see :meth:`store_finished`)."""
        if self._cache_enabled:
            self._unstored += [(c, t) for c, t in caches.values() if c is not None and t]

    def store_finished(self) -> None:
        """Put the KV caches of the sequences finished so far into the prompt cache.

        Each is a lazy copy of a slice of the batch's KV buffers that keeps those whole
        buffers alive until it is computed; computing them takes a few ms for 8 sequences
        on 2 cores. A server calls this after it has delivered a step's tokens, so that a
        batch's last tokens do not wait for it; :meth:`add` and :meth:`step` call it first
        too, so a new prompt always finds the prefixes of the sequences done before it."""
        import mlx.core as mx

        if not self._unstored:
            return
        kept, self._unstored = self._unstored, []
        mx.async_eval([[layer.state for layer in cache] for cache, _ in kept])
        for cache, tokens in kept:
            self._cache.insert_cache(self.loaded.path, list(tokens), cache)

    def step(self) -> list[StepResult]:
        """One decode step for the decoding sequences, then the prefill of new prompts.

        Returns:
            One :class:`StepResult` per sequence that produced text or finished: its
            chunks (a finished one's last chunk carries finish reason, usage and timings)
            and whether it is done; a done sequence has left the batch.
        """
        self.store_finished()
        results = []
        if self._solo is not None and (self._waiting or self._by_generator_uid):
            results += self._hand_over_solo()
        if self._by_generator_uid:
            results += self._decode()
        elif self._solo is not None:
            results += self._decode_solo()
        if self._waiting:
            results += self._prefill()
        return results

    def _decode(self) -> list[StepResult]:
        import mlx.core as mx

        results = self._take_last_tokens()
        if not self._by_generator_uid:
            return results
        _, responses = self._generator.next()
        for response in responses:
            ident = self._by_generator_uid.get(response.uid)
            if ident is None:
                continue
            sequence = self._sequences[ident]
            chunks = sequence.pipeline.feed(response.token, response.logprobs)
            if response.finish_reason is None and not sequence.pipeline.done:
                results.append(StepResult(ident, chunks, False))
                continue
            if response.finish_reason is None:  # a stop string ended it early
                self.cancel(ident)
                chunks += sequence.pipeline.finish(None, int(mx.get_peak_memory()))
                results.append(StepResult(ident, chunks, True))
                continue
            del self._by_generator_uid[response.uid]
            cache, tokens = response.prompt_cache, response.all_tokens
            results.append(self._finished(ident, chunks, cache, tokens, response.finish_reason))
        return results

    def _take_last_tokens(self) -> list[StepResult]:
        """Finish the sequences whose last token (by their length limit) the generator has
        already computed: each of its steps computes the batch's next tokens ahead, so the
        step that returns a sequence's last token would also compute one past its end. For
        a batch whose sequences all reach their limit together (the same ``max_tokens``,
        started together) that is a whole forward pass: 1 in 48 of 48-token requests.
        They leave with their KV cache (holding all but that last token) beforehand.

        The tokens computed ahead are read from mlx-lm's generation batch, which has no
        public way to hand them out; where it has none, the generator's step gives them."""
        from mlxk.engine.compat import tokens_ahead

        found = tokens_ahead(self._generator)
        if found is None:
            return []
        uids, ahead = found
        last = []
        for row, uid in enumerate(uids):
            ident = self._by_generator_uid.get(uid)
            if ident is None:
                continue
            pipeline = self._sequences[ident].pipeline
            if pipeline.logprobs is not None:  # its log-probabilities come with the step
                continue
            if len(pipeline.sampled) + 1 >= pipeline.max_tokens:
                last.append((row, uid, ident))
        if not last:
            return []
        tokens = ahead.tolist()
        caches = self._generator.remove([uid for _, uid, _ in last], return_prompt_caches=True)
        results = []
        for row, uid, ident in last:
            del self._by_generator_uid[uid]
            chunks = self._sequences[ident].pipeline.feed(tokens[row])
            cache, held = caches.get(uid, (None, None))
            results.append(self._finished(ident, chunks, cache, held))
        return results

    def _finished(
        self, ident: int, chunks: list, cache: Any, tokens: list[int], reason: str | None = None
    ) -> StepResult:
        """A sequence that is done: its KV cache (holding ``tokens``) goes to the prompt
        cache, its last chunks close it with the finish reason, usage and timings."""
        import mlx.core as mx

        sequence = self._sequences.pop(ident)
        self._remember({ident: (cache, tokens)})
        chunks += sequence.pipeline.finish(reason, int(mx.get_peak_memory()))
        return StepResult(ident, chunks, True)

    def close(self) -> None:
        self._solo = None
        self._unstored.clear()
        self._sequences.clear()
        self._waiting.clear()
        self._by_generator_uid.clear()
        self._generator.close()
