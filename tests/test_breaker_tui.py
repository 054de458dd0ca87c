"""The Breakers pane in the real app: breakers a real `Breaker` writes to a private Redis, transitions announced,
force-open / close from the pane in write mode (and refused read-only), an actuator force-open the app's own
timer ends, and untrusted breaker names and errors kept as text.

Every Redis is a `PrivateRedis` on its own port (never the shared 127.0.0.1:6379), every test has its own key
prefix, actuators are `ActuatorServer`s on loopback. Settings come from TOML files in `tmp_path`; the audit
journal is in `tmp_path` too. Waits are bounded polling loops, never fixed sleeps.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.adapters.breaker import Breaker, BreakerOpen, BreakerRegistry, BreakerSettings
from console.app import OpsConsoleApp, make_app
from console.audit import AuditLog
from console.config import Settings, load_settings
from console.model import BreakerInfo, BreakerState
from console.screens.breaker_action import BreakerActionScreen
from console.sources import build_sources
from tests.fixtures.http_targets import TargetServer, json_reply
from tests.fixtures.redis_server import PrivateRedis, requires_redis_server
from tests.fixtures.resilience4j import (  # noqa: F401 - the *_fixture imports register fixtures
    ENDPOINT,
    ActuatorServer,
    details,
    make_actuator_fixture,
)
from widgets.breakers_pane import BreakersPane

pytestmark = pytest.mark.timeout(60)

CLOSED, OPEN, FORCED_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.FORCED_OPEN
SETTINGS = BreakerSettings(
    failure_rate_threshold=50,
    slow_call_rate_threshold=100,
    slow_call_ms=60_000,
    window=4,
    minimum_calls=4,
    open_ms=600_000,  # never half-opens during a test
    half_open_probes=2,
)
SIZE = (120, 40)


class Boom(RuntimeError):
    """The dependency failed."""


# --- fixtures and helpers ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as private:
        yield private


@pytest.fixture
def prefix() -> str:
    return f"test:breakers-tui:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(server: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis_client = aioredis.Redis.from_url(server.url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        yield redis_client
    finally:
        await redis_client.aclose()


def toml_string(value: object) -> str:
    return json.dumps(str(value))


def settings_for(
    tmp_path: Path,
    *,
    redis_url: str | None = None,
    prefix: str | None = None,
    actuators: dict[str, str] | None = None,
    force_minutes: float | None = None,
) -> Settings:
    """Settings from a TOML file in `tmp_path` (env `t`, polled every 0.2 s); journal in `tmp_path`.

    `force_minutes` below the config's minimum (0.1) is set on the loaded settings: a force-open that short
    exists only so a test can watch it end."""
    lines = [
        "[console]",
        f"audit_log = {toml_string(tmp_path / 'audit.jsonl')}",
        "refresh = 0.2",
        "timeout = 1.0",
        "",
        "[env.t]",
        "",
        "[env.t.breakers]",
        "interval = 0.2",
        "timeout = 1.0",
    ]
    if redis_url is not None:
        lines += [f"redis_url = {toml_string(redis_url)}", f"prefix = {toml_string(prefix)}"]
    for service, url in (actuators or {}).items():
        lines += ["", "[[env.t.breakers.actuator]]", f"service = {toml_string(service)}", f"url = {toml_string(url)}"]
    path = tmp_path / "console.toml"
    path.write_text("\n".join(lines) + "\n")
    settings = load_settings(str(path), environ={})
    if force_minutes is not None:
        assert settings.env.breakers is not None
        breakers = replace(settings.env.breakers, force_minutes=force_minutes)
        settings = replace(settings, env=replace(settings.env, breakers=breakers))
    return settings


def app_for(settings: Settings) -> OpsConsoleApp:
    return make_app(settings, source_factory=lambda: build_sources(settings))


def journal(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return list(AuditLog(settings.audit_log).records())


async def settle(pilot: Pilot[Any], what: str, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Let the app run until `predicate()` is truthy (returned); fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def pane(app: OpsConsoleApp) -> BreakersPane:
    return app.main_screen.query_one(BreakersPane)


def row(app: OpsConsoleApp, key: str) -> BreakerInfo | None:
    """The pane's breaker `source:service/name`, None while it is not shown."""
    return next((r.info for r in pane(app).rows if f"{r.info.source}:{r.info.key}" == key), None)


def cell(app: OpsConsoleApp, key: str, column: str) -> str:
    """The text of one cell of the pane's table; key `source:service/name`."""
    source, _, breaker = key.partition(":")
    table = pane(app).query_one(DataTable)
    return table.get_cell(f"{breaker}@{source}", column).plain.strip()


def notes(app: OpsConsoleApp) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in app._notifications]


def status_text(app: OpsConsoleApp) -> str:
    return str(app.screen.query_one("#breaker-status", Static).content)


