"""What the screen knows: last reading per source, per-target history, and the verdicts derived from them.

Pure logic (no IO, no Textual) so the app, `opsconsole snapshot` and the tests judge readings alike.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, replace

from console.board_breakers import VERDICT, breaker_rows, history_key
from console.board_dlq import dlq_row
from console.config import CacheConfig, TrafficConfig
from console.model import (
    FLAP_WINDOW,
    BreakerInfo,
    BreakerRow,
    BreakerSnapshot,
    BreakerState,
    CacheStatus,
    DlqRow,
    DlqSnapshot,
    HealthFleet,
    HealthRow,
    HealthTarget,
    MongoStatus,
    PaneState,
    QueueInfo,
    QueueRow,
    QueueSnapshot,
    Reading,
    SourceMode,
    Status,
    TrafficPoint,
    TrafficRow,
    TrafficSnapshot,
    TrafficStats,
    count_changes,
    worst,
)

FLAP_CHANGES = 4


@dataclass(frozen=True)
class MongoThresholds:
    ping_warn_ms: float = 100.0
    ping_crit_ms: float = 1000.0
    connections_warn: float = 0.80  # share of current / (current + available)
    connections_crit: float = 0.95
    lag_warn_s: float = 10.0
    lag_crit_s: float = 60.0


DEFAULT_MONGO_LIMITS = MongoThresholds()


def assess_mongo(status: MongoStatus, limits: MongoThresholds = DEFAULT_MONGO_LIMITS) -> tuple[Status, list[str]]:
    """Verdict and the reasons behind it."""
    findings: list[tuple[Status, str]] = []
    if status.ping_ms >= limits.ping_crit_ms:
        findings.append((Status.CRIT, f"ping {status.ping_ms:.0f} ms"))
    elif status.ping_ms >= limits.ping_warn_ms:
        findings.append((Status.WARN, f"ping {status.ping_ms:.0f} ms"))
    current, available = status.connections_current, status.connections_available
    if current is not None and available is not None and current + available > 0:
        share = current / (current + available)
        if share >= limits.connections_crit:
            findings.append((Status.CRIT, f"connections {share:.0%} used"))
        elif share >= limits.connections_warn:
            findings.append((Status.WARN, f"connections {share:.0%} used"))
    if status.replica_set and status.members:
        if not any(m.state == "PRIMARY" for m in status.members):
            findings.append((Status.CRIT, "no primary"))
        unhealthy = [m.name for m in status.members if not m.healthy]
        if unhealthy:
            findings.append((Status.WARN, f"unhealthy: {', '.join(unhealthy)}"))
        lag = status.max_lag_seconds
        if lag is not None and lag >= limits.lag_crit_s:
            findings.append((Status.CRIT, f"replication lag {lag:.0f}s"))
        elif lag is not None and lag >= limits.lag_warn_s:
            findings.append((Status.WARN, f"replication lag {lag:.0f}s"))
    return worst(s for s, _ in findings), [text for _, text in findings]


DEFAULT_TRAFFIC = TrafficConfig()
TRAFFIC_POINTS = 240  # sparkline memory per service: 20 min at 5 s


def judge_traffic(stats: TrafficStats, limits: TrafficConfig = DEFAULT_TRAFFIC) -> tuple[Status, tuple[str, ...]]:
    """The seeds' thresholds by default: p95 > 200 ms warning, errors > 1 % warning, > 5 % critical."""
    findings: list[tuple[Status, str]] = []
    if stats.error_ratio is not None:
        if stats.error_ratio >= limits.error_crit:
            findings.append((Status.CRIT, f"errors {stats.error_ratio:.1%}"))
        elif stats.error_ratio >= limits.error_warn:
            findings.append((Status.WARN, f"errors {stats.error_ratio:.1%}"))
    if stats.p95 is not None:
        p95_ms = stats.p95 * 1000
        if p95_ms >= limits.p95_crit_ms:
            findings.append((Status.CRIT, f"p95 {p95_ms:.0f} ms"))
        elif p95_ms >= limits.p95_warn_ms:
            findings.append((Status.WARN, f"p95 {p95_ms:.0f} ms"))
    return worst(s for s, _ in findings), tuple(text for _, text in findings)


HIT_HYSTERESIS = 0.02  # a low hit ratio stays flagged until 2 points above the target: no flapping at 79/80 %


