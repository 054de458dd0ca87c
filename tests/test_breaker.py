"""Redis-backed circuit breakers (console/adapters/breaker.py) against a real, private `redis-server`: the state
machine under controlled failures and an injected clock, one state shared by several clients and a real
subprocess, exact counts under concurrency, operator overrides that Redis expires by itself, the console's
registry, and a Redis outage (the breaker permits, the registry reports SourceUnavailable).

Every server is a `PrivateRedis` on its own port (the shared 127.0.0.1:6379 is never used) and every test has its
own key prefix; skipped, with the reason, when `redis-server` is not installed. Breaker time is a fake clock; only
the override expiry waits real time (Redis PEXPIRE), in a bounded loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from console.adapters.breaker import (
    Breaker,
    BreakerChange,
    BreakerOpen,
    BreakerRegistry,
    BreakerSettings,
    UnknownBreaker,
    breaker_info,
)
from console.adapters.redis import connect
from console.errors import ActionRefused, ConsoleError, SourceUnavailable
from console.model import BreakerInfo, BreakerState
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)

pytestmark = requires_redis_server

ROOT = Path(__file__).resolve().parents[1]
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SETTINGS = BreakerSettings(
    failure_rate_threshold=50,
    slow_call_rate_threshold=50,
    slow_call_ms=1000,
    window=4,
    minimum_calls=4,
    open_ms=5000,
    half_open_probes=3,
)
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN, DISABLED = BreakerState.FORCED_OPEN, BreakerState.DISABLED


class Boom(RuntimeError):
    """The dependency failed."""


class Clock:
    """A mutable time in seconds, what `Breaker(clock=)` calls."""

    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def at(seconds: float) -> datetime:
    """The fake clock's `START + seconds` as the registry reports it."""
    return datetime.fromtimestamp(START, UTC) + timedelta(seconds=seconds)


# --- fixtures and helpers ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as private:
        yield private


@pytest.fixture
def prefix() -> str:
    return f"test:breaker:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def new_client(server: PrivateRedis) -> AsyncIterator[Callable[[], aioredis.Redis]]:
    """Factory of separate clients (separate pools, like separate processes), closed at teardown."""
    made: list[aioredis.Redis] = []

    def make() -> aioredis.Redis:
        client = aioredis.Redis.from_url(server.url, socket_timeout=5.0, socket_connect_timeout=5.0)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(new_client: Callable[[], aioredis.Redis]) -> aioredis.Redis:
    return new_client()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_breaker(client: aioredis.Redis, clock: Clock, prefix: str) -> Callable[..., Breaker]:
    """`make_breaker(name="dep", service="svc", client=…, clock=…, settings=SETTINGS, **options)`."""

    def make(name: str = "dep", service: str = "svc", **options: Any) -> Breaker:
        options.setdefault("settings", SETTINGS)
        options.setdefault("clock", clock)
        return Breaker(options.pop("client", client), service, name, prefix=prefix, **options)

    return make


@pytest.fixture
def breaker(make_breaker: Callable[..., Breaker]) -> Breaker:
    return make_breaker()


@pytest.fixture
def registry(client: aioredis.Redis, prefix: str) -> BreakerRegistry:
    return BreakerRegistry(client, prefix)


async def succeed(breaker: Breaker, clock: Clock, seconds: float = 0.0) -> None:
    async with breaker:
        clock.advance(seconds)


async def fail(breaker: Breaker, clock: Clock, seconds: float = 0.0) -> None:
    with pytest.raises(Boom):
        async with breaker:
            clock.advance(seconds)
            raise Boom("dependency down")


async def rejected(breaker: Breaker) -> BreakerOpen:
    """Assert the breaker does not permit a call (the body never runs); its BreakerOpen."""
    ran = False
    with pytest.raises(BreakerOpen) as caught:
        async with breaker:
            ran = True
    assert not ran
    return caught.value


async def trip(breaker: Breaker, clock: Clock) -> None:
    """Four failures: OPEN at `clock`'s time."""
    for _ in range(4):
        await fail(breaker, clock)


