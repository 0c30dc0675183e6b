"""The engine on real tiny models: streaming equals the fold, memory is given back."""

from __future__ import annotations

import gc

import mlx.core as mx
import pytest

from mlxk.engine.chat import chat_prompt
from mlxk.engine.generate import GenerationParams, complete, stream
from mlxk.engine.model import load, loaded_model
from mlxk.engine.prompt_cache import PromptCache
from mlxk.testing.fixtures import build_cache

MODELS = [
    "mlx-community/TinyLlama-Chat-4bit",
    "mlx-community/TinyQwen3-Think-4bit",
    "mlx-community/tiny-gpt-oss-harmony",
    "mlx-community/TinyLlama-Chat-sharded",
]


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return build_cache(tmp_path_factory.mktemp("engine") / "hub", MODELS)


# spec: RUN-ENGINE-PARITY
@pytest.mark.parametrize("name", MODELS)
def test_streamed_chunks_join_to_the_unstreamed_completion(repos, name):
    with loaded_model(repos[name].snapshot) as loaded:
        prompt = chat_prompt(loaded, [{"role": "user", "content": "Hi"}])
        params = GenerationParams(max_tokens=64)
        chunks = list(stream(loaded, prompt, params))
        done = complete(loaded, prompt, params)
    answer = "".join(c.text for c in chunks if c.channel == "answer")
    reasoning = "".join(c.text for c in chunks if c.channel == "reasoning")
    assert answer == done.text
    assert (reasoning or None) == done.reasoning
    assert chunks[-1].finish_reason == done.finish_reason == "stop"
    assert [t for c in chunks for t in c.token_ids] == done.token_ids
    assert done.usage.completion_tokens == len(done.token_ids)


# spec: RUN-MEMORY
def test_unloading_gives_the_memory_back(repos):
    gc.collect()
    mx.clear_cache()
    baseline = mx.get_active_memory()
    loaded = load(repos["mlx-community/TinyLlama-Chat-sharded"].snapshot)
    with_model = mx.get_active_memory()
    assert with_model > baseline + 1_000_000, "the model did not allocate its weights"
    from mlxk.engine.model import unload

    unload(loaded)
    del loaded
    gc.collect()
    assert mx.get_active_memory() <= baseline + 64 * 1024


def test_the_prompt_cache_feeds_only_the_new_suffix(repos):
    with loaded_model(repos["mlx-community/TinyLlama-Chat-4bit"].snapshot) as loaded:
        cache = PromptCache(loaded.model)
        history = [{"role": "user", "content": "Hi"}]
        first = chat_prompt(loaded, history)
        one = complete_with(loaded, first, cache)
        history += [
            {"role": "assistant", "content": one.text},
            {"role": "user", "content": "Again"},
        ]
        second = chat_prompt(loaded, history)
        two = complete_with(loaded, second, cache)
        fresh = complete(loaded, second, GenerationParams(max_tokens=64))
    assert one.usage.cached_tokens == 0
    assert two.usage.cached_tokens >= len(first.token_ids)
    assert two.text == fresh.text


def complete_with(loaded, prompt, cache):
    from mlxk.engine.generate import fold

    return fold(stream(loaded, prompt, GenerationParams(max_tokens=64), cache))


# spec: SCALE-BATCH-FAULTS
def test_a_batch_with_a_cancelled_sequence_leaves_no_memory_behind(repos):
    from mlxk.engine.batch import Batch
    from mlxk.engine.chat import raw_prompt

    def run_batch(loaded, cancel_after: int | None, texts=("Hi", "Hello", "hi there")):
        batch = Batch(loaded, max_sequences=4, cache_bytes=0)
        uids = [
            batch.add(raw_prompt(loaded, text), GenerationParams(max_tokens=40)) for text in texts
        ]
        steps = 0
        while len(batch):
            batch.step()
            steps += 1
            if steps == cancel_after:
                batch.cancel(uids[-1])
        batch.close()
        del batch
        gc.collect()
        mx.clear_cache()

    with loaded_model(repos["mlx-community/TinyLlama-Chat-4bit"].snapshot) as loaded:
        gc.collect()
        mx.clear_cache()
        baseline = mx.get_active_memory()
        run_batch(loaded, cancel_after=None)
        after_clean_run = mx.get_active_memory()
        for _ in range(3):
            run_batch(loaded, cancel_after=3)
            run_batch(loaded, cancel_after=3, texts=("Hi",))  # a lone one, decoding alone
        after_faults = mx.get_active_memory()
    assert after_clean_run <= baseline + 64 * 1024, (baseline, after_clean_run)
    assert after_faults <= baseline + 64 * 1024, (baseline, after_faults)


