"""Frozen value objects shared by every layer: readings, statuses and what each pane shows.

No IO and no Textual here, so the adapters (shared with backends), the CLI and the widgets can all
import it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Severity of anything the console shows; ordering is by `rank` (worst is highest)."""

    OK = "ok"
    WARN = "warn"
    CRIT = "crit"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        # Unknown sorts between warn and crit: "we cannot tell" is worse than degraded but not down.
        return {"ok": 0, "warn": 1, "unknown": 2, "crit": 3}[self.value]

    @property
    def exit_code(self) -> int:
        """Nagios plugin convention."""
        return {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}[self.value]


def worst(statuses: Iterable[Status], default: Status = Status.OK) -> Status:
    """The most severe status of `statuses` (`default` when there are none)."""
    result: Status | None = None
    for status in statuses:
        if result is None or status.rank > result.rank:
            result = status
    return default if result is None else result


FLAP_WINDOW = 10


def count_changes(statuses: list[Status]) -> int:
    return sum(1 for a, b in zip(statuses, statuses[1:], strict=False) if a != b)


class SourceMode(StrEnum):
    LIVE = "live"
    STALE = "stale"
    UNREACHABLE = "unreachable"
    WAITING = "waiting"


@dataclass(frozen=True)
class Reading:
    """One poll outcome of one source.

    On failure `error` says why; `value` then still carries the last good value (marked `stale`)
    so panes keep showing what they knew, with its age.
    """

    source: str
    kind: str
    at: datetime
    value: Any = None
    error: str | None = None
    stale: bool = False
    last_ok_at: datetime | None = None
    duration_ms: float | None = None

    @property
    def mode(self) -> SourceMode:
        if self.error is None:
            return SourceMode.LIVE
        return SourceMode.STALE if self.value is not None else SourceMode.UNREACHABLE


# --- Health --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthCheck:
    """One component inside a health document (database, redis, disk, …)."""

    name: str
    status: Status
    detail: str = ""
    latency_ms: float | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The answer of one health URL (`probe` is health, liveness or readiness)."""

    probe: str
    url: str
    status: Status
    format: str  # seed | spring | ietf | status-code | none
    http_status: int | None = None
    latency_ms: float | None = None
    message: str = ""
    checks: tuple[HealthCheck, ...] = ()


@dataclass(frozen=True)
class HealthTarget:
    """All probes of one service, polled together."""

    name: str
    probes: tuple[ProbeResult, ...]

    @property
    def status(self) -> Status:
        return worst((p.status for p in self.probes), default=Status.UNKNOWN)

    def probe(self, kind: str) -> ProbeResult | None:
        return next((p for p in self.probes if p.probe == kind), None)

    @property
    def latency_ms(self) -> float | None:
        values = [p.latency_ms for p in self.probes if p.latency_ms is not None]
        return max(values) if values else None


@dataclass(frozen=True)
class HealthFleet:
    """Many targets judged by Prometheus (`up`, blackbox `probe_success`) from one query."""

    query: str
    targets: tuple[HealthTarget, ...]


# --- MongoDB -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaMember:
    name: str
    state: str  # PRIMARY, SECONDARY, ARBITER, RECOVERING, (not reachable/healthy) …
    healthy: bool
    lag_seconds: float | None = None
    is_self: bool = False


@dataclass(frozen=True)
class MongoStatus:
    ping_ms: float
    version: str = ""
    uptime_seconds: float | None = None
    connections_current: int | None = None
    connections_available: int | None = None
    resident_mb: float | None = None
    # Per-second rates from deltas between two polls; empty on the first poll.
    opcounters_per_second: dict[str, float] = field(default_factory=dict)
    opcounters_total: dict[str, int] = field(default_factory=dict)
    replica_set: str | None = None
    members: tuple[ReplicaMember, ...] = ()

    @property
    def max_lag_seconds(self) -> float | None:
        lags = [m.lag_seconds for m in self.members if m.lag_seconds is not None]
        return max(lags) if lags else None


# --- What panes render -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthRow:
    """One line of the Health pane."""

    name: str
    status: Status
    target: HealthTarget | None
    history: tuple[Status, ...]
    flapping: bool
    reading: Reading

    @property
    def message(self) -> str:
        if self.reading.error:
            return self.reading.error  # the failure now matters more than what the last good poll said
        if self.target is None:
            return ""
        bad = [p for p in self.target.probes if p.status is not Status.OK]
        shown = bad[0] if bad else self.target.probes[0] if self.target.probes else None
        text = shown.message if shown else ""
        if self.flapping:
            text = f"flapping ({count_changes(list(self.history[-FLAP_WINDOW:]))} changes) · {text}"
        return text


@dataclass(frozen=True)
class PaneState:
    """Freshness of a pane's data: live, stale since …, unreachable: reason, or waiting."""

    mode: SourceMode
    last_ok_at: datetime | None = None
    reason: str = ""
    sources: int = 0

    def describe(self, now: datetime) -> str:
        if self.mode is SourceMode.WAITING:
            return "waiting for first reading" if self.sources else "not configured"
        # A wall-clock stamp rather than "Ns ago": it changes only when data arrives, so an idle console
        # does not repaint every border every second (half of all terminal output, measured). While live, to
        # the minute: "live" already says the last poll is at most an interval old, and a stamp to the second
        # redrew six borders every second (a quarter of the steady output). Stale keeps the seconds.
        if self.mode is SourceMode.LIVE:
            return f"live · as of {self.last_ok_at:%H:%M}" if self.last_ok_at else "live · as of never"
        stamp = self.last_ok_at.strftime("%H:%M:%S") if self.last_ok_at else "never"
        if self.mode is SourceMode.STALE:
            return f"stale since {stamp} · {self.reason}"
        return f"unreachable: {self.reason}"


