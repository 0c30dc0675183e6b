"""Gates on the code base itself: contract files, import direction, lint."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mlxk.contract import schema_names, schema_root
from mlxk.errors import ERROR_TABLE

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mlxk"
CORE = (
    "mlxk/cache",
    "mlxk/engine",
    "mlxk/settings.py",
    "mlxk/errors.py",
    "mlxk/contract.py",
    "mlxk/configs.py",
)
EDGES = ("mlxk.cli", "mlxk.server")
HEAVY = ("mlx", "mlx_lm", "fastapi", "uvicorn", "starlette", "transformers", "huggingface_hub")


def test_every_schema_is_valid_with_a_unique_id():
    names = schema_names()
    assert names, "no schemas found"
    ids = {}
    for name in names:
        schema = json.loads((schema_root() / name).read_text())
        Draft202012Validator.check_schema(schema)
        assert schema.get("$id"), f"{name} has no $id"
        assert schema["$id"] not in ids, f"{name} repeats the $id of {ids.get(schema['$id'])}"
        ids[schema["$id"]] = name


def test_error_codes_schema_matches_the_error_table():
    codes = set(json.loads((schema_root() / "cli/error_codes.json").read_text())["enum"])
    assert codes == set(ERROR_TABLE)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _files(prefix: str) -> list[Path]:
    path = ROOT / prefix
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def test_core_never_imports_an_edge():
    offenders = []
    for prefix in CORE:
        for path in _files(prefix):
            for name in _imports(path):
                if name.startswith(EDGES):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_only_engine_and_testing_import_mlx_at_all():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("mlxk/engine/", "mlxk/testing/")):
            continue
        for name in _imports(path):
            if name.split(".")[0] in ("mlx", "mlx_lm", "mlx_embeddings", "mlx_vlm"):
                offenders.append(f"{rel} imports {name}")
    assert not offenders, offenders


def test_shipped_code_never_imports_the_test_builders():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("mlxk/testing/"):
            continue
        for name in _imports(path):
            if name == "mlxk.testing" or name.startswith("mlxk.testing."):
                offenders.append(f"{rel} imports {name}")
    assert not offenders, offenders


def test_mlxk_list_loads_no_heavy_module(tmp_path):
    probe = (
        "import sys\n"
        "from mlxk.cli.main import main\n"
        "code = main(['list', '--json'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {"HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    heavy_line = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert heavy_line == ["HEAVY="], proc.stderr


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed; it is part of the test extra")
    proc = subprocess.run(
        [ruff, "check", "mlxk", "tests", "features", "benchmarks", "conftest.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = [b.strip() for b in readme.split("```sh")[1:3]]
    first, second = (b.split("```")[0].strip() for b in blocks)
    assert "mlxk demo" in first and "pip install" in first
    assert second == "./test"
    ci = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if not ln.startswith("#")]
    assert "exec ./test" in ci


def test_serve_options_are_listed_once_and_reach_the_child_and_the_settings():
    from mlxk.cli.parser import build_parser
    from mlxk.server.settings import OPTIONS, ServerSettings, child_argv, from_args

    argv = [
        "serve", "--host", "0.0.0.0", "--port", "9001", "--model", "a/b", "--max-tokens", "7",
        "--cors-origin", "http://x", "--allowed-host", "h.lan", "--log-level", "debug",
        "--log-json", "--reasoning-format", "hidden", "--max-concurrency", "3",
        "--batch-window", "5", "--queue-size", "0", "--prompt-cache", "1MB",
        "--idle-unload", "60", "--metrics", "--api-key", "secret",
    ]  # fmt: skip
    args = build_parser().parse_args(argv)
    child = build_parser().parse_args(child_argv(args))
    for option in OPTIONS:
        if option.child:
            assert getattr(child, option.dest) == getattr(args, option.dest), option.flags
    assert "secret" not in child_argv(args)
    settings = from_args(child, hub_cache=ROOT)
    assert settings == ServerSettings(
        hub_cache=ROOT, host="0.0.0.0", port=9001, model="a/b", max_tokens=7,
        cors_origins=("http://x",), allowed_hosts=("h.lan",), log_json=True,
        reasoning_format="hidden", max_concurrency=3, batch_window=0.005, queue_size=0,
        prompt_cache_bytes=10**6, idle_unload=60.0, metrics=True,
    )  # fmt: skip
    defaults = from_args(build_parser().parse_args(["serve"]), hub_cache=ROOT)
    assert defaults == ServerSettings(hub_cache=ROOT)


def test_mypy_passes_on_the_package():
    mypy = shutil.which("mypy") or str(Path(sys.executable).parent / "mypy")
    if not Path(mypy).exists():
        pytest.fail("mypy is not installed; it is part of the test extra")
    proc = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_every_command_and_option_says_what_it_does():
    import argparse

    from mlxk.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {choice.dest: choice.help for choice in sub._choices_actions}
    assert set(summaries) == set(sub.choices), "every command has a one-line summary"
    assert all(summaries.values()), summaries
    silent = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert not silent, f"options without help: {silent}"
