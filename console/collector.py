"""Polling: one asyncio task per source, each with its own interval, timeout and backoff.

A source's next poll is armed only when its last one finished, so polls of one source never overlap,
and every source runs in its own task under its own deadline, so one hanging backend never delays
another (or the UI, which only receives finished readings).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from console.errors import ConsoleError
from console.model import Reading
from console.sanitize import clean
from console.secrets import redact_text

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Source(Protocol):
    """Anything the collector can poll; `poll` returns a model object or raises ConsoleError."""

    name: str
    kind: str
    interval: float
    timeout: float

    async def poll(self) -> Any: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Jittered exponential backoff for a failing source, capped so recovery is noticed quickly."""

    factor: float = 2.0
    max_multiple: float = 2.0  # never wait longer than this many intervals
    jitter: float = 0.2

    def delay(self, interval: float, failures: int, rng: random.Random | None = None) -> float:
        if failures <= 0:
            return interval
        cap = interval * self.max_multiple
        try:  # a source down for days must not overflow the power and kill its polling task
            growth = self.factor ** min(failures - 1, 64)
        except OverflowError:
            growth = math.inf
        base = min(interval * growth, cap)
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return max(0.05, min(base * spread, cap))


@dataclass
class _SourceState:
    source: Source
    failures: int = 0
    last_value: Any = None
    last_ok_at: datetime | None = None
    waiting: asyncio.Future[None] | None = None  # the wait between polls, resolved early by `refresh`
    woken: bool = False  # asked to poll again while a poll ran: the next wait is skipped

    def wake(self) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(None)
        else:
            self.woken = True

    async def sleep(self, delay: float) -> None:
        """`delay` seconds or until woken. A future and a timer handle: `wait_for(event.wait())` cost a task
        and its callbacks per poll, a tenth of the collector's steady CPU at ten sources a second."""
        if self.woken:
            self.woken = False
            return
        loop = asyncio.get_running_loop()
        self.waiting = loop.create_future()
        timer = loop.call_later(delay, _resolve, self.waiting)
        try:
            await self.waiting
        finally:
            timer.cancel()
            self.waiting = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def describe_error(exc: BaseException, timeout: float) -> str:
    """Short, secret-free, terminal-safe reason for a failed poll."""
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout:g}s"
    if isinstance(exc, ConsoleError):
        return clean(redact_text(str(exc)), 200)
    # Not translated by an adapter: still shown, but marked so the gap is visible.
    return clean(redact_text(f"{type(exc).__name__}: {exc}"), 200)


class Collector:
    """Runs the sources and hands every Reading to `emit` on the event loop."""

    def __init__(
        self,
        sources: list[Source],
        emit: Callable[[Reading], None],
        clock: Clock = utc_now,
        backoff: Backoff | None = None,
    ):
        self._states = {s.name: _SourceState(s) for s in sources}
        if len(self._states) != len(sources):
            raise ValueError("source names must be unique")
        self._emit = emit
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = asyncio.Event()
        self._running.set()

    @property
    def sources(self) -> list[Source]:
        return [state.source for state in self._states.values()]

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self.refresh()

    def refresh(self, name: str | None = None) -> None:
        """Poll now (all sources, or one) instead of waiting out the interval."""
        for state in self._states.values():
            if name is None or state.source.name == name:
                state.wake()

    async def poll_once(self, name: str) -> Reading:
        """Poll one source now, under its timeout, and return (and emit) the reading."""
        state = self._states[name]
        source = state.source
        started = self._clock()
        try:
            # asyncio.timeout runs the poll in this task; wait_for would wrap it in a new one every poll.
            async with asyncio.timeout(source.timeout):
                value = await source.poll()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes a reading; a source never kills the loop
            state.failures += 1
            reading = Reading(
                source=source.name,
                kind=source.kind,
                at=self._clock(),
                value=state.last_value,
                error=describe_error(exc, source.timeout),
                stale=state.last_value is not None,
                last_ok_at=state.last_ok_at,
                duration_ms=_ms(started, self._clock()),
            )
        else:
            now = self._clock()
            state.failures = 0
            state.last_value, state.last_ok_at = value, now
            reading = Reading(
                source=source.name, kind=source.kind, at=now, value=value, last_ok_at=now, duration_ms=_ms(started, now)
            )
        self._emit(reading)
        return reading

    async def collect_once(self) -> list[Reading]:
        """One concurrent round over every source (used by `opsconsole snapshot`)."""
        return list(await asyncio.gather(*(self.poll_once(name) for name in self._states)))

    async def _loop(self, state: _SourceState) -> None:
        source = state.source
        while True:
            if not self._running.is_set():
                await self._running.wait()
            state.woken = False
            await self.poll_once(source.name)
            await state.sleep(self._backoff.delay(source.interval, state.failures))

    def start(self) -> None:
        if self._tasks:
            return
        for state in self._states.values():
            self._tasks.append(asyncio.create_task(self._loop(state), name=f"poll:{state.source.name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_sources(s.source for s in self._states.values())

    async def run(self) -> None:
        """Start, then wait until cancelled; closes every client on the way out."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


async def close_sources(sources: Iterable[Source]) -> None:
    """Close every source's clients, each within 2 s; a broken one does not keep the others open."""
    await asyncio.gather(*(_close(source.aclose) for source in sources), return_exceptions=True)


async def _close(close: Callable[[], Awaitable[None]]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(close(), timeout=2.0)


def _ms(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() * 1000)
