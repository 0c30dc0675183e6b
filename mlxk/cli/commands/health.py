"""``mlxk health [MODEL]``: exit 1 when any checked model is unhealthy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlxk.cache.health import verify_blobs
from mlxk.cache.info import describe, resolve_model
from mlxk.cache.scan import scan
from mlxk.cli.render import render_health
from mlxk.errors import UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    if args.model and args.all:
        raise UsageError("--all checks every model: give a MODEL or --all, not both")
    if getattr(args, "hosts", None):
        return _check_hosts(args, settings, sink)
    if args.model:
        resolved = resolve_model(settings.hub_cache, args.model)
        targets = [(resolved.repo, resolved.snapshot)]
    else:
        targets = [(repo, None) for repo in scan(settings.hub_cache)]
    healthy: list[dict] = []
    unhealthy: list[dict] = []
    for repo, snapshot in targets:
        info = describe(repo, snapshot)
        verdict = info.integrity
        if verdict.ok and args.deep and info.snapshot_path:
            verdict = verify_blobs(info.snapshot_path)
        entry = {
            "name": info.name,
            "status": "healthy" if verdict.ok else "unhealthy",
            "reason": verdict.reason,
            "hash": info.hash,
            "runtime_compatible": info.runnable and verdict.ok,
        }
        (healthy if verdict.ok else unhealthy).append(entry)
    data = {
        "healthy": healthy,
        "unhealthy": unhealthy,
        "summary": {
            "total": len(targets),
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
        },
    }
    sink.result("health", data, render_health)
    return 1 if unhealthy else 0


def _check_hosts(args: Namespace, settings: Settings, sink: Sink) -> int:
    """``health MODEL --hosts``: whether every host of a group can run MODEL."""
    from mlxk.cli.group import check_group

    if not args.model or args.all:
        raise UsageError("--hosts checks one MODEL on every host: give a MODEL")
    data = check_group(settings, args.model, args.hosts)
    sink.result("health", data, render_health)
    return 1 if data["unhealthy"] or data["group"]["problem"] else 0
