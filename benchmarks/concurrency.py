"""Many clients at once: aggregate tokens/s and TTFT p50/p95, against the engine's ceiling.

k = 1, 2, 4, 8 clients stream chat completions at the same moment (each its own prompt,
greedy, the same length) from ``mlxk serve``, from ``mlx_lm.server`` and, with
``--anchor``, from mlx-knife 2.0's ``mlxk serve``, all on the same synthetic model
(~26M parameters, fp32). The same run measures the ceiling: the bare model doing the
same work at batch k (prefill the k clients' prompts together, then decode), which
depends on the device, in the benchmark's own process just before each round of the
servers, so both see the same moment of a busy machine; its decode-only rate is shown too.
The ceiling counts only when this process computes on the BLAS the servers do (read from
/proc/<pid>/maps on Linux): otherwise no "of ceiling" ratio is reported, and the check
that they match fails.

    python benchmarks/concurrency.py [--preset 26m] [--tokens 48] [--rounds 8]
                                     [--anchor /path/to/mlx-knife/bin/mlxk] [--quick]

Targets (issue 7): TTFT p95 at 4 clients <= 3x single-client TTFT; aggregate tok/s at k
>= 0.9x the ceiling at k; on CUDA/Metal (or any device whose ceiling at 4 is >= 2.5x the
ceiling at 1, as a CPU with OpenBLAS) aggregate at 4 >= 2.5x single; ahead of the other
servers on TTFT p95 and not behind on aggregate.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack

from _common import (
    add_peer_options,
    ceiling_mismatch,
    device,
    median,
    mlx_versions,
    percentile,
    server,
    start_peers,
    stream_chats,
    synthetic_cache,
    table,
    verdict,
)

TOPICS = ["France", "the sea", "a cat", "winter", "music", "a river", "the moon", "bread"]


def messages_for(i: int, tag: str) -> list[dict]:
    """Each request its own prompt (``tag`` names the round), so no prompt cache answers it."""
    topic = TOPICS[i % len(TOPICS)]
    return [{"role": "user", "content": f"({tag}.{i}) Tell me a story about {topic}."}]


def ceiling(loaded, prompts: list[list[int]], tokens: int) -> tuple[float, float]:
    """The bare model doing the clients' work: prefill their prompts (token ids) together,
    right-padded to the longest as a batched prefill must be, then decode ``tokens`` steps.
    Returns tokens/s over the whole (what k clients could get at best) and over the
    decode alone."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(loaded.model)
    lengths = [len(ids) for ids in prompts]
    padded = mx.array([list(ids) + [0] * (max(lengths) - len(ids)) for ids in prompts])
    last = mx.array(lengths) - 1
    mx.eval(padded, last)
    start = time.perf_counter()
    logits = loaded.model(padded, cache=cache)
    y = mx.argmax(logits[mx.arange(len(prompts)), last], axis=-1)
    mx.eval(y)
    decode_start = time.perf_counter()
    for _ in range(tokens - 1):
        logits = loaded.model(y[:, None], cache=cache)
        y = mx.argmax(logits[:, -1, :], axis=-1)
        mx.eval(y)
    end = time.perf_counter()
    batch = len(prompts)
    return batch * tokens / (end - start), batch * (tokens - 1) / (end - decode_start)


