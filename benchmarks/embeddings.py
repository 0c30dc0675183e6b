"""Embedding throughput: `/v1/embeddings` vs mlx-embeddings called directly.

On a tiny random-weight BERT encoder (4 layers, hidden 256, texts up to 512 tokens),
1,000 texts of mixed length (10-300 tokens) are embedded:

- by mlx-embeddings directly, one text at a time (what a script looping over texts does),
- by mlx-embeddings directly, all in one padded batch (the library's best case),
- through ``mlxk serve``'s ``/v1/embeddings`` over HTTP, in requests of 64 texts.

Each contender runs once per round, in rotating order; ratios are paired per round. The
padding waste (padded positions / real tokens) is printed for the server's length-sorted
batches and for batches taken in arrival order.

    python benchmarks/embeddings.py [--texts 1000] [--repeat 3] [--quick]

Targets (issue 22): the server >= 3x one-at-a-time direct and >= 0.8x the direct batch.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import httpx
from _common import device, median, rotating_rounds, table, verdict

NAME = "mlxk-bench/Bert-Embedder"
WORDS = "the sea river cat dog paris london weather sunny rain story banana apple".split()


def texts(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    # each word is one token of the tiny tokenizer, plus [CLS] and [SEP]
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 298))) for _ in range(count)]


def one_at_a_time(model, tokenizer, items) -> float:
    import mlx.core as mx

    start = time.perf_counter()
    for text in items:
        mx.eval(model(mx.array([tokenizer.encode(text)])).text_embeds)
    return len(items) / (time.perf_counter() - start)


def one_batch(model, tokenizer, items) -> float:
    import mlx.core as mx

    start = time.perf_counter()
    encoded = [tokenizer.encode(t) for t in items]
    width = max(map(len, encoded))
    ids = mx.array([e + [0] * (width - len(e)) for e in encoded])
    mask = mx.array([[1] * len(e) + [0] * (width - len(e)) for e in encoded])
    mx.eval(model(ids, attention_mask=mask).text_embeds)
    return len(items) / (time.perf_counter() - start)


def served(url: str, items, per_request: int) -> float:
    start = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for at in range(0, len(items), per_request):
            body = {"model": NAME, "input": items[at : at + per_request]}
            response = client.post(url + "/v1/embeddings", json=body)
            response.raise_for_status()
    return len(items) / (time.perf_counter() - start)


def padding_waste(lengths: list[int], per_request: int, bucketed: bool) -> float:
    """Padded positions / real tokens of the server's batches (its own batching rule),
    with each request's texts sorted by length as it does, or in arrival order."""
    from mlxk.engine.embeddings import BATCH_SIZE, _batches

    padded = 0
    for at in range(0, len(lengths), per_request):
        chunk = lengths[at : at + per_request]
        chunk = sorted(chunk) if bucketed else chunk
        for batch in _batches(chunk, BATCH_SIZE):
            padded += max(chunk[i] for i in batch) * len(batch)
    return padded / sum(lengths)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a few texts, once")
    args = parser.parse_args()
    if args.quick:
        args.texts, args.repeat = 64, 1

    from mlx_embeddings.utils import load

    from mlxk.cache.layout import write_repo
    from mlxk.server.app import ServerSettings
    from mlxk.testing.embedders import bert_embedder_files
    from mlxk.testing.live_server import live_server

    items = texts(args.texts)
    per_request = 64
    with tempfile.TemporaryDirectory(prefix="mlxk-bench-") as tmp:
        hub = Path(tmp) / "hub"
        files = bert_embedder_files(hidden=256, layers=4, max_length=512)
        repo = write_repo(hub, NAME, files)
        model, wrapper = load(str(repo.snapshot))
        tokenizer = wrapper._tokenizer if hasattr(wrapper, "_tokenizer") else wrapper
        lengths = [len(tokenizer.encode(t)) for t in items]
        with live_server(ServerSettings(hub_cache=hub)) as url:
            contenders = {
                "direct, one text at a time": lambda: one_at_a_time(model, tokenizer, items),
                "direct, one padded batch": lambda: one_batch(model, tokenizer, items),
                f"/v1/embeddings, {per_request} per request": lambda: served(
                    url, items, per_request
                ),
            }
            served(url, items[:per_request], per_request)  # warm-up: load the model
            one_batch(model, tokenizer, items[:8])
            samples = rotating_rounds(contenders, args.repeat)

    print(f"device: {device()}  model: random BERT, 4 layers, hidden 256")
    print(
        f"{len(items)} texts of {min(lengths)}-{max(lengths)} tokens"
        f" ({sum(lengths)} in all), {args.repeat} rounds in rotating order, medians\n"
    )
    sorted_waste = padding_waste(lengths, per_request, True)
    arrival_waste = padding_waste(lengths, per_request, False)
    whole = max(lengths) * len(lengths) / sum(lengths)
    rows = [[label, median(runs), float("nan")] for label, runs in samples.items()]
    rows += [
        ["padding: server batches, sorted by length", float("nan"), sorted_waste],
        ["padding: the same batches in arrival order", float("nan"), arrival_waste],
        ["padding: one batch of every text", float("nan"), whole],
    ]
    print(table(["contender", "texts/s", "padded / real tokens"], rows))

    server = f"/v1/embeddings, {per_request} per request"

    def paired(base: str) -> float:
        pairs = zip(samples[server], samples[base], strict=True)
        return median(a / b for a, b in pairs)

    checks = [
        ("server vs direct one text at a time", paired("direct, one text at a time"), 3.0),
        ("server vs direct one padded batch", paired("direct, one padded batch"), 0.8),
    ]
    print()
    print(
        table(
            ["check (paired per round)", "measured", "target", "verdict"],
            [[name, value, target, verdict(value >= target)] for name, value, target in checks],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
