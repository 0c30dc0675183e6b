"""Whether this machine can listen on an address now, bound as uvicorn binds it
(``SO_REUSEADDR``: a port left in TIME_WAIT by a server just stopped counts as free)."""

from __future__ import annotations

import socket


def bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on now; None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error
    return None
