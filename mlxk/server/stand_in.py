"""The 503 stand-in on a server's address while its distributed group is down.

It answers every request with 503 and the reason, in the OpenAI error shape (``/health``:
``status: degraded``) with Retry-After, until the new group's rank 0 has loaded and takes
the port over (:func:`mlxk.server.group.take_over_port`).
"""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RETRY_AFTER_S = 4


class _QuickServer(ThreadingHTTPServer):
    """ThreadingHTTPServer without its reverse DNS lookup of the address at bind (which
    can take the resolver's whole timeout offline), and never waiting on its threads."""

    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class Degraded:
    """A stand-in on the server's address while its group is down: 503 with the reason,
    in the OpenAI error shape (``/health``: ``status: degraded``), and Retry-After."""

    def __init__(self, host: str, port: int, reason: str):
        self.reason = reason
        self._server: ThreadingHTTPServer | None = None
        try:
            self._server = _QuickServer((host, port), self._handler())
        except OSError:
            self._server = None  # the old rank 0 still holds it: clients see it refused

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        reason = self.reason

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = 0
                if 0 < length <= 1 << 20:
                    self.rfile.read(length)
                if self.path.split("?")[0] == "/health":
                    body: dict = {"status": "degraded", "reason": reason}
                else:
                    body = {
                        "error": {
                            "message": reason,
                            "type": "server_error",
                            "param": None,
                            "code": "group_unavailable",
                        }
                    }
                data = json.dumps(body).encode()
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Retry-After", str(RETRY_AFTER_S))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def open(self) -> Degraded:
        if self._server is not None:
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Degraded:
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()
