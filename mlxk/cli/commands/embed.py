"""``mlxk embed MODEL [TEXT…]``: embedding vectors, one JSON line per text.

Texts come from the arguments, or one per line from stdin (blank lines skipped). The
output is JSON Lines (``{"index", "embedding"}``), or one envelope with ``--json``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from mlxk.errors import InvalidRequest, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def _texts(args: Namespace) -> list[str]:
    if args.texts:
        return list(args.texts)
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("give the texts to embed, or pipe them in one per line")
    return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]


class Progress:
    """A one-line progress bar on stderr, for inputs longer than a few batches."""

    def __init__(self, sink: Sink, total: int, shown: bool):
        self.sink, self.total, self.done, self.shown = sink, total, 0, shown

    def __call__(self, count: int) -> None:
        self.done += count
        if self.shown:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "." * (30 - filled)
            self.sink.err.write(f"\r[{bar}] {self.done}/{self.total}")
            self.sink.err.flush()

    def close(self) -> None:
        if self.shown:
            self.sink.err.write("\n")
            self.sink.err.flush()


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.embeddings import check_inputs, load_embedding_model
    from mlxk.engine.memory import check_fits, model_bytes

    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    texts = _texts(args)
    if not texts:
        raise UsageError("nothing to embed: no text given")
    info = resolve_runnable(settings.hub_cache, args.model, kind="embed")
    assert info.embedding is not None, "an embedding model has its facts"
    if args.dimensions is not None:
        try:
            info.embedding.check_dimensions(args.dimensions)
        except InvalidRequest as error:
            raise UsageError(f"--dimensions: {error.message}") from None
    check_fits(info.name, model_bytes(info.path), settings.memory_limit)
    model = load_embedding_model(info.name, info.path, info.embedding)
    inputs = model.tokenize(texts)
    check_inputs(model, inputs, truncate=args.truncate)
    batch = args.batch_size or 32
    err = sink.err
    progress = Progress(sink, len(inputs), len(inputs) > 4 * batch and err.isatty())
    done = model.embed(inputs, dimensions=args.dimensions, batch_size=batch, progress=progress)
    progress.close()
    data = [{"index": i, "embedding": v} for i, v in enumerate(done.vectors)]
    if sink.json_mode:
        usage = {"prompt_tokens": done.tokens, "total_tokens": done.tokens}
        dimension = len(done.vectors[0]) if done.vectors else model.dimension
        sink.result(
            "embed", {"model": info.name, "dimension": dimension, "data": data, "usage": usage}
        )
        return 0
    for item in data:
        sink.out.write(json.dumps(item, separators=(",", ":")) + "\n")
    sink.out.flush()
    return 0
