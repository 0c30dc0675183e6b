"""What `mlxk run` costs on top of mlx-lm: tokens/s and time to first token, side by side.

On a synthetic ~100M-parameter model (random weights, real tokenizer and template), the
same chat prompt is generated greedily for the same number of tokens by:

- ``mlx_lm.stream_generate`` called directly (the baseline),
- mlxk's engine streaming (what ``mlxk run`` runs per token: pipeline, stop filter,
  reasoning splitter) and its unstreamed fold (``mlxk run --no-stream``),
- ``mlxk run`` in-process, printing to a stdout whose writes are timestamped.

The contenders take turns in rotating order, round after round; each ratio is taken
between runs of the same round and its median shown, so the machine's drift cancels.

    python benchmarks/run_overhead.py [--preset 100m] [--tokens 48] [--repeat 7] [--quick]

Targets (issue 4): streamed and unstreamed tokens/s >= 0.95x direct; time to first
token within 20 ms of direct.
"""

from __future__ import annotations

import argparse
import io
import time

from _common import (
    device,
    direct_generation,
    median,
    synthetic_cache,
    table,
    timed_stream,
    verdict,
)

MESSAGES = [{"role": "user", "content": "Tell me a story about the capital of France."}]


class StampedWriter(io.TextIOBase):
    """A stdout that remembers when text was written."""

    def __init__(self):
        self.stamps: list[float] = []

    def write(self, text: str) -> int:
        if text.strip():
            self.stamps.append(time.perf_counter())
        return len(text)


def engine_streamed(loaded, prompt, tokens):
    from mlxk.engine.generate import GenerationParams, stream

    chunks = stream(loaded, prompt, GenerationParams(max_tokens=tokens))
    return timed_stream(chunks, lambda c: len(c.token_ids), lambda c: c.text)


def engine_unstreamed(loaded, prompt, tokens):
    from mlxk.engine.generate import GenerationParams, complete

    start = time.perf_counter()
    done = complete(loaded, prompt, GenerationParams(max_tokens=tokens))
    elapsed = time.perf_counter() - start
    count = done.usage.completion_tokens
    return float("nan"), count / elapsed, float("nan"), count


def cli_streamed(bench, tokens):
    """`mlxk run` in this process: decode rate seen on its stdout, TTFT as it reports it."""
    import json

    from mlxk.cli.main import main

    out = StampedWriter()
    argv = ["run", bench.name, MESSAGES[0]["content"], "--max-tokens", str(tokens)]
    assert (
        main([*argv, "--temperature", "0"], environ=bench.env, stdout=out, stderr=io.StringIO())
        == 0
    )
    decode = (tokens - 1) / (out.stamps[-1] - out.stamps[0]) if len(out.stamps) > 1 else 0.0
    buffer = io.StringIO()
    main([*argv, "--temperature", "0", "--json"], environ=bench.env, stdout=buffer)
    timings = json.loads(buffer.getvalue())["data"]["timings"]
    return timings["time_to_first_token_s"], float("nan"), decode, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="100m")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="tiny model, few tokens, once")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens, args.repeat = "tiny", 16, 1

    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.model import loaded_model

    with synthetic_cache(args.preset) as bench, loaded_model(bench.snapshot) as loaded:
        prompt = chat_prompt(loaded, MESSAGES)
        ids = list(prompt.token_ids)
        contenders = {
            "mlx_lm.stream_generate (direct)": lambda: direct_generation(loaded, ids, args.tokens),
            "mlxk engine, streamed": lambda: engine_streamed(loaded, prompt, args.tokens),
            "mlxk engine, unstreamed (--no-stream)": lambda: engine_unstreamed(
                loaded, prompt, args.tokens
            ),
            "mlxk run (CLI, stdout)": lambda: cli_streamed(bench, args.tokens),
        }
        for run in contenders.values():  # warm-up: compile kernels, fill caches
            run()
        samples = {label: [] for label in contenders}
        order = list(contenders)
        for round_ in range(args.repeat):
            shift = round_ % len(order)  # rotate who goes first
            for label in order[shift:] + order[:shift]:
                samples[label].append(contenders[label]())

    base = "mlx_lm.stream_generate (direct)"
    rows = []
    for label, runs in samples.items():
        ttft, total, decode, count = (median(r[i] for r in runs) for i in range(4))
        rows.append([label, int(count), ttft * 1000, total, decode])
    print(f"device: {device()}  model: synthetic {args.preset}  prompt: {len(ids)} tokens")
    print(f"greedy, {args.tokens} new tokens, {args.repeat} rounds in rotating order, medians\n")
    print(table(["contender", "tokens", "TTFT ms", "tok/s overall", "tok/s decode"], rows))

    def paired(label, index, diff=False):
        """Median over rounds of (contender vs direct in the same round): drift cancels."""
        pairs = zip(samples[label], samples[base], strict=True)
        if diff:
            return median(a[index] - b[index] for a, b in pairs)
        return median(a[index] / b[index] for a, b in pairs)

    streamed, unstreamed = "mlxk engine, streamed", "mlxk engine, unstreamed (--no-stream)"
    cli = "mlxk run (CLI, stdout)"
    checks = [
        ("streamed decode tok/s vs direct", paired(streamed, 2), 0.95),
        ("streamed overall tok/s vs direct", paired(streamed, 1), 0.95),
        ("unstreamed tok/s vs direct", paired(unstreamed, 1), 0.95),
        ("CLI decode tok/s (seen on stdout) vs direct", paired(cli, 2), 0.95),
        ("streamed TTFT - direct (ms)", paired(streamed, 0, diff=True) * 1000, -20),
        ("CLI TTFT - direct (ms)", paired(cli, 0, diff=True) * 1000, -20),
    ]
    print()
    print(
        table(
            ["check (paired per round; target >= 0.95x or <= +20 ms)", "measured", "verdict"],
            [
                [name, value, verdict(value >= t if t > 0 else value <= -t)]
                for name, value, t in checks
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
