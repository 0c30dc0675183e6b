"""Facts read from a model's config.json, shared by the cache and the engine."""

from __future__ import annotations

CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "context_length",
    "max_sequence_length",
    "seq_length",
    "seq_len",  # 1.x read it too
    "n_ctx",
)


def context_length_of(config: dict | None) -> int | None:
    """The context window a config names, checking text_config for multimodal ones."""
    if not config:
        return None
    for source in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
            if isinstance(value, str) and value.isdigit() and int(value) > 0:
                return int(value)
    return None


def layer_count_of(config: dict | None) -> int | None:
    """The language model's transformer layers (``num_hidden_layers``, checking
    text_config for multimodal ones)."""
    if not config:
        return None
    for source in (config, config.get("text_config") or {}):
        value = source.get("num_hidden_layers")
        if isinstance(value, int) and value > 0:
            return value
    return None
