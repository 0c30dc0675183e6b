"""Continuous batching over mlx-lm's ``BatchGenerator``, with a prompt cache.

Sequences join between decode steps and leave when done; each one's tokens go through
its own :class:`~mlxk.engine.generate.TokenPipeline`, so batched output is the same
as unbatched output. Finished sequences leave their KV cache in an LRU prompt cache
(bounded in bytes); a new prompt that shares a prefix with one of them (the system
prompt, the earlier turns of a chat) starts from it and only prefills the rest.

Prompts that arrived since the last step are prefilled here, together, and their first
token is sampled in the same step; only then do they join the generator's decoding
batch. Left to the generator, a prompt takes three steps to its first token (prefill,
move into the decoding batch, decode), and since ``mx.async_eval`` runs synchronously
on a CPU, the last of them computes the second token before the first is returned.
Prompts longer than one prefill chunk are left to the generator, which prefills them a
chunk per step so that the sequences already decoding are not stalled.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlxk.engine.chat import Prompt
from mlxk.engine.generate import Chunk, GenerationParams, TokenPipeline, _sampling
from mlxk.engine.model import LoadedModel

PREFILL_CHUNK = 2048  # prompt tokens per forward pass, as mlx-lm's default


@dataclass
class StepResult:
    uid: int
    chunks: list[Chunk]
    done: bool


@dataclass
class _Sequence:
    pipeline: TokenPipeline
    prompt_ids: list[int]
    cache: list | None  # the prompt cache's KV for the prefix it had, if any
    rest: list[int]  # the prompt tokens that cache lacks (at least one)
    sampler: object
    processors: list
    generator_uid: int | None = None


class Batch:
    def __init__(self, loaded: LoadedModel, *, max_sequences: int, cache_bytes: int):
        from mlx_lm.generate import BatchGenerator
        from mlx_lm.models.cache import LRUPromptCache

        self.loaded = loaded
        self._generator = BatchGenerator(
            loaded.model,
            stop_tokens=[[token] for token in sorted(loaded.eos_token_ids)],
            completion_batch_size=max_sequences,
            prefill_batch_size=max_sequences,
            prefill_step_size=PREFILL_CHUNK,
        )
        self._cache = LRUPromptCache(max_size=64, max_bytes=max(cache_bytes, 0))
        self._cache_enabled = cache_bytes > 0
        self._next_id = 0
        self._sequences: dict[int, _Sequence] = {}
        self._waiting: list[int] = []  # to prefill in the next step
        self._by_generator_uid: dict[int, int] = {}

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

    def add(self, prompt: Prompt, params: GenerationParams) -> int:
        tokens = list(prompt.token_ids)
        cache, rest = self._cached_start(tokens)
        cached = len(tokens) - len(rest)
        sampler, processors = _sampling(params)
        ident = self._next_id
        self._next_id += 1
        sequence = _Sequence(
            TokenPipeline(self.loaded, prompt, params, cached),
            tokens,
            cache,
            rest,
            sampler,
            processors,
        )
        self._sequences[ident] = sequence
        if len(rest) > PREFILL_CHUNK:
            self._insert(ident, rest, cache, tokens[:cached], params.max_tokens)
        else:
            self._waiting.append(ident)
        return ident

    def _insert(self, ident: int, feed: list[int], cache, held: list[int], limit: int) -> None:
        """Hand a sequence to the generator: the tokens to feed it, the KV cache holding
        ``held`` (None: empty), and how many more tokens it may make."""
        sequence = self._sequences[ident]
        (uid,) = self._generator.insert(
            [feed],
            max_tokens=[limit],
            caches=[cache],
            all_tokens=[list(held)],
            samplers=[sequence.sampler],
            logits_processors=[sequence.processors],
        )
        sequence.generator_uid = uid
        self._by_generator_uid[uid] = ident

    def cancel(self, uid: int) -> None:
        sequence = self._sequences.pop(uid, None)
        if sequence is None:
            return
        if uid in self._waiting:
            self._waiting.remove(uid)
        elif sequence.generator_uid is not None:
            del self._by_generator_uid[sequence.generator_uid]
            self._remember(
                self._generator.remove([sequence.generator_uid], return_prompt_caches=True)
            )

    def _remember(self, caches: dict) -> None:
        import mlx.core as mx

        if not self._cache_enabled:
            return
        for cache, tokens in caches.values():
            if cache is not None and tokens:
                # An extracted cache is a lazy copy of a slice of the batch's KV buffers:
                # unevaluated, it keeps those whole buffers alive, far beyond its nbytes.
                mx.eval([layer.state for layer in cache])
                self._cache.insert_cache(self.loaded.path, list(tokens), cache)

    def step(self) -> list[StepResult]:
        """One decode step for the decoding sequences, then the prefill of new prompts."""
        results = self._decode() if self._by_generator_uid else []
        if self._waiting:
            results += self._prefill()
        return results

    def _decode(self) -> list[StepResult]:
        import mlx.core as mx

        results = []
        _, responses = self._generator.next()
        for response in responses:
            ident = self._by_generator_uid.get(response.uid)
            if ident is None:
                continue
            sequence = self._sequences[ident]
            chunks = sequence.pipeline.feed(response.token)
            if response.finish_reason is None and not sequence.pipeline.done:
                results.append(StepResult(ident, chunks, False))
                continue
            if response.finish_reason is None:  # a stop string ended it early
                self.cancel(ident)
            else:
                del self._sequences[ident], self._by_generator_uid[response.uid]
                self._remember({ident: (response.prompt_cache, response.all_tokens)})
            peak = int(mx.get_peak_memory())
            chunks += sequence.pipeline.finish(response.finish_reason, peak)
            results.append(StepResult(ident, chunks, True))
        return results

    def _prefill(self) -> list[StepResult]:
        """Prefill the waiting prompts together and sample each one's first token."""
        import mlx.core as mx
        from mlx_lm.generate import PromptProcessingBatch
        from mlx_lm.models.cache import make_prompt_cache

        model = self.loaded.model
        idents, self._waiting = self._waiting, []
        # Feed all but the last token of each prompt (only the last one's logits are
        # needed, and a model computes logits for every position it is fed), then the
        # last tokens together. A prompt whose prefix is all cached has nothing to feed.
        fed = [i for i in idents if len(self._sequences[i].rest) > 1]
        unfed = [i for i in idents if len(self._sequences[i].rest) == 1]

        def prompt_batch(group: list[int]) -> PromptProcessingBatch:
            sequences = [self._sequences[i] for i in group]
            return PromptProcessingBatch(
                model,
                list(group),
                [s.cache if s.cache is not None else make_prompt_cache(model) for s in sequences],
                [s.prompt_ids[: len(s.prompt_ids) - len(s.rest)] for s in sequences],
                prefill_step_size=PREFILL_CHUNK,
            )

        with mx.stream(self._generator.stream):
            batch = None
            if fed:
                batch = prompt_batch(fed)
                batch.prompt([self._sequences[i].rest[:-1] for i in fed])
            if unfed:
                cached_only = prompt_batch(unfed)
                if batch is None:
                    batch = cached_only
                else:
                    batch.extend(cached_only)
            order = fed + unfed
            last = mx.array([[self._sequences[i].rest[-1]] for i in order])
            logits = model(last, cache=batch.prompt_cache)[:, -1, :]
            firsts = [
                self._first_token(self._sequences[i], logits[row : row + 1])
                for row, i in enumerate(order)
            ]
            mx.eval(firsts)
            caches = [batch.extract_cache(row) for row in range(len(order))]
            mx.eval([[layer.state for layer in cache] for cache in caches])
        del batch, logits

        results = []
        for ident, first, cache in zip(order, firsts, caches, strict=True):
            sequence = self._sequences[ident]
            token = first.item()
            chunks = sequence.pipeline.feed(token)
            if not sequence.pipeline.done:
                limit = sequence.pipeline.max_tokens - 1
                self._insert(ident, [token], cache, sequence.prompt_ids, limit)
                results.append(StepResult(ident, chunks, False))
                continue
            del self._sequences[ident]
            self._remember({ident: (cache, sequence.prompt_ids)})
            chunks += sequence.pipeline.finish(None, int(mx.get_peak_memory()))
            results.append(StepResult(ident, chunks, True))
        return results

    @staticmethod
    def _first_token(sequence: _Sequence, logits):
        """Sample as mlx-lm's decoding batch does: processors on the logits (with the
        prompt as context), then the sampler on the normalized log-probabilities."""
        import mlx.core as mx

        if sequence.processors:
            context = mx.array(sequence.prompt_ids, dtype=mx.int32)
            for processor in sequence.processors:
                logits = processor(context, logits)
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        return sequence.sampler(logprobs)[0]

    def close(self) -> None:
        self._sequences.clear()
        self._waiting.clear()
        self._by_generator_uid.clear()
        self._generator.close()