def low_hit_ratios(status: CacheStatus, limits: CacheConfig, flagged: Collection[str] = ()) -> frozenset[str]:
    """The hit ratios to flag ("" the instance's, else a namespace's name): below the target, or flagged before
    and not yet `HIT_HYSTERESIS` above it."""
    ratios = [("", status.hit_ratio), *((n.name, n.hit_ratio) for n in status.namespaces)]
    return frozenset(
        name
        for name, ratio in ratios
        if ratio is not None
        and (ratio < limits.hit_warn or (name in flagged and ratio < limits.hit_warn + HIT_HYSTERESIS))
    )


def assess_cache(status: CacheStatus, limits: CacheConfig, flagged: Collection[str] = ()) -> tuple[Status, list[str]]:
    """Hit ratio below the target, memory near maxmemory, evictions, a replica cut off from its primary.
    `flagged`: the hit ratios flagged by the previous reading (see `low_hit_ratios`)."""
    findings: list[tuple[Status, str]] = []
    low = low_hit_ratios(status, limits, flagged)
    if status.hit_ratio is not None and "" in low:
        findings.append((Status.WARN, f"hit ratio {status.hit_ratio:.0%}"))
    share = status.memory_share
    if share is not None and share >= 0.98:
        findings.append((Status.CRIT, f"memory {share:.0%} of maxmemory"))
    elif share is not None and share >= limits.memory_warn:
        findings.append((Status.WARN, f"memory {share:.0%} of maxmemory"))
    if status.evictions_per_second:
        findings.append((Status.WARN, f"evicting {status.evictions_per_second:.0f}/s"))
    if status.role == "replica" and status.link_status and status.link_status != "up":
        findings.append((Status.CRIT, f"replica link {status.link_status}"))
    for namespace in status.namespaces:
        if namespace.hit_ratio is not None and namespace.name in low:
            findings.append((Status.WARN, f"{namespace.name} hit ratio {namespace.hit_ratio:.0%}"))
    return worst(s for s, _ in findings), [text for _, text in findings]


def _health_order(row: HealthRow) -> tuple[int, str]:
    return -row.status.rank, row.name


def _queue_order(row: QueueRow) -> tuple[int, int, str]:
    return -row.status.rank, -row.queue.depth, row.queue.key


def _worst_first(rows: list[TrafficRow]) -> list[TrafficRow]:
    return sorted(rows, key=lambda r: (-r.status.rank, -(r.stats.rps or 0.0), r.service, r.route or ""))


QUEUE_POINTS = 120
GROWTH_WINDOW = 60.0  # seconds of depth history behind "growth per minute"
GROWING_WARN = 100  # a backlog above this that keeps growing is a warning


def queue_row(queue: QueueInfo, points: tuple[tuple[float, int], ...]) -> QueueRow:
    """Growth per minute over the last minute of history, drain ETA, and the verdict."""
    growth = None
    if len(points) >= 2:
        now_t, now_depth = points[-1]
        start = next((p for p in points if now_t - p[0] <= GROWTH_WINDOW), points[0])
        if start == points[-1]:
            start = points[-2]
        if now_t > start[0]:
            growth = (now_depth - start[1]) / (now_t - start[0]) * 60
    drain = None
    if queue.depth == 0:
        drain = 0.0
    elif queue.consumers == 0 or (growth is not None and growth >= 0):
        drain = math.inf
    elif growth is not None and growth < 0:
        drain = queue.depth / (-growth / 60)
    findings: list[tuple[Status, str]] = []
    if queue.depth > 0 and queue.consumers == 0:
        findings.append((Status.CRIT, "backlog with no consumers"))
    if queue.paused:
        findings.append((Status.WARN, "paused"))
    if growth is not None and growth > 0 and queue.depth > GROWING_WARN:
        findings.append((Status.WARN, f"growing {growth:.0f}/min"))
    return QueueRow(
        queue,
        worst(s for s, _ in findings),
        growth,
        drain,
        tuple(t for _, t in findings),
        tuple(depth for _, depth in points[-30:]),
    )


