"""Breaker actions end to end, without the TUI: `[env.NAME.breakers]` config, the Breakers source (Redis registry +
resilience4j actuators + Prometheus gauges), the `BreakerAction` spec on the registry and on an actuator, `opsconsole
act breaker …` and `opsconsole snapshot --json`.

Every Redis is a `PrivateRedis` on its own port (never the shared 127.0.0.1:6379) and every test has its own key
prefix; actuators are `ActuatorServer`s on loopback; Prometheus is a private server, in one test only. Settings come
from TOML files in `tmp_path` through `load_settings`, with the audit journal in `tmp_path` too.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from console import breaker_revert
from console.adapters.breaker import Breaker, BreakerOpen, BreakerRegistry, BreakerSettings
from console.audit import AuditLog
from console.breaker_actions import BreakerAction
from console.breaker_source import BreakerSource
from console.cli import main
from console.config import Settings, load_settings
from console.config_breakers import ActuatorTarget, BreakersConfig
from console.errors import ActionRefused, ConfigError, SourceUnavailable
from console.model import BreakerInfo, BreakerState
from console.safety import WriteMode
from tests.fixtures.net import free_port
from tests.fixtures.prometheus_server import PrometheusServer, ScrapeTarget, find_prometheus, requires_prometheus
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)
from tests.fixtures.resilience4j import (  # noqa: F401 - the *_fixture imports register fixtures
    ENDPOINT,
    ActuatorServer,
    BreakerExporter,
    details,
    make_actuator_fixture,
)

pytestmark = pytest.mark.timeout(60)

CLOSED, OPEN, FORCED_OPEN, DISABLED = (
    BreakerState.CLOSED,
    BreakerState.OPEN,
    BreakerState.FORCED_OPEN,
    BreakerState.DISABLED,
)
# Small windows so a handful of calls trips a breaker; open long enough never to half-open during a test.
SETTINGS = BreakerSettings(
    failure_rate_threshold=50,
    slow_call_rate_threshold=100,
    slow_call_ms=60_000,
    window=4,
    minimum_calls=4,
    open_ms=600_000,
    half_open_probes=2,
)


class Boom(RuntimeError):
    """The dependency failed."""


# --- fixtures and helpers ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as private:
        yield private


@pytest.fixture
def prefix() -> str:
    return f"test:breakers:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(server: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis_client = aioredis.Redis.from_url(server.url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        yield redis_client
    finally:
        await redis_client.aclose()


def toml_string(value: object) -> str:
    return json.dumps(str(value))  # a TOML basic string


def write_config(
    tmp_path: Path,
    *,
    redis_url: str | None = None,
    prefix: str | None = None,
    actuators: dict[str, str] | None = None,
    protected: bool = False,
    extra_env: str = "",
    extra_breakers: str = "",
) -> Path:
    """A config file with one environment `t` and its `[env.t.breakers]`; the journal in `tmp_path`."""
    lines = [
        "[console]",
        f"audit_log = {toml_string(tmp_path / 'audit.jsonl')}",
        "refresh = 0.5",
        "timeout = 1.0",
        "",
        "[env.t]",
        f"protected = {str(protected).lower()}",
        extra_env,
        "",
        "[env.t.breakers]",
        "interval = 0.5",
        "timeout = 1.0",
    ]
    if redis_url is not None:
        lines.append(f"redis_url = {toml_string(redis_url)}")
    if prefix is not None:
        lines.append(f"prefix = {toml_string(prefix)}")
    lines.append(extra_breakers)
    for service, url in (actuators or {}).items():
        lines += ["", "[[env.t.breakers.actuator]]", f"service = {toml_string(service)}", f"url = {toml_string(url)}"]
    path = tmp_path / "console.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def settings_from(path: Path) -> Settings:
    return load_settings(str(path), environ={})


def journal(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return list(AuditLog(settings.audit_log).records())


def write_mode(reason: str = "INC-42 payments failover") -> WriteMode:
    write = WriteMode()
    write.enable(reason, 15)
    return write


async def poll(settings: Settings) -> tuple[dict[str, BreakerInfo], str]:
    """One poll of the Breakers source: {source:service/name: info} and the note."""
    source = BreakerSource(settings)
    try:
        snapshot = await source.poll()
    finally:
        await source.aclose()
    return {f"{b.source}:{b.key}": b for b in snapshot.breakers}, snapshot.note


async def call_ok(breaker: Breaker) -> None:
    async with breaker:
        pass


async def call_failing(breaker: Breaker) -> None:
    with pytest.raises(Boom):
        async with breaker:
            raise Boom("dependency down")


async def permits(breaker: Breaker) -> bool:
    """Whether the breaker lets a (successful) call through right now."""
    try:
        await call_ok(breaker)
    except BreakerOpen:
        return False
    return True


async def trip(breaker: Breaker) -> None:
    """Failing calls until the breaker opens (at most a window of them)."""
    for _ in range(SETTINGS.window):
        try:
            await call_failing(breaker)
        except BreakerOpen:
            return
    assert not await permits(breaker)


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """For the sync CLI tests (the CLI runs its own event loop)."""
    return asyncio.run(coroutine)


async def register(url: str, prefix: str, *names: str, service: str = "checkout", failures: int = 0) -> None:
    """Register breakers the way a service does: by calling through them (own client, closed after)."""
    redis_client = aioredis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        for name in names:
            breaker = Breaker(redis_client, service, name, SETTINGS, prefix=prefix)
            for _ in range(failures):
                await call_failing(breaker)
            await call_ok(breaker)
    finally:
        await redis_client.aclose()


async def registry_state(url: str, prefix: str, key: str) -> BreakerInfo:
    redis_client = aioredis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        return {b.key: b for b in await BreakerRegistry(redis_client, prefix).read()}[key]
    finally:
        await redis_client.aclose()


# --- config ------------------------------------------------------------------------------------------------------


def test_config_parses_breakers(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        prefix="svc:breakers",
        extra_env='redis_url = "redis://cache.internal:6379/2"',
        extra_breakers='force_minutes = 5\nservice_label = "app"',
        actuators={"checkout": "http://checkout.internal:8080/", "billing": "https://billing.internal"},
    )
    text = path.read_text() + '\n[env.t.breakers.actuator.headers]\nAuthorization = "Bearer t0k"\n'
    text += '\n[[env.t.breakers.actuator]]\nservice = "ledger"\nurl = "https://ledger.internal"\nverify_tls = false\n'
    path.write_text(text)
    config = settings_from(path).env.breakers
    assert config == BreakersConfig(
        redis_url="redis://cache.internal:6379/2",  # the environment's redis_url: the registry lives there
        prefix="svc:breakers",
        actuator=(
            ActuatorTarget("checkout", "http://checkout.internal:8080"),
            ActuatorTarget("billing", "https://billing.internal", (("Authorization", "Bearer t0k"),)),
            ActuatorTarget("ledger", "https://ledger.internal", verify_tls=False),
        ),
        prometheus=False,
        service_label="app",
        force_minutes=5.0,
        interval=0.5,
        timeout=1.0,
    )
    # Without a table there is nothing to watch; with an empty one the defaults apply.
    assert settings_from(write_config(tmp_path)).env.breakers == BreakersConfig(interval=0.5, timeout=1.0)
    (tmp_path / "bare.toml").write_text("[env.t]\n")
    assert settings_from(tmp_path / "bare.toml").env.breakers is None


def test_config_problems_name_the_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        redis_url="http://not-redis:6379",
        extra_breakers='prometheus = true\ncolour = "red"\nforce_minutes = 0.01',
        actuators={"checkout": "ftp://checkout"},
    )
    path.write_text(path.read_text() + 'token = "x"\n\n[[env.t.breakers.actuator]]\nservice = "ledger"\n')
    with pytest.raises(ConfigError) as caught:
        settings_from(path)
    problems = "\n".join(caught.value.problems)
    origin = str(path)
    assert f"{origin}: env.t.breakers.prometheus: needs prometheus_url" in problems
    assert f"{origin}: env.t.breakers.colour: unknown key (expected one of: actuator, force_minutes," in problems
    assert f"{origin}: env.t.breakers.actuator[0].token: unknown key" in problems
    assert f"{origin}: env.t.breakers.actuator[0].url: expected a URL starting with http:// or https://" in problems
    assert f"{origin}: env.t.breakers.actuator[1].url: is required" in problems
    assert f"{origin}: env.t.breakers.redis_url: expected a URL starting with redis://" in problems
    assert f"{origin}: env.t.breakers.force_minutes: expected a number >= 0.1, got 0.01" in problems
    assert len(caught.value.problems) == 7

    # Prometheus breakers are fine once the environment has a Prometheus.
    ok = write_config(
        tmp_path, extra_env='prometheus_url = "http://prometheus:9090"', extra_breakers="prometheus = true"
    )
    assert settings_from(ok).env.breakers.prometheus is True  # type: ignore[union-attr]


def test_config_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_config(tmp_path, redis_url="redis://127.0.0.1:1/0", actuators={"checkout": "http://127.0.0.1:1"})
    assert main(["config", "check", "--config", str(good)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {good}")

    bad = write_config(tmp_path, extra_breakers="prometheus = true\nsurprise = 1")
    assert main(["config", "check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err
    assert "env.t.breakers.prometheus: needs prometheus_url" in err
    assert "env.t.breakers.surprise: unknown key" in err


# --- the Breakers source -----------------------------------------------------------------------------------------


@requires_redis_server
async def test_source_polls_registry_and_actuators_into_one_snapshot(
    make_redis: Callable[..., PrivateRedis], make_actuator: Callable[..., ActuatorServer], tmp_path: Path, prefix: str
) -> None:
    redis = make_redis()
    await register(redis.url, prefix, "payments", failures=1)
    checkout, billing = make_actuator(), make_actuator({"invoices": details("CLOSED", 10.0, 0.0, buffered=10)})
    settings = settings_from(
        write_config(
            tmp_path,
            redis_url=redis.url,
            prefix=prefix,
            actuators={"checkout": checkout.base_url, "billing": billing.base_url},
        )
    )
    infos, note = await poll(settings)
    assert note == ""
    assert sorted(infos) == [
        "actuator:billing/invoices",
        "actuator:checkout/inventory",
        "actuator:checkout/payments",
        "actuator:checkout/shipping",
        "actuator:checkout/warmup",
        "redis:checkout/payments",
    ]
    assert (infos["redis:checkout/payments"].state, infos["redis:checkout/payments"].buffered_calls) == (CLOSED, 2)
    assert (infos["actuator:checkout/payments"].state, infos["actuator:checkout/payments"].failure_rate) == (OPEN, 62.5)
    assert infos["actuator:billing/invoices"].failure_rate == 10.0

    # One actuator gone: everything else is still shown, and the note names the one that failed.
    checkout.close()
    infos, note = await poll(settings)
    assert sorted(infos) == ["actuator:billing/invoices", "redis:checkout/payments"]
    assert note.startswith("actuator checkout: ")
    assert "billing" not in note and "registry" not in note

    # The registry gone too: the note names both; the last actuator still shows.
    redis.stop()
    started = time.monotonic()
    infos, note = await poll(settings)
    assert time.monotonic() - started < 3.0
    assert sorted(infos) == ["actuator:billing/invoices"]
    assert "registry: " in note and "actuator checkout: " in note

    # Every source down: the reading is an error naming each.
    billing.close()
    with pytest.raises(SourceUnavailable) as caught:
        await poll(settings)
    assert all(label in str(caught.value) for label in ("registry: ", "actuator checkout: ", "actuator billing: "))


@requires_redis_server
@requires_prometheus
async def test_source_adds_prometheus_gauges(
    server: PrivateRedis, make_actuator: Callable[..., ActuatorServer], tmp_path: Path, prefix: str
) -> None:
    find_prometheus()
    await register(server.url, prefix, "ledger")
    actuator = make_actuator({"inventory": details("CLOSED", 12.5, 0.0, buffered=8, failed=1)})
    exporter = BreakerExporter(application="search")
    try:
        exporter.set("elastic", "open", failure_rate=80.0, failed=8, successful=2, not_permitted=5)
        with PrometheusServer([ScrapeTarget.from_url("search", exporter.metrics_url)]) as prometheus:
            prometheus.wait_for_series('resilience4j_circuitbreaker_state{name="elastic"}', timeout=30)
            settings = settings_from(
                write_config(
                    tmp_path,
                    redis_url=server.url,
                    prefix=prefix,
                    actuators={"checkout": actuator.base_url},
                    extra_env=f"prometheus_url = {toml_string(prometheus.url)}",
                    extra_breakers="prometheus = true",
                )
            )
            infos, note = await poll(settings)
            assert note == ""
            assert {"redis:checkout/ledger", "actuator:checkout/inventory", "prometheus:search/elastic"} <= set(infos)
            elastic = infos["prometheus:search/elastic"]
            assert (elastic.state, elastic.failure_rate, elastic.not_permitted_calls) == (OPEN, 80.0, 5)

            prometheus.stop()
            infos, note = await poll(settings)
            assert {"redis:checkout/ledger", "actuator:checkout/inventory"} == set(infos)
            assert note.startswith("prometheus: ")
    finally:
        exporter.close()


# --- BreakerAction on the Redis registry -------------------------------------------------------------------------


@requires_redis_server
async def test_registry_read_only_is_refused_and_journalled(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    breaker = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await call_ok(breaker)
    settings = settings_from(write_config(tmp_path, redis_url=server.url, prefix=prefix))
    infos, _ = await poll(settings)
    action = BreakerAction(settings, infos["redis:checkout/payments"], "force-open", AuditLog(settings.audit_log))
    with pytest.raises(ActionRefused, match="no dry-run"):
        await action.execute(write_mode(), yes=True)
    action.dry_run()
    with pytest.raises(ActionRefused, match="read-only mode"):
        await action.execute(WriteMode(), yes=True)
    assert await permits(breaker)
    assert (await registry_state(server.url, prefix, "checkout/payments")).state is CLOSED
    records = journal(settings)
    assert [r["outcome"] for r in records] == ["refused", "dry-run", "refused"]
    assert {r["action"] for r in records} == {"breaker-force-open"}
    assert records[-1]["target"] == "redis:checkout/payments" and "read-only" in records[-1]["detail"]


@requires_redis_server
async def test_registry_force_open_rejects_calls_then_redis_expires_it(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    breaker = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await call_ok(breaker)
    settings = settings_from(write_config(tmp_path, redis_url=server.url, prefix=prefix))
    infos, _ = await poll(settings)
    action = BreakerAction(
        settings, infos["redis:checkout/payments"], "force-open", AuditLog(settings.audit_log), minutes=0.03
    )  # 1.8 s: long enough for a loaded CI machine to act before it ends
    before = datetime.now(UTC)
    plan = action.dry_run()
    assert (plan.before, plan.after, plan.confirmation.level) == (CLOSED, FORCED_OPEN, "key")
    assert plan.until is not None and abs((plan.until - before).total_seconds() - 1.8) < 0.5
    assert "checkout/payments: CLOSED → FORCED_OPEN until " in plan.summary
    assert "expires in Redis by itself" in plan.summary
    assert await permits(breaker)  # a dry-run changes nothing

    result = await action.execute(write_mode(), yes=True)
    forced_at = time.monotonic()
    assert (result["before"], result["after"]) == ("CLOSED", "FORCED_OPEN")
    assert result["until"] == plan.until.isoformat(timespec="seconds")
    with pytest.raises(BreakerOpen) as caught:
        await call_ok(breaker)
    assert caught.value.state is FORCED_OPEN and caught.value.retry_after is not None
    forced = await registry_state(server.url, prefix, "checkout/payments")
    assert forced.state is FORCED_OPEN and forced.forced_until is not None
    assert "FORCED_OPEN by " in forced.note and "INC-42 payments failover" in forced.note

    # Nothing else runs: Redis expires the override and the breaker permits calls again.
    while not await permits(breaker):
        assert time.monotonic() - forced_at < 10.0, "the forced open never expired"
        await asyncio.sleep(0.05)
    assert time.monotonic() - forced_at > 0.3
    back = await registry_state(server.url, prefix, "checkout/payments")
    assert (back.state, back.forced_until) == (CLOSED, None)
    assert (back.transitions[-1].from_state, back.transitions[-1].reason) == (FORCED_OPEN, "override expired")

    records = journal(settings)
    assert [r["outcome"] for r in records] == ["dry-run", "started", "done"]
    assert records[0]["counts"] == {"before": "CLOSED"} and "expires in Redis by itself" in records[0]["detail"]
    assert records[1]["reason"] == "INC-42 payments failover"
    assert records[2]["counts"]["before"] == "CLOSED" and records[2]["counts"]["after"] == "FORCED_OPEN"
    assert records[2]["parameters"] == {"verb": "force-open", "source": "redis", "minutes": "0.03"}
    assert all(r["target"] == "redis:checkout/payments" and r["environment"] == "t" for r in records)


@requires_redis_server
async def test_registry_close_reset_disable(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    breaker = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await trip(breaker)
    settings = settings_from(write_config(tmp_path, redis_url=server.url, prefix=prefix))
    audit = AuditLog(settings.audit_log)
    write = write_mode()

    async def act(verb: str, **options: Any) -> dict[str, Any]:
        infos, _ = await poll(settings)
        action = BreakerAction(settings, infos["redis:checkout/payments"], verb, audit, **options)
        plan = action.dry_run()
        assert plan.summary.startswith(f"checkout/payments: {infos['redis:checkout/payments'].state.value} → ")
        return await action.execute(write, yes=True)

    assert not await permits(breaker)
    assert await act("close") == {"before": "OPEN", "after": "CLOSED"}
    assert await permits(breaker)
    closed = await registry_state(server.url, prefix, "checkout/payments")
    assert (closed.state, closed.buffered_calls) == (CLOSED, 1)  # a fresh window

    await trip(breaker)
    assert not await permits(breaker) and not await permits(breaker)
    assert (await registry_state(server.url, prefix, "checkout/payments")).not_permitted_calls
    assert await act("reset") == {"before": "OPEN", "after": "CLOSED"}
    reset = await registry_state(server.url, prefix, "checkout/payments")
    assert (reset.state, reset.not_permitted_calls, reset.buffered_calls) == (CLOSED, 0, 0)

    result = await act("disable")
    assert result == {"before": "CLOSED", "after": "DISABLED"}  # no duration: until closed
    for _ in range(SETTINGS.window * 2):
        await call_failing(breaker)  # disabled: every call permitted, nothing recorded
    disabled = await registry_state(server.url, prefix, "checkout/payments")
    assert (disabled.state, disabled.forced_until, disabled.buffered_calls) == (DISABLED, None, 0)
    assert await act("close") == {"before": "DISABLED", "after": "CLOSED"}
    assert await permits(breaker)
    outcomes = [(r["action"], r["outcome"]) for r in journal(settings)]
    assert outcomes == [
        (f"breaker-{verb}", outcome)
        for verb in ("close", "reset", "disable", "close")
        for outcome in ("dry-run", "started", "done")
    ]


@requires_redis_server
async def test_registry_protected_environment_needs_the_typed_name(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    breaker = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await call_ok(breaker)
    settings = settings_from(write_config(tmp_path, redis_url=server.url, prefix=prefix, protected=True))
    infos, _ = await poll(settings)
    action = BreakerAction(settings, infos["redis:checkout/payments"], "force-open", AuditLog(settings.audit_log))
    plan = action.dry_run()
    assert (plan.confirmation.level, plan.confirmation.text) == ("typed", "payments")
    with pytest.raises(ActionRefused, match="type the breaker name 'payments'"):
        await action.execute(write_mode(), yes=True)
    with pytest.raises(ActionRefused, match="confirmation required"):
        await action.execute(write_mode(), given="checkout")
    assert await permits(breaker)
    result = await action.execute(write_mode(), given="payments")
    assert result["after"] == "FORCED_OPEN"
    assert not await permits(breaker)
    forced = await registry_state(server.url, prefix, "checkout/payments")
    assert forced.forced_until is not None  # the default force_minutes (10): Redis will end it
    assert timedelta(minutes=9) < forced.forced_until - datetime.now(UTC) <= timedelta(minutes=10)
    assert [r["outcome"] for r in journal(settings)] == ["dry-run", "refused", "refused", "started", "done"]


@requires_redis_server
async def test_a_duration_must_be_positive(
    server: PrivateRedis, client: aioredis.Redis, tmp_path: Path, prefix: str
) -> None:
    breaker = Breaker(client, "checkout", "payments", SETTINGS, prefix=prefix)
    await call_ok(breaker)
    settings = settings_from(write_config(tmp_path, redis_url=server.url, prefix=prefix))
    infos, _ = await poll(settings)
    for verb, minutes in (("force-open", 0.0), ("force-open", -5.0), ("disable", 0.0)):
        action = BreakerAction(settings, infos["redis:checkout/payments"], verb, AuditLog(settings.audit_log), minutes)
        # 0 would be "forced for ever" while the dry-run promised an expiry; negative would fail half-way.
        with pytest.raises(ActionRefused, match="positive"):
            action.dry_run()
    assert await permits(breaker)
    assert journal(settings) == []


# --- BreakerAction on a resilience4j actuator --------------------------------------------------------------------


async def test_actuator_force_open_close_disable(make_actuator: Callable[..., ActuatorServer], tmp_path: Path) -> None:
    actuator = make_actuator()
    settings = settings_from(write_config(tmp_path, actuators={"checkout": actuator.base_url}))
    audit = AuditLog(settings.audit_log)
    write = write_mode()

    async def act(verb: str, minutes: float | None = None) -> BreakerAction:
        infos, _ = await poll(settings)
        action = BreakerAction(settings, infos["actuator:checkout/inventory"], verb, audit, minutes)
        action.dry_run()
        await action.execute(write, yes=True)
        return action

    before = datetime.now(UTC)
    forcing = await act("force-open", 5)
    assert forcing.plan is not None and "sends CLOSE at the end (console closed or not)" in forcing.plan.summary
    assert "a detached reverter" in forcing.plan.summary and "unless a later action takes over" in forcing.plan.summary
    assert forcing.reverter is not None and forcing.reverter.poll() is None  # sleeping in its own session
    token = breaker_revert.token_file(settings, forcing.info).read_text()
    posts = actuator.posts()
    assert [(p.path, json.loads(p.body)) for p in posts] == [(f"{ENDPOINT}/inventory", {"updateState": "FORCE_OPEN"})]
    assert actuator.state("inventory") == "FORCED_OPEN"
    assert forcing.revert_at is not None and forcing.revert_at == forcing.plan.until
    assert timedelta(minutes=4.9) < forcing.revert_at - before < timedelta(minutes=5.1)

    closing = await act("close")
    assert closing.revert_at is None
    assert breaker_revert.token_file(settings, forcing.info).read_text() != token  # the reverter stands down
    forcing.reverter.kill()  # it would only find its token gone at the deadline, five minutes from now
    forcing.reverter.wait(timeout=5)
    assert json.loads(actuator.posts()[-1].body) == {"updateState": "CLOSE"}
    assert actuator.state("inventory") == "CLOSED"

    disabling = await act("disable")
    assert disabling.revert_at is None
    assert json.loads(actuator.posts()[-1].body) == {"updateState": "DISABLE"}
    assert actuator.state("inventory") == "DISABLED"

    resetting = await act("reset")  # resilience4j resets a breaker by closing it
    assert json.loads(actuator.posts()[-1].body) == {"updateState": "CLOSE"}
    assert actuator.state("inventory") == "CLOSED" and resetting.revert_at is None

    done = [r for r in journal(settings) if r["outcome"] == "done"]
    assert [(r["action"], r["counts"]["before"], r["counts"]["after"]) for r in done] == [
        ("breaker-force-open", "CLOSED", "FORCED_OPEN"),
        ("breaker-close", "FORCED_OPEN", "CLOSED"),
        ("breaker-disable", "CLOSED", "DISABLED"),
        ("breaker-reset", "DISABLED", "CLOSED"),
    ]
    assert all(r["target"] == "actuator:checkout/inventory" for r in done)
    assert {p.path for p in actuator.posts()} == {f"{ENDPOINT}/inventory"}  # no other breaker touched


async def test_prometheus_breakers_and_unknown_verbs_are_refused(tmp_path: Path) -> None:
    settings = settings_from(
        write_config(tmp_path, extra_env='prometheus_url = "http://127.0.0.1:1"', extra_breakers="prometheus = true")
    )
    gauge = BreakerInfo("prometheus", "search", "elastic", OPEN)
    for verb in ("force-open", "close", "reset", "disable"):
        with pytest.raises(ActionRefused, match="read-only"):
            BreakerAction(settings, gauge, verb, AuditLog(settings.audit_log)).dry_run()
    with pytest.raises(ActionRefused, match="force-open, close, reset, disable"):
        BreakerAction(settings, BreakerInfo("actuator", "checkout", "x", CLOSED), "half-open", AuditLog()).dry_run()


# --- `opsconsole act breaker` ------------------------------------------------------------------------------------


@pytest.fixture
def act_env(server: PrivateRedis, make_actuator: Callable[..., ActuatorServer], tmp_path: Path, prefix: str) -> Any:
    """A registry breaker checkout/payments and an actuator that also has checkout/payments (plus inventory)."""
    run(register(server.url, prefix, "payments"))
    actuator = make_actuator({"payments": details("CLOSED"), "inventory": details("CLOSED")})
    config = write_config(tmp_path, redis_url=server.url, prefix=prefix, actuators={"checkout": actuator.base_url})
    return config, actuator


def act(config: Path, *args: str) -> int:
    return main(["act", "breaker", *args, "--config", str(config)])


@requires_redis_server
def test_cli_act_breaker(act_env: Any, server: PrivateRedis, prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    config, actuator = act_env
    settings = settings_from(config)

    assert act(config, "force-open", "--service", "checkout", "--name", "inventory", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "t · checkout/inventory: CLOSED → FORCED_OPEN until " in out and "dry-run: nothing changed" in out
    assert actuator.posts() == []

    # Without --write: refused, nothing sent.
    assert act(config, "force-open", "--service", "checkout", "--name", "inventory", "--yes") == 2
    assert "refused: read-only mode" in capsys.readouterr().err
    assert actuator.posts() == [] and actuator.state("inventory") == "CLOSED"
    # --write needs a reason; --write --reason needs --yes.
    assert act(config, "close", "--service", "checkout", "--name", "inventory", "--write", "--yes") == 2
    assert "refused: write mode needs a reason" in capsys.readouterr().err
    assert act(config, "close", "--service", "checkout", "--name", "inventory", "--write", "--reason", "x") == 2
    assert "confirmation required" in capsys.readouterr().err

    args = ("--service", "checkout", "--name", "inventory", "--write", "--reason", "INC-9", "--yes")
    assert act(config, "force-open", *args, "--minutes", "30") == 0
    assert "done: before=CLOSED, after=FORCED_OPEN, until=" in capsys.readouterr().out
    assert actuator.state("inventory") == "FORCED_OPEN"
    assert act(config, "close", *args) == 0
    assert "done: before=FORCED_OPEN, after=CLOSED" in capsys.readouterr().out
    assert actuator.state("inventory") == "CLOSED"

    # Unknown breaker: exit 2, listing what is known.
    assert act(config, "close", "--service", "checkout", "--name", "nope", "--yes") == 2
    err = capsys.readouterr().err
    assert "no breaker checkout/nope" in err
    assert "known: actuator:checkout/inventory, actuator:checkout/payments, redis:checkout/payments" in err

    # checkout/payments is both in the registry and on the actuator: --source picks one.
    write = ("--write", "--reason", "INC-9", "--yes")
    assert act(config, "force-open", "--service", "checkout", "--name", "payments", *write) == 2
    assert "more than one (add --source)" in capsys.readouterr().err
    assert act(config, "force-open", "--service", "checkout", "--name", "payments", "--source", "redis", *write) == 0
    capsys.readouterr()
    assert run(registry_state(server.url, prefix, "checkout/payments")).state is FORCED_OPEN
    assert actuator.state("payments") == "CLOSED" and all("payments" not in p.path for p in actuator.posts())
    assert act(config, "disable", "--service", "checkout", "--name", "payments", "--source", "actuator", *write) == 0
    capsys.readouterr()
    assert actuator.state("payments") == "DISABLED"
    assert run(registry_state(server.url, prefix, "checkout/payments")).state is FORCED_OPEN

    # A non-positive duration is refused before anything is sent.
    assert act(config, "force-open", "--service", "checkout", "--name", "inventory", "--minutes", "0", *write) == 2
    assert "positive" in capsys.readouterr().err
    assert actuator.state("inventory") == "CLOSED"

    done = [(r["action"], r["target"]) for r in journal(settings) if r["outcome"] == "done"]
    assert done == [
        ("breaker-force-open", "actuator:checkout/inventory"),
        ("breaker-close", "actuator:checkout/inventory"),
        ("breaker-force-open", "redis:checkout/payments"),
        ("breaker-disable", "actuator:checkout/payments"),
    ]
    assert {r["reason"] for r in journal(settings) if r["outcome"] == "done"} == {"INC-9"}


@requires_redis_server
def test_cli_protected_environment_needs_confirm(
    server: PrivateRedis, tmp_path: Path, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(register(server.url, prefix, "payments"))
    config = write_config(tmp_path, redis_url=server.url, prefix=prefix, protected=True)
    args = ("force-open", "--service", "checkout", "--name", "payments", "--write", "--reason", "INC-3")
    assert act(config, *args, "--yes") == 2
    assert "type the breaker name 'payments'" in capsys.readouterr().err
    assert run(registry_state(server.url, prefix, "checkout/payments")).state is CLOSED
    assert act(config, *args, "--confirm", "payments") == 0
    assert "t (PROTECTED) · checkout/payments: CLOSED → FORCED_OPEN" in capsys.readouterr().out
    assert run(registry_state(server.url, prefix, "checkout/payments")).state is FORCED_OPEN


def test_cli_without_breakers_configured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bare.toml").write_text("[env.t]\n")
    assert act(tmp_path / "bare.toml", "close", "--service", "a", "--name", "b") == 2
    assert "no [env.NAME.breakers] configured" in capsys.readouterr().err


# --- `opsconsole snapshot --json` --------------------------------------------------------------------------------


@requires_redis_server
def test_snapshot_json_lists_every_breaker(
    server: PrivateRedis,
    make_actuator: Callable[..., ActuatorServer],
    tmp_path: Path,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(register(server.url, prefix, "payments", failures=1))
    run(register(server.url, prefix, "ledger"))
    actuator = make_actuator()
    config = write_config(tmp_path, redis_url=server.url, prefix=prefix, actuators={"checkout": actuator.base_url})
    code = main(["snapshot", "--json", "--config", str(config)])
    document = json.loads(capsys.readouterr().out)
    assert code == 2 and document["status"] == "crit"  # actuator checkout/payments is OPEN
    (entry,) = [e for e in document["sources"] if e["source"] == "breakers"]
    assert (entry["kind"], entry["status"], entry["error"]) == ("breakers", "crit", None)
    assert entry["data"]["note"] == ""
    breakers = {f"{b['source']}:{b['service']}/{b['name']}": b for b in entry["data"]["breakers"]}
    assert set(breakers) == {
        "redis:checkout/ledger",
        "redis:checkout/payments",
        "actuator:checkout/inventory",
        "actuator:checkout/payments",
        "actuator:checkout/shipping",
        "actuator:checkout/warmup",
    }
    assert (
        breakers["actuator:checkout/payments"]["state"],
        breakers["actuator:checkout/payments"]["failure_rate"],
    ) == (
        "OPEN",
        62.5,
    )
    assert breakers["actuator:checkout/payments"]["slow_call_rate"] == 25.0
    assert breakers["actuator:checkout/warmup"]["failure_rate"] is None
    payments = breakers["redis:checkout/payments"]
    assert (payments["state"], payments["buffered_calls"], payments["failed_calls"]) == ("CLOSED", 2, 1)
    assert payments["failure_rate"] is None  # 2 calls, fewer than minimum_calls: no rate judged yet
    assert all(b["state"] in {s.value for s in BreakerState} for b in breakers.values())


def test_snapshot_with_every_breaker_source_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(
        tmp_path,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        actuators={"checkout": f"http://127.0.0.1:{free_port()}"},
    )
    code = main(["snapshot", "--json", "--config", str(config)])
    document = json.loads(capsys.readouterr().out)
    (entry,) = [e for e in document["sources"] if e["source"] == "breakers"]
    assert entry["status"] == "crit" and "registry: " in entry["error"] and "actuator checkout: " in entry["error"]
    assert code == 2 and entry["data"] is None
