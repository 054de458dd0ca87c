"""The demo's incident switch, end to end: each incident surfaces on the console's first screen, highlighted,
within two refresh intervals, lands on the timeline in the right lane, and `clear` brings the item back.

One private demo stack per module: the real `DemoStack` on a random base port plus its traffic generators,
wired like `serve_forever` wires them, but against a private `redis-server` (never the shared :6379) and the
shared RabbitMQ under a unique `oc-test-<hex>` prefix (its queues and exchanges are deleted at teardown).

The console reads it the fast way, so two intervals are a fair bound: traffic by direct /metrics scrape (no
Prometheus, whose 30 s rate window is slower than that), RabbitMQ by AMQP passive declares (no management API,
whose statistics lag up to 5 s), everything polled every `REFRESH` seconds. Incidents are started through the
command palette, `app.start_demo_incident`, `opsconsole demo --incident NAME` and `DemoStack.incident`.

Each test prints the measured detection times (`pytest -rP` shows them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot

from console import cli
from console.app import OpsConsoleApp, make_app
from console.board import assess_cache
from console.config import Settings, load_settings
from console.demo.backend import DemoStack
from console.demo.breaker_traffic import BreakerTraffic
from console.demo.cache_traffic import CacheTraffic
from console.demo.queue_traffic import QueueTraffic
from console.model import BreakerState, CacheStatus, Status
from console.sources import build_sources
from tests.fixtures.http_targets import start_demo_stack
from tests.fixtures.rabbit import (
    AMQP_URL,
    MANAGEMENT_AUTH,
    MANAGEMENT_URL,
    delete_queues_with_prefix,
    require_rabbitmq,
    unique_prefix,
)
from tests.fixtures.redis_server import PrivateRedis

REFRESH = 1.0  # every source's poll interval in these tests
# Two polls, plus what the demo itself needs before the failure exists (the consumer loop notices its
# stop flag every 0.25 s, a breaker needs 10 failed calls ≈ 0.3 s) and a loaded two-core machine.
ALLOWANCE = 1.0
DETECT_WITHIN = 2 * REFRESH + ALLOWANCE
BASELINE_LIMIT = 30.0  # first readings, caches warming up: generous, it is a precondition, not the claim
CLEAR_LIMIT = 10.0
# An open breaker waits out open_ms (15 s) before it probes; a probe that hits the demo's 2 % background failure
# reopens it for another 15 s (≈ 6 % of recoveries): room for one such round.
BREAKER_CLEAR_LIMIT = 40.0
TERMINAL = (120, 40)


# --- the private demo stack --------------------------------------------------------------------------------


@dataclass
class PrivateDemo:
    stack: DemoStack
    redis: PrivateRedis
    prefix: str
    queues: QueueTraffic
    cache: CacheTraffic
    breakers: BreakerTraffic

    @property
    def orders(self) -> str:
        return self.queues.orders_queue

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.stack.base}"


def _delete_exchanges_with_prefix(prefix: str) -> None:
    vhost = quote("/", safe="")
    with httpx.Client(base_url=MANAGEMENT_URL, auth=MANAGEMENT_AUTH, timeout=30, trust_env=False) as client:
        listing = client.get(f"/api/exchanges/{vhost}", params={"columns": "name"})
        listing.raise_for_status()
        for exchange in listing.json():
            name = str(exchange.get("name", ""))
            if name.startswith(prefix):
                response = client.delete(f"/api/exchanges/{vhost}/{quote(name, safe='')}")
                if response.status_code not in (200, 204, 404):
                    response.raise_for_status()


def _wait(what: str, check: Callable[[], object], limit: float, detail: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit:g}s; {detail()}")
        time.sleep(0.1)


def _traffic_flowing(demo: PrivateDemo) -> bool:
    with demo.redis.client() as client:
        return (
            client.scard("opsconsole:breaker:registry") == 4
            and client.hexists("opsconsole:cache:stats", "products:hits")
            and client.exists("bull:emails:meta") == 1
        )


@pytest.fixture(scope="module")
def private_demo() -> Iterator[PrivateDemo]:
    require_rabbitmq()
    redis_server = PrivateRedis().start()
    prefix = unique_prefix()
    stack: DemoStack | None = None
    generators: list[QueueTraffic | CacheTraffic | BreakerTraffic] = []
    try:
        stack = start_demo_stack()
        # As `serve_forever` wires them (minus the demo's own Prometheus), on private backends.
        cache = CacheTraffic(redis_server.url)
        queues = QueueTraffic(AMQP_URL, redis_server.url, prefix=prefix)
        services = stack.services
        breakers = BreakerTraffic(redis_server.url, lambda name: services[name].current_condition())
        for generator in (cache, queues, breakers):
            generator.start()
            generators.append(generator)
        stack.cache, stack.queues, stack.breakers = cache, queues, breakers
        demo = PrivateDemo(stack, redis_server, prefix, queues, cache, breakers)
        _wait("demo traffic flowing", lambda: _traffic_flowing(demo), 20, lambda: f"queue errors: {queues.errors}")
        yield demo
    finally:
        for generator in reversed(generators):
            generator.stop()
        if stack is not None:
            stack.stop()
        redis_server.close()
        asyncio.run(delete_queues_with_prefix(prefix))
        _delete_exchanges_with_prefix(prefix)


@pytest.fixture
def demo(private_demo: PrivateDemo) -> Iterator[PrivateDemo]:
    """The module's stack with no incident running, before and after each test."""
    private_demo.stack.incident("clear")
    yield private_demo
    private_demo.stack.incident("clear")


