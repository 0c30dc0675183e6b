"""Settings read from an environment mapping: everything the commands read of the
environment (HF_*, MLXK_*), passed in rather than read at import.

Two kinds of variables are read elsewhere, where they must take effect before a library
loads: the BLAS choice (MLXK_BLAS, MLXK_BLAS_THREADS, OPENBLAS_*) in
``mlxk.engine.blas`` and the allocator's (MALLOC_*, GLIBC_TUNABLES) in
``mlxk.engine.memory``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    hf_home: Path
    hub_cache: Path
    config_home: Path = Path("~/.config").expanduser()  # XDG_CONFIG_HOME: mlxk/models.toml
    hf_endpoint: str | None = None
    hf_token: str | None = None
    offline: bool = False
    memory_limit: int | None = None
    api_key: str | None = None  # MLXK_API_KEY: serve's key, kept off the command line
    supervisor_pid: int | None = None  # MLXK_SUPERVISOR_PID: set for a supervised server
    debug: bool = False  # MLXK_DEBUG: tracebacks instead of one line

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Resolve the cache as huggingface_hub does: HF_HUB_CACHE, else HF_HOME/hub."""
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        xdg = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
        hf_home = Path(env.get("HF_HOME") or xdg / "huggingface").expanduser()
        hub = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
        return cls(
            hf_home=hf_home,
            hub_cache=Path(hub).expanduser() if hub else hf_home / "hub",
            config_home=Path(env.get("XDG_CONFIG_HOME") or home / ".config").expanduser(),
            hf_endpoint=env.get("HF_ENDPOINT") or None,
            hf_token=env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None,
            offline=(env.get("HF_HUB_OFFLINE", "") or "").lower() in {"1", "true", "yes"},
            memory_limit=parse_bytes(env.get("MLXK_MEMORY_LIMIT")),
            api_key=env.get("MLXK_API_KEY") or None,
            supervisor_pid=_int(env.get("MLXK_SUPERVISOR_PID")),
            debug=bool(env.get("MLXK_DEBUG")),
        )


_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "M": 10**6,
    "MB": 10**6,
    "G": 10**9,
    "GB": 10**9,
    "T": 10**12,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def parse_bytes(text: str | None) -> int | None:
    """``"8GB"``, ``"512MiB"``, ``"1000"`` -> bytes; empty or unparsable -> None."""
    if not text:
        return None
    value = text.strip().upper()
    number = value.rstrip("KMGTIB")
    unit = value[len(number) :]
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        return None
