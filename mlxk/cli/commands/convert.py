"""``mlxk convert SRC DST``: convert or quantize a model with mlx-lm, then check it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlxk.cache.detect import read_json
from mlxk.cache.folder import inside
from mlxk.cache.health import verify_blobs
from mlxk.cache.info import describe, resolve_model
from mlxk.errors import ModelNotRunnable, ModelUnhealthy, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    from mlxk.engine.convert import Conversion, check_convertible, convert

    resolved = resolve_model(settings.hub_cache, args.source)
    info = describe(resolved.repo, resolved.snapshot)
    if not info.integrity.ok:
        raise ModelUnhealthy(f"{info.name} is not healthy: {info.integrity.reason}")
    if info.framework == "GGUF" or info.model_type == "embedding":
        kind = "a GGUF model" if info.framework == "GGUF" else "an embedding model"
        raise ModelNotRunnable(f"{info.name} is {kind}: mlx-lm converts language models only")
    conversion = Conversion(
        quantize=args.quantize or args.q_bits is not None or args.q_mode != "affine",
        bits=args.q_bits,
        group_size=args.q_group_size,
        mode=args.q_mode,
        dtype=args.dtype,
    )
    config = read_json(info.path / "config.json") or {}
    _check_type(config, info.path)
    check_convertible(config, conversion)
    target = _target(Path(args.target), settings.hub_cache, args.force, info.path)
    if not sink.json_mode:
        sink.note(f"converting {info.name}: {conversion.describe()}")
    _convert_into(target, lambda into: convert(info.path, into, info.name, conversion))
    result = resolve_model(settings.hub_cache, str(target))
    made = describe(result.repo, result.snapshot)
    verdict = verify_blobs(target) if made.integrity.ok else made.integrity
    if not (verdict.ok and made.runnable):
        raise ModelUnhealthy(f"the converted model is not healthy: {made.reason or verdict.reason}")
    data = {"source": info.name, "model": made.to_dict(), "conversion": conversion.describe()}
    sink.result("convert", data, lambda d: f"wrote {d['model']['name']} ({d['conversion']})")
    return 0


def _check_type(config: dict, path: Path) -> None:
    """Refuse a model whose type the installed mlx-lm has no class for, or whose weights
    it cannot read (it reads safetensors)."""
    from mlxk.cache.health import installed_version, mlx_lm_architectures

    arch = str(config.get("model_type") or "")
    if not arch:
        raise ModelNotRunnable("config.json has no model_type: mlx-lm cannot convert it")
    registry = mlx_lm_architectures()
    if registry is None:
        raise ModelNotRunnable("mlx-lm is not installed")
    types, remap = registry
    if remap.get(arch, arch) not in types:
        version = installed_version("mlx-lm") or "?"
        raise ModelNotRunnable(f"mlx-lm {version} cannot convert it: no model type '{arch}'")
    if not any(path.glob("*.safetensors")):
        raise ModelNotRunnable("no *.safetensors weights: mlx-lm cannot convert it")


def _target(target: Path, hub: Path, force: bool, source: Path) -> Path:
    """DST, absolute; refused in (or around) the cache or the source, or if it exists,
    unless --force and it is a model folder (config and weights): then it is replaced
    once the new one is made."""
    target = target.expanduser().absolute()
    real, hub_real, source_real = target.resolve(), hub.resolve(), source.resolve()
    if inside(real, (hub_real,)) or inside(hub_real, (real,)):
        raise UsageError(f"{target} is in the Hugging Face cache: convert into a folder outside it")
    if inside(real, (source_real,)) or inside(source_real, (real,)):
        raise UsageError(f"{target} is the source model's folder, or holds it")
    if target.exists():
        if not force:
            raise UsageError(f"{target} exists: choose a new folder, or --force to replace it")
        model = (target / "config.json").is_file() and any(target.glob("*.safetensors"))
        if target.is_file() or target.is_symlink() or not model:
            raise UsageError(f"{target} is not a model folder: --force replaces only those")
    return target


def _convert_into(target: Path, make: Callable[[Path], None]) -> None:
    """Make the model in a new folder beside ``target``, then put it in ``target``'s
    place: a conversion that fails leaves what was there."""
    staging = target.with_name(f".{target.name}.mlxk-convert")
    if staging.exists():
        shutil.rmtree(staging)  # our own, left by an interrupted conversion
    try:
        make(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
