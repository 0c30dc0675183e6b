"""``mlxk list``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlxk.cache.info import describe
from mlxk.cache.scan import scan
from mlxk.cli.render import render_list

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    pattern = (args.pattern or "").strip().lower()
    models = []
    for repo in scan(settings.hub_cache):
        if pattern and pattern not in repo.name.lower():
            continue
        info = describe(repo).to_dict()
        if args.framework and info["framework"].lower() != args.framework:
            continue
        models.append(info)
    data = {"models": models, "count": len(models)}
    show_all = args.all or bool(args.framework)
    sink.result(
        "list",
        data,
        lambda d: render_list(d, show_all=show_all, verbose=args.verbose, health=args.health),
    )
    return 0
