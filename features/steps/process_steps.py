"""Steps that run `mlxk serve` as a real process and signal it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pytest_bdd import given, parsers, then, when

from mlxk.testing.live_server import free_port


def _server_pid(url: str) -> int:
    return httpx.get(url + "/health", timeout=5).json()["pid"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_health(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not answer /health")


def _fill(world, command: str) -> str:
    """Put the scenario's own paths and ports in for ``<keyfile>`` and ``<held>``, and
    for the placeholders the scenario's ``fill`` names (hostfiles: ``<two local hosts>``)."""
    for name in ("keyfile", "held"):
        command = command.replace(f"<{name}>", str(world.get(name, f"<{name}>")))
    for placeholder, value in world.get("fill", {}).items():
        command = command.replace(placeholder, str(value))
    return command


@when(parsers.parse('I start "{command}" as a server process'))
def start_server(world, command, preexec_fn=None, cwd=None, wait=True, keep_stdout=False):
    port = free_port()
    argv = _fill(world, command).split()[1:] + ["--port", str(port)]
    log = open(Path(world["tmp"]) / "server.log", "w+")  # noqa: SIM115 - closed in cleanup
    # The installed `mlxk` script, as users start it (its directory, not the working
    # directory, heads sys.path).
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlxk"), *argv],
        env=world["env"],
        stdout=subprocess.PIPE if keep_stdout or not wait else subprocess.DEVNULL,
        stderr=log,
        preexec_fn=preexec_fn,
        cwd=cwd,
    )
    world.update(proc=proc, port=port, url=f"http://127.0.0.1:{port}", log=log)

    def stop():
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()

    world["cleanup"].append(stop)
    if wait:
        _wait_health(world["url"])
        world["server_pid"] = _server_pid(world["url"])


@when("the server's child process is killed")
def kill_child(world):
    child = world["server_pid"]
    assert child != world["proc"].pid, "the server should run in a child of the supervisor"
    os.kill(child, signal.SIGKILL)


@then("the server answers /health again from a new child")
def answers_again(world):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            pid = _server_pid(world["url"])
            if pid != world["server_pid"]:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("no new server child answered")
    assert not _alive(world["server_pid"]), "the killed child is still there"
    world["server_pid"] = pid


@when(parsers.parse("I send {name} to the server process"))
def send_signal(world, name):
    world["proc"].send_signal(getattr(signal, name))


@then(parsers.parse("it exits with code {code:d} within {seconds:d} seconds"))
def exits(world, code, seconds):
    assert world["proc"].wait(seconds) == code


@then("no child process is left and the port is free")
def nothing_left(world):
    assert not _alive(world["server_pid"]), f"orphan server {world['server_pid']}"
    with socket.socket() as sock:  # a new server (which sets SO_REUSEADDR) could listen here
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", world["port"]))
        sock.listen()


@when(parsers.parse('I GET "{path}" from it with the request id "{request_id}"'))
def get_with_id(world, path, request_id):
    response = httpx.get(world["url"] + path, headers={"X-Request-ID": request_id}, timeout=30)
    assert response.headers["x-request-id"] == request_id


LOG_LINE = 'its stderr has a JSON log line for "{path}" with request id "{request_id}"'


@then(parsers.parse(LOG_LINE + " and status {status:d}"))
def json_log_line(world, path, request_id, status):
    world["log"].flush()
    lines = (Path(world["tmp"]) / "server.log").read_text().splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    matching = [r for r in records if r.get("path") == path and r.get("request_id") == request_id]
    assert matching and matching[0]["status"] == status, records


def _read_until(proc, marker: str, seconds: float = 60) -> str:
    import os
    import select

    seen = b""
    deadline = time.monotonic() + seconds
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
            if marker.encode() in seen:
                return seen.decode(errors="replace")
    raise AssertionError(f"never saw {marker!r} in {seen[-500:]!r}")


