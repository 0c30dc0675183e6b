"""A cached model copied into a folder of its own: files, not links into the cache.

Each file is copied to ``NAME.part`` and renamed when whole, and its SHA-256 taken as it
is read; the folder's ``.mlxk-clone.json`` records where it came from and each file's
hash, so an interrupted clone resumes (files already there with their recorded hash
are kept) and ``health --deep`` of the folder compares against it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.folder import inside
from mlxk.cache.health import sha256_of
from mlxk.cache.naming import Resolved
from mlxk.cache.scan import list_files
from mlxk.errors import InvalidRequest, ModelCorrupted, PermissionDenied, UsageError

MANIFEST = ".mlxk-clone.json"


@dataclass(frozen=True)
class Cloned:
    path: Path
    files: int
    bytes: int
    kept: int  # files a resumed clone already had


def clone(
    resolved: Resolved, target: Path, hub: Path, progress: Callable[[str], None] | None = None
) -> Cloned:
    """Copy ``resolved``'s snapshot into ``target`` (new, empty, or an unfinished clone
    of the same snapshot), verify every file, and record the hashes.

    Raises:
        UsageError: the target is in the cache, is a file, or holds something else.
        ModelCorrupted: a copy does not read back as the source did.
    """
    snapshot = resolved.snapshot
    if snapshot is None:
        raise InvalidRequest(f"{resolved.name} has no snapshot in the cache")
    target = Path(os.path.abspath(os.path.expanduser(target)))
    manifest = _prepare(target, hub, resolved.name, snapshot.commit)
    recorded: dict[str, str] = manifest.get("files", {})
    listing = list_files(snapshot.path)
    total = kept = 0
    for name in listing:
        source, copy = snapshot.path / name, target / name
        if name in recorded and copy.is_file() and sha256_of(copy) == recorded[name]:
            kept += 1
        else:
            if progress is not None:
                progress(name)
            recorded[name] = _copy(source, copy)
            _write_manifest(target, {**manifest, "files": recorded, "complete": False})
        total += copy.stat().st_size
    _write_manifest(target, {**manifest, "files": recorded, "complete": True})
    return Cloned(target, len(listing), total, kept)


def _prepare(target: Path, hub: Path, name: str, commit: str) -> dict:
    """The manifest to go on with: a new one, or an unfinished clone's."""
    if inside(target.resolve(), (hub.resolve(),)) or inside(hub.resolve(), (target.resolve(),)):
        raise UsageError(f"{target} is in the Hugging Face cache: clone to a folder outside it")
    fresh = {"source": name, "commit": commit, "files": {}, "complete": False}
    if not target.exists():
        target.mkdir(parents=True)
        return fresh
    if not target.is_dir():
        raise UsageError(f"{target} is a file: clone into a new or empty folder")
    found = _read_manifest(target)
    if found and found.get("source") == name and found.get("commit") == commit:
        return found  # an earlier clone of the same snapshot: go on (or check it again)
    if any(target.iterdir()):
        raise UsageError(f"{target} is not empty: clone into a new or empty folder")
    return fresh


def _copy(source: Path, copy: Path) -> str:
    """Copy through ``NAME.part``; the SHA-256 of what was read, checked against the
    cache's own record of the file (its blob's name) and on the copy."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    part = copy.with_name(copy.name + ".part")
    digest, git = hashlib.sha256(), hashlib.sha1()
    try:
        git.update(b"blob %d\0" % source.stat().st_size)
        with source.open("rb") as reader, part.open("wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                git.update(block)
                writer.write(block)
    except PermissionError as error:
        raise PermissionDenied(f"cannot copy {source.name}: {error.strerror}") from None
    except FileNotFoundError:
        raise ModelCorrupted(
            f"{source.name} is missing from the cache: run 'mlxk pull' again"
        ) from None
    recorded = source.resolve().name  # a blob is named by its sha256 (LFS) or git sha1
    if recorded not in (digest.hexdigest(), git.hexdigest()) and _is_hash(recorded):
        part.unlink()
        raise ModelCorrupted(
            f"{source.name} in the cache does not match its recorded hash: run 'mlxk pull'"
            " again before cloning"
        )
    expected = digest.hexdigest()
    if sha256_of(part) != expected:
        raise ModelCorrupted(f"{copy.name} did not read back as it was written")
    os.replace(part, copy)
    return expected


def _is_hash(name: str) -> bool:
    return len(name) in (40, 64) and all(c in "0123456789abcdef" for c in name)


def _read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded_hashes(folder: Path) -> dict[str, str]:
    """The SHA-256 of each file a finished clone recorded (empty for other folders)."""
    data = _read_manifest(folder) or {}
    files = data.get("files") if data.get("complete") else None
    return {k: v for k, v in files.items() if isinstance(v, str)} if isinstance(files, dict) else {}


def _write_manifest(folder: Path, data: dict) -> None:
    temp = folder / (MANIFEST + ".part")
    temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, folder / MANIFEST)
