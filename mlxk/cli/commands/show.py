"""``mlxk show MODEL [--files] [--config]``."""

from __future__ import annotations

from mlxk.cache.detect import gguf_variants, read_json
from mlxk.cache.info import describe
from mlxk.cache.naming import resolve
from mlxk.cli.render import render_show


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


def execute(args, settings, sink) -> int:
    resolved = resolve(settings.hub_cache, args.model)
    info = describe(resolved.repo, resolved.snapshot)
    path = info.snapshot_path
    config = read_json(path / "config.json") if path else None
    data: dict = {"model": info.to_dict(), "metadata": _metadata(config, path)}
    if args.files and path:
        data["files"] = [
            {
                "name": p.name,
                "path": str(p.relative_to(path)),
                "size_bytes": p.stat().st_size if p.exists() else 0,
                "type": _file_type(p.name),
            }
            for p in sorted(path.rglob("*"))
            if not p.is_dir()
        ]
    if args.config:
        data["config"] = config
    sink.result("show", data, render_show)
    return 0


def _metadata(config: dict | None, path) -> dict | None:
    if not config:
        variants = gguf_variants(sorted(path.rglob("*.gguf"))) if path else []
        return {"gguf_variants": variants} if variants else None
    keys = ("model_type", "vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers")
    meta = {k: config[k] for k in keys if k in config}
    if config.get("architectures"):
        meta["architecture"] = config["architectures"][0]
    return meta or None
