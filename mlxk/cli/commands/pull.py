"""``mlxk pull ORG/NAME[@revision]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlxk.cache.pull import pull

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    result = pull(settings, args.model)
    message = (
        f"{result.name} is already in the cache"
        if result.status == "already_exists"
        else f"downloaded {result.name}"
    )
    data = {
        "model": result.name,
        "download_status": result.status,
        "message": message,
        "expanded_name": result.name if result.expanded else None,
        "commit_hash": result.commit,
    }
    sink.result("pull", data, lambda d: f"pull: {d['model']} — {d['message']}")
    return 0