# --- Traffic -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficStats:
    """Request rate (per second), 5xx share (0–1) and latency quantiles (seconds) over the query window."""

    rps: float | None = None
    error_ratio: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class TrafficRow:
    service: str
    route: str | None  # None: the whole service
    stats: TrafficStats
    status: Status = Status.UNKNOWN
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrafficPoint:
    at: datetime
    rps: float | None
    error_ratio: float | None
    p95: float | None


@dataclass(frozen=True)
class TrafficSnapshot:
    """One tick of traffic figures; `backfill` carries history from query_range on the first tick only."""

    mode: str  # "prometheus" or "scrape"
    services: tuple[TrafficRow, ...]
    routes: tuple[TrafficRow, ...] = ()
    backfill: dict[str, tuple[TrafficPoint, ...]] = field(default_factory=dict)
    note: str = ""


# --- Cache ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamespaceStats:
    """Hits and misses of one cache namespace; `hit_ratio` is over the last tick (deltas), not lifetime."""

    name: str
    hits: float | None  # in the last tick
    misses: float | None
    hit_ratio: float | None
    hits_total: float = 0.0
    misses_total: float = 0.0


@dataclass(frozen=True)
class CacheStatus:
    """One Redis instance; rates and the hit ratio come from deltas between two ticks (None on the first)."""

    instance: str
    version: str = ""
    role: str = ""
    used_memory: int | None = None
    maxmemory: int | None = None  # 0 or None: no limit
    policy: str = ""
    hit_ratio: float | None = None
    ops_per_second: float | None = None
    evictions_per_second: float | None = None
    expired_per_second: float | None = None
    clients: int | None = None
    blocked_clients: int | None = None
    keys: int | None = None
    link_status: str = ""  # replicas: up / down
    replication_lag_bytes: int | None = None
    namespaces: tuple[NamespaceStats, ...] = ()
    namespace_source: str = ""  # prometheus | redis | "" (none)

    @property
    def memory_share(self) -> float | None:
        if not self.maxmemory or self.used_memory is None:
            return None
        return self.used_memory / self.maxmemory


