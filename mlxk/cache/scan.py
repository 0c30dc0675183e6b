"""Read the hub cache layout: repos, their snapshots and which one is current.

huggingface_hub's ``scan_cache_dir`` stats every file of every repo and is slow even
to import; ``mlxk list`` needs far less, so this reads the layout directly, with
the same conventions (``models--org--name``, ``snapshots/<commit>``, ``refs/<ref>``).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlxk.errors import CacheNotFound, PermissionDenied

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
    problem: str | None = None  # why its layout could not be read, when it could not

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


def mtime(path: Path) -> datetime:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = 0.0
    return datetime.fromtimestamp(stamp, tz=timezone.utc)


def read_repo(path: Path) -> CachedRepo:
    snapshots = []
    problem = _unlistable(path) or _unlistable(path / "snapshots")
    for entry in _entries(path / "snapshots"):
        if entry.is_dir():
            snapshots.append(Snapshot(entry.name, Path(entry.path), mtime(Path(entry.path))))
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
    return CachedRepo(name_from_dir(path.name), path, tuple(snapshots), refs, problem)


def _entries(directory: Path) -> list:
    try:
        return list(os.scandir(directory))
    except OSError:
        return []


def _unlistable(directory: Path) -> str | None:
    """Why an existing directory cannot be listed, or None (a missing one is no problem)."""
    try:
        with os.scandir(directory):
            return None
    except FileNotFoundError:
        return None
    except OSError as error:
        why = (error.strerror or type(error).__name__).lower()
        return f"{directory.name} cannot be read ({why}); check its permissions"


def check_hub(hub: Path) -> bool:
    """True if the cache directory exists; raise if it exists but cannot serve as one."""
    try:
        mode = hub.stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as error:
        raise PermissionDenied(f"cannot read the cache at {hub}: {error.strerror}") from error
    if not stat.S_ISDIR(mode):
        raise CacheNotFound(f"the cache path {hub} is a file, not a directory")
    problem = _unlistable(hub)
    if problem is not None:
        raise PermissionDenied(f"cannot read the cache at {hub}: {problem}")
    return True


def scan(hub: Path) -> list[CachedRepo]:
    """Every model repo in ``hub``, sorted by name; a missing hub is an empty cache."""
    if not check_hub(hub):
        return []
    repos = [
        read_repo(Path(entry.path))
        for entry in _entries(hub)
        if entry.name.startswith(REPO_PREFIX) and _is_dir(entry)
    ]
    return sorted(repos, key=lambda r: r.name.lower())


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


class Listing(dict):
    """A snapshot's files by relative path (size, or None for a dead link), the directory
    links it holds that lead out of the repo (never walked), and the directories that
    could not be listed."""

    def __init__(
        self,
        files: dict[str, int | None],
        outside_links: tuple[str, ...] = (),
        unreadable: tuple[str, ...] = (),
    ):
        super().__init__(files)
        self.outside_links = outside_links
        self.unreadable = unreadable


def list_files(snapshot: Path) -> Listing:
    """Every file under a snapshot, by relative path: its size, or None for a dead link.

    One ``os.scandir`` walk with one ``stat`` per file: list, health and show share it. A
    link to a directory is followed only when it stays inside the repo (a link to ``/``
    would otherwise walk the whole file system), and each directory is walked once.
    """
    repo = snapshot.parent.parent.resolve()
    found: dict[str, int | None] = {}
    outside: list[str] = []
    unreadable: list[str] = []
    seen: set[str] = set()
    if not snapshot.resolve().is_relative_to(repo):
        return Listing({}, (".",))  # the snapshot itself is a link out of the repo
    stack = [("", str(snapshot))]
    while stack:
        prefix, directory = stack.pop()
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(directory))
        except OSError as error:
            why = (error.strerror or type(error).__name__).lower()
            unreadable.append(f"{prefix or 'the snapshot directory'} cannot be read ({why})")
            continue
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir():
                    leads_out = entry.is_symlink() and not Path(
                        os.path.realpath(entry.path)
                    ).is_relative_to(repo)
                    if leads_out:
                        outside.append(rel)
                    else:
                        stack.append((rel + "/", entry.path))
                    continue
                found[rel] = entry.stat().st_size
            except OSError:
                found[rel] = None
    return Listing(dict(sorted(found.items())), tuple(sorted(outside)), tuple(unreadable))