async def call_ok(breaker: Breaker) -> None:
    async with breaker:
        pass


async def call_failing(breaker: Breaker) -> None:
    with pytest.raises(Boom):
        async with breaker:
            raise Boom("dependency down")


async def permits(breaker: Breaker) -> bool:
    try:
        await call_ok(breaker)
    except BreakerOpen:
        return False
    return True


async def registry_info(client: aioredis.Redis, prefix: str, key: str) -> BreakerInfo:
    return {b.key: b for b in await BreakerRegistry(client, prefix).read()}[key]


async def enable_write_mode(pilot: Pilot[Any], app: OpsConsoleApp, reason: str = "INC-77 payments") -> None:
    await pilot.press("w")
    await pilot.press(*reason, "enter")
    assert app.write.active() and app.write.reason == reason


async def open_action(pilot: Pilot[Any], app: OpsConsoleApp, key: str) -> BreakerActionScreen:
    """Press `key` on the highlighted breaker; the action dialog with its dry-run shown."""
    await pilot.press(key)
    screen = await settle(pilot, f"the dialog of {key}", lambda: isinstance(app.screen, BreakerActionScreen))
    screen = app.screen
    assert isinstance(screen, BreakerActionScreen) and screen.ready
    return screen


# --- the pane and transition notices -----------------------------------------------------------------------------


