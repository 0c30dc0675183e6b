"""One model on one process vs sharded over 2 local ranks (`serve --hosts`, ring backend).

On one machine the ranks share its cores and its memory bus, so this measures what the
group costs, not what it gains: tokens/s and time to first token with 1 and 4 streaming
clients, the time rank 0 spends in the step exchange per step (its wait for the other
rank plus the transfer), and each rank's share of the model's memory.

    python benchmarks/distributed.py [--preset 26m] [--tokens 64] [--quick]

Targets (issue 26, one machine): 2-rank tokens/s at least 0.5x the single process's,
each rank's memory at most 0.6x the single process's model.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from _common import (
    ChatTranscript,
    Client,
    device,
    median,
    server,
    synthetic_cache,
    table,
)
from _common import verdict as verdict_of
from _streams import stream_all


def run_clients(srv, clients: int, tokens: int) -> tuple[float, float]:
    """Aggregate decode tok/s and median TTFT (ms) of ``clients`` streams sent together."""
    bodies = [
        {
            "model": srv.model,
            "messages": [{"role": "user", "content": f"Tell me a story {i}"}],
            "max_tokens": tokens,
            "temperature": 0.0,
            "stream": True,
        }
        for i in range(clients)
    ]
    streams: list[ChatTranscript] = stream_all(srv.url, "/v1/chat/completions", bodies)
    start = min(s.start for s in streams)
    end = max(s.last or s.start for s in streams)
    pieces = sum(len(s.pieces) for s in streams)
    ttft = [((s.first or s.start) - s.start) * 1000 for s in streams]
    return pieces / (end - start), median(ttft)


def measure(srv, tokens: int) -> dict:
    run_clients(srv, 1, 8)  # warm-up
    health = Client(srv.url).json("GET", "/health")  # a new connection: runs outlast keep-alive
    before = health.get("group") or {"collective_seconds": 0.0, "steps": 0}
    result = {clients: run_clients(srv, clients, tokens) for clients in (1, 4)}
    health = Client(srv.url).json("GET", "/health")
    after = health.get("group")
    if after is not None:
        steps = max(1, after["steps"] - before["steps"])
        spent = after["collective_seconds"] - before["collective_seconds"]
        result["exchange_ms"] = spent / steps * 1000
        result["memory"] = [rank["memory_bytes"] for rank in after["ranks"]]
    else:
        result["memory"] = [health["models"][0]["memory_bytes"]]
    return result


SHARDED_GENERATE = """
import sys, time
import mlx.core as mx
from mlx_lm import stream_generate
from mlx_lm.sample_utils import make_sampler
from mlx_lm.utils import sharded_load
group = mx.distributed.init(backend="ring")
model, tokenizer = sharded_load(sys.argv[1], pipeline_group=None, tensor_group=group)
prompt = tokenizer.apply_chat_template(
    [{"role": "user", "content": "Tell me a story"}], add_generation_prompt=True
)
for tokens in (8, int(sys.argv[2])):
    start, count = time.perf_counter(), 0
    sampler = make_sampler(0.0)
    for _ in stream_generate(model, tokenizer, prompt, max_tokens=tokens, sampler=sampler):
        count += 1
    elapsed = time.perf_counter() - start
if group.rank() == 0:
    print(count / elapsed, flush=True)
"""


def sharded_mlx_lm(bench, hostfile: Path, tokens: int) -> float:
    """mlx-lm's own sharded generation on the same 2 ranks (one stream, no server): what
    the ring backend allows here, the ceiling of any server on it."""
    import subprocess
    import sys

    script = hostfile.parent / "sharded_generate.py"
    script.write_text(SHARDED_GENERATE)
    launch = [sys.executable, "-c", "from mlx._distributed_utils.launch import main; main()"]
    launch += ["--hostfile", str(hostfile), "--backend", "ring", "--python", sys.executable]
    launch += ["--starting-port", str(random.randrange(20000, 30000)), "--"]
    done = subprocess.run(
        [*launch, str(script), str(bench.snapshot), str(tokens)],
        capture_output=True,
        text=True,
        timeout=600,
        env=bench.env,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return float(lines[-1]) if lines else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="26m")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="tiny model, few tokens")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens = "tiny", 16

    with synthetic_cache(args.preset) as bench, tempfile.TemporaryDirectory() as tmp:
        hostfile = Path(tmp) / "hosts.json"
        hostfile.write_text(json.dumps([{"ssh": "localhost"}, {"ssh": "localhost"}]))
        with server("mlxk", bench) as srv:
            single = measure(srv, args.tokens)
        group_flags = ["--model", bench.name, "--hosts", str(hostfile)]
        group_flags += ["--group-port", str(random.randrange(20000, 30000))]  # not ephemeral
        with server("mlxk", bench, extra=group_flags) as srv:
            group = measure(srv, args.tokens)
        hostfile.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2))
        ceiling = sharded_mlx_lm(bench, hostfile, args.tokens)

    print(f"device: {device()}  model: synthetic {args.preset}, {args.tokens} tokens a stream")
    print("the 2 ranks share this machine's cores: the group's cost, not a speedup\n")
    rows = []
    for label, result in (("1 process", single), ("2 ranks (tensor)", group)):
        for clients in (1, 4):
            rate, ttft = result[clients]
            rows.append([label, clients, rate, ttft, max(result["memory"]) / 2**20])
    rows.append(["mlx-lm sharded generate, 2 ranks", 1, ceiling, float("nan"), float("nan")])
    print(table(["server", "clients", "tok/s", "TTFT p50 ms", "MiB per rank"], rows))
    print(f"step exchange on rank 0: {group['exchange_ms']:.3f} ms a step")
    share = max(group["memory"]) / single["memory"][0]
    checks = []
    for clients in (1, 4):
        ratio = group[clients][0] / single[clients][0]
        checks.append([f"2-rank tok/s / 1 process, {clients} clients", ratio, ratio >= 0.5])
    checks.append(["largest rank's memory / 1 process", share, share <= 0.6])
    versus = group[1][0] / ceiling
    checks.append(["2-rank tok/s / mlx-lm's sharded generate, 1 client", versus, None])
    print()
    print(
        table(
            ["check", "measured", "verdict"],
            [
                [name, value, "(reference)" if ok is None else verdict_of(ok)]
                for name, value, ok in checks
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
