"""``mlxk``: the error boundary around every command."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TextIO

from mlxk.cli.output import Sink
from mlxk.cli.parser import COMMANDS, build_parser
from mlxk.errors import InternalError, Interrupted, MlxkError
from mlxk.settings import Settings


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sink = Sink("--json" in argv, stdout or sys.stdout, stderr or sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = argv  # as given: run --hosts starts every rank with it
    except MlxkError as error:
        sink.error(None, error)
        return error.kind.exit_code
    if args.version and args.command is None:
        args.command = "version"
    if args.command is None:
        parser.print_help(sink.out)
        return 0
    sink.json_mode = bool(getattr(args, "json", False) or args.global_json)
    settings = Settings.from_environ(environ)
    command = args.command
    chat = command == "run" and (args.prompt is None or args.interactive)
    previous = None if COMMANDS[command] == "serve" or chat else _sigterm_interrupts()
    try:
        module = importlib.import_module(f"mlxk.cli.commands.{COMMANDS[command]}")
        return module.execute(args, settings, sink) or 0
    except MlxkError as error:
        sink.error(command, error)
        return error.kind.exit_code
    except KeyboardInterrupt:
        interrupted = Interrupted("interrupted")
        sink.error(command, interrupted)
        return interrupted.kind.exit_code
    except BrokenPipeError:
        # The reader went away (`mlxk list | head -1`): leave quietly.
        _silence_stdout()
        return 0
    except Exception as error:  # the boundary: one line, never a traceback
        if settings.debug:
            raise
        internal = InternalError(f"{type(error).__name__}: {error}")
        sink.error(command, internal)
        return internal.kind.exit_code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sigterm_interrupts():  # noqa: ANN202 - returns a signal handler, whatever it was
    """SIGTERM stops a command as Ctrl-C does (what it printed stays; exit 130), instead
    of killing it mid-write. Only the main thread may set handlers; None elsewhere."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
