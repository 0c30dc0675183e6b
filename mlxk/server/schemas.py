"""Request and response bodies of the OpenAI-compatible API (pydantic).

These models generate the server's OpenAPI; ``tests/test_api_contract.py`` checks that
they agree with the JSON Schemas in ``schemas/api/``, the contract's one source.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from mlxk.cache.naming import MAX_NAME_LENGTH, SPEC_PATTERN

# Fields OpenAI defines that mlxk does not implement: a request that turns them on gets a
# 400 naming the field, never a silent ignore (their "off" values are accepted: OffFields).
UNSUPPORTED_FIELDS = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "parallel_tool_calls",
    "response_format",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
    "suffix",
    "echo",
    "best_of",
    "service_tier",
    "store",
)


class ResponseFormatText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: Bool = False


# JSON's true is not the number 1, nor 1.5 a token count: numbers and flags are strict
# (an integral 3.0 is a JSON Schema integer, and is taken: see SamplingFields).
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Off = Annotated[list, Field(max_length=0)]  # only the empty list: the feature unused
Nothing = Annotated[dict, Field(max_length=0)]


class OffFields(BaseModel):
    """Fields mlxk does not implement, declared with only their "off" values, which real
    clients send by default (``null``, ``false``, ``[]``, ``"none"``, ``{"type": "text"}``):
    those are the default, anything else is a 400 naming the field."""

    tools: Off | None = None
    tool_choice: Literal["none", "auto"] | None = None
    functions: Off | None = None
    function_call: Literal["none", "auto"] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormatText | None = None
    logprobs: Literal[False] | None = None
    top_logprobs: Literal[0] | None = None
    logit_bias: Nothing | None = None
    audio: None = None
    modalities: list[Literal["text"]] | None = None
    prediction: None = None
    web_search_options: None = None
    suffix: Literal[""] | None = None
    echo: Literal[False] | None = None
    best_of: Literal[1] | None = None
    service_tier: Literal["auto", "default"] | None = None
    store: Literal[False] | None = None
    metadata: dict[str, str] | None = None


class SamplingFields(OffFields):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")
    model: str = Field(min_length=1, max_length=MAX_NAME_LENGTH + 65, pattern=SPEC_PATTERN)
    max_tokens: Int | None = Field(default=None, ge=1)
    temperature: Float | None = Field(default=None, ge=0, le=2)
    top_p: Float | None = Field(default=None, gt=0, le=1)
    seed: Int | None = None
    repetition_penalty: Float | None = Field(default=None, gt=0, le=10)
    frequency_penalty: Float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: Float | None = Field(default=None, ge=-2, le=2)
    stop: str | list[str] | None = None
    stream: Bool = False
    stream_options: StreamOptions | None = None
    n: Int | None = Field(default=None, ge=1, le=1)
    user: str | None = None

    @field_validator("max_tokens", "seed", "n", mode="before")
    @classmethod
    def _integral(cls, value: Any):
        return int(value) if isinstance(value, float) and value.is_integer() else value

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: Int | None = Field(default=None, ge=1)

    @field_validator("max_completion_tokens", mode="before")
    @classmethod
    def _integral_max(cls, value: Any):
        return int(value) if isinstance(value, float) and value.is_integer() else value

    reasoning_format: Literal["separate", "hidden", "inline"] | None = None


NonEmpty = Annotated[str, Field(min_length=1)]


class CompletionRequest(SamplingFields):
    prompt: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=1)] = Field(
        description="One prompt (a list of exactly one is accepted for compatibility)."
    )


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict | None = None


class Timings(BaseModel):
    """mlxk extension: how fast this request ran."""

    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    time_to_first_token_s: float
    cached_tokens: int
    peak_memory_bytes: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str
    reasoning: str | None = None
    reasoning_content: str | None = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    timings: Timings | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    timings: Timings | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    context_length: int | None = None
    capabilities: list[str] = []
    loaded: bool = False


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok", "loading", "degraded"]
    version: str
    model: str | None
    state: Literal["idle", "loading", "ready"]
    active_requests: int
    queued_requests: int
    pid: int
    memory_bytes: int
    prompt_cache_bytes: int | None = None
    generated_tokens: int | None = None
    worker_restarts: int | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
