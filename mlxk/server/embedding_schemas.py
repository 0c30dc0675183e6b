"""The bodies of ``POST /v1/embeddings`` (pydantic), as ``schemas/api/embedding*.json`` say."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from mlxk.cache.naming import MAX_PATH_LENGTH, MODEL_PATTERN
from mlxk.server.schemas import integral

MAX_INPUTS = 2048  # inputs per request, as OpenAI allows
TokenId = Annotated[int, Strict(), Field(ge=0)]
Text = Annotated[str, Field(min_length=1)]
Tokens = Annotated[list[TokenId], Field(min_length=1)]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")
    model: str = Field(min_length=1, max_length=MAX_PATH_LENGTH, pattern=MODEL_PATTERN)
    input: (
        Text
        | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]
        | Tokens
        | Annotated[list[Tokens], Field(min_length=1, max_length=MAX_INPUTS)]
    ) = Field(
        description=f"A text, a list of texts, a list of token ids, or a list of those lists"
        f" (at most {MAX_INPUTS} inputs; none empty)."
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Strict(), Field(ge=1)] | None = Field(
        default=None, description="Cut each vector to this many and normalise it again."
    )
    user: str | None = None
    truncate: Annotated[bool, Strict()] = Field(
        default=False, description="mlxk extension: cut inputs over the model's length."
    )

    @field_validator("dimensions", mode="before")
    @classmethod
    def _integral_dimensions(cls, value: Any) -> Any:
        return integral(value)

    @field_validator("input", mode="before")
    @classmethod
    def _input(cls, value: Any) -> Any:
        """Say plainly what is wrong with an input (the union's own errors name its
        branches, not the problem)."""
        if isinstance(value, str):
            if not value:
                raise ValueError("is an empty string")
            return value
        if not isinstance(value, list):
            raise ValueError("must be a string, a list of strings or a list of token ids")
        if not value:
            raise ValueError("is an empty list")
        if len(value) > MAX_INPUTS:
            raise ValueError(f"has {len(value)} items; at most {MAX_INPUTS} per request")
        for i, item in enumerate(value):
            if (isinstance(item, str | list) and not item) or item is None:
                raise ValueError(f"item {i} is empty")
        # an integral 3.0 is a JSON Schema integer: a token id, as elsewhere in the API
        return integral(value)

    def inputs(self) -> list:
        """The inputs as a list of texts or a list of token-id lists."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if value and isinstance(value[0], int):
            return [list(value)]
        return list(value)


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # str: base64 of little-endian float32


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
