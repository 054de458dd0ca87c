"""The incident timeline: what changed, when, across every pane, on one time axis.

`Timeline.observe(reading, board)` runs after the board has taken the reading and turns differences into
`TimelineEvent`s: a health verdict changing, p95 or the error rate jumping against its own recent baseline,
a breaker transition, a backlog forming, dead letters starting to arrive, a cache hit ratio dropping, a
source going unreachable, and the console's own actions from the journal. Pure logic: the app, replays
and exports build the same timeline from the same readings.

Noise control: an item's verdict is reported when it changes; getting worse is reported at once, getting
better only once it has held for `SETTLE` seconds since the item's last event, so a flapping item makes one
line per flap window, not one per poll.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from console.audit import record_time
from console.board import Board, assess_mongo, judge_traffic
from console.board_breakers import VERDICT, history_key
from console.model import (
    BreakerSnapshot,
    CacheStatus,
    DlqSnapshot,
    MongoStatus,
    QueueSnapshot,
    Reading,
    Status,
    TimelineEvent,
    TrafficSnapshot,
)
from console.sanitize import clean

SETTLE = 15.0  # seconds an improvement must wait after the item's last event
SPIKE_FACTOR = 3.0  # p95 this many times its baseline is a spike ("p95 tripled")
SPIKE_MIN_MS = 50.0  # … and at least this many ms: 2 ms → 6 ms is noise
ERROR_JUMP = 0.01  # error ratio up by this much (absolute) over its baseline is a burst
HIT_DROP = 0.15  # hit ratio this far below its recent median is a drop
BASELINE = 10  # points behind a baseline
MAX_EVENTS = 2000
_NUMBERS = re.compile(r"[0-9][0-9.,]*")


@dataclass
class _Item:
    reported: Any = None  # the state the last event announced
    last_event: datetime | None = None


def _fmt_ratio(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


class Timeline:
    def __init__(self, max_events: int = MAX_EVENTS):
        self.events: deque[TimelineEvent] = deque(maxlen=max_events)
        self._items: dict[str, _Item] = {}
        self._series: dict[str, deque[float]] = {}
        self._actions_seen: set[str] = set()

    # --- helpers ------------------------------------------------------------------------------------

    def _emit(self, event: TimelineEvent) -> TimelineEvent:
        self.events.append(event)
        return event

    def _state(
        self, key: str, state: Any, rank: int, at: datetime, make: Any, first_ok: bool = True
    ) -> TimelineEvent | None:
        """Report `state` of item `key` when it differs from what was last reported (see SETTLE)."""
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = _Item(reported=state if first_ok else None)
            if first_ok:
                return None  # first sight of a healthy item: nothing happened
        if item.reported == state:
            return None
        before_rank = item.reported[1] if isinstance(item.reported, tuple) else -1
        settled = item.last_event is None or (at - item.last_event).total_seconds() >= SETTLE
        if rank < before_rank and not settled:
            return None  # an improvement right after a change: wait until it holds
        before = item.reported
        item.reported, item.last_event = state, at
        return self._emit(make(before))

    def _baseline(self, key: str, value: float | None) -> float | None:
        """Median of the values seen before this one (then this one joins the series)."""
        if value is None:
            return None
        series = self._series.setdefault(key, deque(maxlen=BASELINE))
        base = median(series) if len(series) >= 3 else None
        series.append(value)
        return base

    # --- readings -----------------------------------------------------------------------------------

    def observe(self, reading: Reading, board: Board) -> list[TimelineEvent]:
        """Events caused by `reading` (already applied to `board`)."""
        events: list[TimelineEvent | None] = [self._reachability(reading)]
        if reading.error is None:
            value = reading.value
            if reading.kind == "health":
                events += self._health(reading, board)
            elif isinstance(value, TrafficSnapshot):
                events += self._traffic(reading, value, board)
            elif isinstance(value, BreakerSnapshot):
                events += self._breakers(reading, value)
            elif isinstance(value, QueueSnapshot):
                events += self._queues(reading, board)
            elif isinstance(value, DlqSnapshot):
                events += self._dlqs(reading, value, board)
            elif isinstance(value, CacheStatus):
                events += self._cache(reading, value, board)
            elif isinstance(value, MongoStatus):
                events += self._mongo(reading, value)
        return [e for e in events if e is not None]

    def _reachability(self, reading: Reading) -> TimelineEvent | None:
        up = reading.error is None
        lane = reading.kind if reading.kind != "fleet" else "health"
        name = reading.source

        def make(before: Any) -> TimelineEvent:
            if up:
                return TimelineEvent(reading.at, lane, name, Status.OK, f"{name} answering again", name)
            return TimelineEvent(reading.at, lane, name, Status.CRIT, f"{name} unreachable: {reading.error}", name)

        state = ("up", 0) if up else ("down", 3)
        return self._state(f"reach:{name}", state, state[1], reading.at, make, first_ok=up)

    def _health(self, reading: Reading, board: Board) -> list[TimelineEvent | None]:
        events = []
        for row in board.health_rows_of(board.readings.get(reading.source, reading)):
            if row.status is Status.UNKNOWN:
                continue  # unknown = unreachable, reported once by _reachability

            def make(before: Any, row: Any = row) -> TimelineEvent:
                detail = _health_detail(row)  # worked out only for an event: most readings change nothing
                change = f"{before[0]} → {row.status.value}" if before else row.status.value
                text = f"{row.name} {change}" + (f": {detail}" if detail else "")
                return TimelineEvent(reading.at, "health", row.name, row.status, text, reading.source)

            state = (row.status.value, row.status.rank)
            events.append(self._state(f"health:{row.name}", state, row.status.rank, reading.at, make, _ok(row.status)))
        return events

    def _traffic(self, reading: Reading, snapshot: TrafficSnapshot, board: Board) -> list[TimelineEvent | None]:
        events: list[TimelineEvent | None] = []
        for row in snapshot.services:
            status, reasons = judge_traffic(row.stats, board.traffic_limits)
            service = row.service

            def make(
                before: Any, service: str = service, status: Status = status, reasons: Any = reasons
            ) -> TimelineEvent:
                text = f"{service} traffic {status.value}" + (f": {', '.join(reasons)}" if reasons else "")
                return TimelineEvent(reading.at, "traffic", service, status, text, reading.source)

            state = (status.value, status.rank)
            events.append(self._state(f"traffic:{service}", state, status.rank, reading.at, make, _ok(status)))
            events += self._spikes(reading, service, row.stats.p95, row.stats.error_ratio)
        return events

    def _spikes(
        self, reading: Reading, service: str, p95: float | None, errors: float | None
    ) -> list[TimelineEvent | None]:
        events: list[TimelineEvent | None] = []
        base = self._baseline(f"p95:{service}", p95)
        if p95 is not None and base:
            spiking = p95 >= base * SPIKE_FACTOR and p95 * 1000 >= SPIKE_MIN_MS
            calm = p95 < base * 1.5

            def make_p95(before: Any) -> TimelineEvent:
                if spiking:
                    text = f"{service} p95 ×{p95 / base:.1f}: {base * 1000:.0f} → {p95 * 1000:.0f} ms"
                    return TimelineEvent(reading.at, "traffic", service, Status.WARN, text, reading.source)
                text = f"{service} p95 back to {p95 * 1000:.0f} ms"
                return TimelineEvent(reading.at, "traffic", service, Status.OK, text, reading.source)

            if spiking or calm:
                state = ("spike", 1) if spiking else ("calm", 0)
                events.append(self._state(f"p95:{service}", state, state[1], reading.at, make_p95, not spiking))
        base_errors = self._baseline(f"errors:{service}", errors)
        if errors is not None and base_errors is not None:
            burst = errors - base_errors >= ERROR_JUMP
            calm = errors - base_errors < ERROR_JUMP / 2

            def make_errors(before: Any) -> TimelineEvent:
                if burst:
                    text = f"{service} errors {_fmt_ratio(base_errors)} → {_fmt_ratio(errors)}"
                    return TimelineEvent(reading.at, "traffic", service, Status.WARN, text, reading.source)
                text = f"{service} errors back to {_fmt_ratio(errors)}"
                return TimelineEvent(reading.at, "traffic", service, Status.OK, text, reading.source)

            if burst or calm:
                state = ("burst", 1) if burst else ("calm", 0)
                events.append(self._state(f"errors:{service}", state, state[1], reading.at, make_errors, not burst))
        return events

    def _breakers(self, reading: Reading, snapshot: BreakerSnapshot) -> list[TimelineEvent | None]:
        events = []
        for info in snapshot.breakers:
            status = VERDICT[info.state]
            subject = f"{info.service}/{info.name}" if info.service else info.name

            def make(before: Any, info: Any = info, status: Status = status, subject: str = subject) -> TimelineEvent:
                change = f"{before[0]} → {info.state.value}" if before else info.state.value
                rate = f" (failure rate {info.failure_rate:.0f}%)" if info.failure_rate is not None else ""
                text = f"breaker {subject} {change}{rate}"
                return TimelineEvent(reading.at, "breakers", subject, status, text, reading.source)

            state = (info.state.value, status.rank)
            # Breakers always report transitions, improvements too: "closed again" is the news.
            key = f"breaker:{history_key(info)}"
            item = self._items.get(key)
            if item is not None:
                item.last_event = None
            events.append(self._state(key, state, status.rank, reading.at, make, _ok(status)))
        return events

    def _queues(self, reading: Reading, board: Board) -> list[TimelineEvent | None]:
        events = []
        for row in board.queue_rows_of(board.readings.get(reading.source, reading)):

            def make(before: Any, row: Any = row) -> TimelineEvent:
                findings = ", ".join(row.reasons) or "back to normal"
                text = f"queue {row.queue.name} {row.status.value}: {findings} (depth {row.queue.depth:,})"
                return TimelineEvent(reading.at, "queues", row.queue.name, row.status, text, reading.source)

            # The kinds of finding, not their figures: "growing 120/min" then "growing 130/min" is one story.
            state = (row.status.value, row.status.rank, tuple(_NUMBERS.sub("#", r) for r in row.reasons))
            events.append(
                self._state(f"queue:{row.queue.key}", state, row.status.rank, reading.at, make, _ok(row.status))
            )
        return events

    def _dlqs(self, reading: Reading, snapshot: DlqSnapshot, board: Board) -> list[TimelineEvent | None]:
        keys = {d.key for d in snapshot.dlqs}
        events = []
        for row in board.dlq_rows():
            if row.info.key not in keys or row.info.error:
                continue
            inflow = row.inflow_per_minute or 0.0
            # States: empty, holding (nothing arriving), arriving, flooding (critical inflow or pile).
            if row.info.count == 0:
                phase = ("empty", 0)
            elif inflow <= 0:
                phase = ("holding", 1)
            else:
                phase = ("arriving", 2) if row.status is not Status.CRIT else ("flooding", 3)

            def make(before: Any, row: Any = row, phase: Any = phase, inflow: float = inflow) -> TimelineEvent:
                name = row.info.name
                if phase[0] == "empty":
                    text = f"DLQ {name} emptied"
                elif phase[0] == "holding":
                    text = f"DLQ {name} holds {row.info.count:,}, nothing arriving"
                else:
                    text = f"DLQ {name} filling: {inflow:.1f}/min, {row.info.count:,} letters"
                severity = {0: Status.OK, 1: Status.WARN, 2: Status.WARN, 3: Status.CRIT}[phase[1]]
                return TimelineEvent(reading.at, "dlq", name, severity, text, reading.source)

            events.append(self._state(f"dlq:{row.info.key}", phase, phase[1], reading.at, make, phase[1] == 0))
        return events

    def _cache(self, reading: Reading, status: CacheStatus, board: Board) -> list[TimelineEvent | None]:
        events: list[TimelineEvent | None] = []
        ratios = [(status.instance, status.hit_ratio)] + [
            (f"{status.instance}/{n.name}", n.hit_ratio) for n in status.namespaces
        ]
        for subject, ratio in ratios:
            base = self._baseline(f"hit:{subject}", ratio)
            if ratio is None or base is None:
                continue
            dropped = base - ratio >= HIT_DROP
            recovered = base - ratio < HIT_DROP / 2

            if dropped:
                text = f"cache {subject} hit ratio {_fmt_ratio(base)} → {_fmt_ratio(ratio)}"
                event = TimelineEvent(reading.at, "cache", subject, Status.WARN, text, reading.source)
            else:
                text = f"cache {subject} hit ratio back to {_fmt_ratio(ratio)}"
                event = TimelineEvent(reading.at, "cache", subject, Status.OK, text, reading.source)

            if dropped or recovered:
                state = ("drop", 1) if dropped else ("ok", 0)
                key = f"hit:{subject}"
                events.append(self._state(key, state, state[1], reading.at, lambda _b, e=event: e, not dropped))
        verdict, findings = board.assess_cache(reading)

        def make_verdict(before: Any) -> TimelineEvent:
            text = f"cache {status.instance} {verdict.value}" + (f": {', '.join(findings)}" if findings else "")
            return TimelineEvent(reading.at, "cache", status.instance, verdict, text, reading.source)

        # Hit-ratio findings are reported as drops above; the verdict line covers memory, evictions, links.
        other = tuple(_NUMBERS.sub("#", f) for f in findings if "hit ratio" not in f)
        rank = verdict.rank if other else 0
        judged = ("cache", rank, other)
        events.append(self._state(f"cache:{status.instance}", judged, rank, reading.at, make_verdict, rank == 0))
        return events

    def _mongo(self, reading: Reading, status: MongoStatus) -> list[TimelineEvent | None]:
        verdict, findings = assess_mongo(status)

        def make(before: Any) -> TimelineEvent:
            text = f"mongo {verdict.value}" + (f": {', '.join(findings)}" if findings else "")
            return TimelineEvent(reading.at, "mongo", reading.source, verdict, text, reading.source)

        state = (verdict.value, verdict.rank, tuple(_NUMBERS.sub("#", f) for f in findings))
        return [self._state(f"mongo:{reading.source}", state, verdict.rank, reading.at, make, _ok(verdict))]

    # --- actions ------------------------------------------------------------------------------------

    def observe_action(self, record: Mapping[str, Any]) -> TimelineEvent | None:
        """An audit journal record: every action, dry-run and refusal is on the axis."""
        key = str(record.get("id") or "")
        if key and key in self._actions_seen:
            return None
        at = record_time(record)
        if at is None:
            return None
        if key:
            self._actions_seen.add(key)
        outcome = str(record.get("outcome", ""))
        severity = {"failed": Status.CRIT, "refused": Status.WARN, "aborted": Status.WARN}.get(outcome, Status.OK)
        who = record.get("who") if isinstance(record.get("who"), dict) else {}
        user = who.get("user", "") if isinstance(who, dict) else ""
        counts = record.get("counts") if isinstance(record.get("counts"), dict) else {}
        figures = " ".join(f"{k}={v}" for k, v in (counts or {}).items())
        target = str(record.get("target", ""))
        text = f"{record.get('action', '?')} {target} {outcome}" + (f" {figures}" if figures else "")
        text += f" by {user}" if user else ""
        return self._emit(TimelineEvent(at, "actions", target, severity, clean(text, 160)))

    def extend_actions(self, records: Iterable[Mapping[str, Any]], since: datetime | None = None) -> int:
        added = 0
        for record in records:
            at = record_time(record)
            if since is not None and (at is None or at < since):
                continue
            if self.observe_action(record) is not None:
                added += 1
        return added

    def ordered(self) -> list[TimelineEvent]:
        """Every event, oldest first (actions from the journal may arrive late)."""
        return sorted(self.events, key=lambda e: e.at)


def _ok(status: Status) -> bool:
    return status is Status.OK


def build(readings: Iterable[Reading], board: Board, actions: Iterable[Mapping[str, Any]] = ()) -> Timeline:
    """A timeline from scratch: every reading applied to `board` in order (replays, exports, tests)."""
    timeline = Timeline()
    for reading in readings:
        board.apply(reading)
        timeline.observe(reading, board)
    timeline.extend_actions(actions)
    return timeline


def relative(seconds: float) -> str:
    """`+40s`, `-2m05s`, `+1h02m`: an event's offset from the selected one."""
    sign = "+" if seconds >= 0 else "-"
    total = int(round(abs(seconds)))
    if total < 60:
        return f"{sign}{total}s"
    if total < 3600:
        return f"{sign}{total // 60}m{total % 60:02d}s"
    return f"{sign}{total // 3600}h{total % 3600 // 60:02d}m"


def _health_detail(row: Any) -> str:
    """What is wrong with a health row, for its event: failing checks, else the probes' messages."""
    detail = ""
    if row.target is not None:
        bad = [f"{c.name} {c.detail}".strip() for p in row.target.probes for c in p.checks if c.status is not Status.OK]
        messages = [p.message for p in row.target.probes if p.status is not Status.OK and p.message]
        detail = "; ".join(dict.fromkeys(bad or messages))[:80]
    if row.flapping:
        detail = (detail + "; " if detail else "") + "flapping"
    return detail
