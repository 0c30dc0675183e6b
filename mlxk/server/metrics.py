"""What a server counts, and ``GET /metrics`` in the Prometheus text format (``--metrics``).

Counters and histograms are cumulative from the server's start, through
``prometheus_client`` (one registry per app, no global state); ``/health`` reads the
same counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from mlxk.engine.generate import Chunk

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DECODE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


class Metrics:
    """Counts kept by the model worker; each is only ever added to."""

    def __init__(self) -> None:
        self.requests = 0
        self.completed = 0
        self.errors = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.generated_tokens = 0  # every token decoded, for requests finished or cancelled
        self.worker_restarts = 0
        self.model_tokens: dict[str, int] = {}  # generated_tokens by model
        self.model_loads: dict[str, int] = {}  # chat model loads by model
        self.registry = CollectorRegistry()
        self._ttft = Histogram(
            "mlxk_time_to_first_token_seconds",
            "Time to first token.",
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self._decode = Histogram(
            "mlxk_decode_tokens_per_second",
            "Decode speed per request.",
            buckets=DECODE_BUCKETS,
            registry=self.registry,
        )

    def generated(self, model: str) -> None:
        """One token decoded by ``model``."""
        self.generated_tokens += 1
        self.model_tokens[model] = self.model_tokens.get(model, 0) + 1

    def loaded(self, model: str) -> None:
        self.model_loads[model] = self.model_loads.get(model, 0) + 1

    def finished(self, chunk: Chunk, choice: int = 0) -> None:
        """A generation's last chunk (``engine.generate.Chunk``): count it and its tokens
        (a request's later choices share its prompt: counted once)."""
        assert chunk.usage is not None and chunk.timings is not None, "a last chunk"
        self.completed += 1
        self.prompt_tokens += chunk.usage.prompt_tokens if choice == 0 else 0
        self.completion_tokens += chunk.usage.completion_tokens
        self._ttft.observe(chunk.timings.time_to_first_token_s)
        self._decode.observe(chunk.timings.decode_tokens_per_s)


class _Collector:
    """The manager's counts and gauges, read when /metrics is scraped."""

    def __init__(self, manager: Any):
        self.manager = manager

    def collect(self):
        manager, m = self.manager, self.manager.metrics
        counters = (
            ("mlxk_requests", "Generation requests received.", m.requests),
            ("mlxk_requests_completed", "Generations that finished.", m.completed),
            ("mlxk_request_errors", "Requests that failed before generating.", m.errors),
            ("mlxk_prompt_tokens", "Prompt tokens of finished requests.", m.prompt_tokens),
            ("mlxk_completion_tokens", "Tokens of finished requests.", m.completion_tokens),
            (
                "mlxk_generated_tokens",
                "Tokens decoded, cancelled requests too.",
                m.generated_tokens,
            ),
        )
        for name, help_text, value in counters:
            yield CounterMetricFamily(name, help_text, value=value)
        gauges = (
            ("mlxk_queue_depth", "Requests waiting to join the batch.", manager.queued),
            ("mlxk_active_requests", "Requests running or queued.", manager.active),
            (
                "mlxk_model_memory_bytes",
                "Estimated bytes of the loaded model.",
                manager.loaded_bytes,
            ),
            (
                "mlxk_prompt_cache_bytes",
                "Bytes held by the prompt cache.",
                manager.prompt_cache_bytes,
            ),
        )
        for name, help_text, value in gauges:
            yield GaugeMetricFamily(name, help_text, value=value)
        yield from self._per_model(manager)
        if manager.group is not None:
            yield from self._group(manager.group.describe())

    @staticmethod
    def _group(group: dict):
        """A distributed group's collective time and each rank's share of the model."""
        yield CounterMetricFamily(
            "mlxk_group_collective_seconds",
            "Seconds rank 0 spent in the group's step exchange (waiting for and sending to"
            " the other ranks), outside the layers' own collectives.",
            value=group["collective_seconds"],
        )
        yield CounterMetricFamily(
            "mlxk_group_steps", "Steps rank 0 shared with the group.", value=group["steps"]
        )
        ranks = GaugeMetricFamily(
            "mlxk_group_rank_memory_bytes",
            "Bytes of the model's parameters each rank holds.",
            labels=["rank", "host"],
        )
        for rank in group["ranks"]:
            ranks.add_metric([str(rank["rank"]), rank["host"]], rank["memory_bytes"] or 0)
        yield ranks

    @staticmethod
    def _per_model(manager: Any):
        """Counts and gauges of each model, labelled ``model``."""
        m = manager.metrics
        tokens = CounterMetricFamily(
            "mlxk_model_generated_tokens", "Tokens decoded, by model.", labels=["model"]
        )
        for model, count in sorted(m.model_tokens.items()):
            tokens.add_metric([model], count)
        loads = CounterMetricFamily("mlxk_model_loads", "Chat model loads.", labels=["model"])
        for model, count in sorted(m.model_loads.items()):
            loads.add_metric([model], count)
        gauges = {
            "memory_bytes": ("mlxk_resident_model_bytes", "Estimated bytes of a loaded model."),
            "requests_in_flight": ("mlxk_resident_model_requests", "Requests running on it."),
            "idle_seconds": ("mlxk_resident_model_idle_seconds", "Seconds since its last use."),
        }
        families = {
            key: GaugeMetricFamily(name, text, labels=["model", "kind"])
            for key, (name, text) in gauges.items()
        }
        for entry in manager.resident_models():
            for key, family in families.items():
                family.add_metric([entry["name"], entry["kind"]], entry[key])
        yield tokens
        yield loads
        yield from families.values()


def build_metrics_router(manager: Any) -> APIRouter:
    router = APIRouter()
    registry = manager.metrics.registry
    registry.register(_Collector(manager))

    @router.get("/metrics", include_in_schema=False)
    async def metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
