"""Real byte-level BPE tokenizers for the tiny test models.

The vocabulary is trained (in milliseconds) on the models' scripts, so every word a
script uses is one token or a few, and any other text still encodes through the byte
alphabet. The result is a genuine ``tokenizer.json`` that transformers and mlx-lm
load like a Llama-3 or Qwen tokenizer (ByteLevel decoder, so mlx-lm picks its BPE
streaming detokenizer).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

# Words every template or prompt in the fixtures uses, so they train into the vocabulary.
_BASE_CORPUS = (
    "user assistant system developer You are a helpful assistant. "
    "Hello hello hi Hi What is the capital of France? Tell me a story. "
    "Count: one two three four five six seven eight nine ten"
)


def train_tokenizer_json(
    corpus: Iterable[str],
    special_tokens: list[str],
    plain_added_tokens: Iterable[str] = (),
) -> dict:
    """Train a byte-level BPE on ``corpus`` and return the parsed tokenizer.json.

    ``special_tokens`` get the first ids (in order) and are never split.
    ``plain_added_tokens`` (e.g. ``"\\n\\n"``) are non-special added tokens: they are
    matched whole in any text, which keeps scripted outputs unambiguous.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [_BASE_CORPUS, *corpus]
    tokenizer.train_from_iterator(texts * 4, trainer=trainer)
    if plain_added_tokens:
        tokenizer.add_tokens(
            [AddedToken(t, normalized=False, special=False) for t in plain_added_tokens]
        )
    return json.loads(tokenizer.to_str())


def tokenizer_config(
    *,
    bos_token: str | None,
    eos_token: str,
    pad_token: str | None,
    chat_template: str | None,
    special_tokens: list[str],
    token_ids: dict[str, int],
) -> dict:
    """A tokenizer_config.json in the shape the Hub's fast tokenizers use."""
    config: dict = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 131072,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "pad_token": pad_token,
        "added_tokens_decoder": {
            str(token_ids[t]): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t in special_tokens
        },
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    return config
