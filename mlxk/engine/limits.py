"""Context-aware token limits."""

from __future__ import annotations

from mlxk.errors import ContextLengthExceeded

DEFAULT_CONTEXT = 4096


def max_new_tokens(
    prompt_tokens: int,
    context_length: int | None,
    requested: int | None,
    *,
    default_fraction: float = 1.0,
) -> int:
    """How many tokens a generation may produce.

    Without a request: what is left of the context after the prompt, and at most
    ``context * default_fraction`` (run uses the whole context; the server half of it, so
    one request cannot pin it, as in mlx-knife 1.x). A request is capped to what fits.
    A prompt that leaves no room is an error, never a silent truncation.
    """
    context = context_length or DEFAULT_CONTEXT
    room = context - prompt_tokens
    if room <= 0:
        raise ContextLengthExceeded(
            f"prompt has {prompt_tokens} tokens but the model's context is {context}",
        )
    if requested is None:
        return max(1, min(room, int(context * default_fraction)))
    return min(requested, room)
