"""The one streaming primitive, and the non-streaming fold over it.

``stream(loaded, prompt, params)`` yields :class:`Chunk` objects: text on the
``answer`` or ``reasoning`` channel, the token ids that produced it, and a final chunk
with the finish reason, usage and timings. ``complete`` folds the same stream, so the
streamed and unstreamed texts are identical for the same settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from mlxk.engine.chat import Prompt
from mlxk.engine.model import LoadedModel
from mlxk.engine.prompt_cache import PromptCache
from mlxk.engine.reasoning import (
    ANSWER,
    NO_REASONING,
    REASONING,
    ReasoningSplitter,
    StopStringFilter,
)
from mlxk.engine.tool_stream import ToolCallPart
from mlxk.engine.tools import ToolCall, ToolCallSplitter, ToolUse

if TYPE_CHECKING:
    from mlxk.engine.grammar import Grammar


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
    choice: int = 0  # which of a request's n choices: each draws its own random stream
    stop: tuple[str, ...] = ()
    split_reasoning: bool = True
    logit_bias: tuple[tuple[int, float], ...] = ()
    grammar: Grammar | None = None  # constrained decoding (mlxk.engine.grammar)
    logprobs: int | None = None  # None: off; N: the sampled token's and the top N
    tools: ToolUse | None = None  # parse the model's tool calls (mlxk.engine.tools)
    request: Any = None  # the SamplingRequest these came from: other ranks rebuild from it


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
    peak_memory_bytes: int
    weights: str | None = None  # how the weights ran: "float32 copy of 4bit", "4bit", …
    collective_s: float | None = None  # in a group: time in its step exchange meanwhile


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    channel: str = ANSWER
    token_ids: tuple[int, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # complete calls (what an answer folds)
    logprobs: tuple[TokenLogprob, ...] = ()
    tool_call_parts: tuple[ToolCallPart, ...] = ()  # calls as they stream (OpenAI deltas)
    stop_sequence: str | None = None  # on a last chunk: the stop string that ended it


@dataclass(frozen=True)
class TokenLogprob:
    """A sampled token's text and log-probability, and the most likely alternatives
    at its place (text, log-probability), best first."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Completion:
    text: str = ""
    reasoning: str | None = None
    finish_reason: str = "stop"
    usage: Usage | None = None
    timings: Timings | None = None
    token_ids: list[int] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)


