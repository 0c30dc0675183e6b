"""Turn messages or a raw prompt into prompt token ids.

What a client sent and the model's template refuses (a lone surrogate, a conversation
the template raises on) is an :class:`InvalidRequest`, never an exception that escapes
to the caller's thread. A prompt whose length alone proves it cannot fit the context is
refused before it is tokenized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlxk.engine.limits import DEFAULT_CONTEXT
from mlxk.engine.model import LoadedModel
from mlxk.errors import ContextLengthExceeded, InvalidRequest


@dataclass(frozen=True)
class Prompt:
    text: str
    token_ids: tuple[int, ...]


def fallback_format(messages: list[dict]) -> str:
    """Plain transcript for models without a chat template."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    parts = [f"{names.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def chat_prompt(
    loaded: LoadedModel,
    messages: list[dict],
    *,
    use_template: bool = True,
    tools: list[dict] | None = None,
    options: dict | None = None,
) -> Prompt:
    """Messages (and the tools offered, if any) through the model's chat template (a plain
    transcript without one). ``options`` are the template's own switches
    (``enable_thinking``, ``reasoning_effort``: see :func:`reasoning_options`).

    Raises:
        InvalidRequest: the text is not Unicode, or the template refused the messages.
        ContextLengthExceeded: its length alone proves it cannot fit the context.
    """
    _check_text(loaded, "".join(str(m.get("content") or "") for m in messages))
    tokenizer = loaded.tokenizer
    if use_template and loaded.has_chat_template:
        text = _render(tokenizer, messages, tools, options or {})
        return Prompt(text, tuple(_encode(tokenizer, text, False)))
    if use_template and any(m["role"] == "assistant" for m in messages):
        return raw_prompt(loaded, fallback_format(messages))
    # A base model continues text: give it the text itself.
    return raw_prompt(loaded, "\n\n".join(m["content"] for m in messages))


def raw_prompt(loaded: LoadedModel, text: str) -> Prompt:
    """``text`` as it is, with the tokenizer's BOS unless the text starts with it."""
    _check_text(loaded, text)
    tokenizer = loaded.tokenizer
    bos = getattr(tokenizer, "bos_token", None)
    add_special = bos is None or not text.startswith(bos)
    return Prompt(text, tuple(_encode(tokenizer, text, add_special)))


def _check_text(loaded: LoadedModel, text: str) -> None:
    """Refuse text that is not Unicode, or that cannot fit the context whatever its tokens.

    No token covers more bytes than the vocabulary's longest entry, so a text of B bytes
    has at least B / longest tokens: past the context, tokenizing it all would be waste.
    """
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise InvalidRequest(
            f"the text is not valid Unicode (an unpaired surrogate at character {error.start})"
        ) from None
    context = loaded.context_length or DEFAULT_CONTEXT
    at_least = size // max(1, loaded.longest_token_bytes)
    if at_least > context:
        raise ContextLengthExceeded(
            f"prompt has at least {at_least} tokens but the model's context is {context}"
        )


# What an OpenAI or Anthropic effort means to a template that takes gpt-oss's three levels.
HARMONY_EFFORT = {"none": "low", "minimal": "low", "xhigh": "high", "max": "high"}


def reasoning_options(loaded: LoadedModel, effort: str | None, thinking: bool | None) -> dict:
    """The switches a model's template takes for a reasoning effort or for thinking on/off.

    Templates read ``reasoning_effort`` (gpt-oss: low, medium, high) or ``enable_thinking``
    (Qwen3 and its kin: an effort of "none" or thinking off turns it off). Returns {} for
    a template with neither: the model reasons as it always does.
    """
    if effort is None and thinking is None:
        return {}
    template = str(getattr(loaded.tokenizer, "chat_template", None) or "")
    options: dict = {}
    if effort is not None and "reasoning_effort" in template:
        options["reasoning_effort"] = HARMONY_EFFORT.get(effort, effort)
    if "enable_thinking" in template:
        options["enable_thinking"] = not (thinking is False or effort == "none")
    return options


def _render(tokenizer: Any, messages: list[dict], tools: list[dict] | None, options: dict) -> str:
    from jinja2 import TemplateError

    extra = {"tools": tools} if tools else {}
    extra.update(options)
    try:
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **extra
        )
    except TemplateError as error:
        raise InvalidRequest(f"the model's chat template refused these messages: {error}") from None


def _encode(tokenizer: Any, text: str, add_special_tokens: bool) -> list[int]:
    try:
        return tokenizer.encode(text, add_special_tokens=add_special_tokens)
    except UnicodeError as error:
        raise InvalidRequest(f"the text cannot be tokenized: {error}") from None
