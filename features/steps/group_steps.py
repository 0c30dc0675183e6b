"""Steps for one model sharded over local ranks: serve --hosts, run --hosts, health --hosts.

Every rank is a real process started by mlx.launch on 127.0.0.1; answers are compared
with a single-process server's on the same cache. A scenario's group processes are found
by their environment (the scenario's HOME, and the launcher's or a rank's marks).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pytest_bdd import given, parsers, then, when

PROMPTS = ("Tell me a story", "What is a cat?", "hello there", "Name three fruits")
MAX_TOKENS = 24
_REFERENCE: dict[str, dict] = {}  # model -> its single-process answers and memory


@pytest.fixture(scope="session")
def group_hub(tmp_path_factory) -> Path:
    from mlxk.testing.synthetic import write_group_models

    hub = tmp_path_factory.mktemp("group-cache") / "hub"
    write_group_models(hub)
    return hub


def _hostfile(world, name: str, hosts: list[dict]) -> Path:
    path = Path(world["tmp"]) / f"{name}.json"
    path.write_text(json.dumps(hosts))
    return path


def _local(count: int) -> list[dict]:
    """``count`` entries for this machine, named both ways users write it."""
    return [{"ssh": "localhost" if i % 2 == 0 else "127.0.0.1"} for i in range(count)]


def group_port() -> int:
    """The first of 4 free ports (the ring backend takes one per rank), below the
    ephemeral range that the server's own free port comes from."""
    for _ in range(50):
        base = random.randrange(20000, 30000)
        try:
            for offset in range(4):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no 4 free ports in a row")


@given("the distributed test models")
def distributed_models(world, group_hub):
    world["hub"] = group_hub
    world["env"]["HF_HUB_CACHE"] = str(group_hub)
    unreachable = [
        {"ssh": "localhost", "ips": ["127.0.0.1"]},
        {"ssh": "127.0.0.2", "ips": ["127.0.0.2"]},
    ]
    world["fill"] = {
        "<two local hosts>": _hostfile(world, "two", _local(2)),
        "<three local hosts>": _hostfile(world, "three", _local(3)),
        "<an unreachable host>": _hostfile(world, "unreachable", unreachable),
        "<no such file>": Path(world["tmp"]) / "missing.json",
    }
    world["cleanup"].append(lambda: _kill_group(world))


# -- the group's processes ---------------------------------------------------------------
def group_processes(world) -> dict[int, str | None]:
    """This scenario's launcher and ranks: pid -> rank (None: the launcher)."""
    home = f"HOME={world['env']['HOME']}".encode()
    found: dict[int, str | None] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if home not in environ:
            continue
        rank = next((v[9:].decode() for v in environ if v.startswith(b"MLX_RANK=")), None)
        if b"mlx._distributed_utils.launch" in cmdline:
            found[int(entry.name)] = None
        elif rank is not None and any(v.startswith(b"MLXK_GROUP_STATUS=") for v in environ):
            found[int(entry.name)] = rank
    return found


def _kill_group(world) -> None:
    for pid in group_processes(world):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, OSError):
        return False
    return "State:\tZ" not in status


# -- answers ---------------------------------------------------------------------------
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
SHAPED = {  # other settings every rank must rebuild alike: a seed, a grammar
    "seeded": {"temperature": 0.9, "top_p": 0.9, "seed": 7},
    "schema": {
        "max_tokens": 48,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": SCHEMA},
        },
    },
}


