"""Collector: per-source tasks, timeouts, stale values, backoff, refresh/pause and clean shutdown.

Timing is only ever used to bound a wait; assertions are on counts, order and state.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.collector import Backoff, Collector, describe_error
from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import Reading, SourceMode

HANG = object()


class FakeSource:
    """In-memory source: plays a script of outcomes (value, exception or HANG), then repeats `default`."""

    def __init__(
        self,
        name: str,
        *,
        kind: str = "health",
        interval: float = 0.05,
        timeout: float = 1.0,
        script: list[Any] | None = None,
        default: Any = "value",
        work: float = 0.0,
    ):
        self.name = name
        self.kind = kind
        self.interval = interval
        self.timeout = timeout
        self.script = list(script or [])
        self.default = default
        self.work = work
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.closed = 0
        self.cancelled = 0

    async def poll(self) -> Any:
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            outcome = self.script.pop(0) if self.script else self.default
            if self.work:
                await asyncio.sleep(self.work)
            if outcome is HANG:
                await asyncio.sleep(100)
            if isinstance(outcome, BaseException):
                raise outcome
            if callable(outcome):
                return outcome(self.calls)
            return outcome
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        self.closed += 1


class FakeClock:
    """Advances one second per call, so every timestamp is distinct and ordered."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def __call__(self, reading: Reading) -> None:
        self.readings.append(reading)

    def of(self, name: str) -> list[Reading]:
        return [r for r in self.readings if r.source == name]


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Yield to the loop until `condition` holds; `limit` only stops a broken test from hanging."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - the conditions are plain counters, not events
            await asyncio.sleep(0.005)


async def settle(ticks: int = 20) -> None:
    """Let already-runnable tasks run (not a speed assertion)."""
    for _ in range(ticks):
        await asyncio.sleep(0)


def poll_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("poll:") and not t.done()]


# --- poll_once ---------------------------------------------------------------------------------------


async def test_successful_reading() -> None:
    clock, record = FakeClock(), Recorder()
    source = FakeSource("health:api", default={"ok": True})
    collector = Collector([source], record, clock=clock)
    reading = await collector.poll_once("health:api")
    assert record.readings == [reading]
    assert reading.source == "health:api"
    assert reading.kind == "health"
    assert reading.value == {"ok": True}
    assert reading.error is None
    assert reading.stale is False
    assert reading.mode is SourceMode.LIVE
    assert reading.last_ok_at == reading.at
    assert reading.duration_ms is not None and reading.duration_ms >= 0


async def test_failure_keeps_last_good_value_marked_stale() -> None:
    clock, record = FakeClock(), Recorder()
    source = FakeSource("mongo:main", kind="mongo", script=["v1", SourceUnavailable("connection refused"), "v2"])
    collector = Collector([source], record, clock=clock)
    good = await collector.poll_once("mongo:main")
    bad = await collector.poll_once("mongo:main")
    assert bad.error == "connection refused"
    assert bad.value == "v1"
    assert bad.stale is True
    assert bad.mode is SourceMode.STALE
    assert bad.last_ok_at == good.last_ok_at
    assert bad.at > good.at
    recovered = await collector.poll_once("mongo:main")
    assert (recovered.value, recovered.error, recovered.stale) == ("v2", None, False)
    assert recovered.last_ok_at is not None and good.last_ok_at is not None
    assert recovered.last_ok_at > good.last_ok_at


async def test_repeated_failures_keep_the_same_last_ok() -> None:
    source = FakeSource("s", script=["v1"], default=SourceTimeout("slow"))
    collector = Collector([source], Recorder(), clock=FakeClock())
    good = await collector.poll_once("s")
    failures = [await collector.poll_once("s") for _ in range(3)]
    assert {r.last_ok_at for r in failures} == {good.last_ok_at}
    assert all(r.value == "v1" and r.stale for r in failures)


async def test_never_succeeded_source_is_unreachable() -> None:
    source = FakeSource("s", default=SourceUnavailable("DNS lookup failed"))
    reading = await Collector([source], Recorder()).poll_once("s")
    assert reading.mode is SourceMode.UNREACHABLE
    assert reading.value is None
    assert reading.stale is False
    assert reading.last_ok_at is None
    assert reading.error == "DNS lookup failed"


