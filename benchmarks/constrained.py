"""What constrained decoding costs: a `json_schema` request vs the same request free.

On the synthetic 26M-parameter model (random weights that never end by themselves, so a
free request and a constrained one whose schema is one long string both make their
whole token budget), mlxk's continuous batch decodes:

- one request alone, free and with a ``json_schema`` (the grammar's mask per token),
- a batch of 4: four free requests, and three free beside one ``json_schema`` request.

The contenders take turns in rotating order, round after round; each ratio is taken
between runs of the same round and its median shown. Then the grammar compile time per
schema, cold and again from the model's cache of compiled grammars, and the one-off
cost of the table the budget-aware closing reads.

    python benchmarks/constrained.py [--preset 26m] [--tokens 64] [--repeat 5] [--quick]

Targets (issue 21): the constrained sequence's decode tok/s >= 0.9x the free one's,
alone and in the batch of 4; a cached compile under 1 ms.
"""

from __future__ import annotations

import argparse
import time

from _common import device, median, rotating_rounds, synthetic_cache, table, verdict

LONG_TEXT = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
}
SCHEMAS = {
    "one long string": LONG_TEXT,
    "nested, enums, bounds": {
        "type": "object",
        "properties": {
            "point": {
                "type": "object",
                "properties": {
                    "x": {"type": "integer", "minimum": 0, "maximum": 9},
                    "y": {"type": "number"},
                },
                "required": ["x", "y"],
            },
            "colour": {"enum": ["red", "green", "blue"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        },
        "required": ["point", "colour"],
    },
    "pattern": {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"}},
        "required": ["code"],
    },
}


def decode_rates(loaded, prompts, params_list) -> list[float]:
    """Run these sequences together in one batch; each one's decode tok/s."""
    from mlxk.engine.batch import Batch

    batch = Batch(loaded, max_sequences=4, cache_bytes=0)
    finals = {}
    ids = [batch.add(p, params) for p, params in zip(prompts, params_list, strict=True)]
    while len(batch):
        for result in batch.step():
            for chunk in result.chunks:
                if chunk.finish_reason is not None:
                    finals[result.uid] = chunk
    batch.close()
    return [finals[i].timings.decode_tokens_per_s for i in ids]


def compile_times(loaded) -> list[list]:
    """(schema, cold ms, cached ms) for each schema, on a compiler of its own."""
    from mlxk.engine.constraints import closed_objects
    from mlxk.engine.grammar import GrammarCompiler

    tokenizer = getattr(loaded.tokenizer, "_tokenizer", loaded.tokenizer)
    compiler = GrammarCompiler(tokenizer, loaded.vocab_size, sorted(loaded.eos_token_ids))
    compiler.json_schema({"type": "object"}, "warm-up")  # the tokenizer, made once per model
    rows = []
    for name, schema in SCHEMAS.items():
        closed = closed_objects(schema)
        start = time.perf_counter()
        compiler.json_schema(closed, "bench")
        cold = time.perf_counter() - start
        start = time.perf_counter()
        compiler.json_schema(closed, "bench")
        rows.append([name, cold * 1000, (time.perf_counter() - start) * 1000])
    start = time.perf_counter()
    compiler.closing_table()
    built = (time.perf_counter() - start) * 1000
    rows.append(["closing table (once per model)", built, float("nan")])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="26m")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny model, few tokens, once")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.tokens, args.repeat = "tiny", 16, 1

    from mlxk.engine.chat import chat_prompt
    from mlxk.engine.model import loaded_model
    from mlxk.engine.request import SamplingRequest, generation_params

    texts = ["Tell me a story.", "What is the sea?", "Name a river.", "Describe a cat."]
    with synthetic_cache(args.preset) as bench, loaded_model(bench.snapshot) as loaded:
        prompts = [chat_prompt(loaded, [{"role": "user", "content": t}]) for t in texts]
        free = SamplingRequest(max_tokens=args.tokens)
        shaped = SamplingRequest(max_tokens=args.tokens, json_schema=LONG_TEXT)
        plain = [generation_params(loaded, p, free) for p in prompts]
        json_params = generation_params(loaded, prompts[0], shaped)
        contenders = {
            "alone, free": lambda: decode_rates(loaded, prompts[:1], plain[:1])[0],
            "alone, json_schema": lambda: decode_rates(loaded, prompts[:1], [json_params])[0],
            "batch of 4 free: the first": lambda: decode_rates(loaded, prompts, plain)[0],
            "batch of 4, the first json_schema": lambda: decode_rates(
                loaded, prompts, [json_params, *plain[1:]]
            )[0],
        }
        for run in contenders.values():  # warm-up: compile kernels and the grammar
            run()
        samples = rotating_rounds(contenders, args.repeat)
        compiled = compile_times(loaded)

    print(f"device: {device()}  model: synthetic {args.preset}  vocabulary: {loaded.vocab_size}")
    print(f"greedy, {args.tokens} new tokens, {args.repeat} rounds in rotating order, medians\n")
    nan = float("nan")
    rows = [[label, median(runs), nan, nan] for label, runs in samples.items()]
    rows += [[f"compile: {name}", nan, cold, cached] for name, cold, cached in compiled]
    print(table(["contender", "decode tok/s", "compile ms", "cached ms"], rows))

    def paired(label, base):
        pairs = zip(samples[label], samples[base], strict=True)
        return median(a / b for a, b in pairs)

    cached = max(row[2] for row in compiled[:-1])
    checks = [
        ("json_schema alone vs free alone", paired("alone, json_schema", "alone, free"), 0.9),
        (
            "json_schema in a batch of 4 vs free in a batch of 4",
            paired("batch of 4, the first json_schema", "batch of 4 free: the first"),
            0.9,
        ),
    ]
    print()
    print(
        table(
            [
                "check (paired per round; target >= 0.9x, cached compile < 1 ms)",
                "measured",
                "verdict",
            ],
            [[name, value, verdict(value >= target)] for name, value, target in checks]
            + [["slowest cached compile (ms)", cached, verdict(cached < 1.0)]],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
