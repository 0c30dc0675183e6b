"""End-to-end latency of `mlxk list --json` and `mlxk health` on a cache of many models.

Builds a real HF cache layout with N tiny models (default 200) in a temporary
directory, then times each command as a fresh process, several times, and prints the
median. When mlx-knife 2.0's `mlxk` is installed in another environment, pass its
path with --anchor to time it on the same cache in the same run and print the ratio.

    python benchmarks/cli_latency.py [--models 200] [--repeat 5] [--anchor /path/to/mlxk]

Target (issue 3): list under 0.5 s on 2 cores, and >= 3x faster than the anchor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlxk.cache.layout import write_repo
from mlxk.testing.fixtures import Q4, mlx_model_files

KINDS = ("llama-chat", "llama-base", "qwen3-think", "harmony")


def build(hub: Path, count: int) -> None:
    files = {kind: mlx_model_files(kind, Q4) for kind in KINDS}
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        write_repo(hub, f"bench-org{i % 7}/model-{i:03d}-{kind}", files[kind])


def timed(argv: list[str], env: dict, repeat: int) -> tuple[float, int]:
    samples, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True)
        samples.append(time.perf_counter() - start)
        code = proc.returncode
    return statistics.median(samples), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--anchor", help="path of mlx-knife 2.0's mlxk executable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "hf"
        build(home / "hub", args.models)
        env = dict(os.environ, HF_HOME=str(home), HOME=tmp)
        ours = [sys.executable, "-m", "mlxk"]
        rows = []
        for label, tail in (("list --json", ["list", "--json"]), ("health", ["health"])):
            mine, _ = timed(ours + tail, env, args.repeat)
            anchor = timed([args.anchor, *tail], env, args.repeat)[0] if args.anchor else None
            rows.append((label, mine, anchor))
    print(
        f"cache: {args.models} models, {args.repeat} runs each, median wall time, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'command':<14} {'mlxk':>9} {'anchor':>9} {'speed-up':>9}")
    for label, mine, anchor in rows:
        ratio = f"{anchor / mine:.1f}x" if anchor else "-"
        anchor_text = f"{anchor:.3f}s" if anchor else "-"
        print(f"{label:<14} {mine:>8.3f}s {anchor_text:>9} {ratio:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
