"""Two models, requests alternating between them: swapping (--max-models 1) vs both kept
loaded (--max-models 2); and each model's decode speed when both are busy at once.

One client sends requests that alternate A, B, A, B… to each server (after a warm-up
that loaded both once). With one model allowed every request unloads one and loads the
other; with two, none does. Seconds lost to loading are each server's summed latency
less what the same requests took on models already loaded (the median of the
``--max-models 2`` run, request by request kind). Then, on the ``--max-models 2`` server:
one long stream to A alone, then one to A and one to B at once, each stream's decode
speed.

    python benchmarks/multi_model.py [--preset 26m] [--requests 12] [--tokens 24] [--quick]

Targets (issue 25): at least 5x fewer seconds lost to loading with both loaded, and each
model's decode tok/s with both busy at least 0.45x its solo rate on this CPU.
"""

from __future__ import annotations

import argparse
import time

from _common import (
    ChatTranscript,
    device,
    http,
    median,
    percentile,
    server,
    synthetic_cache,
    table,
    verdict,
)
from _streams import stream_all

from mlxk.cache.layout import write_repo
from mlxk.testing.synthetic import synthetic_files


def ask(srv, model: str, tokens: int, tag: str) -> float:
    """One unstreamed request: its latency in seconds."""
    body = {"model": model, "messages": [{"role": "user", "content": f"Hello {tag}"}]}
    body.update(max_tokens=tokens, temperature=0.0)
    start = time.perf_counter()
    http(srv.url).json("POST", "/v1/chat/completions", body)
    return time.perf_counter() - start


def loads(srv) -> int:
    return http(srv.url).json("GET", "/health")["loads"]


def alternate(srv, models: list[str], requests: int, tokens: int) -> tuple[list[float], int]:
    """Latencies of ``requests`` alternating requests, and the loads they caused."""
    for model in models:  # warm-up: each model loaded (and its first prompt cached) once
        ask(srv, model, tokens, "warm-up")
    before = loads(srv)
    latencies = [ask(srv, models[i % 2], tokens, str(i)) for i in range(requests)]
    return latencies, loads(srv) - before


def decode_rates(srv, models: list[str], tokens: int) -> list[float]:
    """Decode tok/s of one stream per model in ``models``, all sent together."""
    bodies = [
        {
            "model": model,
            "messages": [{"role": "user", "content": f"Tell me a story {i}"}],
            "max_tokens": tokens,
            "temperature": 0.0,
            "stream": True,
        }
        for i, model in enumerate(models)
    ]
    streams: list[ChatTranscript] = stream_all(srv.url, "/v1/chat/completions", bodies)
    rates = []
    for chat in streams:
        span = (chat.last or 0) - (chat.first or 0)
        rates.append((len(chat.pieces) - 1) / span if span > 0 else float("nan"))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="26m")
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--stream-tokens", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="tiny models, few requests")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.requests, args.tokens, args.stream_tokens = "tiny", 4, 8, 32

    with synthetic_cache(args.preset) as bench:
        second = bench.name + "-twin"  # the same weights under a second name: a second model
        write_repo(bench.hub, second, synthetic_files(args.preset))
        models = [bench.name, second]
        runs = {}
        for count in (1, 2):
            extra = ["--max-models", str(count)]
            with server("mlxk", bench, extra=extra) as srv:
                runs[count] = alternate(srv, models, args.requests, args.tokens)
                if count == 2:
                    decode_rates(srv, models[:1], 8)  # warm-up
                    solo = [decode_rates(srv, [m], args.stream_tokens)[0] for m in models]
                    both = decode_rates(srv, models, args.stream_tokens)

    warm = median(runs[2][0])
    lost = {count: max(0.0, sum(lat) - warm * len(lat)) for count, (lat, _) in runs.items()}
    rows = []
    for count, (latencies, loaded) in runs.items():
        seconds = sum(latencies)
        rows.append(
            [
                f"mlxk serve --max-models {count}",
                len(latencies) / seconds,
                percentile(latencies, 95) * 1000,
                loaded,
                lost[count],
            ]
        )
    print(f"device: {device()}  models: 2 synthetic {args.preset}, {args.tokens} tokens each")
    print(f"{args.requests} requests alternating between them, one client\n")
    header = ["server", "requests/s", "p95 ms", "loads", "s lost to loading"]
    print(table(header, rows))
    for name, alone, busy in zip(models, solo, both, strict=True):
        print(f"decode tok/s of {name}: {alone:.1f} alone, {busy:.1f} with both busy")
    ratios = [b / s for s, b in zip(solo, both, strict=True)]
    checks = [
        (
            "s lost to loading, max-models 2 <= 1/5 of max-models 1",
            f"{lost[2]:.3f} vs {lost[1]:.3f}",
            lost[2] * 5 <= lost[1],
        ),
        (
            "decode both busy / alone, worst model (>= 0.45)",
            f"{min(ratios):.2f}",
            min(ratios) >= 0.45,
        ),
    ]
    print()
    print(table(["check", "measured", "verdict"], [[n, v, verdict(ok)] for n, v, ok in checks]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