def ask(url: str, model: str, prompt: str, stream: bool, **extra) -> str:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": stream,
        **extra,
    }
    if not stream:
        response = httpx.post(url + "/v1/chat/completions", json=body, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["message"]["content"]
    text = ""
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as reply:
        assert reply.status_code == 200
        for line in reply.iter_lines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                assert "error" not in event, event
                text += event["choices"][0]["delta"].get("content") or ""
    return text


def reference(world, model: str) -> dict:
    """One process's answers to PROMPTS, and its model memory (computed once)."""
    if model not in _REFERENCE:
        from mlxk.server.settings import ServerSettings
        from mlxk.testing.live_server import live_server

        with live_server(ServerSettings(hub_cache=world["hub"])) as url:
            answers = {p: ask(url, model, p, stream=False) for p in PROMPTS}
            shaped = {k: ask(url, model, PROMPTS[0], False, **v) for k, v in SHAPED.items()}
            memory = httpx.get(url + "/health", timeout=30).json()["models"][0]["memory_bytes"]
        _REFERENCE[model] = {"answers": answers, "shaped": shaped, "memory": memory}
    return _REFERENCE[model]


def _served_model(world) -> str:
    words = world["command"].split()
    return words[words.index("--model") + 1]


@when(parsers.parse('I start "{command}" over {count:d} local ranks'))
def start_group(world, command, count):
    from steps.process_steps import start_server

    hostfile = _hostfile(world, f"group{count}", _local(count))
    world["command"] = command
    start_server(world, f"{command} --metrics --hosts {hostfile} --group-port {group_port()}")
    world["ranks"] = group_processes(world)


@then("the group's answers equal a single process's, streamed and not, for 1 and 4 clients")
def answers_equal(world):
    model = _served_model(world)
    expected = reference(world, model)["answers"]
    assert len(set(expected.values())) == len(PROMPTS), expected  # distinct answers
    url = world["url"]
    for prompt in PROMPTS:
        assert ask(url, model, prompt, stream=False) == expected[prompt], prompt
        assert ask(url, model, prompt, stream=True) == expected[prompt], prompt
    for stream in (False, True):
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda p, s=stream: ask(url, model, p, s), PROMPTS))
        assert got == [expected[p] for p in PROMPTS], stream


@then("the group's answers equal a single process's for 4 clients at once, streamed")
def answers_equal_together(world):
    model = _served_model(world)
    expected = reference(world, model)["answers"]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: ask(world["url"], model, p, True), PROMPTS))
    assert got == [expected[p] for p in PROMPTS]


@then("a seeded sampled answer and a JSON-schema answer equal a single process's")
def shaped_equal(world):
    model = _served_model(world)
    expected = reference(world, model)["shaped"]
    for kind, settings in SHAPED.items():
        assert ask(world["url"], model, PROMPTS[0], True, **settings) == expected[kind], kind
    answer = json.loads(expected["schema"])
    assert set(answer) == {"name", "age"} and isinstance(answer["age"], int), answer


def _health(world) -> dict:
    return httpx.get(world["url"] + "/health", timeout=30).json()


@then(parsers.parse('/health shows a group of {size:d} ranks with "{sharding}" sharding'))
def health_group(world, size, sharding):
    group = _health(world)["group"]
    assert group["size"] == size and group["sharding"] == sharding, group
    assert group["backend"] == "ring" and group["reason"] is None, group
    assert [r["rank"] for r in group["ranks"]] == list(range(size)), group
    assert {r["host"] for r in group["ranks"]} <= {"localhost", "127.0.0.1"}, group


@then(parsers.parse("each rank holds at most {share:g} of the single process's model memory"))
def rank_memory(world, share):
    single = reference(world, _served_model(world))["memory"]
    ranks = _health(world)["group"]["ranks"]
    for rank in ranks:
        assert 0 < rank["memory_bytes"] <= share * single, (rank, single)
    assert sum(r["memory_bytes"] for r in ranks) >= single * 0.95  # all of it, somewhere


@then("each local rank runs on its own share of the cores")
def ranks_pinned(world):
    allowed = {}
    for pid, rank in group_processes(world).items():
        if rank is None:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                allowed[rank] = line.split()[-1]
    assert sorted(allowed) == ["0", "1"], allowed
    if (os.cpu_count() or 1) >= 2:
        assert allowed["0"] != allowed["1"], allowed


@then("/v1/models shows the group on the model's card")
def card_group(world):
    cards = httpx.get(world["url"] + "/v1/models", timeout=30).json()["data"]
    card = next(c for c in cards if c["id"] == _served_model(world))
    assert card["loaded"] and card["group"]["size"] == 2, card
    others = [c for c in cards if c["id"] != card["id"]]
    assert others and all(c["group"] is None for c in others)


