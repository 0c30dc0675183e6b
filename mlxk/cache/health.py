"""Is a snapshot complete (integrity) and can the installed mlx-lm run it (runtime)?

Each verdict carries a reason a user can act on. Nothing here imports mlx or mlx-lm:
the runtime check reads mlx-lm's model registry from its installed files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.detect import read_json, safetensors_layout

LFS_HEADER = b"version https://git-lfs.github.com/spec/v1"
SHARD = re.compile(r"^model-(\d{5})-of-(\d{5})\.safetensors$")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
# Read when a model loads: a file here that cannot be read fails the load.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
)
# Quantization modes and the first mlx release that runs them.
MODE_REQUIRES_MLX = {"mxfp4": "0.29.0", "nvfp4": "0.30.0", "mxfp8": "0.30.0"}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


HEALTHY = Verdict(True, "Model is healthy")


def _is_lfs_pointer(path: Path) -> bool:
    try:
        if path.stat().st_size > 1024:
            return False
        with path.open("rb") as fh:
            return fh.read(len(LFS_HEADER)) == LFS_HEADER
    except OSError:
        return False


def _cannot_read(path: Path, error: OSError) -> str:
    why = (error.strerror or type(error).__name__).lower()
    return f"{path.name} cannot be read ({why}); check its permissions"


def _unreadable(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as error:
        return _cannot_read(path, error)
    return None


def _check_safetensors(path: Path) -> str | None:
    read = safetensors_layout(path)
    if read is None:
        return _unreadable(path) or f"{path.name} has no readable safetensors header"
    header_len, header = read
    size = path.stat().st_size
    end = 0
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        offsets = info.get("data_offsets") or [0, 0]
        end = max(end, int(offsets[1]))
    expected = 8 + header_len + end
    if size < expected:
        return f"{path.name} is truncated ({size} of {expected} bytes)"
    return None


def _check_weight(path: Path) -> str | None:
    if path.is_symlink() and not path.exists():
        return f"{path.name} is missing (its blob is gone)"
    if not path.exists():
        return f"{path.name} is missing"
    if _is_lfs_pointer(path):
        return f"{path.name} is a Git LFS pointer, not the weights (download it again)"
    if path.stat().st_size == 0:
        return f"{path.name} is empty"
    if path.name.endswith(".safetensors"):
        return _check_safetensors(path)
    if path.name.endswith(".gguf"):
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                return f"{path.name} is not a GGUF file"
    return None


def check_integrity(
    repo_path: Path,
    snapshot: Path | None,
    files: dict[str, int | None] | None = None,
    config: dict | None = None,
) -> Verdict:
    """``files`` is the snapshot's listing (``scan.list_files``), when already at hand."""
    if snapshot is None or not snapshot.is_dir():
        return Verdict(False, "no snapshot in the cache (download incomplete or removed)")
    incomplete, _ = partial_blobs(repo_path)
    if incomplete:
        return Verdict(
            False,
            f"partial download: {len(incomplete)} file(s) incomplete "
            "(run 'mlxk pull' again, or 'mlxk rm')",
        )
    if files is None:
        from mlxk.cache.scan import list_files

        files = list_files(snapshot)
    unreadable = getattr(files, "unreadable", ())
    if unreadable:
        return Verdict(False, f"{unreadable[0]}; check its permissions")
    outside = getattr(files, "outside_links", ())
    if outside:
        what = "the snapshot" if outside[0] == "." else outside[0]
        return Verdict(
            False,
            f"{what} is a link to a directory outside the model's repo; "
            "mlxk does not follow it (replace it with the files themselves)",
        )
    partial = [name for name in files if name.endswith((".partial", ".incomplete"))]
    if partial:
        return Verdict(
            False,
            f"partial download: {partial[0]} is unfinished (run 'mlxk pull' again, or 'mlxk rm')",
        )
    broken = [name for name, size in files.items() if size is None]
    if broken:
        return Verdict(False, f"{Path(broken[0]).name} is missing (its blob is gone)")
    recorded = recorded_files(repo_path, snapshot.name)
    missing = [name for name in recorded if name not in files]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        return Verdict(
            False,
            f"{len(missing)} of {len(recorded)} files huggingface_hub recorded "
            f"{'is' if len(missing) == 1 else 'are'} missing ({shown}); run 'mlxk pull' again",
        )
    top_level = [name for name in files if "/" not in name]
    has_gguf = any(name.endswith(".gguf") for name in top_level)
    if "config.json" not in files and not has_gguf:
        return Verdict(False, "config.json is missing")
    if "config.json" in files and not config:
        config_path = snapshot / "config.json"
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except OSError as error:
            return Verdict(False, _cannot_read(config_path, error))
        except ValueError:
            return Verdict(False, "config.json is not valid JSON")
        if not isinstance(config, dict) or not config:
            return Verdict(False, "config.json is empty or not an object")
    if "config.json" in files and not any(_is_tokenizer(name) for name in top_level):
        return Verdict(
            False,
            "no tokenizer (tokenizer.json, tokenizer.model, vocab.json or a tiktoken file)"
            " in the snapshot; mlx-lm cannot load the model without one",
        )
    for name in TOKENIZER_FILES:
        problem = _unreadable(snapshot / name) if name in files else None
        if problem:
            return Verdict(False, problem)
    resized = [n for n, info in recorded.items() if info.get("size") != files.get(n)]
    if resized:
        return Verdict(
            False,
            f"{resized[0]} has {files[resized[0]]} bytes, "
            f"huggingface_hub recorded {recorded[resized[0]].get('size')}",
        )
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if index_name in files:
            return _check_index(snapshot, snapshot / index_name)
    weights = [snapshot / name for name in top_level if name.endswith(WEIGHT_SUFFIXES)]
    if not weights:
        return Verdict(False, "no weight files (.safetensors, .bin or .gguf)")
    if any(SHARD.match(p.name) for p in weights):
        return Verdict(False, "sharded weights without model.safetensors.index.json")
    for path in weights:
        problem = _check_weight(path)
        if problem:
            return Verdict(False, problem)
    return HEALTHY


