"""Prometheus metrics of one node, served at `GET /metrics` (text exposition format 0.0.4).

Each app has its own registry, so several nodes in one process (tests, a relay pair) do not
share or clash over counters. Labels are the method and the status code only: a label per
path would let any client create unbounded series.

    aonode_http_requests_total{method,status}        counter
    aonode_http_request_duration_seconds{method}     histogram
    aonode_http_requests_in_flight                    gauge
    process_* / python_*                              the standard process and runtime collectors
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

__all__ = ["CONTENT_TYPE", "METRICS_PATH", "Metrics"]

METRICS_PATH = "/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# From a cheap key lookup (~1 ms) to a slow compute; seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The counters of one node."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.requests = Counter(
            "aonode_http_requests", "HTTP requests answered, by method and status.",
            ["method", "status"], registry=self.registry,
        )
        self.duration = Histogram(
            "aonode_http_request_duration_seconds", "Time from request to the last byte of the reply.",
            ["method"], buckets=_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge(
            "aonode_http_requests_in_flight", "Requests being processed now.", registry=self.registry,
        )

    def observe(self, method: str, status: int, seconds: float) -> None:
        """Count one answered request; `method` must come from a fixed set (the server maps others to OTHER)."""
        self.requests.labels(method=method, status=str(status)).inc()
        self.duration.labels(method=method).observe(seconds)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
