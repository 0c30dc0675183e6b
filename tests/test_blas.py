"""The BLAS under mlx's float32 matmuls: OpenBLAS where mlx bundles the reference one.

Each case runs in a fresh process, since the choice must be made before mlx is imported.
No timing is asserted here (benchmarks/ measure speed); these check which library is
bound, that the answers do not change, and the server's thread policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlxk.engine.blas import DecodeThreads, bundles_reference_blas
from mlxk.testing.fixtures import build_cache

MODEL = "mlx-community/TinyLlama-Chat"  # float32: its matmuls go through cblas_sgemm

PROBE = r"""
import ctypes, json, os, sys
from pathlib import Path
from mlxk.engine.blas import DecodeThreads, set_threads, use_fast_blas
from mlxk.engine.chat import chat_prompt
from mlxk.engine.generate import GenerationParams, complete
from mlxk.engine.model import loaded_model

choice = use_fast_blas()
threads = None
if sys.argv[2] == "server":  # what the server's worker does before a decode step
    decode_threads = DecodeThreads.for_server()
    if decode_threads is not None:
        assert decode_threads.choose(4, prefilling=True) == (os.cpu_count() or 1)
        threads = decode_threads.candidates[-1]  # the fewest it may choose
        set_threads(threads)
import mlx.core as mx
a = mx.random.normal((48, 96), key=mx.random.key(1))
b = mx.random.normal((96, 40), key=mx.random.key(2))
product = (a @ b).tolist()
with loaded_model(Path(sys.argv[1])) as loaded:
    prompt = chat_prompt(loaded, [{"role": "user", "content": "Hi there"}])
    text = complete(loaded, prompt, GenerationParams(max_tokens=40)).text
bound = spin = None
if choice.path:
    library = ctypes.CDLL(choice.path)
    get = getattr(library, "openblas_get_num_threads", None)
    bound = get() if get else None
    read_spin = getattr(library, "openblas_thread_timeout", None)
    spin = read_spin() if read_spin else None
maps = Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""
# numpy maps its own libscipy_openblas (prefixed names, not what mlx binds): not counted
mapped = {Path(line.split()[-1]).name for line in maps.splitlines() if "/" in line}
print(json.dumps({
    "path": choice.path, "reason": choice.reason, "warning": choice.warning,
    "threads": threads, "blas_threads": bound, "spin": spin, "env": dict(choice.env),
    "text": text, "product": product,
    "openblas_mapped": any(name.startswith("libopenblas") for name in mapped),
}))
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return build_cache(tmp_path_factory.mktemp("blas") / "hub", [MODEL])[MODEL].snapshot


def probe(snapshot, mode: str = "run", **env) -> dict:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLXK_", "OPENBLAS_", "MKL_", "OMP_"))
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(snapshot), mode],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# spec: SCALE-BLAS
def test_auto_binds_openblas_where_mlx_bundles_the_reference_blas(snapshot):
    found = probe(snapshot)
    if not bundles_reference_blas():  # macOS (Accelerate) or an mlx built against its own
        assert found["path"] is None and found["reason"] == "mlx's own BLAS"
        return
    assert found["path"], (
        "no OpenBLAS found: install it (Debian/Ubuntu: apt-get install libopenblas0-pthread;"
        " .ci/run does this) — " + found["reason"]
    )
    assert "openblas" in found["path"] and found["openblas_mapped"]
    assert found["reason"] == f"float32 matmuls use {found['path']}"


# spec: SCALE-BLAS
def test_openblas_workers_sleep_when_idle_unless_the_user_says_otherwise(snapshot):
    if not bundles_reference_blas():
        assert probe(snapshot)["spin"] is None
        return
    found = probe(snapshot)
    assert found["spin"] == 4 and found["env"] == {"OPENBLAS_THREAD_TIMEOUT": "4"}
    told = probe(snapshot, OPENBLAS_THREAD_TIMEOUT="12")
    assert told["spin"] == 12 and told["env"] == {}


# spec: SCALE-BLAS
def test_off_keeps_the_bundled_blas_and_the_answers_are_the_same(snapshot):
    fast = probe(snapshot)
    bundled = probe(snapshot, MLXK_BLAS="off")
    assert bundled["path"] is None and not bundled["openblas_mapped"]
    assert bundled["reason"] == "mlx's bundled BLAS (MLXK_BLAS=off)"
    assert fast["text"] == bundled["text"] and fast["text"]
    worst = max(
        abs(x - y)
        for row_a, row_b in zip(fast["product"], bundled["product"], strict=True)
        for x, y in zip(row_a, row_b, strict=True)
    )
    assert worst < 1e-3, f"the two BLAS libraries disagree by {worst}"


