"""``POST /v1/embeddings``: OpenAI's embeddings endpoint, on the server's model worker."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from mlxk.errors import Interrupted
from mlxk.server import embedding_schemas as api
from mlxk.server.embedder import EmbedRequest, EmbedResult
from mlxk.server.jobs import Ended, Failed, Piece, Refused

if TYPE_CHECKING:
    from mlxk.server.manager import ModelManager


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """A vector as OpenAI sends it: floats, or base64 of little-endian float32."""
    if encoding == "float":
        return vector
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def build_embeddings_router(manager: ModelManager, errors: dict) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/embeddings", response_model=api.EmbeddingList, responses=errors)
    async def embeddings(body: api.EmbeddingRequest, request: Request):
        from mlxk.server.routes import cancel_on_hang_up

        info = await manager.check_model(body.model, kind="embed")
        work = EmbedRequest(body.model, body.inputs(), body.dimensions, body.truncate)
        job = await manager.start(work, info=info)
        with cancel_on_hang_up(request, job):
            result = None
            while True:
                event = await job.next()
                if isinstance(event, Refused | Failed):
                    raise event.error
                if isinstance(event, Piece):
                    result = event.chunk
                if isinstance(event, Ended):
                    break
        if not isinstance(result, EmbedResult):
            raise Interrupted("the client disconnected")
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
            for i, v in enumerate(result.vectors)
        ]
        usage = {"prompt_tokens": result.tokens, "total_tokens": result.tokens}
        return {"object": "list", "data": data, "model": result.model, "usage": usage}

    return router
