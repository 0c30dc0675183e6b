"""The OpenAI-compatible routes. Thin: validate, hand to the model manager, shape output."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from mlxk import __version__
from mlxk.cache.folder import folder_repo, folders_under
from mlxk.cache.info import describe
from mlxk.cache.naming import MAX_NAME_LENGTH, SPEC_PATTERN, resolve
from mlxk.cache.scan import scan
from mlxk.engine.reasoning import ANSWER_AFTER_REASONING, REASONING_HEADER
from mlxk.errors import InvalidRequest, ModelNotFound
from mlxk.server import schemas as api
from mlxk.server import status_schemas
from mlxk.server.jobs import GenerationRequest, Job, Prepared
from mlxk.server.manager import ModelManager
from mlxk.server.requests import chat_messages, chat_sampling, sampling_of
from mlxk.server.sse import (
    Folded,
    Stream,
    chat_events,
    chat_logprob,
    collect,
    completion_events,
    completion_logprobs,
    first,
    streaming,
    timings_of,
    tool_call_of,
    usage_of,
)

if TYPE_CHECKING:
    from mlxk.cache.info import ModelInfo
    from mlxk.server.settings import ServerSettings

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": api.ErrorBody, "description": "Invalid request (OpenAI error body)"},
    401: {"model": api.ErrorBody, "description": "Missing or wrong API key"},
    403: {"model": api.ErrorBody, "description": "A model folder outside --model-dir"},
    404: {"model": api.ErrorBody, "description": "Unknown model"},
    409: {"model": api.ErrorBody, "description": "Conflict"},
    413: {"model": api.ErrorBody, "description": "Request body over the limit"},
    503: {"model": api.ErrorBody, "description": "Busy or out of memory"},
}


# With "stream": true the 200 is a Server-Sent Events stream of chunk objects.
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The completion; with stream=true, Server-Sent Events of chunks",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@contextmanager
def cancel_on_hang_up(request: Request, job: Job) -> Iterator[None]:
    """Stop a job's generation if its client disconnects before the response starts.

    A streamed response watches for that itself once it runs (Starlette); a client waiting
    for a whole answer, or still queued, is only seen leaving by reading its connection.
    """

    async def watch():
        while (await request.receive())["type"] != "http.disconnect":
            pass
        job.cancel()

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()


def _answer(ident: str, kind: str, created: int, model: str, choices: list[dict]) -> dict:
    """A whole answer in OpenAI's shape: each choice (content, finish reason, logprobs),
    with usage over all of them and the timings of the last.

    ``choices`` are (content fields, folded answer, logprobs) as dicts with those keys."""
    finals = [c["folded"].final for c in choices]
    return {
        "id": ident,
        "object": kind,
        "created": created,
        "model": model,
        "choices": [
            {
                "index": i,
                **c["content"],
                "finish_reason": c["folded"].final.finish_reason,
                "logprobs": c["logprobs"],
            }
            for i, c in enumerate(choices)
        ],
        "usage": usage_of(*(f.usage for f in finals)),
        "timings": timings_of(finals[-1]),
    }


def _chat_choice(folded: Folded, mode: str, logprobs: bool) -> dict:
    """One chat choice: its message (reasoning as ``mode`` says, tool calls) and logprobs."""
    answer, reasoning = folded.answer, folded.reasoning
    message: dict = {"role": "assistant", "content": answer}
    if reasoning and mode == "separate":
        message.update(reasoning=reasoning, reasoning_content=reasoning)
    elif reasoning and mode == "inline":
        message["content"] = REASONING_HEADER + reasoning + ANSWER_AFTER_REASONING + answer
    if folded.tool_calls:
        message["tool_calls"] = [tool_call_of(call) for call in folded.tool_calls]
        message["content"] = message["content"] or None
    scored = {"content": [chat_logprob(e) for e in folded.logprobs]} if logprobs else None
    return {"content": {"message": message}, "folded": folded, "logprobs": scored}


def _choices(body: api.SamplingFields, manager: ModelManager) -> int:
    """How many choices a request asks for: no more than the batch can decode at once."""
    n = body.n or 1
    if n > manager.max_concurrency:
        raise InvalidRequest(
            f"n is {n}, more than this server decodes at once"
            f" (--max-concurrency {manager.max_concurrency})",
            param="n",
        )
    return n


def build_router(settings: ServerSettings, manager: ModelManager) -> APIRouter:
    router = APIRouter()

    @router.get("/health", response_model=status_schemas.Health)
    async def health(response: Response):
        worker_ok = manager.check_worker()
        status = "loading" if manager.state == "loading" else "ok"
        group = manager.group.describe() if manager.group is not None else None
        if group is not None and group["reason"] is not None:
            worker_ok = False
            response.status_code = 503
        return {
            "status": status if worker_ok else "degraded",
            "version": __version__,
            "model": manager.loaded_name,
            "state": manager.state,
            "active_requests": manager.active,
            "pid": os.getpid(),
            "queued_requests": manager.queued,
            "memory_bytes": manager.loaded_bytes,
            "embedding_model": manager.embedding_model,
            "prompt_cache_bytes": manager.prompt_cache_bytes,
            "generated_tokens": manager.metrics.generated_tokens,
            "worker_restarts": manager.metrics.worker_restarts,
            "models": manager.resident_models(),
            "max_models": manager.max_models,
            "memory_budget_bytes": manager.memory_budget,
            "loads": manager.residents.loads,
            "evictions": asdict(manager.residents.evictions),
            "group": group,
        }

    def _card(info: ModelInfo, resident: dict[str, dict]) -> dict:
        return {
            "id": info.name,
            "object": "model",
            "created": int(info.last_modified.timestamp()),
            "owned_by": info.name.split("/")[0],
            "context_length": info.context_length,
            "capabilities": list(info.capabilities),
            "type": info.model_type,
            "loaded": info.name in resident,
            "resident": resident.get(info.name),
            "group": manager.group.describe()
            if manager.group is not None and info.name in resident
            else None,
        }

    # OpenAPI links (the listed ids feed the per-model route), for stateful API testing.
    model_links: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The cached models mlx-lm can run",
            "links": {
                "GetFirstModel": {
                    "operationId": "get_model",
                    "parameters": {"model_id": "$response.body#/data/0/id"},
                }
            },
        }
    }

    @router.get("/v1/models", response_model=status_schemas.ModelList, responses=model_links)
    async def list_models():
        def described() -> list[ModelInfo]:
            folders = [folder_repo(str(path))[0] for path in folders_under(manager.roots)]
            return [describe(repo) for repo in [*scan(settings.hub_cache), *folders]]

        infos = await asyncio.to_thread(described)
        resident = {entry["name"]: entry for entry in manager.resident_models()}
        return {"object": "list", "data": [_card(i, resident) for i in infos if i.runnable]}

    @router.get(
        "/v1/models/{model_id:path}",
        response_model=status_schemas.ModelCard,
        responses=ERRORS,
        operation_id="get_model",
    )
    async def get_model(
        # parse_spec checks the pattern (with its lookahead, which FastAPI cannot run)
        model_id: Annotated[
            str,
            Path(max_length=MAX_NAME_LENGTH + 65, json_schema_extra={"pattern": SPEC_PATTERN}),
        ],
    ):
        resolved = resolve(settings.hub_cache, model_id)
        info = describe(resolved.repo, resolved.snapshot)
        if not info.runnable:
            raise ModelNotFound(f"{info.name} is cached but cannot be served: {info.reason}")
        return _card(info, {entry["name"]: entry for entry in manager.resident_models()})

    @router.post(
        "/v1/chat/completions",
        response_model=api.ChatCompletion,
        responses={**ERRORS, **STREAMED},
    )
    async def chat_completions(body: api.ChatCompletionRequest, request: Request):
        await manager.check_model(body.model)
        sampling = chat_sampling(body)
        n = _choices(body, manager)
        mode = body.reasoning_format or settings.reasoning_format
        generation = GenerationRequest(
            body.model, chat_messages(body), None, sampling, n=n, keep_alive=body.keep_alive
        )
        job = await manager.start(generation)
        scored = sampling.logprobs is not None
        with cancel_on_hang_up(request, job):
            prepared = await first(job)
            ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
            if body.stream:
                stream = _stream(job, ident, "chat.completion.chunk", created, prepared, body, n)
                return streaming(chat_events(stream, mode, scored), job)
            folded = await collect(job, n)
        choices = [_chat_choice(f, mode, scored) for f in folded]
        return _answer(ident, "chat.completion", created, prepared.model, choices)

    @router.post("/v1/completions", response_model=api.Completion, responses={**ERRORS, **STREAMED})
    async def completions(body: api.CompletionRequest, request: Request):
        prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
        await manager.check_model(body.model)
        sampling = sampling_of(body, body.max_tokens, split=False)
        n = _choices(body, manager)
        if body.logprobs is not None:
            sampling = replace(sampling, logprobs=body.logprobs)
        generation = GenerationRequest(
            body.model, None, prompt, sampling, n=n, keep_alive=body.keep_alive
        )
        job = await manager.start(generation)
        scored = sampling.logprobs is not None
        with cancel_on_hang_up(request, job):
            prepared = await first(job)
            ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
            if body.stream:
                stream = _stream(job, ident, "text_completion", created, prepared, body, n)
                return streaming(completion_events(stream, scored), job)
            folded = await collect(job, n)
        choices = [
            {
                "content": {"text": f.answer},
                "folded": f,
                "logprobs": completion_logprobs(f.logprobs) if scored else None,
            }
            for f in folded
        ]
        return _answer(ident, "text_completion", created, prepared.model, choices)

    def _stream(
        job: Job,
        ident: str,
        kind: str,
        created: int,
        prepared: Prepared,
        body: api.SamplingFields,
        n: int,
    ) -> Stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return Stream(
            job, ident, kind, created, prepared.model, include_usage, settings.keepalive_seconds, n
        )

    return router