@dataclass(frozen=True)
class InvalidationPreview:
    pattern: str
    matched: int
    capped: bool  # SCAN stopped at the cap: there may be more
    sample: tuple[str, ...]
    estimated_bytes: int | None
    scanned: int


@dataclass(frozen=True)
class InvalidationResult:
    pattern: str
    deleted: int
    scanned: int
    batches: int
    aborted: bool
    seconds: float


# --- Queues --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueInfo:
    """One queue of any kind: RabbitMQ, BullMQ or a plain Redis list used as a queue.

    `depth` is what waits to be processed (RabbitMQ ready + unacked, BullMQ waiting + delayed + prioritized,
    list length); `consumers` is RabbitMQ consumers or BullMQ workers (None: unknown for this kind).
    """

    kind: str  # rabbitmq | bullmq | list
    name: str
    depth: int
    consumers: int | None = None
    ready: int | None = None
    in_flight: int | None = None  # RabbitMQ unacked, BullMQ active
    failed: int | None = None
    delayed: int | None = None
    completed: int | None = None
    paused: bool = False
    publish_rate: float | None = None  # per second, when the broker reports it
    deliver_rate: float | None = None
    dead_letter_exchange: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class QueueSnapshot:
    source: str  # e.g. "rabbitmq (management API)", "rabbitmq (AMQP passive declare)", "bullmq", "lists"
    queues: tuple[QueueInfo, ...]
    note: str = ""


@dataclass(frozen=True)
class QueueRow:
    """A queue as the pane shows it: figures plus growth and drain estimates from its history."""

    queue: QueueInfo
    status: Status
    growth_per_minute: float | None
    drain_seconds: float | None  # None: unknown; inf: never (growing or not consumed)
    reasons: tuple[str, ...] = ()
    history: tuple[int, ...] = ()


# --- dead letters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Death:
    """One `x-death` entry (RabbitMQ), newest first: where the message died, why, and how often."""

    queue: str
    reason: str
    exchange: str = ""
    routing_keys: tuple[str, ...] = ()
    count: int = 1
    time: datetime | None = None


@dataclass(frozen=True)
class DeadLetter:
    """One message in a DLQ, as browsed: identity, where it came from, why it died, a capped body.

    `ref` locates the message for actions: the RabbitMQ message id (or a body digest), the BullMQ job id,
    or the Redis list element itself (LREM removes by value).
    """

    kind: str  # rabbitmq | bullmq | redis
    dlq: str
    ref: str
    message_id: str
    origin: str  # queue (x-death), BullMQ queue, or event name
    reason: str
    at: datetime | None  # when it died
    size: int
    body: bytes  # the first DEAD_LETTER_BODY_CAP bytes
    truncated: bool = False
    content_type: str = ""
    properties: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    deaths: tuple[Death, ...] = ()
    destination: str = ""  # where a replay sends it, e.g. "exchange demo.events · key order.created"
    redelivered: bool = False

    def matches(self, text: str = "", origin: str = "", reason: str = "") -> bool:
        """Filter as the operator typed it: substring of id, origin, reason or body; exact origin/reason."""
        if origin and self.origin != origin:
            return False
        if reason and self.reason != reason:
            return False
        if not text:
            return True
        needle = text.lower()
        haystack = (self.message_id, self.origin, self.reason, self.body.decode("utf-8", "replace"))
        return any(needle in part.lower() for part in haystack)


DEAD_LETTER_BODY_CAP = 64 * 1024


@dataclass(frozen=True)
class DlqInfo:
    """A dead-letter queue at a glance: size, inflow, age of the oldest letter, where they come from and why."""

    kind: str  # rabbitmq | bullmq | redis
    name: str
    count: int
    inflow_per_minute: float | None = None
    oldest_at: datetime | None = None
    by_origin: tuple[tuple[str, int], ...] = ()  # from the sample, most first
    by_reason: tuple[tuple[str, int], ...] = ()
    sampled: int = 0  # how many letters the breakdown was read from
    note: str = ""
    error: str = ""  # this DLQ could not be read (the others still were)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class DlqRow:
    """A DLQ as the pane shows it: its figures, inflow (reported or from count history) and the verdict."""

    info: DlqInfo
    status: Status
    inflow_per_minute: float | None
    reasons: tuple[str, ...] = ()
    history: tuple[int, ...] = ()


