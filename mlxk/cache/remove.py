"""Remove a model or one revision from the cache: plan first, then execute.

The plan names every path it will delete, all inside the hub directory; executing
re-checks that before each deletion. Removing one revision deletes only this repo's own
blobs (``<repo>/blobs``) that no other revision of it links to, as huggingface_hub's
delete strategy does; a snapshot link to anything else is reported and left alone.
Lock files under ``.locks`` are stale when nobody holds them; a held lock means a
download is running and refuses the removal unless forced.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mlxk.cache.naming import Resolved
from mlxk.errors import DeletionFailed, InvalidModelName, LocksPresent, PermissionDenied


@dataclass(frozen=True)
class RemovalPlan:
    name: str
    hub: Path
    whole_repo: bool
    commit: str | None
    paths: tuple[Path, ...]
    refs: tuple[Path, ...]
    lock_files: tuple[Path, ...]
    freed_bytes: int
    held_locks: tuple[Path, ...] = field(default=())
    # Snapshot links whose target is not one of this repo's blobs: reported, not followed.
    foreign_links: tuple[str, ...] = field(default=())

    def relative(self, paths: Iterable[Path]) -> list[str]:
        return [str(p.relative_to(self.hub)) for p in paths]


def _inside(hub: Path, path: Path) -> bool:
    try:
        path.resolve(strict=False).relative_to(hub.resolve())
    except ValueError:
        return False
    return True


def _size(paths: Iterable[Path]) -> int:
    total = 0
    for p in paths:
        targets = [p] if p.is_file() else [q for q in p.rglob("*") if q.is_file()]
        for q in targets:
            if not q.is_symlink():
                try:
                    total += q.stat().st_size
                except OSError:
                    pass
    return total


def _lock_is_held(path: Path) -> bool:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def plan_removal(hub: Path, resolved: Resolved) -> RemovalPlan:
    repo = resolved.repo
    if repo.path.is_symlink() or not _inside(hub, repo.path):
        raise InvalidModelName(f"{repo.name} is not a directory inside the cache; not touching it")
    locks_dir = hub / ".locks" / repo.path.name
    lock_files = tuple(sorted(locks_dir.rglob("*.lock"))) if locks_dir.is_dir() else ()
    held = tuple(p for p in lock_files if _lock_is_held(p))
    whole = not resolved.pinned or len(repo.snapshots) <= 1
    if whole:
        paths = (repo.path,) + ((locks_dir,) if locks_dir.is_dir() else ())
        return RemovalPlan(
            repo.name, hub, True, None, paths, (), lock_files, _size([repo.path]), held
        )
    snapshot = resolved.snapshot
    assert snapshot is not None, "a pinned revision resolves to a snapshot"
    own_blobs = (repo.path / "blobs").resolve()
    keep: set[Path] = set()
    for other in repo.snapshots:
        if other.commit != snapshot.commit:
            keep |= {target for _, target in _links(other.path)}
    blobs: set[Path] = set()
    foreign: list[str] = []
    for link, target in _links(snapshot.path):
        if target.parent != own_blobs:
            # Not this repo's blob (another repo's, or anywhere else): the link goes with
            # the snapshot, what it points to stays.
            foreign.append(str(link.relative_to(snapshot.path)))
        elif target not in keep and target.exists():
            blobs.add(target)
    refs = tuple(
        repo.path / "refs" / ref for ref, commit in repo.refs.items() if commit == snapshot.commit
    )
    paths = (snapshot.path, *sorted(blobs))
    return RemovalPlan(
        repo.name,
        hub,
        False,
        snapshot.commit,
        paths,
        refs,
        (),
        _size(blobs),
        held,
        tuple(sorted(foreign)),
    )


def _links(snapshot: Path) -> list[tuple[Path, Path]]:
    """Every symlink in a snapshot (directory links are not followed) and its target."""
    return [(p, p.resolve()) for p in snapshot.rglob("*") if p.is_symlink()]


def execute_removal(plan: RemovalPlan, *, force: bool) -> int:
    """Delete what the plan names; returns how many lock files were cleaned."""
    if plan.held_locks and not force:
        raise LocksPresent(
            f"{plan.name} is being downloaded (a lock is held); retry later or use --force",
            lock_files=plan.relative(plan.held_locks),
        )
    for path in (*plan.paths, *plan.refs):
        if not _inside(plan.hub, path):
            raise DeletionFailed(f"refusing to delete {path}: outside the cache")
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        except PermissionError as error:
            raise PermissionDenied(f"permission denied: cannot delete {error.filename}") from error
        except OSError as error:
            raise DeletionFailed(f"could not delete {path.name}: {error.strerror}") from error
    return len(plan.lock_files)
