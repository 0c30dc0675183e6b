"""What ``serve``, ``run`` and ``health`` do with ``--hosts``: read the hostfile, choose
how the model is sharded, and check every host before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlxk.errors import MlxkError

if TYPE_CHECKING:
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
    from mlxk.cache.detect import read_json
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.distributed import choose_sharding
    from mlxk.server.hosts import read_hostfile, require_hosts

    hostfile = read_hostfile(hosts, backend)
    info = resolve_runnable(settings.hub_cache, model)
    chosen = choose_sharding(read_json(info.path / "config.json") or {}, sharding, hostfile.size)
    pinned = f"{info.name}@{info.hash}" if info.hash and info.source == "cache" else model
    require_hosts(hostfile, settings.hub_cache, pinned)
    return GroupPlan(hostfile, pinned, chosen)


def check_group(settings: Settings, model: str, hosts: str) -> dict:
    """``health MODEL --hosts``: each host's verdict, and the sharding the group would use."""
    from mlxk.cache.detect import read_json
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.distributed import choose_sharding
    from mlxk.server.hosts import check_hosts, read_hostfile

    hostfile = read_hostfile(hosts)
    problems = {
        line.split(": ", 1)[0]: line.split(": ", 1)[1]
        for line in check_hosts(hostfile, settings.hub_cache, model)
    }
    healthy: list[dict] = []
    unhealthy: list[dict] = []
    for host in hostfile.hosts:
        problem = problems.get(host.label)
        entry = {
            "name": model,
            "status": "unhealthy" if problem else "healthy",
            "reason": problem or "ready: model present and healthy, same mlx and mlxk",
            "host": host.ssh,
            "rank": host.rank,
        }
        (unhealthy if problem else healthy).append(entry)
    group = {"size": hostfile.size, "backend": hostfile.backend, "sharding": None, "problem": None}
    try:
        info = resolve_runnable(settings.hub_cache, model)
        config = read_json(info.path / "config.json") or {}
        group["sharding"] = choose_sharding(config, None, hostfile.size)
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
