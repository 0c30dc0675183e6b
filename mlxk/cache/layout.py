"""Write repositories into a Hugging Face hub cache exactly as huggingface_hub lays them out.

``<hub>/models--org--name/blobs/<etag>`` holds the content (sha256 for LFS files, the
git blob sha1 for the rest), ``snapshots/<commit>/<path>`` are relative symlinks into
``blobs``, and ``refs/main`` names the commit. Several revisions share blobs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".npz")
LFS_POINTER_HEADER = "version https://git-lfs.github.com/spec/v1"


def repo_folder_name(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def is_lfs_path(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def etag_for(path: str, content: bytes) -> str:
    if is_lfs_path(path):
        return hashlib.sha256(content).hexdigest()
    return git_blob_id(content)


def commit_hash_for(repo_id: str, files: Mapping[str, bytes], salt: str = "") -> str:
    digest = hashlib.sha1(f"{repo_id}\n{salt}".encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + etag_for(path, files[path]).encode())
    return digest.hexdigest()


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def tree_listing(files: Mapping[str, bytes]) -> dict:
    """The ``trees/<commit>.json`` huggingface_hub (>= 1.22) writes for a downloaded commit."""
    listing = {}
    for path in sorted(files):
        content = files[path]
        if is_lfs_path(path):
            listing[path] = {
                "size": len(content),
                "blob_id": git_blob_id(lfs_pointer(content)),
                "lfs_sha256": hashlib.sha256(content).hexdigest(),
                "lfs_size": len(content),
            }
        else:
            listing[path] = {"size": len(content), "blob_id": git_blob_id(content)}
    return {"format_version": 1, "files": listing}


def lfs_pointer(content: bytes) -> bytes:
    oid = hashlib.sha256(content).hexdigest()
    return f"{LFS_POINTER_HEADER}\noid sha256:{oid}\nsize {len(content)}\n".encode()


@dataclass(frozen=True)
class WrittenRepo:
    repo_id: str
    repo_dir: Path
    commit: str

    @property
    def snapshot(self) -> Path:
        return self.repo_dir / "snapshots" / self.commit


def write_repo(
    hub: Path,
    repo_id: str,
    files: Mapping[str, bytes],
    *,
    commit: str | None = None,
    ref: str | None = "main",
    mtime: float | None = None,
    incomplete: Mapping[str, bytes] | None = None,
    record_tree: bool = True,
) -> WrittenRepo:
    """Write one revision of ``repo_id``; returns where it landed.

    ``incomplete`` files are left as ``blobs/<etag>.incomplete`` with no snapshot link,
    the way an interrupted ``snapshot_download`` leaves them. ``record_tree`` writes the
    file listing huggingface_hub keeps in ``trees/<commit>.json``.
    """
    repo_dir = hub / repo_folder_name(repo_id)
    commit = commit or commit_hash_for(repo_id, files)
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        etag = etag_for(path, content)
        blob = blobs / etag
        if not blob.exists():
            blob.write_bytes(content)
        link = snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    for path, content in (incomplete or {}).items():
        etag = etag_for(path, content)
        (blobs / f"{etag}.incomplete").write_bytes(content[: max(1, len(content) // 3)])
    if record_tree:
        trees = repo_dir / "trees"
        trees.mkdir(exist_ok=True)
        listing = tree_listing({**files, **(incomplete or {})})
        (trees / f"{commit}.json").write_text(json.dumps(listing, indent=1))
    if ref:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)
    if mtime is not None:
        for p in (snapshot, repo_dir):
            os.utime(p, (mtime, mtime))
    return WrittenRepo(repo_id, repo_dir, commit)
