"""`opsconsole record FILE` (headless) and `opsconsole replay FILE` (the TUI, playing a recording)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

from console.config import CacheConfig, Environment, Settings, TrafficConfig
from console.config_checks import secret_values
from console.recording import (
    Header,
    Recording,
    RecordingError,
    RecordingWriter,
    header_for,
    load,
)

JOURNAL_POLL = 2.0  # seconds between looks at the audit journal for actions taken meanwhile


def record(settings: Settings, file: str, duration: float | None) -> int:
    return asyncio.run(_record(settings, Path(file), duration))


async def _record(settings: Settings, path: Path, duration: float | None) -> int:
    from console.audit import AuditLog, read_since, record_time
    from console.collector import Collector
    from console.sources import build_sources

    sources = build_sources(settings)
    if not sources:
        print(f"opsconsole record: environment {settings.env.name!r} has no sources to record", file=sys.stderr)
        return 2
    try:
        writer = RecordingWriter(path, header_for(settings, {s.name: s.kind for s in sources}), secret_values(settings))
    except RecordingError as exc:
        print(f"opsconsole record: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    journal = AuditLog(settings.audit_log).path
    offset = journal.stat().st_size if journal.exists() else 0
    actions = 0
    collector = Collector(sources, writer.reading)
    collector.start()
    started = time.monotonic()
    print(f"recording {len(sources)} sources of {settings.env.name!r} to {path}; ctrl+c stops", file=sys.stderr)
    try:
        while not stop.is_set():
            remaining = None if duration is None else duration - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                break
            wait = JOURNAL_POLL if remaining is None else min(JOURNAL_POLL, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            records, offset = await asyncio.to_thread(read_since, journal, offset)
            for record_ in records:
                writer.action(record_, record_time(record_) or datetime.now(UTC))
                actions += 1
    finally:
        await collector.stop()
        writer.close()
    size = path.stat().st_size
    print(f"recorded {writer.count} readings and {actions} actions in {path} ({size:,} bytes)", file=sys.stderr)
    return 0


def replay_settings(header: Header) -> Settings:
    """Settings that judge like the recorded console did: its environment marks and thresholds."""
    limits = header.limits
    defaults = TrafficConfig()
    traffic = TrafficConfig(
        p95_warn_ms=limits.get("p95_warn_ms", defaults.p95_warn_ms),
        p95_crit_ms=limits.get("p95_crit_ms", defaults.p95_crit_ms),
        error_warn=limits.get("error_warn", defaults.error_warn),
        error_crit=limits.get("error_crit", defaults.error_crit),
    )
    cache = CacheConfig(
        hit_warn=limits.get("hit_warn", CacheConfig.hit_warn),
        memory_warn=limits.get("memory_warn", CacheConfig.memory_warn),
    )
    env = Environment(name=header.environment, label=header.label, protected=header.protected, cache=cache)
    env = replace(env, traffic=traffic if "traffic" in header.panes else None)
    return Settings(env=env, environments=(header.environment,))


def parse_at(text: str, recording: Recording) -> datetime:
    """`HH:MM[:SS]` on the recording's first day, or a full ISO time."""
    start = recording.start
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None and start is not None:
            moment = moment.replace(tzinfo=start.tzinfo)
        return moment
    except ValueError:
        pass
    if start is None:
        raise ValueError("the recording is empty")
    parsed = clock_time.fromisoformat(text)
    return start.replace(hour=parsed.hour, minute=parsed.minute, second=parsed.second, microsecond=0)


def replay(file: str, speed: float, at: str | None, paused: bool) -> int:
    path = Path(file)
    try:
        recording = load(path)
    except RecordingError as exc:
        print(f"opsconsole replay: {exc}", file=sys.stderr)
        return 2
    for warning in recording.warnings:
        print(f"opsconsole replay: warning: {warning}", file=sys.stderr)
    if not recording.readings:
        print(f"opsconsole replay: {path} holds no readings", file=sys.stderr)
        return 2
    settings = replay_settings(recording.header)
    try:
        start = parse_at(at, recording) if at else None
    except ValueError as exc:
        print(f"opsconsole replay: --at {at!r}: {exc}", file=sys.stderr)
        return 2
    app = make_replay_app(recording, settings, path.name, speed, start, paused)
    app.run()
    return app.return_code or 0


def make_replay_app(  # type: ignore[no-untyped-def]
    recording: Recording,
    settings: Settings,
    title: str,
    speed: float = 1.0,
    start: datetime | None = None,
    paused: bool = False,
):
    """The console playing `recording` (tests and snapshot fixtures build it the same way)."""
    from console.app import make_app
    from console.board import Board
    from console.replay import ReplayDriver
    from console.timeline import build

    driver = ReplayDriver(recording.readings, start=start, speed=speed)
    driver.paused = paused
    app = make_app(
        settings,
        clock=lambda: driver.now(),
        collect=False,
        replay=driver,
        panes=recording.header.panes,
        replay_title=title,
    )
    # The whole recording's timeline, so an event later than the replay position can be jumped to.
    board = Board(history=settings.history, traffic=settings.traffic, cache=settings.env.cache)
    app.timeline = build(recording.readings, board, [a.record for a in recording.actions])
    for name, kind in recording.header.sources.items():
        app.live_board.expect(name, kind)
    return app
