"""The standard fixture cache: healthy tiny models of every kind, plus broken repos.

``build_cache(hub)`` lays them all into ``hub``, for the tests.
Every healthy model is real: ``mlx_lm.load`` loads it and greedy decoding prints the
script in :mod:`mlxk.engine.scripted.catalogue`, except one with random weights
(:mod:`mlxk.testing.synthetic`), for what must hold whatever a model says.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

from mlxk.cache.layout import WrittenRepo, lfs_pointer, write_repo
from mlxk.engine.scripted.models import Quant, build_files, mxfp4_supported
from mlxk.engine.scripted.repo import mlx_model_files, readme
from mlxk.testing.embedders import BERT_NAME, QWEN3_NAME, bert_embedder_files, qwen3_embedder_files
from mlxk.testing.synthetic import synthetic_files

Q4 = Quant(bits=4, group_size=64)
Q8 = Quant(bits=8, group_size=64)
MXFP4 = Quant(bits=4, group_size=32, mode="mxfp4")


def _small_context_model(key: str = "llama-chat") -> dict[str, bytes]:
    """A model with a 64-token context, for token-limit tests."""
    files = mlx_model_files(key, Q4)
    config = json.loads(files["config.json"])
    config["max_position_embeddings"] = 64
    files["config.json"] = (json.dumps(config, indent=2) + "\n").encode()
    return files


def _gguf_bytes(n_tensors: int = 0) -> bytes:
    # GGUF magic, version 3, tensor count, metadata count: a valid (empty) header.
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, 0) + b"\0" * 4096


def _gguf_repo() -> dict[str, bytes]:
    return {
        "README.md": readme(library="gguf", tags=["gguf", "llama"]),
        "tiny-chat.Q4_K_M.gguf": _gguf_bytes(),
        "tiny-chat.Q8_0.gguf": _gguf_bytes() + b"\0" * 4096,
    }


def _pytorch_repo() -> dict[str, bytes]:
    files = dict(build_files("llama-chat"))
    weights = files.pop("model.safetensors")
    files["pytorch_model.bin"] = b"PK\x03\x04" + weights[:8192]
    files["README.md"] = readme(library="transformers", tags=["pytorch", "llama"])
    return files


def _lfs_pointer_repo() -> dict[str, bytes]:
    files = mlx_model_files("llama-chat", Q4)
    files["model.safetensors"] = lfs_pointer(files["model.safetensors"])
    return files


def _missing_shard_repo() -> dict[str, bytes]:
    files = mlx_model_files("llama-chat", shards=2)
    del files["model-00002-of-00002.safetensors"]
    return files


def _truncated_repo() -> dict[str, bytes]:
    files = mlx_model_files("llama-chat", Q4)
    files["model.safetensors"] = files["model.safetensors"][: len(files["model.safetensors"]) // 2]
    return files


def _no_config_repo() -> dict[str, bytes]:
    files = mlx_model_files("llama-chat", Q4)
    del files["config.json"]
    return files


# name -> (files builder, files left ``.incomplete``)
Builder = Callable[[], dict[str, bytes]]
HEALTHY: dict[str, Builder] = {
    "mlx-community/TinyLlama-Chat": lambda: mlx_model_files("llama-chat"),
    "mlx-community/TinyLlama-Chat-4bit": lambda: mlx_model_files("llama-chat", Q4),
    "mlx-community/TinyLlama-Chat-8bit": lambda: mlx_model_files("llama-chat", Q8),
    "mlx-community/TinyLlama-Chat-sharded": lambda: mlx_model_files("llama-chat", shards=2),
    "mlx-community/TinyLlama-Chat-bf16": lambda: mlx_model_files("llama-chat", dtype="bfloat16"),
    "mlx-community/TinyLlama-Base": lambda: mlx_model_files("llama-base"),
    "mlx-community/TinyQwen3-Think-4bit": lambda: mlx_model_files("qwen3-think", Q4),
    "mlx-community/TinyQwen3-Think-Open": lambda: mlx_model_files("qwen3-think-open"),
    "mlx-community/tiny-gpt-oss-harmony": lambda: mlx_model_files("harmony"),
    "mlx-community/TinyReflect": lambda: mlx_model_files("reflect"),
    "mlx-community/TinyQwen3-Tools-4bit": lambda: mlx_model_files("qwen3-tools", Q4),
    "mlx-community/TinyQwen3-Tools-Parallel": lambda: mlx_model_files("qwen3-tools-parallel"),
    "mlx-community/TinyQwen3-Tools-Shy": lambda: mlx_model_files("qwen3-tools-shy"),
    "mlx-community/TinyLlama3-Tools": lambda: mlx_model_files("llama3-tools"),
    "mlx-community/TinyMistral-Tools": lambda: mlx_model_files("mistral-tools"),
    "mlx-community/tiny-gpt-oss-tools": lambda: mlx_model_files("harmony-tools"),
    # Embedding models (random weights; building them needs the embeddings extra).
    BERT_NAME: bert_embedder_files,
    QWEN3_NAME: qwen3_embedder_files,
    # Random weights that never end by themselves: the worst case for structured output.
    "mlx-community/Tiny-Random-Llama": lambda: synthetic_files("tiny"),
    "mlx-community/TinyLlama-Chat-ctx64": _small_context_model,
    "mlx-community/TinyLlama-Base-ctx64": lambda: _small_context_model("llama-base"),
    # A private repo: MLX only by its README front matter (mlx-knife issue #31).
    "acme/private-tiny-chat": lambda: mlx_model_files("llama-chat", Q4),
}
BROKEN: dict[str, Builder] = {
    "mlx-community/Broken-LFS-Pointer": _lfs_pointer_repo,
    "mlx-community/Broken-Missing-Shard": _missing_shard_repo,
    "mlx-community/Broken-Truncated": _truncated_repo,
    "mlx-community/Broken-No-Config": _no_config_repo,
    "TheBloke/Tiny-Chat-GGUF": _gguf_repo,
    "pytorch-org/Tiny-Chat-PyTorch": _pytorch_repo,
}
PARTIAL_REPO = "mlx-community/Broken-Partial-Download"


def standard_repos() -> dict[str, Builder]:
    repos = dict(HEALTHY)
    if mxfp4_supported():
        repos["mlx-community/TinyLlama-Chat-mxfp4"] = lambda: mlx_model_files("llama-chat", MXFP4)
    repos.update(BROKEN)
    return repos


def write_partial(hub: Path) -> WrittenRepo:
    files = mlx_model_files("llama-chat", Q4)
    weights = files.pop("model.safetensors")
    return write_repo(hub, PARTIAL_REPO, files, incomplete={"model.safetensors": weights})


def build_cache(hub: Path, names: list[str] | None = None) -> dict[str, WrittenRepo]:
    """Write the standard repos (or just ``names``) into ``hub``."""
    hub.mkdir(parents=True, exist_ok=True)
    repos = standard_repos()
    written = {
        name: write_repo(hub, name, builder())
        for name, builder in repos.items()
        if names is None or name in names
    }
    if names is None or PARTIAL_REPO in names:
        written[PARTIAL_REPO] = write_partial(hub)
    return written