async def test_untranslated_exception_becomes_reading_with_type_name() -> None:
    source = FakeSource("s", default=RuntimeError("boom"))
    reading = await Collector([source], Recorder()).poll_once("s")
    assert reading.error == "RuntimeError: boom"


async def test_hanging_poll_is_cut_at_its_timeout() -> None:
    source = FakeSource("slow", timeout=0.05, default=HANG)
    reading = await Collector([source], Recorder()).poll_once("slow")
    assert reading.error == "timeout after 0.05s"
    assert reading.mode is SourceMode.UNREACHABLE
    assert source.cancelled == 1  # the hanging poll was cancelled, not left running
    assert source.active == 0


async def test_collect_once_polls_every_source() -> None:
    record = Recorder()
    sources = [FakeSource("a", default=1), FakeSource("b", default=BadResponse("bad")), FakeSource("c", default=3)]
    readings = await Collector(sources, record).collect_once()
    assert [r.source for r in readings] == ["a", "b", "c"]
    assert [r.value for r in readings] == [1, None, 3]
    assert readings[1].error == "bad"
    assert sorted(r.source for r in record.readings) == ["a", "b", "c"]


async def test_collect_once_is_not_held_up_by_a_hanging_source() -> None:
    slow = FakeSource("slow", timeout=0.2, default=HANG)
    fast = FakeSource("fast", default="ok")
    record = Recorder()
    await Collector([slow, fast], record).collect_once()
    # The fast reading is emitted first: it did not wait for the slow one.
    assert [r.source for r in record.readings] == ["fast", "slow"]


def test_source_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Collector([FakeSource("a"), FakeSource("a")], Recorder())


def test_sources_property_keeps_order() -> None:
    sources = [FakeSource("b"), FakeSource("a")]
    assert Collector(sources, Recorder()).sources == sources


# --- The polling loop ----------------------------------------------------------------------------------


async def test_hanging_source_does_not_delay_a_fast_one() -> None:
    record = Recorder()
    slow = FakeSource("slow", timeout=0.5, interval=0.05, default=HANG)
    fast = FakeSource("fast", interval=0.02, default=lambda n: n)
    collector = Collector([slow, fast], record)
    collector.start()
    try:
        await wait_until(lambda: bool(record.of("slow")))
    finally:
        await collector.stop()
    first_slow = next(i for i, r in enumerate(record.readings) if r.source == "slow")
    fast_before = [r for r in record.readings[:first_slow] if r.source == "fast"]
    assert len(fast_before) >= 3, "the fast source was starved while the slow one hung"
    assert [r.value for r in fast_before] == list(range(1, len(fast_before) + 1))
    assert record.of("slow")[0].error == "timeout after 0.5s"


async def test_polls_of_one_source_never_overlap() -> None:
    source = FakeSource("s", interval=0.01, work=0.02)
    collector = Collector([source], Recorder())
    collector.start()
    try:
        while source.calls < 6:
            collector.refresh()  # hammering refresh must not start a second concurrent poll
            await asyncio.sleep(0.003)
    finally:
        await collector.stop()
    assert source.max_active == 1


async def test_failing_source_keeps_being_polled() -> None:
    record = Recorder()
    source = FakeSource("s", interval=0.02, script=["v1"], default=SourceUnavailable("down"))
    collector = Collector([source], record, backoff=Backoff(jitter=0.0))
    collector.start()
    try:
        await wait_until(lambda: len(record.of("s")) >= 4)
    finally:
        await collector.stop()
    first, *rest = record.of("s")
    assert first.error is None
    assert all(r.error == "down" and r.stale and r.value == "v1" for r in rest)


async def test_refresh_wakes_a_sleeping_source() -> None:
    record = Recorder()
    source = FakeSource("s", interval=100.0, default=lambda n: n)
    collector = Collector([source], record)
    collector.start()
    try:
        await wait_until(lambda: len(record.readings) == 1)
        collector.refresh()
        await wait_until(lambda: len(record.readings) == 2)  # far sooner than the 100 s interval
        collector.refresh("s")
        await wait_until(lambda: len(record.readings) == 3)
    finally:
        await collector.stop()
    assert [r.value for r in record.readings] == [1, 2, 3]


