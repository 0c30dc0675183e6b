"""The suite never sees the user's real home or HF cache."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlxk.settings import Settings


# spec: FND-ISOLATION
def test_the_suite_runs_in_a_sandbox_home(real_home):
    settings = Settings.from_environ()
    assert real_home not in settings.hub_cache.resolve().parents
    assert not str(settings.hub_cache).startswith(str(real_home) + "/.cache")


def test_an_empty_home_gives_an_empty_list_and_creates_nothing(tmp_path):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "mlxk", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["data"] == {"models": [], "count": 0}
    assert list(tmp_path.iterdir()) == [], "mlxk list must not create files"


def test_hf_home_and_hub_cache_are_honoured_in_that_order(tmp_path):
    both = Settings.from_environ(
        {"HF_HOME": str(tmp_path / "a"), "HF_HUB_CACHE": str(tmp_path / "b")}
    )
    assert both.hub_cache == tmp_path / "b"
    home_only = Settings.from_environ({"HF_HOME": str(tmp_path / "a")})
    assert home_only.hub_cache == tmp_path / "a" / "hub"
    neither = Settings.from_environ({"HOME": str(tmp_path)})
    assert neither.hub_cache == tmp_path / ".cache" / "huggingface" / "hub"


# spec: FND-ISOLATION
@pytest.mark.slow
def test_the_suite_ignores_the_callers_hugging_face_and_mlxk_settings(tmp_path):
    """People who keep their machine offline set HF_HUB_OFFLINE=1 in their shell; the
    suite's pull scenarios talk to its own loopback hub and must pass all the same."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "elsewhere"),
        "HF_TOKEN": "hf_not_a_real_token",
        "MLXK_MEMORY_LIMIT": "1KB",
        "MLXK_BLAS": "off",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "features", "-k", "pull"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]
    assert not (tmp_path / "elsewhere").exists()
