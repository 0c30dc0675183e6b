"""``mlxk show MODEL [--files] [--config]``."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from mlxk.cache.detect import gguf_variants, read_json
from mlxk.cache.info import describe, resolve_model
from mlxk.cache.scan import list_files
from mlxk.cli.render import render_show

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def decimal_size(size: int) -> str:
    """mlx-knife 2.0's ``size`` string (``"1.2GB"``, ``"3.4MB"``, ``"5.6KB"``, ``"78B"``)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f}{unit}"
    return f"{size}B"


def _file_type(name: str) -> str:
    if name == "config.json":
        return "config"
    if name.endswith((".safetensors", ".bin", ".gguf")):
        return "weights"
    if "tokenizer" in name:
        return "tokenizer"
    if name.endswith(".json"):
        return "config"
    if name.lower() == "readme.md":
        return "readme"
    return "other"


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    resolved = resolve_model(settings.hub_cache, args.model)
    info = describe(resolved.repo, resolved.snapshot)
    path = info.snapshot_path
    listing = list_files(path) if path else {}  # never walks links out of the repo
    config = read_json(path / "config.json") if path and "config.json" in listing else None
    data: dict = {"model": info.to_dict(), "metadata": _metadata(config, path, listing)}
    data["reasoning"] = _reasoning(info.name, info.model_type, path, settings)
    if args.files and path:
        data["files"] = [
            {
                "name": PurePath(rel).name,
                "path": rel,
                "size_bytes": size or 0,
                "size": decimal_size(size or 0),
                "type": _file_type(PurePath(rel).name),
            }
            for rel, size in listing.items()
        ]
    if args.config:
        data["config"] = config
    sink.result("show", data, render_show)
    return 0


def _reasoning(name: str, model_type: str, path: Path | None, settings: Settings) -> dict | None:
    """The reasoning markers a generating model splits its output by, and their source."""
    if path is None or model_type not in ("chat", "base"):
        return None
    from mlxk.cache.detect import special_tokens
    from mlxk.cache.markers import report

    return report(name, path, special_tokens(path), settings.config_home)


def _metadata(
    config: dict | None, path: Path | None, listing: dict[str, int | None]
) -> dict | None:
    if not config:
        ggufs = [path / rel for rel in listing if rel.endswith(".gguf")] if path else []
        variants = gguf_variants(ggufs) if ggufs else []
        return {"gguf_variants": variants} if variants else None
    keys = ("model_type", "vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers")
    meta = {k: config[k] for k in keys if k in config}
    if config.get("architectures"):
        meta["architecture"] = config["architectures"][0]
    return meta or None
