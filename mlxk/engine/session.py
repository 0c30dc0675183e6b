"""A loaded model ready for prompts: what ``run``, chat and ``demo`` talk to."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlxk.engine.chat import Prompt, chat_prompt, raw_prompt
from mlxk.engine.generate import Completion, GenerationParams, fold, stream
from mlxk.engine.limits import max_new_tokens
from mlxk.engine.model import LoadedModel, load, unload
from mlxk.engine.prompt_cache import PromptCache


class GenerationOptions(Protocol):
    """What a session's generation reads of its caller's options (``run``'s RunOptions)."""

    @property
    def max_tokens(self) -> int | None: ...

    @property
    def temperature(self) -> float: ...

    @property
    def top_p(self) -> float: ...

    @property
    def repetition_penalty(self) -> float | None: ...

    @property
    def seed(self) -> int | None: ...

    @property
    def stop(self) -> tuple[str, ...]: ...

    @property
    def use_chat_template(self) -> bool: ...

    @property
    def json_schema(self) -> dict | None: ...

    @property
    def json_object(self) -> bool: ...


if TYPE_CHECKING:
    from mlxk.cache.markers import ReasoningMarkers
    from mlxk.engine.generate import Chunk
    from mlxk.engine.precision import Precision


class Session:
    def __init__(self, name: str, loaded: LoadedModel):
        self.name = name
        self.loaded = loaded

    @property
    def load_seconds(self) -> float:
        return self.loaded.load_seconds

    @staticmethod
    def messages(
        prompt: str, *, system: str | None = None, history: Sequence[dict] = ()
    ) -> list[dict]:
        msgs = [{"role": "system", "content": system}] if system else []
        return msgs + list(history) + [{"role": "user", "content": prompt}]

    def prompt_for(self, messages: list[dict], use_chat_template: bool = True) -> Prompt:
        if use_chat_template:
            return chat_prompt(self.loaded, messages)
        return raw_prompt(self.loaded, "\n\n".join(m["content"] for m in messages))

    def params(self, options: GenerationOptions, prompt: Prompt) -> GenerationParams:
        """The settings one answer runs with; a JSON answer gets its grammar."""
        from mlxk.engine.constraints import response_grammar

        grammar = None
        if options.json_schema is not None or options.json_object:
            grammar = response_grammar(self.loaded, options.json_schema, prompt.text)
        return GenerationParams(
            max_tokens=max_new_tokens(
                len(prompt.token_ids), self.loaded.context_length, options.max_tokens
            ),
            temperature=options.temperature,
            top_p=options.top_p,
            repetition_penalty=options.repetition_penalty,
            seed=options.seed,
            stop=tuple(options.stop),
            grammar=grammar,
        )

    def new_prompt_cache(self) -> PromptCache:
        return PromptCache(self.loaded.model)

    def generate(
        self,
        messages: list[dict],
        options: GenerationOptions,
        on_chunk: Callable[[Chunk], None] | None = None,
        prompt_cache: Any = None,
    ) -> Completion:
        prompt = self.prompt_for(messages, options.use_chat_template)
        params = self.params(options, prompt)
        return fold(stream(self.loaded, prompt, params, prompt_cache), on_chunk)


@contextmanager
def session_for(
    name: str,
    snapshot: Path,
    markers: ReasoningMarkers | None = None,
    precision: Precision | None = None,
) -> Iterator[Session]:
    loaded = load(snapshot, markers, precision)
    try:
        yield Session(name, loaded)
    finally:
        unload(loaded)
