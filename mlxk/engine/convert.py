"""Converting and quantizing a model through ``mlx_lm.convert`` (not a re-implementation).

What mlx-lm cannot do is refused before any work (the command checks the model type
against mlx-lm's models; this module, quantizing weights that are quantized already). The result
carries a model card whose front matter says where it came from and how it was made.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

from mlxk.errors import InvalidRequest

DTYPES = ("float16", "bfloat16", "float32")
BITS = (2, 3, 4, 5, 6, 8)
MODES = ("affine", "mxfp4")


@dataclass(frozen=True)
class Conversion:
    quantize: bool = False
    bits: int | None = None
    group_size: int | None = None
    mode: str = "affine"
    dtype: str | None = None

    def describe(self) -> str:
        if self.quantize:
            group = f", group size {self.group_size}" if self.group_size else ""
            return f"quantized ({self.mode}, {self.bits or 4} bits{group})"
        return f"converted to {self.dtype}" if self.dtype else "converted"


def check_convertible(config: dict, conversion: Conversion) -> None:
    """Raise why this conversion cannot be made of a model mlx-lm knows, before anything
    is written."""
    if conversion.quantize and isinstance(config.get("quantization"), dict):
        raise InvalidRequest(
            "the weights are quantized already: quantize a float model", param="--quantize"
        )
    if conversion.mode == "mxfp4" and conversion.bits not in (None, 4):
        raise InvalidRequest("mxfp4 is 4 bits", param="--q-bits")


def convert(source: Path, target: Path, source_name: str, conversion: Conversion) -> None:
    """Write the converted model into ``target`` (which must not exist); mlx-lm's own
    progress lines go to stderr, so that stdout keeps only what the CLI prints."""
    import importlib

    module = importlib.import_module("mlx_lm.convert")  # the module, not the function
    with contextlib.redirect_stdout(sys.stderr):
        module.convert(
            str(source),
            mlx_path=str(target),
            quantize=conversion.quantize,
            q_group_size=conversion.group_size,
            q_bits=conversion.bits,
            q_mode=conversion.mode,
            dtype=conversion.dtype,
        )
    _model_card(target, source_name, conversion)


def _model_card(target: Path, source_name: str, conversion: Conversion) -> None:
    lines = [
        "---",
        "library_name: mlx",
        f"base_model: {source_name}",
        "tags:",
        "- mlx",
        "- mlxk-convert",
        "---",
        "",
        f"{source_name}, {conversion.describe()} by `mlxk convert` with mlx-lm.",
        "",
    ]
    (target / "README.md").write_text("\n".join(lines), encoding="utf-8")
