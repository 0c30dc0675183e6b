"""``mlxk demo``: put a tiny demo model in the cache (offline) and run it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlxk.cli.commands.run import RunOptions, run_once

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


DEMO_CHAT = "mlxk-demo/Tiny-Chat-4bit"
DEMO_REASONER = "mlxk-demo/Tiny-Reasoner-4bit"
_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
_KEYS = {DEMO_CHAT: "llama-chat", DEMO_REASONER: "qwen3-think"}


def ensure_demo_model(hub: Path, name: str) -> None:
    """Write the demo model ``name`` unless its current snapshot is already complete."""
    from mlxk.cache.layout import write_repo
    from mlxk.cache.scan import read_repo, repo_dir_name
    from mlxk.engine.scripted.models import Quant
    from mlxk.engine.scripted.repo import mlx_model_files

    path = hub / repo_dir_name(name)
    if path.is_dir():
        current = read_repo(path).current
        if current and all((current.path / f).is_file() for f in _REQUIRED):
            return
    files = mlx_model_files(_KEYS[name], Quant(bits=4, group_size=64), tags=("mlx", "mlxk-demo"))
    write_repo(hub, name, files)


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    from mlxk.engine.blas import use_fast_blas

    use_fast_blas()  # before building the model imports mlx, as every command does
    name = DEMO_REASONER if args.reasoning else DEMO_CHAT
    ensure_demo_model(settings.hub_cache, name)
    if not sink.json_mode:
        sink.note(f"demo model {name} is in {settings.hub_cache} (remove: mlxk rm {name} -f)")
    options = RunOptions(prompt=args.prompt)
    return run_once(settings, sink, name, options, command="demo")