def partial_blobs(repo_path: Path) -> tuple[list[str], list[str]]:
    """A repo's partial downloads (``<etag>….incomplete``): those whose blob has not
    arrived (a download cut or interrupted), and the leftovers of interrupted attempts
    whose blob a later pull completed."""
    names = [e.name for e in _scandir(repo_path / "blobs")]
    complete = {name for name in names if not name.endswith(".incomplete")}
    partial = [name for name in names if name.endswith(".incomplete")]
    unfinished = [name for name in partial if name.split(".")[0] not in complete]
    return unfinished, [name for name in partial if name not in unfinished]


def _is_tokenizer(name: str) -> bool:
    """A file a tokenizer loads from (fast, SentencePiece, BPE vocabularies, tiktoken)."""
    return name in (
        "tokenizer.json",
        "tokenizer.model",
        "vocab.json",
        "vocab.txt",
    ) or name.endswith((".tiktoken", "tiktoken.model"))


def recorded_files(repo_path: Path, commit: str) -> dict[str, dict]:
    """The file list huggingface_hub recorded for this commit (``trees/<commit>.json``)."""
    data = read_json(repo_path / "trees" / f"{commit}.json") or {}
    files = data.get("files") if data.get("format_version") == 1 else None
    return files if isinstance(files, dict) else {}


def _scandir(path: Path) -> list:
    try:
        return list(os.scandir(path))
    except OSError:
        return []


def _check_index(snapshot: Path, index_path: Path) -> Verdict:
    index = read_json(index_path)
    weight_map = (index or {}).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        return Verdict(False, f"{index_path.name} has no weight_map")
    files = sorted(set(map(str, weight_map.values())))
    missing = [f for f in files if not (snapshot / f).exists()]
    if missing:
        return Verdict(
            False,
            f"missing weight shard(s): {', '.join(missing)} "
            f"({len(files) - len(missing)} of {len(files)} present)",
        )
    for name in files:
        problem = _check_weight(snapshot / name)
        if problem:
            return Verdict(False, problem)
    return Verdict(True, "Multi-file model complete")


# -- runtime --------------------------------------------------------------------------


