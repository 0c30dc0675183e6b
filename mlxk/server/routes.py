"""The OpenAI-compatible routes. Thin: validate, hand to the model manager, shape output."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from mlxk import __version__
from mlxk.cache.info import describe
from mlxk.cache.naming import MAX_NAME_LENGTH, SPEC_PATTERN, resolve
from mlxk.cache.scan import scan
from mlxk.engine.reasoning import REASONING
from mlxk.errors import InternalError, Interrupted, MlxkError, ModelNotFound
from mlxk.server import schemas as api
from mlxk.server.manager import GenerationRequest, Job, ModelManager

REASONING_HEADER = "**[Reasoning]**\n\n"
ANSWER_AFTER_REASONING = "\n\n---\n\n**[Answer]**\n\n"

ERRORS = {
    400: {"model": api.ErrorBody, "description": "Invalid request (OpenAI error body)"},
    401: {"model": api.ErrorBody, "description": "Missing or wrong API key"},
    404: {"model": api.ErrorBody, "description": "Unknown model"},
    409: {"model": api.ErrorBody, "description": "Conflict"},
    413: {"model": api.ErrorBody, "description": "Request body over the limit"},
    503: {"model": api.ErrorBody, "description": "Busy or out of memory"},
}


# With "stream": true the 200 is a Server-Sent Events stream of chunk objects.
STREAMED = {
    200: {
        "description": "The completion; with stream=true, Server-Sent Events of chunks",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _sampling(body: api.SamplingFields) -> dict:
    params: dict = {"stop": body.stop_list(), "seed": body.seed}
    for name in (
        "temperature",
        "top_p",
        "repetition_penalty",
        "frequency_penalty",
        "presence_penalty",
    ):
        value = getattr(body, name)
        if value is not None:
            params[name] = value
    return params


def _timings(chunk) -> dict:
    t = chunk.timings
    return {
        "prefill_tokens_per_s": round(t.prefill_tokens_per_s, 2),
        "decode_tokens_per_s": round(t.decode_tokens_per_s, 2),
        "time_to_first_token_s": round(t.time_to_first_token_s, 4),
        "cached_tokens": chunk.usage.cached_tokens,
        "peak_memory_bytes": t.peak_memory_bytes,
    }


def _usage(usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


async def _first(job: Job):
    kind, value = await job.next()
    if kind == "end":  # cancelled before it started: its client left
        raise Interrupted("the client disconnected")
    if kind == "error":
        if isinstance(value, MlxkError):
            raise value
        raise InternalError(f"the request failed: {value}")
    return value


def _failure(error: Exception) -> MlxkError:
    """What a generation that failed midway tells its client."""
    if isinstance(error, MlxkError):
        return error
    return InternalError(f"generation failed: {type(error).__name__}: {error}")


@contextmanager
def _cancel_on_hang_up(request: Request, job: Job):
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


async def _collect(job: Job):
    texts = {"answer": [], REASONING: []}
    final = None
    while True:
        kind, value = await job.next()
        if kind == "end":
            if final is None and job.cancelled.is_set():
                raise Interrupted("the client disconnected")
            break
        if kind == "failed":
            raise _failure(value)
        texts[value.channel].append(value.text)
        if value.finish_reason is not None:
            final = value
    return "".join(texts["answer"]), "".join(texts[REASONING]) or None, final


def _sse(payload) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def build_router(settings, manager: ModelManager) -> APIRouter:
    router = APIRouter()

    @router.get("/health", response_model=api.Health)
    async def health():
        worker_ok = manager.check_worker()
        status = "loading" if manager.state == "loading" else "ok"
        return {
            "status": status if worker_ok else "degraded",
            "version": __version__,
            "model": manager.loaded_name,
            "state": manager.state,
            "active_requests": manager.active,
            "pid": os.getpid(),
            "queued_requests": manager.queued,
            "memory_bytes": manager.loaded_bytes,
            "prompt_cache_bytes": manager.prompt_cache_bytes,
            "generated_tokens": manager.metrics.generated_tokens,
            "worker_restarts": manager.metrics.worker_restarts,
        }

    def _card(info) -> dict:
        return {
            "id": info.name,
            "object": "model",
            "created": int(info.last_modified.timestamp()),
            "owned_by": info.name.split("/")[0],
            "context_length": info.context_length,
            "capabilities": list(info.capabilities),
            "loaded": info.name == manager.loaded_name,
        }

    # OpenAPI links (the listed ids feed the per-model route), for stateful API testing.
    model_links = {
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

    @router.get("/v1/models", response_model=api.ModelList, responses=model_links)
    async def list_models():
        infos = await asyncio.to_thread(
            lambda: [describe(repo) for repo in scan(settings.hub_cache)]
        )
        return {"object": "list", "data": [_card(i) for i in infos if i.runnable]}

    @router.get(
        "/v1/models/{model_id:path}",
        response_model=api.ModelCard,
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
        return _card(info)

    @router.post(
        "/v1/chat/completions",
        response_model=api.ChatCompletion,
        responses={**ERRORS, **STREAMED},
    )
    async def chat_completions(body: api.ChatCompletionRequest, request: Request):
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in body.messages
        ]
        params = _sampling(body)
        params["max_tokens"] = body.max_completion_tokens or body.max_tokens
        mode = body.reasoning_format or settings.extra.get("reasoning_format", "separate")
        params["split_reasoning"] = True
        job = await manager.start(GenerationRequest(body.model, messages, None, params))
        with _cancel_on_hang_up(request, job):
            prepared = await _first(job)
            ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
            if body.stream:
                include_usage = bool(body.stream_options and body.stream_options.include_usage)
                events = _chat_events(
                    job,
                    prepared.model,
                    ident,
                    created,
                    mode,
                    include_usage,
                    settings.keepalive_seconds,
                )
                return _streaming(events, job)
            answer, reasoning, final = await _collect(job)
        message = {"role": "assistant", "content": answer}
        if reasoning and mode == "separate":
            message.update(reasoning=reasoning, reasoning_content=reasoning)
        elif reasoning and mode == "inline":
            message["content"] = REASONING_HEADER + reasoning + ANSWER_AFTER_REASONING + answer
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": prepared.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": final.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(final.usage),
            "timings": _timings(final),
        }

    @router.post("/v1/completions", response_model=api.Completion, responses={**ERRORS, **STREAMED})
    async def completions(body: api.CompletionRequest, request: Request):
        prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
        params = _sampling(body)
        params["max_tokens"] = body.max_tokens
        params["split_reasoning"] = False
        job = await manager.start(GenerationRequest(body.model, None, prompt, params))
        with _cancel_on_hang_up(request, job):
            prepared = await _first(job)
            ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
            if body.stream:
                include_usage = bool(body.stream_options and body.stream_options.include_usage)
                events = _completion_events(
                    job, prepared.model, ident, created, include_usage, settings.keepalive_seconds
                )
                return _streaming(events, job)
            answer, _, final = await _collect(job)
        return {
            "id": ident,
            "object": "text_completion",
            "created": created,
            "model": prepared.model,
            "choices": [
                {"index": 0, "text": answer, "finish_reason": final.finish_reason, "logprobs": None}
            ],
            "usage": _usage(final.usage),
            "timings": _timings(final),
        }

    return router


def _streaming(events: AsyncIterator[str], job: Job) -> StreamingResponse:
    async def guarded():
        try:
            async for event in events:
                yield event
        finally:
            job.cancel()  # the client went away, or we are done: stop generating

    return StreamingResponse(
        guarded(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _chunks(job: Job, keepalive: float):
    """Yield chunks, or None when nothing came for ``keepalive`` seconds (prefill)."""
    while True:
        try:
            kind, value = await job.next(timeout=keepalive)
        except asyncio.TimeoutError:
            yield None
            continue
        if kind == "end":
            return
        if kind == "failed":
            raise _failure(value)
        yield value


class _Stream:
    """The shared shape of both SSE streams: one choice, then finish, usage and [DONE]."""

    def __init__(
        self,
        job: Job,
        ident: str,
        object_name: str,
        created: int,
        model: str,
        include_usage: bool,
        keepalive: float,
    ):
        self.job, self.ident, self.object, self.created = job, ident, object_name, created
        self.model, self.include_usage, self.keepalive = model, include_usage, keepalive

    def event(self, choice: dict | None, usage=None, timings=None) -> str:
        payload = {
            "id": self.ident,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [choice] if choice is not None else [],
        }
        if usage is not None:
            payload["usage"] = usage
        if timings is not None:
            payload["timings"] = timings
        return _sse(payload)

    async def run(self, body, choice):
        """``body(item)`` yields the choice payloads of one chunk; ``choice`` wraps them."""
        final = None
        try:
            ready: list[str] = []  # events of chunks that arrived together: one write
            async for item in _chunks(self.job, self.keepalive):
                if item is None:
                    yield ": keep-alive\n\n"
                    continue
                if item.finish_reason is not None:
                    final = item
                ready.extend(self.event(choice(part, None)) for part in body(item))
                if ready and self.job.queue.empty():
                    yield "".join(ready)
                    ready.clear()
            if ready:
                yield "".join(ready)
        except MlxkError as error:
            yield _sse(
                {
                    "error": {
                        "message": error.message,
                        "type": error.kind.openai_type,
                        "param": None,
                        "code": error.code,
                    }
                }
            )
            yield "data: [DONE]\n\n"
            return
        reason = final.finish_reason if final else "stop"
        yield self.event(choice(None, reason), timings=_timings(final) if final else None)
        if self.include_usage and final is not None:
            yield self.event(None, usage=_usage(final.usage))
        yield "data: [DONE]\n\n"


async def _chat_events(job, model, ident, created, mode, include_usage, keepalive):
    stream = _Stream(job, ident, "chat.completion.chunk", created, model, include_usage, keepalive)
    section = None

    def body(item):
        nonlocal section
        if not item.text or (item.channel == REASONING and mode == "hidden"):
            return
        if item.channel == REASONING and mode != "inline":
            yield {"reasoning": item.text, "reasoning_content": item.text}
            return
        prefix = ""
        if mode == "inline" and item.channel != section:
            prefix = (
                REASONING_HEADER
                if item.channel == REASONING
                else (ANSWER_AFTER_REASONING if section == REASONING else "")
            )
        section = item.channel
        yield {"content": prefix + item.text}

    def choice(delta, finish):
        return {
            "index": 0,
            "delta": delta if delta is not None else {},
            "finish_reason": finish,
            "logprobs": None,
        }

    yield stream.event(choice({"role": "assistant", "content": ""}, None))
    async for event in stream.run(body, choice):
        yield event


async def _completion_events(job, model, ident, created, include_usage, keepalive):
    stream = _Stream(job, ident, "text_completion", created, model, include_usage, keepalive)

    def body(item):
        if item.text:
            yield item.text

    def choice(text, finish):
        return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

    async for event in stream.run(body, choice):
        yield event
