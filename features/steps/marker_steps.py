"""Steps for reasoning markers a model's tokenizer does not name: models.toml, a model
folder's mlxk.json, and servers that load models with them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from pytest_bdd import given, parsers, then, when

from steps.server_steps import start_server


def _config_file(world) -> Path:
    path = Path(world["env"]["HOME"]) / ".config" / "mlxk" / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@given("the user's models.toml:")
def write_models_toml(world, docstring):
    _config_file(world).write_text(docstring + "\n", encoding="utf-8")


@given(parsers.parse('the folder "{folder}" has the mlxk.json {text}'))
def write_folder_config(world, folder, text):
    (Path(world["tmp"]) / folder / "mlxk.json").write_text(text, encoding="utf-8")


@given(parsers.parse('a running server of its own with "{model}" and --reasoning-tokens "{pair}"'))
def server_with_flag(world, standard_hub, model, pair):
    from mlxk.cache.markers import parse_flag

    start_server(world, standard_hub, model=model, reasoning_tokens=parse_flag(pair))


@given("a running server of its own reading the user's models.toml")
def server_reading_config(world, standard_hub):
    start_server(world, standard_hub)


@when(parsers.parse('a client streams "{model}" over HTTP: "{text}"'))
def stream_raw(world, model, text):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": True}
    pieces: dict[str, str] = {"content": "", "reasoning_content": ""}
    with httpx.stream("POST", world["url"] + "/v1/chat/completions", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:])["choices"]:
                for key in pieces:
                    pieces[key] += choice["delta"].get(key) or ""
    world["streamed"] = pieces


@then(
    parsers.parse('the streamed content is "{text}" and the streamed reasoning_content "{thought}"')
)
def streamed_pieces(world, text, thought):
    assert world["streamed"] == {"content": text, "reasoning_content": thought}, world["streamed"]