def installed_version(dist: str) -> str | None:
    from importlib import metadata  # ~30 ms to import: only when a runtime check needs it

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def mlx_lm_architectures() -> tuple[frozenset[str], dict[str, str]] | None:
    """Model types mlx-lm ships and its remapping table, read from its files."""
    from mlxk.engine.compat import architectures  # reads files only: imports no mlx

    return architectures()


def check_runtime(framework: str, config: dict | None, snapshot: Path, model_type: str) -> Verdict:
    if framework != "MLX":
        return Verdict(
            False, f"{framework} weights cannot run with mlx-lm (needs an MLX conversion)"
        )
    if model_type == "embedding":
        return _embedding_runtime(config or {}, snapshot)
    config = config or {}
    arch = config.get("model_type")
    if not arch:
        return Verdict(False, "config.json has no model_type")
    registry = mlx_lm_architectures()
    if registry is None:
        return Verdict(False, "mlx-lm is not installed")
    types, remap = registry
    if remap.get(arch, arch) not in types:
        version = installed_version("mlx-lm") or "?"
        return Verdict(
            False, f"model_type '{arch}' is not supported by mlx-lm {version} (upgrade mlx-lm)"
        )
    if not any(snapshot.glob("model*.safetensors")):
        return Verdict(False, "no model*.safetensors: legacy weight names mlx-lm cannot load")
    quant = config.get("quantization") or {}
    mode = quant.get("mode") if isinstance(quant, dict) else None
    needed = MODE_REQUIRES_MLX.get(str(mode))
    if needed:
        have = installed_version("mlx")
        if have is None or _version_tuple(have) < _version_tuple(needed):
            return Verdict(
                False, f"{mode} quantization needs mlx >= {needed} (installed: {have or 'none'})"
            )
    return Verdict(True, "")


def _embedding_runtime(config: dict, snapshot: Path) -> Verdict:
    """Can mlx-embeddings (the ``embeddings`` extra) load this embedding model?"""
    from mlxk.cache.embedding import EXTRA, supported_types

    types = supported_types()
    if types is None:
        return Verdict(False, f"embedding model: {EXTRA} to use it")
    arch = str(config.get("model_type") or "")
    if not arch:
        return Verdict(False, "config.json has no model_type")
    if arch not in types:
        version = installed_version("mlx-embeddings") or "?"
        return Verdict(False, f"model_type '{arch}' is not supported by mlx-embeddings {version}")
    if not any(snapshot.glob("model*.safetensors")):
        return Verdict(False, "no model*.safetensors: legacy weight names it cannot load")
    return Verdict(True, "")


# -- deep -----------------------------------------------------------------------------


def verify_blobs(snapshot: Path) -> Verdict:
    """Hash every file: against huggingface_hub's recorded sha256 / git blob id when the
    commit's listing is there, against a clone's recorded sha256 in a folder ``mlxk
    clone`` made, else against its blob's name (sha256 for LFS, git sha1)."""
    from mlxk.cache.clone import recorded_hashes

    recorded = recorded_files(snapshot.parent.parent, snapshot.name)
    cloned = recorded_hashes(snapshot)  # a folder made by mlxk clone
    compared = 0
    for path in sorted(snapshot.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(snapshot))
        info = recorded.get(name) or {}
        if name in cloned:
            expected, digest = cloned[name], sha256_of(path)
        elif info.get("lfs_sha256"):
            expected, digest = info["lfs_sha256"], sha256_of(path)
        elif info.get("blob_id"):
            expected, digest = info["blob_id"], _git_sha1(path)
        else:
            expected = path.resolve().name
            if re.fullmatch(r"[0-9a-f]{64}", expected):
                digest = sha256_of(path)
            elif re.fullmatch(r"[0-9a-f]{40}", expected):
                digest = _git_sha1(path)
            else:
                try:
                    sha256_of(path)  # no hash to compare (a folder's file): read it all
                except OSError as error:
                    return Verdict(False, f"{name} cannot be read: {error.strerror or error}")
                continue
        compared += 1
        if digest != expected:
            return Verdict(False, f"{name} does not match its recorded hash (corrupted on disk)")
    if not compared:
        return Verdict(True, "every file read; none has a recorded hash to compare")
    return Verdict(True, "all files match their hashes")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
