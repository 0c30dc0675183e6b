"""``create_app(settings)``: the FastAPI application, with no module-level state."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlxk import __version__
from mlxk.errors import (
    HostNotAllowed,
    InternalError,
    InvalidModelName,
    InvalidRequest,
    MlxkError,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedParameter,
)
from mlxk.server.connections import guard_connections
from mlxk.server.embedding_routes import build_embeddings_router
from mlxk.server.logs import log_blas, log_request
from mlxk.server.manager import ModelManager
from mlxk.server.messages import anthropic_error, build_messages_router
from mlxk.server.messages_schemas import AnthropicError
from mlxk.server.metrics import build_metrics_router
from mlxk.server.responses import build_responses_router
from mlxk.server.routes import ERRORS, STREAMED, build_router
from mlxk.server.schemas import UNSUPPORTED_FIELDS
from mlxk.server.settings import ServerSettings
from mlxk.server.web import build_web_router

MAX_BODY_BYTES = 4 * 1024 * 1024
log = logging.getLogger("mlxk.server")


def speaks_anthropic(path: str) -> bool:
    """The Messages API answers errors in Anthropic's shape; every other path in OpenAI's."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def error_body(error: MlxkError, path: str = "", request_id: str | None = None) -> dict:
    if speaks_anthropic(path):
        return {**anthropic_error(error.kind.http_status, error.message), "request_id": request_id}
    detail: dict[str, str | None] = {
        "message": error.message,
        "type": error.kind.openai_type,
        "param": error.param,
        "code": error.code,
    }
    return {"error": detail}


