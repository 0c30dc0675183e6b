"""Read the hub cache layout: repos, their snapshots and which one is current.

huggingface_hub's ``scan_cache_dir`` stats every file of every repo and costs ~200 ms
just to import; ``mlxk list`` needs far less, so this reads the layout directly, with
the same conventions (``models--org--name``, ``snapshots/<commit>``, ``refs/<ref>``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO_PREFIX = "models--"
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")


def repo_dir_name(name: str) -> str:
    return REPO_PREFIX + name.replace("/", "--")


def name_from_dir(dir_name: str) -> str:
    return dir_name[len(REPO_PREFIX) :].replace("--", "/")


@dataclass(frozen=True)
class Snapshot:
    commit: str
    path: Path
    modified: datetime

    @property
    def hash(self) -> str | None:
        return self.commit.lower() if _HEX40.match(self.commit) else None


@dataclass(frozen=True)
class CachedRepo:
    name: str
    path: Path
    snapshots: tuple[Snapshot, ...]
    refs: dict[str, str]

    @property
    def current(self) -> Snapshot | None:
        """The snapshot ``refs/main`` names, else the most recently modified one."""
        by_commit = {s.commit: s for s in self.snapshots}
        main = self.refs.get("main")
        if main in by_commit:
            return by_commit[main]
        return max(self.snapshots, key=lambda s: s.modified, default=None)

    def find(self, prefix: str) -> list[Snapshot]:
        prefix = prefix.lower()
        return [s for s in self.snapshots if s.commit.lower().startswith(prefix)]


def _mtime(path: Path) -> datetime:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = 0.0
    return datetime.fromtimestamp(stamp, tz=timezone.utc)


def read_repo(path: Path) -> CachedRepo:
    snapshots = []
    for entry in _entries(path / "snapshots"):
        if entry.is_dir():
            snapshots.append(Snapshot(entry.name, Path(entry.path), _mtime(Path(entry.path))))
    refs = {}
    stack = [("", path / "refs")]
    while stack:
        prefix, directory = stack.pop()
        for entry in _entries(directory):
            if entry.is_dir():
                stack.append((prefix + entry.name + "/", Path(entry.path)))
                continue
            try:
                with open(entry.path, encoding="utf-8") as fh:
                    refs[prefix + entry.name] = fh.read().strip()
            except OSError:
                continue
    snapshots.sort(key=lambda s: s.commit)
    return CachedRepo(name_from_dir(path.name), path, tuple(snapshots), refs)


def _entries(directory: Path) -> list:
    try:
        return list(os.scandir(directory))
    except OSError:
        return []


def scan(hub: Path) -> list[CachedRepo]:
    """Every model repo in ``hub``, sorted by name; a missing hub is an empty cache."""
    if not hub.is_dir():
        return []
    repos = [
        read_repo(entry)
        for entry in hub.iterdir()
        if entry.name.startswith(REPO_PREFIX) and entry.is_dir()
    ]
    return sorted(repos, key=lambda r: r.name.lower())


def list_files(snapshot: Path) -> dict[str, int | None]:
    """Every file under a snapshot, by relative path: its size, or None for a dead link.

    One ``os.scandir`` walk with one ``stat`` per file: list, health and show share it.
    """
    found: dict[str, int | None] = {}
    stack = [("", str(snapshot))]
    while stack:
        prefix, directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir():
                    stack.append((rel + "/", entry.path))
                    continue
                found[rel] = entry.stat().st_size
            except OSError:
                found[rel] = None
    return dict(sorted(found.items()))