class TokenPipeline:
    """One sequence's sampled tokens in, chunks out.

    Detokenizes (mlx-lm's streaming detokenizer, copied once per sequence), holds back
    what may be a stop string, splits reasoning from answer, counts tokens and times
    them. Single and batched generation both feed tokens through it, so their output
    is the same by construction.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        prompt: Prompt,
        params: GenerationParams,
        cached_tokens: int = 0,
        processors: list | tuple = (),
    ):
        style = loaded.reasoning_style(prompt.text) if params.split_reasoning else NO_REASONING
        tools = params.tools
        hidden = set(loaded.special_tokens)
        if tools is not None:  # a call's markers may be special tokens ([TOOL_CALLS])
            hidden -= {tools.format.start, tools.format.end}
        self.splitter = ReasoningSplitter(
            style,
            strip_tokens=tuple(sorted(hidden)),
            tools=tools is not None and tools.format.kind == "harmony",
        )
        self.tool_splitter = ToolCallSplitter(tools) if tools is not None else None
        self.logprobs = params.logprobs
        # a grammar that closed the output early for want of tokens: a cut, not a stop
        self._closers = [p for p in processors if hasattr(p, "cut_short")]
        self.stops = StopStringFilter(params.stop)
        self.detokenizer = loaded.tokenizer.detokenizer
        self.tokenizer = loaded.tokenizer
        self.eos = loaded.eos_token_ids
        self.weights = loaded.precision.label if loaded.precision is not None else None
        self.max_tokens = params.max_tokens
        self.prompt_tokens = len(prompt.token_ids)
        self.cached_tokens = cached_tokens
        self.sampled: list[int] = []
        self.generated = 0
        self.finish_reason: str | None = None
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.prefill_tokens_per_s = 0.0

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def feed(self, token: int, logprobs: Any = None) -> list[Chunk]:
        """Chunks for one sampled token; after the last one, ``done`` is true.

        ``logprobs``: the distribution it was sampled from (an mx array); read only when
        the request asked for log-probabilities."""
        if self.done:
            return []
        token = int(token)
        self.sampled.append(token)
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            prefill = max(self.first_token_at - self.started, 1e-9)
            self.prefill_tokens_per_s = (self.prompt_tokens - self.cached_tokens) / prefill
        if token in self.eos:
            cut = any(closer.cut_short for closer in self._closers)
            self.finish_reason = "length" if cut else "stop"
            return []
        self.generated += 1
        self.detokenizer.add_token(token)
        visible = self.stops.feed(self.detokenizer.last_segment)
        chunks = self._chunks(self.splitter.feed(visible), (token,))
        if self.logprobs is not None and logprobs is not None:
            scored = token_logprob(self.tokenizer, token, logprobs, self.logprobs)
            if not chunks:
                chunks = [Chunk(token_ids=(token,))]
            chunks[0] = replace(chunks[0], logprobs=(scored,))
        if self.stops.stopped:
            self.finish_reason = "stop"
        elif self.generated >= self.max_tokens:
            self.finish_reason = "length"
        return chunks

    def finish(self, reason: str | None = None, peak_memory_bytes: int = 0) -> list[Chunk]:
        """Flush what is held back and close with the finish reason, usage and timings."""
        if not self.done:
            self.finish_reason = reason or "length"
        tail = ""
        if not self.stops.stopped:
            self.detokenizer.finalize()
            tail = self.stops.feed(self.detokenizer.last_segment)
        pieces = self.splitter.feed(tail + self.stops.finish()) + self.splitter.finish()
        tail_chunks = self._chunks(pieces, (), closing=True)
        called = self.tool_splitter is not None and self.tool_splitter.made > 0
        if called and self.finish_reason == "stop":
            self.finish_reason = "tool_calls"
        ended = time.perf_counter()
        first = self.first_token_at or ended
        decode_time = max(ended - first, 1e-9)
        final = Chunk(
            finish_reason=self.finish_reason,
            stop_sequence=self.stops.matched,
            usage=Usage(self.prompt_tokens, self.generated, self.cached_tokens),
            timings=Timings(
                time_to_first_token_s=first - self.started,
                prefill_tokens_per_s=self.prefill_tokens_per_s,
                decode_tokens_per_s=(self.generated - 1) / decode_time
                if self.generated > 1
                else 0.0,
                peak_memory_bytes=peak_memory_bytes,
                weights=self.weights,
            ),
        )
        return tail_chunks + [final]

    def _chunks(
        self, pieces: list[tuple[str, str]], ids: tuple[int, ...], closing: bool = False
    ) -> list[Chunk]:
        """The chunks of these pieces, with the tool calls they complete split out."""
        calls: list[ToolCall] = []
        parts: list[ToolCallPart] = []
        if self.tool_splitter is not None:
            pieces, calls = self.tool_splitter.feed(pieces)
            if closing:
                more, last_calls = self.tool_splitter.finish()
                pieces, calls = pieces + more, calls + last_calls
            parts = self.tool_splitter.take_parts()
        chunks = _chunks(pieces, ids)
        if calls or parts:
            made, streamed = tuple(calls), tuple(parts)
            last = chunks[-1] if chunks else None
            if (
                last is not None
                and not last.tool_calls
                and not last.tool_call_parts
                and not last.text
            ):
                chunks[-1] = replace(last, tool_calls=made, tool_call_parts=streamed)
            else:
                chunks.append(
                    Chunk(
                        token_ids=() if chunks else ids, tool_calls=made, tool_call_parts=streamed
                    )
                )
        return chunks


def stream(
    loaded: LoadedModel,
    prompt: Prompt,
    params: GenerationParams,
    prompt_cache: PromptCache | None = None,
) -> Iterator[Chunk]:
    """Generate from ``prompt`` on one sequence (``mlxk run``, the chat).

    Args:
        params: limits, sampling, stop strings and whether to split reasoning.
        prompt_cache: a chat's KV cache; only the tokens it lacks are fed.

    Returns:
        Chunks of text as they decode (answer or reasoning channel); the last carries
        the finish reason, usage and timings.
    """
    import mlx.core as mx
    from mlx_lm.generate import generate_step

    from mlxk.engine.sampling import make_sampling

    sampler, processors = make_sampling(params)
    mx.reset_peak_memory()
    to_feed, cached = list(prompt.token_ids), 0
    extra: dict[str, Any] = {}
    if prompt_cache is not None:
        to_feed, cached = prompt_cache.prepare(prompt.token_ids)
        extra["prompt_cache"] = prompt_cache.cache
    pipeline = TokenPipeline(loaded, prompt, params, cached, processors)
    tokens = generate_step(
        mx.array(to_feed),
        loaded.model,
        max_tokens=params.max_tokens,
        sampler=sampler,
        logits_processors=processors,
        **extra,
    )
    try:
        for token, logprobs in tokens:
            yield from pipeline.feed(int(token), logprobs)
            if pipeline.done:
                break
    finally:
        tokens.close()
        if prompt_cache is not None:
            prompt_cache.record(to_feed + pipeline.sampled)
    yield from pipeline.finish(peak_memory_bytes=int(mx.get_peak_memory()))


def token_logprob(tokenizer: Any, token: int, logprobs: Any, top: int) -> TokenLogprob:
    """The sampled token's log-probability and the ``top`` most likely tokens' ones."""
    import mlx.core as mx

    row = logprobs.reshape(-1)
    best: tuple[tuple[str, float], ...] = ()
    if top > 0:
        ids = mx.argpartition(-row, top - 1)[:top]
        ranked: list = cast(list, ids.tolist())
        scores: list = cast(list, row[ids].tolist())
        found = zip(ranked, scores, strict=True)
        pairs = sorted(found, key=lambda p: -p[1])
        best = tuple((tokenizer.decode([i]), value) for i, value in pairs)
    return TokenLogprob(tokenizer.decode([token]), float(row[token].item()), best)


def _chunks(pieces: list[tuple[str, str]], ids: tuple[int, ...]) -> list[Chunk]:
    if not pieces:
        return [Chunk(token_ids=ids)] if ids else []
    return [
        Chunk(text=text, channel=channel, token_ids=ids if i == 0 else ())
        for i, (channel, text) in enumerate(pieces)
    ]


def fold(chunks: Iterator[Chunk], on_chunk: Callable[[Chunk], None] | None = None) -> Completion:
    """Join a chunk stream into a :class:`Completion`, calling ``on_chunk`` on each."""
    result = Completion()
    answer: list[str] = []
    reasoning: list[str] = []
    for chunk in chunks:
        if on_chunk is not None:
            on_chunk(chunk)
        result.token_ids.extend(chunk.token_ids)
        result.tool_calls.extend(chunk.tool_calls)
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
