"""The invalidation flow in the real app: read-only refusal, write mode with a reason, preview, confirm,
progress, and the journal — against a private Redis."""

from __future__ import annotations

from pathlib import Path

from console.app import make_app
from console.audit import AuditLog
from console.config import Environment, RedisConfig, Settings
from console.screens.invalidate import InvalidateScreen
from console.screens.write_mode import WriteModeScreen
from console.sources import build_sources
from tests.fixtures.redis_server import PrivateRedis, make_redis_fixture, requires_redis_server  # noqa: F401
from widgets.cache_pane import CachePane
from widgets.env_banner import EnvBanner


async def settle(pilot, predicate, limit: int = 300) -> None:
    for _ in range(limit):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition never became true")


def settings_for(redis: PrivateRedis, audit: Path, protected: bool = False) -> Settings:
    env = Environment(name="t", protected=protected, redis=(RedisConfig("main", redis.url, interval=0.2),))
    return Settings(env=env, environments=("t",), audit_log=audit)


def seed(redis: PrivateRedis, matching: int, others: int) -> None:
    client = redis.client()
    pipe = client.pipeline(transaction=False)
    for i in range(matching):
        pipe.set(f"sessions:{i}", "x")
    for i in range(others):
        pipe.set(f"users:{i}", "y")
    pipe.execute()


@requires_redis_server
async def test_read_only_refuses_then_write_mode_deletes_exactly(make_redis, tmp_path: Path) -> None:
    redis = make_redis()
    seed(redis, matching=120, others=80)
    audit = tmp_path / "audit.jsonl"
    settings = settings_for(redis, audit)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: "cache:main" in app.board.readings)
        assert app.query_one(CachePane).views

        # Read-only: the preview works, the deletion does not.
        await pilot.press("3", "i")
        assert isinstance(app.screen, InvalidateScreen)
        await pilot.press(*"sessions:*", "enter")
        await settle(pilot, lambda: app.screen.plan is not None)
        assert app.screen.plan.matched == 120
        await pilot.press("y")
        await pilot.pause(0.2)
        assert redis.client().dbsize() == 200
        await pilot.press("escape")

        # Write mode with a reason, then the same flow deletes exactly the matching keys.
        await pilot.press("w")
        assert isinstance(app.screen, WriteModeScreen)
        await pilot.press(*"INC-7 stale sessions", "enter")
        assert app.write.active() and app.write.reason == "INC-7 stale sessions"
        app._tick()
        assert app.query_one(EnvBanner).write_until
        await pilot.press("3", "i")
        await pilot.press(*"sessions:*", "enter")
        await settle(pilot, lambda: app.screen.plan is not None)
        await pilot.press("y")
        await settle(pilot, lambda: app.screen.finished)
        await pilot.press("escape")
    client = redis.client()
    assert client.dbsize() == 80 and client.exists("users:1") and not client.exists("sessions:1")
    outcomes = [r["outcome"] for r in AuditLog(audit).records()]
    assert outcomes == ["dry-run", "refused", "dry-run", "started", "done"]
    done = list(AuditLog(audit).records())[-1]
    assert done["counts"]["deleted"] == 120 and done["reason"] == "INC-7 stale sessions"


@requires_redis_server
async def test_protected_environment_demands_the_typed_pattern(make_redis, tmp_path: Path) -> None:
    redis = make_redis()
    seed(redis, matching=5, others=5)
    settings = settings_for(redis, tmp_path / "audit.jsonl", protected=True)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w")
        await pilot.press(*"INC-8", "enter")
        await pilot.press("3", "i")
        await pilot.press(*"sessions:*", "enter")
        await settle(pilot, lambda: app.screen.plan is not None)
        await pilot.press("y")  # goes into the confirmation box: one key is not enough here
        await pilot.pause(0.2)
        assert redis.client().dbsize() == 10
        confirm = app.screen.query_one("#invalidate-confirm")
        confirm.value = ""
        await pilot.press(*"sessions:*", "enter")
        await settle(pilot, lambda: app.screen.finished)
    assert redis.client().dbsize() == 5
