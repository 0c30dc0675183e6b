"""Continuous batching over mlx-lm's ``BatchGenerator``, with a prompt cache.

Sequences join between decode steps and leave when done; each one's tokens go through
its own :class:`~mlxk.engine.generate.TokenPipeline`, so batched output is the same
as unbatched output. Finished sequences leave their KV cache in an LRU prompt cache
(bounded in bytes); a new prompt that shares a prefix with one of them (the system
prompt, the earlier turns of a chat) starts from it and only prefills the rest.

Prompts that arrived since the last step are prefilled here, together, and their first
token is sampled in the same step; only then do they join the generator's decoding
batch. Left to the generator, a prompt takes three steps to its first token (prefill,
move into the decoding batch, decode), and since ``mx.async_eval`` of a model's step
returns only once it is nearly computed on a CPU (measured: 16-19 ms of a 20 ms step),
the last of them computes the second token before the first is returned.
Prompts longer than one prefill chunk are left to the generator, which prefills them a
chunk per step so that the sequences already decoding are not stalled.

A sequence that starts alone decodes alone, on its own KV cache, as ``mlx_lm``'s
``generate_step`` does: the generator's batch cache, masks and bookkeeping cost a lone
request ~5-8 % of its tokens/s (26M model, 2-core CPU), and it computes one token past
the last. When another request comes, the lone sequence joins the generator's batch
with its cache and the token it would feed next, as a prefilled prompt does.

A model computes logits for every position it is fed, and only each prompt's last ones
are needed. mlx-lm therefore feeds a prompt's last token apart, in a pass of its own,
which costs as long as a decode step (reading every weight once). Short prompts are
cheaper fed whole: the logits of their other positions cost less arithmetic than a
device does in the time it reads the weights (see :func:`one_pass_positions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlxk.engine.chat import Prompt
from mlxk.engine.generate import Chunk, GenerationParams, TokenPipeline, _sampling
from mlxk.engine.model import LoadedModel

PREFILL_CHUNK = 2048  # prompt tokens per forward pass, as mlx-lm's default
# Arithmetic a device does in the time it reads one byte of memory: a CPU core ~5-10
# FLOP, a GPU 30 or more. The lowest is used, so the rule below errs toward two passes.
FLOPS_PER_WEIGHT_BYTE = 5


def one_pass_positions(model) -> int:
    """How many positions besides the prompts' last ones a prefill may compute logits for
    (2 * hidden * vocab FLOPs each) and still beat the pass that feeding the last tokens
    apart costs (at least the time to read every weight). 0 for a model whose shape it
    cannot read, which then always takes two passes."""
    from mlx.utils import tree_flatten

    args = getattr(model, "args", None)
    hidden, vocab = getattr(args, "hidden_size", None), getattr(args, "vocab_size", None)
    if not isinstance(hidden, int) or not isinstance(vocab, int) or hidden * vocab <= 0:
        return 0
    weight_bytes = sum(value.nbytes for _, value in tree_flatten(model.parameters()))
    return int(FLOPS_PER_WEIGHT_BYTE * weight_bytes / (2 * hidden * vocab))


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


@dataclass
class _Solo:
    """The one sequence decoding alone: its cache, how many of its sampled tokens that
    cache holds, and the next token (an mx array, maybe still being computed), sampled
    from the last one fed and not yet delivered; None before its first step."""

    ident: int
    cache: list
    fed: int = 0
    pending: object = None
    context: object = None  # the tokens fed so far, for logits processors that need them


class Batch:
    def __init__(self, loaded: LoadedModel, *, max_sequences: int, cache_bytes: int):
        from mlx_lm.generate import BatchGenerator

        from mlxk.engine.prompt_index import prompt_cache

        self.loaded = loaded
        self._generator = BatchGenerator(
            loaded.model,
            stop_tokens=[[token] for token in sorted(loaded.eos_token_ids)],
            completion_batch_size=max_sequences,
            prefill_batch_size=max_sequences,
            prefill_step_size=PREFILL_CHUNK,
        )
        self._cache = prompt_cache(max_size=64, max_bytes=max(cache_bytes, 0))
        self._cache_enabled = cache_bytes > 0
        self._one_pass_positions = one_pass_positions(loaded.model)
        self._next_id = 0
        self._sequences: dict[int, _Sequence] = {}
        self._waiting: list[int] = []  # to prefill in the next step
        self._by_generator_uid: dict[int, int] = {}
        self._solo: _Solo | None = None
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

    def add(self, prompt: Prompt, params: GenerationParams) -> int:
        self.store_finished()
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
        buffers alive until it is computed; computing them takes ~3-5 ms for 8 sequences
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
        """One decode step for the decoding sequences, then the prefill of new prompts."""
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

    def _decode_solo(self) -> list[StepResult]:
        """One token of the lone sequence. The one after it is set computing first (unless
        this one is the last the length allows), so it runs while this one is delivered."""
        import mlx.core as mx

        solo = self._solo
        sequence = self._sequences[solo.ident]
        pipeline = sequence.pipeline
        with mx.stream(self._generator.stream):
            current = solo.pending
            if current is None:
                current = self._solo_next(sequence, solo, mx.array(pipeline.sampled[-1:]))
            solo.pending = None
            if len(pipeline.sampled) + 1 < pipeline.max_tokens:
                solo.pending = self._solo_next(sequence, solo, current)
                mx.async_eval(solo.pending)
            token = current.item()
        chunks = pipeline.feed(token)
        if not pipeline.done:
            return [StepResult(solo.ident, chunks, False)]
        self._solo = None
        return [self._finished(solo.ident, chunks, solo.cache, self._solo_held(sequence, solo))]

    def _solo_next(self, sequence: _Sequence, solo: _Solo, token):
        """Feed ``token`` (an mx array of one id) to the lone sequence's cache; the next
        token, sampled as the generator samples (see :meth:`_sample`)."""
        import mlx.core as mx

        logits = self.loaded.model(token[None], cache=solo.cache)[:, -1, :]
        solo.fed += 1
        if sequence.processors:
            if solo.context is None:
                solo.context = mx.array(sequence.prompt_ids, dtype=mx.int32)
            solo.context = mx.concatenate([solo.context, token.astype(mx.int32)])
        return self._sample(sequence, logits, solo.context)

    @staticmethod
    def _solo_held(sequence: _Sequence, solo: _Solo) -> list[int]:
        """The tokens the lone sequence's cache holds: its prompt, then those fed."""
        return sequence.prompt_ids + sequence.pipeline.sampled[: solo.fed]

    def _hand_over_solo(self) -> list[StepResult]:
        """The lone sequence joins the generator's batch: a token it has computed is
        delivered first, then it goes in with its cache and the token to feed next."""
        solo, self._solo = self._solo, None
        sequence = self._sequences[solo.ident]
        pipeline = sequence.pipeline
        results = []
        held = self._solo_held(sequence, solo)  # the pending token is not in the cache
        if solo.pending is not None:
            chunks = pipeline.feed(solo.pending.item())
            if pipeline.done:
                return [self._finished(solo.ident, chunks, solo.cache, held)]
            results.append(StepResult(solo.ident, chunks, False))
        limit = pipeline.max_tokens - len(pipeline.sampled)
        self._insert(solo.ident, pipeline.sampled[-1:], solo.cache, held, limit)
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
            chunks = sequence.pipeline.feed(response.token)
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

    def _finished(self, ident: int, chunks: list, cache, tokens, reason=None) -> StepResult:
        """A sequence that is done: its KV cache (holding ``tokens``) goes to the prompt
        cache, its last chunks close it with the finish reason, usage and timings."""
        import mlx.core as mx

        sequence = self._sequences.pop(ident)
        self._remember({ident: (cache, tokens)})
        chunks += sequence.pipeline.finish(reason, int(mx.get_peak_memory()))
        return StepResult(ident, chunks, True)

    def _prefill(self) -> list[StepResult]:
        """Prefill the waiting prompts together and sample each one's first token."""
        import mlx.core as mx

        idents, self._waiting = self._waiting, []
        # Those with more than a last token to feed come first (the two-pass feed needs it).
        order = sorted(idents, key=lambda i: len(self._sequences[i].rest) == 1)
        sequences = [self._sequences[i] for i in order]
        rests = [s.rest for s in sequences]
        with mx.stream(self._generator.stream):
            if len(rests) * (max(map(len, rests)) - 1) <= self._one_pass_positions:
                batch, logits, caches = self._feed_whole(sequences)
            else:
                batch, logits = self._feed_last_apart(sequences)
                caches = None
            firsts = [
                self._first_token(sequence, logits[row : row + 1])
                for row, sequence in enumerate(sequences)
            ]
            mx.eval(firsts)
            if caches is None:
                caches = [batch.extract_cache(row) for row in range(len(order))]
            mx.eval([[layer.state for layer in cache] for cache in caches])
        del batch, logits

        results = []
        for ident, first, cache in zip(order, firsts, caches, strict=True):
            sequence = self._sequences[ident]
            token = first.item()
            chunks = sequence.pipeline.feed(token)
            if not sequence.pipeline.done:
                alone = len(order) == 1 and not self._by_generator_uid and not self._waiting
                if alone and self._solo is None:
                    self._solo = _Solo(ident, cache)
                else:
                    limit = sequence.pipeline.max_tokens - 1
                    self._insert(ident, [token], cache, sequence.prompt_ids, limit)
                results.append(StepResult(ident, chunks, False))
                continue
            results.append(self._finished(ident, chunks, cache, sequence.prompt_ids))
        return results

    def _prompt_batch(self, sequences: list[_Sequence]):
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

    def _feed_whole(self, sequences: list[_Sequence]):
        """One pass over every sequence's rest, right-padded to the longest as mlx-lm's
        prompt batch pads them; the batch, each row's logits at its last real token, and
        each row's KV cache.

        mlx-lm then rolls every layer's whole KV buffer to turn the right padding into
        left padding (a gather over all rows and the buffer's 256 positions: ~28 ms of a
        150 ms prefill of 8 prompts of ~28 tokens on 2 cores), only for each row to be
        sliced out of it here. Where every layer is a batch KV cache, the rows are
        sliced out of the padded buffer directly instead."""
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
        for row, pad in enumerate(padding):
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

    def _feed_last_apart(self, sequences: list[_Sequence]):
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
        last = mx.array([[s.rest[-1]] for s in sequences])
        return batch, self.loaded.model(last, cache=batch.prompt_cache)[:, -1, :]

    @staticmethod
    def _first_token(sequence: _Sequence, logits):
        """Sample as mlx-lm's decoding batch does: processors on the logits (with the
        prompt as context), then the sampler on the normalized log-probabilities."""
        import mlx.core as mx

        context = None
        if sequence.processors:
            context = mx.array(sequence.prompt_ids, dtype=mx.int32)
        return Batch._sample(sequence, logits, context)[0]

    @staticmethod
    def _sample(sequence: _Sequence, logits, context):
        """The sequence's logits processors (given the tokens so far), then its sampler on
        the normalized log-probabilities."""
        import mlx.core as mx

        for processor in sequence.processors:
            logits = processor(context, logits)
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        return sequence.sampler(logprobs)

    def close(self) -> None:
        self._solo = None
        self._unstored.clear()
        self._sequences.clear()
        self._waiting.clear()
        self._by_generator_uid.clear()
        self._generator.close()
