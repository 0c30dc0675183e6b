"""Continuous batching over mlx-lm's ``BatchGenerator``, with a prompt cache.

Sequences join between decode steps and leave when done; each one's tokens go through
its own :class:`~mlxk.engine.generate.TokenPipeline`, so batched output is the same
as unbatched output. Finished sequences leave their KV cache in an LRU prompt cache
(bounded in bytes); a new prompt that shares a prefix with one of them (the system
prompt, the earlier turns of a chat) starts from it and only prefills the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlxk.engine.chat import Prompt
from mlxk.engine.generate import Chunk, GenerationParams, TokenPipeline, _sampling
from mlxk.engine.model import LoadedModel


@dataclass
class StepResult:
    uid: int
    chunks: list[Chunk]
    done: bool


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
        )
        self._cache = LRUPromptCache(max_size=64, max_bytes=max(cache_bytes, 0))
        self._cache_enabled = cache_bytes > 0
        self._sequences: dict[int, TokenPipeline] = {}
        self._unprefilled: set[int] = set()

    def __len__(self) -> int:
        return len(self._sequences)

    @property
    def prefilling(self) -> bool:
        """Whether the next step prefills a prompt (admitted, no token yet)."""
        return bool(self._unprefilled)

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
        (uid,) = self._generator.insert(
            [rest],
            max_tokens=[params.max_tokens],
            caches=[cache] if cache is not None else None,
            all_tokens=[tokens[:cached]],
            samplers=[sampler],
            logits_processors=[processors],
        )
        self._sequences[uid] = TokenPipeline(self.loaded, prompt, params, cached)
        self._unprefilled.add(uid)
        return uid

    def cancel(self, uid: int) -> None:
        self._unprefilled.discard(uid)
        if self._sequences.pop(uid, None) is not None:
            self._remember(self._generator.remove([uid], return_prompt_caches=True))

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
        """One decode step for every sequence (admitting queued prompts first)."""
        import mlx.core as mx

        results = []
        for response in self._generator.next_generated():
            self._unprefilled.discard(response.uid)
            pipeline = self._sequences.get(response.uid)
            if pipeline is None:
                continue
            chunks = pipeline.feed(response.token)
            if response.finish_reason is None and not pipeline.done:
                results.append(StepResult(response.uid, chunks, False))
                continue
            if response.finish_reason is None:  # a stop string ended it early
                self.cancel(response.uid)
            else:
                del self._sequences[response.uid]
                self._remember({response.uid: (response.prompt_cache, response.all_tokens)})
            chunks += pipeline.finish(response.finish_reason, int(mx.get_peak_memory()))
            results.append(StepResult(response.uid, chunks, True))
        return results

    def close(self) -> None:
        self._sequences.clear()
        self._unprefilled.clear()
        self._generator.close()
