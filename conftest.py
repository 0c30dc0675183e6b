"""Suite-wide isolation: no test may see or touch the user's real home or HF cache.

Before anything is imported, HOME and every Hugging Face location point into a fresh
temporary directory, and HF_ENDPOINT points at a closed loopback port, so a stray
download fails at once instead of reaching the network.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

REAL_HOME = Path(os.path.expanduser("~")).resolve()
_SANDBOX = Path(tempfile.mkdtemp(prefix="mlxk-suite-"))
for _key in (
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
):
    os.environ.pop(_key, None)
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