async def test_refresh_during_a_poll_polls_again_once_it_ends() -> None:
    record = Recorder()
    source = FakeSource("s", interval=100.0, work=0.05, default=lambda n: n)
    collector = Collector([source], record)
    collector.start()
    try:
        await wait_until(lambda: source.active == 1)
        collector.refresh()  # asked mid-poll: not lost, and not a second concurrent poll
        collector.refresh()
        await wait_until(lambda: len(record.readings) == 2)  # far sooner than the 100 s interval
        await settle()
        assert source.calls == 2, "two refreshes during one poll ask for one more poll, not two"
    finally:
        await collector.stop()
    assert source.max_active == 1
    assert [r.value for r in record.readings] == [1, 2]


async def test_refresh_by_name_wakes_only_that_source() -> None:
    record = Recorder()
    a, b = FakeSource("a", interval=100.0), FakeSource("b", interval=100.0)
    collector = Collector([a, b], record)
    collector.start()
    try:
        await wait_until(lambda: a.calls == 1 and b.calls == 1)
        collector.refresh("a")
        await wait_until(lambda: a.calls == 2)
        await settle()
        assert b.calls == 1
    finally:
        await collector.stop()


async def test_pause_and_resume() -> None:
    record = Recorder()
    source = FakeSource("s", interval=100.0)
    collector = Collector([source], record)
    assert collector.paused is False
    collector.start()
    try:
        await wait_until(lambda: source.calls == 1)
        collector.pause()
        assert collector.paused is True
        collector.refresh()  # wakes the loop, which must then wait for resume
        await settle()
        await asyncio.sleep(0.05)
        assert source.calls == 1
        collector.resume()
        assert collector.paused is False
        await wait_until(lambda: source.calls == 2)  # resume polls at once
    finally:
        await collector.stop()
    assert len(record.readings) == 2


async def test_paused_before_start_polls_nothing_until_resumed() -> None:
    source = FakeSource("s", interval=0.02)
    collector = Collector([source], Recorder())
    collector.pause()
    collector.start()
    try:
        await settle()
        assert source.calls == 0
        collector.resume()
        await wait_until(lambda: source.calls >= 1)
    finally:
        await collector.stop()


async def test_start_is_idempotent() -> None:
    collector = Collector([FakeSource("a", interval=100.0), FakeSource("b", interval=100.0)], Recorder())
    collector.start()
    collector.start()
    try:
        assert sorted(t.get_name() for t in poll_tasks()) == ["poll:a", "poll:b"]
    finally:
        await collector.stop()


async def test_stop_cancels_tasks_and_closes_every_source() -> None:
    record = Recorder()
    hanging = FakeSource("hanging", timeout=100.0, default=HANG)
    normal = FakeSource("normal", interval=0.02)
    collector = Collector([hanging, normal], record)
    collector.start()
    await wait_until(lambda: hanging.active == 1 and len(record.of("normal")) >= 1)
    await collector.stop()
    assert poll_tasks() == []
    assert hanging.cancelled == 1
    assert (hanging.closed, normal.closed) == (1, 1)
    emitted = len(record.readings)
    await asyncio.sleep(0.05)
    assert len(record.readings) == emitted  # nothing polls after stop


async def test_stop_closes_remaining_sources_when_one_aclose_fails() -> None:
    class BrokenClose(FakeSource):
        async def aclose(self) -> None:
            self.closed += 1
            raise RuntimeError("close failed")

    broken, fine = BrokenClose("broken"), FakeSource("fine")
    collector = Collector([broken, fine], Recorder())
    await collector.stop()  # never started: still closes
    assert (broken.closed, fine.closed) == (1, 1)


