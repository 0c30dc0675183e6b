"""One model's facts, as ``list``, ``show``, ``health`` and the server report them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlxk.cache import detect, health
from mlxk.cache.embedding import EmbeddingFacts, embedding_facts
from mlxk.cache.folder import folder_repo, is_path_spec, served_folder
from mlxk.cache.naming import Resolved, resolve
from mlxk.cache.scan import CachedRepo, Snapshot, list_files, mtime
from mlxk.configs import context_length_of
from mlxk.errors import ModelNotRunnable, ModelUnhealthy


@dataclass(frozen=True)
class ModelInfo:
    name: str
    hash: str | None
    size_bytes: int
    last_modified: datetime
    framework: str
    model_type: str
    capabilities: tuple[str, ...]
    integrity: health.Verdict
    runtime: health.Verdict
    context_length: int | None
    quantization: detect.Quantization | None
    revisions: int
    snapshot_path: Path | None
    embedding: EmbeddingFacts | None = None  # embedding models only
    source: str = "cache"  # or "path": a model folder named by its path

    @property
    def path(self) -> Path:
        """The snapshot directory of a model that has one (every runnable model does)."""
        if self.snapshot_path is None:
            raise ModelNotRunnable(f"{self.name} has no snapshot in the cache")
        return self.snapshot_path

    @property
    def healthy(self) -> bool:
        return self.integrity.ok

    @property
    def runnable(self) -> bool:
        return self.integrity.ok and self.runtime.ok

    @property
    def reason(self) -> str | None:
        """None when healthy and runnable, else the first problem (integrity first)."""
        if not self.integrity.ok:
            return self.integrity.reason
        return None if self.runtime.ok else self.runtime.reason

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "hash": self.hash,
            "size_bytes": self.size_bytes,
            "last_modified": self.last_modified.astimezone(timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "framework": self.framework,
            "model_type": self.model_type,
            "capabilities": list(self.capabilities),
            "health": "healthy" if self.healthy else "unhealthy",
            "runtime_compatible": self.runnable,
            "reason": self.reason,
            "cached": True,
            "context_length": self.context_length,
            "quantization": self.quantization.to_dict() if self.quantization else None,
            "revisions": max(1, self.revisions),
            "source": self.source,
            **({"embedding": self.embedding.to_dict()} if self.embedding else {}),
        }


def describe(repo: CachedRepo, snapshot: Snapshot | None = None) -> ModelInfo:
    snapshot = snapshot or repo.current
    path = snapshot.path if snapshot else None
    # Joined only with names the listing holds, and there are none without a snapshot.
    base = path if path is not None else repo.path
    listing = list_files(path) if path else {}
    files = [base / name for name in listing]
    config = detect.read_json(base / "config.json") if "config.json" in listing else None
    tokenizer_config = (
        detect.read_json(base / "tokenizer_config.json") or {}
        if "tokenizer_config.json" in listing
        else {}
    )
    fm = detect.front_matter(base) if "README.md" in listing else {}
    framework = detect.detect_framework(repo.name, path, files, fm, config) if path else "Unknown"
    model_type = detect.detect_model_type(config, fm, path, tokenizer_config) if path else "unknown"
    integrity = (
        health.Verdict(False, repo.problem)
        if repo.problem
        else health.check_integrity(repo.path, path, listing, config)
    )
    runtime = (
        health.check_runtime(framework, config, base, model_type)
        if integrity.ok
        else health.Verdict(False, integrity.reason)
    )
    modified = snapshot.modified if snapshot else mtime(repo.path)
    return ModelInfo(
        name=repo.name,
        hash=snapshot.hash if snapshot else None,
        size_bytes=sum(size or 0 for size in listing.values()),
        last_modified=modified,
        framework=framework,
        model_type=model_type,
        capabilities=tuple(detect.capabilities_for(model_type, path, tokenizer_config))
        if path
        else (),
        integrity=integrity,
        runtime=runtime,
        context_length=context_length_of(config),
        quantization=detect.quantization_of(config, files),
        revisions=len(repo.snapshots),
        snapshot_path=path,
        embedding=embedding_facts(path, config, detect.tags_of(fm))
        if path is not None and model_type == "embedding"
        else None,
        source="path" if repo.path == path else "cache",
    )


def resolve_model(hub: Path, text: str, roots: tuple[Path, ...] | None = None) -> Resolved:
    """What a user names: a model folder by its path (``./x``, ``/x``, ``~/x``), else a
    cached model by name. ``roots``: where folders may be (a server's ``--model-dir``);
    None: anywhere (the command line)."""
    if is_path_spec(text):
        repo, snapshot = folder_repo(text if roots is None else served_folder(text, roots))
        return Resolved(repo, snapshot, pinned=True, fuzzy=False)
    return resolve(hub, text)


def resolve_runnable(
    hub: Path,
    text: str,
    *,
    kind: str | None = "generate",
    roots: tuple[Path, ...] | None = None,
) -> ModelInfo:
    """Resolve a name to a model that can run, or say why it cannot.

    ``kind``: ``"generate"`` (mlx-lm generates with it), ``"embed"`` (an embedding
    model), None (either). ``roots``: as for :func:`resolve_model`.
    """
    resolved = resolve_model(hub, text, roots)
    info = describe(resolved.repo, resolved.snapshot)
    if not info.integrity.ok:
        raise ModelUnhealthy(f"{info.name} is not healthy: {info.integrity.reason}")
    if kind == "embed" and info.model_type != "embedding":
        raise ModelNotRunnable(
            f"{info.name} is a {info.model_type} model, not an embedding model", param="model"
        )
    if kind == "generate" and info.model_type == "embedding":
        raise ModelNotRunnable(
            f"{info.name} is an embedding model: use 'mlxk embed' (or /v1/embeddings)",
            param="model",
        )
    if not info.runtime.ok:
        raise ModelNotRunnable(f"{info.name} cannot run: {info.runtime.reason}")
    return info