@requires_redis_server
async def test_pane_shows_registry_breakers_and_announces_a_trip(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    payments = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    ledger = Breaker(client, "checkout", "ledger", SETTINGS, prefix=prefix)
    await call_failing(payments)
    for _ in range(3):
        await call_ok(payments)  # 1 failure in 4 calls: 25 %, closed
    await call_ok(ledger)
    settings = settings_for(tmp_path, redis_url=server.url, prefix=prefix)
    app = app_for(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        assert pane(app).has_class("-active")
        await settle(
            pilot, "both breakers", lambda: row(app, "redis:checkout/payments") and row(app, "redis:checkout/ledger")
        )
        info = row(app, "redis:checkout/payments")
        assert info is not None and (info.state, info.failure_rate, info.buffered_calls) == (CLOSED, 25.0, 4)
        assert (cell(app, "redis:checkout/payments", "state"), cell(app, "redis:checkout/payments", "fail")) == (
            "CLOSED",
            "25%",
        )
        assert cell(app, "redis:checkout/ledger", "fail") == "—"  # one call: no rate judged yet
        assert not any("→" in message for message, _ in notes(app))

        # Two more failures: 2 of the last 4 calls failed, 50 %: the breaker opens and the app says so.
        await call_failing(payments)
        await call_failing(payments)
        assert not await permits(payments)
        announced = await settle(
            pilot,
            "the transition notice",
            lambda: [n for n in notes(app) if n[0] == "breaker checkout/payments: CLOSED → OPEN"],
        )
        assert announced == [("breaker checkout/payments: CLOSED → OPEN", "error")]
        info = row(app, "redis:checkout/payments")
        assert info is not None and (info.state, info.failure_rate, info.not_permitted_calls) == (OPEN, 50.0, 1)
        assert cell(app, "redis:checkout/payments", "state") == "OPEN"
        assert pane(app).rows[0].info.key == "checkout/payments"  # open first
        assert "6 Breakers · 2 · 1 open" in str(pane(app).border_title)
        assert not [n for n in notes(app) if "ledger" in n[0]]


# --- actions from the pane ---------------------------------------------------------------------------------------


@requires_redis_server
async def test_force_open_then_close_from_the_pane(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    payments = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await call_ok(payments)
    settings = settings_for(tmp_path, redis_url=server.url, prefix=prefix)
    app = app_for(settings)
    async with app.run_test(size=SIZE) as pilot:
        await enable_write_mode(pilot, app)
        await pilot.press("6")
        await settle(pilot, "the breaker", lambda: row(app, "redis:checkout/payments"))

        screen = await open_action(pilot, app, "F")
        plan = screen.action.plan
        assert plan is not None and (plan.before, plan.after) == (CLOSED, FORCED_OPEN)
        assert "checkout/payments: CLOSED → FORCED_OPEN until" in str(screen.query_one("#breaker-plan", Static).content)
        assert "press y to confirm" in status_text(app)
        await pilot.press("y")
        await settle(pilot, "the force-open", lambda: screen.finished)
        assert status_text(app).startswith("done: before=CLOSED, after=FORCED_OPEN, until=")

        forced = await registry_info(client, prefix, "checkout/payments")
        assert forced.state is FORCED_OPEN and forced.forced_until is not None
        assert timedelta(minutes=9) < forced.forced_until - datetime.now(UTC) <= timedelta(minutes=10)
        assert "INC-77 payments" in forced.note
        assert not await permits(payments)
        await pilot.press("escape")
        await settle(pilot, "FORCED in the pane", lambda: cell(app, "redis:checkout/payments", "state") == "FORCED")
        assert cell(app, "redis:checkout/payments", "since").startswith("⏱")
        assert "1 open" in str(pane(app).border_title)

        screen = await open_action(pilot, app, "C")
        assert "checkout/payments: FORCED_OPEN → CLOSED" in str(screen.query_one("#breaker-plan", Static).content)
        await pilot.press("y")
        await settle(pilot, "the close", lambda: screen.finished)
        assert (await registry_info(client, prefix, "checkout/payments")).state is CLOSED
        assert await permits(payments)
        await pilot.press("escape")
        await settle(pilot, "CLOSED in the pane", lambda: cell(app, "redis:checkout/payments", "state") == "CLOSED")
    records = journal(settings)
    assert [(r["action"], r["outcome"]) for r in records] == [
        (action, outcome)
        for action in ("breaker-force-open", "breaker-close")
        for outcome in ("dry-run", "started", "done")
    ]
    assert {r["reason"] for r in records if r["outcome"] != "dry-run"} == {"INC-77 payments"}
    assert records[2]["counts"]["after"] == "FORCED_OPEN" and records[5]["counts"]["after"] == "CLOSED"


@requires_redis_server
async def test_read_only_shows_the_hint_and_changes_nothing(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    payments = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await call_ok(payments)
    settings = settings_for(tmp_path, redis_url=server.url, prefix=prefix)
    app = app_for(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot, "the breaker", lambda: row(app, "redis:checkout/payments"))
        screen = await open_action(pilot, app, "F")
        assert "read-only: press esc, then w to enable write mode" in status_text(app)
        await pilot.press("y")
        await settle(pilot, "the refusal", lambda: status_text(app).startswith("✖ read-only mode"))
        assert not screen.finished
        await pilot.press("escape")
        await pilot.pause(0.3)  # a few more polls
        assert cell(app, "redis:checkout/payments", "state") == "CLOSED"
    assert (await registry_info(client, prefix, "checkout/payments")).state is CLOSED
    assert await permits(payments)
    assert [r["outcome"] for r in journal(settings)] == ["dry-run", "refused"]


# --- actuator force-open: ended by the app's timer ---------------------------------------------------------------


async def test_actuator_force_open_is_closed_by_the_app_when_time_is_up(
    make_actuator: Callable[..., ActuatorServer], tmp_path: Path
) -> None:
    actuator = make_actuator({"inventory": details("CLOSED")})
    settings = settings_for(
        tmp_path, actuators={"checkout": actuator.base_url}, force_minutes=0.05
    )  # 3 s: slack for a loaded CI machine
    app = app_for(settings)
    async with app.run_test(size=SIZE) as pilot:
        await enable_write_mode(pilot, app)
        await pilot.press("6")
        await settle(pilot, "the breaker", lambda: row(app, "actuator:checkout/inventory"))
        screen = await open_action(pilot, app, "F")
        await pilot.press("y")
        await settle(pilot, "the force-open", lambda: screen.finished)
        forced_at = time.monotonic()
        assert actuator.state("inventory") == "FORCED_OPEN"
        assert screen.action.revert_at is not None
        await pilot.press("escape")
        await settle(pilot, "the revert", lambda: actuator.state("inventory") == "CLOSED", timeout=15.0)
        assert time.monotonic() - forced_at > 0.2
        await settle(
            pilot, "the notice", lambda: [m for m, _ in notes(app) if "FORCED_OPEN → CLOSED" in m], timeout=5.0
        )
        await settle(pilot, "CLOSED in the pane", lambda: cell(app, "actuator:checkout/inventory", "state") == "CLOSED")
        # The detached reverter journals its close after the actuator answered it.
        await settle(
            pilot, "the reverter's journal", lambda: len([r for r in journal(settings) if r["outcome"] == "done"]) == 2
        )
    assert [json.loads(p.body)["updateState"] for p in actuator.posts()] == ["FORCE_OPEN", "CLOSE"]
    done = [r for r in journal(settings) if r["outcome"] == "done"]
    assert [(r["action"], r["counts"]["before"], r["counts"]["after"]) for r in done] == [
        ("breaker-force-open", "CLOSED", "FORCED_OPEN"),
        ("breaker-close", "FORCED_OPEN", "CLOSED"),
    ]
    assert all(r["target"] == "actuator:checkout/inventory" for r in done)


async def test_a_later_action_cancels_the_pending_revert(
    make_actuator: Callable[..., ActuatorServer], tmp_path: Path
) -> None:
    """Disabled after a timed force-open: the force-open's timer must not close the breaker behind the operator."""
    actuator = make_actuator({"inventory": details("CLOSED")})
    settings = settings_for(
        tmp_path, actuators={"checkout": actuator.base_url}, force_minutes=0.08
    )  # 4.8 s: slack for a loaded CI machine
    app = app_for(settings)
    async with app.run_test(size=SIZE) as pilot:
        await enable_write_mode(pilot, app)
        await pilot.press("6")
        await settle(pilot, "the breaker", lambda: row(app, "actuator:checkout/inventory"))
        screen = await open_action(pilot, app, "F")
        await pilot.press("y")
        await settle(pilot, "the force-open", lambda: screen.finished)
        revert_at = screen.action.revert_at
        assert revert_at is not None
        await pilot.press("escape")
        screen = await open_action(pilot, app, "D")
        await pilot.press("y")
        await settle(pilot, "the disable", lambda: screen.finished)
        assert datetime.now(UTC) < revert_at, "too slow: the disable came after the force-open's end"
        assert actuator.state("inventory") == "DISABLED"
        await pilot.press("escape")
        while datetime.now(UTC) < revert_at + timedelta(seconds=0.5):
            await pilot.pause(0.05)
        assert actuator.state("inventory") == "DISABLED"
    assert [json.loads(p.body)["updateState"] for p in actuator.posts()] == ["FORCE_OPEN", "DISABLE"]


# --- one breaker seen by two sources -----------------------------------------------------------------------------


@requires_redis_server
async def test_the_same_breaker_in_two_sources_keeps_two_histories(
    server: PrivateRedis,
    client: aioredis.Redis,
    make_actuator: Callable[..., ActuatorServer],
    tmp_path: Path,
    prefix: str,
) -> None:
    """checkout/payments is CLOSED in the registry and OPEN on the actuator: two rows, no flapping notices."""
    await call_ok(Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix))
    actuator = make_actuator({"payments": details("OPEN", 75.0, 0.0, buffered=4, failed=3)})
    settings = settings_for(tmp_path, redis_url=server.url, prefix=prefix, actuators={"checkout": actuator.base_url})
    app = app_for(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(
            pilot,
            "three readings",
            lambda: len(pane(app).rows) == 2 and all(len(r.history) >= 3 for r in pane(app).rows),
        )
        histories = {f"{r.info.source}:{r.info.key}": set(r.history) for r in pane(app).rows}
        assert histories == {"redis:checkout/payments": {CLOSED}, "actuator:checkout/payments": {OPEN}}
        assert not [m for m, _ in notes(app) if "→" in m]
        assert (cell(app, "redis:checkout/payments", "state"), cell(app, "actuator:checkout/payments", "state")) == (
            "CLOSED",
            "OPEN",
        )


# --- untrusted text ----------------------------------------------------------------------------------------------


async def test_breaker_names_and_errors_are_text_not_markup(
    make_actuator: Callable[..., ActuatorServer], tmp_path: Path
) -> None:
    """Names come from the services: `[/x]` must show as written — never parsed as markup (which would crash)."""
    name = "p[/x]ay"
    actuator = make_actuator({name: details("CLOSED")})
    broken = TargetServer({ENDPOINT: json_reply({"message": "[/oops] db down"}, 500)})
    try:
        settings = settings_for(
            tmp_path, actuators={"checkout": actuator.base_url, "billing": broken.url("")}, force_minutes=0.01
        )
        app = app_for(settings)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await enable_write_mode(pilot, app)
            await pilot.press("6")
            await settle(pilot, "the breaker", lambda: row(app, f"actuator:checkout/{name}"))
            await settle(pilot, "the error note", lambda: "billing" in str(pane(app).border_title))
            assert "· actuator billing: billing actuator at http://127.0.0.1:" in str(pane(app).border_title)
            assert cell(app, f"actuator:checkout/{name}", "name") == name

            screen = await open_action(pilot, app, "F")
            box_title = Content.from_markup(str(screen.query_one("Vertical").border_title)).plain
            assert box_title == f"force-open · actuator · checkout/{name}"
            await pilot.press("y")
            await settle(pilot, "the force-open", lambda: screen.finished)
            await pilot.press("escape")

            # Announced twice: both transitions polls saw (the end came from the detached reverter).
            wanted = (
                f"breaker checkout/{name}: CLOSED → FORCED_OPEN",
                f"breaker checkout/{name}: FORCED_OPEN → CLOSED",
            )
            await settle(pilot, "both notices", lambda: set(wanted) <= {m for m, _ in notes(app)})
            await pilot.pause(0.1)  # the toasts are drawn
            toasts = "\n".join(str(t.render()) for t in app.screen.query("Toast"))
            assert all(text in toasts for text in wanted), toasts
            assert actuator.state(name) == "CLOSED"
    finally:
        broken.close()
