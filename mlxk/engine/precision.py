"""On a CPU, run a quantized or half-precision model from a float32 copy when it fits.

mlx's CPU kernels for quantized and half-precision matmuls neither use the fast BLAS
mlxk binds (``mlxk.engine.blas``) nor gain from batching; float32 matmuls do both. So on
the CPU (``--cpu-float32 auto``, the default) a model stored in 4/8-bit, mxfp4, bfloat16
or float16 is dequantized to float32 once at load, when the copy (computed from the
safetensors headers before anything loads) takes at most half of the memory available
and a fast BLAS is bound; ``always`` does it whenever the device is a CPU, ``never``
keeps mlx's own kernels. Metal and CUDA are never changed. The plan is made before
loading, so memory checks and idle unload count the bytes that will really be resident.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxk.cache.detect import read_json, safetensors_header
from mlxk.configs import layer_count_of

MODES = ("auto", "always", "never")
SHARE_OF_FREE = 0.5  # auto: the float32 copy may take at most this much of what is free
# auto, when the whole copy does not fit: the leading layers that fit run from float32,
# the rest on mlx's kernels (measured faster than none: benchmarks/cpu_quantized.py)
PARTIAL = True
_HALF = {"F16": "fp16", "BF16": "bf16"}


@dataclass(frozen=True)
class Precision:
    """How a model's weights are run: from a float32 copy or as stored, and why."""

    float32: bool
    stored: str  # what the files hold: 4bit, 8bit, mxfp4, bf16, fp16, fp32
    reason: str
    bytes: int  # the weights as they will be resident (the copy's bytes when float32)
    layers: int | None = None  # only the first this many layers in float32 (None: all)
    of_layers: int | None = None  # of how many

    @property
    def label(self) -> str:
        if not self.float32:
            return self.stored
        if self.layers is not None:
            return f"float32 copy of {self.layers}/{self.of_layers} layers of {self.stored}"
        return f"float32 copy of {self.stored}"


def tensors_of(snapshot: Path) -> dict[str, dict]:
    headers: dict[str, dict] = {}
    for path in sorted(snapshot.glob("model*.safetensors")):
        header = safetensors_header(path) or {}
        headers.update({k: v for k, v in header.items() if k != "__metadata__"})
    return headers


def _quantization(config: dict) -> dict:
    quant = config.get("quantization") or config.get("quantization_config") or {}
    return quant if isinstance(quant, dict) else {}


def stored_precision(config: dict, tensors: dict[str, dict]) -> str:
    quant = _quantization(config)
    if quant.get("bits") or quant.get("mode"):
        mode = str(quant.get("mode") or "affine")
        return f"{quant.get('bits')}bit" if mode == "affine" else mode
    if quant.get("quant_method"):  # a format mlx-lm converts on load (gpt-oss's mxfp4 blocks)
        return str(quant["quant_method"])
    dtypes = {str(t.get("dtype")) for t in tensors.values()}
    half = [_HALF[d] for d in sorted(dtypes) if d in _HALF]
    return half[0] if half else "fp32"


# a transformer layer of the language model (not a vision tower's, nor an MTP head's)
_LAYER = re.compile(r"^(?:model\.|language_model\.(?:model\.)?|backbone\.)?layers\.(\d+)\.")


def _float32_elements(name: str, tensor: dict, quant: dict, packed: set[str]) -> int:
    """Elements ``name`` holds in float32: a packed quantized weight unpacked by its
    bits, its scales and biases none, any other tensor its own."""
    prefix, _, leaf = name.rpartition(".")
    count = math.prod(tensor.get("shape") or [1])
    if prefix in packed and leaf in ("scales", "biases"):
        return 0
    if prefix in packed and leaf == "weight":
        override = quant.get(prefix)
        layer = override if isinstance(override, dict) else {}
        bits = int(layer.get("bits") or quant.get("bits") or 4)
        return count * 32 // bits
    return count


def layer_costs(config: dict, tensors: dict[str, dict]) -> dict[int | None, tuple[int, int]]:
    """(bytes in float32, bytes as stored) of each transformer layer, by its index, and
    of everything else (None: embeddings, final norm, output head)."""
    quant = _quantization(config)
    packed = {name[: -len(".scales")] for name in tensors if name.endswith(".scales")}
    depth = layer_count_of(config)
    costs: dict[int | None, tuple[int, int]] = {}
    for name, tensor in tensors.items():
        match = _LAYER.match(name)
        key = int(match.group(1)) if match else None
        if key is not None and isinstance(depth, int) and key >= depth:
            key = None  # beyond the stack mlx-lm builds (an MTP layer): with the rest
        start, end = (tensor.get("data_offsets") or [0, 0])[:2]
        f32, stored = costs.get(key, (0, 0))
        costs[key] = (
            f32 + 4 * _float32_elements(name, tensor, quant, packed),
            stored + end - start,
        )
    return costs


