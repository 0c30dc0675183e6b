"""A generation request as the engine takes it: sampling settings, then prompt and limits.

The server's routes and the CLI fill a :class:`SamplingRequest`; :func:`prepare` turns
it, with the loaded model, into the prompt's tokens and the :class:`GenerationParams` a
batch or a single stream runs with.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlxk.engine.chat import Prompt, chat_prompt, raw_prompt
from mlxk.engine.generate import GenerationParams
from mlxk.engine.limits import max_new_tokens
from mlxk.engine.model import LoadedModel


@dataclass(frozen=True)
class SamplingRequest:
    """What a client asked for; ``None`` means "the model's or the server's default"."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    split_reasoning: bool = True


def prompt_for(loaded: LoadedModel, messages: list[dict] | None, prompt: str | None) -> Prompt:
    """Chat messages through the model's template, or a raw prompt as it is.

    Raises:
        InvalidRequest: the text or the template refused the input.
        ContextLengthExceeded: its length alone proves it cannot fit.
    """
    if messages is not None:
        return chat_prompt(loaded, messages)
    return raw_prompt(loaded, prompt or "")


def generation_params(
    loaded: LoadedModel,
    prompt: Prompt,
    sampling: SamplingRequest,
    *,
    default_max_tokens: int | None = None,
    default_fraction: float = 1.0,
) -> GenerationParams:
    """The limits and sampling settings one sequence runs with.

    Args:
        default_max_tokens: used when the request sets none (the server's --max-tokens).
        default_fraction: without any max_tokens, at most this fraction of the context.

    Raises:
        ContextLengthExceeded: the prompt leaves no room to generate.
    """
    requested = sampling.max_tokens if sampling.max_tokens is not None else default_max_tokens
    max_tokens = max_new_tokens(
        len(prompt.token_ids), loaded.context_length, requested, default_fraction=default_fraction
    )
    chosen = {
        name: getattr(sampling, name)
        for name in (
            "temperature",
            "top_p",
            "repetition_penalty",
            "frequency_penalty",
            "presence_penalty",
        )
        if getattr(sampling, name) is not None
    }
    return GenerationParams(
        max_tokens=max_tokens,
        stop=sampling.stop,
        split_reasoning=sampling.split_reasoning,
        **chosen,
    )
