"""Rank 0's view of its distributed group: what /health shows of it, and what happens
when it breaks.

A step that raises (the backend lost a peer) or that has not returned after
``--group-timeout`` (a host that stopped answering: TCP may never say so) ends the group:
the running requests fail with ``group_unavailable``, new ones get 503 with the reason,
and rank 0 stops itself, so that the supervisor starts the group again once every host
is back (:mod:`mlxk.server.group`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from mlxk.errors import GroupUnavailable, InvalidRequest, MlxkError
from mlxk.server.embedder import EmbedRequest
from mlxk.server.jobs import Failed

log = logging.getLogger("mlxk.server")

STOP_AFTER_S = 0.5  # time for the failed requests' last events to go out
EXIT_AFTER_S = 2.0  # then a rank 0 whose worker is stuck in a collective exits anyway


class GroupWatch:
    def __init__(self, group: Any, worker: Any, hostfile: str | None, step_timeout: float):
        self.group = group  # engine.distributed.Group
        self.worker = worker
        self.step_timeout = step_timeout  # --group-timeout
        self.hosts = _host_names(hostfile, group.size)
        self.degraded: str | None = None
        worker.group_lost = self.lost
        threading.Thread(target=self._watch, name="mlxk-group-watch", daemon=True).start()

    def admit(self, request: Any) -> None:
        """Refuse a request the group cannot take: any while it is broken; embeddings."""
        if self.degraded is not None:
            raise GroupUnavailable(self.degraded, retry_after=5)
        if isinstance(request, EmbedRequest):
            raise InvalidRequest(
                "this server runs one chat model sharded over a group: no embeddings",
                param="model",
            )

    def lost(self, reason: str) -> None:
        """The group cannot go on: refuse what comes, then stop this rank."""
        if self.degraded is not None:
            return
        self.degraded = reason
        threading.Timer(STOP_AFTER_S, self._stop).start()
        threading.Timer(EXIT_AFTER_S, self._exit).start()

    def _stop(self) -> None:
        """SIGTERM to this rank, unless it is stopping already: the launcher sends one when
        a rank dies, and a second would make uvicorn cut the streams it is closing."""
        shared = self.worker.shared
        if not shared.stopping and not shared.aborting:
            os.kill(os.getpid(), signal.SIGTERM)

    def _exit(self) -> None:
        """End this rank now: a step blocked on a lost peer may never return, and the
        server's shutdown waits for its worker."""
        from mlxk.server.group import EXIT_GROUP_LOST, write_status

        log.error("the group is lost and rank 0 did not stop in time; exiting")
        write_status(EXIT_GROUP_LOST)
        logging.shutdown()
        os._exit(EXIT_GROUP_LOST)

    def _watch(self) -> None:
        """Fail the running requests of a step that does not return: after
        ``--group-timeout``, or after a second once the server is stopping (the launcher
        stops rank 0 when another rank dies; its streams must end before uvicorn cuts
        them)."""
        while True:
            time.sleep(0.25)
            started, shared = self.worker.step_started, self.worker.shared
            stuck = time.monotonic() - started if started is not None else 0.0
            if stuck > self.step_timeout:
                reason = f"a rank of the group did not answer for {self.step_timeout:g} s"
            elif shared.aborting and stuck > 1.0:
                reason = f"the distributed group stopped: a rank left mid-step ({shared.aborting})"
            else:
                continue
            log.error("%s; its requests fail and the group restarts", reason)
            self._fail_running(GroupUnavailable(reason))
            self.lost(reason)
            return

    def _fail_running(self, error: MlxkError) -> None:
        """Fail the requests of a step that never returns (the worker cannot)."""
        for slot in self.worker.residents.all():
            for job in {id(job): job for job in list(slot.active.values())}.values():
                job.emit(Failed(error))

    @property
    def exit_code(self) -> int:
        from mlxk.server.group import EXIT_GROUP_LOST

        return EXIT_GROUP_LOST if self.degraded is not None else 0

    def describe(self) -> dict:
        """The group, for /health and /v1/models."""
        slot = next(iter(self.worker.residents.all()), None)
        shares = slot.rank_bytes if slot is not None else []
        exchange = self.group.exchange
        return {
            "size": self.group.size,
            "backend": self.group.backend,
            "sharding": self.group.sharding,
            "ranks": [
                {
                    "rank": rank,
                    "host": self.hosts[rank],
                    "memory_bytes": shares[rank] if rank < len(shares) else None,
                }
                for rank in range(self.group.size)
            ],
            "collective_seconds": round(exchange.seconds, 6),
            "steps": exchange.calls,
            "reason": self.degraded,
        }


def _host_names(hostfile: str | None, size: int) -> list[str]:
    from mlxk.server.hosts import read_hostfile

    try:
        hosts = read_hostfile(hostfile).hosts if hostfile else ()
    except Exception:  # noqa: BLE001 - names are only labels here
        hosts = ()
    names = [host.ssh for host in hosts]
    return (names + ["?"] * size)[:size]
