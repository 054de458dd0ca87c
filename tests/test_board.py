"""Board: health rows, flapping, history, pane freshness and MongoDB verdicts (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.board import Board, MongoThresholds, assess_mongo
from console.model import (
    HealthFleet,
    HealthTarget,
    MongoStatus,
    PaneState,
    ProbeResult,
    QueueInfo,
    QueueSnapshot,
    Reading,
    ReplicaMember,
    SourceMode,
    Status,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def target(name: str, status: Status, message: str = "") -> HealthTarget:
    probe = ProbeResult("health", f"http://{name}/health", status, "seed", 200, 5.0, message or status.value)
    return HealthTarget(name, (probe,))


def health(
    name: str,
    status: Status = Status.OK,
    at: datetime = T0,
    error: str | None = None,
    value: HealthTarget | None = None,
    last_ok_at: datetime | None = None,
) -> Reading:
    if error is None:
        return Reading(f"health:{name}", "health", at, value or target(name, status), last_ok_at=last_ok_at or at)
    return Reading(f"health:{name}", "health", at, value, error=error, stale=value is not None, last_ok_at=last_ok_at)


def mongo(
    value: MongoStatus | None = None, error: str | None = None, at: datetime = T0, last_ok_at: datetime | None = None
) -> Reading:
    return Reading(
        "mongo:main",
        "mongo",
        at,
        value,
        error=error,
        stale=error is not None and value is not None,
        last_ok_at=last_ok_at if error else (last_ok_at or at),
    )


def member(name: str, state: str = "SECONDARY", healthy: bool = True, lag: float | None = 0.0) -> ReplicaMember:
    return ReplicaMember(name, state, healthy, lag)


def replica(*members: ReplicaMember, **kwargs: object) -> MongoStatus:
    return MongoStatus(ping_ms=kwargs.pop("ping_ms", 2.0), replica_set="rs0", members=members, **kwargs)  # type: ignore[arg-type]


# --- Health rows ---------------------------------------------------------------------------------------


def test_health_rows_sorted_worst_first_then_by_name() -> None:
    board = Board()
    board.apply(health("zeta", Status.OK))
    board.apply(health("beta", Status.CRIT))
    board.apply(health("alpha", Status.CRIT))
    board.apply(health("gamma", Status.WARN))
    board.apply(health("delta", error="timeout after 4s"))
    board.apply(health("eps", Status.UNKNOWN))
    rows = board.health_rows()
    assert [(r.name, r.status) for r in rows] == [
        ("alpha", Status.CRIT),
        ("beta", Status.CRIT),
        ("delta", Status.UNKNOWN),
        ("eps", Status.UNKNOWN),
        ("gamma", Status.WARN),
        ("zeta", Status.OK),
    ]


def test_one_readings_rows_are_its_rows_of_the_whole_list_in_the_same_order() -> None:
    board = Board()
    fleet = HealthFleet("up", (target("b", Status.OK), target("a", Status.CRIT), target("c", Status.OK)))
    board.apply(Reading("health:up", "health", T0, fleet, last_ok_at=T0))
    board.apply(health("api", Status.WARN))
    for _ in range(5):  # flapping: an OK row of it shows as WARN in both lists
        board.apply(health("flappy", Status.CRIT))
        board.apply(health("flappy", Status.OK))
    for source in ("health:up", "health:api", "health:flappy"):
        mine = board.health_rows_of(board.readings[source])
        assert mine == [r for r in board.health_rows() if r.reading.source == source]
    assert [r.name for r in board.health_rows_of(board.readings["health:up"])] == ["up/a", "up/b", "up/c"]
    assert [r.status for r in board.health_rows_of(board.readings["health:flappy"])] == [Status.WARN]
    queues = QueueSnapshot(
        "rabbitmq", (QueueInfo("rabbitmq", "shallow", depth=5), QueueInfo("rabbitmq", "deep", depth=50))
    )
    board.apply(Reading("queues:rabbitmq", "queues", T0, queues, last_ok_at=T0))
    rows = board.queue_rows_of(board.readings["queues:rabbitmq"])
    assert rows == board.queue_rows() and [r.queue.name for r in rows] == ["deep", "shallow"]
    assert board.queue_rows_of(board.readings["health:api"]) == []


def test_health_rows_strip_prefix_and_ignore_other_kinds() -> None:
    board = Board()
    board.apply(health("api"))
    board.apply(mongo(MongoStatus(ping_ms=1.0)))
    (row,) = board.health_rows()
    assert row.name == "api"
    assert row.reading.source == "health:api"
    assert row.target is not None and row.target.name == "api"


def test_health_rows_are_worked_out_again_only_after_a_health_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    board = Board()
    computed: list[int] = []
    compute = board._compute_health_rows
    monkeypatch.setattr(board, "_compute_health_rows", lambda: (computed.append(1), compute())[1])
    board.apply(health("api", Status.OK))
    assert [r.status for r in board.health_rows()] == [Status.OK]
    board.apply(mongo(MongoStatus(ping_ms=1.0)))  # another kind: the rows stand
    assert [r.status for r in board.health_rows()] == [Status.OK]
    assert len(computed) == 1
    board.apply(health("api", Status.CRIT, at=T0 + timedelta(seconds=1)))
    assert [r.status for r in board.health_rows()] == [Status.CRIT]
    assert len(computed) == 2


def test_verdicts_are_kept_until_a_reading_of_their_kind_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    board = Board()
    judged: list[str] = []
    judge = board._judge
    monkeypatch.setattr(board, "_judge", lambda r: (judged.append(r.source), judge(r))[1])
    api = health("api", Status.OK)
    board.apply(api)
    db = mongo(MongoStatus(ping_ms=1.0))
    board.apply(db)
    assert board.status_of(api) is Status.OK and board.status_of(db) is Status.OK
    assert board.status_of(api) is Status.OK and board.status_of(db) is Status.OK
    assert judged == ["health:api", "mongo:main"], "asked twice, worked out once"
    board.apply(health("web", Status.CRIT))  # a health reading: health verdicts are worked out again
    assert board.status_of(api) is Status.OK and board.status_of(db) is Status.OK
    assert judged == ["health:api", "mongo:main", "health:api"]
    # The same source flapping: each reading's verdict follows the history, not a kept answer.
    for n, status in enumerate([Status.CRIT, Status.OK, Status.CRIT, Status.OK], start=1):
        reading = health("api", status, at=T0 + timedelta(seconds=n))
        board.apply(reading)
        expected = status if n < 4 else Status.WARN  # four changes: flapping, an OK shown as WARN
        assert board.status_of(reading) is expected


def test_latest_reading_replaces_previous() -> None:
    board = Board()
    board.apply(health("api", Status.CRIT, at=T0))
    board.apply(health("api", Status.OK, at=T0 + timedelta(seconds=2)))
    (row,) = board.health_rows()
    assert row.status is Status.OK
    assert row.history == (Status.CRIT, Status.OK)


def test_error_reading_without_value_is_unknown_and_shows_error() -> None:
    board = Board()
    board.apply(health("api", error="RuntimeError: boom"))
    (row,) = board.health_rows()
    assert row.status is Status.UNKNOWN
    assert row.target is None
    assert row.history == (Status.UNKNOWN,)
    assert row.message == "RuntimeError: boom"


def test_row_message_prefers_a_failing_probe() -> None:
    ok = ProbeResult("liveness", "http://a/live", Status.OK, "seed", 200, 1.0, "alive")
    bad = ProbeResult("readiness", "http://a/ready", Status.CRIT, "seed", 503, 1.0, "db: disconnected")
    board = Board()
    board.apply(health("a", value=HealthTarget("a", (ok, bad))))
    (row,) = board.health_rows()
    assert row.status is Status.CRIT
    assert row.message == "db: disconnected"


def test_flapping_ok_row_becomes_warn() -> None:
    board = Board()
    for i, status in enumerate([Status.OK, Status.CRIT, Status.OK, Status.CRIT, Status.OK]):
        board.apply(health("api", status, at=T0 + timedelta(seconds=i)))
    (row,) = board.health_rows()
    assert row.flapping is True
    assert row.status is Status.WARN
    assert row.message.startswith("flapping (4 changes) · ")
    assert board.status_of(board.readings["health:api"]) is Status.WARN


def test_flapping_crit_row_stays_crit() -> None:
    board = Board()
    for status in [Status.CRIT, Status.OK, Status.CRIT, Status.OK, Status.CRIT]:
        board.apply(health("api", status))
    (row,) = board.health_rows()
    assert row.flapping is True
    assert row.status is Status.CRIT


def test_three_changes_are_not_flapping() -> None:
    board = Board()
    for status in [Status.CRIT, Status.OK, Status.OK, Status.CRIT, Status.CRIT, Status.OK]:  # 3 changes
        board.apply(health("api", status))
    (row,) = board.health_rows()
    assert row.flapping is False
    assert row.status is Status.OK
    assert not row.message.startswith("flapping")


def test_errors_count_as_changes_for_flapping() -> None:
    board = Board()
    for i in range(5):
        board.apply(health("api", Status.OK) if i % 2 == 0 else health("api", error="timeout"))
    (row,) = board.health_rows()
    assert row.history == (Status.OK, Status.UNKNOWN, Status.OK, Status.UNKNOWN, Status.OK)
    assert row.flapping is True


def test_old_flapping_outside_window_is_forgotten() -> None:
    board = Board()
    for status in [Status.OK, Status.CRIT] * 5 + [Status.OK] * 10:
        board.apply(health("api", status))
    (row,) = board.health_rows()
    assert row.flapping is False
    assert row.status is Status.OK
    assert len(row.history) == 20


def test_history_is_capped() -> None:
    board = Board(history=5)
    statuses = [Status.OK, Status.WARN, Status.CRIT] * 4
    for status in statuses:
        board.apply(health("api", status))
    (row,) = board.health_rows()
    assert row.history == tuple(statuses[-5:])


def test_history_is_per_target() -> None:
    board = Board(history=3)
    for _ in range(4):
        board.apply(health("a", Status.OK))
    board.apply(health("b", Status.CRIT))
    rows = {r.name: r for r in board.health_rows()}
    assert rows["a"].history == (Status.OK,) * 3
    assert rows["b"].history == (Status.CRIT,)


def test_non_health_readings_have_no_history() -> None:
    board = Board()
    board.apply(mongo(MongoStatus(ping_ms=1.0)))
    assert board.health_rows() == []
    assert board.mongo_readings() == [board.readings["mongo:main"]]


# --- Pane state ----------------------------------------------------------------------------------------


def test_pane_not_configured() -> None:
    state = Board().pane_state("health")
    assert state == PaneState(SourceMode.WAITING, sources=0)
    assert state.describe(T0) == "not configured"


def test_pane_waiting_for_expected_sources() -> None:
    board = Board()
    board.expect("health:a", "health")
    board.expect("health:b", "health")
    board.expect("mongo:main", "mongo")
    state = board.pane_state("health")
    assert state.mode is SourceMode.WAITING
    assert state.sources == 2
    assert state.describe(T0) == "waiting for first reading"


def test_pane_live_uses_oldest_successful_poll() -> None:
    board = Board()
    board.expect("health:a", "health")
    board.apply(health("a", at=T0))
    board.apply(health("b", at=T0 + timedelta(seconds=3)))
    state = board.pane_state("health")
    assert state.mode is SourceMode.LIVE
    assert state.last_ok_at == T0
    assert state.reason == ""
    assert state.sources == 2
    assert state.describe(T0 + timedelta(seconds=5)) == f"live · as of {T0:%H:%M}"


def test_pane_stale_when_a_source_fails_with_last_value() -> None:
    board = Board()
    last_ok = datetime(2024, 5, 1, 11, 58, 30, tzinfo=UTC)
    board.apply(health("a", at=T0))
    board.apply(health("b", at=T0, error="timeout after 4s", value=target("b", Status.OK), last_ok_at=last_ok))
    state = board.pane_state("health")
    assert state.mode is SourceMode.STALE
    assert state.last_ok_at == last_ok
    assert state.reason == "timeout after 4s"
    assert state.describe(T0) == "stale since 11:58:30 · timeout after 4s"


def test_pane_unreachable_beats_stale() -> None:
    board = Board()
    board.apply(health("a", error="timeout", value=target("a", Status.OK), last_ok_at=T0))
    board.apply(health("b", error="connection refused"))
    board.apply(health("c"))
    state = board.pane_state("health")
    assert state.mode is SourceMode.UNREACHABLE
    assert state.reason == "connection refused"
    assert state.last_ok_at is None
    assert state.describe(T0) == "unreachable: connection refused"


def test_pane_state_is_per_kind() -> None:
    board = Board()
    board.apply(health("a"))
    board.apply(mongo(error="auth failed"))
    assert board.pane_state("health").mode is SourceMode.LIVE
    assert board.pane_state("mongo").mode is SourceMode.UNREACHABLE
    assert board.pane_state("redis").mode is SourceMode.WAITING


def test_pane_recovers_to_live() -> None:
    board = Board()
    board.apply(mongo(error="down"))
    assert board.pane_state("mongo").mode is SourceMode.UNREACHABLE
    board.apply(mongo(MongoStatus(ping_ms=1.0), at=T0 + timedelta(seconds=10)))
    state = board.pane_state("mongo")
    assert state.mode is SourceMode.LIVE
    assert state.last_ok_at == T0 + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("state", "text"),
    [
        (PaneState(SourceMode.WAITING), "not configured"),
        (PaneState(SourceMode.WAITING, sources=3), "waiting for first reading"),
        (PaneState(SourceMode.LIVE, T0 - timedelta(seconds=12)), f"live · as of {T0 - timedelta(seconds=12):%H:%M}"),
        (PaneState(SourceMode.LIVE), "live · as of never"),
        (
            PaneState(SourceMode.STALE, T0.replace(hour=9, minute=5, second=7), "refused"),
            "stale since 09:05:07 · refused",
        ),
        (PaneState(SourceMode.STALE, None, "refused"), "stale since never · refused"),
        (PaneState(SourceMode.UNREACHABLE, None, "DNS lookup failed"), "unreachable: DNS lookup failed"),
    ],
)
def test_pane_state_describe(state: PaneState, text: str) -> None:
    assert state.describe(T0) == text


# --- MongoDB verdicts ----------------------------------------------------------------------------------


def test_assess_mongo_healthy_standalone() -> None:
    status = MongoStatus(ping_ms=3.0, connections_current=10, connections_available=990)
    assert assess_mongo(status) == (Status.OK, [])


@pytest.mark.parametrize(
    ("ping", "expected"),
    [(99.9, Status.OK), (100.0, Status.WARN), (999.0, Status.WARN), (1000.0, Status.CRIT), (5000.0, Status.CRIT)],
)
def test_assess_mongo_ping_thresholds(ping: float, expected: Status) -> None:
    verdict, reasons = assess_mongo(MongoStatus(ping_ms=ping))
    assert verdict is expected
    assert reasons == ([] if expected is Status.OK else [f"ping {ping:.0f} ms"])


@pytest.mark.parametrize(
    ("current", "available", "expected", "reason"),
    [
        (79, 21, Status.OK, None),
        (80, 20, Status.WARN, "connections 80% used"),
        (94, 6, Status.WARN, "connections 94% used"),
        (95, 5, Status.CRIT, "connections 95% used"),
        (100, 0, Status.CRIT, "connections 100% used"),
        (0, 0, Status.OK, None),
        (None, 10, Status.OK, None),
        (10, None, Status.OK, None),
    ],
)
def test_assess_mongo_connection_share(
    current: int | None, available: int | None, expected: Status, reason: str | None
) -> None:
    verdict, reasons = assess_mongo(
        MongoStatus(ping_ms=1.0, connections_current=current, connections_available=available)
    )
    assert verdict is expected
    assert reasons == ([reason] if reason else [])


def test_assess_mongo_healthy_replica_set() -> None:
    status = replica(member("a", "PRIMARY"), member("b", lag=1.0), member("c", "ARBITER", lag=None))
    assert assess_mongo(status) == (Status.OK, [])


def test_assess_mongo_no_primary_is_critical() -> None:
    verdict, reasons = assess_mongo(replica(member("a"), member("b")))
    assert verdict is Status.CRIT
    assert reasons == ["no primary"]


def test_assess_mongo_unhealthy_member_warns() -> None:
    status = replica(member("a", "PRIMARY"), member("b:27017", "(not reachable/healthy)", healthy=False, lag=None))
    verdict, reasons = assess_mongo(status)
    assert verdict is Status.WARN
    assert reasons == ["unhealthy: b:27017"]


@pytest.mark.parametrize(
    ("lag", "expected", "reason"),
    [
        (9.9, Status.OK, None),
        (10.0, Status.WARN, "replication lag 10s"),
        (59.0, Status.WARN, "replication lag 59s"),
        (60.0, Status.CRIT, "replication lag 60s"),
        (3600.0, Status.CRIT, "replication lag 3600s"),
    ],
)
def test_assess_mongo_replication_lag(lag: float, expected: Status, reason: str | None) -> None:
    verdict, reasons = assess_mongo(replica(member("a", "PRIMARY"), member("b", lag=2.0), member("c", lag=lag)))
    assert verdict is expected
    assert reasons == ([reason] if reason else [])


def test_assess_mongo_ignores_members_without_replica_set_name() -> None:
    status = MongoStatus(ping_ms=1.0, members=(member("a"),))  # no primary, but not a replica set
    assert assess_mongo(status) == (Status.OK, [])


def test_assess_mongo_reports_every_finding_worst_wins() -> None:
    status = replica(
        member("a", healthy=False),
        member("b", lag=15.0),
        ping_ms=150.0,
        connections_current=85,
        connections_available=15,
    )
    verdict, reasons = assess_mongo(status)
    assert verdict is Status.CRIT
    assert reasons == ["ping 150 ms", "connections 85% used", "no primary", "unhealthy: a", "replication lag 15s"]


def test_assess_mongo_custom_thresholds() -> None:
    limits = MongoThresholds(ping_warn_ms=5.0, ping_crit_ms=10.0, lag_warn_s=1.0, lag_crit_s=2.0)
    assert assess_mongo(MongoStatus(ping_ms=6.0), limits)[0] is Status.WARN
    assert assess_mongo(MongoStatus(ping_ms=10.0), limits)[0] is Status.CRIT
    lagging = replica(member("a", "PRIMARY"), member("b", lag=1.5))
    assert assess_mongo(lagging, limits) == (Status.WARN, ["replication lag 2s"])


# --- status_of and overall -----------------------------------------------------------------------------


def test_status_of_mongo_error_is_critical_even_with_stale_value() -> None:
    board = Board()
    reading = mongo(MongoStatus(ping_ms=1.0), error="connection refused", last_ok_at=T0)
    board.apply(reading)
    assert reading.mode is SourceMode.STALE
    assert board.status_of(reading) is Status.CRIT


def test_status_of_mongo_uses_assessment() -> None:
    board = Board()
    reading = mongo(MongoStatus(ping_ms=250.0))
    board.apply(reading)
    assert board.status_of(reading) is Status.WARN


def test_status_of_health_error_is_unknown() -> None:
    board = Board()
    reading = health("api", error="RuntimeError: boom")
    board.apply(reading)
    assert board.status_of(reading) is Status.UNKNOWN


def test_status_of_unknown_kind_or_unapplied_reading() -> None:
    board = Board()
    other = Reading("redis:cache", "redis", T0, value={"x": 1})
    board.apply(other)
    assert board.status_of(other) is Status.UNKNOWN
    assert board.status_of(Reading("redis:cache", "redis", T0, error="down")) is Status.CRIT
    assert board.status_of(health("never-applied")) is Status.UNKNOWN


def test_overall_empty_board_is_unknown() -> None:
    assert Board().overall() is Status.UNKNOWN


def test_overall_is_worst_of_everything() -> None:
    board = Board()
    board.apply(health("a", Status.OK))
    assert board.overall() is Status.OK
    board.apply(health("b", Status.WARN))
    assert board.overall() is Status.WARN
    board.apply(health("c", error="boom"))
    assert board.overall() is Status.UNKNOWN
    board.apply(mongo(error="connection refused"))
    assert board.overall() is Status.CRIT


def test_overall_recovers() -> None:
    board = Board()
    board.apply(mongo(error="connection refused"))
    assert board.overall() is Status.CRIT
    board.apply(mongo(MongoStatus(ping_ms=1.0)))
    assert board.overall() is Status.OK


def test_apply_registers_expected_kind() -> None:
    board = Board()
    board.expect("mongo:main", "mongo")
    board.apply(health("api"))
    assert board.expected == {"mongo:main": "mongo", "health:api": "health"}


# --- Regression tests for source bugs found in review ---------------------------------


def test_stale_health_row_explains_the_error() -> None:
    board = Board()
    board.apply(health("api", error="timeout after 4s", value=target("api", Status.OK, "ok (HTTP 200)"), last_ok_at=T0))
    (row,) = board.health_rows()
    assert row.status is Status.UNKNOWN
    assert "timeout after 4s" in row.message


# --- cache hit ratio hysteresis -----------------------------------------------------------------------------


def cache_reading(seconds: int, hit: float, sessions: float) -> Reading:
    from console.model import CacheStatus, NamespaceStats

    status = CacheStatus("main", hit_ratio=hit, namespaces=(NamespaceStats("sessions", 1.0, 1.0, sessions),))
    return Reading("cache:main", "cache", T0 + timedelta(seconds=seconds), status)


def test_low_hit_ratio_clears_only_two_points_above_the_target() -> None:
    # A demo cache hovering at 79–81 % flipped its verdict (and the pane's findings) every poll.
    board = Board()
    seen = []
    for second, (hit, sessions) in enumerate([(0.81, 0.85), (0.79, 0.85), (0.81, 0.79), (0.815, 0.81), (0.83, 0.83)]):
        reading = cache_reading(second, hit, sessions)
        board.apply(reading)
        status, findings = board.assess_cache(reading)
        seen.append((status, tuple("" if f.startswith("hit") else f.split(" hit")[0] for f in findings)))
    assert seen == [
        (Status.OK, ()),  # 81 %: above the 80 % target, never flagged
        (Status.WARN, ("",)),  # 79 %: flagged
        (Status.WARN, ("", "sessions")),  # 81 %: still flagged (not 82 % yet); sessions 79 % newly flagged
        (Status.WARN, ("", "sessions")),  # 81.5 % / 81 %: both held
        (Status.OK, ()),  # 83 %: both cleared
    ]
    assert board.status_of(cache_reading(9, 0.81, 0.81)) is Status.OK  # cleared: 81 % is fine again


def test_assess_cache_without_history_uses_the_plain_target() -> None:
    from console.board import assess_cache
    from console.config import CacheConfig

    status = cache_reading(0, 0.81, 0.79).value
    assert assess_cache(status, CacheConfig())[1] == ["sessions hit ratio 79%"]
    assert assess_cache(status, CacheConfig(), flagged={""})[1] == ["hit ratio 81%", "sessions hit ratio 79%"]


def test_breakers_sort_by_state_then_failure_band_then_name_so_jitter_moves_no_row() -> None:
    from console.board_breakers import breaker_rows
    from console.model import BreakerInfo, BreakerState

    def info(name: str, state: BreakerState, rate: float | None) -> BreakerInfo:
        return BreakerInfo("redis", "api", name, state, failure_rate=rate)

    def order(rates: dict[str, float | None]) -> list[str]:
        infos = [info(name, BreakerState.CLOSED, rate) for name, rate in rates.items()]
        infos.append(info("tripped", BreakerState.OPEN, 0.0))
        infos.append(info("probing", BreakerState.HALF_OPEN, 90.0))
        return [row.info.name for row in breaker_rows(infos, {})]

    calm = order({"ledger": 0.0, "payments": 5.0, "fraud": 10.0, "search": None})
    jittered = order({"ledger": 10.0, "payments": 0.0, "fraud": 5.0, "search": 15.0})
    assert calm == jittered == ["tripped", "probing", "fraud", "ledger", "payments", "search"]
    # A closed breaker failing a fifth of its calls or more rises above the quiet ones, worst band first.
    # A recording can carry NaN or out-of-range rates: sorted, never a crash.
    assert order({"ledger": float("nan"), "payments": -5.0, "fraud": float("inf"), "search": 250.0})[2:] == [
        "fraud",
        "search",
        "ledger",
        "payments",
    ]
    assert order({"ledger": 0.0, "payments": 45.0, "fraud": 25.0, "search": 100.0})[2:] == [
        "search",
        "payments",
        "fraud",
        "ledger",
    ]
