"""Interactive chat: ``mlxk run MODEL`` with no prompt, or ``-i``.

History is kept across turns and rendered with the chat template; the KV cache is
reused, so each turn only processes what it added. ``/exit``, ``exit``, ``quit`` or
Ctrl-D end the chat; ``/clear`` forgets it; Ctrl-C stops the answer being written and
returns to the prompt, and Ctrl-C at the prompt ends the chat.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from mlxk.cli.answers import StreamPrinter, verbose_line

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.commands.run import RunOptions
    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


EXIT_WORDS = {"/exit", "exit", "quit", "/quit", "/bye"}
CHAT_HELP = (
    "/clear  forget the conversation\n"
    "/exit   end the chat (also exit, quit, /bye, Ctrl-D)\n"
    "/help   this list\n"
    "Ctrl-C  stop the answer being written\n\n"
)


def _read_line(sink: Sink, prompt: str) -> str | None:
    sink.stream(prompt)
    line = sys.stdin.readline()
    if line == "":
        return None  # end of input (Ctrl-D)
    return line.rstrip("\n")


def chat_loop(settings: Settings, sink: Sink, args: Namespace, options: RunOptions) -> int:
    """Chat with ``args.model`` until /exit, Ctrl-D or Ctrl-C at the prompt; ``options``
    (``run``'s RunOptions) set how each answer is generated and shown."""
    from mlxk.cli.commands.run import model_session

    with model_session(settings, sink, args.model, options) as session:
        cache = session.new_prompt_cache()
        system = [{"role": "system", "content": args.system}] if args.system else []
        history: list[dict] = []
        sink.stream(f"Chatting with {session.name}. /help lists the commands.\n\n")
        while True:
            try:
                line = _read_line(sink, "You: ")
            except KeyboardInterrupt:
                sink.stream("\n")
                break
            if line is None:
                sink.stream("\n")
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                break
            if text in ("/help", "/?"):
                sink.stream(CHAT_HELP)
                continue
            if text == "/clear":
                history.clear()
                cache.reset()
                sink.stream("(conversation cleared)\n\n")
                continue
            turn = [*history, {"role": "user", "content": text}]
            sink.stream("Assistant: ")
            printer = StreamPrinter(sink, options.hide_reasoning)
            try:
                completion = session.generate(system + turn, options, printer.write, cache)
            except KeyboardInterrupt:
                sink.stream("\n[stopped]\n\n")
                continue
            sink.stream("\n\n")
            if options.verbose:
                sink.note(verbose_line(session.load_seconds, completion))
            history = [*turn, {"role": "assistant", "content": completion.text}]
    sink.stream("Goodbye.\n")
    return 0
