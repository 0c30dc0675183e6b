"""Turn what a user types into one cached repo (and revision).

Accepted: ``org/name``; a short name that exists as ``mlx-community/<name>``; a unique
case-insensitive substring of ``org/name``; any of these with ``@<hash prefix>``.
Ambiguity lists the candidates; an unknown name gets close suggestions. Names that try
to step outside the cache are refused before anything touches the disk.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.scan import (
    REPO_PREFIX,
    CachedRepo,
    Snapshot,
    check_hub,
    read_repo,
    repo_dir_name,
    scan,
)
from mlxk.errors import AmbiguousMatch, HashNotFound, InvalidModelName, ModelNotFound

DEFAULT_ORG = "mlx-community"
MAX_NAME_LENGTH = 96
# A Hub repo id (``org/name`` or ``name``): segments of letters, digits and ``_`` joined
# by single ``.``, ``-`` or ``_``; no ``--`` or ``..``, no leading or trailing separator.
_SEGMENT = r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*"
NAME_PATTERN = rf"{_SEGMENT}(?:/{_SEGMENT})?"
REVISION_PATTERN = r"[0-9A-Za-z._-]{1,64}"
# What the CLI and the API accept as a model: a name, optionally ``@revision``.
# The lookahead holds the name (before any @) to the Hub's length: a JSON Schema (ECMA)
# pattern, for Python's re; Rust's regex, pydantic's default, has no lookaround.
SPEC_PATTERN = rf"^(?=[^@]{{1,{MAX_NAME_LENGTH}}}(?:@|$)){NAME_PATTERN}(?:@{REVISION_PATTERN})?$"
# What a request's model field accepts: such a name, or a folder's path (``./x``, ``/x``,
# ``~/x``), which a server serves only from under its --model-dir folders.
MAX_PATH_LENGTH = 4096
MODEL_PATTERN = rf"{SPEC_PATTERN}|^[./~][^\x00]*$"
_NAME = re.compile(rf"^{NAME_PATTERN}$")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    revision: str | None


@dataclass(frozen=True)
class Resolved:
    repo: CachedRepo
    snapshot: Snapshot | None
    pinned: bool
    fuzzy: bool

    @property
    def name(self) -> str:
        return self.repo.name


def parse_spec(text: str) -> ModelSpec:
    """Split ``name@rev`` and refuse names that are not repo ids."""
    raw = (text or "").strip()
    name, at, revision = raw.partition("@")
    if not name:
        raise InvalidModelName("model name is empty")
    if len(name) > MAX_NAME_LENGTH:
        # Checked before the pattern and before any path is built from it: a longer name
        # cannot exist on the Hub, and the file system would refuse it anyway.
        raise InvalidModelName(
            f"model name has {len(name)} characters; Hub names have at most {MAX_NAME_LENGTH}"
        )
    if name.lower().startswith(REPO_PREFIX) or not _NAME.match(name):
        raise InvalidModelName(f"'{_clip(name)}' is not a model name (expected org/name)")
    if at and not revision:
        # `rm "$M@$HASH"` with an empty $HASH must not mean "every revision".
        raise InvalidModelName(f"'{_clip(raw)}' has an empty revision after '@'")
    if revision and not re.fullmatch(REVISION_PATTERN, revision):
        raise InvalidModelName(f"'{_clip(revision)}' is not a revision")
    return ModelSpec(name, revision or None)


def _clip(text: str, limit: int = 120) -> str:
    """A user's input, shortened for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resolve(hub: Path, text: str) -> Resolved:
    spec = parse_spec(text)
    try:
        repo, fuzzy = _find_repo(hub, spec.name)
    except AmbiguousMatch as ambiguous:
        # 1.x issue #13: a name matching several models, with a revision only one of
        # them has, means that one.
        holders = [
            candidate
            for candidate in (
                read_repo(hub / repo_dir_name(n)) for n in ambiguous.details["matches"]
            )
            if spec.revision and (candidate.find(spec.revision) or spec.revision in candidate.refs)
        ]
        if len(holders) != 1:
            raise
        repo, fuzzy = holders[0], True
    if spec.revision is None:
        return Resolved(repo, repo.current, pinned=False, fuzzy=fuzzy)
    matches = repo.find(spec.revision)
    if not matches and spec.revision in repo.refs:
        matches = repo.find(repo.refs[spec.revision])
    if len(matches) != 1:
        available = [s.commit[:8] for s in repo.snapshots]
        if matches:
            raise AmbiguousMatch(
                f"revision '{spec.revision}' matches {len(matches)} snapshots of {repo.name}",
                matches=[f"{repo.name}@{s.commit[:12]}" for s in matches],
            )
        raise HashNotFound(
            f"no snapshot of {repo.name} starts with '{spec.revision}'",
            available_hashes=available,
        )
    return Resolved(repo, matches[0], pinned=True, fuzzy=fuzzy)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _find_repo(hub: Path, name: str) -> tuple[CachedRepo, bool]:
    check_hub(hub)
    candidates = [name] if "/" in name else [f"{DEFAULT_ORG}/{name}", name]
    for candidate in candidates:
        path = hub / repo_dir_name(candidate)
        if _is_dir(path):
            return read_repo(path), "/" not in name and candidate != name
    repos = scan(hub)
    exact = [r for r in repos if r.name.lower() == name.lower()]
    if len(exact) == 1:
        return exact[0], True
    needle = name.lower()
    matches = [r for r in repos if needle in r.name.lower()]
    if len(matches) == 1:
        return matches[0], True
    if matches:
        names = [r.name for r in matches]
        raise AmbiguousMatch(
            f"'{name}' matches {len(names)} models: {', '.join(names)}", matches=names
        )
    suggestions = difflib.get_close_matches(
        needle, [r.name.lower() for r in repos], n=3, cutoff=0.5
    )
    by_lower = {r.name.lower(): r.name for r in repos}
    hint = f"; did you mean {', '.join(by_lower[s] for s in suggestions)}?" if suggestions else ""
    raise ModelNotFound(
        f"no cached model matches '{name}'{hint}",
        suggestions=[by_lower[s] for s in suggestions] or None,
    )