async def test_run_closes_sources_when_cancelled() -> None:
    source = FakeSource("s", interval=100.0)
    collector = Collector([source], Recorder())
    task = asyncio.create_task(collector.run())
    await wait_until(lambda: source.calls == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed == 1
    assert poll_tasks() == []


# --- Backoff -------------------------------------------------------------------------------------------


def test_backoff_no_failures_is_the_interval() -> None:
    assert Backoff().delay(2.0, 0) == 2.0
    assert Backoff().delay(2.0, -1) == 2.0


def test_backoff_grows_and_is_capped_without_jitter() -> None:
    backoff = Backoff(factor=2.0, max_multiple=8.0, jitter=0.0)
    assert [backoff.delay(1.0, n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


def test_backoff_default_cap_is_two_intervals() -> None:
    backoff = Backoff(jitter=0.0)
    assert [backoff.delay(3.0, n) for n in range(1, 6)] == [3.0, 6.0, 6.0, 6.0, 6.0]


def test_backoff_jitter_stays_in_band_and_is_reproducible() -> None:
    backoff = Backoff(factor=2.0, max_multiple=4.0, jitter=0.2)
    first = [backoff.delay(1.0, n, random.Random(42)) for n in range(1, 10)]
    again = [backoff.delay(1.0, n, random.Random(42)) for n in range(1, 10)]
    assert first == again
    rng = random.Random(7)
    for failures in range(1, 30):
        base = min(2.0 ** (failures - 1), 4.0)
        value = backoff.delay(1.0, failures, rng)
        assert base * 0.8 <= value <= base * 1.2


def test_backoff_grows_on_average_with_jitter() -> None:
    backoff = Backoff(factor=2.0, max_multiple=16.0, jitter=0.2)
    rng = random.Random(1)
    means = [sum(backoff.delay(1.0, n, rng) for _ in range(50)) / 50 for n in range(1, 6)]
    assert means == sorted(means)


def test_backoff_has_a_floor() -> None:
    assert Backoff(jitter=0.0).delay(0.001, 1) == 0.05


# --- describe_error --------------------------------------------------------------------------------------


def test_describe_error_redacts_passwords() -> None:
    text = describe_error(SourceUnavailable("failed mongodb://user:s3cret@host:27017/admin"), 3.0)
    assert text == "failed mongodb://user:***@host:27017/admin"


def test_describe_error_redacts_untranslated_exceptions_too() -> None:
    text = describe_error(OSError("cannot reach redis://:hunter2@cache:6379 (Authorization: Bearer abcdef123456)"), 1)
    assert "hunter2" not in text and "abcdef123456" not in text
    assert text.startswith("OSError: ")


def test_describe_error_strips_escape_sequences() -> None:
    text = describe_error(BadResponse("\x1b]52;c;aGk=\x07 \x9b2J line\nbreak \u202eevil"), 1)
    for char in ("\x1b", "\x9b", "\x07", "\u202e", "\n"):
        assert char not in text
    assert "\\x1b]52" in text


def test_describe_error_timeout() -> None:
    assert describe_error(TimeoutError(), 2.0) == "timeout after 2s"
    assert describe_error(TimeoutError(), 0.25) == "timeout after 0.25s"


def test_describe_error_is_capped() -> None:
    assert len(describe_error(BadResponse("x" * 5000), 1)) <= 200


# --- Regression tests for source bugs found in review ---------------------------------


def test_backoff_survives_a_long_outage() -> None:
    # ~1025 consecutive failures (about an hour down at a 2 s interval) overflow the float power.
    assert Backoff().delay(2.0, 1100) <= 2.0 * 2.0 * 1.2


async def test_loop_keeps_polling_when_backoff_would_overflow() -> None:
    # A huge factor reaches the same OverflowError after three failures instead of ~1025.
    source = FakeSource("s", interval=0.02, default=SourceUnavailable("down"))
    collector = Collector([source], Recorder(), backoff=Backoff(factor=1e200, jitter=0.0))
    collector.start()
    try:
        await wait_until(lambda: source.calls >= 6, limit=1.0)
    finally:
        await collector.stop()


def test_backoff_never_exceeds_max_multiple_intervals() -> None:
    backoff = Backoff()
    rng = random.Random(3)
    assert max(backoff.delay(1.0, 10, rng) for _ in range(200)) <= backoff.max_multiple * 1.0
