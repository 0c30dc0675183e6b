"""Will a model fit? Estimate before loading instead of crashing while loading."""

from __future__ import annotations

import os
from pathlib import Path

from mlxk.errors import InsufficientMemory

# Weights are most of it; leave room for the KV cache and activations.
OVERHEAD = 1.2


def model_bytes(snapshot: Path) -> int:
    """Bytes of the weight files mlx-lm will load."""
    total = 0
    for path in snapshot.glob("model*.safetensors"):
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


def available_bytes() -> int | None:
    """Memory the OS says is available now, where it says so."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(name: str, weights: int, limit: int | None = None) -> None:
    """Refuse a model whose estimated footprint exceeds the limit or what is free."""
    needed = int(weights * OVERHEAD)
    budget = limit if limit is not None else available_bytes()
    if budget is not None and needed > budget:
        raise InsufficientMemory(
            f"{name} needs about {needed / 1e9:.2f} GB but only {budget / 1e9:.2f} GB "
            "is available; unload other models or choose a smaller quantization"
        )
