"""Run an mlxk app under uvicorn: guarded connections, and streams that end cleanly.

On SIGTERM or SIGINT uvicorn stops accepting and waits for open responses; a token
stream would run on to its end or be cut mid-chunk. Here the model manager is told
first, so every running generation ends with an error event and ``data: [DONE]`` and
its response closes properly before the process exits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from mlxk.server.connections import GuardedHttpTools

SHUTDOWN_GRACE_S = 5


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, manager: Any):
        super().__init__(config)
        self.manager = manager
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.loop is not None and not self.should_exit:
            self.loop.call_soon_threadsafe(self.manager.abort_all, "the server is shutting down")
        super().handle_exit(sig, frame)
        # uvicorn raises the signal again once it has stopped, to end the process the
        # default way; mlxk's serve command exits by itself, with its own exit code.
        self._captured_signals.clear()


def make_server(app: Any, host: str, port: int, **options) -> uvicorn.Server:
    """A uvicorn server for ``create_app``'s app, not yet running."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=GuardedHttpTools,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        **options,
    )
    return _Server(config, app.state.manager)