@then("/metrics and the timings count the group's collective time")
def collective_time(world):
    model = _served_model(world)
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    reply = httpx.post(world["url"] + "/v1/chat/completions", json=body, timeout=60).json()
    assert reply["timings"]["collective_seconds"] > 0, reply["timings"]
    metrics = httpx.get(world["url"] + "/metrics", timeout=30).text
    line = next(x for x in metrics.splitlines() if x.startswith("mlxk_group_collective_seconds"))
    assert float(line.split()[-1]) > 0, line
    assert 'mlxk_group_rank_memory_bytes{host="127.0.0.1",rank="1"}' in metrics


# -- faults ------------------------------------------------------------------------------
@when("a long stream is running when rank 1 is killed")
def kill_rank_mid_stream(world):
    _stream_and_signal(world, signal.SIGKILL)


@when("a long stream is running when rank 1 is stopped")
def stop_rank_mid_stream(world):
    """SIGSTOP: a host gone silent (no socket closes, its peers just wait)."""
    _stream_and_signal(world, signal.SIGSTOP)


def _stream_and_signal(world, signum: int) -> None:
    model, events = _served_model(world), []
    started = threading.Event()
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a story"}],
        "max_tokens": 3000,
        "stream": True,
    }

    def read():
        with httpx.stream(
            "POST", world["url"] + "/v1/chat/completions", json=body, timeout=60
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
                    if len(events) >= 5:
                        started.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert started.wait(60), "the stream did not start"
    world["old_group"] = group_processes(world)
    rank1 = next(pid for pid, rank in world["old_group"].items() if rank == "1")
    os.kill(rank1, signum)
    reader.join(60)
    assert not reader.is_alive(), "the stream hangs after its rank was killed"
    world["events"] = events


@then("the stream ends with a group_unavailable error event and [DONE]")
def stream_error(world):
    events = world["events"]
    assert events[-1] == "[DONE]", events[-3:]
    error = json.loads(events[-2])["error"]
    assert error["code"] == "group_unavailable" and "rank" in error["message"], error


@then(parsers.parse('/health answers 503 "degraded" while the group is down'))
def degraded_health(world):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(world["url"] + "/health", timeout=2)
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        if reply.status_code == 503:
            health = reply.json()
            assert health["status"] == "degraded" and "rank" in json.dumps(health), health
            return
        time.sleep(0.05)
    raise AssertionError("/health never said degraded")


@then("the group answers again as a single process does, from new ranks")
def group_back(world):
    from steps.process_steps import _wait_health

    _wait_health(world["url"], 90)
    model = _served_model(world)
    expected = reference(world, model)["answers"]
    for prompt in PROMPTS[:2]:
        assert ask(world["url"], model, prompt, stream=True) == expected[prompt]
    now = group_processes(world)
    assert now and not set(now) & set(world["old_group"]), (now, world["old_group"])


@then("no process of the old group is left")
def old_group_gone(world):
    left = [pid for pid in world["old_group"] if _alive(pid)]
    assert not left, left


@then("no process of the group is left")
def group_gone(world):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        left = [pid for pid in group_processes(world) if _alive(pid)]
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError(f"left running: {group_processes(world)}")


# -- the CLI -----------------------------------------------------------------------------
@when(parsers.parse('I run "{command}" on one process and over 2 local ranks'))
def run_both(world, command):
    from steps.cli_steps import _argv, run_subprocess

    argv = _argv(command)
    world["single"] = run_subprocess(argv, world["env"], timeout=120)
    hosts = ["--hosts", str(world["fill"]["<two local hosts>"]), "--group-port", str(group_port())]
    world["result"] = run_subprocess([*argv, *hosts], world["env"], timeout=120)


@then("both print the same answer and exit 0")
def same_answer(world):
    single, group = world["single"], world["result"]
    assert single.exit_code == 0 and group.exit_code == 0, (single, group)
    assert single.stdout.strip() and single.stdout == group.stdout, (single.stdout, group.stdout)


@then(parsers.parse('the error names "{text}"'))
def error_names(world, text):
    assert text in world["result"].stderr, world["result"].stderr


@then(parsers.parse('the JSON data lists {count:d} healthy hosts and a "{sharding}" group'))
def health_hosts(world, count, sharding):
    from mlxk.contract import validate_envelope

    payload = world["result"].json
    validate_envelope(payload)
    data = payload["data"]
    assert [e["rank"] for e in data["healthy"]] == list(range(count)), data
    assert data["unhealthy"] == [] and data["group"]["sharding"] == sharding, data
