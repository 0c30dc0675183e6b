"""Turn messages or a raw prompt into prompt token ids."""

from __future__ import annotations

from dataclasses import dataclass

from mlxk.engine.model import LoadedModel


@dataclass(frozen=True)
class Prompt:
    text: str
    token_ids: tuple[int, ...]
    templated: bool


def fallback_format(messages: list[dict]) -> str:
    """Plain transcript for models without a chat template."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    parts = [f"{names.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def chat_prompt(loaded: LoadedModel, messages: list[dict], *, use_template: bool = True) -> Prompt:
    tokenizer = loaded.tokenizer
    if use_template and loaded.has_chat_template:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tokenizer.encode(text, add_special_tokens=False)
        return Prompt(text, tuple(ids), templated=True)
    if use_template and any(m["role"] == "assistant" for m in messages):
        return raw_prompt(loaded, fallback_format(messages))
    # A base model continues text: give it the text itself.
    return raw_prompt(loaded, "\n\n".join(m["content"] for m in messages))


def raw_prompt(loaded: LoadedModel, text: str) -> Prompt:
    tokenizer = loaded.tokenizer
    bos = getattr(tokenizer, "bos_token", None)
    add_special = bos is None or not text.startswith(bos)
    ids = tokenizer.encode(text, add_special_tokens=add_special)
    return Prompt(text, tuple(ids), templated=False)
