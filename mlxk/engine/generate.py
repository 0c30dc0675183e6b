"""The one streaming primitive, and the non-streaming fold over it.

``stream(loaded, prompt, params)`` yields :class:`Chunk` objects: text on the
``answer`` or ``reasoning`` channel, the token ids that produced it, and a final chunk
with the finish reason, usage and timings. ``complete`` folds the same stream, so the
streamed and unstreamed texts are identical for the same settings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlxk.engine.chat import Prompt
from mlxk.engine.model import LoadedModel
from mlxk.engine.prompt_cache import PromptCache
from mlxk.engine.reasoning import (
    ANSWER,
    REASONING,
    ReasoningSplitter,
    StopStringFilter,
    detect_style,
)


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    split_reasoning: bool = True


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Timings:
    time_to_first_token_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    total_s: float
    peak_memory_bytes: int


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    channel: str = ANSWER
    token_ids: tuple[int, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None


@dataclass
class Completion:
    text: str = ""
    reasoning: str | None = None
    finish_reason: str = "stop"
    usage: Usage | None = None
    timings: Timings | None = None
    token_ids: list[int] = field(default_factory=list)


def _sampling(params: GenerationParams):
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    sampler = make_sampler(
        temp=params.temperature, top_p=params.top_p, min_p=params.min_p, top_k=params.top_k
    )
    processors = make_logits_processors(
        repetition_penalty=params.repetition_penalty,
        presence_penalty=params.presence_penalty,
        frequency_penalty=params.frequency_penalty,
    )
    return sampler, processors


def stream(
    loaded: LoadedModel,
    prompt: Prompt,
    params: GenerationParams,
    prompt_cache: PromptCache | None = None,
) -> Iterator[Chunk]:
    """Generate from ``prompt``; with ``prompt_cache``, feed only what it lacks."""
    import mlx.core as mx
    from mlx_lm.generate import stream_generate

    if params.seed is not None:
        mx.random.seed(params.seed)
    sampler, processors = _sampling(params)
    style = detect_style(set(loaded.special_tokens), prompt.text)
    if not params.split_reasoning:
        style = detect_style(set(), "")
    never_shown = tuple(sorted(loaded.special_tokens))
    splitter = ReasoningSplitter(style, strip_tokens=never_shown)
    stops = StopStringFilter(params.stop)

    started = time.perf_counter()
    first_token_at: float | None = None
    generated = 0
    finish_reason = "length"
    last = None
    mx.reset_peak_memory()
    to_feed, cached = list(prompt.token_ids), 0
    extra = {}
    if prompt_cache is not None:
        to_feed, cached = prompt_cache.prepare(prompt.token_ids)
        extra["prompt_cache"] = prompt_cache.cache
    sampled: list[int] = []
    responses = stream_generate(
        loaded.model,
        loaded.tokenizer,
        mx.array(to_feed),
        max_tokens=params.max_tokens,
        sampler=sampler,
        logits_processors=processors,
        **extra,
    )
    try:
        for response in responses:
            last = response
            sampled.append(int(response.token))
            is_end = response.finish_reason == "stop" and response.token in loaded.eos_token_ids
            if first_token_at is None:
                first_token_at = time.perf_counter()
            if not is_end:
                generated += 1
            visible = stops.feed(response.text)
            ids = () if is_end else (int(response.token),)
            yield from _chunks(splitter.feed(visible), ids)
            if stops.stopped:
                finish_reason = "stop"
                break
            if response.finish_reason is not None:
                finish_reason = response.finish_reason
    finally:
        responses.close()
        if prompt_cache is not None:
            prompt_cache.record(to_feed + sampled)
    yield from _chunks(splitter.feed(stops.finish()) + splitter.finish(), ())
    ended = time.perf_counter()
    ttft = (first_token_at or ended) - started
    decode_time = max(ended - (first_token_at or ended), 1e-9)
    yield Chunk(
        finish_reason=finish_reason,
        usage=Usage(len(prompt.token_ids), generated, cached),
        timings=Timings(
            time_to_first_token_s=ttft,
            prefill_tokens_per_s=getattr(last, "prompt_tps", 0.0) or 0.0,
            decode_tokens_per_s=(generated - 1) / decode_time if generated > 1 else 0.0,
            total_s=ended - started,
            peak_memory_bytes=int(mx.get_peak_memory()),
        ),
    )


def _chunks(pieces: list[tuple[str, str]], ids: tuple[int, ...]) -> Iterator[Chunk]:
    if not pieces and ids:
        yield Chunk(token_ids=ids)
        return
    for i, (channel, text) in enumerate(pieces):
        yield Chunk(text=text, channel=channel, token_ids=ids if i == 0 else ())


def fold(chunks: Iterator[Chunk], on_chunk=None) -> Completion:
    """Join a chunk stream into a :class:`Completion`, calling ``on_chunk`` on each."""
    result = Completion()
    answer: list[str] = []
    reasoning: list[str] = []
    for chunk in chunks:
        if on_chunk is not None:
            on_chunk(chunk)
        result.token_ids.extend(chunk.token_ids)
        (reasoning if chunk.channel == REASONING else answer).append(chunk.text)
        if chunk.finish_reason is not None:
            result.finish_reason = chunk.finish_reason
            result.usage, result.timings = chunk.usage, chunk.timings
    result.text = "".join(answer)
    result.reasoning = "".join(reasoning) if any(reasoning) else None
    return result


def complete(loaded: LoadedModel, prompt: Prompt, params: GenerationParams) -> Completion:
    """The non-streaming path: the fold of :func:`stream`."""
    return fold(stream(loaded, prompt, params))
