"""Steps that send a server what breaks weaker ones: hostile text, hang-ups, floods, signals."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import threading
import time

import httpx
import pytest
from pytest_bdd import given, parsers, then, when

from mlxk.server.app import ServerSettings
from mlxk.testing.live_server import live_server
from steps.process_steps import start_server as start_server_process

STRICT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'assistant' %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant') }}"
    "{%- endif %}"
)


# Like templates that address a participant by name: the name goes into the prompt.
NAMED_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message.get('name') %}{{- message['name'] + ': ' }}{%- endif %}"
    "{{- message['content'] | trim }}{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory):
    """A server whose cache also holds a model with a Mistral-style strict template."""
    from mlxk.cache.layout import write_repo
    from mlxk.engine.scripted.templates import LLAMA3
    from mlxk.testing import fixtures

    hub = tmp_path_factory.mktemp("strict-cache") / "hub"
    fixtures.build_cache(hub, ["mlx-community/TinyLlama-Chat-4bit", "mlx-community/TinyLlama-Base"])
    files = fixtures.mlx_model_files("llama-chat", fixtures.Q4)
    tokenizer_config = json.loads(files["tokenizer_config.json"])
    tokenizer_config["chat_template"] = STRICT_TEMPLATE + LLAMA3
    files["tokenizer_config.json"] = json.dumps(tokenizer_config).encode()
    write_repo(hub, "acme/Strict-Chat", files)
    named = fixtures.mlx_model_files("llama-chat", fixtures.Q4)
    tokenizer_config = json.loads(named["tokenizer_config.json"])
    tokenizer_config["chat_template"] = NAMED_TEMPLATE
    named["tokenizer_config.json"] = json.dumps(tokenizer_config).encode()
    write_repo(hub, "acme/Named-Chat", named)
    with live_server(ServerSettings(hub_cache=hub)) as url:
        yield url


@given(
    "a running server with a model whose chat template refuses conversations"
    " that start with the assistant"
)
def running_strict_server(world, strict_server):
    world["url"] = strict_server


def _health(world) -> dict:
    return httpx.get(world["url"] + "/health", timeout=10).json()


@then(parsers.parse('the error message contains "{text}"'))
def error_message_contains(world, text):
    message = world["http"].json()["error"]["message"]
    assert text in message, message


@then(parsers.parse('/health says "{status}" with no worker restart'))
def health_no_restart(world, status):
    health = _health(world)
    assert (health["status"], health["worker_restarts"]) == (status, 0), health


@then(parsers.parse('/health says "{status}" with {count:d} worker restart'))
def health_restarts(world, status, count):
    health = _health(world)
    assert (health["status"], health["worker_restarts"]) == (status, count), health


@when(parsers.parse('I POST a {size:d} MB prompt to "{model}"'))
def post_big_prompt(world, size, model):
    words = "word " * (size * 1024 * 1024 // 5)
    body = {"model": model, "messages": [{"role": "user", "content": words}]}
    world["http"] = httpx.post(world["url"] + "/v1/chat/completions", json=body, timeout=120)


@given("a running server on the standard fixture cache whose model worker is made to die once")
def server_with_dying_worker(world, standard_hub):
    def inject(app):
        # A fault no real model produces: the worker thread itself ends mid-request
        # (SystemExit passes every `except Exception`).
        worker = app.state.manager.worker
        cycle = worker._cycle

        def dying_cycle():
            worker._cycle = cycle
            raise SystemExit("injected: the worker thread dies")

        worker._cycle = dying_cycle

    context = live_server(ServerSettings(hub_cache=standard_hub), prepare=inject)
    world["url"] = context.__enter__()
    world["cleanup"].append(lambda: context.__exit__(None, None, None))


@when("a request reaches the model worker as it dies")
def request_as_worker_dies(world):
    body = {
        "model": "mlx-community/TinyLlama-Chat-4bit",
        "messages": [{"role": "user", "content": "hi"}],
    }
    world["http"] = httpx.post(world["url"] + "/v1/chat/completions", json=body, timeout=60)


@when(
    parsers.parse(
        '{count:d} clients ask "{model}" for {tokens:d} tokens without streaming'
        " and hang up after {seconds:f} seconds"
    )
)
def hang_up_unstreamed(world, count, model, tokens, seconds):
    world["before"] = _health(world)["generated_tokens"]
    body = {"model": model, "prompt": "one", "max_tokens": tokens}

    def ask():
        try:
            httpx.post(world["url"] + "/v1/completions", json=body, timeout=seconds)
        except httpx.TimeoutException:
            pass  # the client gives up and closes its connection

    threads = [threading.Thread(target=ask) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world["asked_tokens"] = count * tokens


@then(
    parsers.parse(
        "the server stops generating for the clients that left,"
        " far below the {total:d} tokens asked for"
    )
)
def stopped_far_below(world, total):
    deadline = time.monotonic() + 20
    while _health(world)["active_requests"] and time.monotonic() < deadline:
        time.sleep(0.05)
    health = _health(world)
    assert health["active_requests"] == 0, health
    generated = health["generated_tokens"] - world["before"]
    assert 0 < generated < total / 2, (generated, total)


def _rss_peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@when(parsers.parse('I send a {size:d} MB chunked body to "{path}"'))
def send_chunked(world, size, path):
    world["peak_before"] = _rss_peak_kb(world["server_pid"])
    sock = socket.create_connection(("127.0.0.1", world["port"]), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 65536
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
    sent = 0
    try:
        sock.sendall(head.encode())
        while sent < size * 1024 * 1024:
            sock.sendall(frame)
            sent += len(piece)
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server stopped reading and closed: what it should do
    try:
        world["upload_answer"] = sock.recv(4096).decode("latin-1")
    except OSError:
        world["upload_answer"] = ""
    sock.close()
    world["uploaded"] = sent


@then("the upload was refused with a 413 or cut off")
def upload_refused(world):
    answer = world["upload_answer"]
    assert answer == "" or answer.startswith("HTTP/1.1 413"), answer[:200]
    assert " 200 " not in answer.split("\r\n")[0] if answer else True


@then(parsers.parse("the server process grew by less than {mb:d} MB"))
def grew_little(world, mb):
    grown = _rss_peak_kb(world["server_pid"]) - world["peak_before"]
    assert grown < mb * 1024, f"peak RSS grew by {grown // 1024} MB"


@when(parsers.parse('I start "{command}" as a server process allowed {count:d} open files'))
def start_with_few_files(world, command, count):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    start_server_process(world, command, preexec_fn=limit)


@when(parsers.parse("{count:d} clients connect and send half a request header"))
def half_headers(world, count):
    # This process's own limit may be mlx-lm's 2048 (set when it is imported): lift it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256 if hard == resource.RLIM_INFINITY else min(count + 256, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", world["port"]), timeout=10)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        sockets.append(sock)
    world["slow"] = sockets
    world["slow_since"] = time.monotonic()
    world["cleanup"].append(lambda: [s.close() for s in sockets])


@then(parsers.parse("/health answers within {seconds:d} seconds while they wait"))
def health_while_flooded(world, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = httpx.get(world["url"] + "/health", timeout=2)
            assert response.status_code == 200
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@then(
    parsers.parse(
        "the server closes connections whose headers do not arrive within {seconds:d} seconds"
    )
)
def slow_closed(world, seconds):
    deadline = world["slow_since"] + seconds + 10
    open_ones = list(world["slow"])
    while open_ones and time.monotonic() < deadline:
        still = []
        for sock in open_ones:
            sock.settimeout(0.01)
            try:
                if sock.recv(1) != b"":
                    still.append(sock)  # pragma: no cover - the server never answers these
            except TimeoutError:
                still.append(sock)
            except OSError:
                pass
        open_ones = still
        time.sleep(0.2)
    assert not open_ones, f"{len(open_ones)} half-sent requests still held open"


@when(parsers.parse("I start a long stream from it and send SIGTERM after {count:d} chunks"))
def stream_then_sigterm(world, count):
    body = {
        "model": "mlx-community/TinyLlama-Base",
        "prompt": "one",
        "max_tokens": 3000,
        "stream": True,
    }
    lines, error = [], None
    try:
        with httpx.stream("POST", world["url"] + "/v1/completions", json=body, timeout=60) as r:
            for line in r.iter_lines():
                lines.append(line)
                if sum(1 for x in lines if x.startswith("data:")) == count:
                    os.kill(world["proc"].pid, signal.SIGTERM)
    except httpx.HTTPError as caught:
        error = caught
    world["stream_lines"], world["stream_error"] = lines, error


@then('the stream ended with an error event and "data: [DONE]" and a complete chunked body')
def stream_ended_properly(world):
    assert world["stream_error"] is None, repr(world["stream_error"])
    data = [line for line in world["stream_lines"] if line.startswith("data:")]
    assert data[-1] == "data: [DONE]", data[-3:]
    last_event = json.loads(data[-2][5:])
    assert "error" in last_event, last_event
    assert len(data) < 3000


@then("the request that was running gets a 500 in the OpenAI shape")
def got_500(world):
    response = world["http"]
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "internal_error"


@when(parsers.parse('the openai client, as "{name}", asks "{model}": "{text}"'))
def ask_as(world, model, name, text):
    import openai

    client = openai.OpenAI(base_url=world["url"] + "/v1", api_key="unused", max_retries=0)
    named = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text, "name": name}], max_tokens=1
    )
    plain = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=1
    )
    world["prompt_tokens"] = (named.usage.prompt_tokens, plain.usage.prompt_tokens)


@then("the prompt counted more tokens than the same message without a name")
def named_prompt_longer(world):
    named, plain = world["prompt_tokens"]
    assert named > plain, (named, plain)
