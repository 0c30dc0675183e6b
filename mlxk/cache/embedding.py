"""What an embedding model's files say about it: pooling, dimension, maximum length.

Read from the sentence-transformers layout where it is there (``modules.json``,
``1_Pooling/config.json``, ``sentence_bert_config.json``), else from ``config.json``:
encoders (BERT and its kin) pool by the mean, decoders (Qwen3-Embedding and its kin)
by their last token. Nothing here imports mlx.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.detect import read_json
from mlxk.errors import InvalidRequest

ENCODERS = {"bert", "xlm-roberta", "roberta", "nomic_bert", "modernbert", "mpnet"}
# Families trained to be cut to fewer dimensions (Matryoshka): ``dimensions`` works.
MATRYOSHKA_TYPES = {"qwen3", "nomic_bert", "gemma3_text"}
_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last",
}
EXTRA = "pip install 'mlxk[embeddings]'"


@dataclass(frozen=True)
class EmbeddingFacts:
    pooling: str  # "mean" | "cls" | "max" | "last"
    dimension: int | None
    max_length: int | None
    matryoshka: bool  # may be cut to fewer dimensions

    def check_dimensions(self, wanted: int) -> None:
        """Refuse (400 naming ``dimensions``) a cut the model cannot make: more than its
        dimension, or any cut of a model not trained to be cut."""
        if wanted < 1:
            raise InvalidRequest(f"dimensions is {wanted}: at least 1", param="dimensions")
        if self.dimension is not None and wanted > self.dimension:
            raise InvalidRequest(
                f"dimensions is {wanted}, more than this model's {self.dimension}",
                param="dimensions",
            )
        if not self.matryoshka and wanted != self.dimension:
            raise InvalidRequest(
                "this model's vectors cannot be cut to fewer dimensions (not Matryoshka-trained)",
                param="dimensions",
            )

    def to_dict(self) -> dict:
        return {
            "pooling": self.pooling,
            "dimension": self.dimension,
            "max_length": self.max_length,
            "matryoshka": self.matryoshka,
        }


def is_sentence_transformers(snapshot: Path) -> bool:
    return (snapshot / "modules.json").is_file() or (snapshot / "1_Pooling").is_dir()


def embedding_facts(snapshot: Path, config: dict | None, tags: set[str]) -> EmbeddingFacts:
    config = config or {}
    model_type = str(config.get("model_type", "")).lower()
    pooling = "mean" if model_type in ENCODERS else "last"
    chosen = read_json(snapshot / "1_Pooling" / "config.json") or {}
    for key, name in _POOLING_KEYS.items():
        if chosen.get(key) is True:
            pooling = name
            break
    dimension = chosen.get("word_embedding_dimension") or config.get("hidden_size")
    bert = read_json(snapshot / "sentence_bert_config.json") or {}
    limits = [
        value
        for value in (bert.get("max_seq_length"), config.get("max_position_embeddings"))
        if isinstance(value, int) and value > 0
    ]
    if model_type in {"xlm-roberta", "roberta"} and not bert.get("max_seq_length") and limits:
        limits = [limits[0] - 2]  # RoBERTa's positions start after the padding index
    matryoshka = model_type in MATRYOSHKA_TYPES or bool({"matryoshka", "mrl"} & tags)
    return EmbeddingFacts(
        pooling=pooling,
        dimension=dimension if isinstance(dimension, int) else None,
        max_length=min(limits) if limits else None,
        matryoshka=matryoshka,
    )


def supported_types() -> set[str] | None:
    """The model types mlx-embeddings can load (its model modules), found without
    importing it; None when it is not installed."""
    try:
        spec = importlib.util.find_spec("mlx_embeddings")
    except (ImportError, ValueError):  # blocked or broken: as good as missing
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    names = {p.stem for p in models.glob("*.py") if not p.stem.startswith("_")}
    names |= {p.name for p in models.iterdir() if p.is_dir() and not p.name.startswith("_")}
    return {name.replace("_", "-") for name in names} | names
