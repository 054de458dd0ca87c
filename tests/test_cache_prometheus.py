"""Per-namespace cache hit ratios from Prometheus `cache_hits_total` / `cache_misses_total{namespace}`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from console.adapters.prometheus import NamespaceQuery
from console.config import PrometheusConfig
from tests.fixtures.prometheus_server import PrometheusServer, ScrapeTarget, find_prometheus, requires_prometheus

# Per second: users 90 hits / 10 misses (90 %), sessions 30 / 70 (30 %).
SHAPE = {"users": (90, 10), "sessions": (30, 70)}


class CacheExporter:
    """Serves cache counters that grow at a fixed rate from a thread of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hits = Counter("cache_hits", "hits", ["namespace"], registry=self.registry)
        self.misses = Counter("cache_misses", "misses", ["namespace"], registry=self.registry)
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=self._grow, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def _grow(self) -> None:
        while not self.stop.wait(0.1):
            for namespace, (hits, misses) in SHAPE.items():
                self.hits.labels(namespace).inc(hits / 10)
                self.misses.labels(namespace).inc(misses / 10)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    find_prometheus()
    exporter = CacheExporter()
    try:
        with PrometheusServer([ScrapeTarget.from_url("app", exporter.url)], scrape_interval="1s") as server:
            server.wait_for_samples("cache_hits_total", 8, window="30s", timeout=60)
            yield server
    finally:
        exporter.close()


@requires_prometheus
def test_namespace_hit_ratios_come_from_prometheus(prometheus: PrometheusServer) -> None:
    query = NamespaceQuery(PrometheusConfig(url=prometheus.url), window="5s")
    try:
        stats = {n.name: n for n in query.collect()}
    finally:
        query.close()
    assert set(stats) == {"users", "sessions"}
    # Both counters are scraped at the same instants, so the ratio is exact up to one 0.1 s step.
    assert stats["users"].hit_ratio == pytest.approx(0.9, abs=0.03)
    assert stats["sessions"].hit_ratio == pytest.approx(0.3, abs=0.03)
    assert stats["users"].hits == pytest.approx(90, rel=0.35)


def test_namespace_query_against_dead_prometheus_is_an_error_not_a_crash() -> None:
    from console.errors import SourceUnavailable
    from tests.fixtures.prometheus_server import free_port

    query = NamespaceQuery(PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", timeout=1.0))
    try:
        with pytest.raises(SourceUnavailable):
            query.collect()
    finally:
        query.close()
