"""A 4-bit model on the CPU: mlx's quantized kernels vs mlxk's float32 copy, and the bus.

A synthetic float32 Llama of ~190M parameters (hidden 1024, 16 layers) is quantized to
4 bits with ``mlx_lm.convert``; then, side by side in one run: ``mlx_lm.stream_generate``
on the 4-bit model, ``mlxk serve --cpu-float32 never`` (mlx's quantized kernels),
``mlxk serve`` with the default ``auto`` (a float32 copy through the bound BLAS) and
``mlx_lm.server``, each with 1 and 4 streaming clients: TTFT, decode tok/s, aggregate
tok/s, the server's resident memory. A memcpy probe measures the machine's memory
bandwidth; each path's decode speed is also given as a fraction of what the bus allows
(bandwidth / the bytes of weights one decoded token reads).

    python benchmarks/cpu_quantized.py [--preset 190m] [--tokens 32] [--rounds 2] [--quick]

Targets (issue 27): with one client auto decodes >= 2x and reaches its first token >= 5x
sooner than the quantized path; 4 clients get >= 2.5x one client's throughput on auto;
auto is ahead of mlx_lm.server at both levels.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import (
    Bench,
    device,
    direct_generation,
    median,
    server,
    stream_chats,
    synthetic_cache,
    table,
    verdict,
)

from mlxk.engine.convert import Conversion, convert
from mlxk.engine.memory import model_bytes

PARTIAL = "mlxk serve (auto: room for half the layers)"
QUESTION = [{"role": "user", "content": "Tell me about the sea and the ships on it, please."}]


def bandwidth_bytes_per_s(size: int = 256 << 20, repeat: int = 5) -> float:
    """A STREAM-copy-like probe: bytes read plus bytes written per second, best of runs."""
    import numpy as np

    source = np.ones(size // 8, dtype=np.float64)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * size / best


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def conversations(k: int, tag: str) -> list[list[dict]]:
    return [
        [{"role": "user", "content": f"{QUESTION[0]['content']} ({tag} {i})"}] for i in range(k)
    ]


def served(srv, k: int, tokens: int, tag: str) -> tuple[float, float, float]:
    """k streams at once: (median TTFT s, median decode tok/s, aggregate tok/s)."""
    results = stream_chats(srv, conversations(k, tag), tokens)
    span = max(r.last for r in results) - min(r.start for r in results)
    ttft = median([r.ttft for r in results])
    return ttft, median([r.decode_tps for r in results]), sum(r.tokens for r in results) / span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="190m")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny model, one round")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens, args.rounds = "tiny", 8, 1

    from mlxk.cache.detect import read_json
    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.memory import OVERHEAD
    from mlxk.engine.model import loaded_model
    from mlxk.engine.precision import SHARE_OF_FREE, float32_bytes, layer_costs, tensors_of

    bus = bandwidth_bytes_per_s()
    with synthetic_cache(args.preset) as bench, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "q4"
        convert(bench.snapshot, folder, bench.name, Conversion(quantize=True, bits=4))
        q4 = Bench(bench.tmp, bench.hub, str(folder), folder)
        quantized_bytes = model_bytes(folder)
        copy_bytes = float32_bytes({}, tensors_of(bench.snapshot))
        # a --memory-budget whose half holds the 4-bit model with half its layers in float32
        costs = layer_costs(read_json(folder / "config.json") or {}, tensors_of(folder))
        layers = sorted(k for k in costs if k is not None)
        half = layers[: len(layers) // 2]
        partial_bytes = sum(s for _, s in costs.values()) + sum(
            costs[k][0] - costs[k][1] for k in half
        )
        budget = int(partial_bytes * OVERHEAD / SHARE_OF_FREE) + 1
        rows, figures = [], {}
        with loaded_model(folder) as loaded:
            ids = list(chat_prompt(loaded, QUESTION).token_ids)
            direct_generation(loaded, ids, 4)  # warm-up
            runs = [direct_generation(loaded, ids, args.tokens) for _ in range(args.rounds)]
        ttft, decode = median([r[0] for r in runs]), median([r[2] for r in runs])
        figures["direct"] = (ttft, decode, decode)
        rows.append(
            [
                "stream_generate, 4-bit",
                1,
                ttft * 1000,
                decode,
                decode,
                "-",
                decode * quantized_bytes / bus,
            ]
        )
        contenders = [
            ("mlxk serve --cpu-float32 never", "mlxk", ["--cpu-float32", "never"], quantized_bytes),
            ("mlxk serve (auto: float32 copy)", "mlxk", [], copy_bytes),
            (PARTIAL, "mlxk", ["--memory-budget", str(budget)], partial_bytes),
            ("mlx_lm.server, 4-bit", "mlx_lm", [], quantized_bytes),
        ]
        for label, kind, extra, weight_bytes in contenders:
            if kind == "mlxk":
                extra = [*extra, "--model", str(folder), "--max-concurrency", "4"]
            with ExitStack() as stack:
                srv = stack.enter_context(server(kind, q4, extra=extra))
                served(srv, 1, 4, "warm-up")
                for k in (1, 4):
                    measured = [served(srv, k, args.tokens, f"{r}.{k}") for r in range(args.rounds)]
                    ttft = median([m[0] for m in measured])
                    decode = median([m[1] for m in measured])
                    total = median([m[2] for m in measured])
                    figures[(label, k)] = (ttft, decode, total)
                    share = decode * weight_bytes / bus
                    rss = rss_bytes(srv.pid) / 1e6
                    rows.append([label, k, ttft * 1000, decode, total, f"{rss:.0f} MB", share])

    print(
        f"device: {device()}  cores: {os.cpu_count()}  model: synthetic {args.preset},"
        f" 4-bit {quantized_bytes / 1e6:.0f} MB, float32 copy {copy_bytes / 1e6:.0f} MB"
    )
    print(f"memory bandwidth (copy probe): {bus / 1e9:.1f} GB/s; {args.tokens} tokens a stream\n")
    header = ["path", "clients", "TTFT ms", "decode tok/s", "aggregate tok/s", "RSS", "of bus"]
    print(table(header, rows))
    auto, never, peer = (
        "mlxk serve (auto: float32 copy)",
        "mlxk serve --cpu-float32 never",
        "mlx_lm.server, 4-bit",
    )
    direct = figures["direct"]
    checks = [
        (
            "auto decode / stream_generate 4-bit, 1 client (>= 2)",
            figures[(auto, 1)][1] / direct[1],
            2.0,
        ),
        (
            "stream_generate TTFT / auto TTFT, 1 client (>= 5)",
            direct[0] / figures[(auto, 1)][0],
            5.0,
        ),
        (
            "auto aggregate, 4 clients / 1 (>= 2.5)",
            figures[(auto, 4)][2] / figures[(auto, 1)][2],
            2.5,
        ),
        (
            "auto / mlx_lm.server aggregate, 1 client (> 1)",
            figures[(auto, 1)][2] / figures[(peer, 1)][2],
            1.0,
        ),
        (
            "auto / mlx_lm.server aggregate, 4 clients (> 1)",
            figures[(auto, 4)][2] / figures[(peer, 4)][2],
            1.0,
        ),
        (
            "auto / never aggregate, 4 clients (reference)",
            figures[(auto, 4)][2] / figures[(never, 4)][2],
            None,
        ),
        # the measurement behind precision.PARTIAL: half the layers in float32 beat none
        (
            "half the layers / never decode, 1 client (> 1)",
            figures[(PARTIAL, 1)][1] / figures[(never, 1)][1],
            1.0,
        ),
        (
            "half the layers / never aggregate, 4 clients (> 1)",
            figures[(PARTIAL, 4)][2] / figures[(never, 4)][2],
            1.0,
        ),
    ]
    print()
    print(
        table(
            ["check", "measured", "verdict"],
            [
                [
                    name,
                    f"{value:.2f}x",
                    "(reference)" if target is None else verdict(value >= target),
                ]
                for name, value, target in checks
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
