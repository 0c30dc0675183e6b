"""What the server says of itself (pydantic): ``/health`` and ``/v1/models``, with the
loaded models and, under ``serve --hosts``, the group they are sharded over.

As the request and response bodies (:mod:`mlxk.server.schemas`), these generate the
OpenAPI that ``tests/test_api_contract.py`` checks against ``schemas/api/``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ResidentModel(BaseModel):
    """A loaded model (mlxk extension)."""

    name: str
    kind: Literal["chat", "embedding"]
    state: Literal["loading", "ready", "unloaded"]
    memory_bytes: int
    requests_in_flight: int
    idle_seconds: float
    keep_alive: float | None = Field(
        default=None, description="The last request's keep_alive in seconds; -1: kept loaded."
    )
    weights: str | None = None  # "float32 copy of 4bit", or as stored ("4bit", "bf16")
    weights_reason: str | None = None  # why (--cpu-float32)


class GroupRank(BaseModel):
    rank: int
    host: str
    memory_bytes: int | None = None  # the parameters this rank holds


class GroupInfo(BaseModel):
    """The distributed group a model is sharded over (mlxk extension, serve --hosts)."""

    size: int
    backend: str
    sharding: Literal["tensor", "pipeline"]
    ranks: list[GroupRank]
    collective_seconds: float = Field(
        description="Time rank 0 spent in the group's step exchange (waiting for and"
        " sending to the other ranks), outside the layers' own collectives"
    )
    steps: int
    reason: str | None = None  # why it is degraded, when it is


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    context_length: int | None = None
    capabilities: list[str] = []
    type: str | None = None  # chat | base | embedding (mlxk extension)
    loaded: bool = False
    resident: ResidentModel | None = None  # how it is loaded, when it is (mlxk extension)
    group: GroupInfo | None = None  # the group it is sharded over (mlxk extension)


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
    embedding_model: str | None = None
    prompt_cache_bytes: int | None = None
    generated_tokens: int | None = None
    worker_restarts: int | None = None
    models: list[ResidentModel] = []
    max_models: int | None = None
    memory_budget_bytes: int | None = None
    loads: int | None = None
    evictions: Evictions | None = None
    group: GroupInfo | None = None  # serve --hosts: the group and each rank's memory


class Evictions(BaseModel):
    max_models: int
    memory: int
    last: dict[str, str] | None = None
