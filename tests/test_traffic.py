"""Traffic pane data: a real Prometheus scraping exporters with known traffic, the direct-scrape fallback,
and Prometheus down / slow / broken. Figures are checked against what the exporters recorded."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console.adapters import prometheus as prometheus_adapter
from console.adapters.metrics_scrape import ScrapeTraffic, parse_sample
from console.adapters.prometheus import FleetQuery, TrafficQuery, histogram_quantile, vector_by
from console.board import Board, judge_traffic
from console.config import Environment, PrometheusConfig, ScrapeTarget, Settings, TrafficConfig
from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import Status, TrafficStats
from console.sources import FleetSource, TrafficSource
from tests.fixtures.exporter import KnownTrafficExporter, bucket_bounds, latency_mix
from tests.fixtures.prometheus_server import PrometheusServer, find_prometheus, free_port, requires_prometheus
from tests.fixtures.prometheus_server import ScrapeTarget as PromTarget

# checkout: 40 req/s, 2 % 5xx; /orders (75 %) is 90 % 40 ms + 10 % 400 ms, /cart (25 %) 20 ms.
# Overall 7.5 % of requests take 400 ms, so p95 and p99 lie in the (0.3, 0.5] bucket and p50 in (0.025, 0.05].
CHECKOUT_RATE, CHECKOUT_ERRORS = 40.0, 0.02
SEARCH_RATE = 20.0
# A short window: rate() under-reports until the window is fully covered by samples.
TRAFFIC = TrafficConfig(window="10s", history_minutes=2)


@pytest.fixture(scope="module")
def exporters() -> Iterator[dict[str, KnownTrafficExporter]]:
    checkout, search = KnownTrafficExporter(), KnownTrafficExporter()
    checkout.start_steady(
        CHECKOUT_RATE,
        {"/orders": (0.75, latency_mix((0.9, 0.04), (0.1, 0.4))), "/cart": (0.25, 0.02)},
        error_share=CHECKOUT_ERRORS,
    )
    search.start_steady(SEARCH_RATE, {"/search": (1.0, 0.03)})
    yield {"checkout": checkout, "search": search}
    checkout.close()
    search.close()


@pytest.fixture(scope="module")
def prometheus(exporters: dict[str, KnownTrafficExporter]) -> Iterator[PrometheusServer]:
    find_prometheus()  # skips the module's Prometheus tests when the binary is missing
    targets = [PromTarget.from_url(job, exporter.metrics_url) for job, exporter in exporters.items()]
    with PrometheusServer(targets, scrape_interval="1s") as server:
        # rate() over 10 s must see the whole window: poll until every series has 14 samples (1 s apart).
        server.wait_for_samples('http_requests_total{status_code="200"}', 14, window="30s", timeout=60)
        yield server


def query_for(server: PrometheusServer, traffic: TrafficConfig = TRAFFIC) -> TrafficQuery:
    return TrafficQuery(PrometheusConfig(url=server.url, timeout=3.0), traffic)


def within_bucket(value: float | None, true_seconds: float) -> bool:
    low, high = bucket_bounds(true_seconds)
    return value is not None and low < value <= high


@requires_prometheus
def test_rates_error_ratio_and_percentiles_match_the_known_traffic(prometheus: PrometheusServer) -> None:
    query = query_for(prometheus)
    try:
        services, routes = query.collect()
    finally:
        query.close()
    by_service = {row.service: row.stats for row in services}
    assert set(by_service) == {"checkout", "search"}
    checkout, search = by_service["checkout"], by_service["search"]
    assert checkout.rps == pytest.approx(CHECKOUT_RATE, rel=0.15)
    assert search.rps == pytest.approx(SEARCH_RATE, rel=0.15)
    # The exporter's status cycle gives 2 % ± one request per window; 10 s at 40/s is ~400 requests.
    assert checkout.error_ratio == pytest.approx(CHECKOUT_ERRORS, abs=0.006)
    assert search.error_ratio == 0.0
    assert within_bucket(checkout.p95, 0.4) and within_bucket(checkout.p99, 0.4)
    assert within_bucket(checkout.p50, 0.04)
    assert within_bucket(search.p95, 0.03)
    by_route = {(row.service, row.route): row.stats for row in routes}
    assert within_bucket(by_route[("checkout", "/orders")].p95, 0.4)
    assert within_bucket(by_route[("checkout", "/cart")].p95, 0.02)
    assert by_route[("checkout", "/orders")].rps == pytest.approx(CHECKOUT_RATE * 0.75, rel=0.2)
    # The seeds' thresholds: p95 over 200 ms and 2 % errors make checkout WARN; search is fine.
    assert judge_traffic(checkout)[0] is Status.WARN
    assert judge_traffic(search)[0] is Status.OK


@requires_prometheus
def test_history_is_backfilled_from_query_range(prometheus: PrometheusServer) -> None:
    query = query_for(prometheus)
    try:
        history = query.backfill(datetime.now(UTC), step_seconds=2)
    finally:
        query.close()
    assert set(history) == {"checkout", "search"}
    points = [p for p in history["checkout"] if p.rps is not None]
    assert len(points) >= 3
    assert points[-1].rps == pytest.approx(CHECKOUT_RATE, rel=0.25)
    assert all(a.at < b.at for a, b in zip(points, points[1:], strict=False))


@requires_prometheus
async def test_source_backfills_on_first_tick_only_and_board_extends_it(prometheus: PrometheusServer) -> None:
    settings = Settings(
        env=Environment(name="t", prometheus=PrometheusConfig(url=prometheus.url), traffic=TRAFFIC), environments=("t",)
    )
    source = TrafficSource(TRAFFIC, settings.env.prometheus, timeout=2.0)
    board = Board(traffic=TRAFFIC)
    try:
        first = await source.poll()
        second = await source.poll()
    finally:
        await source.aclose()
    assert first.mode == "prometheus" and first.backfill and not second.backfill
    from console.model import Reading

    now = datetime.now(UTC)
    board.apply(Reading("traffic", "traffic", now, first, last_ok_at=now))
    backfilled = len(board.traffic_history("checkout"))
    board.apply(Reading("traffic", "traffic", datetime.now(UTC), second, last_ok_at=now))
    assert len(board.traffic_history("checkout")) == backfilled + 1
    assert [row.service for row in board.traffic_rows()][0] == "checkout"  # WARN sorts before OK


@requires_prometheus
async def test_fleet_rows_follow_up_and_go_critical_when_a_target_dies(prometheus: PrometheusServer) -> None:
    doomed = KnownTrafficExporter()
    doomed.record("/x", count=1)
    target = PromTarget.from_url("doomed", doomed.metrics_url)
    with PrometheusServer([target], scrape_interval="1s") as server:
        server.wait_for_series('up{job="doomed"} == 1')
        fleet = FleetQuery(PrometheusConfig(url=server.url), "up", ("job",))
        try:
            assert [(t.name, t.status) for t in fleet.collect().targets] == [("doomed", Status.OK)]
            doomed.close()
            server.wait_for_series('up{job="doomed"} == 0')
            (row,) = fleet.collect().targets
            assert row.status is Status.CRIT and row.probes[0].message == "down"
        finally:
            fleet.close()


def test_fleet_source_is_a_health_source() -> None:
    from console.config import FleetConfig

    source = FleetSource(FleetConfig(name="bb", query="probe_success"), PrometheusConfig(url="http://127.0.0.1:9"))
    assert source.kind == "health" and source.name == "health:bb"
    source.query.close()


# --- direct scrape fallback -------------------------------------------------------------------------------


async def test_direct_scrape_computes_rates_and_quantiles_from_deltas() -> None:
    with KnownTrafficExporter() as exporter:
        exporter.record("/orders", count=500, seconds=0.04)  # lifetime totals must not leak into the figures
        scrape = ScrapeTraffic((ScrapeTarget("checkout", exporter.metrics_url),), TrafficConfig(), timeout=2.0)
        try:
            services, routes, note = await scrape.collect()
            assert services == () and "collecting" in note  # one sample is not a rate yet
            exporter.record("/orders", count=90, seconds=0.04)
            exporter.record("/orders", count=8, seconds=0.4)
            exporter.record("/orders", status_code=500, count=2, seconds=0.4)
            services, routes, note = await scrape.collect()
        finally:
            await scrape.aclose()
    (service,) = services
    assert note == ""
    assert service.stats.error_ratio == pytest.approx(0.02)
    assert service.stats.rps is not None and service.stats.rps > 0
    assert within_bucket(service.stats.p95, 0.4)
    assert within_bucket(service.stats.p50, 0.04)
    assert [r.route for r in routes] == ["/orders"]


async def test_direct_scrape_measures_steady_rate() -> None:
    with KnownTrafficExporter() as exporter:
        exporter.start_steady(50.0, {"/a": (1.0, 0.01)})
        scrape = ScrapeTraffic((ScrapeTarget("svc", exporter.metrics_url),), TrafficConfig(), timeout=2.0)
        try:
            await scrape.collect()
            await asyncio.sleep(2.0)
            (service,), _routes, _note = await scrape.collect()
        finally:
            await scrape.aclose()
    assert service.stats.rps == pytest.approx(50.0, rel=0.2)
    assert service.stats.error_ratio == 0.0


def test_counter_reset_restarts_the_baseline() -> None:
    config = TrafficConfig()
    before = parse_sample('http_requests_total{route="/a",status_code="200"} 100\n', config, at=0.0)
    after = parse_sample('http_requests_total{route="/a",status_code="200"} 5\n', config, at=5.0)
    from console.adapters.metrics_scrape import _delta_stats

    assert _delta_stats(before.routes["/a"], after.routes["/a"], 5.0) is None


def test_histogram_quantile_matches_prometheus_interpolation() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * (70 - 50) / 40)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * 0.5)
    assert histogram_quantile(0.5, {math.inf: 0.0}) is None
    assert histogram_quantile(0.99, {0.1: 1.0, math.inf: 10.0}) == pytest.approx(0.1)  # in +Inf: highest bound


def test_unparseable_metrics_text_is_a_clear_error() -> None:
    with pytest.raises(BadResponse, match="not parseable"):
        parse_sample('http_requests_total{route="/a" 12\n', TrafficConfig(), at=0.0)


# --- Prometheus down, slow, broken --------------------------------------------------------------------------


class _Misbehaving(BaseHTTPRequestHandler):
    mode = "500"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.server.mode == "hang":  # type: ignore[attr-defined]
            self.server.release.wait(10)  # type: ignore[attr-defined]
            return
        body = b"<html>oops</html>" if self.server.mode == "garbage" else b'{"status":"error"}'  # type: ignore[attr-defined]
        self.send_response(200 if self.server.mode == "garbage" else 500)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - the console sends its queries as form bodies
        length = self.headers.get("Content-Length", "")
        body = self.rfile.read(int(length) if length.isdigit() else 0)
        if self.server.mode != "record":  # type: ignore[attr-defined]
            self.do_GET()
            return
        self.server.seen.append((self.command, self.path, self.headers.get("Content-Type"), body))  # type: ignore[attr-defined]
        answer = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


_SEEN: dict[str, list[tuple[str, str, str | None, bytes]]] = {}  # a recording server's requests, by its URL


@pytest.fixture
def bad_prometheus(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    server.daemon_threads = True
    server.mode = request.param  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _SEEN[url] = server.seen  # type: ignore[attr-defined]
    yield url
    _SEEN.pop(url, None)
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize(
    ("bad_prometheus", "error", "says"),
    [
        ("500", BadResponse, "HTTP Status Code 500"),
        ("garbage", BadResponse, "unusable"),
        ("hang", SourceTimeout, "timeout"),
    ],
    indirect=["bad_prometheus"],
)
def test_broken_prometheus_is_reported_not_hidden(bad_prometheus: str, error: type[Exception], says: str) -> None:
    query = TrafficQuery(PrometheusConfig(url=bad_prometheus, timeout=0.5), TrafficConfig())
    try:
        with pytest.raises(error, match=says):
            query.collect()
    finally:
        query.close()


@pytest.mark.parametrize("bad_prometheus", ["record"], indirect=True)
def test_queries_travel_as_form_bodies_encoded_once(bad_prometheus: str) -> None:
    """A traffic tick's ~2 KB of PromQL in the URL cost requests and urllib3 ~1.5 ms of CPU to percent-encode,
    a character at a time, every tick; as a POST form (Prometheus' documented alternative, Grafana's default)
    it is encoded once and sent as it is."""
    from urllib.parse import parse_qs

    query = TrafficQuery(PrometheusConfig(url=bad_prometheus, timeout=2.0), TrafficConfig())
    try:
        first = query.collect()
        second = query.collect()
    finally:
        query.close()
    assert first == second == ((), ())  # an empty answer: no services, no routes
    seen = _SEEN[bad_prometheus]
    assert len(seen) == 2
    for method, path, content_type, body in seen:
        assert (method, path, content_type) == ("POST", "/api/v1/query", "application/x-www-form-urlencoded")
        (promql,) = parse_qs(body.decode())["query"]
        assert promql.count(" or ") == 9 and "opsconsole_kind" in promql  # the tick's ten tagged parts
    assert seen[0][3] == seen[1][3]


def test_prometheus_down_fails_at_once_with_retries_off() -> None:
    query = TrafficQuery(PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", timeout=2.0), TrafficConfig())
    try:
        with pytest.raises(SourceUnavailable, match="connection refused"):
            query.collect()
        # urllib3 retries would have shown up as extra attempts on the adapter's pool; there are none.
        adapter = query._client._session.get_adapter(query.prometheus.url)
        assert adapter.max_retries.total == 0
    finally:
        query.close()


def test_prometheus_secrets_never_reach_error_messages() -> None:
    config = PrometheusConfig(url=f"http://ops:hunter22@127.0.0.1:{free_port()}", token="tok3n-s3cret", timeout=1)
    query = TrafficQuery(config, TrafficConfig())
    try:
        with pytest.raises(SourceUnavailable) as caught:
            query.collect()
    finally:
        query.close()
    assert "hunter22" not in str(caught.value) and "tok3n-s3cret" not in str(caught.value)


async def test_source_falls_back_to_scrape_when_prometheus_is_down() -> None:
    with KnownTrafficExporter() as exporter:
        exporter.record("/a", count=10, seconds=0.02)
        traffic = TrafficConfig(scrape=(ScrapeTarget("svc", exporter.metrics_url),))
        source = TrafficSource(traffic, PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", timeout=1.0), 2.0)
        try:
            await source.poll()
            exporter.record("/a", count=10, seconds=0.02)
            snapshot = await source.poll()
        finally:
            await source.aclose()
    assert snapshot.mode == "scrape"
    assert "Prometheus" in snapshot.note and "falling back" in snapshot.note
    assert [row.service for row in snapshot.services] == ["svc"]


async def test_app_stays_responsive_while_prometheus_is_unreachable() -> None:
    from console.app import make_app
    from console.sources import build_sources
    from widgets.env_banner import EnvBanner
    from widgets.traffic_pane import TrafficPane

    env = Environment(
        name="t",
        prometheus=PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", timeout=0.5),
        traffic=TrafficConfig(interval=0.2),
    )
    settings = Settings(env=env, environments=("t",))
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if "traffic" in app.board.readings:
                break
            await pilot.pause(0.02)
        reading = app.board.readings["traffic"]
        assert reading.error is not None and "refused" in reading.error
        pane = app.query_one(TrafficPane)
        assert pane.state is not None and pane.state.mode.value == "unreachable"
        await pilot.press("p")
        assert app.query_one(EnvBanner).paused


def test_judge_traffic_thresholds_are_configurable() -> None:
    stats = TrafficStats(rps=10, error_ratio=0.03, p95=0.25)
    assert judge_traffic(stats) == (Status.WARN, ("errors 3.0%", "p95 250 ms"))
    strict = TrafficConfig(error_crit=0.02, p95_crit_ms=240)
    assert judge_traffic(stats, strict)[0] is Status.CRIT
    assert judge_traffic(TrafficStats())[0] is Status.OK


def test_a_combined_answer_splits_back_by_kind_and_skips_junk() -> None:
    from console.adapters.prometheus import KIND_LABEL, split_by_kind

    answer = [
        {"metric": {"job": "api", KIND_LABEL: "rate"}, "value": [1, "5"]},
        {"metric": {"job": "api", KIND_LABEL: "p95"}, "value": [1, "0.2"]},
        {"metric": {"job": "api", KIND_LABEL: "other"}, "value": [1, "9"]},  # not asked for
        {"metric": "junk"},
        "junk",
        {"metric": {"job": "api"}, "value": [1, "1"]},  # untagged
    ]
    parts = split_by_kind(answer, ["rate", "errors", "p95"])
    assert [e["value"][1] for e in parts["rate"]] == ["5"]
    assert parts["errors"] == [] and len(parts["p95"]) == 1
    with pytest.raises(BadResponse):
        split_by_kind({"resultType": "scalar"}, ["rate"])


def test_a_form_with_a_list_value_is_encoded_each_time_not_refused() -> None:
    from console.adapters.prometheus_http import BoundedSession

    session = BoundedSession(deadline=1.0)
    try:
        assert session._form({"query": "up", "match[]": ["a", "b"]}) == b"query=up&match%5B%5D=a&match%5B%5D=b"
        assert session._form({"query": "up"}) is session._form({"query": "up"})  # the same query: encoded once
    finally:
        session.close()


def test_label_values_are_cleaned_remembered_and_the_memo_stays_bounded() -> None:
    hostile = "evil\x1b]0;pwned\x07\u202e" + "x" * 200
    vector = [
        {"metric": {"service": hostile}, "value": [0, "1"]},
        {"metric": {"service": ["not", "text"]}, "value": [0, "2"]},
    ]
    first, again = vector_by(vector, ("service",)), vector_by(vector, ("service",))
    assert first == again
    (shown, _), (odd, _) = sorted(first.items(), key=lambda item: item[1] or 0)
    assert "\x1b" not in shown[0] and "\u202e" not in shown[0] and len(shown[0]) == 80
    assert odd[0] == "['not', 'text']"
    many = [{"metric": {"service": f"s{n}"}, "value": [0, "1"]} for n in range(prometheus_adapter._LABELS_KEPT + 500)]
    assert len(vector_by(many, ("service",))) == prometheus_adapter._LABELS_KEPT + 500
    assert len(prometheus_adapter._LABELS) <= prometheus_adapter._LABELS_KEPT