_KEYS = {"health": "url"}  # probe kind → config key (liveness and readiness are spelled alike)


def write_settings(demo: PrivateDemo, folder: Path) -> Settings:
    """A config file the way an operator would write one for this stack, loaded through the normal layers."""
    stack = demo.stack
    health = "\n".join(
        "[[env.incidents.health]]\n"
        f'name = "{service.name}"\n'
        + "".join(f'{_KEYS.get(probe, probe)} = "{stack.url(service, probe)}"\n' for probe in service.paths)
        for service in stack.services.values()
    )
    scrape = ",\n".join(
        f'  {{ name = "{name}", url = "{stack.metrics_url(stack.services[name])}" }}'
        for name in ("api", "billing", "search")
    )
    text = f"""
[console]
default_env = "incidents"
refresh = {REFRESH}
timeout = 2.0

[env.incidents]
label = "private demo stack"
demo_control = "{demo.control}"
redis_url = "{demo.redis.url}"

[env.incidents.rabbitmq]
amqp_url = "{AMQP_URL}"
queues = ["{demo.orders}"]

[env.incidents.breakers]

[env.incidents.traffic]
interval = {REFRESH}
history_minutes = 0
scrape = [
{scrape},
]

{health}
"""
    path = folder / "console.toml"
    path.write_text(text)
    return load_settings(str(path), "incidents", environ={})


# --- reading the first screen --------------------------------------------------------------------------------


def health(app: OpsConsoleApp, name: str) -> Status | None:
    return next((r.status for r in app.board.health_rows() if r.name == name), None)


def traffic(app: OpsConsoleApp, service: str) -> Status | None:
    return next((r.status for r in app.board.traffic_rows() if r.service == service), None)


def traffic_reasons(app: OpsConsoleApp, service: str) -> tuple[str, ...]:
    return next((r.reasons for r in app.board.traffic_rows() if r.service == service), ())


def breaker(app: OpsConsoleApp, service: str, name: str) -> BreakerState | None:
    rows = app.board.breaker_rows()
    return next((r.info.state for r in rows if r.info.service == service and r.info.name == name), None)


def queue(app: OpsConsoleApp, name: str) -> tuple[Status, tuple[str, ...]] | None:
    return next(((r.status, r.reasons) for r in app.board.queue_rows() if r.queue.name == name), None)


def cache_findings(app: OpsConsoleApp) -> list[str] | None:
    readings = app.board.cache_readings()
    if not readings or not isinstance(readings[0].value, CacheStatus) or readings[0].error:
        return None
    value = readings[0].value
    if not any(n.name == "products" and n.hit_ratio is not None for n in value.namespaces):
        return None  # the counters need two polls
    return assess_cache(value, app.settings.env.cache)[1]


def warm(app: OpsConsoleApp) -> bool:
    findings = cache_findings(app)
    return findings is not None and not any(f.startswith("products hit ratio") for f in findings)


def products_ratio(app: OpsConsoleApp) -> float | None:
    readings = app.board.cache_readings()
    if not readings or not isinstance(readings[0].value, CacheStatus):
        return None
    return next((n.hit_ratio for n in readings[0].value.namespaces if n.name == "products"), None)


def highlighted(app: OpsConsoleApp, pane_id: str, at_least: Status) -> bool:
    """The pane's verdict is at least `at_least` and its border says so (`-warn` / `-crit`)."""
    pane = app.main_screen.query_one(f"#{pane_id}")
    status: Status = pane.status  # type: ignore[attr-defined]
    if status not in (Status.WARN, Status.CRIT) or status.rank < at_least.rank:
        return False
    return pane.has_class(f"-{status.value}")


