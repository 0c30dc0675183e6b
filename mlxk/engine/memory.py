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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_ALLOCATOR_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def give_freed_heap_back(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 20) -> bool:
    """Have glibc give a thread's freed heap back to the OS (Linux; a server calls this
    before it loads a model). By default glibc raises its thresholds as large blocks come
    and go, so a worker thread's arena ends up keeping several MB at its top after all of
    it is freed, and ``malloc_trim`` trims the top of the main thread's arena only, so an
    idle unload did not give everything back. Fixed thresholds (blocks under 32 MB from
    the arenas, as the raised threshold had them; tops trimmed past 1 MB) do, at no
    measurable cost (benchmarks/memory.py). Not where the user set glibc's own variables.
    Returns whether the thresholds were set."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux") or any(os.environ.get(n) for n in _ALLOCATOR_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