# spec: SCALE-BLAS
def test_a_library_that_cannot_be_loaded_is_named_and_ignored(snapshot, tmp_path):
    not_a_library = tmp_path / "libfake.so"
    not_a_library.write_text("not an ELF file")
    found = probe(snapshot, MLXK_BLAS=str(not_a_library))
    assert found["path"] is None and found["text"]
    assert found["warning"].startswith(f"MLXK_BLAS={not_a_library} cannot be loaded (")
    assert found["warning"].endswith("; using mlx's bundled BLAS")
    libc = probe(snapshot, MLXK_BLAS="libc.so.6")
    assert libc["warning"] == "MLXK_BLAS=libc.so.6 has no cblas_sgemm; using mlx's bundled BLAS"


# spec: SCALE-BLAS
def test_a_server_sets_the_decode_threads_unless_the_user_set_them(snapshot):
    if not bundles_reference_blas():
        assert probe(snapshot, "server")["threads"] is None
        return
    cores = os.cpu_count() or 1
    server = probe(snapshot, "server")
    assert server["threads"] == max(1, cores - 1) == server["blas_threads"]
    assert server["text"] == probe(snapshot)["text"]
    told = probe(snapshot, "server", OPENBLAS_NUM_THREADS="2")
    assert told["threads"] is None and told["blas_threads"] == 2
    ours = probe(snapshot, "run", MLXK_BLAS_THREADS="1")
    assert ours["blas_threads"] == 1


DEMO_PROBE = r"""
import io, json, sys
from mlxk.cli.main import main
from mlxk.engine.blas import use_fast_blas
code = main(["demo", "--json"], stdout=io.StringIO(), stderr=io.StringIO())
choice = use_fast_blas()  # cached: the choice the demo's own first call made
print(json.dumps({"code": code, "path": choice.path, "reason": choice.reason}))
"""


# spec: SCALE-BLAS
def test_the_demo_binds_the_fast_blas_before_building_its_model(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLXK_", "HF_"))}
    env.update(HOME=str(tmp_path), HF_HOME=str(tmp_path / "hf"))  # its first run: no model yet
    proc = subprocess.run(
        [sys.executable, "-c", DEMO_PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["code"] == 0
    if bundles_reference_blas():
        assert found["path"] and "openblas" in found["path"], found["reason"]
    else:
        assert found["reason"] == "mlx's own BLAS"


def drive(decode_threads: DecodeThreads, batch: int, seconds_on: dict, steps: int) -> list:
    """``steps`` decode steps of ``batch`` sequences, each taking what ``seconds_on``
    gives for the thread count chosen; the counts chosen."""
    chosen = []
    for _ in range(steps):
        threads = decode_threads.choose(batch)
        decode_threads.record(batch, threads, seconds_on[threads])
        chosen.append(threads)
    return chosen


# spec: SCALE-BLAS
def test_decode_threads_alternate_then_keep_the_faster_for_each_batch_size():
    decode_threads = DecodeThreads(4)
    assert decode_threads.candidates == (4, 3)
    explore = 2 * DecodeThreads.EXPLORE_STEPS
    four = drive(decode_threads, 4, {4: 0.030, 3: 0.025}, explore + 20)
    assert sorted(four[:explore]) == [3] * (explore // 2) + [4] * (explore // 2)
    assert four[explore:] == [3] * 20
    eight = drive(decode_threads, 8, {4: 0.040, 3: 0.050}, explore + 20)
    assert eight[explore:] == [4] * 20
    assert decode_threads.choose(4) == 3 and decode_threads.choose(4, prefilling=True) == 4


# spec: SCALE-BLAS
def test_decode_threads_try_the_other_count_now_and_then_and_follow_a_change():
    decode_threads = DecodeThreads(2)
    every = DecodeThreads.REVISIT_EVERY
    first = drive(decode_threads, 2, {2: 0.020, 1: 0.030}, 3 * every)
    settled = first[2 * DecodeThreads.EXPLORE_STEPS :]
    assert settled.count(1) == 3 and set(settled) == {1, 2}
    # the machine gets busy: two threads now cost more than one
    later = drive(decode_threads, 2, {2: 0.040, 1: 0.030}, 3 * every)
    switched = later.index(1)
    assert switched <= DecodeThreads.WINDOW  # its own slower steps push two threads out
    assert later[switched:].count(2) == 3  # then only the visits


# spec: SCALE-BLAS
def test_decode_threads_keep_every_core_unless_fewer_are_clearly_faster():
    decode_threads = DecodeThreads(2)
    explore = 2 * DecodeThreads.EXPLORE_STEPS
    close = drive(decode_threads, 1, {2: 0.0200, 1: 0.0198}, explore + 20)
    assert close[explore:] == [2] * 20
    clear = drive(decode_threads, 3, {2: 0.0200, 1: 0.0190}, explore + 20)
    assert clear[explore:] == [1] * 20


# spec: SCALE-BLAS
def test_decode_threads_on_one_core_have_nothing_to_choose():
    decode_threads = DecodeThreads(1)
    assert drive(decode_threads, 8, {1: 0.02}, 10) == [1] * 10
