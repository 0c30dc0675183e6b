"""The built-in demo models, written into the user's HF cache on request."""

from __future__ import annotations

from pathlib import Path

from mlxk.cache.scan import read_repo, repo_dir_name
from mlxk.testing.fixtures import Q4, mlx_model_files
from mlxk.testing.hubcache import write_repo

DEMO_CHAT = "mlxk-demo/Tiny-Chat-4bit"
DEMO_REASONER = "mlxk-demo/Tiny-Reasoner-4bit"
_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
_KEYS = {DEMO_CHAT: "llama-chat", DEMO_REASONER: "qwen3-think"}


def ensure_demo_model(hub: Path, name: str) -> None:
    """Write the demo model ``name`` unless its current snapshot is already complete."""
    path = hub / repo_dir_name(name)
    if path.is_dir():
        current = read_repo(path).current
        if current and all((current.path / f).is_file() for f in _REQUIRED):
            return
    write_repo(hub, name, mlx_model_files(_KEYS[name], Q4, tags=("mlx", "mlxk-demo")))