def round_of(srv, clients: int, tokens: int, tag: str):
    """``clients`` streams sent together; (aggregate tok/s, [ttft...])."""
    results = stream_chats(srv, [messages_for(i, tag) for i in range(clients)], tokens)
    span = max(r.last for r in results) - min(r.start for r in results)
    return sum(r.tokens for r in results) / span, [r.ttft for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="26m")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--clients", default="1,2,4,8")
    add_peer_options(parser)
    parser.add_argument("--quick", action="store_true", help="tiny model, 1 and 4 clients")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens, args.rounds, args.clients = "tiny", 12, 1, "1,4"
    levels = [int(k) for k in args.clients.split(",")]

    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.model import loaded_model

    problems = []
    client_cpu = []  # this process's CPU per streamed token, round by round (the clients)
    ceilings: dict[int, list[tuple[float, float]]] = {}
    # per (server, k): one (aggregate tok/s, [TTFT...]) per round
    results: dict[tuple[str, int], list[tuple[float, list[float]]]] = {}
    with synthetic_cache(args.preset) as bench, loaded_model(bench.snapshot) as loaded:

        def prompts(k: int, tag: str) -> list[list[int]]:
            """The token ids of the prompts the k clients of a round send."""
            return [list(chat_prompt(loaded, messages_for(i, tag)).token_ids) for i in range(k)]

        ceiling(loaded, prompts(1, "warm-up"), 4)
        with ExitStack() as stack:
            servers = [
                stack.enter_context(
                    server("mlxk", bench, extra=["--max-concurrency", str(max(levels))])
                )
            ]
            servers += start_peers(stack, bench, args, problems)
            versions = mlx_versions(servers, bench)
            mismatch = ceiling_mismatch(servers)
            for srv in list(servers):
                try:
                    round_of(srv, 1, 4, "warm-up")
                except Exception as error:  # noqa: BLE001 - report a peer that fails, go on
                    problems.append(f"{srv.label}: {error}")
                    servers.remove(srv)
            for round_ in range(args.rounds):
                for k in levels:
                    # The ceiling is measured beside the servers, round by round, so a slow
                    # or fast moment of the machine shows in both, and each server's share
                    # is taken against its own round's ceiling. The servers take turns at
                    # going first, so none always runs right after the ceiling.
                    time.sleep(0.5)
                    batch = prompts(k, f"{round_}.{k}")
                    ceilings.setdefault(k, []).append(ceiling(loaded, batch, args.tokens))
                    shift = round_ % len(servers)
                    for srv in servers[shift:] + servers[:shift]:
                        time.sleep(0.5)  # the last contender's BLAS threads stop spinning
                        cpu = time.process_time()
                        measured = round_of(srv, k, args.tokens, f"{round_}.{k}")
                        client_cpu.append((time.process_time() - cpu) / (k * args.tokens))
                        results.setdefault((srv.label, k), []).append(measured)

    def share(label: str, k: int) -> list[float]:
        """Per round: this server's aggregate over that round's ceiling."""
        runs = zip(results[(label, k)], ceilings[k], strict=True)
        return [aggregate / whole for (aggregate, _), (whole, _) in runs]

    whole_ceiling = {k: median([w for w, _ in runs]) for k, runs in ceilings.items()}
    decode_ceiling = {k: median([d for _, d in runs]) for k, runs in ceilings.items()}
    rows = []
    figures = {}
    for (label, k), runs in results.items():
        agg = median([aggregate for aggregate, _ in runs])
        ttfts = [t for _, round_ttfts in runs for t in round_ttfts]
        p50, p95 = percentile(ttfts, 50), percentile(ttfts, 95)
        figures[(label, k)] = (agg, p50, p95)
        shares = share(label, k)
        of_ceiling = "n/a" if mismatch else median(shares)
        spread = "n/a" if mismatch else f"{min(shares):.2f}-{max(shares):.2f}"
        rows.append(
            [
                label,
                k,
                agg,
                whole_ceiling[k],
                decode_ceiling[k],
                of_ceiling,
                spread,
                p50 * 1000,
                p95 * 1000,
            ]
        )
    rows.sort(key=lambda r: (r[0] != "mlxk serve", r[0], r[1]))
    print(f"device: {device()}  model: synthetic {args.preset}  {args.tokens} tokens per request")
    print(f"versions: {versions}")
    print(
        f"{args.rounds} rounds per level (medians; the servers take turns at going first);"
        " ceiling = the bare model, in this process before each round, prefilling the"
        " round's k prompts together and decoding the same tokens (decode-only: without"
        " the prefill);"
        " of ceiling = the median over rounds of aggregate / that round's ceiling;"
        f" the clients took {median(client_cpu) * 1e6:.0f} us of CPU per streamed token\n"
    )
    print(
        table(
            [
                "server",
                "clients",
                "aggregate tok/s",
                "ceiling tok/s",
                "decode-only ceiling",
                "of ceiling",
                "range",
                "TTFT p50 ms",
                "TTFT p95 ms",
            ],
            rows,
        )
    )

    ours = {k: figures[("mlxk serve", k)] for k in levels}
    checks = []
    if 1 in ours and 4 in ours:
        ratio = ours[4][2] / ours[1][2]
        checks.append(("mlxk TTFT p95 at 4 / single TTFT (<= 3)", ratio, ratio <= 3))
    if mismatch:
        # A ceiling on another BLAS is another machine: no ratio to it means anything.
        checks.append((f"ceiling on the servers' BLAS ({mismatch})", "no", False))
    else:
        for k in levels:
            part = median(share("mlxk serve", k))
            checks.append((f"mlxk aggregate / ceiling at {k} (>= 0.9)", part, part >= 0.9))
    scales = not mismatch and 1 in ours and 4 in ours and whole_ceiling[4] / whole_ceiling[1] >= 2.5
    if scales or (1 in ours and 4 in ours and "cpu" not in device().split()[0]):
        scale = ours[4][0] / ours[1][0]  # the GPU target, wherever batching does pay
        checks.append(("mlxk aggregate at 4 / at 1 (>= 2.5)", scale, scale >= 2.5))
    for srv in servers[1:]:
        for k in levels:
            theirs = figures.get((srv.label, k))
            if not theirs:
                continue
            checks.append(
                (
                    f"{srv.label} / mlxk TTFT p95 at {k} (>= 1)",
                    theirs[2] / ours[k][2],
                    ours[k][2] <= theirs[2],
                )
            )
            pairs = zip(results[("mlxk serve", k)], results[(srv.label, k)], strict=True)
            ahead = median([mine / other for (mine, _), (other, _) in pairs])  # per round
            checks.append((f"mlxk / {srv.label} aggregate at {k} (>= 0.95)", ahead, ahead >= 0.95))
    print()
    print(table(["check", "measured", "verdict"], [[n, v, verdict(ok)] for n, v, ok in checks]))
    for problem in problems:
        print(f"note: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
