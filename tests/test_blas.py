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

from mlxk.engine.blas import bundles_reference_blas
from mlxk.testing.fixtures import build_cache

MODEL = "mlx-community/TinyLlama-Chat"  # float32: its matmuls go through cblas_sgemm

PROBE = r"""
import ctypes, json, os, sys
from pathlib import Path
from mlxk.engine.blas import server_threads, set_threads, use_fast_blas
from mlxk.engine.chat import chat_prompt
from mlxk.engine.generate import GenerationParams, complete
from mlxk.engine.model import loaded_model

choice = use_fast_blas()
threads = None
if sys.argv[2] == "server":  # what the server's worker does before a step of a batch
    threads = server_threads(4)
    if threads is not None:
        assert server_threads(1) == server_threads(2) == (os.cpu_count() or 1)
        assert server_threads(4, prefilling=True) == (os.cpu_count() or 1)
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
def test_a_batching_server_leaves_one_core_to_its_event_loop_while_decoding(snapshot):
    if not bundles_reference_blas():
        assert probe(snapshot, "server")["threads"] is None
        return
    cores = os.cpu_count() or 1
    server = probe(snapshot, "server")
    assert server["threads"] == max(1, cores - 1) == server["blas_threads"]
    told = probe(snapshot, "server", OPENBLAS_NUM_THREADS="2")
    assert told["threads"] is None and told["blas_threads"] == 2
    ours = probe(snapshot, "run", MLXK_BLAS_THREADS="1")
    assert ours["blas_threads"] == 1