def error_response(error: MlxkError, request_id: str | None = None, path: str = "") -> JSONResponse:
    body = error_body(error, path, request_id)
    headers = {"X-Request-ID": request_id} if request_id else {}
    if error.details.get("retry_after") is not None:
        headers["Retry-After"] = str(error.details["retry_after"])
    return JSONResponse(body, status_code=error.kind.http_status, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _param_of(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or None


def create_app(settings: ServerSettings, group: Any = None) -> FastAPI:
    from mlxk.engine.blas import DecodeThreads

    decode_threads = DecodeThreads.for_server()
    manager = ModelManager(settings, decode_threads=decode_threads, group=group)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # A server will need the engine: import it now rather than on the first request.
        from mlxk.engine.blas import use_fast_blas
        from mlxk.engine.model import warm_up

        await asyncio.to_thread(warm_up)
        guard_connections()  # after mlx-lm's import, which sets the descriptor limit
        log_blas(use_fast_blas(), decode_threads)
        if manager.preload_name:
            await manager.preload(manager.preload_name)
        if manager.group is not None:  # loaded: the supervisor's 503 stand-in gives way
            from mlxk.server.group import take_over_port

            await asyncio.to_thread(take_over_port, settings.host, settings.port)
        yield
        await manager.shutdown()

    app = FastAPI(
        title="mlxk",
        version=__version__,
        description="OpenAI-compatible server for MLX models in the Hugging Face cache.",
        lifespan=lifespan,
        # The interactive docs load their scripts from a CDN: nothing mlxk serves makes an
        # outside request. /openapi.json stays.
        docs_url=None,
        redoc_url=None,
    )
    app.state.manager = manager  # for the server runner (serving.py), which ends its jobs

    @app.exception_handler(MlxkError)
    async def on_mlxk_error(request: Request, error: MlxkError):
        return error_response(error, _request_id(request), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        param = _param_of(first.get("loc", ()))
        message = first.get("msg", "invalid request")
        request_id, path = _request_id(request), request.url.path
        top = (param or "").split(".")[0]
        if top in UNSUPPORTED_FIELDS:
            unsupported = UnsupportedParameter(f"'{top}' is not supported by mlxk", param=top)
            return error_response(unsupported, request_id, path)
        if param == "model" and first.get("type") == "string_pattern_mismatch":
            bad = InvalidModelName(
                f"'{first.get('input')}' is not a model name (expected org/name)", param="model"
            )
            return error_response(bad, request_id, path)
        if first.get("type") == "json_invalid":
            message, param = "the body is not valid JSON", None
        elif first.get("type") == "extra_forbidden":
            message = f"unknown parameter '{param}'"
        else:
            message = f"{param}: {message}" if param else message
        return error_response(InvalidRequest(message, param=param), request_id, path)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        if speaks_anthropic(request.url.path):
            body = anthropic_error(error.status_code, str(error.detail))
            return JSONResponse(body, error.status_code, headers=error.headers)
        body = {
            "error": {
                "message": str(error.detail),
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception):
        log.error("unexpected error on %s: %r", request.url.path, error, exc_info=error)
        internal = InternalError(f"{type(error).__name__}: {error}"[:300])
        return error_response(internal, _request_id(request), request.url.path)

    app.include_router(build_router(settings, manager))
    app.include_router(build_responses_router(settings, manager, {**ERRORS, **STREAMED}))
    anthropic_errors = {
        status: {**entry, "model": AnthropicError} for status, entry in ERRORS.items()
    }
    app.include_router(build_messages_router(settings, manager, {**anthropic_errors, **STREAMED}))
    app.include_router(build_embeddings_router(manager, ERRORS))
    app.include_router(build_web_router())
    if settings.metrics:
        app.include_router(build_metrics_router(manager))
    app.add_middleware(Guard, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "X-Api-Key",
                "Anthropic-Version",
                "Anthropic-Beta",
            ],
        )
    return app


class Guard:
    """Host check, API key, body-size limit and request id for every request, and one log
    line each.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` would re-stream every
    SSE chunk through a memory channel, costing time on every token. The body is read
    here, counting the bytes as they arrive, so a chunked upload is held to the same
    limit as one that declares its length.
    """

    def __init__(self, app: Any, settings: ServerSettings):
        self.app = app
        self.settings = settings
        self.hosts = allowed_hosts(settings)

    async def __call__(self, scope: dict, receive: Callable, send: Callable):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        error = self._refusal(scope["path"], headers)
        body = None
        if error is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body, error = await _read_body(receive)
            if body is None and error is None:
                return  # the client left while sending
        if error is not None:
            await error_response(error, request_id, scope["path"])(scope, receive, send)
            log_request(request_id, scope["method"], scope["path"], error.kind.http_status, started)
            return
        status = 500

        async def send_with_id(message: dict):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in present):
                    message["headers"] = [*present, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            log_request(request_id, scope["method"], scope["path"], status, started)

    def _refusal(self, path: str, headers: dict) -> MlxkError | None:
        if not host_allowed(headers.get("host"), self.hosts):
            return HostNotAllowed(
                f"Host '{headers.get('host', '')[:100]}' is not served here (DNS rebinding guard);"
                " start the server with --allowed-host to accept it"
            )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return PayloadTooLarge(f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
        key = self.settings.api_key
        if key and path.startswith("/v1") and not _key_matches(headers, key):
            return Unauthorized("missing or wrong API key (Authorization: Bearer … or x-api-key)")
        return None


async def _read_body(receive: Callable) -> tuple[bytes | None, MlxkError | None]:
    """The whole body, or an error once it passes the limit (None, None: client left)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None, PayloadTooLarge(f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes | None, receive: Callable):
    """A ``receive`` that gives the app the body read already, then the connection's own."""
    if body is None:
        return receive
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()

    return replay


def _key_matches(headers: dict, key: str) -> bool:
    """``Authorization: Bearer KEY`` (any case of the scheme) or ``x-api-key: KEY``."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        token = headers.get("x-api-key", "")
    return hmac.compare_digest(token.strip().encode(), key.encode())


LOOPBACK_NAMES = ("localhost",)


def allowed_hosts(settings: ServerSettings) -> frozenset[str] | None:
    """Host names a request may name (IP literals always pass); None accepts any."""
    extra = {h.strip().lower() for h in settings.allowed_hosts}
    if "*" in extra:
        return None
    return frozenset({*LOOPBACK_NAMES, settings.host.lower(), *extra})


def host_allowed(host: str | None, allowed: frozenset[str] | None) -> bool:
    """A browser page can only reach the server under a name it resolved (DNS rebinding),
    so an IP literal or a missing Host is safe; a name must be one the server was given."""
    if allowed is None or not host:
        return True
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    name = name.rstrip(".")
    return name in allowed or name.endswith(".localhost")
