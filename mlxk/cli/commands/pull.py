"""``mlxk pull ORG/NAME[@revision]``."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING

from mlxk.cache.pull import pull
from mlxk.errors import Interrupted

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    previous = _leave_at_once_on_interrupt(sink)
    try:
        result = pull(settings, args.model)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    message = (
        f"{result.name} is already in the cache"
        if result.status == "already_exists"
        else f"downloaded {result.name}"
    )
    data = {
        "model": result.name,
        "download_status": result.status,
        "message": message,
        "expanded_name": result.name if result.expanded else None,
        "commit_hash": result.commit,
    }
    sink.result("pull", data, lambda d: f"pull: {d['model']} — {d['message']}")
    return 0


def _leave_at_once_on_interrupt(sink: Sink):  # noqa: ANN202 - returns the previous handler
    """Ctrl-C ends a pull at once. Otherwise huggingface_hub's download pool would wait
    for each of its threads to finish (and retry) its file before the interrupt could
    reach mlxk. What was downloaded stays; the next pull fetches the rest."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def leave(signum: int, frame: object) -> None:
        interrupted = Interrupted("interrupted; run the same pull again to finish it")
        sink.error("pull", interrupted)
        os._exit(interrupted.kind.exit_code)

    return signal.signal(signal.SIGINT, leave)
