"""``mlxk run MODEL [PROMPT]``: one answer, streamed; or a chat when no prompt is given."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from mlxk.errors import UsageError

REASONING_HEADER = "**[Reasoning]**\n\n"
ANSWER_HEADER = "**[Answer]**\n\n"
ANSWER_AFTER_REASONING = "\n\n---\n\n" + ANSWER_HEADER


@dataclass(frozen=True)
class RunOptions:
    prompt: str
    system: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    use_chat_template: bool = True
    hide_reasoning: bool = False
    stream: bool = True
    verbose: bool = False


def options_from_args(args, prompt: str) -> RunOptions:
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    if not 0.0 <= args.temperature <= 10.0:
        raise UsageError("--temperature must be between 0 and 10")
    if not 0.0 < args.top_p <= 1.0:
        raise UsageError("--top-p must be greater than 0 and at most 1")
    if args.repetition_penalty is not None and not 0.0 < args.repetition_penalty <= 10.0:
        raise UsageError("--repetition-penalty must be greater than 0 and at most 10")
    return RunOptions(
        prompt=prompt,
        system=args.system,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        stop=tuple(args.stop),
        use_chat_template=not args.no_chat_template,
        hide_reasoning=args.hide_reasoning,
        stream=not (args.no_stream or args.json),
        verbose=args.verbose,
    )


def execute(args, settings, sink) -> int:
    prompt = args.prompt
    if prompt == "-":
        prompt = sys.stdin.read()
    if prompt is None or args.interactive:
        from mlxk.cli.commands.chat import chat_loop

        if sink.json_mode:
            raise UsageError("interactive chat has no JSON mode; give a prompt")
        return chat_loop(settings, sink, args)
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return run_once(settings, sink, args.model, options_from_args(args, prompt))


def run_once(settings, sink, model: str, options: RunOptions, *, command: str = "run") -> int:
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.memory import check_fits, model_bytes
    from mlxk.engine.session import session_for

    info = resolve_runnable(settings.hub_cache, model)
    check_fits(info.name, model_bytes(info.snapshot_path), settings.memory_limit)
    note_blas(sink, options.verbose)
    with session_for(info.name, info.snapshot_path) as session:
        messages = session.messages(options.prompt, system=options.system)
        printer = _StreamPrinter(sink, options.hide_reasoning) if options.stream else None
        completion = session.generate(
            messages,
            options,
            on_chunk=printer.write if printer and not sink.json_mode else None,
        )
        if printer and not sink.json_mode:
            printer.close()
        data = {
            "model": session.name,
            "prompt": options.prompt,
            "response": completion.text,
            "reasoning": completion.reasoning,
            "finish_reason": completion.finish_reason,
        }
        if command == "run":
            data["usage"] = _usage(completion.usage)
            data["timings"] = _timings(session.load_seconds, completion.timings)
        if options.verbose and not sink.json_mode:
            sink.note(verbose_line(session.load_seconds, completion))
        if options.stream and not sink.json_mode:
            return 0
        sink.result(command, data, lambda d: render_answer(d, options.hide_reasoning))
        return 0


def _usage(usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _timings(load_s: float, t) -> dict:
    return {
        "load_s": round(load_s, 4),
        "prefill_tokens_per_s": round(t.prefill_tokens_per_s, 2),
        "decode_tokens_per_s": round(t.decode_tokens_per_s, 2),
        "time_to_first_token_s": round(t.time_to_first_token_s, 4),
        "peak_memory_bytes": t.peak_memory_bytes,
    }


def note_blas(sink, verbose: bool) -> None:
    """Say which BLAS mlx will use when asked (``--verbose``) or when MLXK_BLAS failed."""
    from mlxk.engine.blas import use_fast_blas

    choice = use_fast_blas()
    if choice.warning:
        sink.note(f"mlxk: {choice.warning}")
    elif verbose:
        sink.note(f"[{choice.reason}]")


def verbose_line(load_s: float, completion) -> str:
    t, u = completion.timings, completion.usage
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


class _StreamPrinter:
    """Prints chunks as they come, with the 1.x reasoning/answer headers."""

    def __init__(self, sink, hide_reasoning: bool):
        self.sink = sink
        self.hide_reasoning = hide_reasoning
        self.section: str | None = None
        self.wrote = False

    def write(self, chunk) -> None:
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
        self.wrote = True

    def close(self) -> None:
        self.sink.stream("\n")