@dataclass(frozen=True)
class DlqSnapshot:
    source: str
    dlqs: tuple[DlqInfo, ...]
    note: str = ""


@dataclass(frozen=True)
class DeadLetterPage:
    """Letters of one DLQ, newest first, as far as the backend lets us read without consuming."""

    dlq: str
    kind: str
    total: int  # letters in the DLQ
    letters: tuple[DeadLetter, ...]
    offset: int = 0
    scanned: int = 0  # letters read to fill this page (filters scan further than a page)
    note: str = ""  # e.g. "RabbitMQ: peeked 200 of 5,000 from the head, requeued"


@dataclass(frozen=True)
class ReplayProgress:
    """How far a replay, move or purge has got; `done` letters have left the DLQ."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    note: str = ""


def breakdown(values: Iterable[str], limit: int = 5) -> tuple[tuple[str, int], ...]:
    """Counts of each value, most first (ties by name), the rest folded into "other"."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) > limit:
        rest = sum(count for _, count in ranked[limit - 1 :])
        ranked = ranked[: limit - 1] + [("other", rest)]
    return tuple(ranked)


# --- circuit breakers --------------------------------------------------------------------------------


class BreakerState(StrEnum):
    """resilience4j's states; FORCED_OPEN and DISABLED are operator overrides."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    FORCED_OPEN = "FORCED_OPEN"
    DISABLED = "DISABLED"
    METRICS_ONLY = "METRICS_ONLY"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> BreakerState:
        text = str(value or "").strip().upper().replace("-", "_").replace(" ", "_")
        aliases = {"FORCE_OPEN": "FORCED_OPEN", "HALFOPEN": "HALF_OPEN"}
        text = aliases.get(text, text)
        return cls(text) if text in cls.__members__ else cls.UNKNOWN


@dataclass(frozen=True)
class BreakerTransition:
    at: datetime
    from_state: BreakerState
    to_state: BreakerState
    reason: str = ""


@dataclass(frozen=True)
class BreakerInfo:
    """One circuit breaker as any source reports it; rates are percentages (0–100), None when unknown."""

    source: str  # redis | actuator | prometheus
    service: str
    name: str
    state: BreakerState
    failure_rate: float | None = None
    slow_call_rate: float | None = None
    buffered_calls: int | None = None
    failed_calls: int | None = None
    slow_calls: int | None = None
    not_permitted_calls: int | None = None  # calls rejected while open
    since: datetime | None = None  # when it entered this state
    forced_until: datetime | None = None  # an override that reverts by itself
    transitions: tuple[BreakerTransition, ...] = ()  # newest last
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.service}/{self.name}"


@dataclass(frozen=True)
class BreakerSnapshot:
    source: str
    breakers: tuple[BreakerInfo, ...]
    note: str = ""


@dataclass(frozen=True)
class BreakerRow:
    """A breaker as the pane shows it: its reading, the verdict, and one state per reading, oldest first."""

    info: BreakerInfo
    status: Status
    history: tuple[BreakerState, ...] = ()


# --- Timeline ------------------------------------------------------------------------------------------

TIMELINE_LANES = ("health", "traffic", "cache", "queues", "dlq", "breakers", "mongo", "actions")


@dataclass(frozen=True)
class TimelineEvent:
    """Something that changed, on the one time axis shared by every pane (see console.timeline)."""

    at: datetime
    lane: str  # one of TIMELINE_LANES: the pane it came from
    subject: str  # what changed: a service, queue, breaker, cache namespace, the action's target
    severity: Status
    text: str
    source: str = ""  # the reading's source, for jumping to it
