"""``mlxk run MODEL [PROMPT]``: one answer, streamed; or a chat when no prompt is given."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlxk.cli.answers import (
    StreamPrinter,
    note_blas,
    render_answer,
    timings_of,
    usage_of,
    verbose_line,
)
from mlxk.errors import InsufficientMemory, InvalidRequest, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cache.markers import ReasoningMarkers
    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


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
    json_schema: dict | None = None  # --schema: the answer is JSON valid against it
    json_object: bool = False  # --json-object
    reasoning_tokens: ReasoningMarkers | None = None  # --reasoning-tokens START,END
    cpu_float32: str = "auto"  # --cpu-float32: auto | always | never


def options_from_args(args: Namespace, prompt: str) -> RunOptions:
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
        json_schema=_schema(args.schema) if getattr(args, "schema", None) else None,
        json_object=getattr(args, "json_object", False),
        reasoning_tokens=_markers(getattr(args, "reasoning_tokens", None)),
        cpu_float32=getattr(args, "cpu_float32", "auto"),
    )


def _markers(flag: str | None) -> ReasoningMarkers | None:
    from mlxk.cache.markers import parse_flag

    return parse_flag(flag) if flag is not None else None


@contextmanager
def model_session(settings: Settings, sink: Sink, model: str, options: RunOptions) -> Iterator:
    """The model ``run`` and chat talk to: resolved, checked to fit, loaded with the
    reasoning markers configured for it, and freed afterwards."""
    from mlxk.cache.info import resolve_runnable
    from mlxk.cache.markers import configured
    from mlxk.engine.memory import check_fits
    from mlxk.engine.precision import plan_here
    from mlxk.engine.session import session_for

    info = resolve_runnable(settings.hub_cache, model)
    home, flag = settings.config_home, options.reasoning_tokens
    markers = configured(info.name, info.path, config_home=home, flag=flag)
    note_blas(sink, options.verbose)
    precision = plan_here(info.path, options.cpu_float32, settings.memory_limit)
    try:
        check_fits(info.name, precision.bytes, settings.memory_limit)
    except InsufficientMemory as error:
        if not precision.float32:
            raise
        hint = f" (that is its {precision.label}: --cpu-float32 never keeps the stored weights)"
        raise InsufficientMemory(error.message + hint) from None
    if options.verbose:
        sink.note(f"[weights: {precision.label}: {precision.reason}]")
    with session_for(info.name, info.path, markers, precision) as session:
        yield session


def _schema(path: str) -> dict:
    """The JSON Schema in the file ``--schema`` names, checked."""
    import json
    from pathlib import Path

    from mlxk.engine.constraints import check_schema

    try:
        schema = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"--schema: cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"--schema: {path} is not JSON: {error}") from None
    try:
        check_schema(schema, "--schema")
    except InvalidRequest as error:
        raise UsageError(f"--schema: {path}: {error.message}") from None
    return schema


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    if getattr(args, "hosts", None):
        from mlxk.cli.commands.run_group import run_on_group

        return run_on_group(args, settings, sink)
    return _run(args, settings, sink, read_prompt(args))


def read_prompt(args: Namespace) -> str | None:
    """The prompt: the argument, or stdin for '-' (with the instruction below it)."""
    prompt = args.prompt
    instruction = getattr(args, "instruction", None)
    if instruction is not None and prompt != "-":
        raise UsageError(
            "a second text is an instruction for stdin: use '-' as the prompt"
            " (cat file | mlxk run MODEL - 'summarise'), or quote one prompt"
        )
    if prompt == "-":
        prompt = sys.stdin.read()
        if instruction:
            prompt = f"{prompt.rstrip()}\n\n{instruction}" if prompt.strip() else instruction
    return prompt


def _run(args: Namespace, settings: Settings, sink: Sink, prompt: str | None) -> int:
    if prompt is None or args.interactive:
        from mlxk.cli.commands.chat import chat_loop

        if sink.json_mode:
            raise UsageError("interactive chat has no JSON mode; give a prompt")
        return chat_loop(settings, sink, args, options_from_args(args, prompt=""))
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return run_once(settings, sink, args.model, options_from_args(args, prompt))


def run_once(
    settings: Settings,
    sink: Sink,
    model: str,
    options: RunOptions,
    *,
    command: str = "run",
    opened: Any = None,
) -> int:
    """One answer; ``opened``: the session to answer with (default: load ``model``)."""
    with opened or model_session(settings, sink, model, options) as session:
        messages = session.messages(options.prompt, system=options.system)
        printer = StreamPrinter(sink, options.hide_reasoning) if options.stream else None
        try:
            completion = session.generate(
                messages,
                options,
                on_chunk=printer.write if printer and not sink.json_mode else None,
            )
        except InvalidRequest as error:
            if error.param != "response_format":
                raise
            flag = "--schema" if options.json_schema is not None else "--json-object"
            raise UsageError(f"{flag}: {error.message}") from None
        if printer and not sink.json_mode:
            printer.close()
        data: dict[str, Any] = {
            "model": session.name,
            "prompt": options.prompt,
            "response": completion.text,
            "reasoning": completion.reasoning,
            "finish_reason": completion.finish_reason,
        }
        if command == "run":
            assert completion.usage is not None and completion.timings is not None
            data["usage"] = usage_of(completion.usage)
            data["timings"] = timings_of(session.load_seconds, completion.timings)
        if options.verbose and not sink.json_mode:
            sink.note(verbose_line(session.load_seconds, completion))
        if options.stream and not sink.json_mode:
            return 0
        sink.result(command, data, lambda d: render_answer(d, options.hide_reasoning))
        return 0
