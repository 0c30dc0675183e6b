"""Server logging: one line per request with its id; JSON lines with ``--log-json``."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

LOGGER = "mlxk.server"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(payload, ensure_ascii=False)


def uvicorn_log_config(level: str, json_lines: bool) -> dict:
    """A logging config for uvicorn and mlxk: plain or JSON lines, all on stderr."""
    formatter = (
        {"()": "mlxk.server.logs.JsonFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    loggers = {
        name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", LOGGER)
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": loggers,
    }


def log_request(request_id: str, method: str, path: str, status: int, started: float) -> None:
    logging.getLogger(LOGGER).info(
        "%s %s -> %s",
        method,
        path,
        status,
        extra={
            "fields": {
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        },
    )


def log_blas(choice: Any, decode_threads: Any) -> None:
    """The server's first line about speed: which BLAS mlx's matmuls use, and on how many
    threads it decodes (:class:`mlxk.engine.blas.DecodeThreads`)."""
    logger = logging.getLogger(LOGGER)
    if choice.warning:
        logger.warning("%s", choice.warning)
    suffix = ""
    if decode_threads is not None and len(decode_threads.candidates) > 1:
        counts = " or ".join(str(count) for count in decode_threads.candidates)
        suffix = f" (decode steps on {counts} threads, whichever the timings favour)"
    logger.info("%s%s", choice.reason, suffix, extra={"fields": {"blas": choice.path}})
