"""Steps for models in folders of their own, named by path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
from pytest_bdd import given, parsers, then, when

from steps.cli_steps import _argv, run_in_process
from steps.server_steps import start_server


@given(parsers.parse('a copy of "{model}" in the folder "{folder}"'))
def copy_model(world, standard_hub, model, folder):
    from mlxk.cache.info import resolve_runnable

    source = resolve_runnable(standard_hub, model, kind=None).path
    shutil.copytree(source, Path(world["tmp"]) / folder)  # the files, not links into the cache


@given(parsers.parse('an empty folder "{folder}" and a file "{name}"'))
def empty_folder_and_file(world, folder, name):
    (Path(world["tmp"]) / folder).mkdir(parents=True)
    (Path(world["tmp"]) / name).write_text("not a model")


def _in_folder(world, command, stdin=""):
    """Run in the scenario's folder; ``<cache>`` in the command is the cache's path."""
    command = command.replace("<cache>", world["env"].get("HF_HUB_CACHE", "<cache>"))
    here = os.getcwd()
    os.chdir(world["tmp"])
    try:
        world["result"] = run_in_process(_argv(command), world["env"], stdin)
    finally:
        os.chdir(here)


@when(parsers.parse('I run "{command}" in the scenario folder'))
def run_in_folder(world, command):
    _in_folder(world, command)


@when(parsers.parse('I run "{command}" in the scenario folder with stdin "{stdin}"'))
def run_in_folder_with_stdin(world, command, stdin):
    _in_folder(world, command, stdin)


@then(parsers.parse('the folder "{folder}" is still there, whole'))
def folder_whole(world, folder):
    path = Path(world["tmp"]) / folder
    assert (path / "config.json").is_file() and any(path.glob("*.safetensors"))


@then(parsers.parse('the JSON field "{field}" is the absolute path of "{folder}"'))
def json_absolute(world, field, folder):
    import json

    value = json.loads(world["result"].stdout)
    for key in field.split("."):
        value = value[key]
    assert value == str((Path(world["tmp"]) / folder).resolve())


@given(parsers.parse('a running server of its own serving model folders from "{folder}"'))
def server_with_model_dir(world, standard_hub, folder):
    from mlxk.server.settings import model_dir

    start_server(world, standard_hub, model_dirs=(model_dir(str(Path(world["tmp"]) / folder)),))


def _chat(world, model):
    body = {"model": model, "messages": [{"role": "user", "content": "Hi there"}]}
    return httpx.post(world["url"] + "/v1/chat/completions", json=body, timeout=60)


@when(parsers.parse('a client asks for the model "{model}"'))
def ask_model(world, model):
    """``<tmp>`` is the scenario's folder, ``<300 a>`` 300 a's."""
    import re

    model = re.sub(r"<(\d+) (\w)>", lambda m: m[2] * int(m[1]), model)
    world["http"] = _chat(world, model.replace("<tmp>", str(world["tmp"])))


@then(parsers.parse('the answer is "{text}" from the model "{model}"'))
def answer_from(world, text, model):
    body = world["http"].json()
    assert world["http"].status_code == 200, body
    assert body["choices"][0]["message"]["content"] == text
    assert body["model"] == model.replace("<tmp>", str(Path(world["tmp"]).resolve()))


@then(parsers.parse('/v1/models lists the folder "{folder}"'))
def models_list_folder(world, folder):
    ids = [m["id"] for m in httpx.get(world["url"] + "/v1/models").json()["data"]]
    assert str((Path(world["tmp"]) / folder).resolve()) in ids


@then(parsers.parse('the folder "{folder}" holds plain files, no links'))
def plain_files(world, folder):
    path = Path(world["tmp"]) / folder
    entries = list(path.rglob("*"))
    assert entries and not any(p.is_symlink() for p in entries)
    assert (path / "model.safetensors").stat().st_size > 0


@when(parsers.parse('the clone in "{folder}" is left as an interruption leaves it'))
def interrupt_clone(world, folder):
    """What a clone stopped while copying leaves: its record not finished, the file it
    was copying half written as .part, and the files after it not there."""
    import json

    path = Path(world["tmp"]) / folder
    manifest = path / ".mlxk-clone.json"
    data = json.loads(manifest.read_text())
    data["complete"] = False
    names = sorted(data["files"])  # the order clone copies in
    copying, later = names[5], names[6:]
    for name in [copying, *later]:
        del data["files"][name]
    manifest.write_text(json.dumps(data))
    whole = (path / copying).read_bytes()
    (path / (copying + ".part")).write_bytes(whole[: len(whole) // 2])
    for name in [copying, *later]:
        (path / name).unlink()


@when(parsers.parse('one byte of "{name}" in the folder "{folder}" is flipped'))
def flip_folder_byte(world, name, folder):
    path = Path(world["tmp"]) / folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@then(
    parsers.parse(
        'the answer equals mlx-lm\'s own conversion of "{model}" with "{flags}" asked "{text}"'
    )
)
def equals_mlx_lm(world, standard_hub, model, flags, text):
    """mlx_lm.convert with the same options, then mlx_lm.generate, greedy, directly."""
    import importlib

    from mlx_lm import generate, load

    from mlxk.cache.info import resolve_runnable

    words = flags.split()
    options: dict = {"quantize": "--quantize" in words or "--q-bits" in words}
    if "--q-bits" in words:
        options["q_bits"] = int(words[words.index("--q-bits") + 1])
    if "--q-mode" in words:
        options.update(quantize=True, q_mode=words[words.index("--q-mode") + 1])
    if "--dtype" in words:
        options["dtype"] = words[words.index("--dtype") + 1]
    direct = Path(world["tmp"]) / "direct"
    source = resolve_runnable(standard_hub, model).path
    importlib.import_module("mlx_lm.convert").convert(str(source), str(direct), **options)
    loaded, tokenizer = load(str(direct))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True
    )
    expected = generate(loaded, tokenizer, prompt, max_tokens=64)
    assert world["result"].stdout.strip() == expected.strip()


@then(parsers.parse('the folder "{folder}" has a model card naming "{model}"'))
def model_card(world, folder, model):
    card = (Path(world["tmp"]) / folder / "README.md").read_text()
    assert card.startswith("---") and f"base_model: {model}" in card


@given(parsers.parse('a folder "{folder}" whose config names the model type "{kind}"'))
def weird_folder(world, standard_hub, folder, kind):
    """A healthy model's files, with a model type no library has."""
    import json

    from mlxk.cache.info import resolve_runnable

    path = Path(world["tmp"]) / folder
    shutil.copytree(resolve_runnable(standard_hub, "mlx-community/TinyLlama-Chat").path, path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": kind}))


@then(parsers.parse('no folder "{folder}" was written'))
def nothing_written(world, folder):
    assert not (Path(world["tmp"]) / folder).exists()


@given("an empty fake Hub on 127.0.0.1 that takes uploads")
def empty_fake_hub(world):
    from mlxk.testing.fakehub import FakeHub

    hub = FakeHub([]).__enter__()
    world["cleanup"].append(lambda: hub.__exit__(None, None, None))
    world["fakehub"] = hub
    world["env"].update(HF_ENDPOINT=hub.url, HF_TOKEN="hf_test_token", HF_HUB_DISABLE_XET="1")


@then(parsers.parse('the fake Hub got one commit to "{repo}" without the clone\'s record'))
def one_commit(world, repo):
    from mlxk.cache.clone import MANIFEST

    ((name, _, files),) = world["fakehub"].commits
    assert name == repo and "model.safetensors" in files and MANIFEST not in files


@then(
    parsers.parse(
        'pulling "{repo}" into a cache of its own gives the files of "{folder}", byte for byte'
    )
)
def pulled_back(world, repo, folder):
    from mlxk.cache.clone import MANIFEST
    from mlxk.cache.info import resolve_runnable

    hub = Path(world["tmp"]) / "pulled" / "hub"
    env = {**world["env"], "HF_HUB_CACHE": str(hub)}
    result = run_in_process(["pull", repo], env)
    assert result.exit_code == 0, result.stderr
    pulled = resolve_runnable(hub, repo).path
    source = Path(world["tmp"]) / folder
    names = sorted(p.name for p in source.iterdir() if p.name != MANIFEST)
    assert sorted(p.name for p in pulled.iterdir()) == names
    for name in names:
        assert (pulled / name).read_bytes() == (source / name).read_bytes(), name


@given(parsers.parse('a folder "{folder}" holding only a config.json'))
def config_only_folder(world, folder):
    path = Path(world["tmp"]) / folder
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"model_type": "llama"}')


@then(parsers.parse('the fake Hub holds "{repo}" as a private repo'))
def private_repo(world, repo):
    assert world["fakehub"].repos[repo].private


@then(parsers.parse("the fake Hub got {count:d} commits in all"))
def commits_in_all(world, count):
    assert len(world["fakehub"].commits) == count
