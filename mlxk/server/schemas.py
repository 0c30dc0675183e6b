"""Request and response bodies of the OpenAI-compatible API (pydantic).

These models generate the server's OpenAPI; ``tests/test_api_contract.py`` checks that
they agree with the JSON Schemas in ``schemas/api/``, the contract's one source.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
)

from mlxk.cache.naming import MAX_PATH_LENGTH, MODEL_PATTERN
from mlxk.server.keep_alive import KeepAlive

# Fields OpenAI defines that mlxk does not implement: a request that turns them on gets a
# 400 naming the field, never a silent ignore (their "off" values are accepted: OffFields).
UNSUPPORTED_FIELDS = (
    "functions",
    "function_call",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
    "suffix",
    "echo",
    "best_of",
    "service_tier",
    "store",
    # the Responses and Messages APIs' (see their schemas)
    "previous_response_id",
    "include",
    "truncation",
    "background",
    "max_tool_calls",
    "conversation",
    "top_k",
)


class ResponseFormatText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]


class ResponseFormatJsonObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(default="response", max_length=64)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJsonSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema,
    Field(discriminator="type"),
]

FunctionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class ToolChoiceFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: NamedFunction


class CalledFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: str


class ToolCallIn(BaseModel):
    """A call an earlier assistant turn made (sent back with the conversation)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = Field(
        default=None,
        description="Text; null or left out only in an assistant turn that made tool calls.",
    )
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
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


def integral(value: Any) -> Any:
    """An integral float (``3.0``) as the integer it is (in lists too): JSON Schema counts
    it an integer, and clients send it."""
    if isinstance(value, list):
        return [integral(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class OffFields(BaseModel):
    """Fields mlxk does not implement, declared with only their "off" values, which real
    clients send by default (``null``, ``false``, ``[]``, ``"none"``, ``{"type": "text"}``):
    those are the default, anything else is a 400 naming the field."""

    functions: Off | None = None
    function_call: Literal["none", "auto"] | None = None
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
    model: str = Field(min_length=1, max_length=MAX_PATH_LENGTH, pattern=MODEL_PATTERN)
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
    n: Int | None = Field(default=None, ge=1, le=128)
    user: str | None = None
    response_format: ResponseFormat | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = Field(
        default=None, description="Token id (as a string) -> bias added to its logit."
    )
    keep_alive: KeepAlive = None

    # (the last three are the subclasses' fields: hence check_fields=False)
    @field_validator(
        "max_tokens",
        "seed",
        "n",
        "max_completion_tokens",
        "top_logprobs",
        "logprobs",
        mode="before",
        check_fields=False,
    )
    @classmethod
    def _integral(cls, value: Any):
        return integral(value)

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: Int | None = Field(default=None, ge=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
    logprobs: Bool | None = None
    top_logprobs: Int | None = Field(default=None, ge=0, le=20)

    reasoning_format: Literal["separate", "hidden", "inline"] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


NonEmpty = Annotated[str, Field(min_length=1)]


class CompletionRequest(SamplingFields):
    prompt: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=1)] = Field(
        description="One prompt (a list of exactly one is accepted for compatibility)."
    )
    logprobs: Int | None = Field(default=None, ge=0, le=5)


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
    weights: str | None = None  # "float32 copy of 4bit" (on a CPU), or as stored
    collective_seconds: float | None = None  # --hosts: time in the group's step exchange


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"]
    function: CalledFunction


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    reasoning: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallOut] | None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls"]
    logprobs: ChoiceLogprobs | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    timings: Timings | None = None


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: CompletionLogprobs | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    timings: Timings | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
