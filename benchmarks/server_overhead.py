"""What serving costs: tokens/s and TTFT through the HTTP server vs mlx-lm called directly.

On a synthetic ~100M-parameter model, the same chat request (greedy, fixed length) is
answered by ``mlx_lm.stream_generate`` in this process (the baseline), by ``mlxk serve``
(streamed and unstreamed), by ``mlx_lm.server``, and by mlx-knife 2.0's ``mlxk serve``
when ``--anchor`` names its executable. Servers run one at a time are not loaded at the
same moment: every request waits for the previous one; contenders alternate and medians
are shown.

    python benchmarks/server_overhead.py [--preset 100m] [--tokens 64] [--repeat 3]
                                         [--anchor /path/to/mlx-knife/bin/mlxk] [--quick]

Targets (issue 5): mlxk streamed and unstreamed tokens/s >= 0.95x direct; TTFT within
25 ms of direct; and the ratios to the other servers.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack

from _common import (
    device,
    median,
    server,
    stream_chat,
    synthetic_cache,
    table,
    verdict,
    whole_chat,
)

MESSAGES = [{"role": "user", "content": "Tell me a story about the capital of France."}]


def direct(loaded, ids, tokens):
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    start = time.perf_counter()
    first = last = None
    count = 0
    for response in stream_generate(
        loaded.model, loaded.tokenizer, ids, max_tokens=tokens, sampler=make_sampler(0.0)
    ):
        now = time.perf_counter()
        count += 1
        if response.text and first is None:
            first = now
        last = now
    return first - start, (count - 1) / (last - first), count / (last - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="100m")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--anchor", help="mlx-knife 2.0's mlxk executable")
    parser.add_argument("--no-mlx-lm-server", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny model, few tokens, once")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens, args.repeat = "tiny", 16, 1

    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.model import loaded_model

    problems = []
    with synthetic_cache(args.preset) as bench, ExitStack() as stack:
        loaded = stack.enter_context(loaded_model(bench.snapshot))
        ids = list(chat_prompt(loaded, MESSAGES).token_ids)
        servers = [stack.enter_context(server("mlxk", bench))]
        others = [] if args.no_mlx_lm_server else [("mlx_lm", None)]
        if args.anchor:
            others.append(("anchor", args.anchor))
        for kind, anchor in others:
            try:
                servers.append(stack.enter_context(server(kind, bench, anchor=anchor)))
            except RuntimeError as error:
                problems.append(str(error))

        def streamed(srv):
            m = stream_chat(srv, MESSAGES, args.tokens)
            return m.ttft, m.decode_tps, m.tokens / (m.last - m.start)

        def unstreamed(srv):
            seconds, count = whole_chat(srv, MESSAGES, args.tokens)
            return float("nan"), float("nan"), count / seconds

        contenders = {"mlx_lm.stream_generate (direct)": lambda: direct(loaded, ids, args.tokens)}
        for srv in servers:
            contenders[f"{srv.label}, streamed"] = lambda s=srv: streamed(s)
            contenders[f"{srv.label}, unstreamed"] = lambda s=srv: unstreamed(s)
        for label, run in list(contenders.items()):  # warm-up; drop what cannot answer
            try:
                run()
            except Exception as error:  # noqa: BLE001 - report a peer that fails, go on
                problems.append(f"{label}: {error}")
                del contenders[label]
        samples = {label: [] for label in contenders}
        for _ in range(args.repeat):
            for label, run in contenders.items():
                samples[label].append(run())

    figures = {
        label: tuple(median(r[i] for r in runs) for i in range(3))
        for label, runs in samples.items()
    }
    print(f"device: {device()}  model: synthetic {args.preset}  prompt: {len(ids)} tokens")
    print(f"greedy, {args.tokens} new tokens, median of {args.repeat} alternating runs\n")
    print(
        table(
            ["contender", "TTFT ms", "tok/s decode", "tok/s overall"],
            [[label, f[0] * 1000, f[1], f[2]] for label, f in figures.items()],
        )
    )
    base = figures["mlx_lm.stream_generate (direct)"]
    ours_s, ours_u = figures["mlxk serve, streamed"], figures["mlxk serve, unstreamed"]
    checks = [
        ("mlxk streamed decode tok/s vs direct", ours_s[1] / base[1], ours_s[1] / base[1] >= 0.95),
        ("mlxk streamed overall tok/s vs direct", ours_s[2] / base[2], ours_s[2] / base[2] >= 0.95),
        ("mlxk unstreamed tok/s vs direct", ours_u[2] / base[2], ours_u[2] / base[2] >= 0.95),
        ("mlxk TTFT - direct (ms)", (ours_s[0] - base[0]) * 1000, ours_s[0] - base[0] <= 0.025),
    ]
    for srv in servers[1:]:
        theirs_s = figures.get(f"{srv.label}, streamed")
        theirs_u = figures.get(f"{srv.label}, unstreamed")
        if theirs_s:
            checks.append(
                (
                    f"mlxk / {srv.label} streamed overall tok/s",
                    ours_s[2] / theirs_s[2],
                    ours_s[2] >= theirs_s[2] * 0.95,
                )
            )
            checks.append(
                (
                    f"mlxk / {srv.label} TTFT (lower is better)",
                    ours_s[0] / theirs_s[0],
                    ours_s[0] <= theirs_s[0] * 1.05,
                )
            )
        if theirs_u:
            checks.append(
                (
                    f"mlxk / {srv.label} unstreamed tok/s",
                    ours_u[2] / theirs_u[2],
                    ours_u[2] >= theirs_u[2] * 0.95,
                )
            )
    print()
    print(table(["check", "measured", "verdict"], [[n, v, verdict(ok)] for n, v, ok in checks]))
    for problem in problems:
        print(f"note: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