def timeline_event(app: OpsConsoleApp, lane: str, subject: str, since: datetime) -> bool:
    return any(
        e.lane == lane and e.subject == subject and e.severity in (Status.WARN, Status.CRIT) and e.at >= since
        for e in app.timeline.events
    )


def calm(app: OpsConsoleApp, lane: str, subject: str) -> bool:
    """The timeline holds the item healthy: no event yet, or its last one says it is fine again.

    A blip just before the incident (one 500 among a dozen requests is an 8 % error ratio) leaves the item
    "bad" on the timeline until an improvement has held for `SETTLE` seconds, and a worse-or-equal state
    after it is not news: start from a calm item, so the incident's own event is the one asserted.
    """
    events = [e for e in app.timeline.events if e.lane == lane and e.subject == subject]
    return not events or events[-1].severity is Status.OK


def screen(app: OpsConsoleApp) -> str:
    """What the panes say, for failure messages."""
    panes = {p: getattr(app.main_screen.query_one(f"#{p}"), "status", None) for p in ("health", "traffic", "cache")}
    panes |= {p: getattr(app.main_screen.query_one(f"#{p}"), "status", None) for p in ("queues", "breakers")}
    return (
        f"panes={panes} health={[(r.name, r.status.value) for r in app.board.health_rows()]} "
        f"traffic={[(r.service, r.status.value, r.reasons) for r in app.board.traffic_rows()]} "
        f"queues={[(r.queue.name, r.queue.depth, r.queue.consumers, r.status.value) for r in app.board.queue_rows()]} "
        f"breakers={[(r.info.service, r.info.name, r.info.state.value) for r in app.board.breaker_rows()]} "
        f"cache={cache_findings(app)} products={products_ratio(app)} "
        f"timeline={[(e.lane, e.subject, e.severity.value, e.text) for e in list(app.timeline.events)[-8:]]}"
    )


async def until(pilot: Pilot[int], what: str, check: Callable[[], object], limit: float) -> float:
    """Let the app run until `check()` holds; returns the seconds it took. Fails, showing the screen, after `limit`."""
    app = pilot.app
    assert isinstance(app, OpsConsoleApp)
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            raise AssertionError(f"{what}: not within {limit:g}s; {screen(app)}")
        await pilot.pause(0.1)
    return time.monotonic() - started


class Trigger:
    """When an incident was started (monotonic for durations, UTC for timeline events)."""

    def __init__(self) -> None:
        self.at = time.monotonic()
        self.wall = datetime.now(UTC)  # readings are stamped when their poll finishes: later events are ≥ this

    def since(self) -> float:
        return time.monotonic() - self.at


async def detected(pilot: Pilot[int], incident: str, what: str, check: Callable[[], object], trigger: Trigger) -> float:
    """Wait (bounded, generously) for `check`, then assert it came within two intervals of the trigger."""
    await until(pilot, f"{incident}: {what}", check, limit=DETECT_WITHIN + 15)
    took = trigger.since()
    print(f"{incident}: {what} after {took:.2f}s (limit {DETECT_WITHIN:g}s)")
    assert took <= DETECT_WITHIN, f"{incident}: {what} took {took:.2f}s, more than two intervals + allowance"
    return took


