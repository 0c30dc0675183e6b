"""``mlxk clone MODEL DST``: a cached model copied into a folder, verified, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlxk.cache.clone import clone
from mlxk.cache.folder import is_path_spec
from mlxk.cache.naming import resolve
from mlxk.cli.render import human_size
from mlxk.errors import UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    if is_path_spec(args.model):
        raise UsageError("clone copies a cached model: name it as org/name, not by a path")
    resolved = resolve(settings.hub_cache, args.model)
    show = None if sink.json_mode else (lambda name: sink.note(f"copying {name}"))
    done = clone(resolved, Path(args.target), settings.hub_cache, progress=show)
    data = {
        "model": resolved.name,
        "commit": resolved.snapshot.commit if resolved.snapshot else None,
        "path": str(done.path),
        "files": done.files,
        "size_bytes": done.bytes,
        "resumed_files": done.kept,
    }
    sink.result(
        "clone",
        data,
        lambda d: (
            f"cloned {d['model']} into {d['path']}"
            f" ({d['files']} files, {human_size(d['size_bytes'])}, verified)"
        ),
    )
    return 0
