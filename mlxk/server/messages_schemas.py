"""Request and response bodies of Anthropic's Messages API (``POST /v1/messages``).

``cache_control`` marks are taken and need nothing: mlxk's prompt cache reuses every
prefix it has seen. Block and tool types mlxk cannot take (images, documents, server
tools) are refused by name when the request is read, in Anthropic's error shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from mlxk.cache.naming import MAX_PATH_LENGTH, MODEL_PATTERN
from mlxk.server.keep_alive import KeepAlive
from mlxk.server.schemas import Bool, Float, Int, integral

CacheControl = dict[str, Any] | None


class TextBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str
    cache_control: CacheControl = None
    citations: Annotated[list, Field(max_length=0)] | None = None


class ToolUseBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str
    input: dict[str, Any]
    cache_control: CacheControl = None


class ToolResultBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: str | list[TextBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl = None


class ThinkingBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class OtherBlock(BaseModel):
    """A block of a type mlxk cannot take (refused by name when the request is read)."""

    model_config = ConfigDict(extra="allow")
    type: str


KNOWN_BLOCKS = ("text", "tool_use", "tool_result", "thinking")


def _block_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in KNOWN_BLOCKS else "other"


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_block_kind),
]


class MessageParam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ToolParam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str | None = None  # "custom" or left out; a server tool is refused by name
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl = None
    strict: bool | None = None


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: Int | None = Field(default=None, ge=1024)
    display: Literal["summarized", "omitted"] | None = None

    _integral = field_validator("budget_tokens", mode="before")(integral)


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: OutputFormat | None = None
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = None


class PromptFields(BaseModel):
    """What a prompt is made of: shared by a message and a token count."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")
    model: str = Field(min_length=1, max_length=MAX_PATH_LENGTH, pattern=MODEL_PATTERN)
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    cache_control: CacheControl = None


class MessageRequest(PromptFields):
    max_tokens: Int = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: Float | None = Field(default=None, ge=0, le=1)
    top_p: Float | None = Field(default=None, gt=0, le=1)
    top_k: None = None
    stream: Bool = False
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    keep_alive: KeepAlive = None

    _integral = field_validator("max_tokens", mode="before")(integral)


class CountTokensRequest(PromptFields):
    pass


class AnthropicUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class MessageResponse(BaseModel):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[dict[str, Any]]
    stop_reason: Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]
    stop_sequence: str | None
    usage: AnthropicUsage
    timings: dict[str, Any] | None = None  # mlxk extension, as in chat completions


class TokenCount(BaseModel):
    input_tokens: int


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicError(BaseModel):
    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = None