class Board:
    """Accumulates readings; everything the panes render is derived from here."""

    def __init__(self, history: int = 30, traffic: TrafficConfig | None = None, cache: CacheConfig | None = None):
        self.history_size = history
        self.cache_limits = cache or CacheConfig()
        self._namespace_history: dict[str, deque[float | None]] = {}
        self._queue_history: dict[str, deque[tuple[float, int]]] = {}
        self._cache_flagged: dict[str, frozenset[str]] = {}  # per cache source: hit ratios flagged (hysteresis)
        self._health_rows_cache: list[HealthRow] | None = None
        self._queue_rows_cache: list[QueueRow] | None = None
        self._verdicts: dict[str, tuple[Reading, Status]] = {}  # `status_of` of each source's current reading
        self._dlq_history: dict[str, deque[tuple[float, int]]] = {}
        self._breaker_history: dict[str, deque[BreakerState]] = {}
        self.breaker_changes: list[tuple[BreakerInfo, BreakerState]] = []  # (now, before) since last taken
        self.traffic_limits = traffic or DEFAULT_TRAFFIC
        self._traffic_history: dict[str, deque[TrafficPoint]] = {}
        self.readings: dict[str, Reading] = {}
        self._history: dict[str, deque[Status]] = {}
        self.expected: dict[str, str] = {}  # source name → kind, so "waiting" panes know what is coming

    def expect(self, name: str, kind: str) -> None:
        self.expected[name] = kind

    def apply(self, reading: Reading) -> None:
        # Derived rows and verdicts rest on readings of their own kind only (rows, histories, flags of that
        # kind): they are worked out again after a reading of that kind, not once per caller — the app asks for
        # every source's verdict after each reading, and a fleet can have a thousand rows.
        kinds = {reading.kind, self.readings.get(reading.source, reading).kind}
        if "health" in kinds:
            self._health_rows_cache = None
        if "queues" in kinds:
            self._queue_rows_cache = None
        for source in [s for s, (r, _) in self._verdicts.items() if r.kind in kinds]:
            del self._verdicts[source]
        self.readings[reading.source] = reading
        self.expected.setdefault(reading.source, reading.kind)
        if reading.kind == "health":
            for key, _name, status, _target in self._health_targets(reading):
                self._history.setdefault(key, deque(maxlen=self.history_size)).append(status)
        elif reading.kind == "traffic" and reading.error is None and isinstance(reading.value, TrafficSnapshot):
            self._extend_traffic_history(reading)
        elif reading.kind == "queues" and reading.error is None and isinstance(reading.value, QueueSnapshot):
            t = reading.at.timestamp()
            for queue in reading.value.queues:
                self._queue_history.setdefault(queue.key, deque(maxlen=QUEUE_POINTS)).append((t, queue.depth))
        elif reading.kind == "dlq" and reading.error is None and isinstance(reading.value, DlqSnapshot):
            t = reading.at.timestamp()
            for info in reading.value.dlqs:
                if not info.error:
                    self._dlq_history.setdefault(info.key, deque(maxlen=QUEUE_POINTS)).append((t, info.count))
        elif reading.kind == "breakers" and reading.error is None and isinstance(reading.value, BreakerSnapshot):
            for breaker in reading.value.breakers:
                # Per source: one breaker seen by the registry and an actuator has two histories, not one flapping.
                states = self._breaker_history.setdefault(history_key(breaker), deque(maxlen=QUEUE_POINTS))
                if states and states[-1] is not breaker.state:
                    self.breaker_changes.append((breaker, states[-1]))
                states.append(breaker.state)
        elif reading.kind == "cache" and reading.error is None and isinstance(reading.value, CacheStatus):
            for namespace in reading.value.namespaces:
                key = f"{reading.value.instance}/{namespace.name}"
                self._namespace_history.setdefault(key, deque(maxlen=TRAFFIC_POINTS)).append(namespace.hit_ratio)
            flagged = self._cache_flagged.get(reading.source, ())
            self._cache_flagged[reading.source] = low_hit_ratios(reading.value, self.cache_limits, flagged)

    def assess_cache(self, reading: Reading) -> tuple[Status, list[str]]:
        """A cache reading's verdict and findings, with the low hit ratios its instance had before."""
        assert isinstance(reading.value, CacheStatus)
        return assess_cache(reading.value, self.cache_limits, self._cache_flagged.get(reading.source, ()))

    def queue_rows(self) -> list[QueueRow]:
        """Every queue of every queue source, judged; worst first, then deepest."""
        if self._queue_rows_cache is None:
            self._queue_rows_cache = self._compute_queue_rows()
        return list(self._queue_rows_cache)

    def _compute_queue_rows(self) -> list[QueueRow]:
        rows = [row for reading in self.readings.values() for row in self.queue_rows_of(reading)]
        return sorted(rows, key=_queue_order)

    def queue_rows_of(self, reading: Reading) -> list[QueueRow]:
        """The judged rows of one queue reading's queues, in the pane's order (worst first, then deepest)."""
        if reading.kind != "queues" or not isinstance(reading.value, QueueSnapshot):
            return []
        rows = [queue_row(q, tuple(self._queue_history.get(q.key, ()))) for q in reading.value.queues]
        return sorted(rows, key=_queue_order)

    def dlq_rows(self) -> list[DlqRow]:
        """Every DLQ, judged; worst first, then fullest."""
        rows = []
        for reading in self.readings.values():
            if reading.kind == "dlq" and isinstance(reading.value, DlqSnapshot):
                for info in reading.value.dlqs:
                    rows.append(dlq_row(info, tuple(self._dlq_history.get(info.key, ()))))
        return sorted(rows, key=lambda r: (-r.status.rank, -r.info.count, r.info.key))

    def breaker_rows(self) -> list[BreakerRow]:
        """Every breaker of every breaker source; open first."""
        infos = [
            info
            for reading in self.readings.values()
            if reading.kind == "breakers" and isinstance(reading.value, BreakerSnapshot)
            for info in reading.value.breakers
        ]
        return breaker_rows(infos, {k: list(v) for k, v in self._breaker_history.items()})

    def take_breaker_changes(self) -> list[tuple[BreakerInfo, BreakerState]]:
        changes, self.breaker_changes = self.breaker_changes, []
        return changes

    def cache_readings(self) -> list[Reading]:
        return sorted((r for r in self.readings.values() if r.kind == "cache"), key=lambda r: r.source)

    def namespace_history(self, instance: str, namespace: str) -> tuple[float | None, ...]:
        return tuple(self._namespace_history.get(f"{instance}/{namespace}", ()))

    def _extend_traffic_history(self, reading: Reading) -> None:
        snapshot: TrafficSnapshot = reading.value
        for service, points in snapshot.backfill.items():
            # query_range rounds its end up to the step: points at or after this reading would hide it.
            past = (p for p in points if p.at < reading.at)
            self._traffic_history[service] = deque(past, maxlen=TRAFFIC_POINTS)
        for row in snapshot.services:
            history = self._traffic_history.setdefault(row.service, deque(maxlen=TRAFFIC_POINTS))
            if history and history[-1].at >= reading.at:
                continue  # the backfill already ends at this instant
            history.append(TrafficPoint(reading.at, row.stats.rps, row.stats.error_ratio, row.stats.p95))

    def traffic_reading(self) -> Reading | None:
        return next((r for r in self.readings.values() if r.kind == "traffic"), None)

    def _judged(self, rows: tuple[TrafficRow, ...]) -> list[TrafficRow]:
        result = []
        for row in rows:
            status, reasons = judge_traffic(row.stats, self.traffic_limits)
            result.append(replace(row, status=status, reasons=reasons))
        return _worst_first(result)

    def traffic_rows(self) -> list[TrafficRow]:
        """Per-service rows judged against the thresholds, worst first."""
        reading = self.traffic_reading()
        if reading is None or not isinstance(reading.value, TrafficSnapshot):
            return []
        return self._judged(reading.value.services)

    def traffic_routes(self, service: str) -> list[TrafficRow]:
        reading = self.traffic_reading()
        if reading is None or not isinstance(reading.value, TrafficSnapshot):
            return []
        return self._judged(tuple(r for r in reading.value.routes if r.service == service))

    def traffic_history(self, service: str) -> tuple[TrafficPoint, ...]:
        return tuple(self._traffic_history.get(service, ()))

    @staticmethod
    def _health_targets(reading: Reading) -> list[tuple[str, str, Status, HealthTarget | None]]:
        """(history key, row name, status, target) for every target a health reading covers.

        A plain target is one row; a Prometheus fleet reading is one row per series. A failed poll makes
        every known target UNKNOWN (the last good value stays visible, marked stale).
        """
        base = reading.source.removeprefix("health:")
        value = reading.value
        failed = reading.error is not None
        if isinstance(value, HealthFleet):
            return [
                (f"{reading.source}#{t.name}", f"{base}/{t.name}", Status.UNKNOWN if failed else t.status, t)
                for t in value.targets
            ]
        target = value if isinstance(value, HealthTarget) else None
        status = target.status if (target is not None and not failed) else Status.UNKNOWN
        return [(reading.source, base, status, target)]

    def health_rows(self) -> list[HealthRow]:
        """Worst first, then by name."""
        if self._health_rows_cache is None:
            self._health_rows_cache = self._compute_health_rows()
        return list(self._health_rows_cache)

    def _compute_health_rows(self) -> list[HealthRow]:
        rows = [
            row
            for reading in self.readings.values()
            if reading.kind == "health"
            for row in self.health_rows_of(reading)
        ]
        rows.sort(key=_health_order)
        return rows

    def health_rows_of(self, reading: Reading) -> list[HealthRow]:
        """The rows of one health reading, worst first (the timeline's per-reading look, not every row)."""
        rows = []
        for key, name, status, target in self._health_targets(reading):
            history = tuple(self._history.get(key, ()))
            flapping = count_changes(list(history[-FLAP_WINDOW:])) >= FLAP_CHANGES
            if flapping and status is Status.OK:
                status = Status.WARN
            rows.append(HealthRow(name, status, target, history, flapping, reading))
        return sorted(rows, key=_health_order)

    def mongo_readings(self) -> list[Reading]:
        return [r for r in self.readings.values() if r.kind == "mongo"]

    def pane_state(self, kind: str) -> PaneState:
        """The least fresh state among a pane's sources."""
        names = [n for n, k in self.expected.items() if k == kind]
        readings = [self.readings[n] for n in names if n in self.readings]
        if not readings:
            return PaneState(SourceMode.WAITING, sources=len(names))
        order = {SourceMode.LIVE: 0, SourceMode.STALE: 1, SourceMode.UNREACHABLE: 2}
        worst_reading = max(readings, key=lambda r: order.get(r.mode, 0))
        oks = [r.last_ok_at for r in readings if r.last_ok_at is not None]
        last_ok = worst_reading.last_ok_at if worst_reading.mode is not SourceMode.LIVE else (min(oks) if oks else None)
        return PaneState(worst_reading.mode, last_ok, worst_reading.error or "", len(names))

    def status_of(self, reading: Reading) -> Status:
        """The verdict of any reading, as `snapshot` exit codes and summaries use it.

        Kept for each source's current reading until a reading of that kind arrives: the app asks for the
        verdict before and after each reading and for every source at each repaint (~40 times a second)."""
        kept = self._verdicts.get(reading.source)
        if kept is not None and kept[0] is reading:
            return kept[1]
        status = self._judge(reading)
        if self.readings.get(reading.source) is reading:
            self._verdicts[reading.source] = (reading, status)
        return status

    def _judge(self, reading: Reading) -> Status:
        if reading.kind == "health":
            rows = [r for r in self.health_rows() if r.reading.source == reading.source]
            return worst((r.status for r in rows), default=Status.UNKNOWN)
        if reading.error is not None:
            return Status.CRIT  # the backend itself is down or failing, whatever we knew before
        if reading.kind == "mongo" and isinstance(reading.value, MongoStatus):
            return assess_mongo(reading.value)[0]
        if reading.kind == "queues" and isinstance(reading.value, QueueSnapshot):
            keys = {q.key for q in reading.value.queues}
            return worst((r.status for r in self.queue_rows() if r.queue.key in keys), default=Status.OK)
        if reading.kind == "breakers" and isinstance(reading.value, BreakerSnapshot):
            return worst((VERDICT[b.state] for b in reading.value.breakers), default=Status.OK)
        if reading.kind == "breakers" and isinstance(reading.value, BreakerSnapshot):
            return worst((VERDICT[b.state] for b in reading.value.breakers), default=Status.OK)
        if reading.kind == "dlq" and isinstance(reading.value, DlqSnapshot):
            keys = {d.key for d in reading.value.dlqs}
            return worst((r.status for r in self.dlq_rows() if r.info.key in keys), default=Status.OK)
        if reading.kind == "cache" and isinstance(reading.value, CacheStatus):
            return self.assess_cache(reading)[0]
        if reading.kind == "traffic" and isinstance(reading.value, TrafficSnapshot):
            return worst((r.status for r in self._judged(reading.value.services)), default=Status.OK)
        return Status.UNKNOWN

    def overall(self) -> Status:
        return worst((self.status_of(r) for r in self.readings.values()), default=Status.UNKNOWN)