def float32_bytes(config: dict, tensors: dict[str, dict]) -> int:
    """Bytes of the model's weights in float32."""
    return sum(f32 for f32, _ in layer_costs(config, tensors).values())


def _leading_layers(costs: dict[int | None, tuple[int, int]], room: float) -> tuple[int, int]:
    """How many leading layers can be float32 with the rest as stored within ``room``
    bytes, and the bytes that makes."""
    total = sum(stored for _, stored in costs.values())
    count = 0
    for index in sorted(k for k in costs if k is not None):
        f32, stored = costs[index]
        if total + f32 - stored > room:
            break
        total += f32 - stored
        count += 1
    return count, total


def plan(
    snapshot: Path,
    mode: str = "auto",
    *,
    on_cpu: bool,
    fast_blas: bool,
    free: int | None,
) -> Precision:
    """How to run the model in ``snapshot`` (``free``: bytes it may take, None: unknown)."""
    from mlxk.engine.memory import OVERHEAD, model_bytes

    config = read_json(snapshot / "config.json") or {}
    tensors = tensors_of(snapshot)
    stored = stored_precision(config, tensors)
    as_stored = model_bytes(snapshot)

    def keep(reason: str) -> Precision:
        return Precision(False, stored, reason, as_stored)

    if stored == "fp32":
        return keep("stored in float32")
    if mode == "never":
        return keep("--cpu-float32 never")
    if not on_cpu:
        return keep("not on a CPU: mlx's own kernels")
    quant = _quantization(config)
    unsized = quant.get("quant_method") and not quant.get("bits")
    if unsized or any(name.endswith("_blocks") for name in tensors):
        return keep("its quantization is stored in a form mlxk cannot size: kept as stored")
    costs = layer_costs(config, tensors)
    copy = sum(f32 for f32, _ in costs.values())
    if mode == "always":
        return Precision(True, stored, "--cpu-float32 always", copy)
    if not fast_blas:
        return keep("no fast BLAS is bound: float32 would not be faster")
    if free is None:
        return keep("free memory is unknown here: --cpu-float32 always makes the copy anyway")
    if copy * OVERHEAD <= SHARE_OF_FREE * free:
        room = f" in half of the {free / 1e9:.2f} GB available"
        return Precision(True, stored, f"the float32 copy ({copy / 1e9:.2f} GB) fits{room}", copy)
    whole = (
        f"a float32 copy ({copy / 1e9:.2f} GB) would take more than half of the"
        f" {free / 1e9:.2f} GB available"
    )
    layers = sum(1 for k in costs if k is not None)
    count, partial = _leading_layers(costs, SHARE_OF_FREE * free / OVERHEAD)
    if not PARTIAL or count == 0:
        return keep(whole)
    reason = f"{whole}; {count} of its {layers} layers fit"
    return Precision(True, stored, reason, partial, layers=count, of_layers=layers)


def plan_here(snapshot: Path, mode: str = "auto", limit: int | None = None) -> Precision:
    """:func:`plan` on this process's device and BLAS, within ``limit`` bytes (else
    what is free)."""
    import mlx.core as mx

    from mlxk.engine.blas import use_fast_blas
    from mlxk.engine.memory import available_bytes

    fast = use_fast_blas().path is not None
    free = available_bytes()
    if limit is not None:
        free = limit if free is None else min(limit, free)
    on_cpu = mx.default_device() == mx.cpu
    return plan(snapshot, mode, on_cpu=on_cpu, fast_blas=fast, free=free)


def to_float32(model: Any, layers: int | None = None) -> None:
    """Dequantize ``model``'s quantized layers (mlx-lm's own function) and cast every
    floating parameter to float32, in place; with ``layers``, only those of its first
    ``layers`` transformer layers."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import dequantize_model

    parts = [model]
    if layers is not None:
        stack = getattr(model, "layers", None)
        if stack is None or len(stack) < layers:
            raise ValueError(f"the model has no {layers} transformer layers to copy")
        parts = list(stack[:layers])
    for part in parts:
        dequantize_model(part)
        part.set_dtype(mx.float32)
    mx.eval([pair[1] for pair in tree_flatten(model.parameters())])
