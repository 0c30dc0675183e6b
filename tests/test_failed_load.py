"""A model whose load fails part-way leaves nothing behind in the server (memory back to
where it was before the attempt), and the server serves the next request."""

from __future__ import annotations

import gc
import time

import httpx

from mlxk.cache.layout import write_repo
from mlxk.server.app import ServerSettings
from mlxk.testing.live_server import live_server
from mlxk.testing.synthetic import synthetic_files


# spec: SRV-MODEL-ERRORS
def test_a_model_that_fails_to_load_leaves_no_memory_behind(tmp_path):
    import mlx.core as mx

    hub = tmp_path / "hub"
    files = synthetic_files("26m")
    weights = sum(len(v) for k, v in files.items() if k.endswith(".safetensors"))
    # mlx-lm evaluates the weights, then loads the tokenizer: this one fails there.
    files["tokenizer.json"] = b'{"version": "1.0", "model": '
    write_repo(hub, "acme/Bad-Tokenizer", files)
    body = {"model": "acme/Bad-Tokenizer", "messages": [{"role": "user", "content": "hi"}]}
    with live_server(ServerSettings(hub_cache=hub)) as url:
        gc.collect()
        mx.clear_cache()
        baseline = mx.get_active_memory()
        mx.reset_peak_memory()
        response = httpx.post(url + "/v1/chat/completions", json=body, timeout=120)
        assert response.status_code >= 400 and "error" in response.json(), response.text
        deadline = time.monotonic() + 30
        while httpx.get(url + "/health").json()["state"] != "idle":
            assert time.monotonic() < deadline, "the server stayed loading"
            time.sleep(0.05)
        assert mx.get_peak_memory() >= baseline + weights // 2, "the weights were never loaded"
        gc.collect()
        assert mx.get_active_memory() <= baseline + 1024 * 1024, (
            f"{(mx.get_active_memory() - baseline) / 1e6:.1f} MB still held after a failed load"
        )
        assert httpx.get(url + "/health").json()["memory_bytes"] == 0
