"""Load a model directory with mlx-lm and free it again."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxk.configs import context_length_of
from mlxk.engine.blas import use_fast_blas
from mlxk.engine.reasoning import ReasoningStyle, detect_style
from mlxk.errors import InvalidConfig

if TYPE_CHECKING:
    from mlxk.cache.markers import ReasoningMarkers
    from mlxk.engine.grammar import GrammarCompiler
    from mlxk.engine.precision import Precision

# End-of-turn tokens some checkpoints forget to list as EOS; added when the vocabulary
# has them as single special tokens.
_TURN_END_TOKENS = ("<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|endoftext|>")


@dataclass
class LoadedModel:
    path: Path
    model: Any  # an mlx-lm model (mlx.nn.Module)
    tokenizer: Any  # mlx_lm TokenizerWrapper
    config: dict
    context_length: int | None
    eos_token_ids: frozenset[int]
    special_tokens: frozenset[str]
    load_seconds: float
    reasoning_markers: tuple[str, str] | None = None  # configured, else the tokenizer's
    precision: Precision | None = None  # how its weights run (a float32 copy, or as stored)

    def reasoning_style(self, prompt_text: str = "") -> ReasoningStyle:
        """How this model's output splits into reasoning and answer after ``prompt_text``."""
        return detect_style(set(self.special_tokens), prompt_text, self.reasoning_markers)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "has_chat_template", False))

    @cached_property
    def longest_token_bytes(self) -> int:
        """An upper bound on the UTF-8 bytes of text one token stands for: the longest
        vocabulary entry, as stored (byte-level and SentencePiece spellings are never
        shorter than the text they stand for)."""
        vocab = self.tokenizer.get_vocab()
        return max((len(token.encode("utf-8", "replace")) for token in vocab), default=1)

    @cached_property
    def vocab_size(self) -> int:
        """The width of the model's logits (often more than the tokenizer's entries)."""
        size = getattr(getattr(self.model, "args", None), "vocab_size", None)
        if isinstance(size, int) and size > 0:
            return size
        return max(self.tokenizer.get_vocab().values()) + 1

    @cached_property
    def grammars(self) -> GrammarCompiler:
        """Compiles (and caches) the grammars of constrained requests for this model."""
        from mlxk.engine.grammar import GrammarCompiler

        hf_tokenizer = getattr(self.tokenizer, "_tokenizer", self.tokenizer)
        return GrammarCompiler(hf_tokenizer, self.vocab_size, sorted(self.eos_token_ids))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _as_ids(value: Any) -> set[int]:
    if isinstance(value, int):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, int)}
    return set()


def end_token_ids(path: Path, config: dict, tokenizer: Any) -> frozenset[int]:
    """Every id that ends generation: tokenizer, config, generation_config, turn ends."""
    ids = set(tokenizer.eos_token_ids)
    ids |= _as_ids(config.get("eos_token_id"))
    ids |= _as_ids(_read_json(path / "generation_config.json").get("eos_token_id"))
    vocab = tokenizer.get_vocab()
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    special |= _added_special_tokens(tokenizer)
    for token in _TURN_END_TOKENS:
        if token in vocab and token in special:
            ids.add(vocab[token])
    # <|end|> ends a turn for Phi-3, but only separates messages in harmony.
    if "<|end|>" in vocab and "<|channel|>" not in vocab and "<|end|>" in special:
        ids.add(vocab["<|end|>"])
    return frozenset(ids)


def _added_special_tokens(tokenizer: Any) -> set[str]:
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return {t.content for t in decoder.values() if getattr(t, "special", False)}


def warm_up() -> None:
    """Import mlx, mlx-lm and the tokenizer stack now (a server's start, not its first request)."""
    use_fast_blas()
    import mlx.core  # noqa: F401
    import mlx_lm.generate  # noqa: F401
    import mlx_lm.models.cache  # noqa: F401
    import mlx_lm.sample_utils  # noqa: F401
    import mlx_lm.utils  # noqa: F401
    import transformers  # noqa: F401
    from transformers import AutoTokenizer  # noqa: F401  (the lazy module behind it)


def load(
    path: Path,
    markers: ReasoningMarkers | None = None,
    precision: Precision | None = None,
    *,
    shard: Callable[[Any], None] | None = None,
) -> LoadedModel:
    """Load a model directory with mlx-lm, with every id that ends generation and the
    configured reasoning ``markers`` (each must be one token of its tokenizer); with a
    ``precision`` that says so, its weights are turned into a float32 copy. With
    ``shard`` (a rank of a group: :func:`mlxk.engine.distributed.sharder`), the weights
    are loaded lazily and only this rank's shard is read.

    Raises whatever mlx-lm raises for a directory it cannot load (callers check health
    and the footprint first).
    """
    use_fast_blas()
    from mlx_lm import load as mlx_load

    started = time.perf_counter()
    model, tokenizer = mlx_load(str(path), lazy=shard is not None)[:2]
    if shard is not None:
        import mlx.core as mx

        shard(model)
        mx.eval(model.parameters())
    if precision is not None and precision.float32:
        from mlxk.engine.precision import to_float32

        to_float32(model, precision.layers)
    config = _read_json(path / "config.json")
    eos = end_token_ids(path, config, tokenizer)
    tokenizer.eos_token_ids = set(eos)
    if markers is not None:
        _check_markers(tokenizer, markers)
    special = _added_special_tokens(tokenizer) | set(
        getattr(tokenizer, "all_special_tokens", []) or []
    )
    return LoadedModel(
        path=path,
        model=model,
        tokenizer=tokenizer,
        config=config,
        context_length=context_length_of(config),
        eos_token_ids=eos,
        special_tokens=frozenset(special),
        load_seconds=time.perf_counter() - started,
        reasoning_markers=(markers.start, markers.end) if markers is not None else None,
        precision=precision,
    )


def _check_markers(tokenizer: Any, markers: ReasoningMarkers) -> None:
    """A marker the tokenizer splits into several tokens could be sampled piece by piece
    and is not what the model was trained to emit: refuse it."""
    vocab = tokenizer.get_vocab()
    for marker in (markers.start, markers.end):
        if marker not in vocab:
            pieces = tokenizer.encode(marker, add_special_tokens=False)
            raise InvalidConfig(
                f"{markers.where}: reasoning marker {marker!r} is not one token in this "
                f"model's tokenizer (it encodes as {len(pieces)} tokens)"
            )


def parameter_bytes(model: Any) -> int:
    """Bytes of a loaded model's parameters (on a rank of a group: its shard's)."""
    from mlx.utils import tree_flatten

    leaves: Any = tree_flatten(model.parameters())
    return sum(int(value.nbytes) for _, value in leaves)


def unload(loaded: LoadedModel) -> None:
    """Free a loaded model and hand what mlx and the heap freed back to the OS."""
    loaded.model = None
    loaded.tokenizer = None
    gc.collect()
    release_freed_memory()


def release_freed_memory() -> None:
    """Hand memory freed by mlx back to the OS: mlx's buffer cache (it keeps freed arrays
    for reuse, unbounded between its own rare clears) and the heap pages glibc keeps."""
    import ctypes
    import sys

    import mlx.core as mx

    mx.clear_cache()
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl): nothing to trim
        pass


@contextmanager
def loaded_model(path: Path, precision: Precision | None = None) -> Iterator[LoadedModel]:
    loaded = load(path, precision=precision)
    try:
        yield loaded
    finally:
        unload(loaded)