# spec: SCALE-PROMPT-CACHE
def test_the_prompt_cache_holds_no_more_memory_than_it_counts(repos):
    """Finished sequences leave their KV cache in the prompt cache; what that holds in
    mlx memory must be what its byte count says, not the batch buffers they came from."""
    from mlxk.engine.batch import Batch
    from mlxk.engine.chat import raw_prompt

    with loaded_model(repos["mlx-community/TinyLlama-Chat-sharded"].snapshot) as loaded:
        batch = Batch(loaded, max_sequences=4, cache_bytes=64 * 1024 * 1024)
        gc.collect()
        mx.clear_cache()
        baseline = mx.get_active_memory()
        for round_ in range(6):
            for i in range(4):
                batch.add(raw_prompt(loaded, f"Hi {round_} {i}"), GenerationParams(max_tokens=24))
            while len(batch):
                batch.step()
        batch.store_finished()  # as a server does once a step's tokens are delivered
        mx.synchronize()
        gc.collect()
        mx.clear_cache()
        held = mx.get_active_memory() - baseline
        counted = batch.cache_bytes
        batch.close()
    assert counted > 0, "no finished sequence was kept in the prompt cache"
    assert held <= counted * 1.1 + 64 * 1024, (held, counted)


def _run_batch(batch, jobs, *, join_after: int | None = None):
    """Add every (prompt, params) job, step until all are done; each one's text and usage.
    With ``join_after``, the first job starts alone and the others come after that many
    steps of it."""
    from mlxk.engine.generate import fold

    later = jobs[1:] if join_after is not None else []
    chunks = {batch.add(prompt, params): [] for prompt, params in jobs[: len(jobs) - len(later)]}
    steps = 0
    while len(batch) or later:
        if later and steps == join_after:
            chunks.update({batch.add(prompt, params): [] for prompt, params in later})
            later = []
        for result in batch.step():
            chunks[result.uid].extend(result.chunks)
        steps += 1
    folded = [fold(iter(c)) for c in chunks.values()]
    return [(c.text, c.finish_reason) for c in folded], [c.usage for c in folded]


