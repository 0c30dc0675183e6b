"""Steps that set up the HF cache a scenario runs against."""

from __future__ import annotations

from pathlib import Path

from pytest_bdd import given, parsers, then


@given("an empty HF cache")
def empty_cache(world):
    world["hub"] = Path(world["env"]["HF_HOME"]) / "hub"


@given("no HF cache directory at all")
def no_cache(world):
    world["hub"] = Path(world["tmp"]) / "does-not-exist" / "hub"
    world["env"]["HF_HUB_CACHE"] = str(world["hub"])


@given("an existing but empty HF cache folder")
def existing_empty_cache(world):
    world["hub"] = Path(world["tmp"]) / "hf" / "hub"
    world["hub"].mkdir(parents=True)
    world["env"]["HF_HUB_CACHE"] = str(world["hub"])


@given("the standard fixture cache")
def standard_cache(world, standard_hub):
    world["hub"] = standard_hub
    world["env"]["HF_HUB_CACHE"] = str(standard_hub)


@then(parsers.parse('the cache holds a healthy snapshot of "{name}"'))
def cache_holds(world, name):
    from mlxk.cache.info import describe
    from mlxk.cache.scan import read_repo, repo_dir_name

    repo = read_repo(world["hub"] / repo_dir_name(name))
    info = describe(repo)
    assert info.runnable, info.reason
    assert (repo.path / "refs" / "main").read_text() == repo.current.commit


@then("every fixture repo has blobs, snapshot symlinks into them and refs/main")
def layout_is_real(world):
    hub = world["hub"]
    repos = sorted(p for p in hub.iterdir() if p.name.startswith("models--"))
    assert len(repos) >= 10
    for repo in repos:
        commit = (repo / "refs" / "main").read_text()
        snapshot = repo / "snapshots" / commit
        links = [p for p in snapshot.rglob("*") if not p.is_dir()]
        assert links, repo
        for link in links:
            assert link.is_symlink(), link
            target = link.resolve()
            assert target.parent == (repo / "blobs").resolve(), target


@then("huggingface_hub's own cache scan reads every fixture repo")
def hf_scan_agrees(world):
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(world["hub"])
    names = {r.repo_id for r in info.repos}
    assert "mlx-community/TinyLlama-Chat-4bit" in names
    assert "mlx-community/tiny-gpt-oss-harmony" in names
    assert not [w for w in info.warnings if "TinyLlama-Chat-4bit" in str(w)]


HEALTHY_KINDS = {
    "chat": ("llama-chat", None),
    "chat-4bit": ("llama-chat", "Q4"),
    "base": ("llama-base", None),
    "think": ("qwen3-think", "Q4"),
}


def write_model(hub: Path, name: str, kind: str, salt: str = "") -> str:
    """Write a tiny real model as ``name``; returns the commit of the new snapshot."""
    from mlxk.cache.layout import commit_hash_for, write_repo
    from mlxk.testing import fixtures

    key, quant = HEALTHY_KINDS[kind]
    files = fixtures.mlx_model_files(key, getattr(fixtures, quant) if quant else None)
    if salt:
        files["README.md"] = files["README.md"] + salt.encode()
    commit = commit_hash_for(name, files, salt)
    write_repo(hub, name, files, commit=commit)
    return commit


@given("a cache with these models:")
def cache_with_models(world, datatable):
    hub = Path(world["tmp"]) / "hf" / "hub"
    world["hub"] = hub
    world["env"]["HF_HUB_CACHE"] = str(hub)
    world["commits"] = {}
    header, *rows = datatable
    for row in rows:
        entry = dict(zip(header, row, strict=True))
        revisions = int(entry.get("revisions", "1") or 1)
        for i in range(revisions):
            commit = write_model(hub, entry["name"], entry["kind"], salt=f"rev{i}")
            world["commits"].setdefault(entry["name"], []).append(commit)


@given(parsers.parse('a file outside the cache at "{relative}"'))
def outside_file(world, relative):
    path = Path(world["tmp"]) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("precious")
    world.setdefault("outside", []).append(path)


@given(parsers.parse('a stale lock file for "{name}"'))
def stale_lock(world, name):
    from mlxk.cache.scan import repo_dir_name

    locks = world["hub"] / ".locks" / repo_dir_name(name)
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "deadbeef.lock").write_text("")


@then(parsers.parse('the cache no longer has "{name}"'))
def cache_lacks(world, name):
    from mlxk.cache.scan import repo_dir_name

    assert not (world["hub"] / repo_dir_name(name)).exists()
    assert not (world["hub"] / ".locks" / repo_dir_name(name)).exists()


@then(parsers.parse('the cache still has "{name}" with {count:d} revision(s)'))
def cache_still_has(world, name, count):
    from mlxk.cache.scan import read_repo, repo_dir_name

    repo = read_repo(world["hub"] / repo_dir_name(name))
    assert len(repo.snapshots) == count, repo.snapshots
    for snapshot in repo.snapshots:
        for link in snapshot.path.rglob("*"):
            assert link.exists(), f"{link} lost its blob"


@then("the files outside the cache are untouched")
def outside_untouched(world):
    for path in world.get("outside", []):
        assert path.read_text() == "precious"


@given(parsers.parse('the config.json of "{name}" is replaced by "{text}"'))
def corrupt_config(world, name, text):
    from mlxk.cache.scan import read_repo, repo_dir_name

    snapshot = read_repo(world["hub"] / repo_dir_name(name)).current.path
    link = snapshot / "config.json"
    link.unlink()  # the blob may be shared; give this snapshot its own bad copy
    link.write_text(text)


@given(parsers.re(r'(?P<name>MLXK_(MEMORY_LIMIT|BLAS)) is "(?P<value>[^"]*)"'))
def mlxk_setting(world, name, value):
    world["env"][name] = value


def _snapshot_of(world, name):
    from mlxk.cache.scan import read_repo, repo_dir_name

    return read_repo(world["hub"] / repo_dir_name(name)).current.path


@given(parsers.parse('the file "{filename}" of "{name}" is deleted'))
def delete_file(world, filename, name):
    link = _snapshot_of(world, name) / filename
    link.resolve().unlink()
    link.unlink()


@given(
    parsers.parse(
        'the file "{filename}" of "{name}" is deleted, with huggingface_hub\'s record of it'
    )
)
def delete_file_and_record(world, filename, name):
    import json

    delete_file(world, filename, name)
    snapshot = _snapshot_of(world, name)
    tree = snapshot.parent.parent / "trees" / f"{snapshot.name}.json"
    if tree.exists():
        data = json.loads(tree.read_text())
        data.get("files", {}).pop(filename, None)
        tree.write_text(json.dumps(data))


@given(parsers.parse('one byte of "{filename}" of "{name}" is flipped'))
def flip_byte(world, filename, name):
    blob = (_snapshot_of(world, name) / filename).resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))


@given(parsers.parse('the file "{filename}" of "{name}" may not be read'))
def lock_file(world, filename, name):
    blob = (_snapshot_of(world, name) / filename).resolve()
    blob.chmod(0)
    world["cleanup"].append(lambda: blob.chmod(0o644))
