"""Models in a folder of their own (a conversion, a fine-tune, a clone), named by path.

A name is a path only when it starts with ``.``, ``/`` or ``~`` (``./x``, ``/abs/x``,
``~/x``), so ``org/name`` stays a cache name. A folder is read like a cache snapshot:
the same detection, health checks and JSON fields, with ``source: "path"``. Only reading
goes through here; deleting stays inside the cache (``rm`` refuses paths).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from mlxk.cache.scan import CachedRepo, Snapshot
from mlxk.errors import InvalidModelName, ModelNotFound, PermissionDenied

FOLDER_COMMIT = "folder"  # what a folder's one "snapshot" is called (not a hash)


def is_path_spec(text: str) -> bool:
    return (text or "").strip().startswith((".", "/", "~"))


def folder_path(text: str) -> Path:
    """The absolute, resolved folder a path names.

    Raises:
        ModelNotFound: nothing is there.
        InvalidModelName: it is a file, not a folder.
    """
    raw = (text or "").strip()
    path = Path(os.path.expanduser(raw))
    try:
        path = path.resolve(strict=True)
    except FileNotFoundError:
        raise ModelNotFound(f"no model folder at {raw}") from None
    except (OSError, RuntimeError) as error:  # a loop of links, a permission on the way
        raise ModelNotFound(f"cannot reach {raw}: {error}") from None
    if not path.is_dir():
        raise InvalidModelName(f"{raw} is a file, not a model folder", param="model")
    if not os.access(path, os.R_OK | os.X_OK):
        raise PermissionDenied(f"{raw} cannot be read; check its permissions")
    return path


def folder_repo(text: str) -> tuple[CachedRepo, Snapshot]:
    """A folder as a repo with one snapshot: itself."""
    path = folder_path(text)
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    snapshot = Snapshot(FOLDER_COMMIT, path, modified)
    return CachedRepo(str(path), path, (snapshot,), {}), snapshot


def inside(path: Path, roots: tuple[Path, ...]) -> bool:
    """Whether ``path`` (resolved) lies under one of ``roots`` (resolved)."""
    return any(path == root or root in path.parents for root in roots)


def served_folder(text: str, roots: tuple[Path, ...]) -> str:
    """The folder a request names, if it lies under one of the server's ``--model-dir``
    roots: an absolute path (``~`` is the server's home), or one relative to a root.
    Its links are resolved (their targets' names only; no file is read) before it is
    held against the roots, so neither ``..`` nor a link leads out.

    Raises:
        PermissionDenied: no roots, or the folder is outside them.
        ModelNotFound: it is inside, but not there (or its name cannot be looked up).
    """
    raw = (text or "").strip()
    if not roots:
        raise PermissionDenied(
            "this server serves no model folders (start it with --model-dir DIR)", param="model"
        )
    if raw.startswith(("/", "~")):
        candidates = [Path(os.path.expanduser(raw))]
    else:
        candidates = [root / raw for root in roots]
    inside_any = False
    for candidate in candidates:
        try:
            real = Path(os.path.realpath(candidate))
            if not inside(real, roots):
                continue
            inside_any = True
            if real.is_dir():
                return str(folder_path(str(real)))
        except (OSError, ValueError):  # a name too long, an unreadable directory on the way
            inside_any = True
    if inside_any:
        raise ModelNotFound(f"no model folder at {raw} under --model-dir")
    raise PermissionDenied(f"{raw} is outside the server's --model-dir folders", param="model")


def folders_under(roots: tuple[Path, ...]) -> list[Path]:
    """The model folders a server offers: each root holding a config.json, and each
    folder directly under a root that does (links leading out are left out)."""
    found: list[Path] = []
    for root in roots:
        candidates = [root]
        try:
            candidates += sorted(p for p in root.iterdir() if p.is_dir())
        except OSError:
            continue
        for path in candidates:
            if (path / "config.json").is_file() and inside(path.resolve(), roots):
                found.append(path.resolve())
    return list(dict.fromkeys(found))
