"""The Traffic pane's test harness works end to end: known traffic in, the right PromQL answers out.

Two `KnownTrafficExporter`s (jobs "checkout" and "search") record steady, deterministic traffic; one real
Prometheus (started once for the module) scrapes both every second. The queries are the ones the Traffic pane
runs (`console.config.DEFAULT_QUERIES` shapes): request rate, 5xx ratio and p95 per job.

Skipped, with the reason, when the `prometheus` binary is not installed (CI installs the Debian package).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.exporter import (
    BUCKETS,
    KnownTrafficExporter,
    LatencySampler,
    RouteKey,
    bucket_bounds,
    latency_mix,
    make_exporter_fixture,  # noqa: F401 - registers the make_exporter fixture
    share_cycle,
    true_quantile,
)
from tests.fixtures.prometheus_server import (
    PROMETHEUS_MISSING,
    PrometheusServer,
    ScrapeTarget,
    find_prometheus,
    make_prometheus_fixture,  # noqa: F401 - registers the make_prometheus fixture
)

WINDOW = "30s"
SCRAPE_INTERVAL = 1.0
# 90 % of requests take 40 ms, 10 % take 400 ms: the true p95 is 0.4 s, in the (0.3, 0.5] bucket; p50 is 40 ms.
LATENCY = ((0.9, 0.04), (0.1, 0.4))


@dataclass(frozen=True)
class Job:
    name: str
    rate_per_s: float
    routes: dict[str, float]  # route -> share of the job's traffic
    error_share: float


JOBS = (
    Job("checkout", 40.0, {"/api/orders": 0.7, "/api/cart": 0.3}, 0.02),
    Job("search", 25.0, {"/api/search": 1.0}, 0.05),
)


# --- The exporter alone (no Prometheus needed) -----------------------------------------------------------


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(sample.name, dict(sample.labels), sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_exporter_serves_exact_counts_in_text_format(make_exporter: Callable[..., KnownTrafficExporter]) -> None:
    exporter = make_exporter()
    exporter.record("/api/orders", "GET", 200, 0.04, count=9)
    exporter.record("/api/orders", "GET", 200, 0.4)
    exporter.record("/api/orders", "POST", 500, 1.0, count=2)  # exactly on a bound: le is inclusive
    exporter.record("/api/cart", "GET", 404, 0.0, count=0)  # series created, zero

    response = httpx.get(exporter.metrics_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = _families(response.text)
    assert set(families) == {"http_requests", "http_request_duration_seconds"}  # nothing else, no _created

    requests = {(s["method"], s["route"], s["status_code"]): v for name, s, v in families["http_requests"]}
    assert {name for name, _, _ in families["http_requests"]} == {"http_requests_total"}
    assert requests == {
        ("GET", "/api/orders", "200"): 10.0,
        ("POST", "/api/orders", "500"): 2.0,
        ("GET", "/api/cart", "404"): 0.0,
    }

    histogram = families["http_request_duration_seconds"]
    get_ok = {"method": "GET", "route": "/api/orders", "status_code": "200"}
    buckets = {s["le"]: v for name, s, v in histogram if name.endswith("_bucket") and s.items() > get_ok.items()}
    # prom-client's bound spelling: le="1", not le="1.0"
    assert list(buckets) == [*"0.005 0.01 0.025 0.05 0.1 0.2 0.3 0.5 1 2.5 5 10".split(), "+Inf"]
    assert [buckets[le] for le in ("0.025", "0.05", "0.3", "0.5", "+Inf")] == [0.0, 9.0, 9.0, 10.0, 10.0]
    totals = {(name, s["method"], s["status_code"]): v for name, s, v in histogram if "le" not in s}
    assert totals[("http_request_duration_seconds_count", "GET", "200")] == 10.0
    assert totals[("http_request_duration_seconds_sum", "GET", "200")] == pytest.approx(9 * 0.04 + 0.4)
    post_1s = [v for name, s, v in histogram if s.get("method") == "POST" and s.get("le") in ("0.5", "1")]
    assert post_1s == [0.0, 2.0]

    assert exporter.total() == 12
    assert exporter.total(route="/api/orders", status_code=500) == 2
    assert httpx.get(f"{exporter.url}/other").status_code == 404
    exporter.fail_scrapes = True
    assert httpx.get(exporter.metrics_url).status_code == 503


def test_share_cycles_hold_in_every_window() -> None:
    cycle = share_cycle([0.98, 0.02])
    assert len(cycle) == 50 and sum(cycle) == 1
    doubled = cycle * 4
    for start in range(len(cycle)):  # any 100 consecutive requests: exactly 2 errors
        assert sum(doubled[start : start + 100]) == 2
    mix = latency_mix(*LATENCY)
    assert [mix(i) for i in range(20)].count(0.4) == 2
    assert true_quantile(0.95, LATENCY) == 0.4 and bucket_bounds(0.4, BUCKETS) == (0.3, 0.5)
    assert true_quantile(0.5, LATENCY) == 0.04 and bucket_bounds(0.04, BUCKETS) == (0.025, 0.05)


def test_steady_traffic_is_deterministic(make_exporter: Callable[..., KnownTrafficExporter]) -> None:
    exporter = make_exporter()
    routes: dict[RouteKey, tuple[float, LatencySampler | float]] = {
        "/a": (0.75, latency_mix(*LATENCY)),
        ("POST", "/b"): (0.25, 0.02),
    }
    exporter.start_steady(400.0, routes, error_share=0.1, tick=0.01)
    deadline = time.monotonic() + 5
    while exporter.total() < 400 and time.monotonic() < deadline:
        time.sleep(0.02)
    exporter.stop_steady()
    assert not exporter.steady_running
    total = exporter.total()
    assert total >= 400
    a, b = exporter.total(route="/a"), exporter.total(route="/b")
    assert abs(a - 0.75 * total) <= 1 and a + b == total
    assert exporter.total(route="/b", method="POST") == b
    for route, count in (("/a", a), ("/b", b)):
        assert abs(exporter.total(route=route, status_code=500) - 0.1 * count) <= 1
    families = _families(exporter.exposition())
    slow = sum(
        v
        for name, s, v in families["http_request_duration_seconds"]
        if name.endswith("_bucket") and s["le"] == "0.3" and s["route"] == "/a"
    )
    assert abs((a - slow) - 0.1 * a) <= 2  # 10 % of /a above 0.3 s (±1 per status series)
    assert exporter.total() == total  # stopped means stopped


def test_missing_binary_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="prometheus binary not installed"):
        find_prometheus()
    with pytest.raises(pytest.skip.Exception) as skipped:
        PrometheusServer([ScrapeTarget("x", "127.0.0.1:1")])
    assert skipped.value.msg == PROMETHEUS_MISSING


# --- A real Prometheus scraping two exporters ----------------------------------------------------------


@dataclass
class Stack:
    prometheus: PrometheusServer
    exporters: dict[str, KnownTrafficExporter]
    first_series_after: float  # seconds from spawning Prometheus to the first queryable `up` series of each job


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    find_prometheus()  # skip before starting anything
    exporters: dict[str, KnownTrafficExporter] = {}
    try:
        for job in JOBS:
            exporter = exporters[job.name] = KnownTrafficExporter()
            exporter.start_steady(
                job.rate_per_s,
                {route: (share, latency_mix(*LATENCY)) for route, share in job.routes.items()},
                error_share=job.error_share,
            )
        targets = [ScrapeTarget.from_url(name, exporter.metrics_url) for name, exporter in exporters.items()]
        with PrometheusServer(targets) as prometheus:
            prometheus.wait_until("both jobs up", lambda: len(prometheus.query("up == 1")) == len(JOBS))
            first_series_after = time.monotonic() - prometheus.started_at
            print(
                f"\nprometheus ready after {prometheus.ready_after:.2f}s, "
                f"first series after {first_series_after:.2f}s"
            )
            yield Stack(prometheus, exporters, first_series_after)
    finally:
        for exporter in exporters.values():
            exporter.close()


def _wait_full_window(prometheus: PrometheusServer) -> None:
    """Every request series holds a full WINDOW of samples (1 s apart), so rate() covers the whole range."""
    full = math.floor(30 / SCRAPE_INTERVAL) - 1
    prometheus.wait_for_samples("http_requests_total", full, window=WINDOW, timeout=45)


def test_prometheus_scrapes_both_jobs(stack: Stack) -> None:
    up = stack.prometheus.query_values("up")
    assert up == {"checkout": 1.0, "search": 1.0}
    targets = {t["labels"]["job"]: t for t in stack.prometheus.active_targets()}
    assert {job: t["scrapeUrl"] for job, t in targets.items()} == {
        name: exporter.metrics_url for name, exporter in stack.exporters.items()
    }
    assert stack.prometheus.ready_after < 30 and stack.first_series_after < 30
    series = stack.prometheus.wait_for_series('http_requests_total{job="checkout",status_code="500"}')
    assert {row["metric"]["route"] for row in series} == {"/api/orders", "/api/cart"}  # created before 1st error


def test_request_rate_per_job(stack: Stack) -> None:
    _wait_full_window(stack.prometheus)
    rates = stack.prometheus.query_values(f"sum by (job) (rate(http_requests_total[{WINDOW}]))")
    assert set(rates) == {job.name for job in JOBS}
    for job in JOBS:
        assert rates[job.name] == pytest.approx(job.rate_per_s, rel=0.15), rates


def test_error_ratio_per_job(stack: Stack) -> None:
    _wait_full_window(stack.prometheus)
    prometheus = stack.prometheus
    ratio = prometheus.query_values(
        f'sum by (job) (rate(http_requests_total{{status_code=~"5.."}}[{WINDOW}]))'
        f" / sum by (job) (rate(http_requests_total[{WINDOW}]))"
    )
    in_window = prometheus.query_values(f"sum by (job) (increase(http_requests_total[{WINDOW}]))")
    for job in JOBS:
        # Tolerance: the generator puts an error every 1/share requests of each route, so N requests hold
        # N*share ± 1 errors per route -> ± routes/N on the ratio. Numerator and denominator series come from
        # the same scrapes, so rate()'s extrapolation cancels out, except its clamp at a series' first (zero)
        # sample, worth < half a scrape interval over the window: < 10 % of the share. Random traffic would
        # need ±50 % here (binomial σ of ~30 errors); deterministic traffic allows ~±15 %.
        tolerance = len(job.routes) / in_window[job.name] + 0.1 * job.error_share
        assert abs(ratio[job.name] - job.error_share) <= tolerance, (job.name, ratio, tolerance)


def test_p95_lands_in_the_true_bucket(stack: Stack) -> None:
    _wait_full_window(stack.prometheus)
    quantile = "histogram_quantile({q}, sum by (job, le) (rate(http_request_duration_seconds_bucket[{w}])))"
    p95 = stack.prometheus.query_values(quantile.format(q=0.95, w=WINDOW))
    p50 = stack.prometheus.query_values(quantile.format(q=0.5, w=WINDOW))
    low95, high95 = bucket_bounds(true_quantile(0.95, LATENCY))  # (0.3, 0.5]
    low50, high50 = bucket_bounds(true_quantile(0.5, LATENCY))  # (0.025, 0.05]
    for job in JOBS:
        # Prometheus interpolates linearly inside the bucket, so only the bucket is a promise: here 0.3 +
        # 0.2 * (0.95 - 0.9) / 0.1 = 0.4 when the 90/10 split is exact.
        assert low95 < p95[job.name] <= high95, p95
        assert low50 < p50[job.name] <= high50, p50


# --- Down scenarios (own Prometheus, own exporter) -------------------------------------------------------


def test_target_down_then_prometheus_down(
    make_prometheus: Callable[..., PrometheusServer], make_exporter: Callable[..., KnownTrafficExporter]
) -> None:
    exporter = make_exporter()
    exporter.record("/api/orders", "GET", 200, 0.01)
    prometheus = make_prometheus([ScrapeTarget.from_url("billing", exporter.metrics_url)])
    prometheus.wait_for_series('up{job="billing"} == 1')

    exporter.close()  # the service dies: the next scrape fails, `up` drops to 0
    prometheus.wait_for_series('up{job="billing"} == 0', timeout=10)
    assert "connection refused" in prometheus.active_targets()[0]["lastError"]

    url = prometheus.url
    prometheus.stop()  # Prometheus itself dies: its port refuses
    assert not prometheus.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2)
