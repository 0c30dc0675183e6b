"""Steps that damage a cache the way real machines and scripts do, and check what stayed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pytest_bdd import given, parsers, then, when

from steps.cli_steps import _argv, run_subprocess


def _files(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): what it is and holds."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _repo(world, name: str) -> Path:
    from mlxk.cache.scan import repo_dir_name

    return world["hub"] / repo_dir_name(name)


@given("every file in the cache is recorded")
def record_cache(world):
    world["recorded"] = _files(Path(world["tmp"]))


@then("every file in the cache is unchanged")
def cache_unchanged(world):
    assert _files(Path(world["tmp"])) == world["recorded"]


@then(parsers.parse('every file of "{name}" is unchanged'))
def repo_unchanged(world, name):
    prefix = str(_repo(world, name).relative_to(world["tmp"])) + "/"
    before = {k: v for k, v in world["recorded"].items() if k.startswith(prefix)}
    after = {k: v for k, v in _files(Path(world["tmp"])).items() if k.startswith(prefix)}
    assert before and after == before


@then(
    parsers.parse(
        'the only files gone are revision {index:d} of "{name}" and its own blobs'
        " no other revision uses"
    )
)
def only_revision_gone(world, index, name):
    repo = _repo(world, name)
    commit = world["commits"][name][index - 1]
    snapshot = repo / "snapshots" / commit
    kept_blobs = set()
    for other in (repo / "snapshots").iterdir():
        kept_blobs |= {p.resolve() for p in other.rglob("*") if p.is_symlink()}
    root = Path(world["tmp"])
    after = _files(root)
    gone = set(world["recorded"]) - set(after)
    own_blobs = repo / "blobs"
    for rel in gone:
        path = root / rel
        inside_snapshot = path == snapshot or path.is_relative_to(snapshot)
        own_blob = path.parent == own_blobs and path not in kept_blobs
        assert inside_snapshot or own_blob, f"{rel} should not have been removed"
    assert any((root / rel).parent == own_blobs for rel in gone), "its own blob stayed"
    changed = {k for k in after if world["recorded"].get(k) != after[k]}
    assert not changed - {str(repo.relative_to(root) / "refs" / "main")}, changed


@given(
    parsers.parse(
        'revision {index:d} of "{name}" links "{filename}" to the "{blob}" blob of "{other}"'
    )
)
def link_to_other_blob(world, index, name, filename, blob, other):
    target = (_snapshot(world, other) / blob).resolve()
    snapshot = _repo(world, name) / "snapshots" / world["commits"][name][index - 1]
    (snapshot / filename).symlink_to(target)


@given(
    parsers.parse('revision {index:d} of "{name}" links "{filename}" to the file outside the cache')
)
def link_outside(world, index, name, filename):
    snapshot = _repo(world, name) / "snapshots" / world["commits"][name][index - 1]
    (snapshot / filename).symlink_to(world["outside"][-1])


def _snapshot(world, name: str) -> Path:
    from mlxk.cache.scan import read_repo

    return read_repo(_repo(world, name)).current.path


@given(parsers.parse('a directory "{dirname}" in the snapshot of "{name}" is a link to "{target}"'))
def dir_link_in_snapshot(world, dirname, name, target):
    (_snapshot(world, name) / dirname).symlink_to(target, target_is_directory=True)


@given(parsers.parse('the snapshot directory of "{name}" is a link to "{target}"'))
def snapshot_is_link(world, name, target):
    import shutil

    snapshot = _snapshot(world, name)
    shutil.rmtree(snapshot)
    snapshot.symlink_to(target, target_is_directory=True)


@when(parsers.parse('I run "{command}" with a {seconds:d} second limit'))
def run_with_limit(world, command, seconds):
    world["result"] = run_subprocess(_argv(command), world["env"], timeout=seconds)


@then(parsers.parse("the error message is at most {count:d} characters"))
def short_error(world, count):
    message = world["result"].json["error"]["message"]
    assert len(message) <= count, message


@given(parsers.parse('the {which} directory of "{name}" may not be read'))
def lock_directory(world, which, name):
    path = _snapshot(world, name) if which == "snapshot" else _repo(world, name)
    path.chmod(0)
    world["cleanup"].append(lambda: path.chmod(0o755))


@given("the cache directory may not be read")
def lock_hub(world):
    hub = world["hub"]
    hub.chmod(0)
    world["cleanup"].append(lambda: hub.chmod(0o755))


@given("the cache path is a regular file")
def hub_is_file(world):
    import shutil

    shutil.rmtree(world["hub"])
    world["hub"].write_text("not a directory")


@then(parsers.parse("the JSON list has no date before {year:d}"))
def no_old_dates(world, year):
    for model in world["result"].json["data"]["models"]:
        assert int(model["last_modified"][:4]) >= year, model


@then("running it again prints exactly the same")
def same_again(world):
    from steps.cli_steps import run_in_process

    first = world["result"]
    again = run_in_process(first.argv, world["env"])
    assert (again.exit_code, again.stdout) == (first.exit_code, first.stdout)


@given(parsers.parse('an empty lock directory for "{name}"'))
def empty_lock_dir(world, name):
    from mlxk.cache.scan import repo_dir_name

    (world["hub"] / ".locks" / repo_dir_name(name)).mkdir(parents=True)


@given(parsers.parse('the snapshots folder of "{name}" is empty'))
def empty_snapshots(world, name):
    import shutil

    snapshots = _repo(world, name) / "snapshots"
    shutil.rmtree(snapshots)
    snapshots.mkdir()


@when(parsers.parse('I run "{command}" twice at once'))
def run_twice(world, command):
    import subprocess
    import sys

    argv = [sys.executable, "-m", "mlxk", *_argv(command)]
    procs = [
        subprocess.Popen(argv, env=world["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    world["twice"] = [(p.wait(120), p.stdout.read().decode(), p.stderr.read()) for p in procs]


@then("both runs exit 0 with the same response")
def both_same(world):
    import json

    (code_a, out_a, err_a), (code_b, out_b, err_b) = world["twice"]
    assert code_a == code_b == 0, (err_a, err_b)
    response_a = json.loads(out_a)["data"]["response"]
    assert response_a and response_a == json.loads(out_b)["data"]["response"]


@given(parsers.parse('a cache holding "{name}" with {layout}'))
def sharded_repo(world, name, layout):
    import json

    from mlxk.cache.layout import lfs_pointer, write_repo
    from mlxk.engine.scripted.models import Quant
    from mlxk.engine.scripted.repo import mlx_model_files

    hub = Path(world["tmp"]) / "hf" / "hub"
    world["hub"] = hub
    world["env"]["HF_HUB_CACHE"] = str(hub)
    files = mlx_model_files("llama-chat", Quant(bits=4, group_size=64), shards=2)
    first, second = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    index = "model.safetensors.index.json"
    if layout == "two shards, one of them empty":
        files[second] = b""
    elif layout == "two shards, one an LFS pointer":
        files[second] = lfs_pointer(files[second])
    elif layout == "two shards and no index":
        del files[index]
    elif layout == "one of two shards and no index":
        del files[index], files[second]
    elif layout == "a PyTorch index and its two shards":
        mapping = json.loads(files.pop(index))
        renamed = {f: f.replace("model-", "pytorch_model-").replace(".safetensors", ".bin")
                   for f in (first, second)}  # fmt: skip
        for old, new in renamed.items():
            files[new] = files.pop(old)
        mapping["weight_map"] = {k: renamed[v] for k, v in mapping["weight_map"].items()}
        files["pytorch_model.bin.index.json"] = json.dumps(mapping).encode()
    elif layout == "a .partial file beside the weights":
        files["model.safetensors.partial"] = b"half"
    elif layout == "no weight files":
        del files[index], files[first], files[second]
    else:
        assert layout == "two shards and their index", layout
    write_repo(hub, name, files)
