"""``GET /metrics`` in the Prometheus text format (only with ``--metrics``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DECODE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


def _histogram(name: str, help_text: str, samples: list[float], buckets) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for bound in buckets:
        count = sum(1 for s in samples if s <= bound)
        lines.append(f'{name}_bucket{{le="{bound}"}} {count}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {len(samples)}')
    lines.append(f"{name}_sum {sum(samples):.6f}")
    lines.append(f"{name}_count {len(samples)}")
    return lines


def render(manager) -> str:
    m = manager.metrics
    counters = (
        ("mlxk_requests_total", "Generation requests received.", m.requests),
        ("mlxk_requests_completed_total", "Generations that finished.", m.completed),
        ("mlxk_request_errors_total", "Requests that failed before generating.", m.errors),
        ("mlxk_prompt_tokens_total", "Prompt tokens of finished requests.", m.prompt_tokens),
        ("mlxk_completion_tokens_total", "Tokens generated.", m.completion_tokens),
    )
    lines: list[str] = []
    for name, help_text, value in counters:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]
    gauges = (
        ("mlxk_queue_depth", "Requests waiting to join the batch.", manager.queued),
        ("mlxk_active_requests", "Requests running or queued.", manager.active),
        ("mlxk_model_memory_bytes", "Estimated bytes of the loaded model.", manager.loaded_bytes),
        ("mlxk_prompt_cache_bytes", "Bytes held by the prompt cache.", manager.prompt_cache_bytes),
    )
    for name, help_text, value in gauges:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
    lines += _histogram(
        "mlxk_time_to_first_token_seconds",
        "Time to first token.",
        list(m.ttft_seconds),
        TTFT_BUCKETS,
    )
    lines += _histogram(
        "mlxk_decode_tokens_per_second",
        "Decode speed per request.",
        list(m.decode_tokens_per_s),
        DECODE_BUCKETS,
    )
    return "\n".join(lines) + "\n"


def build_metrics_router(manager) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    async def metrics():
        return PlainTextResponse(render(manager), media_type="text/plain; version=0.0.4")

    return router