async def info(registry: BreakerRegistry, name: str = "dep", service: str = "svc") -> BreakerInfo:
    by_key = {b.key: b for b in await registry.read()}
    return by_key[f"{service}/{name}"]


def edges(breaker: BreakerInfo) -> list[tuple[BreakerState, BreakerState, str]]:
    return [(t.from_state, t.to_state, t.reason) for t in breaker.transitions]


async def wait_for(what: str, check: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def keyspace(client: aioredis.Redis, prefix: str) -> dict[bytes, tuple[bytes | None, int]]:
    """Every key under `prefix`: its DUMP and whether it has a TTL, to prove a read wrote nothing."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    return {key: (await client.dump(key), (await client.pttl(key)) >= 0) for key in sorted(keys)}


# --- the state machine -------------------------------------------------------------------------------------------


class TestStateMachine:
    """CLOSED → OPEN → HALF_OPEN → CLOSED | OPEN under a fake clock."""

    async def test_stays_closed_below_minimum_calls(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        for _ in range(3):
            await fail(breaker, clock)
        closed = await info(registry)
        assert closed.state is CLOSED
        assert (closed.buffered_calls, closed.failed_calls, closed.failure_rate) == (3, 3, None)
        await succeed(breaker, clock)  # still permitted; the 4th call makes 3 of 4 failed
        assert (await info(registry)).state is OPEN

    async def test_opens_exactly_at_the_failure_rate_over_a_sliding_window(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        for _ in range(3):
            await succeed(breaker, clock)
        await fail(breaker, clock)
        below = await info(registry)
        assert (below.state, below.failure_rate) == (CLOSED, 25.0)
        await fail(breaker, clock)  # the oldest success slides out: 2 of the last 4 failed
        opened = await info(registry)
        assert (opened.state, opened.failure_rate, opened.buffered_calls) == (OPEN, 50.0, 4)
        assert edges(opened) == [(CLOSED, OPEN, "failure rate 50.0% >= 50% over 4 calls")]

    async def test_slow_calls_open_it_by_the_slow_call_rate(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await succeed(breaker, clock, 0.999)  # just under slow_call_ms
        await succeed(breaker, clock)
        await succeed(breaker, clock, 1.0)  # slow from slow_call_ms on
        assert (await info(registry)).state is CLOSED
        await succeed(breaker, clock, 2.5)
        opened = await info(registry)
        assert (opened.state, opened.failure_rate, opened.slow_call_rate, opened.slow_calls) == (OPEN, 0.0, 50.0, 2)
        assert edges(opened) == [(CLOSED, OPEN, "slow-call rate 50.0% >= 50% over 4 calls")]

    async def test_open_rejects_and_counts_until_open_ms_passed(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        first = await rejected(breaker)
        assert (first.state, first.retry_after, first.service, first.name) == (OPEN, 5.0, "svc", "dep")
        assert not isinstance(first, ConsoleError)
        clock.advance(2)
        assert (await rejected(breaker)).retry_after == 3.0
        clock.advance(2.999)
        await rejected(breaker)
        assert (await info(registry)).not_permitted_calls == 3
        clock.advance(0.001)
        await succeed(breaker, clock)  # the first HALF_OPEN probe
        probing = await info(registry)
        assert (probing.state, probing.since, probing.not_permitted_calls) == (HALF_OPEN, at(5), 3)

    async def test_half_open_permits_exactly_the_probes_at_once_and_their_successes_close_it(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        clock.advance(5)
        gate = asyncio.Event()
        inside = 0

        async def call() -> None:
            nonlocal inside
            async with breaker:
                inside += 1
                await gate.wait()

        tasks = [asyncio.create_task(call()) for _ in range(10)]
        await wait_for("7 rejections", lambda: sum(t.done() for t in tasks) == 7)
        assert inside == 3
        refusals = [t.exception() for t in tasks if t.done()]
        assert all(isinstance(e, BreakerOpen) and e.state is HALF_OPEN and e.retry_after is None for e in refusals)
        assert (await info(registry)).not_permitted_calls == 7
        gate.set()
        await asyncio.gather(*(t for t in tasks if not t.done()))
        closed = await info(registry)
        assert (closed.state, closed.buffered_calls) == (CLOSED, 0)  # a fresh window
        assert edges(closed)[-1] == (HALF_OPEN, CLOSED, "3 probes succeeded")

    async def test_a_finished_probe_frees_its_slot(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        clock.advance(5)
        for _ in range(2):  # one at a time: never more than one in flight
            await succeed(breaker, clock)
        assert (await info(registry)).state is HALF_OPEN
        await succeed(breaker, clock)
        assert (await info(registry)).state is CLOSED

    async def test_one_failed_probe_reopens_for_another_open_ms(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        clock.advance(5)
        await succeed(breaker, clock)
        clock.advance(1)
        await fail(breaker, clock)
        reopened = await info(registry)
        assert (reopened.state, reopened.since) == (OPEN, at(6))
        assert edges(reopened)[-1] == (HALF_OPEN, OPEN, "probe failed")
        assert (await rejected(breaker)).retry_after == 5.0

    async def test_a_slow_probe_reopens_too(self, breaker: Breaker, registry: BreakerRegistry, clock: Clock) -> None:
        await trip(breaker, clock)
        clock.advance(5)
        await succeed(breaker, clock, 1.5)
        assert edges(await info(registry))[-1] == (HALF_OPEN, OPEN, "probe slow (1500 ms >= 1000 ms)")

    async def test_transitions_are_recorded_with_reasons_and_times_newest_last(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        clock.advance(7)
        await fail(breaker, clock)
        clock.advance(5)
        for _ in range(3):
            await succeed(breaker, clock)
        history = (await info(registry)).transitions
        assert [(t.at, t.from_state, t.to_state, t.reason) for t in history] == [
            (at(0), CLOSED, OPEN, "failure rate 100.0% >= 50% over 4 calls"),
            (at(7), OPEN, HALF_OPEN, "open for 7000 ms"),
            (at(7), HALF_OPEN, OPEN, "probe failed"),
            (at(12), OPEN, HALF_OPEN, "open for 5000 ms"),
            (at(12), HALF_OPEN, CLOSED, "3 probes succeeded"),
        ]

    async def test_an_outcome_from_an_earlier_state_does_not_count(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        gate = asyncio.Event()

        async def straggler() -> None:  # permitted while CLOSED, finishes much later
            async with breaker:
                await gate.wait()
                raise Boom("late")

        late = asyncio.create_task(straggler())
        await asyncio.sleep(0.05)
        await trip(breaker, clock)
        clock.advance(5)
        for _ in range(3):
            await succeed(breaker, clock)
        gate.set()
        with pytest.raises(Boom):
            await late
        closed = await info(registry)
        assert (closed.state, closed.buffered_calls, closed.failed_calls) == (CLOSED, 0, 0)

    async def test_ignored_exceptions_and_cancellations_count_as_nothing(
        self, make_breaker: Callable[..., Breaker], registry: BreakerRegistry, clock: Clock
    ) -> None:
        settings = BreakerSettings(window=4, minimum_calls=4, open_ms=5000, half_open_probes=1)
        breaker = make_breaker(ignore=(KeyError,), settings=settings)

        async def ignored() -> None:
            with pytest.raises(KeyError):
                async with breaker:
                    raise KeyError("not the dependency's fault")

        for _ in range(5):
            await ignored()
        assert (await info(registry)).buffered_calls == 0
        await trip(breaker, clock)
        clock.advance(5)
        await ignored()  # an ignored probe gives its only slot back…
        hanging = asyncio.Event()

        async def probe() -> None:
            async with breaker:
                hanging.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(probe())
        await hanging.wait()
        task.cancel()  # …and so does a cancelled one
        with pytest.raises(asyncio.CancelledError):
            await task
        probing = await info(registry)
        assert (probing.state, probing.buffered_calls) == (HALF_OPEN, 0)
        await succeed(breaker, clock)  # permitted without waiting: the slot is free
        assert (await info(registry)).state is CLOSED

    async def test_a_lost_probe_slot_is_given_back_after_open_ms(
        self, make_breaker: Callable[..., Breaker], new_client: Callable[[], aioredis.Redis], clock: Clock
    ) -> None:
        settings = BreakerSettings(window=4, minimum_calls=4, open_ms=5000, half_open_probes=1)
        breaker = make_breaker(settings=settings)
        await trip(breaker, clock)
        clock.advance(5)
        crashed = make_breaker(settings=settings, client=new_client())
        await asyncio.create_task(crashed.__aenter__())  # a process that took the probe and died
        await rejected(breaker)
        clock.advance(4.999)
        await rejected(breaker)
        clock.advance(0.001)
        await succeed(breaker, clock)

    async def test_decorator_guards_async_functions(self, breaker: Breaker, clock: Clock) -> None:
        @breaker
        async def charge(amount: int) -> str:
            """Charge a card."""
            if amount < 0:
                raise Boom("declined")
            return f"charged {amount}"

        assert (charge.__name__, charge.__doc__) == ("charge", "Charge a card.")
        assert await charge(5) == "charged 5"
        for _ in range(3):
            with pytest.raises(Boom):
                await charge(-1)
        with pytest.raises(BreakerOpen):
            await charge(5)

    def test_settings_are_validated(self) -> None:
        with pytest.raises(ValueError, match="minimum_calls"):
            BreakerSettings(window=10, minimum_calls=20)
        with pytest.raises(ValueError, match="failure_rate_threshold"):
            BreakerSettings(failure_rate_threshold=0)
        with pytest.raises(ValueError, match="half_open_probes"):
            BreakerSettings(half_open_probes=0)

    def test_names_that_would_make_keys_ambiguous_are_refused(self, client: aioredis.Redis) -> None:
        for service, name in (("svc", "a:b"), ("s/x", "dep"), ("", "dep"), ("svc", "two words")):
            with pytest.raises(ValueError):
                Breaker(client, service, name)


# --- one state for every process ---------------------------------------------------------------------------------


class TestSharedState:
    """Separate clients and a real subprocess see one state; the scripts keep counts exact."""

    async def test_two_breakers_with_their_own_clients_share_one_state(
        self,
        make_breaker: Callable[..., Breaker],
        new_client: Callable[[], aioredis.Redis],
        registry: BreakerRegistry,
        clock: Clock,
    ) -> None:
        first = make_breaker(client=new_client())
        second = make_breaker(client=new_client())
        await fail(first, clock)
        await fail(second, clock)
        await fail(first, clock)
        await fail(second, clock)
        assert (await rejected(first)).state is OPEN
        assert (await rejected(second)).state is OPEN
        clock.advance(5)
        await succeed(first, clock)  # the first probe, through one client; the second client fails the next
        assert (await info(registry)).state is HALF_OPEN
        await fail(second, clock)
        assert edges(await info(registry))[-1] == (HALF_OPEN, OPEN, "probe failed")
        assert (await info(registry)).not_permitted_calls == 2

    async def test_a_subprocess_trips_the_breaker_this_process_uses(
        self, server: PrivateRedis, breaker: Breaker, registry: BreakerRegistry, prefix: str, clock: Clock
    ) -> None:
        script = textwrap.dedent(
            """
            import asyncio, sys
            import redis.asyncio as aioredis
            from console.adapters.breaker import Breaker, BreakerSettings

            async def main(url, prefix, now):
                client = aioredis.Redis.from_url(url)
                settings = BreakerSettings(window=4, minimum_calls=4, open_ms=5000, half_open_probes=3)
                breaker = Breaker(client, "svc", "dep", settings, clock=lambda: now, prefix=prefix)
                for _ in range(3):
                    try:
                        async with breaker:
                            raise RuntimeError("dependency down")
                    except RuntimeError:
                        pass
                await client.aclose()
                print(breaker.last_error)

            asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
            """
        )
        await succeed(breaker, clock)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, server.url, prefix, str(clock.now + 1), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(child.communicate(), 30)
        assert child.returncode == 0, err.decode()
        assert out.decode().strip() == "None"  # the child talked to Redis without an error
        assert (await rejected(breaker)).state is OPEN
        shown = await info(registry)
        assert (shown.state, shown.since, shown.failed_calls, shown.buffered_calls) == (OPEN, at(1), 3, 4)
        assert edges(shown) == [(CLOSED, OPEN, "failure rate 75.0% >= 50% over 4 calls")]

    async def test_concurrent_records_from_many_clients_keep_counts_exact(
        self,
        make_breaker: Callable[..., Breaker],
        new_client: Callable[[], aioredis.Redis],
        registry: BreakerRegistry,
        clock: Clock,
    ) -> None:
        settings = BreakerSettings(window=500, minimum_calls=500, failure_rate_threshold=50)
        breakers = [make_breaker(settings=settings, client=new_client()) for _ in range(4)]

        async def call(index: int, failing: bool) -> None:
            try:
                async with breakers[index % 4]:
                    await asyncio.sleep(0)
                    if failing:
                        raise Boom(str(index))
            except Boom:
                pass

        await asyncio.gather(*(call(i, i % 3 == 0) for i in range(300)))
        counted = await info(registry)
        assert (counted.state, counted.buffered_calls, counted.failed_calls) == (CLOSED, 300, 100)
        await asyncio.gather(*(call(i, True) for i in range(200)))  # 500 calls, 300 failed: 60%
        opened = await info(registry)
        assert (opened.state, opened.buffered_calls, opened.failed_calls) == (OPEN, 500, 300)
        assert edges(opened) == [(CLOSED, OPEN, "failure rate 60.0% >= 50% over 500 calls")]
        assert all(b.last_error is None for b in breakers)

        async def refused(index: int) -> bool:
            try:
                async with breakers[index % 4]:
                    return False
            except BreakerOpen:
                return True

        assert all(await asyncio.gather(*(refused(i) for i in range(200))))
        assert (await info(registry)).not_permitted_calls == 200


# --- operator overrides ------------------------------------------------------------------------------------------


class TestOverrides:
    """force / clear_override / reset through the registry, honoured by every breaker."""

    async def test_forced_open_rejects_until_redis_expires_it(
        self, breaker: Breaker, registry: BreakerRegistry, client: aioredis.Redis, prefix: str, clock: Clock
    ) -> None:
        await succeed(breaker, clock)
        change = await registry.force("svc", "dep", FORCED_OPEN, 0.3, "alice", "db failover")
        assert (change.action, change.before, change.after, change.by) == ("force", CLOSED, FORCED_OPEN, "alice")
        assert change.until is not None
        refusal = await rejected(breaker)
        assert refusal.state is FORCED_OPEN
        assert refusal.retry_after is not None and 0 < refusal.retry_after <= 0.3
        forced = await info(registry)
        assert (forced.state, forced.forced_until, forced.not_permitted_calls) == (FORCED_OPEN, change.until, 1)
        assert forced.since is not None and forced.since <= change.until
        assert "FORCED_OPEN by alice: db failover" in forced.note
        assert edges(forced)[-1] == (CLOSED, FORCED_OPEN, "forced open by alice for 0.3 s: db failover")
        override = f"{prefix}:svc:dep:override"
        deadline = time.monotonic() + 5
        while await client.exists(override):
            assert time.monotonic() < deadline, "Redis did not expire the override"
            await asyncio.sleep(0.05)
        assert (await info(registry)).state is CLOSED  # nobody ran anything: the expiry alone reverted it
        await succeed(breaker, clock)
        back = await info(registry)
        assert (back.state, back.forced_until, back.buffered_calls) == (CLOSED, None, 2)
        assert edges(back)[-1] == (FORCED_OPEN, CLOSED, "override expired")

    async def test_after_the_override_the_computed_state_is_back(
        self, breaker: Breaker, registry: BreakerRegistry, client: aioredis.Redis, prefix: str, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        await registry.force("svc", "dep", "force-open", 0.2, "alice")
        await client.pexpire(f"{prefix}:svc:dep:override", 1)  # expire now rather than wait
        await asyncio.sleep(0.01)
        refusal = await rejected(breaker)  # still OPEN, still counting from when it opened
        assert (refusal.state, refusal.retry_after) == (OPEN, 5.0)
        clock.advance(5)
        await succeed(breaker, clock)
        assert (await info(registry)).state is HALF_OPEN

    async def test_force_without_duration_holds_until_cleared(
        self, breaker: Breaker, registry: BreakerRegistry, client: aioredis.Redis, prefix: str, clock: Clock
    ) -> None:
        await fail(breaker, clock)
        await registry.force("svc", "dep", FORCED_OPEN, None, "alice", "incident 42")
        assert await client.pttl(f"{prefix}:svc:dep:override") == -1
        assert (await rejected(breaker)).retry_after is None
        forced = await info(registry)
        assert (forced.state, forced.forced_until) == (FORCED_OPEN, None)
        change = await registry.clear_override("svc", "dep", "bob", "recovered")
        assert change == BreakerChange("svc", "dep", "close", FORCED_OPEN, CLOSED, "bob", "recovered")
        closed = await info(registry)
        assert (closed.state, closed.buffered_calls) == (CLOSED, 0)
        assert edges(closed)[-1] == (FORCED_OPEN, CLOSED, "closed by bob: recovered")
        await succeed(breaker, clock)

    async def test_disabled_permits_everything_and_records_nothing(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        await registry.force("svc", "dep", DISABLED, 60, "alice", "breaker misfires")
        for _ in range(10):
            await fail(breaker, clock)  # permitted: the body runs and raises
        disabled = await info(registry)
        assert (disabled.state, disabled.buffered_calls, disabled.failed_calls) == (DISABLED, 4, 4)
        assert disabled.not_permitted_calls == 0
        assert edges(disabled)[-1] == (OPEN, DISABLED, "disabled by alice for 60 s: breaker misfires")

    async def test_close_gives_an_open_breaker_a_fresh_window(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        change = await registry.clear_override("svc", "dep", "bob")
        assert (change.before, change.after) == (OPEN, CLOSED)
        await fail(breaker, clock)  # the old window would have re-opened it at once
        closed = await info(registry)
        assert (closed.state, closed.buffered_calls) == (CLOSED, 1)
        assert edges(closed)[-1] == (OPEN, CLOSED, "closed by bob")

    async def test_reset_is_a_new_breaker(
        self, breaker: Breaker, registry: BreakerRegistry, client: aioredis.Redis, prefix: str, clock: Clock
    ) -> None:
        await trip(breaker, clock)
        await rejected(breaker)
        await registry.force("svc", "dep", FORCED_OPEN, 60, "alice")
        change = await registry.reset("svc", "dep", "carol", "post-incident")
        assert (change.action, change.before, change.after) == ("reset", FORCED_OPEN, CLOSED)
        fresh = await info(registry)
        assert (fresh.state, fresh.buffered_calls, fresh.not_permitted_calls) == (CLOSED, 0, 0)
        assert not await client.exists(f"{prefix}:svc:dep:override")
        assert edges(fresh)[-1] == (FORCED_OPEN, CLOSED, "reset by carol: post-incident")
        await succeed(breaker, clock)

    async def test_unknown_breakers_and_impossible_forces_are_refused(
        self, breaker: Breaker, registry: BreakerRegistry, clock: Clock
    ) -> None:
        await succeed(breaker, clock)
        for act in (
            registry.force("svc", "nope", FORCED_OPEN, 10, "alice"),
            registry.clear_override("nope", "dep", "alice"),
            registry.reset("svc", "nope", "alice"),
        ):
            with pytest.raises(UnknownBreaker, match="no breaker"):
                await act
        with pytest.raises(ActionRefused, match="FORCED_OPEN or DISABLED"):
            await registry.force("svc", "dep", CLOSED, 10, "alice")
        with pytest.raises(ActionRefused, match="positive duration"):
            await registry.force("svc", "dep", FORCED_OPEN, 0, "alice")
        assert (await info(registry)).state is CLOSED


# --- the console's view ------------------------------------------------------------------------------------------


class TestRegistry:
    """BreakerRegistry.read: every registered breaker, one pipeline, no writes."""

    async def test_read_shows_every_breaker_and_changes_nothing(
        self,
        make_breaker: Callable[..., Breaker],
        registry: BreakerRegistry,
        client: aioredis.Redis,
        prefix: str,
        clock: Clock,
    ) -> None:
        payments, search, ledger = make_breaker("stripe", "payments"), make_breaker("es"), make_breaker("db", "ledger")
        await trip(payments, clock)
        await rejected(payments)
        await succeed(search, clock)
        await fail(search, clock, 1.5)
        await succeed(ledger, clock)
        await registry.force("ledger", "db", FORCED_OPEN, 120, "alice", "\x1b[2Jmigration")
        before = await keyspace(client, prefix)
        first, second = await registry.read(), await registry.read()
        assert first == second
        assert await keyspace(client, prefix) == before
        assert [b.key for b in first] == ["ledger/db", "payments/stripe", "svc/es"]
        db, stripe, es = first
        assert (stripe.state, stripe.failure_rate, stripe.not_permitted_calls, stripe.since) == (OPEN, 100.0, 1, at(0))
        assert (es.state, es.buffered_calls, es.failed_calls, es.slow_calls, es.failure_rate) == (CLOSED, 2, 1, 1, None)
        assert es.transitions == ()
        assert (db.state, db.source) == (FORCED_OPEN, "redis")
        assert db.forced_until is not None and db.forced_until > datetime.now(UTC) + timedelta(seconds=100)
        assert "\x1b" not in db.note and "migration" in db.note
        assert "opens at 50% failed or 50% slow (>= 1000 ms) of the last 4 calls" in es.note

    async def test_an_empty_registry_reads_as_nothing(self, registry: BreakerRegistry) -> None:
        assert await registry.read() == ()

    def test_breaker_info_tolerates_what_it_cannot_read(self) -> None:
        shown = breaker_info(
            "svc",
            "dep",
            {"state": "HALF_OPEN", "since_ms": "garbage"},
            {},
            [b"s", b"F", b"x?"],
            [b"not json", b'{"at_ms": 1700000000000, "from": "OPEN", "to": "HALF_OPEN"}'],
        )
        assert (shown.state, shown.since, shown.failed_calls, shown.slow_calls) == (HALF_OPEN, None, 1, 1)
        assert shown.failure_rate is not None and round(shown.failure_rate, 1) == 33.3
        assert [(t.at, t.from_state, t.to_state) for t in shown.transitions] == [(at(0), OPEN, HALF_OPEN)]


# --- Redis down --------------------------------------------------------------------------------------------------


class TestRedisDown:
    """The service keeps running without Redis; the console says the source is unavailable."""

    async def test_breaker_permits_and_remembers_the_error_registry_raises(
        self, make_redis: Callable[..., PrivateRedis], clock: Clock, prefix: str
    ) -> None:
        private = make_redis(password="s3cret-pw")
        client = connect(private.url, 1.0)  # no retries: an outage shows at once
        try:
            breaker = Breaker(client, "svc", "dep", SETTINGS, clock=clock, prefix=prefix)
            registry = BreakerRegistry(client, prefix)
            await succeed(breaker, clock)
            assert breaker.last_error is None
            private.stop()
            for _ in range(6):  # more failures than would open it: nothing to record them in
                await fail(breaker, clock)
            await succeed(breaker, clock)
            assert isinstance(breaker.last_error, SourceUnavailable)
            assert "s3cret-pw" not in str(breaker.last_error)
            with pytest.raises(SourceUnavailable):
                await registry.read()
            with pytest.raises(SourceUnavailable):
                await registry.force("svc", "dep", FORCED_OPEN, 10, "alice")
            private.start()  # same port, empty: the breaker registers itself again
            for _ in range(3):  # a pooled connection may fail once on the restarted server
                await succeed(breaker, clock)
                if breaker.last_error is None:
                    break
            assert breaker.last_error is None
            assert [(b.key, b.state) for b in await registry.read()] == [("svc/dep", CLOSED)]
        finally:
            await client.aclose()
