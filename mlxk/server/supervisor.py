"""Run the server in a child process: restart it if it crashes, stop it cleanly.

SIGINT or SIGTERM to the supervisor is passed to the child as SIGTERM (uvicorn then
drains open requests); after a grace period the child is killed. The supervisor exits
only when the child has, so no orphan keeps the port.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
GRACE_S = 10.0


def supervise(child_argv: list[str], *, log=print) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    restarts: list[float] = []
    try:
        while True:
            child = subprocess.Popen([sys.executable, "-m", "mlxk", *child_argv])
            code = _wait(child, lambda: stopping)
            if stopping:
                return 0
            if code == 0:
                return 0
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(restarts) > RESTART_LIMIT:
                log(f"mlxk serve: server crashed {len(restarts)} times in a minute; giving up")
                return 1
            log(f"mlxk serve: server exited with {code}; restarting")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait(child: subprocess.Popen, stopping) -> int:
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
