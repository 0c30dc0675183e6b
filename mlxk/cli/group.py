"""What ``serve``, ``run`` and ``health`` do with ``--hosts``: read the hostfile, choose
how the model is sharded, and check every host before anything starts; and how a rank
those commands start joins its group and ends."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from mlxk.errors import MlxkError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cache.info import ModelInfo
    from mlxk.cli.output import Sink
    from mlxk.engine.distributed import Group
    from mlxk.server.hosts import Hostfile
    from mlxk.settings import Settings


@dataclass(frozen=True)
class GroupPlan:
    hostfile: Hostfile
    model: str  # pinned to the snapshot checked here (name@commit): every rank loads it
    sharding: str


def plan_group(
    settings: Settings, model: str, hosts: str, backend: str | None, sharding: str | None
) -> GroupPlan:
    """The group ``model`` runs on, checked: the hostfile, a sharding mlx-lm has for the
    model's type that divides among the hosts, and every host ready.

    Raises:
        UsageError: a bad hostfile or a sharding that does not fit the group.
        ModelNotFound, ModelNotRunnable: no such model here, or one that cannot be sharded.
        GroupUnavailable: a host that cannot take part (one line per host).
    """
    from mlxk.server.hosts import read_hostfile, require_hosts

    hostfile = read_hostfile(hosts, backend)
    info, chosen = _sharding(settings, model, sharding, hostfile.size)
    pinned = f"{info.name}@{info.hash}" if info.hash and info.source == "cache" else model
    require_hosts(hostfile, settings.hub_cache, pinned)
    return GroupPlan(hostfile, pinned, chosen)


def _sharding(
    settings: Settings, model: str, wanted: str | None, size: int
) -> tuple[ModelInfo, str]:
    """The model here, and the sharding it takes over ``size`` ranks."""
    from mlxk.cache.detect import read_json
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.distributed import choose_sharding

    info = resolve_runnable(settings.hub_cache, model)
    return info, choose_sharding(read_json(info.path / "config.json") or {}, wanted, size)


def check_group(settings: Settings, model: str, hosts: str) -> dict:
    """``health MODEL --hosts``: each host's verdict, and the sharding the group would use."""
    from mlxk.server.hosts import host_problems, read_hostfile

    hostfile = read_hostfile(hosts)
    problems = host_problems(hostfile, settings.hub_cache, model)
    healthy: list[dict] = []
    unhealthy: list[dict] = []
    for host in hostfile.hosts:
        problem = problems.get(host.rank)
        entry = {
            "name": model,
            "status": "unhealthy" if problem else "healthy",
            "reason": problem or "ready: model present and healthy, same mlxk, mlx and mlx-lm",
            "host": host.ssh,
            "rank": host.rank,
        }
        (unhealthy if problem else healthy).append(entry)
    group = {"size": hostfile.size, "backend": hostfile.backend, "sharding": None, "problem": None}
    try:
        group["sharding"] = _sharding(settings, model, None, hostfile.size)[1]
    except MlxkError as error:
        group["problem"] = error.message
    return {
        "healthy": healthy,
        "unhealthy": unhealthy,
        "summary": {
            "total": hostfile.size,
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
        },
        "group": group,
    }


def join_as_rank(args: Namespace, sink: Sink, command: str) -> Group | None:
    """This process as a rank of the group mlx.launch started: tied to its launcher,
    pinned to its share of this machine's cores, joined. None (said in one line) when
    the backend cannot start here."""
    from mlxk.engine.distributed import join
    from mlxk.server.group import joined, pin_local_rank
    from mlxk.server.supervisor import exit_with_parent

    exit_with_parent(os.getppid())  # the launcher: when it goes, so does this rank
    pin_local_rank(args.hosts, int(os.environ.get("MLX_RANK", "-1")))
    try:
        group = join(args.backend, args.sharding)
    except (RuntimeError, ValueError) as error:  # no retry would help
        sink.note(f"mlxk {command}: cannot join the {args.backend} group: {error}")
        joined(int(os.environ.get("MLX_RANK", "0")))
        return None
    joined(group.rank)
    return group


def exit_now(code: int) -> NoReturn:
    """End a server or a rank now (a group's rank 0 leaving its exit code for the
    supervisor): not through the interpreter's finalization, which aborts while a thread
    that used mlx still runs."""
    from mlxk.server.group import write_status

    write_status(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
