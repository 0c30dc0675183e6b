"""How an answer is shown on the terminal or in JSON: streamed with the reasoning and
answer headers, folded, its usage and timings, and the ``--verbose`` line. ``run`` and the
interactive chat share it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlxk.engine.reasoning import ANSWER_AFTER_REASONING, REASONING_HEADER

if TYPE_CHECKING:
    from mlxk.cli.output import Sink
    from mlxk.engine.generate import Chunk, Completion, Timings, Usage


def usage_of(usage: Usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def timings_of(load_s: float, t: Timings) -> dict:
    return {
        "load_s": round(load_s, 4),
        "prefill_tokens_per_s": round(t.prefill_tokens_per_s, 2),
        "decode_tokens_per_s": round(t.decode_tokens_per_s, 2),
        "time_to_first_token_s": round(t.time_to_first_token_s, 4),
        "peak_memory_bytes": t.peak_memory_bytes,
        "weights": t.weights,
        "collective_seconds": t.collective_s,
    }


def note_blas(sink: Sink, verbose: bool) -> None:
    """Say which BLAS mlx will use when asked (``--verbose``) or when MLXK_BLAS failed."""
    from mlxk.engine.blas import use_fast_blas

    choice = use_fast_blas()
    if choice.warning:
        sink.note(f"mlxk: {choice.warning}")
    elif verbose:
        sink.note(f"[{choice.reason}]")


def verbose_line(load_s: float, completion: Completion) -> str:
    t, u = completion.timings, completion.usage
    assert t is not None and u is not None, "a finished completion"
    return (
        f"[load {load_s:.2f}s | prompt {u.prompt_tokens} tok ({u.cached_tokens} cached),"
        f" {t.prefill_tokens_per_s:.1f} tok/s"
        f" | generated {u.completion_tokens} tok, {t.decode_tokens_per_s:.1f} tok/s"
        f" | first token {t.time_to_first_token_s * 1000:.0f} ms"
        f" | peak memory {t.peak_memory_bytes / 1e6:.1f} MB | finish {completion.finish_reason}]"
    )


def render_answer(data: dict, hide_reasoning: bool) -> str:
    reasoning = data.get("reasoning")
    if reasoning and not hide_reasoning:
        return REASONING_HEADER + reasoning + ANSWER_AFTER_REASONING + data["response"]
    return data["response"]


class StreamPrinter:
    """Prints chunks as they come, with the 1.x reasoning/answer headers."""

    def __init__(self, sink: Sink, hide_reasoning: bool):
        self.sink = sink
        self.hide_reasoning = hide_reasoning
        self.section: str | None = None

    def write(self, chunk: Chunk) -> None:
        if not chunk.text:
            return
        if chunk.channel == "reasoning":
            if self.hide_reasoning:
                return
            if self.section != "reasoning":
                self.sink.stream(REASONING_HEADER)
        elif self.section == "reasoning":
            self.sink.stream(ANSWER_AFTER_REASONING)
        self.section = chunk.channel
        self.sink.stream(chunk.text)

    def close(self) -> None:
        self.sink.stream("\n")