@when(parsers.parse('I start a chat with "{model}" and ask "{text}"'))
def start_chat(world, model, text):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlxk", "run", model],
        env=world["env"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    world["proc"] = proc
    world["cleanup"].append(lambda: proc.poll() is None and proc.kill())
    _read_until(proc, "You: ")
    proc.stdin.write(f"{text}\n".encode())
    proc.stdin.flush()


@when("I press Ctrl-C while it answers")
def ctrl_c_while_answering(world):
    _read_until(world["proc"], " four")  # the base model counts: it is mid-answer
    world["proc"].send_signal(signal.SIGINT)


@then("the answer stops and the chat asks for the next message")
def answer_stopped(world):
    text = _read_until(world["proc"], "You: ")
    assert "[stopped]" in text, text
    assert world["proc"].poll() is None


@when("I press Ctrl-C at the prompt")
def ctrl_c_at_prompt(world):
    world["proc"].send_signal(signal.SIGINT)


@then("the chat ends with exit code 0 and no traceback")
def chat_ended(world):
    proc = world["proc"]
    assert proc.wait(20) == 0
    err = proc.stderr.read().decode()
    assert "Traceback" not in err, err


@given("nothing else")
def nothing_else():
    pass


@given("another process holds a port")
def hold_port(world):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    world["held"] = sock.getsockname()[1]
    world["cleanup"].append(sock.close)


@given("an empty API key file")
def empty_key_file(world):
    path = Path(world["tmp"]) / "empty.key"
    path.write_text("\n")
    world["keyfile"] = path


@given(parsers.parse('an API key file holding "{key}"'))
def key_file(world, key):
    path = Path(world["tmp"]) / "api.key"
    path.write_text(key + "\n")
    world["keyfile"] = path


@given(parsers.parse('MLXK_API_KEY is "{key}" in the environment'))
def key_in_env(world, key):
    world["env"]["MLXK_API_KEY"] = key


@when(parsers.parse('I run "{command}" as a separate process with a {seconds:d} second limit'))
def run_process_limited(world, command, seconds):
    from steps.cli_steps import _argv, run_subprocess

    world["result"] = run_subprocess(_argv(_fill(world, command)), world["env"], timeout=seconds)


@then(
    parsers.parse(
        "the server's child process is gone within {seconds:d} seconds and the port is free"
    )
)
def child_gone(world, seconds):
    world["proc"].wait(10)
    deadline = time.monotonic() + seconds
    while _alive(world["server_pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(world["server_pid"]), "the server outlived its supervisor"
    nothing_left(world)


@given("a directory holding a queue.py that leaves a mark when imported")
def queue_py(world):
    workdir = Path(world["tmp"]) / "workdir"
    workdir.mkdir()
    mark = Path(world["tmp"]) / "imported-queue-py"
    (workdir / "queue.py").write_text(f"open({str(mark)!r}, 'w').close()\nraise SystemExit(3)\n")
    world.update(workdir=workdir, mark=mark)


@when(parsers.parse('I start "{command}" as a server process in that directory'))
def start_in_dir(world, command):
    start_server(world, command, cwd=world["workdir"])


@then("the server answers a chat request")
def answers_chat(world):
    body = {
        "model": "mlx-community/TinyLlama-Chat-4bit",
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = httpx.post(world["url"] + "/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text


@then("the mark is not there")
def no_mark(world):
    assert not world["mark"].exists(), "a queue.py from the working directory was imported"


@then(parsers.parse('no process\'s command line holds the key "{key}"'))
def key_not_in_argv(world, key):
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        assert key.encode() not in b" ".join(args), f"{cmdline}: {args}"


@then(parsers.parse('GET "{path}" answers 401 without the key and 200 with "{key}"'))
def key_required(world, path, key):
    assert httpx.get(world["url"] + path, timeout=30).status_code == 401
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(world["url"] + path, headers=headers, timeout=30).status_code == 200


def spawn_mlxk(world, command: str) -> subprocess.Popen:
    """``command`` ("mlxk …") as a process of its own, piped, killed when the scenario ends."""
    import shlex

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlxk", *shlex.split(command)[1:]],
        env=world["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    world["cleanup"].append(lambda: proc.poll() is None and proc.kill())
    return proc


@when(parsers.parse('I start "{command}" and send {name} once it has printed "{marker}"'))
def signal_single_answer(world, command, name, marker):
    proc = spawn_mlxk(world, command)
    world["printed"] = _read_until(proc, marker)
    proc.send_signal(getattr(signal, name))
    world["proc"] = proc


@then("it exits with code 130, what it printed stays, and there is no traceback")
def interrupted_cleanly(world):
    proc = world["proc"]
    assert proc.wait(30) == 130
    rest = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    assert (world["printed"] + rest).startswith("two three four"), world["printed"]
    assert "Traceback" not in err, err
    assert "interrupted" in err, err


@then(
    parsers.parse(
        '"{command}" starts, answers /health and exits 0 on SIGINT, {times:d} times in a row'
    )
)
def start_stop_cycles(world, command, times):
    for _ in range(times):
        start_server(world, command)
        world["proc"].send_signal(signal.SIGINT)
        assert world["proc"].wait(30) == 0
        nothing_left(world)


@when(parsers.parse('I start "{command}" as a server process, keeping its output'))
def start_keeping_output(world, command):
    start_server(world, command, keep_stdout=True)


@then(
    parsers.parse('its output is one JSON envelope for "{command}" saying it stopped on a signal')
)
def stopped_envelope(world, command):
    from mlxk.contract import validate_envelope

    payload = json.loads(world["proc"].stdout.read().decode())
    validate_envelope(payload)
    assert payload["command"] == command and payload["data"]["reason"] == "signal", payload


@when(parsers.parse('I run "{command}" in a terminal'))
def run_in_pty(world, command):
    import pty
    import shlex

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlxk", *shlex.split(command)[1:]],
        env=world["env"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    world.update(proc=proc, pty=leader)

    def stop():
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(leader)

    world["cleanup"].append(stop)


@then(parsers.parse('"{text}" is on the screen while it is still generating'))
def on_screen_while_running(world, text):
    import select

    screen, deadline = b"", time.monotonic() + 60
    while text.encode() not in screen and time.monotonic() < deadline:
        ready, _, _ = select.select([world["pty"]], [], [], 0.1)
        if ready:
            screen += os.read(world["pty"], 4096)
    assert text.encode() in screen, screen[-300:]
    assert world["proc"].poll() is None, "it finished before the text was seen: not streamed"


@when(parsers.parse('it answers a request for "{first}", then one for "{second}"'))
def two_models_in_turn(world, first, second):
    for model in (first, second):
        body = {"model": model, "prompt": "one", "max_tokens": 2}
        response = httpx.post(world["url"] + "/v1/completions", json=body, timeout=60)
        assert response.status_code == 200, response.text


@then(parsers.parse('its log unloads "{old}" before it loads "{new}"'))
def unload_before_load(world, old, new):
    world["log"].flush()
    events = []
    for line in (Path(world["tmp"]) / "server.log").read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") in ("load", "unload"):
            events.append((record["event"], record["model"]))
    assert events == [("load", old), ("unload", old), ("load", new)], events


@given(parsers.parse('the weights of "{name}" are padded to {size:d} GB'))
def pad_weights(world, name, size):
    from mlxk.cache.scan import read_repo, repo_dir_name

    snapshot = read_repo(world["hub"] / repo_dir_name(name)).current.path
    blob = (snapshot / "model.safetensors").resolve()
    with open(blob, "r+b") as fh:
        fh.truncate(size * 10**9)  # sparse: costs no disk, but takes time to hash
    (snapshot.parent.parent / "trees" / f"{snapshot.name}.json").unlink(missing_ok=True)


@when(parsers.parse('I start "{command}" and send {name} once it has read {mb:d} MB'))
def signal_after_reading(world, command, name, mb):
    proc = spawn_mlxk(world, command)
    io = Path(f"/proc/{proc.pid}/io")
    deadline = time.monotonic() + 60
    while True:
        fields = dict(line.split(": ") for line in io.read_text().splitlines())
        if int(fields["rchar"]) > mb * 10**6:
            break
        assert proc.poll() is None and time.monotonic() < deadline, "it ended before reading"
        time.sleep(0.02)
    proc.send_signal(getattr(signal, name))
    world["proc"] = proc
