"""A fast BLAS for mlx's float32 matmuls on Linux, chosen before mlx is first imported.

mlx's Linux wheels (``mlx-cpu``, ``mlx-cuda``) bundle the reference BLAS: a float32
matmul runs at ~1.5 GFLOP/s and a batch of rows costs as much per row as one row, so
prompt processing crawls and batching gains nothing. When an optimized BLAS with the
CBLAS names is installed (Debian/Ubuntu ``libopenblas0``), it is loaded into the global
symbol scope first and libmlx binds ``cblas_sgemm`` to it (quantized and float16 models
use mlx's own kernels and do not change). benchmarks/README.md has the speed-ups.

``MLXK_BLAS`` decides: unset or ``auto`` looks for OpenBLAS, ``off`` keeps the bundled
one, a path loads that library (any CBLAS such as MKL's ``libmkl_rt.so.2``).
``MLXK_BLAS_THREADS`` sets its thread count (a server otherwise times its decode steps
on every core and on every core but one, and keeps every core unless the other is clearly
faster; see :class:`DecodeThreads`).

OpenBLAS's worker threads keep spinning for ~2^28 cycles (~0.1 s) after each matmul before
they sleep. A forward pass alternates matmuls with mlx's own ops on another thread, so on a
few cores the spinning workers take the cores those ops (and the Python driving them) need:
mlxk loads it with ``OPENBLAS_THREAD_TIMEOUT=4`` (sleep at once) unless the user set one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

_THREAD_SETTERS = ("openblas_set_num_threads", "MKL_Set_Num_Threads")
_USER_THREAD_SETTINGS = (
    "MLXK_BLAS_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_NUM_THREADS",
)
# log2 of the cycles an idle OpenBLAS worker spins before it sleeps (4: its minimum).
OPENBLAS_SPIN = ("OPENBLAS_THREAD_TIMEOUT", "4")


@dataclass(frozen=True)
class BlasChoice:
    path: str | None  # the library mlx's matmuls use, None: mlx's own (bundled) BLAS
    reason: str  # one line for logs and ``--verbose``
    warning: str | None = None  # a user's MLXK_BLAS that could not be honoured
    # the environment it was loaded with, which another process preloading it needs too
    env: tuple[tuple[str, str], ...] = ()


def bundles_reference_blas() -> bool:
    """True when mlx is a Linux wheel carrying its own (reference) libblas."""
    if not sys.platform.startswith("linux"):
        return False
    spec = find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        return False
    sites = {Path(location).parent for location in spec.submodule_search_locations}
    return any(any(site.glob("mlx*.libs/libblas*.so*")) for site in sites)


@functools.lru_cache(maxsize=1)
def use_fast_blas() -> BlasChoice:
    """Load the chosen BLAS once per process; call before anything imports mlx."""
    wanted = os.environ.get("MLXK_BLAS", "auto").strip() or "auto"
    if wanted.lower() in {"off", "none", "bundled"}:
        return BlasChoice(None, "mlx's bundled BLAS (MLXK_BLAS=off)")
    if "mlx.core" in sys.modules:
        return BlasChoice(None, "mlx's bundled BLAS (mlx was imported before mlxk chose one)")
    if wanted.lower() == "auto":
        if not bundles_reference_blas():
            return BlasChoice(None, "mlx's own BLAS")
        found = ctypes.util.find_library("openblas")
        if found is None:
            return BlasChoice(
                None, "mlx's bundled reference BLAS (install libopenblas0 for faster float32)"
            )
        return _load(found, explicit=False)
    return _load(wanted, explicit=True)


def _load(name: str, *, explicit: bool) -> BlasChoice:
    bundled = "mlx's bundled BLAS"
    env: tuple[tuple[str, str], ...] = ()
    spin_setting, spin = OPENBLAS_SPIN
    if spin_setting not in os.environ:  # read by OpenBLAS as it loads, ignored by others
        os.environ[spin_setting] = spin
        env = (OPENBLAS_SPIN,)
    try:
        library = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    except OSError as error:
        detail = str(error).split(":")[-1].strip() or "cannot be loaded"
        warning = f"MLXK_BLAS={name} cannot be loaded ({detail}); using {bundled}"
        return BlasChoice(None, bundled, warning if explicit else None)
    if not hasattr(library, "cblas_sgemm"):
        warning = f"MLXK_BLAS={name} has no cblas_sgemm; using {bundled}"
        return BlasChoice(None, bundled, warning if explicit else None)
    path = _mapped_path(name) or name
    configured = os.environ.get("MLXK_BLAS_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        _set_threads(library, int(configured))
    return BlasChoice(path, f"float32 matmuls use {path}", env=env)


def _mapped_path(name: str) -> str | None:
    """The file the loader mapped for ``name`` (``libopenblas.so.0`` → its real path)."""
    stem = Path(name).name.split(".so")[0]
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and Path(fields[-1]).name.startswith(stem):
                    return fields[-1]
    except OSError:
        pass
    return None


def _set_threads(library: Any, count: int) -> bool:
    for symbol in _THREAD_SETTERS:
        setter = getattr(library, symbol, None)
        if setter is not None:
            setter(ctypes.c_int(max(1, count)))
            return True
    return False


def set_threads(count: int) -> bool:
    """Run the bound BLAS on ``count`` threads; False when there is none to set."""
    choice = use_fast_blas()
    if choice.path is None:
        return False
    return _set_threads(ctypes.CDLL(choice.path, mode=ctypes.RTLD_GLOBAL), count)


class DecodeThreads:
    """BLAS threads for a server's decode steps, chosen by timing the steps.

    A prefill is one long matmul that nobody waits beside: it gets every core. A decode step
    is short, and the event loop writing the streams runs beside it; whether it should leave
    the loop a core depends on the machine (one 2-core VM served more tokens with a core
    left free, a faster one with every core). So for each batch size the server alternates
    between the two until each has had ``EXPLORE_STEPS`` steps, then keeps every core unless
    the last ``WINDOW`` steps with one core left free took less by ``MARGIN`` (medians: a
    few noisy steps on a busy machine must not leave a lone stream on one core), and gives
    the other count one step in every ``REVISIT_EVERY`` in case the machine's load has
    changed.
    """

    EXPLORE_STEPS = 6
    WINDOW = 8
    REVISIT_EVERY = 64
    MARGIN = 0.03

    def __init__(self, cores: int):
        self.cores = max(1, cores)
        self.candidates = (self.cores, self.cores - 1) if self.cores > 1 else (self.cores,)
        self._seconds: dict[tuple[int, int], deque[float]] = {}
        self._steps: dict[int, int] = {}

    @classmethod
    def for_server(cls) -> DecodeThreads | None:
        """None when there is no BLAS to set or the user set its thread count."""
        if use_fast_blas().path is None or _threads_set_by_user():
            return None
        return cls(os.cpu_count() or 1)

    def choose(self, batch: int, *, prefilling: bool = False) -> int:
        if prefilling or len(self.candidates) == 1:
            return self.cores
        measured = {c: self._seconds.get((batch, c), ()) for c in self.candidates}
        fewest = min(self.candidates, key=lambda c: len(measured[c]))
        if len(measured[fewest]) < self.EXPLORE_STEPS:
            return fewest
        every, fewer = self.candidates
        faster = statistics.median(measured[fewer]) < (1 - self.MARGIN) * statistics.median(
            measured[every]
        )
        best, other = (fewer, every) if faster else (every, fewer)
        steps = self._steps.get(batch, 0)
        return other if steps % self.REVISIT_EVERY == self.REVISIT_EVERY - 1 else best

    def record(self, batch: int, threads: int, seconds: float) -> None:
        """A decode step of ``batch`` sequences on ``threads`` took ``seconds``."""
        key = (batch, threads)
        if key not in self._seconds:
            self._seconds[key] = deque(maxlen=self.WINDOW)
        self._seconds[key].append(seconds)
        self._steps[batch] = self._steps.get(batch, 0) + 1


class DecodeStepTimer:
    """Sets the BLAS threads before each batch step and feeds :class:`DecodeThreads`.

    Each decode step is timed from its start to the next one's, so what the thread count
    does to the rest of the loop (delivering the tokens, the event loop on the other
    cores) counts too. Not timed: a step that took in a new request, and the first decode
    step after a prefill, which computes two tokens (the one it returns and, ahead, the
    next).
    """

    def __init__(self, threads: DecodeThreads | None):
        self.threads = threads
        self._set: int | None = None
        self._timed: tuple[int, int, float] | None = None  # batch, threads, start
        self._decoded_last = False

    def before_step(self, decoding: int, prefilling: bool) -> None:
        if self.threads is None:
            return
        now = time.perf_counter()
        if self._timed is not None and not prefilling:
            batch, threads, started = self._timed
            self.threads.record(batch, threads, now - started)
        threads = self.threads.choose(decoding, prefilling=prefilling)
        if threads != self._set:
            set_threads(threads)
            self._set = threads
        steady = not prefilling and self._decoded_last
        self._timed = (decoding, threads, now) if steady else None
        self._decoded_last = not prefilling

    def reset(self) -> None:
        """The batch drained or failed: the next step starts a new series."""
        self._timed, self._decoded_last = None, False


@functools.lru_cache(maxsize=1)
def _threads_set_by_user() -> bool:
    """Read once: the BLAS itself reads these when it loads, and a server asks every step."""
    return any(os.environ.get(name) for name in _USER_THREAD_SETTINGS)
