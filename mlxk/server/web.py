"""The chat page: one static HTML page with its script and style, served by the server."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

# The page talks to this server only: no inline script, no third-party anything.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_ASSETS = {
    "chat.html": "text/html; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
}


def build_web_router() -> APIRouter:
    static = resources.files("mlxk.server") / "static"
    assets = {name: (static / name).read_bytes() for name in _ASSETS}
    router = APIRouter(include_in_schema=False)

    def serve(name: str) -> Response:
        return Response(
            assets[name],
            media_type=_ASSETS[name],
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-cache",
            },
        )

    @router.get("/")
    @router.get("/chat")
    def page() -> Response:
        return serve("chat.html")

    @router.get("/static/chat.js")
    def script() -> Response:
        return serve("chat.js")

    @router.get("/static/chat.css")
    def style() -> Response:
        return serve("chat.css")

    return router
