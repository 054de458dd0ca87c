"""Hostile backends (issue 10, part 2): HTTP health targets, Prometheus and the RabbitMQ management API that
never answer, dribble bytes (slowloris), send 100 MB (announced, or chunked with no length), answer invalid JSON,
the wrong content type, 500s or binary garbage.

Every case goes through the real source and the collector (`poll_once`), and must be
- bounded: the reading arrives within the source's own timeout plus a margin, and the client lets go of the
  server (no connection of this process to it) shortly after — a worker thread still reading a dribbling
  Prometheus would keep one open;
- capped: a 100 MB answer costs at most the adapter's cap in memory (traced with tracemalloc) and the server
  could push only a fraction of it;
- reported: the reading (or the probe in it) says what happened — timeout, too large, invalid, the status.

The last test runs the real app on all of them at once and checks the UI keeps answering keys.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from console.adapters import http_health
from console.adapters.prometheus_http import MAX_ANSWER_BYTES
from console.adapters.rabbitmq import MAX_BYTES as MANAGEMENT_MAX_BYTES
from console.app import make_app
from console.collector import Collector
from console.config import Environment, HealthTargetConfig, PrometheusConfig, RabbitConfig, Settings, TrafficConfig
from console.model import HealthTarget, Reading, Status
from console.sources import HealthSource, RabbitSource, TrafficSource
from tests.fixtures.hostile_http import HostileServer, make_hostile_fixture  # noqa: F401 - make_hostile fixture
from tests.fixtures.http_targets import HUGE_BYTES, Reply
from tests.fixtures.proc import HAVE_PROC, released, wait_no_connections_to

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not HAVE_PROC, reason="needs Linux /proc to see this process's connections"),
]

TIMEOUT = 1.0  # every adapter's own timeout in this file
MARGIN = 1.0  # scheduling slack on a loaded 2-core machine
HANG_UP = 3.0  # how long the client may take to let go of the server after the reading
MIB = 1024 * 1024
HOSTILE = ("silent", "slowloris", "huge", "huge-chunked", "invalid-json", "wrong-type", "error-500", "garbage")
HUGE = ("huge", "huge-chunked")
PROMQL_STREAMS = 1  # a tick is one combined query
SOCKET_BUFFERS = 8 * MIB  # what loopback socket buffers can absorb per connection beyond what the client read


async def poll(source: Any) -> tuple[Reading, float, int]:
    """One poll through the collector: (reading, seconds, peak bytes traced meanwhile). Closes the source."""
    collector = Collector([source], lambda reading: None)
    tracemalloc.start()
    started = time.monotonic()
    try:
        reading = await collector.poll_once(source.name)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await collector.stop()
    return reading, elapsed, peak


async def check_bounded(
    server: HostileServer, elapsed: float, bound: float, peak: int, cap: int, streams: int = 1
) -> None:
    """The reading came within `bound` (+ margin), the client let go of the server, and a huge answer cost at
    most `streams` x `cap` in memory (plus slack) — the server could only push that much plus socket buffers."""
    assert elapsed <= bound + MARGIN, f"{server.mode}: reading after {elapsed:.2f}s, bound {bound:g}s"
    await released(server.port, HANG_UP)
    if server.mode in HUGE:
        budget = streams * cap + 16 * MIB
        assert peak < budget, f"{server.mode}: {peak / MIB:.1f} MiB traced, budget {budget / MIB:g} MiB"
        sent_budget = streams * (cap + SOCKET_BUFFERS)
        assert server.bytes_sent < min(sent_budget, HUGE_BYTES * 0.75), f"{server.mode}: {server.bytes_sent:,} sent"
    else:
        assert peak < 8 * MIB, f"{server.mode}: {peak / MIB:.1f} MiB traced"


# --- health targets -------------------------------------------------------------------------------------------

HEALTH_EXPECTED = {
    "silent": (Status.CRIT, r"^timeout after 1s$"),
    "slowloris": (Status.CRIT, r"^timeout after 1s$"),
    "huge": (Status.OK, r"^HTTP 200 \(body over 256 KiB, not parsed\)$"),
    "huge-chunked": (Status.OK, r"^HTTP 200 \(body over 256 KiB, not parsed\)$"),
    "invalid-json": (Status.OK, r"^HTTP 200 \(invalid JSON body\)$"),
    "wrong-type": (Status.OK, r"^HTTP 200$"),  # an HTML page: judged by its status code, said so (format)
    "error-500": (Status.CRIT, r"too many samples"),
    "garbage": (Status.OK, r"^HTTP 200 \(invalid JSON body\)$"),
}


@pytest.mark.parametrize("mode", HOSTILE)
async def test_a_hostile_health_target_is_bounded_capped_and_reported(
    mode: str, make_hostile: Callable[..., HostileServer]
) -> None:
    server = make_hostile(mode)
    target = HealthTargetConfig(name="hostile", url=f"{server.base_url}/health", interval=0.5, timeout=TIMEOUT)
    source = HealthSource(target, http_health.make_probe_client(), owns_client=True)

    reading, elapsed, peak = await poll(source)

    assert reading.error is None and isinstance(reading.value, HealthTarget)
    (probe,) = reading.value.probes
    status, message = HEALTH_EXPECTED[mode]
    assert (probe.status, probe.http_status is None) == (status, mode in ("silent", "slowloris")), probe
    assert re.search(message, probe.message), probe.message
    assert probe.format == ("seed" if mode == "error-500" else "none" if probe.http_status is None else "status-code")
    await check_bounded(server, elapsed, TIMEOUT, peak, http_health.MAX_BODY_BYTES)


# --- Prometheus -----------------------------------------------------------------------------------------------

PROMETHEUS_EXPECTED = {
    "silent": r"^Prometheus timeout after 1s$",
    "slowloris": r"^Prometheus timeout after 1s \(answer still arriving\)$",
    "huge": r"^Prometheus answer too large \(104,857,600 bytes, cap 16,777,216\)$",
    "huge-chunked": r"^Prometheus answer too large \(over 16,777,216 bytes\)$",
    "invalid-json": r"^Prometheus answer unusable: ",
    "wrong-type": r"^Prometheus answer unusable: ",
    "error-500": r"^Prometheus error: HTTP Status Code 500 .*too many samples",
    "garbage": r"^Prometheus answer unusable: ",
}


@pytest.mark.parametrize("mode", HOSTILE)
async def test_a_hostile_prometheus_is_bounded_capped_and_reported(
    mode: str, make_hostile: Callable[..., HostileServer]
) -> None:
    server = make_hostile(mode)
    prometheus = PrometheusConfig(url=server.base_url, timeout=TIMEOUT)
    source = TrafficSource(TrafficConfig(interval=0.5), prometheus, TIMEOUT)

    reading, elapsed, peak = await poll(source)

    assert reading.value is None and reading.error is not None
    assert re.search(PROMETHEUS_EXPECTED[mode], reading.error), reading.error
    # A query is bounded by the timeout as a whole (not per read), and its worker thread lets go of the server.
    await check_bounded(server, elapsed, TIMEOUT, peak, MAX_ANSWER_BYTES, streams=PROMQL_STREAMS)


def test_prometheus_is_bounded_even_when_called_directly_from_a_thread(
    make_hostile: Callable[..., HostileServer],
) -> None:
    """Without the collector's deadline around it (the synchronous client as `snapshot` or a service uses it):
    a dribbling Prometheus still ends within the timeout, instead of holding the calling thread for the
    six days a 1 MiB body takes at 2 bytes a second."""
    from console.adapters.prometheus import TrafficQuery
    from console.errors import SourceTimeout

    server = make_hostile("slowloris", every=0.2)
    query = TrafficQuery(PrometheusConfig(url=server.base_url, timeout=TIMEOUT), TrafficConfig())
    started = time.monotonic()
    try:
        with pytest.raises(SourceTimeout, match="answer still arriving"):
            query.collect()
    finally:
        query.close()
    assert time.monotonic() - started <= TIMEOUT + MARGIN
    wait_no_connections_to(server.port, HANG_UP)


# --- RabbitMQ management API ----------------------------------------------------------------------------------

MANAGEMENT_EXPECTED = {
    "silent": r"^management API timeout after 1s$",
    "slowloris": r"^management API timeout after 1s$",
    "huge": r"^management API answer too large \(104,857,600 bytes, cap 33,554,432\)$",
    "huge-chunked": r"^management API answer too large \(over 33,554,432 bytes\)$",
    "invalid-json": r"^management API answered invalid JSON$",
    "wrong-type": r"^management API answered text/html, not JSON$",
    "error-500": r"^management API answered HTTP 500$",
    "garbage": r"^management API answered invalid JSON$",
}


@pytest.mark.parametrize("mode", HOSTILE)
async def test_a_hostile_rabbitmq_management_api_is_bounded_capped_and_reported(
    mode: str, make_hostile: Callable[..., HostileServer]
) -> None:
    server = make_hostile(mode, ok=Reply(200, "application/json", b"[]"))
    source = RabbitSource(RabbitConfig(management_url=server.base_url, interval=0.5, timeout=TIMEOUT))

    reading, elapsed, peak = await poll(source)

    assert reading.value is None and reading.error is not None
    assert re.search(MANAGEMENT_EXPECTED[mode], reading.error), reading.error
    await check_bounded(server, elapsed, TIMEOUT, peak, MANAGEMENT_MAX_BYTES)


# --- all at once, in the real app -----------------------------------------------------------------------------


async def test_the_app_reports_every_hostile_backend_and_keeps_answering_keys(
    make_hostile: Callable[..., HostileServer],
) -> None:
    health = {mode: make_hostile(mode) for mode in ("silent", "slowloris", "huge", "huge-chunked")}
    prometheus = make_hostile("slowloris")
    management = make_hostile("silent")
    env = Environment(
        name="hostile",
        health=tuple(
            HealthTargetConfig(name=mode, url=f"{server.base_url}/health", interval=0.5, timeout=TIMEOUT)
            for mode, server in health.items()
        ),
        prometheus=PrometheusConfig(url=prometheus.base_url, timeout=TIMEOUT),
        traffic=TrafficConfig(interval=0.5),
        rabbitmq=RabbitConfig(management_url=management.base_url, interval=0.5, timeout=TIMEOUT),
    )
    settings = Settings(env=env, environments=("hostile",))
    from console.sources import build_sources

    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        board = app.board

        def reported() -> bool:
            rows = {row.name: row for row in board.health_rows()}
            traffic, queues = board.readings.get("traffic"), board.readings.get("queues:rabbitmq")
            return (
                all(name in rows and rows[name].target is not None for name in health)
                and traffic is not None
                and traffic.error is not None
                and queues is not None
                and queues.error is not None
            )

        for _ in range(250):  # 5 s: every source within its first poll or two
            if reported():
                break
            await pilot.pause(0.02)
        assert reported(), {name: reading.error for name, reading in board.readings.items()}
        rows = {row.name: row for row in board.health_rows()}
        assert rows["silent"].status is Status.CRIT and "timeout" in rows["silent"].message
        assert rows["slowloris"].status is Status.CRIT and "timeout" in rows["slowloris"].message
        assert "not parsed" in rows["huge"].message and "not parsed" in rows["huge-chunked"].message
        traffic, queues = board.readings["traffic"], board.readings["queues:rabbitmq"]
        assert traffic.error is not None and "answer still arriving" in traffic.error
        assert queues.error is not None and "timeout" in queues.error
        assert board.pane_state("traffic").mode.value == "unreachable"

        # Keys are answered at once while every backend misbehaves.
        for key in "1234567":
            started = time.monotonic()
            await pilot.press(key)
            assert time.monotonic() - started < 1.0, f"key {key} took {time.monotonic() - started:.2f}s"
        await pilot.press("question_mark")
        from console.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
    # The app closed its clients: nothing of ours stays connected to any of them (threads included).
    for what, server in (*health.items(), ("prometheus", prometheus), ("management", management)):
        try:
            await released(server.port, HANG_UP)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from None
