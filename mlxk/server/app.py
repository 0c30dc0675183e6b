"""``create_app(settings)``: the FastAPI application, with no module-level state."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlxk import __version__
from mlxk.errors import (
    InvalidModelName,
    InvalidRequest,
    MlxkError,
    Unauthorized,
    UnsupportedParameter,
)
from mlxk.server.logs import log_blas, log_request
from mlxk.server.manager import ModelManager
from mlxk.server.metrics import build_metrics_router
from mlxk.server.routes import build_router
from mlxk.server.schemas import UNSUPPORTED_FIELDS
from mlxk.server.web import build_web_router
from mlxk.settings import (
    SERVE_BATCH_WINDOW_MS,
    SERVE_MAX_CONCURRENCY,
    SERVE_PROMPT_CACHE,
    SERVE_QUEUE_SIZE,
    parse_bytes,
)

MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    hub_cache: Path
    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None
    max_tokens: int | None = None
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    keepalive_seconds: float = 10.0
    max_concurrency: int = SERVE_MAX_CONCURRENCY
    queue_size: int = SERVE_QUEUE_SIZE
    batch_window: float = SERVE_BATCH_WINDOW_MS / 1000  # seconds
    prompt_cache_bytes: int = parse_bytes(SERVE_PROMPT_CACHE)
    idle_unload: float | None = None
    memory_limit: int | None = None
    metrics: bool = False
    log_json: bool = False
    extra: dict = field(default_factory=dict)


def error_response(error: MlxkError, request_id: str | None = None) -> JSONResponse:
    body = {
        "error": {
            "message": error.message,
            "type": error.kind.openai_type,
            "param": error.param,
            "code": error.code,
        }
    }
    headers = {"X-Request-ID": request_id} if request_id else {}
    if error.details.get("retry_after") is not None:
        headers["Retry-After"] = str(error.details["retry_after"])
    return JSONResponse(body, status_code=error.kind.http_status, headers=headers)


def _param_of(loc) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or None


def create_app(settings: ServerSettings) -> FastAPI:
    from mlxk.engine.blas import DecodeThreads

    decode_threads = DecodeThreads.for_server()
    manager = ModelManager(
        settings.hub_cache,
        default_max_tokens=settings.max_tokens,
        max_concurrency=settings.max_concurrency,
        queue_size=settings.queue_size,
        cache_bytes=settings.prompt_cache_bytes,
        idle_unload=settings.idle_unload,
        memory_limit=settings.memory_limit,
        batch_window=settings.batch_window,
        decode_threads=decode_threads,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # A server will need the engine: import it now rather than on the first request.
        from mlxk.engine.blas import use_fast_blas
        from mlxk.engine.model import warm_up

        await asyncio.to_thread(warm_up)
        log_blas(use_fast_blas(), decode_threads)
        if settings.model:
            await manager.preload(settings.model)
        yield
        await manager.shutdown()

    app = FastAPI(
        title="mlxk",
        version=__version__,
        description="OpenAI-compatible server for MLX models in the Hugging Face cache.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.manager = manager
    app.state.started = int(time.time())

    @app.exception_handler(MlxkError)
    async def on_mlxk_error(request: Request, error: MlxkError):
        return error_response(error, getattr(request.state, "request_id", None))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        param = _param_of(first.get("loc", ()))
        message = first.get("msg", "invalid request")
        request_id = getattr(request.state, "request_id", None)
        top = (param or "").split(".")[0]
        if top in UNSUPPORTED_FIELDS or (top == "n" and first.get("type") != "int_parsing"):
            unsupported = UnsupportedParameter(
                f"'{top}' is not supported by mlxk" + (" (only n=1)" if top == "n" else ""),
                param=top,
            )
            return error_response(unsupported, request_id)
        if param == "model" and first.get("type") == "string_pattern_mismatch":
            bad = InvalidModelName(
                f"'{first.get('input')}' is not a model name (expected org/name)", param="model"
            )
            return error_response(bad, request_id)
        if first.get("type") == "json_invalid":
            message, param = "the body is not valid JSON", None
        elif first.get("type") == "extra_forbidden":
            message = f"unknown parameter '{param}'"
        else:
            message = f"{param}: {message}" if param else message
        return error_response(InvalidRequest(message, param=param), request_id)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        body = {
            "error": {
                "message": str(error.detail),
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
        return JSONResponse(body, status_code=error.status_code)

    app.include_router(build_router(settings, manager))
    app.include_router(build_web_router())
    if settings.metrics:
        app.include_router(build_metrics_router(manager))
    app.add_middleware(Guard, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    return app


class Guard:
    """Request id, body-size limit and API key for every request, and one log line each.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` would re-stream every
    SSE chunk through a memory channel, costing time on every token.
    """

    def __init__(self, app, settings: ServerSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        error = self._refusal(scope["path"], headers)
        if error is not None:
            await error_response(error, request_id)(scope, receive, send)
            log_request(request_id, scope["method"], scope["path"], error.kind.http_status, started)
            return
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in present):
                    message["headers"] = [*present, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_request(request_id, scope["method"], scope["path"], status, started)

    def _refusal(self, path: str, headers: dict) -> MlxkError | None:
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return InvalidRequest(f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
        key = self.settings.api_key
        if key and path.startswith("/v1") and headers.get("authorization", "") != f"Bearer {key}":
            return Unauthorized("missing or wrong API key (Authorization: Bearer …)")
        return None


def dumps(payload) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
