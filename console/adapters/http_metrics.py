"""Backend side of the Traffic pane: export the metric names the console (and the seeds) read.

`http_requests_total{method,route,status_code}` and the `http_request_duration_seconds` histogram, in a
registry of their own so a service embedding this never collides with its global metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status_code")
        self.requests = Counter("http_requests_total", "HTTP requests", labels, registry=self.registry)
        self.duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration", labels, buckets=BUCKETS, registry=self.registry
        )

    def observe(self, method: str, route: str, status_code: int, seconds: float) -> None:
        labels = (method, route, str(status_code))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
