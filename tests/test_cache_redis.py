"""The Cache pane's Redis side against real, private `redis-server`s: exact per-tick figures, namespaces,
pattern invalidation (SCAN + UNLINK, never KEYS/FLUSHDB), read-only mode and confirmations, the audit journal,
a server restarted under a running collector, and credentials in the URL.

Every server is a `PrivateRedis` on its own port (the shared 127.0.0.1:6379 is never used); skipped, with the
reason, when `redis-server` is not installed. No assertion depends on timing: waits are bounded loops.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from console.actions import CacheInvalidation, Confirmation, WriteMode
from console.adapters.redis import STATS_KEY, RedisMonitor, namespace_counters
from console.adapters.redis_cache import RedisCache
from console.adapters.redis_invalidate import invalidate, preview
from console.audit import AuditError, AuditLog
from console.board import assess_cache
from console.collector import Collector
from console.config import CacheConfig, Environment, RedisConfig, Settings
from console.errors import ActionRefused, SourceUnavailable
from console.model import CacheStatus, Reading, SourceMode
from console.sources import CacheSource
from tests.fixtures.net import free_port
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)

pytestmark = requires_redis_server

MakeRedis = Callable[..., PrivateRedis]
TOTAL_KEYS = 50_000
MATCHING_KEYS = 10_000
PATTERN = "user:*"


# --- helpers ---------------------------------------------------------------------------------------------------


@pytest.fixture
async def monitors() -> Any:
    """RedisMonitors created through `monitors(...)` are closed at teardown."""
    made: list[RedisMonitor] = []

    def make(*args: Any, **kwargs: Any) -> RedisMonitor:
        monitor = RedisMonitor(*args, **kwargs)
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        await monitor.aclose()


@pytest.fixture
async def aclient() -> Any:
    """Factory of redis.asyncio clients for a server (not named `opsconsole`), closed at teardown."""
    made: list[aioredis.Redis] = []

    def make(server: PrivateRedis) -> aioredis.Redis:
        client = aioredis.Redis.from_url(server.url, socket_timeout=10.0, socket_connect_timeout=5.0)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def aioredis_from(server: PrivateRedis) -> aioredis.Redis:
    return aioredis.Redis.from_url(server.url, socket_timeout=10.0, socket_connect_timeout=5.0)


def keyspace(server: PrivateRedis) -> tuple[int, int]:
    stats = server.info("stats")
    return int(stats["keyspace_hits"]), int(stats["keyspace_misses"])


def command_calls(server: PrivateRedis) -> dict[str, int]:
    """`INFO commandstats` as {command: calls}."""
    return {
        name.removeprefix("cmdstat_"): int(stats["calls"])
        for name, stats in server.info("commandstats").items()
        if isinstance(stats, dict)
    }


def fill(client: redis.Redis, total: int = TOTAL_KEYS, matching: int = MATCHING_KEYS) -> None:
    """`matching` keys `user:<i>` and `total - matching` keys under other prefixes, pipelined in chunks."""
    others = ("session", "order", "product", "users")  # "users:" must NOT match "user:*"
    for start in range(0, matching, 2000):
        client.mset({f"user:{i}": f"profile-{i}" for i in range(start, min(start + 2000, matching))})
    for start in range(0, total - matching, 2000):
        chunk = range(start, min(start + 2000, total - matching))
        client.mset({f"{others[i % len(others)]}:{i}": f"value-{i}" for i in chunk})
    assert client.dbsize() == total


def count_matching(client: redis.Redis, pattern: str = PATTERN) -> int:
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


def make_settings(
    server: PrivateRedis,
    audit_path: Path,
    *,
    protected: bool = False,
    confirm_above: int = 1000,
    batch: int = 500,
    pause_ms: float = 0.0,
) -> Settings:
    cache = CacheConfig(confirm_above=confirm_above, batch=batch, pause_ms=pause_ms)
    env = Environment(name="staging", protected=protected, redis_url=server.url, cache=cache)
    return Settings(env=env, environments=("staging",), audit_log=audit_path)


def action_for(settings: Settings, pattern: str = PATTERN, audit: AuditLog | None = None) -> CacheInvalidation:
    return CacheInvalidation(settings, settings.redis_instances[0], pattern, audit or AuditLog(settings.audit_log))


def writable(reason: str = "stale profiles after deploy") -> WriteMode:
    mode = WriteMode()
    mode.enable(reason, minutes=5)
    return mode


def journal(path: Path) -> list[dict[str, Any]]:
    return list(AuditLog(path).records())


async def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Bounded wait for a condition (a bound, never an assertion about speed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


async def bounded(awaitable: Awaitable[Any], seconds: float = 30.0) -> Any:
    return await asyncio.wait_for(awaitable, timeout=seconds)


# --- hit ratio and rates from deltas -------------------------------------------------------------------------


class TestHitRatio:
    async def test_hit_ratio_is_exact_over_one_tick(self, make_redis: MakeRedis, monitors: Any) -> None:
        server = make_redis()
        client = server.client()
        client.mset({f"k{i}": i for i in range(10)})
        monitor = monitors("cache", server.url)
        first = await bounded(monitor.poll())
        assert first.hit_ratio is None  # no previous tick: no delta yet
        for i in range(30):
            assert client.get(f"k{i % 10}") is not None  # 30 hits
        for i in range(10):
            assert client.get(f"missing{i}") is None  # 10 misses
        second = await bounded(monitor.poll())
        assert second.hit_ratio == 0.75

    async def test_lifetime_counters_do_not_leak_into_the_tick(self, make_redis: MakeRedis, monitors: Any) -> None:
        server = make_redis()
        client = server.client()
        pipe = client.pipeline(transaction=False)
        for i in range(500):
            pipe.get(f"absent:{i}")
        pipe.execute()  # a lifetime of misses …
        client.set("present", "1")
        monitor = monitors("cache", server.url)
        await bounded(monitor.poll())  # … before the baseline
        for _ in range(20):
            client.get("present")
        status = await bounded(monitor.poll())
        assert keyspace(server)[1] >= 500  # the lifetime counter really is full of misses
        assert status.hit_ratio == 1.0

    async def test_the_monitors_own_reads_are_not_counted(self, make_redis: MakeRedis, monitors: Any) -> None:
        """The monitor's HGETALL of the stats hash is a keyspace miss (hash absent) or hit (present) in Redis;
        a tick without application traffic must show no ratio at all, not 0 % or 100 %."""
        server = make_redis()
        monitor = monitors("cache", server.url)
        await bounded(monitor.poll())
        idle = await bounded(monitor.poll())
        assert idle.hit_ratio is None
        assert keyspace(server)[1] >= 2  # Redis did count the lookups of the absent hash …
        cache = RedisCache(aioredis_from(server), "users")
        try:
            await cache.get("nobody")  # creates the stats hash: the monitor's lookup is now a hit
            await bounded(monitor.poll())
            still_idle = await bounded(monitor.poll())
            assert still_idle.hit_ratio is None  # … and the monitor took them back out
            await cache.set("alice", {"id": 1})
            await cache.get("alice")
            one_hit = await bounded(monitor.poll())
            assert one_hit.hit_ratio == 1.0
        finally:
            await cache.client.aclose()


class TestRatesAndShape:
    async def test_primary_ops_clients_and_memory(self, make_redis: MakeRedis, monitors: Any) -> None:
        server = make_redis(maxmemory="64mb")
        client = server.client()
        extra = [server.client() for _ in range(3)]
        for other in extra:
            other.ping()
        monitor = monitors("cache", server.url)
        first = await bounded(monitor.poll())
        assert first.ops_per_second is None and first.evictions_per_second is None  # first tick: no rates
        pipe = client.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"k{i}", "v" * 100)
        pipe.execute()
        status = await bounded(monitor.poll())
        assert status.role == "primary"
        assert status.link_status == "" and status.replication_lag_bytes is None
        assert status.version == str(server.info("server")["redis_version"])
        assert status.ops_per_second is not None and status.ops_per_second > 0
        assert status.evictions_per_second == 0
        assert status.clients is not None and status.clients >= 5  # the monitor, `client` and 3 others
        assert status.keys == 200
        assert status.maxmemory == 64 * 1024 * 1024
        assert status.used_memory is not None and status.used_memory > 0
        assert status.memory_share is not None and 0 < status.memory_share < 1

    async def test_evictions_under_maxmemory(self, make_redis: MakeRedis, monitors: Any) -> None:
        server = make_redis(maxmemory="2mb", maxmemory_policy="allkeys-lru")
        client = server.client()
        monitor = monitors("cache", server.url)
        first = await bounded(monitor.poll())
        assert first.maxmemory == 2 * 1024 * 1024 and first.policy == "allkeys-lru"
        payload = b"x" * 1024
        for start in range(0, 6000, 500):  # ~6 MB into a 2 MB cache
            client.mset({f"blob:{i}": payload for i in range(start, start + 500)})
        status = await bounded(monitor.poll())
        assert int(server.info("stats")["evicted_keys"]) > 0
        assert status.evictions_per_second is not None and status.evictions_per_second > 0
        assert status.keys is not None and status.keys < 6000
        assert status.memory_share is not None and status.memory_share > 0.5
        verdict, findings = assess_cache(status, CacheConfig())
        assert any(f.startswith("evicting") for f in findings), findings
        assert verdict.rank > 0

    async def test_expired_keys(self, make_redis: MakeRedis, monitors: Any) -> None:
        server = make_redis()
        client = server.client()
        monitor = monitors("cache", server.url)
        await bounded(monitor.poll())
        pipe = client.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"short:{i}", "v", px=1)
        pipe.execute()

        def all_expired() -> bool:
            client.exists(*(f"short:{i}" for i in range(200)))  # lazy expiry of whatever is left
            return int(server.info("stats")["expired_keys"]) >= 200

        await eventually(all_expired, "200 short-TTL keys to expire")
        status = await bounded(monitor.poll())
        assert status.expired_per_second is not None and status.expired_per_second > 0
        assert status.keys == 0

    async def test_replica_role_and_link(self, make_redis: MakeRedis, monitors: Any) -> None:
        primary = make_redis()
        replica = make_redis(replica_of=primary)
        primary.client().set("seen-by-replica", "1")
        replica.wait_until("the key to replicate", lambda: replica.client().exists("seen-by-replica"))
        monitor = monitors("cache-replica", replica.url)
        await bounded(monitor.poll())
        status = await bounded(monitor.poll())
        assert status.role == "replica"
        assert status.link_status == "up"
        assert status.replication_lag_bytes is not None and status.replication_lag_bytes >= 0
        assert status.keys == 1
        _verdict, findings = assess_cache(status, CacheConfig())
        assert not any("link" in f for f in findings)
        primary_status = await bounded(monitors("cache-primary", primary.url).poll())
        assert primary_status.role == "primary"


# --- namespaces ------------------------------------------------------------------------------------------------


class TestNamespaces:
    async def test_cache_api_and_counters(self, make_redis: MakeRedis, aclient: Any) -> None:
        server = make_redis()
        client = aclient(server)
        users = RedisCache(client, "users", ttl=60)
        assert await users.get("alice") is None  # miss
        await users.set("alice", {"id": 1, "name": "Alice"})
        assert await users.get("alice") == {"id": 1, "name": "Alice"}  # hit
        assert 0 < await client.pttl("users:alice") <= 60_000
        await users.set("short", [1, 2], ttl=5)
        assert 0 < await client.pttl("users:short") <= 5_000

        calls: list[str] = []

        async def load() -> dict[str, int]:
            calls.append("load")
            return {"id": 2}

        assert await users.get_or_set("bob", load) == {"id": 2}  # miss → loaded and stored
        assert await users.get_or_set("bob", load) == {"id": 2}  # hit → not loaded again
        assert calls == ["load"]
        assert await users.delete("bob") is True
        assert await users.delete("bob") is False
        assert await users.get("bob") is None  # miss
        assert await users.stats() == (2, 3)
        raw = await client.hgetall(STATS_KEY)
        assert namespace_counters(raw) == {"users": (2.0, 3.0)}

    async def test_invalidate_stays_inside_the_namespace(self, make_redis: MakeRedis, aclient: Any) -> None:
        server = make_redis()
        client = aclient(server)
        users, orders = RedisCache(client, "users"), RedisCache(client, "orders")
        for i in range(30):
            await users.set(f"u{i}", i)
            await orders.set(f"o{i}", i)
        await client.set("usersettings:1", "not in the namespace")
        result = await users.invalidate()
        assert result.deleted == 30 and not result.aborted
        assert await client.dbsize() == 31  # the orders and the look-alike key
        assert await client.exists("usersettings:1") == 1

    async def test_monitor_shows_per_tick_ratio_per_namespace(
        self, make_redis: MakeRedis, aclient: Any, monitors: Any
    ) -> None:
        server = make_redis()
        client = aclient(server)
        users, orders = RedisCache(client, "users"), RedisCache(client, "orders")
        await users.set("alice", 1)
        await orders.set("o1", 1)
        for _ in range(50):  # lifetime: lots of misses in both namespaces
            await users.get("nobody")
            await orders.get("nothing")
        monitor = monitors("cache", server.url)
        first = await bounded(monitor.poll())
        assert first.namespace_source == "redis"
        assert {n.name: n.hit_ratio for n in first.namespaces} == {"orders": None, "users": None}
        for _ in range(3):
            await users.get("alice")
        await users.get("nobody")
        await orders.get("o1")
        await orders.get("nothing")
        status = await bounded(monitor.poll())
        by_name = {n.name: n for n in status.namespaces}
        assert set(by_name) == {"users", "orders"}
        assert (by_name["users"].hits, by_name["users"].misses, by_name["users"].hit_ratio) == (3, 1, 0.75)
        assert (by_name["orders"].hits, by_name["orders"].misses, by_name["orders"].hit_ratio) == (1, 1, 0.5)
        assert (by_name["users"].hits_total, by_name["users"].misses_total) == (3, 51)
        # the server-wide ratio counts the same GETs: 4 hits, 2 misses
        assert status.hit_ratio == pytest.approx(4 / 6)
        _verdict, findings = assess_cache(status, CacheConfig(hit_warn=0.8))
        assert "users hit ratio 75%" in findings and "orders hit ratio 50%" in findings

    @pytest.mark.parametrize("name", ["", "a:b", "users*", "us?rs", "[users]", "users]"])
    def test_bad_namespace_names(self, name: str) -> None:
        with pytest.raises(ValueError, match="namespace"):
            RedisCache(None, name)  # type: ignore[arg-type]


# --- invalidation ----------------------------------------------------------------------------------------------


@pytest.fixture
def big(make_redis: MakeRedis) -> Iterator[PrivateRedis]:
    """A server with 50,000 keys, 10,000 of them `user:*`."""
    server = make_redis()
    fill(server.client())
    yield server


class TestInvalidation:
    async def test_preview_counts_exactly(self, big: PrivateRedis, aclient: Any) -> None:
        plan = await bounded(preview(aclient(big), PATTERN))
        assert plan.matched == MATCHING_KEYS
        assert plan.capped is False
        assert plan.sample and len(plan.sample) <= 20
        assert all(fnmatch.fnmatchcase(key, PATTERN) for key in plan.sample)
        assert plan.estimated_bytes is not None and plan.estimated_bytes > 0
        assert plan.scanned >= 1
        assert big.client().dbsize() == TOTAL_KEYS  # a preview deletes nothing

    async def test_preview_cap_is_reported(self, big: PrivateRedis, aclient: Any) -> None:
        plan = await bounded(preview(aclient(big), PATTERN, cap=2000))
        assert plan.capped is True
        assert 2000 <= plan.matched < MATCHING_KEYS

    async def test_action_deletes_exactly_the_matching_keys(self, big: PrivateRedis, tmp_path: Path) -> None:
        client = big.client()
        settings = make_settings(big, tmp_path / "audit.jsonl")
        action = action_for(settings)
        before = command_calls(big)
        try:
            plan = await bounded(action.dry_run())
            assert plan.matched == MATCHING_KEYS and not plan.capped
            assert action.confirmation() == Confirmation("typed", PATTERN)  # 10,000 > confirm_above
            with pytest.raises(ActionRefused, match="type the pattern"):
                await bounded(action.execute(writable(), yes=True))
            assert client.dbsize() == TOTAL_KEYS
            result = await bounded(action.execute(writable(), given=PATTERN), 120)
        finally:
            await action.aclose()
        after = command_calls(big)
        assert result.deleted == MATCHING_KEYS and not result.aborted
        assert client.dbsize() == TOTAL_KEYS - MATCHING_KEYS
        assert count_matching(client) == 0
        assert client.get("session:0") == b"value-0"
        assert client.get("users:3") == b"value-3"  # a look-alike prefix is untouched
        assert client.get(f"order:{TOTAL_KEYS - MATCHING_KEYS - 3}") is not None
        assert client.exists("user:0", "user:5000", f"user:{MATCHING_KEYS - 1}") == 0
        # never KEYS / FLUSHDB / FLUSHALL; SCAN and UNLINK did the work
        for forbidden in ("keys", "flushdb", "flushall", "del"):
            assert after.get(forbidden, 0) == before.get(forbidden, 0), forbidden
        assert after.get("scan", 0) > before.get("scan", 0)
        assert after["unlink"] - before.get("unlink", 0) == result.batches >= MATCHING_KEYS // 500

    async def test_abort_midway_reports_exactly_what_is_gone(self, big: PrivateRedis, aclient: Any) -> None:
        client = big.client()
        abort = asyncio.Event()
        seen: list[tuple[int, int]] = []

        def progress(deleted: int, batches: int) -> None:
            seen.append((deleted, batches))
            if batches == 3:
                abort.set()

        size_before = client.dbsize()
        result = await bounded(invalidate(aclient(big), PATTERN, batch=500, pause=0, abort=abort, progress=progress))
        gone = size_before - client.dbsize()
        assert result.aborted is True
        assert result.deleted == gone == 1500
        assert result.batches == 3 and seen == [(500, 1), (1000, 2), (1500, 3)]
        assert count_matching(client) == MATCHING_KEYS - result.deleted
        assert client.dbsize() == TOTAL_KEYS - result.deleted  # nothing outside the pattern was touched

    async def test_abort_through_the_action_is_journaled(self, big: PrivateRedis, tmp_path: Path) -> None:
        client = big.client()
        settings = make_settings(big, tmp_path / "audit.jsonl", batch=1000)
        action = action_for(settings)
        abort = asyncio.Event()
        try:
            await bounded(action.dry_run())
            result = await bounded(
                action.execute(
                    writable(), given=PATTERN, abort=abort, progress=lambda d, b: abort.set() if b == 2 else None
                )
            )
        finally:
            await action.aclose()
        assert result.aborted and result.deleted == 2000
        assert client.dbsize() == TOTAL_KEYS - 2000
        last = journal(settings.audit_log)[-1]  # type: ignore[arg-type]
        assert last["outcome"] == "aborted"
        assert last["counts"] == {"matched_before": MATCHING_KEYS, "deleted": 2000}


# --- read-only mode, confirmations, the journal ------------------------------------------------------------------


@pytest.fixture
def small(make_redis: MakeRedis) -> PrivateRedis:
    """Five `user:*` keys and three others."""
    server = make_redis()
    server.client().mset({**{f"user:{i}": i for i in range(5)}, **{f"order:{i}": i for i in range(3)}})
    return server


class TestGuards:
    async def test_read_only_refuses_and_journals(self, small: PrivateRedis, tmp_path: Path) -> None:
        settings = make_settings(small, tmp_path / "audit.jsonl")
        action = action_for(settings)
        try:
            await bounded(action.dry_run())
            with pytest.raises(ActionRefused, match="read-only"):
                await bounded(action.execute(WriteMode(), given=PATTERN, yes=True))
            expired = WriteMode()
            expired.enable("incident 42", minutes=1, now=datetime.now(UTC) - timedelta(minutes=5))
            with pytest.raises(ActionRefused, match="read-only"):
                await bounded(action.execute(expired, given=PATTERN, yes=True))
        finally:
            await action.aclose()
        assert small.client().dbsize() == 8
        records = journal(settings.audit_log)  # type: ignore[arg-type]
        assert [r["outcome"] for r in records] == ["dry-run", "refused", "refused"]
        assert "read-only" in records[1]["detail"]
        assert records[2]["reason"] == "incident 42"

    async def test_key_level_confirmation_needs_yes(self, small: PrivateRedis, tmp_path: Path) -> None:
        settings = make_settings(small, tmp_path / "audit.jsonl")
        action = action_for(settings)
        try:
            await bounded(action.dry_run())
            assert action.confirmation().level == "key"
            with pytest.raises(ActionRefused, match="confirmation required"):
                await bounded(action.execute(writable()))
            assert small.client().dbsize() == 8
            result = await bounded(action.execute(writable(), yes=True))
        finally:
            await action.aclose()
        assert result.deleted == 5
        assert small.client().dbsize() == 3

    async def test_typed_level_above_the_threshold(self, small: PrivateRedis, tmp_path: Path) -> None:
        settings = make_settings(small, tmp_path / "audit.jsonl", confirm_above=3)
        action = action_for(settings)
        try:
            await bounded(action.dry_run())
            assert action.confirmation() == Confirmation("typed", PATTERN)
            for given, yes in ((None, True), ("user:", True), ("USER:*", False), ("user:* ", False)):
                with pytest.raises(ActionRefused, match="type the pattern"):
                    await bounded(action.execute(writable(), given=given, yes=yes))
            assert small.client().dbsize() == 8
            result = await bounded(action.execute(writable(), given=PATTERN))
        finally:
            await action.aclose()
        assert result.deleted == 5

    async def test_typed_level_on_a_protected_environment(self, small: PrivateRedis, tmp_path: Path) -> None:
        settings = make_settings(small, tmp_path / "audit.jsonl", protected=True)
        action = action_for(settings, "order:*")
        try:
            plan = await bounded(action.dry_run())
            assert plan.matched == 3  # far below confirm_above …
            assert action.confirmation() == Confirmation("typed", "order:*")  # … but production
            with pytest.raises(ActionRefused):
                await bounded(action.execute(writable(), yes=True))
            result = await bounded(action.execute(writable(), given="order:*"))
        finally:
            await action.aclose()
        assert result.deleted == 3 and small.client().dbsize() == 5

    @pytest.mark.parametrize("pattern", ["*", " * ", "", "x" * 513])
    async def test_unbounded_patterns_are_refused(self, small: PrivateRedis, tmp_path: Path, pattern: str) -> None:
        settings = make_settings(small, tmp_path / "audit.jsonl")
        action = action_for(settings, pattern)
        try:
            with pytest.raises(ActionRefused):
                await bounded(action.dry_run())
            with pytest.raises(ActionRefused):
                await bounded(action.execute(writable(), given=pattern, yes=True))
        finally:
            await action.aclose()
        assert small.client().dbsize() == 8

    def test_write_mode_needs_a_reason_and_expires(self) -> None:
        mode = WriteMode()
        assert not mode.active()
        with pytest.raises(ActionRefused, match="reason"):
            mode.enable("   ", minutes=10)
        assert not mode.active()
        start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        mode.enable("  flush stale sessions  ", minutes=10, now=start)
        assert mode.reason == "flush stale sessions"
        assert mode.active(now=start + timedelta(minutes=9, seconds=59))
        assert not mode.active(now=start + timedelta(minutes=10))
        assert not mode.active(now=start + timedelta(hours=1))
        mode.enable("again", minutes=10)
        assert mode.active()
        mode.disable()
        assert not mode.active() and mode.reason == "" and mode.until is None


class TestJournal:
    async def test_dry_run_started_done_with_counts_and_operator(
        self, small: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("USER", "oncall-jane")
        monkeypatch.setenv("SSH_CONNECTION", "203.0.113.7 50022 10.0.0.5 22")
        path = tmp_path / "state" / "audit.jsonl"  # the directory is created on first write
        settings = make_settings(small, path)
        action = action_for(settings)
        try:
            await bounded(action.dry_run())
            await bounded(action.execute(writable("INC-1234 stale users"), yes=True))
        finally:
            await action.aclose()
        lines = path.read_text().splitlines()
        assert all(json.loads(line) for line in lines)
        records = journal(path)
        assert [r["outcome"] for r in records] == ["dry-run", "started", "done"]
        dry, started, done = records
        assert dry["counts"]["matched"] == 5 and dry["counts"]["capped"] is False
        assert dry["counts"]["estimated_bytes"] > 0
        assert started["counts"] == {"matched_before": 5}
        assert done["counts"] == {"matched_before": 5, "deleted": 5}
        assert done["duration_seconds"] is not None and done["duration_seconds"] >= 0
        for record in records:
            assert record["action"] == "cache-invalidate"
            assert record["target"] == "redis:user:*"
            assert record["environment"] == "staging"
            assert record["parameters"] == {"pattern": PATTERN, "instance": "redis"}
            assert record["who"]["user"] == "oncall-jane"
            assert record["who"]["ssh_client"] == "203.0.113.7"
            assert record["who"]["host"]
            assert record["at"]
        assert started["reason"] == done["reason"] == "INC-1234 stale users"
        assert path.stat().st_mode & 0o077 == 0  # not readable by others

    async def test_unwritable_journal_means_no_action(self, small: PrivateRedis, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the journal's directory should be")
        unwritable = AuditLog(blocker / "audit.jsonl")
        settings = make_settings(small, tmp_path / "audit.jsonl")
        action = action_for(settings, audit=unwritable)
        try:
            with pytest.raises(AuditError, match="cannot write audit journal"):
                await bounded(action.dry_run())
            with pytest.raises(AuditError):
                await bounded(action.execute(writable(), given=PATTERN, yes=True))
            assert small.client().dbsize() == 8
            # the dry-run journaled fine, then the journal broke: the delete must not start
            action.audit = AuditLog(settings.audit_log)
            await bounded(action.dry_run())
            action.audit = unwritable
            with pytest.raises(AuditError):
                await bounded(action.execute(writable(), given=PATTERN, yes=True))
        finally:
            await action.aclose()
        assert small.client().dbsize() == 8
        assert [r["outcome"] for r in journal(settings.audit_log)] == ["dry-run"]  # type: ignore[arg-type]


# --- a restarted server under a running collector ------------------------------------------------------------------


def opsconsole_connections(server: PrivateRedis) -> int:
    with redis.Redis.from_url(server.url, socket_timeout=5.0, socket_connect_timeout=5.0) as client:
        return sum(1 for entry in client.client_list() if entry.get("name") == "opsconsole")


class TestRestart:
    async def test_live_stale_live_without_leaks(self, make_redis: MakeRedis) -> None:
        server = make_redis()
        server.client().set("warm", "1")
        source = CacheSource(RedisConfig(name="main", url=server.url, interval=0.1, timeout=1.0), STATS_KEY)
        readings: list[Reading] = []
        collector = Collector([source], readings.append)
        collector.start()
        try:
            await eventually(lambda: sum(r.mode is SourceMode.LIVE for r in readings) >= 3, "3 live readings")
            assert opsconsole_connections(server) == 1

            await asyncio.to_thread(server.stop)
            down_from = len(readings)
            await eventually(
                lambda: any("connection refused" in (r.error or "") for r in readings[down_from:]),
                "an error reading saying connection refused",
            )
            errors = [r for r in readings[down_from:] if r.error]
            assert errors
            for reading in errors:
                assert reading.mode is SourceMode.STALE  # the last good value is kept, marked stale
                assert reading.stale and isinstance(reading.value, CacheStatus)
                assert reading.last_ok_at is not None
                assert "timeout" not in reading.error.lower(), reading.error  # type: ignore[union-attr]
            assert all(r.error for r in readings[down_from + 1 :])  # nothing live while it is down

            await asyncio.to_thread(server.start)
            up_from = len(readings)
            await eventually(
                lambda: sum(r.mode is SourceMode.LIVE for r in readings[up_from:]) >= 3, "3 live readings again"
            )
            live_again = [r for r in readings[up_from:] if r.mode is SourceMode.LIVE]
            assert live_again[-1].value.keys == 0  # a restarted cache is empty
            assert live_again[0].value.hit_ratio is None  # counters went back to zero: no bogus delta
            assert 1 <= opsconsole_connections(server) <= 2
        finally:
            await bounded(collector.stop())
        await eventually(lambda: opsconsole_connections(server) == 0, "the collector's connections to close")

    async def test_refused_port_fails_fast(self) -> None:
        """redis-py 8 would retry a refused connect for ~4 s; the reading must come before the source timeout."""
        port = free_port()
        source = CacheSource(
            RedisConfig(name="gone", url=f"redis://127.0.0.1:{port}/0", interval=0.1, timeout=1.0), STATS_KEY
        )
        collector = Collector([source], lambda _reading: None)
        try:
            for _ in range(3):
                reading = await bounded(collector.poll_once(source.name))
                assert reading.mode is SourceMode.UNREACHABLE
                assert reading.error is not None
                assert "timeout" not in reading.error.lower(), reading.error
                assert "connection refused" in reading.error
        finally:
            await bounded(collector.stop())


# --- credentials -----------------------------------------------------------------------------------------------------


class TestCredentials:
    async def test_password_in_url(self, make_redis: MakeRedis, monitors: Any) -> None:
        secret = "Pw-s3cret-4711"
        server = make_redis(password=secret)
        assert secret in server.url
        status = await bounded(monitors("cache", server.url).poll())
        assert status.role == "primary"

        wrong = f"redis://:Wrong-pa55-0815@127.0.0.1:{server.port}/0"
        with pytest.raises(SourceUnavailable, match="^authentication failed") as failure:
            await bounded(monitors("cache", wrong).poll())
        assert "Wrong-pa55-0815" not in str(failure.value)
        assert secret not in str(failure.value)

        with pytest.raises(SourceUnavailable, match="^authentication failed"):
            await bounded(monitors("cache", server.url_for(credentials=False)).poll())

    async def test_acl_user_in_url(self, make_redis: MakeRedis, monitors: Any) -> None:
        server = make_redis(users=["ops on >0ps-S3cret ~* +@all"])
        assert server.url.startswith("redis://ops:0ps-S3cret@")
        status = await bounded(monitors("cache", server.url).poll())
        assert status.role == "primary"
        wrong = f"redis://ops:Not-the-0ps-pw@127.0.0.1:{server.port}/0"
        with pytest.raises(SourceUnavailable, match="^authentication failed") as failure:
            await bounded(monitors("cache", wrong).poll())
        assert "Not-the-0ps-pw" not in str(failure.value)

    async def test_wrong_password_through_the_collector(self, make_redis: MakeRedis) -> None:
        server = make_redis(password="Pw-s3cret-4711")
        source = CacheSource(
            RedisConfig(name="main", url=f"redis://:Wrong-pa55-0815@127.0.0.1:{server.port}/0", timeout=1.0),
            STATS_KEY,
        )
        collector = Collector([source], lambda _reading: None)
        try:
            reading = await bounded(collector.poll_once(source.name))
        finally:
            await bounded(collector.stop())
        assert reading.error is not None and reading.error.startswith("authentication failed")
        assert "Wrong-pa55-0815" not in reading.error and "timeout" not in reading.error