# spec: SCALE-BATCH
@pytest.mark.parametrize(
    ("chunk", "flops_per_byte"),
    [(2048, 1000), (2048, 0), (4, 1000)],
    ids=["prompts-fed-whole", "last-tokens-fed-apart", "prompts-longer-than-a-chunk"],
)
def test_batched_answers_equal_unbatched_ones(tmp_path, monkeypatch, chunk, flops_per_byte):
    """Greedy answers from a batch equal single runs: with penalties (which change the
    first token already), with a one-token limit, with prompts wholly in the prompt
    cache; with the prompts fed whole in one pass or their last tokens in a pass of their
    own (the rule that picks one set to force each), and (chunk=4)
    with prompts longer than a prefill chunk, which the generator prefills a chunk per
    step. A random-weights model: the fixtures' tiny models are trained to one answer,
    too sure of it for a penalty to change anything."""
    import mlxk.engine.batch as batch_module
    import mlxk.engine.batch_prefill as batch_prefill
    from mlxk.engine.chat import Prompt, raw_prompt
    from mlxk.testing.synthetic import write_synthetic

    monkeypatch.setattr(batch_prefill, "PREFILL_CHUNK", chunk)
    monkeypatch.setattr(batch_prefill, "FLOPS_PER_WEIGHT_BYTE", flops_per_byte)
    _, repo = write_synthetic(tmp_path / "hub", "tiny")
    with loaded_model(repo.snapshot) as loaded:

        def greedy_first(ids):
            one = GenerationParams(max_tokens=1)
            return complete(loaded, Prompt("", tuple(ids)), one).token_ids[0]

        # A prompt that already holds its own greedy continuation, so penalties bite:
        # put each greedy next token in front until the next one is in the prompt.
        ids = list(raw_prompt(loaded, "the sea the sea").token_ids)
        for _ in range(16):
            following = greedy_first(ids)
            if following in ids:
                break
            ids.insert(0, following)
        assert greedy_first(ids) in ids, "no prompt holding its own continuation was found"
        repeating = Prompt("", tuple(ids))
        jobs = [
            (repeating, GenerationParams(max_tokens=12)),
            (repeating, GenerationParams(max_tokens=12, repetition_penalty=1.5)),
            (repeating, GenerationParams(max_tokens=12, frequency_penalty=1.0)),
            (raw_prompt(loaded, "Hi"), GenerationParams(max_tokens=1)),
        ]
        expected = [complete(loaded, *job) for job in jobs]
        batch = batch_module.Batch(loaded, max_sequences=4, cache_bytes=64 * 1024 * 1024)
        longest = max(len(prompt.token_ids) for prompt, _ in jobs)
        fed_whole = len(jobs) * (longest - 1) <= batch_prefill.one_pass_positions(loaded.model)
        assert fed_whole == (flops_per_byte > 0)
        cold, cold_usage = _run_batch(batch, jobs)
        warm, warm_usage = _run_batch(batch, jobs)  # every prompt is now in the prompt cache
        # Prompts that go on from cached ones by different amounts, beside a new one: cached
        # prefixes of different lengths and rests of different lengths in one prefill.
        tail = loaded.tokenizer.encode(" and the moon", add_special_tokens=False)
        hi = raw_prompt(loaded, "Hi").token_ids
        longer = [
            (Prompt("", (*repeating.token_ids, *tail)), GenerationParams(max_tokens=8)),
            (Prompt("", (*hi, *tail[:2])), GenerationParams(max_tokens=8)),
            (raw_prompt(loaded, "a river"), GenerationParams(max_tokens=8)),
        ]
        longer_expected = [complete(loaded, *job) for job in longer]
        went_on, went_on_usage = _run_batch(batch, longer)
        # Alone (a lone sequence decodes outside the generator), and joined by the others
        # right after its prefill, after its first decode step and later on.
        alone = [_run_batch(batch, [job])[0][0] for job in jobs]
        joined = {n: _run_batch(batch, jobs, join_after=n)[0] for n in (1, 2, 5)}
        batch.close()
    assert expected[1].token_ids[0] != expected[0].token_ids[0], "the penalty changed nothing"
    assert cold == [(c.text, c.finish_reason) for c in expected]
    assert warm == cold
    assert all(u.cached_tokens == 0 for u in cold_usage)
    assert all(u.cached_tokens == u.prompt_tokens - 1 for u in warm_usage), warm_usage
    assert went_on == [(c.text, c.finish_reason) for c in longer_expected]
    assert alone == cold
    assert all(answers == cold for answers in joined.values()), joined
    assert went_on_usage[0].cached_tokens >= len(repeating.token_ids) - 1, went_on_usage
    assert went_on_usage[1].cached_tokens >= len(hi) - 1
    assert went_on_usage[2].cached_tokens < went_on_usage[1].cached_tokens  # at most the BOS


class CountingModel:
    """The model, counting its forward passes (everything else passes through)."""

    def __init__(self, model):
        self._model = model
        self.passes = 0

    def __call__(self, *args, **kwargs):
        self.passes += 1
        return self._model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


