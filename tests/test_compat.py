"""The one module that touches mlx-lm's internals: it finds them on the installed mlx-lm,
and names what is missing when they change (injected by removing them: a fault no real
install here can show)."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys

import pytest

from mlxk.cli.main import main
from mlxk.engine.compat import TESTED, architectures, self_check
from mlxk.testing.live_server import free_port


def test_the_installed_mlx_lm_has_everything_mlxk_builds_on():
    from mlxk.cache.health import installed_version

    assert installed_version("mlx-lm").startswith(TESTED + "."), "pyproject bounds mlx-lm"
    assert self_check() == []


def test_the_remapping_table_read_from_source_is_mlx_lms_own():
    utils = importlib.import_module("mlx_lm.utils")
    types, remap = architectures()
    assert remap == utils.MODEL_REMAPPING and remap
    assert "llama" in types


def test_a_missing_prompt_batch_is_fatal_and_a_changed_trie_only_falls_back(monkeypatch):
    generate = importlib.import_module("mlx_lm.generate")
    caches = importlib.import_module("mlx_lm.models.cache")
    monkeypatch.delattr(generate, "PromptProcessingBatch")

    class OtherCache(caches.LRUPromptCache):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._trie = {}  # a trie of another shape

    monkeypatch.setattr(caches, "LRUPromptCache", OtherCache)
    problems = {p.what: p.fatal for p in self_check()}
    assert problems["mlx_lm.generate.PromptProcessingBatch is gone"] is True
    assert problems["LRUPromptCache's trie changed: its own prefix search is used"] is False


def test_serve_refuses_to_start_on_an_mlx_lm_it_cannot_batch_with(tmp_path):
    probe = (
        "import importlib, sys\n"
        "del importlib.import_module('mlx_lm.generate').PromptProcessingBatch\n"
        "from mlxk.cli.main import main\n"
        f"sys.exit(main(['serve', '--no-supervise', '--port', '{free_port()}', '--json']))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"incompatible_runtime"' in proc.stdout
    assert "PromptProcessingBatch" in proc.stdout


@pytest.mark.parametrize("remapped", ["mistral"])
def test_a_remapped_architecture_is_runnable_and_runs(tmp_path, remapped):
    import json

    from mlxk.cache.info import resolve_runnable
    from mlxk.cache.layout import write_repo
    from mlxk.engine.scripted.catalogue import CHAT_REPLY
    from mlxk.engine.scripted.models import Quant
    from mlxk.engine.scripted.repo import mlx_model_files

    assert architectures()[1][remapped] == "llama"
    files = mlx_model_files("llama-chat", Quant(bits=4, group_size=64))
    config = json.loads(files["config.json"])
    config["model_type"] = remapped
    files["config.json"] = json.dumps(config).encode()
    hub = tmp_path / "hub"
    write_repo(hub, f"acme/Tiny-{remapped}", files)
    assert resolve_runnable(hub, f"acme/Tiny-{remapped}").runnable
    out = io.StringIO()
    env = {"HOME": str(tmp_path), "HF_HUB_CACHE": str(hub)}
    code = main(["run", f"acme/Tiny-{remapped}", "Hi there", "--json"], environ=env, stdout=out)
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue())["data"]["response"] == CHAT_REPLY
