"""Tiny embedding models with random weights, in the sentence-transformers layout.

Two kinds, as users keep them: a BERT encoder with a WordPiece tokenizer and mean
pooling, and a Qwen3 decoder (as Qwen3-Embedding) with last-token pooling. Their
weights are those of mlx-embeddings' own model classes, initialised at random from a
seed, so the library loads them as it loads a converted model. Building them needs
the ``embeddings`` extra.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

from mlxk.engine.scripted.catalogue import CHATML
from mlxk.engine.scripted.models import family_tokens
from mlxk.engine.scripted.repo import readme
from mlxk.engine.scripted.tokenizer import tokenizer_config

BERT_NAME = "mlx-community/tiny-bert-embedder"
QWEN3_NAME = "mlx-community/Tiny-Qwen3-Embedding"
BERT_MAX_LENGTH = 48
_WORDS = (
    "the a an of to and in is it that for on with as was at by be this are or from his "
    "her they we you i he she not but what all were when there can one more so up out "
    "about who get which go me sea river cat dog paris london capital france weather "
    "sunny rain story banana apple fruit model tiny test hello world embed vector search"
).split()


def _bert_tokenizer_json() -> tuple[str, int]:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = specials + pieces + ["##" + p for p in pieces] + _WORDS
    ids = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    tokenizer = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer.to_str(), len(ids)


def _weights(model) -> bytes:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    params = dict(tree_flatten(model.parameters()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        mx.save_safetensors(str(path), params, metadata={"format": "mlx"})
        return path.read_bytes()


def _sentence_transformers(pooling: str, dimension: int, max_length: int) -> dict[str, bytes]:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        },
    ]
    modes = ("cls_token", "mean_tokens", "max_tokens", "lasttoken")
    pooling_config = {"word_embedding_dimension": dimension}
    pooling_config.update({f"pooling_mode_{m}": m.startswith(pooling) for m in modes})
    return {
        "modules.json": _json(modules),
        "1_Pooling/config.json": _json(pooling_config),
        "sentence_bert_config.json": _json({"max_seq_length": max_length}),
        "config_sentence_transformers.json": _json({"similarity_fn_name": "cosine"}),
    }


def bert_embedder_files(
    seed: int = 0, *, hidden: int = 32, layers: int = 2, max_length: int = BERT_MAX_LENGTH
) -> dict[str, bytes]:
    """A BERT (by default 2 layers, hidden 32) with mean pooling and a 48-token limit."""
    import mlx.core as mx
    from mlx_embeddings.models import bert

    tokenizer_json, vocab_size = _bert_tokenizer_json()
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": max(64, max_length + 16),
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
        "layer_norm_eps": 1e-12,
    }
    mx.random.seed(seed)
    model = bert.Model(bert.ModelArgs.from_dict(config))
    tokenizer = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "mask_token": "[MASK]",
    }
    return {
        "config.json": _json(config),
        "tokenizer.json": tokenizer_json.encode(),
        "tokenizer_config.json": _json(tokenizer),
        "model.safetensors": _weights(model),
        "README.md": readme(library="mlx", tags=["mlx", "sentence-transformers", "bert"]),
        **_sentence_transformers("mean", hidden, max_length),
    }


def qwen3_embedder_files(seed: int = 1) -> dict[str, bytes]:
    """A 2-layer Qwen3 decoder (hidden 32) with last-token pooling, as Qwen3-Embedding."""
    import mlx.core as mx
    from mlx_embeddings.models import qwen3

    tokens = family_tokens(CHATML)
    eos = tokens.ids["<|endoftext|>"]
    config = {
        "model_type": "qwen3",
        "architectures": ["Qwen3ForCausalLM"],
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "intermediate_size": 64,
        "max_position_embeddings": 512,
        "vocab_size": tokens.vocab_size,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "eos_token_id": eos,
        "pad_token_id": eos,
    }
    mx.random.seed(seed)
    model = qwen3.Model(qwen3.ModelArgs.from_dict(config))
    tokenizer = tokenizer_config(
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        chat_template=None,
        special_tokens=list(CHATML.special_tokens),
        token_ids=tokens.ids,
    )
    tags = ["mlx", "sentence-transformers", "qwen3", "text-embeddings-inference"]
    return {
        "config.json": _json(config),
        "tokenizer.json": _json(tokens.tokenizer_json),
        "tokenizer_config.json": _json(tokenizer),
        "model.safetensors": _weights(model),
        "README.md": readme(library="mlx", tags=tags),
        **_sentence_transformers("last", 32, 256),
    }


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()
