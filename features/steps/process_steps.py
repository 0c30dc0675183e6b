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
from pytest_bdd import parsers, then, when

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


@when(parsers.parse('I start "{command}" as a server process'))
def start_server(world, command):
    port = free_port()
    argv = command.split()[1:] + ["--port", str(port)]
    log = open(Path(world["tmp"]) / "server.log", "w+")  # noqa: SIM115 - closed in cleanup
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlxk", *argv],
        env=world["env"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    world.update(proc=proc, port=port, url=f"http://127.0.0.1:{port}", log=log)

    def stop():
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()

    world["cleanup"].append(stop)
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
