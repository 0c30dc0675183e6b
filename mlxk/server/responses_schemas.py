"""Request and response bodies of OpenAI's Responses API (``POST /v1/responses``).

mlxk keeps no responses: ``store`` is taken only as false and ``previous_response_id``
is refused, so a client sends the whole conversation as ``input`` items. Fields for
features mlxk does not have are declared with their "off" values only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from mlxk.cache.naming import MAX_PATH_LENGTH, MODEL_PATTERN
from mlxk.server.keep_alive import KeepAlive
from mlxk.server.schemas import Bool, Float, FunctionName, Int, integral

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class Part(BaseModel):
    """A content part: ``input_text``/``output_text`` (text) or ``refusal``; any other
    type (images, files, audio) is refused by name when the input is read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None
    refusal: str | None = None


class MessageItem(BaseModel):
    model_config = ConfigDict(extra="ignore")  # replayed output carries id, status…
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]


class FunctionCallItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str
    arguments: str


class FunctionCallOutputItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str | list[Part]


class ReasoningText(BaseModel):
    type: str
    text: str = ""


class ReasoningItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["reasoning"]
    content: list[ReasoningText] | None = None
    summary: list[ReasoningText] = []


class OtherItem(BaseModel):
    """An item of a type mlxk cannot take (refused by name when the input is read)."""

    model_config = ConfigDict(extra="allow")
    type: str


KNOWN_ITEMS = ("message", "function_call", "function_call_output", "reasoning")


def _item_kind(value: Any) -> str:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", "")
    return kind if kind in KNOWN_ITEMS else "other"


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(_item_kind),
]


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="allow")  # another type of tool is refused by name
    type: str
    name: FunctionName | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(default=None, max_length=64)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: TextFormat | None = None
    verbosity: Literal["medium"] | None = None


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effort: Effort | None = None
    # mlxk returns the reasoning itself (reasoning_text), never a summary of it
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_obfuscation: bool | None = None


class ResponseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")
    model: str = Field(min_length=1, max_length=MAX_PATH_LENGTH, pattern=MODEL_PATTERN)
    input: str | list[InputItem] = Field(description="A message, or items; not empty.")
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedTool | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: Int | None = Field(default=None, ge=1)
    temperature: Float | None = Field(default=None, ge=0, le=2)
    top_p: Float | None = Field(default=None, gt=0, le=1)
    reasoning: ReasoningConfig | None = None
    stream: Bool = False
    stream_options: StreamOptions | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None  # mlxk's prompt cache needs no key
    service_tier: Literal["auto", "default"] | None = None
    # stateless: nothing is stored, so nothing can be continued
    store: Literal[False] | None = None
    previous_response_id: str | None = None  # refused with a reason when set
    # reasoning comes back as plain text, replayed as it is: there is nothing to encrypt
    include: list[Literal["reasoning.encrypted_content"]] | None = None
    truncation: Literal["disabled"] | None = None
    background: Literal[False] | None = None
    top_logprobs: Literal[0] | None = None
    max_tool_calls: None = None
    keep_alive: KeepAlive = None
    prompt: None = None
    conversation: None = None

    _integral = field_validator("max_output_tokens", mode="before")(integral)


class OutputText(BaseModel):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]
    logprobs: list[Any] = []


class OutputMessage(BaseModel):
    type: Literal["message"]
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"]
    content: list[OutputText]


class OutputFunctionCall(BaseModel):
    type: Literal["function_call"]
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]


class OutputReasoning(BaseModel):
    type: Literal["reasoning"]
    id: str
    summary: list[ReasoningText]
    content: list[ReasoningText]
    status: Literal["in_progress", "completed", "incomplete"]


OutputItem = Annotated[
    OutputMessage | OutputFunctionCall | OutputReasoning, Field(discriminator="type")
]


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens: int
    output_tokens_details: dict[str, int]
    total_tokens: int


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"]
    created_at: int
    completed_at: int | None = None
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    model: str
    output: list[OutputItem]
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    text: dict[str, Any]
    reasoning: dict[str, Any]
    store: bool
    previous_response_id: None = None
    metadata: dict[str, str]
    truncation: Literal["disabled"]
    user: str | None = None
    usage: ResponseUsage | None = None
    timings: dict[str, Any] | None = None  # mlxk extension, as in chat completions
