"""The benchmarks' correctness, not their numbers: they build what they say, run, and report.

Each script runs in ``--quick`` mode (tiny model, few tokens) as a separate process and
must print its device, one table of measurements and a verdict for every target. Speed
itself is never asserted here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    "run_overhead",
    "server_overhead",
    "concurrency",
    "chat_turns",
    "memory",
    "constrained",
    "embeddings",
    "multi_model",
    "cpu_quantized",
    "distributed",
]


def test_the_synthetic_model_has_the_size_it_claims_and_never_stops_early(tmp_path):
    from mlx.utils import tree_flatten

    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.generate import GenerationParams, complete
    from mlxk.engine.model import loaded_model
    from mlxk.engine.scripted.catalogue import LLAMA3
    from mlxk.engine.scripted.models import family_tokens
    from mlxk.testing.synthetic import PRESETS, parameter_count, write_synthetic

    _, repo = write_synthetic(tmp_path / "hub", "tiny")
    with loaded_model(repo.snapshot) as loaded:
        counted = sum(v.size for _, v in tree_flatten(loaded.model.parameters()))
        prompt = chat_prompt(loaded, [{"role": "user", "content": "Hello"}])
        done = complete(loaded, prompt, GenerationParams(max_tokens=40))
    assert counted == parameter_count(PRESETS["tiny"], family_tokens(LLAMA3).vocab_size)
    assert done.finish_reason == "length" and done.usage.completion_tokens == 40
    assert done.text.isascii() and done.text.strip()
    assert parameter_count(PRESETS["26m"], 2000) // 1_000_000 in range(24, 29)
    assert parameter_count(PRESETS["100m"], 2000) // 1_000_000 in range(95, 106)
    assert parameter_count(PRESETS["190m"], 2000) // 1_000_000 in range(180, 200)


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_and_reports_every_target(name):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith("device: "), out
    tables = [block for block in out.split("\n\n") if re.search(r"^-+(  -+)+$", block, re.M)]
    assert len(tables) == 2, out  # the measurements, then the checks
    measurements, checks = tables
    assert re.search(r"\d+\.\d+", measurements), measurements
    verdicts = re.findall(r"(PASS|FAIL|\(reference\))\s*$", checks, re.M)
    assert verdicts and len(verdicts) == len(checks.strip().splitlines()) - 2, checks
    assert "note:" not in out, out  # every peer the quick run starts must answer
    if name in ("server_overhead", "concurrency"):  # the scripts that start servers
        from importlib.metadata import version

        ours = f"mlx {version('mlx')}, mlx-lm {version('mlx-lm')}"
        assert f"mlxk serve: {ours}" in out and f"mlx_lm.server: {ours}" in out, out


def test_a_peer_is_asked_its_versions_on_the_python_its_script_names(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _common
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    other = tmp_path / "venv" / "bin" / "python"
    script = tmp_path / "mlxk"
    script.write_text(f"#!{other}\nimport sys\n")
    assert _common._interpreter(str(script)) == str(other)
    script.write_text("not a script\n")
    assert _common._interpreter(str(script)) == sys.executable
    assert _common._interpreter(str(tmp_path / "missing")) == sys.executable


def _streams_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _streams
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return _streams


EVENTS = [{"choices": [{"delta": {"content": f"tok{i} é"}}]} for i in range(5)]
SSE = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in EVENTS) + b"data: [DONE]\n\n"


def _chunked(body: bytes) -> bytes:
    pieces = [body[i : i + 37] for i in range(0, len(body), 37)]
    framed = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces)
    return framed + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "body", "closes"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", _chunked(SSE), False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(SSE), SSE, False),
        (b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", SSE, True),
    ],
    ids=["chunked", "length", "until-close"],
)
def test_the_one_thread_client_reads_every_framing_however_the_bytes_come(head, body, closes):
    """The concurrency benchmark's client parses HTTP and SSE itself: the same events and
    the end of the body, whether the bytes come whole, one by one or in uneven pieces."""
    streams = _streams_module()
    wire = head + body
    for cuts in ([len(wire)], [1] * len(wire), [7, 1, 300, 2, 64] * 40):
        response, events, got, at = streams.ResponseReader(), streams.EventReader(), [], 0
        for size in cuts:
            if at >= len(wire) or response.done:
                break
            got += events.feed(response.feed(wire[at : at + size]))
            at += size
        assert wire[at:] in (b"", b"\r\n")  # at most the end of the chunked body's trailer
        if closes:
            assert not response.done
            response.end_of_stream()
        assert response.status == 200 and response.done
        assert got == EVENTS


def test_the_one_thread_client_reads_a_server_error_whole():
    streams = _streams_module()
    response = streams.ResponseReader()
    body = response.feed(b'HTTP/1.1 503 Busy\r\nContent-Length: 9\r\n\r\n{"e": 1}\n')
    assert (response.status, response.done, body) == (503, True, b'{"e": 1}\n')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
def test_the_ceiling_is_only_compared_with_servers_on_the_same_blas():
    """A ceiling measured on another BLAS than the servers' makes every "of ceiling" ratio
    meaningless (1.3-1.7 in one run): concurrency.py refuses to report them then."""
    import os
    import time
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mlx.core  # noqa: F401  (the benchmark's own process has mlx loaded)
    from _common import blas_in, ceiling_mismatch

    ours = blas_in()
    assert ours and "openblas" in ours, ours  # conftest binds it, as the benchmarks do
    wait = "import mlx.core as mx; mx.eval(mx.ones((2, 2)) @ mx.ones((2, 2))); print('up', flush=True); import time; time.sleep(60)"  # noqa: E501
    bound = "from mlxk.engine.blas import use_fast_blas; use_fast_blas(); " + wait
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLXK_")}
    procs = {}
    try:
        for label, code in (("bundled", wait), ("bound", bound)):
            procs[label] = subprocess.Popen(
                [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
            )
            assert procs[label].stdout.readline().strip() == "up"
        deadline = time.monotonic() + 10
        while blas_in(procs["bound"].pid) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        same = SimpleNamespace(pid=procs["bound"].pid, label="same")
        other = SimpleNamespace(pid=procs["bundled"].pid, label="other")
        assert blas_in(same.pid) == ours
        assert ceiling_mismatch([same]) is None
        assert "other" in (ceiling_mismatch([same, other]) or ""), blas_in(other.pid)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
