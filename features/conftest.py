"""Shared fixtures and step definitions for the Gherkin features."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from steps.cache_steps import *  # noqa: F401,F403  (step definitions are fixtures)
from steps.cli_steps import *  # noqa: F401,F403
from steps.dialect_steps import *  # noqa: F401,F403
from steps.embedding_steps import *  # noqa: F401,F403
from steps.folder_steps import *  # noqa: F401,F403
from steps.group_steps import *  # noqa: F401,F403
from steps.hostile_steps import *  # noqa: F401,F403
from steps.marker_steps import *  # noqa: F401,F403
from steps.process_steps import *  # noqa: F401,F403
from steps.pull_steps import *  # noqa: F401,F403
from steps.resident_steps import *  # noqa: F401,F403
from steps.robust_steps import *  # noqa: F401,F403
from steps.sampling_steps import *  # noqa: F401,F403
from steps.server_steps import *  # noqa: F401,F403
from steps.tools_steps import *  # noqa: F401,F403
from steps.web_steps import *  # noqa: F401,F403


@pytest.fixture(scope="session")
def standard_hub(tmp_path_factory) -> Path:
    """The standard fixture cache, built once per session; scenarios only read it."""
    from mlxk.testing.fixtures import build_cache

    hub = tmp_path_factory.mktemp("standard-cache") / "hub"
    build_cache(hub)
    return hub


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Per-scenario state: the environment mlxk runs in and what the last command did."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGING", "MLXK_", "XDG_CONFIG"))
    }
    env.update(
        HOME=str(home),
        HF_HOME=str(tmp_path / "hf"),
        HF_ENDPOINT="http://127.0.0.1:9",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    state = {"env": env, "tmp": tmp_path, "result": None, "cleanup": []}
    yield state
    for cleanup in state["cleanup"]:
        cleanup()


def copy_hub(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)


def pytest_terminal_summary(terminalreporter):
    """Print how many Gherkin scenarios ran, so `pytest features/` reports the spec's size."""
    reports = [
        r
        for key in ("passed", "failed")
        for r in terminalreporter.stats.get(key, [])
        if getattr(r, "when", "call") == "call" and r.nodeid.split("::")[0].endswith("features.py")
    ]
    if reports:
        failed = sum(1 for r in reports if r.failed)
        passed = len(reports) - failed
        terminalreporter.write_line(
            f"Gherkin scenarios: {len(reports)} run, {passed} passed, {failed} failed"
        )
