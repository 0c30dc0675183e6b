"""``mlxk push FOLDER ORG/NAME``: upload a healthy model folder to the Hub."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlxk.cache.folder import is_path_spec
from mlxk.cache.info import describe, resolve_model
from mlxk.cache.push import push
from mlxk.cli.render import human_size
from mlxk.errors import ModelUnhealthy, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    if not is_path_spec(args.folder):
        raise UsageError("push uploads a model folder: name it by its path (./x, /x, ~/x)")
    resolved = resolve_model(settings.hub_cache, args.folder)
    info = describe(resolved.repo, resolved.snapshot)
    if not info.runnable:
        raise ModelUnhealthy(f"{info.name} is not ready to push: {info.reason}")
    done = push(
        info.path,
        args.repo,
        settings,
        private=args.private,
        revision=args.revision,
        dry_run=args.dry_run,
    )
    data = {
        "folder": info.name,
        "repo": done.repo_id,
        "dry_run": args.dry_run,
        "files": done.files,
        "commit": done.commit,
        "url": done.url,
    }
    sink.result("push", data, _render)
    return 0


def _render(data: dict) -> str:
    total = sum(f["size_bytes"] for f in data["files"])
    if data["dry_run"]:
        lines = [f"would upload to {data['repo']}:"]
        lines += [f"  {f['path']} ({human_size(f['size_bytes'])})" for f in data["files"]]
        return "\n".join(lines)
    return f"pushed {len(data['files'])} files ({human_size(total)}) to {data['repo']}"
