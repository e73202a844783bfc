"""Prometheus metrics of one app: requests, spans written, write queue depth, commit latency.

Each app has its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "spanbase_http_requests",
            "HTTP requests answered, by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.spans_written = Counter(
            "spanbase_spans_written",
            "Spans committed to the store (resends included).",
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "spanbase_commit_seconds",
            "Duration of one group-commit transaction of the span writer.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "spanbase_write_queue_spans", "Spans waiting for the span writer.", registry=self.registry
        )
        self.queue_depth.set_function(queue_depth)

    def committed(self, spans: int, seconds: float) -> None:
        self.spans_written.inc(spans)
        self.commit_seconds.observe(seconds)
