"""What the benchmark scripts share: a synthetic model in a temp cache, servers, clients, tables.

Each script builds its model into a fresh temporary HF cache, starts the servers it
compares (mlxk, ``mlx_lm.server``, mlx-knife's ``mlxk serve`` when given), drives them
with the same requests in the same run, and prints one table plus the ratios.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _streams import ChatTranscript, stream_all

from mlxk.engine.blas import use_fast_blas
from mlxk.testing.synthetic import write_synthetic

ROOT = Path(__file__).resolve().parent.parent
# Before mlx is imported here: the baselines measured in this process use the BLAS that
# mlxk uses, and the peer servers get it too (LD_PRELOAD), so every contender does the
# same arithmetic and the tables compare servers, not BLAS libraries.
BLAS = use_fast_blas()


@dataclass
class Bench:
    """A temporary HF cache holding one synthetic model."""

    tmp: Path
    hub: Path
    name: str
    snapshot: Path

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MLXK_"))}
        env.update(
            HF_HOME=str(self.tmp / "hf"),
            HF_HUB_CACHE=str(self.hub),
            HF_HUB_OFFLINE="1",
            HOME=str(self.tmp),
            PYTHONPATH=str(ROOT),
        )
        return env


@contextmanager
def synthetic_cache(preset: str):
    with tempfile.TemporaryDirectory(prefix="mlxk-bench-") as tmp:
        hub = Path(tmp) / "hf" / "hub"
        name, repo = write_synthetic(hub, preset)
        yield Bench(Path(tmp), hub, name, repo.snapshot)


def blas_in(pid: int | str = "self") -> str | None:
    """The BLAS a process computes mlx's matmuls with: the file name of the BLAS library
    mapped next to libmlx (``libopenblas…``, or mlx's bundled ``libblas…``); None where
    mlx is not mapped there (a supervisor, another platform) or the maps cannot be read."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None
    names = {Path(line.split()[-1]).name for line in maps.splitlines() if "/" in line}
    if not any(name.startswith("libmlx") for name in names):
        return None
    # numpy maps its own libscipy_openblas (prefixed names, not what mlx binds): not counted
    blas = sorted(n for n in names if n.startswith(("libopenblas", "libblas", "libmkl_rt")))
    return ", ".join(blas) or "none"


def ceiling_mismatch(servers: list) -> str | None:
    """Why this process's ceiling would not compare with the servers (another BLAS), or
    None when every server that can be checked runs on the BLAS this process does."""
    ours = blas_in()
    if ours is None:
        return None
    for srv in servers:
        theirs = blas_in(srv.pid)
        if theirs is not None and theirs != ours:
            return f"the ceiling runs on {ours} but {srv.label} on {theirs}"
    return None


def device() -> str:
    import mlx.core as mx

    blas = f"  BLAS: {BLAS.path} (peers preloaded with it)" if BLAS.path else ""
    return f"{mx.default_device()}{blas}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    label: str
    url: str
    process: subprocess.Popen
    model: str  # what requests put in "model"
    python: str  # the interpreter it runs on, whose mlx and mlx-lm it uses

    @property
    def pid(self) -> int:
        return self.process.pid


_VERSIONS = (
    "from importlib.metadata import version as v; print(f\"mlx {v('mlx')}, mlx-lm {v('mlx-lm')}\")"
)


def mlx_versions(servers: list[Server], bench: Bench) -> str:
    """Which mlx and mlx-lm each server runs on (in the environment it was started with):
    one line. The versions move the numbers (mlx-knife 2.0 pins mlx 0.32.0, which decodes
    ~4 % faster on a CPU than 0.32.1 to 0.32.4)."""
    found = {}
    for srv in servers:
        if srv.python not in found:
            done = subprocess.run(
                [srv.python, "-c", _VERSIONS],
                env=bench.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            found[srv.python] = done.stdout.strip() or "unknown"
    return "; ".join(f"{srv.label}: {found[srv.python]}" for srv in servers)


def _interpreter(executable: str) -> str:
    """The Python a console script runs on (its ``#!`` line), else this one."""
    try:
        with open(executable, "rb") as script:
            first = script.readline().decode(errors="replace").strip()
    except OSError:
        return sys.executable
    return first[2:].split()[0] if first.startswith("#!") and len(first) > 2 else sys.executable


def _wait_ready(url: str, process: subprocess.Popen, probe: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + probe, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout:.0f}s")


@contextmanager
def server(kind: str, bench: Bench, *, extra: list[str] = (), anchor: str | None = None):
    """Start one server (``mlxk``, ``mlx_lm`` or ``anchor``) on a free port; stop it after."""
    port = free_port()
    if kind == "mlxk":
        argv = [sys.executable, "-m", "mlxk", "serve", "--port", str(port), "--no-supervise"]
        argv += ["--log-level", "warning", *extra]
        model, label = bench.name, "mlxk serve"
    elif kind == "mlx_lm":
        argv = [sys.executable, "-m", "mlx_lm.server", "--model", str(bench.snapshot)]
        argv += ["--port", str(port), "--log-level", "WARNING", *extra]
        model, label = str(bench.snapshot), "mlx_lm.server"
    elif kind == "anchor":
        argv = [anchor, "serve", "--port", str(port), "--log-level", "warning", *extra]
        model, label = bench.name, "mlx-knife 2.0 serve"
    else:
        raise ValueError(kind)
    env = bench.env
    if kind != "mlxk" and BLAS.path:
        env["LD_PRELOAD"] = BLAS.path
        env.update(BLAS.env)  # loaded as mlxk loads it (its workers do not spin when idle)
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, "/v1/models", timeout=120)
        python = _interpreter(anchor) if kind == "anchor" else sys.executable
        yield Server(label, url, process, model, python)
    except RuntimeError as error:
        process.kill()
        message = (process.stderr.read() if process.stderr else "")[-400:]
        raise RuntimeError(f"{label}: {error}: {message}") from None
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


_clients = threading.local()


class Client:
    """A kept-alive HTTP/1.1 connection on the standard library's ``http.client``.

    The clients run on the machine they measure: every microsecond of CPU they spend per
    streamed token is taken from the server under test (on 2 cores, from one of its BLAS
    threads). Measured on 2 cores: httpx spent ~1.1 ms of CPU per SSE event, this ~0.15 ms,
    and ``mlxk serve`` streamed ~1.1x (2 clients) to ~1.2x (8 clients) more tokens/s to
    this client than to httpx, with the server unchanged. Many streams at once are read by
    one thread instead (:func:`stream_chats`): a thread per stream still cost ~90 us of
    CPU per token at 8 streams, one thread ~55.
    """

    def __init__(self, url: str):
        parts = urlsplit(url)
        self._connection = HTTPConnection(parts.hostname, parts.port, timeout=600)

    def request(self, method: str, path: str, body: dict | None = None):
        """The response, its status read; a server that closes the connection after a
        response (HTTP/1.0) gets a new one on the next request."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self._connection.request(method, path, payload, headers)
        return self._connection.getresponse()

    def json(self, method: str, path: str, body: dict | None = None):
        response = self.request(method, path, body)
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"HTTP {response.status}: {data.decode(errors='replace')[:300]}")
        return json.loads(data)

    def events(self, path: str, body: dict):
        """The ``data:`` payloads of a server-sent event stream, parsed, up to ``[DONE]``."""
        response = self.request("POST", path, body)
        if response.status >= 400:
            data = response.read().decode(errors="replace")[:300]
            raise RuntimeError(f"HTTP {response.status}: {data}")
        for line in response:
            if line.startswith(b"data:") and not line.startswith(b"data: [DONE]"):
                yield json.loads(line[5:])
        response.read()


def http(url: str) -> Client:
    """This thread's kept-alive connection to ``url``, as a real client keeps one: a new
    connection per request would add to every TTFT measured."""
    clients = getattr(_clients, "by_url", None)
    if clients is None:
        clients = _clients.by_url = {}
    if url not in clients:
        clients[url] = Client(url)
    return clients[url]


def add_peer_options(parser) -> None:
    """The options :func:`start_peers` reads: which other servers to compare with."""
    parser.add_argument("--anchor", help="mlx-knife 2.0's mlxk executable")
    parser.add_argument("--no-mlx-lm-server", action="store_true")


def start_peers(stack, bench: Bench, args, problems: list[str]) -> list[Server]:
    """Start ``mlx_lm.server`` (unless ``--no-mlx-lm-server``) and mlx-knife (``--anchor``)
    on ``stack``; a peer that cannot start is noted in ``problems``, not fatal."""
    kinds = [] if args.no_mlx_lm_server else [("mlx_lm", None)]
    if args.anchor:
        kinds.append(("anchor", args.anchor))
    started = []
    for kind, anchor in kinds:
        try:
            started.append(stack.enter_context(server(kind, bench, anchor=anchor)))
        except RuntimeError as error:
            problems.append(str(error))
    return started


@dataclass
class Measured:
    ttft: float  # seconds to the first visible text
    first: float  # perf_counter of the first text
    last: float  # perf_counter of the last text
    start: float
    tokens: int
    cached_tokens: int = 0
    text: str = ""

    @property
    def decode_tps(self) -> float:
        span = self.last - self.first
        return (self.tokens - 1) / span if span > 0 and self.tokens > 1 else 0.0

    @property
    def total_tps(self) -> float:
        return self.tokens / (self.last - self.start)


def timed_stream(items, tokens_of, text_of) -> tuple[float, float, float, int]:
    """Time a generation stream: (seconds to the first text, overall tok/s, decode tok/s,
    tokens). The clock starts before the first item is asked for."""
    start = time.perf_counter()
    first = last = None
    count = 0
    for item in items:
        now = time.perf_counter()
        count += tokens_of(item)
        if text_of(item) and first is None:
            first = now
        last = now
    return first - start, count / (last - start), (count - 1) / (last - first), count


def direct_generation(loaded, prompt_ids: list[int], tokens: int):
    """The baseline: ``mlx_lm.stream_generate`` called directly, greedy, timed."""
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    responses = stream_generate(
        loaded.model, loaded.tokenizer, prompt_ids, max_tokens=tokens, sampler=make_sampler(0.0)
    )
    return timed_stream(responses, lambda _: 1, lambda r: r.text)


def chat_body(srv: Server, messages: list[dict], max_tokens: int, stream: bool) -> dict:
    body = {"model": srv.model, "messages": messages, "max_tokens": max_tokens}
    body.update(temperature=0.0, stream=stream)
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _measured(srv: Server, chat: ChatTranscript) -> Measured:
    if chat.first is None:
        raise RuntimeError(f"{srv.label} streamed no text")
    usage = chat.usage or {}
    tokens = usage.get("completion_tokens") or len(chat.pieces)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    text = "".join(chat.pieces)
    return Measured(
        chat.first - chat.start, chat.first, chat.last, chat.start, tokens, cached, text
    )


def stream_chat(srv: Server, messages: list[dict], max_tokens: int) -> Measured:
    """One streamed chat completion; times from the request to the first and last text."""
    body = chat_body(srv, messages, max_tokens, stream=True)
    chat = ChatTranscript(start=time.perf_counter())
    for event in http(srv.url).events("/v1/chat/completions", body):
        chat.take(event, time.perf_counter())
    return _measured(srv, chat)


def stream_chats(srv: Server, conversations: list[list[dict]], max_tokens: int) -> list[Measured]:
    """Streamed chat completions, one per conversation, sent together, each on a connection
    of its own, all read by this one thread (see ``_streams``); timed as :func:`stream_chat`."""
    bodies = [chat_body(srv, messages, max_tokens, stream=True) for messages in conversations]
    return [_measured(srv, chat) for chat in stream_all(srv.url, "/v1/chat/completions", bodies)]


def whole_chat(srv: Server, messages: list[dict], max_tokens: int) -> tuple[float, int]:
    """One unstreamed chat completion: (seconds, completion tokens)."""
    body = chat_body(srv, messages, max_tokens, stream=False)
    start = time.perf_counter()
    response = http(srv.url).json("POST", "/v1/chat/completions", body)
    elapsed = time.perf_counter() - start
    return elapsed, response["usage"]["completion_tokens"]


def rotating_rounds(contenders: dict, repeat: int) -> dict[str, list]:
    """Run each contender once per round, the first of each round rotating, so the
    machine's drift falls on all alike; each one's results, in round order."""
    samples: dict[str, list] = {label: [] for label in contenders}
    order = list(contenders)
    for round_ in range(repeat):
        shift = round_ % len(order)
        for label in order[shift:] + order[:shift]:
            samples[label].append(contenders[label]())
    return samples


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