# spec: SCALE-BATCH
@pytest.mark.parametrize("sequences", [1, 3])
def test_a_batch_computes_no_token_past_the_last(tmp_path, monkeypatch, sequences):
    """Each step of a batch computes its next tokens ahead; the sequences that reach their
    length limit together leave before a step would compute one past their end: n tokens
    each cost n forward passes (the prefill, which gives the first, and one per token
    after it), alone or batched, and the answers stay those of single runs."""
    import mlxk.engine.batch as batch_module
    import mlxk.engine.batch_prefill as batch_prefill
    from mlxk.engine.chat import raw_prompt
    from mlxk.engine.generate import fold
    from mlxk.testing.synthetic import write_synthetic

    monkeypatch.setattr(batch_prefill, "FLOPS_PER_WEIGHT_BYTE", 1000)  # prompts fed in one pass
    _, repo = write_synthetic(tmp_path / "hub", "tiny")
    limit = 7
    with loaded_model(repo.snapshot) as loaded:
        prompts = [raw_prompt(loaded, text) for text in ("the sea", "a cat", "winter")]
        prompts = prompts[:sequences]
        params = GenerationParams(max_tokens=limit)
        expected = [complete(loaded, prompt, params) for prompt in prompts]
        counting = CountingModel(loaded.model)
        loaded.model = counting
        batch = batch_module.Batch(loaded, max_sequences=4, cache_bytes=64 * 1024 * 1024)
        chunks = {batch.add(prompt, params): [] for prompt in prompts}
        while len(batch):
            for result in batch.step():
                chunks[result.uid].extend(result.chunks)
        batch.close()
        loaded.model = counting._model
    answers = [fold(iter(c)) for c in chunks.values()]
    assert [a.finish_reason for a in expected] == ["length"] * sequences, "ended early"
    assert [(a.text, a.finish_reason) for a in answers] == [
        (e.text, e.finish_reason) for e in expected
    ]
    assert counting.passes == limit


def test_unloading_twice_is_harmless(tmp_path):
    from mlxk.engine.model import load, unload
    from mlxk.testing.synthetic import write_synthetic

    _, repo = write_synthetic(tmp_path / "hub", "tiny")
    loaded = load(repo.snapshot)
    unload(loaded)
    unload(loaded)  # a server's idle unload and its shutdown may both reach it
    assert loaded.model is None and loaded.tokenizer is None


class ShapeRecordingModel(CountingModel):
    """The model, recording the shape of what each forward pass is fed."""

    def __init__(self, model):
        super().__init__(model)
        self.fed: list[tuple[int, ...]] = []

    def __call__(self, tokens, *args, **kwargs):
        self.fed.append(tuple(tokens.shape))
        return super().__call__(tokens, *args, **kwargs)


# spec: SAMPLING-N
@pytest.mark.parametrize("flops_per_byte", [1000, 0], ids=["fed-whole", "last-apart"])
def test_choices_of_one_prompt_share_its_prefill(tmp_path, monkeypatch, flops_per_byte):
    """A request's n choices (the same prompt, each its own random stream) are fed as one
    row of the prefill, and each samples as it would alone: seeded choices give the text
    each gives by itself, and differ from each other."""
    from dataclasses import replace

    import mlxk.engine.batch as batch_module
    import mlxk.engine.batch_prefill as batch_prefill
    from mlxk.engine.chat import raw_prompt
    from mlxk.engine.generate import fold
    from mlxk.testing.synthetic import write_synthetic

    monkeypatch.setattr(batch_prefill, "FLOPS_PER_WEIGHT_BYTE", flops_per_byte)
    _, repo = write_synthetic(tmp_path / "hub", "tiny")
    with loaded_model(repo.snapshot) as loaded:
        prompt = raw_prompt(loaded, "the sea and the moon")
        params = GenerationParams(max_tokens=8, temperature=1.0, seed=3)
        choices = [replace(params, choice=i) for i in range(3)]
        alone = [complete(loaded, prompt, p).text for p in choices]
        recording = ShapeRecordingModel(loaded.model)
        loaded.model = recording
        batch = batch_module.Batch(loaded, max_sequences=4, cache_bytes=0)
        chunks = {batch.add(prompt, p): [] for p in choices}
        prefill = None
        while len(batch):
            for result in batch.step():
                chunks[result.uid].extend(result.chunks)
            prefill = prefill or list(recording.fed)  # the first step's passes: the prefill
        batch.close()
        loaded.model = recording._model
    assert prefill and all(shape[0] == 1 for shape in prefill), prefill
    assert [fold(iter(c)).text for c in chunks.values()] == alone
    assert len(set(alone)) == 3, alone
