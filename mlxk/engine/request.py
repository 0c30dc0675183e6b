"""A generation request as the engine takes it: sampling settings, then prompt and limits.

The server's routes and the CLI fill a :class:`SamplingRequest`; :func:`prepare` turns
it, with the loaded model, into the prompt's tokens and the :class:`GenerationParams` a
batch or a single stream runs with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlxk.engine.chat import Prompt, chat_prompt, raw_prompt, reasoning_options
from mlxk.engine.generate import GenerationParams
from mlxk.engine.limits import max_new_tokens
from mlxk.engine.model import LoadedModel
from mlxk.engine.tools import ToolFormat, ToolUse, tool_format
from mlxk.errors import InvalidRequest

if TYPE_CHECKING:
    from mlxk.engine.grammar import Grammar


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
    logit_bias: tuple[tuple[int, float], ...] = ()
    logprobs: int | None = None  # None: off; N: with the top N alternatives
    json_schema: dict | None = None  # response_format json_schema (its schema)
    json_object: bool = False  # response_format json_object
    tools: tuple[dict, ...] = ()
    tool_choice: str | dict = "auto"  # "auto" | "none" | "required" | {"name": …}
    parallel_tool_calls: bool = True
    reasoning_effort: str | None = None  # none | minimal | low | medium | high | xhigh | max
    thinking: bool | None = None  # on or off (Anthropic's thinking); None: the model's way
    effort_param: str = "reasoning_effort"  # the field a refused effort is named by

    @property
    def offers_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"


def prompt_for(
    loaded: LoadedModel,
    messages: list[dict] | None,
    prompt: str | None,
    sampling: SamplingRequest | None = None,
) -> Prompt:
    """Chat messages (with the tools offered) through the model's template, or a raw
    prompt as it is.

    Raises:
        InvalidRequest: the text or the template refused the input, or tools were
            offered to a model whose template cannot take them.
        ContextLengthExceeded: its length alone proves it cannot fit.
    """
    if messages is not None:
        tools, options = None, {}
        if sampling is not None:
            if sampling.offers_tools:
                _tool_format(loaded)
                tools = list(sampling.tools)
            options = _reasoning_options(loaded, sampling)
        return chat_prompt(loaded, messages, tools=tools, options=options)
    return raw_prompt(loaded, prompt or "")


# Efforts any model takes: the API's default, and "none" (reasoning left out of the answer
# where the template cannot turn it off).
PLAIN_EFFORTS = (None, "medium", "none")


def _reasoning_options(loaded: LoadedModel, sampling: SamplingRequest) -> dict:
    options = reasoning_options(loaded, sampling.reasoning_effort, sampling.thinking)
    if sampling.reasoning_effort not in PLAIN_EFFORTS and not options:
        raise InvalidRequest(
            f"this model's chat template takes no reasoning effort"
            f" ('{sampling.reasoning_effort}'): leave it out, or use medium or none",
            param=sampling.effort_param,
        )
    return options


def _tool_format(loaded: LoadedModel) -> ToolFormat:
    form = tool_format(loaded.tokenizer, loaded.special_tokens)
    if form is None:
        raise InvalidRequest(
            "this model's chat template has no tool support: it cannot be offered tools",
            param="tools",
        )
    return form


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
            "seed",
            "logprobs",
        )
        if getattr(sampling, name) is not None
    }
    tools, grammar = tools_and_grammar(loaded, prompt, sampling)
    _check_bias(loaded, sampling.logit_bias)
    return GenerationParams(
        max_tokens=max_tokens,
        stop=sampling.stop,
        split_reasoning=sampling.split_reasoning,
        logit_bias=sampling.logit_bias,
        tools=tools,
        grammar=grammar,
        request=sampling,
        **chosen,
    )


def tools_and_grammar(
    loaded: LoadedModel, prompt: Prompt, sampling: SamplingRequest
) -> tuple[ToolUse | None, Grammar | None]:
    """How the request's tool calls are read, and the grammar its output must follow."""
    from mlxk.engine.constraints import response_grammar, tool_grammar

    tools = None
    grammar = None
    if sampling.offers_tools:
        form = _tool_format(loaded)
        tools = ToolUse(form, sampling.tools, single=not sampling.parallel_tool_calls)
        choice = sampling.tool_choice
        if choice == "required":
            grammar = tool_grammar(loaded, form, list(sampling.tools))
        elif isinstance(choice, dict):
            named = [t for t in sampling.tools if t["function"]["name"] == choice["name"]]
            grammar = tool_grammar(loaded, form, named)
    if grammar is None and (sampling.json_schema is not None or sampling.json_object):
        grammar = response_grammar(loaded, sampling.json_schema, prompt.text)
    return tools, grammar


def _check_bias(loaded: LoadedModel, bias: tuple[tuple[int, float], ...]) -> None:
    for token, _ in bias:
        if not 0 <= token < loaded.vocab_size:
            raise InvalidRequest(
                f"logit_bias names token {token}, outside the vocabulary"
                f" (0-{loaded.vocab_size - 1})",
                param="logit_bias",
            )
