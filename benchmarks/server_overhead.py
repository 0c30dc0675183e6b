"""What serving costs: tokens/s and TTFT through the HTTP server vs mlx-lm called directly.

On a synthetic ~100M-parameter model, the same chat request (greedy, fixed length) is
answered by ``mlx_lm.stream_generate`` in this process (the baseline), by ``mlxk serve``
(streamed and unstreamed), by ``mlx_lm.server``, and by mlx-knife 2.0's ``mlxk serve``
when ``--anchor`` names its executable. One request at a time; the contenders take turns
in rotating order, round after round, each request with a prompt of its own (so no
prompt cache answers it), and every ratio is taken within a round, its median shown.

    python benchmarks/server_overhead.py [--preset 100m] [--tokens 48] [--repeat 5]
                                         [--anchor /path/to/mlx-knife/bin/mlxk] [--quick]

Targets (issue 5): mlxk streamed and unstreamed tokens/s >= 0.95x direct; TTFT within
25 ms of direct; and the ratios to the other servers.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from _common import (
    add_peer_options,
    device,
    direct_generation,
    median,
    mlx_versions,
    server,
    start_peers,
    stream_chat,
    synthetic_cache,
    table,
    verdict,
    whole_chat,
)

BASE = "mlx_lm.stream_generate (direct)"


def messages_for(tag: str) -> list[dict]:
    """A prompt of its own for every request, so no server answers from its prompt cache."""
    return [{"role": "user", "content": f"({tag}) Tell me a story about the capital of France."}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="100m")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=5)
    add_peer_options(parser)
    parser.add_argument("--quick", action="store_true", help="tiny model, few tokens, once")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens, args.repeat = "tiny", 16, 1

    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.model import loaded_model

    problems = []
    with synthetic_cache(args.preset) as bench, ExitStack() as stack:
        loaded = stack.enter_context(loaded_model(bench.snapshot))
        servers = [stack.enter_context(server("mlxk", bench))]
        servers += start_peers(stack, bench, args, problems)
        versions = mlx_versions(servers, bench)

        def direct_run(messages):
            ids = list(chat_prompt(loaded, messages).token_ids)
            ttft, overall, decode, _ = direct_generation(loaded, ids, args.tokens)
            return ttft, decode, overall

        def streamed(srv, messages):
            m = stream_chat(srv, messages, args.tokens)
            return m.ttft, m.decode_tps, m.tokens / (m.last - m.start)

        def unstreamed(srv, messages):
            seconds, count = whole_chat(srv, messages, args.tokens)
            return float("nan"), float("nan"), count / seconds

        contenders = {BASE: direct_run}
        for srv in servers:
            contenders[f"{srv.label}, streamed"] = lambda m, s=srv: streamed(s, m)
            contenders[f"{srv.label}, unstreamed"] = lambda m, s=srv: unstreamed(s, m)
        for label, run in list(contenders.items()):  # warm-up; drop what cannot answer
            try:
                run(messages_for("warm-up"))
            except Exception as error:  # noqa: BLE001 - report a peer that fails, go on
                problems.append(f"{label}: {error}")
                del contenders[label]
        samples = {label: [] for label in contenders}
        order = list(contenders)
        for round_ in range(args.repeat):
            shift = round_ % len(order)
            for j, label in enumerate(order[shift:] + order[:shift]):
                samples[label].append(contenders[label](messages_for(f"{round_}.{j}")))

    print(f"device: {device()}  model: synthetic {args.preset}")
    print(f"versions: {versions}")
    print(
        f"greedy, {args.tokens} new tokens, {args.repeat} rounds in rotating order, medians;"
        " every request has a prompt of its own (no prompt cache hit)\n"
    )
    print(
        table(
            ["contender", "TTFT ms", "tok/s decode", "tok/s overall"],
            [
                [
                    label,
                    median(r[0] for r in runs) * 1000,
                    median(r[1] for r in runs),
                    median(r[2] for r in runs),
                ]
                for label, runs in samples.items()
            ],
        )
    )

    def paired(label, index, against=BASE, diff=False):
        pairs = list(zip(samples[label], samples[against], strict=True))
        if diff:
            return median(a[index] - b[index] for a, b in pairs)
        return median(a[index] / b[index] for a, b in pairs)

    ours_s, ours_u = "mlxk serve, streamed", "mlxk serve, unstreamed"
    checks = [
        ("mlxk streamed decode tok/s vs direct (>= 0.95)", paired(ours_s, 1), 0.95),
        ("mlxk streamed overall tok/s vs direct (>= 0.95)", paired(ours_s, 2), 0.95),
        ("mlxk unstreamed tok/s vs direct (>= 0.95)", paired(ours_u, 2), 0.95),
        ("mlxk TTFT - direct, ms (<= 25)", paired(ours_s, 0, diff=True) * 1000, -25),
    ]
    for srv in servers[1:]:
        theirs_s, theirs_u = f"{srv.label}, streamed", f"{srv.label}, unstreamed"
        if theirs_s in samples:
            checks.append(
                (
                    f"mlxk / {srv.label} streamed overall tok/s (>= 0.95)",
                    paired(ours_s, 2, theirs_s),
                    0.95,
                )
            )
            checks.append(
                (
                    f"mlxk - {srv.label} TTFT, ms (<= 0)",
                    paired(ours_s, 0, theirs_s, diff=True) * 1000,
                    0,
                )
            )
        if theirs_u in samples:
            checks.append(
                (
                    f"mlxk / {srv.label} unstreamed tok/s (>= 0.95)",
                    paired(ours_u, 2, theirs_u),
                    0.95,
                )
            )
    print()
    print(
        table(
            ["check (paired per round)", "measured", "verdict"],
            [[n, v, verdict(v >= t if t > 0 else v <= -t)] for n, v, t in checks],
        )
    )
    for problem in problems:
        print(f"note: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
