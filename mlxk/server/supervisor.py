"""Run the server in a child process: restart it if it crashes, stop it cleanly.

SIGINT or SIGTERM to the supervisor is passed to the child as SIGTERM (uvicorn then
drains open requests); after a grace period the child is killed. The supervisor exits
only when the child has, so no orphan keeps the port; and if the supervisor itself is
killed, the child follows it (``exit_with_parent``). A child that could not start at
all (exit 78), or refused its options (exit 2), is not restarted: nothing about a second
try would differ.

The child is started so that the working directory is not on its import path: a
``queue.py`` lying where the user starts the server must not be imported.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
GRACE_S = 10.0
EXIT_CANNOT_START = 78
EXIT_USAGE = 2  # mlxk's exit code for a usage error (mlxk.errors)


def child_command(argv: list[str]) -> list[str]:
    """``python -c …`` running mlxk with the working directory off ``sys.path``."""
    import mlxk

    root = str(Path(mlxk.__file__).resolve().parent.parent)
    boot = (
        "import sys; "
        f"sys.path[:] = [p for p in sys.path if p not in ('', '.')] + [{root!r}]; "
        "from mlxk.cli.main import main; sys.exit(main())"
    )
    return [sys.executable, "-c", boot, *argv]


# What supervise returns: 0 stopped by a signal, 1 gave up after crashes, or
# EXIT_CANNOT_START when the child could not start at all.


def supervise(
    child_argv: list[str], *, env: dict[str, str] | None = None, log: Callable[[str], Any] = print
) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    restarts: list[float] = []
    try:
        while True:
            child = subprocess.Popen(child_command(child_argv), env=env)
            code = _wait(child, lambda: stopping)
            if stopping or code == 0:
                return 0
            if code in (EXIT_CANNOT_START, EXIT_USAGE):
                return code  # the child said why, in one line; a retry would say it again
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(restarts) > RESTART_LIMIT:
                log(f"mlxk serve: server crashed {len(restarts)} times in a minute; giving up")
                return 1
            log(f"mlxk serve: server exited with {code}; restarting")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait(child: subprocess.Popen, stopping: Callable[[], bool]) -> int:
    deadline = None
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if stopping():
            deadline = deadline or time.monotonic() + GRACE_S
            if time.monotonic() > deadline:
                child.kill()
                return child.wait()


def exit_with_parent(parent_pid: int) -> None:
    """Have this process get SIGTERM when ``parent_pid`` (the supervisor) dies.

    Linux delivers it itself (``PR_SET_PDEATHSIG``); elsewhere a thread watches the
    parent. A parent already gone by now means exiting at once.
    """
    import os

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="mlxk-parent-watch", daemon=True).start()