async def palette(pilot: Pilot[int], command: str) -> Trigger:
    """Run `command` from the command palette, as an operator would; the trigger is pressing enter."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, "command palette open", lambda: isinstance(app.screen, CommandPalette), 5)
    await pilot.press(*command)
    trigger = Trigger()
    # Enter highlights the first hit, a second enter (if the list is still up) runs it.
    for _ in range(20):
        if not isinstance(app.screen, CommandPalette):
            break
        await pilot.press("enter")
        await pilot.pause(0.1)
    assert not isinstance(app.screen, CommandPalette), f"palette still open after enter: {command!r}"
    return trigger


async def cli_incident(name: str, port: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Trigger, int]:
    """`opsconsole demo --incident NAME` against the private stack (in a thread: the app keeps running)."""
    monkeypatch.setenv("OPSCONSOLE_DEMO_PORT", str(port))
    trigger = Trigger()
    code = await asyncio.to_thread(cli.main, ["demo", "--incident", name])
    return trigger, code


async def baseline(pilot: Pilot[int], what: str, check: Callable[[], object]) -> None:
    await until(pilot, f"baseline: {what}", check, BASELINE_LIMIT)


# --- the incidents ----------------------------------------------------------------------------------------


async def test_latency_spike_shows_in_health_and_traffic(demo: PrivateDemo, tmp_path: Path) -> None:
    settings = write_settings(demo, tmp_path)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=TERMINAL) as pilot:
        await baseline(pilot, "api healthy", lambda: health(app, "api") is Status.OK)
        await baseline(pilot, "api traffic ok", lambda: traffic(app, "api") is Status.OK)
        assert not highlighted(app, "health", Status.WARN)
        # No `calm` needed: a blip (one 500 of ~60 requests) makes api's traffic WARN at most; CRIT is news.

        trigger = Trigger()
        demo.stack.incident("latency-spike")
        await detected(
            pilot,
            "latency-spike",
            "Health: api WARN (redis check slow)",
            lambda: health(app, "api") is Status.WARN and highlighted(app, "health", Status.WARN),
            trigger,
        )
        await detected(
            pilot,
            "latency-spike",
            "Traffic: api p95 CRIT",
            lambda: traffic(app, "api") is Status.CRIT
            and any(r.startswith("p95") for r in traffic_reasons(app, "api"))
            and highlighted(app, "traffic", Status.CRIT),
            trigger,
        )
        assert timeline_event(app, "health", "api", trigger.wall), screen(app)
        assert timeline_event(app, "traffic", "api", trigger.wall), screen(app)

        demo.stack.incident("clear")
        await until(pilot, "clear: api healthy again", lambda: health(app, "api") is Status.OK, CLEAR_LIMIT)
        await until(pilot, "clear: api p95 back", lambda: traffic(app, "api") is not Status.CRIT, CLEAR_LIMIT)


async def test_error_burst_started_from_the_app_shows_in_traffic(demo: PrivateDemo, tmp_path: Path) -> None:
    settings = write_settings(demo, tmp_path)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=TERMINAL) as pilot:
        await baseline(
            pilot,
            "billing traffic ok",
            lambda: traffic(app, "billing") is Status.OK and calm(app, "traffic", "billing"),
        )

        trigger = Trigger()
        app.start_demo_incident("error-burst")
        await detected(
            pilot,
            "error-burst",
            "Traffic: billing errors CRIT",
            lambda: traffic(app, "billing") is Status.CRIT
            and any(r.startswith("errors") for r in traffic_reasons(app, "billing"))
            and highlighted(app, "traffic", Status.CRIT),
            trigger,
        )
        assert "error-burst" in demo.stack.incidents
        assert health(app, "billing") is Status.OK, "an error burst leaves the health checks green"
        assert timeline_event(app, "traffic", "billing", trigger.wall), screen(app)

        app.start_demo_incident("clear")
        await until(pilot, "clear: billing errors gone", lambda: traffic(app, "billing") is Status.OK, CLEAR_LIMIT)


async def test_stopped_consumer_started_from_the_cli_shows_in_queues(
    demo: PrivateDemo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_settings(demo, tmp_path)
    app = make_app(settings, build_sources(settings))
    orders = demo.orders
    async with app.run_test(size=TERMINAL) as pilot:
        await baseline(
            pilot,
            f"{orders} consumed",
            lambda: (queue(app, orders) or (None,))[0] is Status.OK and calm(app, "queues", orders),
        )
        assert not highlighted(app, "queues", Status.WARN)

        trigger, code = await cli_incident("stopped-consumer", demo.stack.base, monkeypatch)
        assert code == 0
        assert "stopped-consumer" in demo.stack.incidents
        await detected(
            pilot,
            "stopped-consumer",
            f"Queues: {orders} backlog with no consumers CRIT",
            lambda: (row := queue(app, orders)) is not None
            and row[0] is Status.CRIT
            and "backlog with no consumers" in row[1]
            and highlighted(app, "queues", Status.CRIT),
            trigger,
        )
        assert highlighted(app, "queues", Status.CRIT)
        assert timeline_event(app, "queues", orders, trigger.wall), screen(app)

        _, code = await cli_incident("clear", demo.stack.base, monkeypatch)
        assert code == 0
        await until(
            pilot,
            "clear: the consumer is back",
            lambda: (row := queue(app, orders)) is not None and row[0] is Status.OK,
            CLEAR_LIMIT,
        )


async def test_cache_flush_shows_in_cache(demo: PrivateDemo, tmp_path: Path) -> None:
    settings = write_settings(demo, tmp_path)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=TERMINAL) as pilot:
        # Warm: the products namespace meets its target, and the timeline has a few warm polls as the
        # baseline its drop is measured against (and no earlier drop still standing).
        await baseline(
            pilot,
            "products cache warm",
            lambda: warm(app)
            and len([r for r in app.board.namespace_history("redis", "products") if r is not None]) >= 4
            and calm(app, "cache", "redis/products"),
        )

        trigger = Trigger()
        demo.stack.incident("cache-flush")
        await detected(
            pilot,
            "cache-flush",
            "Cache: products hit ratio below target",
            lambda: any(f.startswith("products hit ratio") for f in cache_findings(app) or ())
            and highlighted(app, "cache", Status.WARN),
            trigger,
        )
        assert timeline_event(app, "cache", "redis/products", trigger.wall), screen(app)

        # Nothing to clear: the cache refills by itself.
        await until(
            pilot,
            "products cache refilled",
            lambda: (ratio := products_ratio(app)) is not None and ratio >= app.settings.env.cache.hit_warn,
            CLEAR_LIMIT * 2,
        )


async def test_dependency_down_shows_in_health(demo: PrivateDemo, tmp_path: Path) -> None:
    settings = write_settings(demo, tmp_path)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=TERMINAL) as pilot:
        await baseline(
            pilot, "search healthy", lambda: health(app, "search") is Status.OK and calm(app, "health", "search")
        )
        assert not highlighted(app, "health", Status.WARN)

        trigger = Trigger()
        demo.stack.incident("dependency-down")
        await detected(
            pilot,
            "dependency-down",
            "Health: search CRIT",
            lambda: health(app, "search") is Status.CRIT and highlighted(app, "health", Status.CRIT),
            trigger,
        )
        row = next(r for r in app.board.health_rows() if r.name == "search")
        assert "connection refused" in row.message
        assert app.board.health_rows()[0].name == "search", "worst first"
        assert timeline_event(app, "health", "search", trigger.wall), screen(app)

        demo.stack.incident("clear")
        await until(pilot, "clear: search healthy", lambda: health(app, "search") is Status.OK, CLEAR_LIMIT)


async def test_breaker_trip_from_the_command_palette_shows_in_breakers(demo: PrivateDemo, tmp_path: Path) -> None:
    settings = write_settings(demo, tmp_path)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=TERMINAL) as pilot:
        await baseline(
            pilot,
            "every breaker closed",
            lambda: len(app.board.breaker_rows()) == 4
            and all(r.info.state is BreakerState.CLOSED for r in app.board.breaker_rows())
            and calm(app, "breakers", "api/payments"),
        )
        assert not highlighted(app, "breakers", Status.WARN)

        trigger = await palette(pilot, "Demo incident: breaker-trip")
        await detected(
            pilot,
            "breaker-trip",
            "Breakers: api/payments OPEN",
            lambda: breaker(app, "api", "payments") is BreakerState.OPEN and highlighted(app, "breakers", Status.CRIT),
            trigger,
        )
        assert "breaker-trip" in demo.stack.incidents
        others = [r for r in app.board.breaker_rows() if (r.info.service, r.info.name) != ("api", "payments")]
        assert all(r.info.state is BreakerState.CLOSED for r in others), "only payments is down"
        assert timeline_event(app, "breakers", "api/payments", trigger.wall), screen(app)

        await palette(pilot, "Demo incident: clear")
        await until(
            pilot,
            "clear: api/payments closed again",
            lambda: breaker(app, "api", "payments") is BreakerState.CLOSED
            and not highlighted(app, "breakers", Status.WARN),
            BREAKER_CLEAR_LIMIT,
        )


# --- the command line ---------------------------------------------------------------------------------------


def test_unknown_incident_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--incident", "nope"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--incident: invalid choice: 'nope'" in err
    assert "breaker-trip" in err and "clear" in err  # the choices are listed


def test_incident_cli_against_a_stack_without_traffic(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Incidents that only need the services work; one that needs the breaker traffic says why (409, exit 1)."""
    stack = start_demo_stack()  # no traffic generators attached: no Redis behind the breakers
    try:
        monkeypatch.setenv("OPSCONSOLE_DEMO_PORT", str(stack.base))
        assert cli.main(["demo", "--incident", "dependency-down"]) == 0
        assert capsys.readouterr().out.strip() == "incident dependency-down: started; active: dependency-down"
        assert stack.services["search"].condition == "failing"

        assert cli.main(["demo", "--incident", "breaker-trip"]) == 1
        assert capsys.readouterr().err.strip() == "the demo's breaker traffic is not running (no Redis?)"
        assert stack.incidents == ["dependency-down"], "a refused incident is not recorded as active"

        assert cli.main(["demo", "--incident", "clear"]) == 0
        assert capsys.readouterr().out.strip() == "incident clear: cleared; active: none"
        assert stack.services["search"].condition == "ok"
    finally:
        stack.stop()
