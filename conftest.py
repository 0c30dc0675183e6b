"""Suite-wide isolation: no test may see or touch the user's real home or HF cache.

Before anything is imported, every HF_*/MLXK_* variable of the caller's environment is
cleared, HOME and every Hugging Face location point into a fresh temporary directory,
and HF_ENDPOINT points at a closed loopback port, so a stray download fails at once
instead of reaching the network.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

REAL_HOME = Path(os.path.expanduser("~")).resolve()
_SANDBOX = Path(tempfile.mkdtemp(prefix="mlxk-suite-"))
# Whatever the caller's shell sets for Hugging Face or mlxk (HF_HUB_OFFLINE=1, a token, a
# cache elsewhere, MLXK_BLAS, MLXK_MEMORY_LIMIT, …) would change what the suite sees.
# Kept: how to find a browser, which is not mlxk's behaviour.
_KEEP = {"MLXK_CHROMIUM"}
for _key in list(os.environ):
    if _key.startswith(("HF_", "HUGGINGFACE_", "HUGGING_FACE_", "MLXK_")) and _key not in _KEEP:
        del os.environ[_key]
os.environ.pop("XDG_CACHE_HOME", None)
os.environ.update(
    {
        "HOME": str(_SANDBOX / "home"),
        "HF_HOME": str(_SANDBOX / "home" / ".cache" / "huggingface"),
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
)
(_SANDBOX / "home").mkdir()
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)


import pytest  # noqa: E402  (after the environment is set)

from mlxk.engine.blas import use_fast_blas  # noqa: E402

# Before any test imports mlx: the suite's own mlx work (references computed in-process)
# then uses the same BLAS as the mlxk processes it starts.
use_fast_blas()


@pytest.fixture(scope="session")
def real_home() -> Path:
    """The user's real home, as it was before the sandbox replaced it."""
    return REAL_HOME


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module at a time (see test_web_features.py)."""
    from mlxk.testing.browser import chromium

    with chromium() as running:
        yield running
