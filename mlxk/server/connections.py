"""Connection hygiene for the HTTP server: slow or idle clients cannot hold it hostage.

uvicorn times out idle keep-alive connections but not a request whose headers never
finish, so a few thousand clients sending half a header each used up every file
descriptor. Here every request must finish its headers within ``HEADER_TIMEOUT``
seconds, connections still waiting for their headers are bounded (the oldest is
dropped for a new one), and the process's descriptor limit is raised to what the
system allows (mlx-lm sets it to 2048 of at most 4096 when imported), so ``/health``
and real clients get through a flood.
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its headers
RESERVED_FDS = 64  # descriptors kept for models, logs and requests already being served


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # macOS caps it below RLIM_INFINITY
            pass
    return soft


def waiting_bound(fd_limit: int) -> int:
    """How many connections may wait for their headers at once, for a descriptor limit."""
    return max(8, min(4096, (fd_limit - RESERVED_FDS) // 2))


def guard_connections() -> None:
    """Raise the descriptor limit and size the bound on waiting connections to it."""
    GuardedHttpTools.max_waiting = waiting_bound(raise_fd_limit())


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a bound on waiters."""

    header_timeout = HEADER_TIMEOUT
    max_waiting = waiting_bound(resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        # Shared by every connection of one server.
        state = self.server_state
        if not hasattr(state, "mlxk_waiting"):
            state.mlxk_waiting = OrderedDict()
        self._waiting: OrderedDict = state.mlxk_waiting

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._await_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_headers()  # a kept-alive connection starting its next request

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        if self._header_timer is not None:
            return
        self._header_timer = self.loop.call_later(self.header_timeout, self._drop)
        self._waiting[self] = None
        while len(self._waiting) > self.max_waiting:
            oldest = next(iter(self._waiting))
            oldest._drop()

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._waiting.pop(self, None)

    def _drop(self) -> None:
        """Close a connection whose request headers did not arrive in time."""
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.close()
