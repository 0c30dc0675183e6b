"""Synthetic Llama-style models of a chosen size, for benchmarks.

Random (seeded) weights behind the tiny models' real tokenizer and chat template, laid
into a real HF cache. Their text is gibberish; what matters is that every contender
does the same work per token. Only tokens that are a space and a word keep their rows
of the output layer; the others (end of sequence, special tokens, stray bytes of a
UTF-8 sequence, word pieces) get zero rows, so their logits are 0 while the largest of
the random logits is positive. Greedy decoding therefore never stops early, every run
generates exactly ``max_tokens`` tokens, and the streaming detokenizer (which holds a
word until the next one starts) shows text from the second token on, for every
contender alike.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.layout import WrittenRepo, write_repo
from mlxk.engine.scripted import templates
from mlxk.engine.scripted.catalogue import LLAMA3
from mlxk.engine.scripted.models import family_tokens
from mlxk.engine.scripted.tokenizer import tokenizer_config


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int


PRESETS = {
    "tiny": Shape(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128),
    # sharded over 2 or 4 ranks (heads and layers divide by 4), layers most of its bytes
    "shards": Shape(hidden=256, layers=4, heads=4, kv_heads=4, intermediate=1024),
    "26m": Shape(hidden=512, layers=8, heads=8, kv_heads=4, intermediate=1536),
    "100m": Shape(hidden=768, layers=16, heads=12, kv_heads=4, intermediate=2048),
    "190m": Shape(hidden=1024, layers=16, heads=16, kv_heads=4, intermediate=2816),
}


def parameter_count(shape: Shape, vocab_size: int) -> int:
    head_dim = shape.hidden // shape.heads
    kv = shape.kv_heads * head_dim
    attention = 2 * shape.hidden * shape.hidden + 2 * shape.hidden * kv
    mlp = 3 * shape.hidden * shape.intermediate
    norms = 2 * shape.hidden
    return shape.layers * (attention + mlp + norms) + 2 * vocab_size * shape.hidden + shape.hidden


# mlx-lm shards llama by tensor, qwen2 by tensor or pipeline, and phi3 not at all
FAMILIES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "phi3": "Phi3ForCausalLM"}


def synthetic_files(
    preset: str, *, seed: int = 0, dtype: str = "float32", family: str = "llama"
) -> dict[str, bytes]:
    import importlib

    import mlx.core as mx
    from mlx.utils import tree_flatten

    module = importlib.import_module(f"mlx_lm.models.{family}")
    shape = PRESETS[preset]
    tokens = family_tokens(LLAMA3)
    eos_ids = [tokens.ids[LLAMA3.eos], *(tokens.ids[t] for t in LLAMA3.extra_eos)]
    config = {
        "model_type": family,
        "architectures": [FAMILIES[family]],
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": tokens.vocab_size,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
        "eos_token_id": eos_ids,
        "bos_token_id": tokens.ids[LLAMA3.bos],
        "torch_dtype": dtype,
    }
    mx.random.seed(seed)
    model = module.Model(module.ModelArgs.from_dict(config))
    params = {}
    for name, value in tree_flatten(model.parameters()):
        if name.endswith("norm.weight"):
            params[name] = mx.ones(value.shape)
        else:
            params[name] = mx.random.normal(value.shape) * (1.0 / value.shape[-1] ** 0.5)
    printable = _printable_ids(tokens)
    keep = mx.array([[1.0 if i in printable else 0.0] for i in range(tokens.vocab_size)])
    params["lm_head.weight"] = params["lm_head.weight"] * keep
    target = getattr(mx, dtype)
    params = {k: v.astype(target) for k, v in params.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        mx.save_safetensors(str(path), params, metadata={"format": "mlx"})
        weights = path.read_bytes()
    return {
        "config.json": _json(config),
        "generation_config.json": _json({"eos_token_id": eos_ids, "do_sample": False}),
        "tokenizer.json": _json(tokens.tokenizer_json),
        "tokenizer_config.json": _json(
            tokenizer_config(
                bos_token=LLAMA3.bos,
                eos_token=LLAMA3.eos,
                pad_token=LLAMA3.pad,
                chat_template=templates.LLAMA3,
                special_tokens=list(LLAMA3.special_tokens),
                token_ids=tokens.ids,
            )
        ),
        "model.safetensors": weights,
        "README.md": b"---\nlibrary_name: mlx\ntags:\n- mlx\n---\nSynthetic benchmark model.\n",
    }


def _printable_ids(tokens) -> frozenset[int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json.dumps(tokens.tokenizer_json))
    special = {a["id"] for a in tokens.tokenizer_json["added_tokens"] if a.get("special")}
    return frozenset(
        i
        for i in range(tokens.vocab_size)
        if i not in special
        and (text := tokenizer.decode([i])).startswith(" ")
        and text[1:].isalpha()
        and text.isascii()
    )


def write_synthetic(
    hub: Path, preset: str, *, dtype: str = "float32", family: str = "llama"
) -> tuple[str, WrittenRepo]:
    """Write the ``preset`` model into ``hub``; returns its name and where it landed."""
    kind = "" if family == "llama" else f"-{family}"
    name = f"mlxk-bench/Synthetic-{preset}{kind}-{dtype}"
    return name, write_repo(hub, name, synthetic_files(preset, dtype=dtype, family=family))


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


GROUP_MODELS = (("shards", "llama"), ("shards", "qwen2"), ("tiny", "phi3"))


def write_group_models(hub: Path) -> list[str]:
    """The models distributed serving is tested with (see :data:`GROUP_MODELS`)."""
    return [write_synthetic(hub, preset, family=family)[0] for preset, family in GROUP_MODELS]
