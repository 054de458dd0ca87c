"""What the screen knows: last reading per source, per-target history, and the verdicts derived from them.

Pure logic (no IO, no Textual) so the app, `opsconsole snapshot` and the tests judge readings alike.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from console.model import (
    FLAP_WINDOW,
    HealthRow,
    HealthTarget,
    MongoStatus,
    PaneState,
    Reading,
    SourceMode,
    Status,
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


class Board:
    """Accumulates readings; everything the panes render is derived from here."""

    def __init__(self, history: int = 30):
        self.history_size = history
        self.readings: dict[str, Reading] = {}
        self._history: dict[str, deque[Status]] = {}
        self.expected: dict[str, str] = {}  # source name → kind, so "waiting" panes know what is coming

    def expect(self, name: str, kind: str) -> None:
        self.expected[name] = kind

    def apply(self, reading: Reading) -> None:
        self.readings[reading.source] = reading
        self.expected.setdefault(reading.source, reading.kind)
        if reading.kind == "health":
            status = self._health_status(reading)
            self._history.setdefault(reading.source, deque(maxlen=self.history_size)).append(status)

    @staticmethod
    def _health_status(reading: Reading) -> Status:
        if reading.error is not None or not isinstance(reading.value, HealthTarget):
            return Status.UNKNOWN
        return reading.value.status

    def health_rows(self) -> list[HealthRow]:
        """Worst first, then by name."""
        rows = []
        for name, reading in self.readings.items():
            if reading.kind != "health":
                continue
            history = tuple(self._history.get(name, ()))
            recent = list(history[-FLAP_WINDOW:])
            flapping = count_changes(recent) >= FLAP_CHANGES
            status = self._health_status(reading)
            if flapping and status is Status.OK:
                status = Status.WARN
            target = reading.value if isinstance(reading.value, HealthTarget) else None
            rows.append(HealthRow(name.removeprefix("health:"), status, target, history, flapping, reading))
        rows.sort(key=lambda r: (-r.status.rank, r.name))
        return rows

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
        """The verdict of any reading, as `snapshot` exit codes and summaries use it."""
        if reading.kind == "health":
            rows = [r for r in self.health_rows() if r.reading.source == reading.source]
            return rows[0].status if rows else Status.UNKNOWN
        if reading.error is not None:
            return Status.CRIT  # the backend itself is down or failing, whatever we knew before
        if reading.kind == "mongo" and isinstance(reading.value, MongoStatus):
            return assess_mongo(reading.value)[0]
        return Status.UNKNOWN

    def overall(self) -> Status:
        return worst((self.status_of(r) for r in self.readings.values()), default=Status.UNKNOWN)
