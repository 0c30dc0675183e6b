"""Embedding models: loaded by mlx-embeddings, pooled as the model says, batched by length.

mlx-embeddings (an optional extra: it brings mlx-vlm and its dependencies) builds and
loads the model; its last hidden state is pooled here the way the model's
sentence-transformers files say (mean, CLS, max or last token; mlx-embeddings itself
always takes the mean for encoders) and normalised. Texts are sorted by length and cut
into batches of similar length, so little of each forward pass is padding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxk.cache.embedding import EXTRA, EmbeddingFacts
from mlxk.errors import InvalidRequest, ModelNotRunnable

BATCH_SIZE = 32  # sequences per forward pass
# and at most this many positions (padding included): on a CPU a pass of ~1000 positions
# already keeps the cores busy, and more only adds padding (benchmarks/README.md)
BATCH_TOKENS = 1024


@dataclass
class Embedded:
    vectors: list[list[float]]  # in the order of the inputs
    tokens: int  # real (unpadded) tokens fed
    padded: int  # positions fed, padding included
    seconds: float


@dataclass
class EmbeddingModel:
    name: str
    path: Path
    model: Any
    tokenizer: Any  # a Hugging Face tokenizer
    facts: EmbeddingFacts
    weight_bytes: int = 0

    @property
    def dimension(self) -> int:
        return int(self.facts.dimension or 0)

    @property
    def max_length(self) -> int | None:
        return self.facts.max_length

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, with the special tokens the model expects."""
        return [list(ids) for ids in self.tokenizer(list(texts))["input_ids"]]

    def embed(
        self,
        inputs: Sequence[Sequence[int]],
        *,
        dimensions: int | None = None,
        batch_size: int = BATCH_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> Embedded:
        """Unit vectors for token-id sequences (cut to ``dimensions`` and normalised
        again when given), computed in batches of similar length."""
        import mlx.core as mx

        started = time.perf_counter()
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
        vectors: list[Any] = [None] * len(inputs)
        padded = 0
        for batch in _batches([len(inputs[i]) for i in order], batch_size):
            rows = [order[i] for i in batch]
            pooled, width = self._forward([inputs[i] for i in rows])
            if dimensions is not None:
                pooled = _normalise(pooled[:, :dimensions])
            for row, vector in zip(rows, pooled.tolist(), strict=True):
                vectors[row] = vector
            padded += width * len(rows)
            if progress is not None:
                progress(len(rows))
            mx.clear_cache()
        tokens = sum(len(ids) for ids in inputs)
        return Embedded(vectors, tokens, padded, time.perf_counter() - started)

    def _forward(self, batch: list[Sequence[int]]) -> tuple[Any, int]:
        """The pooled, normalised vectors of one batch (right-padded), and its width."""
        import mlx.core as mx

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id or 0
        ids = mx.array([list(s) + [pad] * (width - len(s)) for s in batch])
        mask = mx.array([[1] * len(s) + [0] * (width - len(s)) for s in batch])
        output = self.model(ids, attention_mask=mask)
        hidden = output.last_hidden_state.astype(mx.float32)
        pooled = _pool(hidden, mask, self.facts.pooling)
        pooled = _normalise(pooled)
        mx.eval(pooled)
        return pooled, width


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Consecutive runs of (sorted) lengths: at most ``batch_size`` sequences and
    ``BATCH_TOKENS`` positions each."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i, length in enumerate(lengths):
        if current and (len(current) >= batch_size or (len(current) + 1) * length > BATCH_TOKENS):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _pool(hidden: Any, mask: Any, pooling: str) -> Any:
    import mlx.core as mx

    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":
        last = mask.sum(axis=1) - 1
        return hidden[mx.arange(hidden.shape[0]), last]
    weights = mask[..., None].astype(hidden.dtype)
    if pooling == "max":
        return mx.where(weights > 0, hidden, -mx.inf).max(axis=1)
    return (hidden * weights).sum(axis=1) / mx.maximum(weights.sum(axis=1), 1e-9)


def _normalise(vectors: Any) -> Any:
    import mlx.core as mx

    norms = mx.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / mx.maximum(norms, 1e-12)


def load_embedding_model(name: str, path: Path, facts: EmbeddingFacts) -> EmbeddingModel:
    """Load an embedding model through mlx-embeddings.

    Raises:
        ModelNotRunnable: mlx-embeddings is not installed (names the extra), or could not
            build this model.
    """
    try:
        from mlx_embeddings.utils import load_model
    except ImportError:
        raise ModelNotRunnable(f"{name} is an embedding model: {EXTRA} to use it") from None
    from transformers import AutoTokenizer

    from mlxk.engine.memory import model_bytes

    try:
        model = load_model(path)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        tokenizer.model_max_length = 1 << 30  # lengths are checked here, not warned about
    except (ValueError, KeyError, OSError, TypeError, AttributeError) as error:
        raise ModelNotRunnable(f"{name}: mlx-embeddings could not load it: {error}") from None
    return EmbeddingModel(name, path, model, tokenizer, facts, model_bytes(path))


def check_inputs(model: EmbeddingModel, inputs: list[list[int]], truncate: bool) -> None:
    """Refuse (400 naming the input) what the model cannot take; with ``truncate`` cut
    over-long inputs to the model's maximum length instead (in place), keeping a closing
    special token (BERT's ``[SEP]``) at the end."""
    limit = model.max_length
    for index, ids in enumerate(inputs):
        if not ids:
            raise InvalidRequest(f"input {index} is empty", param=f"input[{index}]")
        if any(not 0 <= token < model.vocab_size for token in ids):
            raise InvalidRequest(
                f"input {index} has a token id outside the vocabulary (0-{model.vocab_size - 1})",
                param=f"input[{index}]",
            )
        if limit is not None and len(ids) > limit:
            if not truncate:
                raise InvalidRequest(
                    f"input {index} is {len(ids)} tokens, over this model's {limit}"
                    " (send truncate: true to cut it)",
                    param=f"input[{index}]",
                )
            closing = ids[-1] in set(model.tokenizer.all_special_ids)
            inputs[index] = ids[: limit - 1] + ids[-1:] if closing else ids[:limit]
