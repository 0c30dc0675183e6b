"""Run ``create_app`` under uvicorn on 127.0.0.1 in a background thread (for tests)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(settings, prepare=None):
    """Yield the base URL of a real HTTP server running ``create_app(settings)``.

    ``prepare(app)``, if given, sees the app before it serves (tests inject faults there).
    """
    from mlxk.server.app import create_app
    from mlxk.server.serving import make_server

    port = free_port()
    app = create_app(settings)
    if prepare is not None:
        prepare(app)
    server = make_server(app, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError("server did not start")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
