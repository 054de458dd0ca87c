"""The Mongo adapter over pymongo's real wire path, against MockupDB answering like a MongoDB 7.0 mongod.

MockupDB listens on loopback and speaks OP_MSG; pymongo's AsyncMongoClient does its real handshake, server
monitoring, sessions and command encoding against it. Replies come from tests/fixtures/mongo_docs.py.

URIs carry `serverMonitoringMode=poll`: a real 7.0 `hello` includes `topologyVersion`, which makes pymongo
stream heartbeats (exhaust cursor). MockupDB answers each message exactly once, so streaming turns into a
busy loop of thousands of `hello`s per second; polling mode keeps the handshake documents realistic.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import AsyncMongoClient
from pymongo.errors import InvalidOperation

from console.adapters.mongo import MongoMonitor, opcounter_rates, replica_members
from console.board import Board, assess_mongo
from console.collector import Collector
from console.config import MongoConfig
from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import MongoStatus, Reading, SourceMode, Status
from console.sources import MongoSource
from tests.fixtures.mongo_docs import (
    DEFAULT_OPCOUNTERS,
    NO_REPLICATION_ENABLED,
    SET_NAME,
    UNAUTHORIZED_REPL_STATUS,
    command_error,
    hello_replica_primary,
    hello_standalone,
    repl_set_get_status,
    server_status,
)

TIMEOUT = 1.0
# Upper bound for a poll that is expected to fail on its own deadline; only guards against a hang.
GUARD = TIMEOUT * 10
PASSWORD = "s3cretpw"

Reply = Callable[[], Mapping[str, Any] | None]


class FakeMongod:
    """MockupDB plus per-command replies that tests can change between polls.

    `replies` maps a lower-cased command name to a callable returning the reply document, or None to
    leave the request unanswered (the client then waits out its own timeout). Commands with no entry are
    left unanswered too. Every command name received is recorded in `received`.
    """

    def __init__(self, *, replica_set: bool = False):
        self.replica_set = replica_set
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.received: list[str] = []
        self.requests: list[Mapping[str, Any]] = []
        self.replies: dict[str, Reply] = {}
        self.reset()
        self.server = MockupDB()
        self.server.autoresponds(self._dispatch)
        self.port = 0
        self._running = False

    def reset(self) -> None:
        """Back to a healthy server with default documents (servers are shared by the tests of this module)."""
        hello = hello_replica_primary if self.replica_set else hello_standalone
        with self._lock:
            self.counters = dict(DEFAULT_OPCOUNTERS)
            self.received.clear()
            self.requests.clear()
            self.replies = {
                "ismaster": lambda: hello(legacy=True),
                "hello": lambda: hello(),
                "ping": lambda: {"ok": 1.0},
                "endsessions": lambda: {"ok": 1.0},
                "serverstatus": self.server_status,
                "replsetgetstatus": self.repl_status,
            }

    def server_status(self) -> Mapping[str, Any]:
        return server_status(opcounters=self.counters, replica_set=SET_NAME if self.replica_set else None)

    def repl_status(self) -> Mapping[str, Any]:
        if not self.replica_set:
            return NO_REPLICATION_ENABLED
        return repl_set_get_status()

    def _dispatch(self, request: Any) -> bool | None:
        name = str(request.command_name or "").lower()
        with self._lock:
            self.received.append(name)
            self.requests.append(dict(request.doc))
        reply = self.replies.get(name)
        document = reply() if reply is not None else None
        if document is None:
            return None  # queued by MockupDB and never answered
        return bool(request.replies(dict(document)))

    def commands(self) -> list[str]:
        with self._lock:
            return list(self.received)

    def last_request(self, name: str) -> Mapping[str, Any]:
        with self._lock:
            return next(doc for doc in reversed(self.requests) if next(iter(doc)).lower() == name)

    def start(self) -> None:
        self.port = self.server.run()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.server.stop()

    def uri(self, credentials: str = "") -> str:
        return f"mongodb://{credentials}127.0.0.1:{self.port}/?serverMonitoringMode=poll"


def _serve(replica_set: bool) -> Iterator[FakeMongod]:
    mongod = FakeMongod(replica_set=replica_set)
    mongod.start()
    try:
        yield mongod
    finally:
        mongod.stop()


# MockupDB.stop() waits out its accept loop's 1 s select, so the servers tests only talk to are shared per
# module and reset per test; tests that stop their server get a private one (`disposable`).
@pytest.fixture(scope="module")
def _standalone_server() -> Iterator[FakeMongod]:
    yield from _serve(replica_set=False)


@pytest.fixture(scope="module")
def _replica_server() -> Iterator[FakeMongod]:
    yield from _serve(replica_set=True)


@pytest.fixture
def standalone(_standalone_server: FakeMongod) -> FakeMongod:
    _standalone_server.reset()
    return _standalone_server


@pytest.fixture
def replica(_replica_server: FakeMongod) -> FakeMongod:
    _replica_server.reset()
    return _replica_server


@pytest.fixture
def disposable() -> Iterator[FakeMongod]:
    yield from _serve(replica_set=False)


@pytest.fixture
async def monitor(standalone: FakeMongod) -> AsyncIterator[MongoMonitor]:
    async with MongoMonitor(standalone.uri(), TIMEOUT) as mon:
        yield mon


@pytest.fixture
async def replica_monitor(replica: FakeMongod) -> AsyncIterator[MongoMonitor]:
    async with MongoMonitor(replica.uri(), TIMEOUT) as mon:
        yield mon


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Standalone -------------------------------------------------------------------------------------------


async def test_standalone_first_poll(monitor: MongoMonitor, standalone: FakeMongod) -> None:
    status = await monitor.poll()

    assert isinstance(status, MongoStatus)
    assert status.ping_ms > 0
    assert status.version == "7.0.5"
    assert status.uptime_seconds == 86_412.0
    assert status.connections_current == 12
    assert status.connections_available == 838_848
    assert status.resident_mb == 148.0
    assert status.opcounters_total == DEFAULT_OPCOUNTERS
    assert status.opcounters_per_second == {}  # nothing to compare with yet
    assert status.replica_set is None
    assert status.members == ()
    assert status.max_lag_seconds is None
    # A standalone has no repl section, so the adapter must not even ask for the replica-set status.
    assert "replsetgetstatus" not in standalone.commands()
    assert {"ping", "serverstatus"} <= set(standalone.commands())


async def test_server_status_request_projects_away_heavy_sections(
    monitor: MongoMonitor, standalone: FakeMongod
) -> None:
    await monitor.poll()

    request = standalone.last_request("serverstatus")
    assert request["serverStatus"] == 1
    assert request["$db"] == "admin"
    for section in ("wiredTiger", "metrics", "locks", "tcmalloc", "transactions"):
        assert request[section] == 0


async def test_second_poll_rates_follow_counter_deltas(monitor: MongoMonitor, standalone: FakeMongod) -> None:
    first = await monitor.poll()
    assert first.opcounters_per_second == {}

    standalone.counters["insert"] += 100
    standalone.counters["query"] += 300
    second = await monitor.poll()

    rates = second.opcounters_per_second
    assert set(rates) == set(DEFAULT_OPCOUNTERS)
    assert rates["insert"] > 0
    assert rates["query"] > 0
    # Same elapsed time for every counter, so rates are proportional to deltas.
    assert rates["query"] == pytest.approx(3 * rates["insert"])
    for unchanged in ("update", "delete", "getmore", "command"):
        assert rates[unchanged] == 0.0
    assert second.opcounters_total["insert"] == DEFAULT_OPCOUNTERS["insert"] + 100
    assert second.opcounters_total["query"] == DEFAULT_OPCOUNTERS["query"] + 300


async def test_counters_going_backwards_give_no_rates_then_recover(
    monitor: MongoMonitor, standalone: FakeMongod
) -> None:
    await monitor.poll()
    # mongod restarted: every counter starts again near zero.
    standalone.counters = {name: 5 for name in DEFAULT_OPCOUNTERS}
    after_restart = await monitor.poll()
    assert after_restart.opcounters_per_second == {}
    assert after_restart.opcounters_total == {name: 5 for name in DEFAULT_OPCOUNTERS}

    # The post-restart sample is the new baseline.
    standalone.counters["update"] += 40
    standalone.counters["delete"] += 10
    recovered = await monitor.poll()
    assert recovered.opcounters_per_second["update"] > 0
    assert recovered.opcounters_per_second["update"] == pytest.approx(4 * recovered.opcounters_per_second["delete"])


def test_opcounter_rates_pure() -> None:
    before = {"insert": 1_000, "query": 5_000}
    after = {"insert": 1_100, "query": 5_300}

    assert opcounter_rates(None, None, after, 12.0) == {}
    assert opcounter_rates(before, 10.0, after, 12.0) == {"insert": 50.0, "query": 150.0}
    assert opcounter_rates(before, 10.0, after, 10.0) == {}  # no time elapsed
    assert opcounter_rates(before, 12.0, after, 10.0) == {}  # clock went backwards
    assert opcounter_rates(before, 10.0, {"insert": 3, "query": 5_300}, 12.0) == {}  # one counter reset
    assert opcounter_rates(before, 10.0, {**after, "getmore": 7}, 12.0) == {}  # counter not seen before
    assert opcounter_rates(before, 10.0, dict(before), 11.0) == {"insert": 0.0, "query": 0.0}


async def test_malformed_server_status_gives_none_fields(monitor: MongoMonitor, standalone: FakeMongod) -> None:
    standalone.replies["serverstatus"] = lambda: {
        "host": "mongo-0.db.internal:27017",
        "uptime": "a while",
        "connections": "plenty",
        "mem": ["resident", 148],
        "opcounters": {"insert": "100", "query": 7, "update": True, "delete": None, "getmore": 2.0},
        "ok": 1.0,
    }

    status = await monitor.poll()

    assert status.ping_ms > 0
    assert status.version == ""
    assert status.uptime_seconds is None
    assert status.connections_current is None
    assert status.connections_available is None
    assert status.resident_mb is None
    assert status.opcounters_total == {"query": 7, "getmore": 2}
    assert status.replica_set is None
    assert status.members == ()


async def test_server_status_missing_sections(monitor: MongoMonitor, standalone: FakeMongod) -> None:
    standalone.replies["serverstatus"] = lambda: {"ok": 1.0}

    first = await monitor.poll()
    second = await monitor.poll()

    for status in (first, second):
        assert status.connections_current is None
        assert status.resident_mb is None
        assert status.opcounters_total == {}
        assert status.opcounters_per_second == {}
    assert assess_mongo(second) == (Status.OK, [])


# --- Replica set ------------------------------------------------------------------------------------------


async def test_replica_set_members_and_lag(replica_monitor: MongoMonitor, replica: FakeMongod) -> None:
    status = await replica_monitor.poll()

    assert status.replica_set == SET_NAME
    assert [m.state for m in status.members] == ["PRIMARY", "SECONDARY", "SECONDARY"]
    primary, in_step, lagging = status.members
    assert primary.name == "mongo-0.db.internal:27017"
    assert primary.is_self and not in_step.is_self and not lagging.is_self
    assert all(m.healthy for m in status.members)
    assert primary.lag_seconds == 0.0
    assert in_step.lag_seconds == 0.0
    assert lagging.lag_seconds == pytest.approx(12.0)
    assert status.max_lag_seconds == pytest.approx(12.0)
    assert "replsetgetstatus" in replica.commands()


async def test_replica_set_unreachable_member(replica_monitor: MongoMonitor, replica: FakeMongod) -> None:
    replica.replies["replsetgetstatus"] = lambda: repl_set_get_status(
        secondary_lags=(2.0, 0.0), unreachable_secondary=True
    )

    status = await replica_monitor.poll()

    down = status.members[-1]
    assert down.state == "(not reachable/healthy)"
    assert not down.healthy
    assert down.lag_seconds is None  # an epoch optimeDate is not a lag
    assert status.max_lag_seconds == pytest.approx(2.0)
    verdict, reasons = assess_mongo(status)
    assert verdict is Status.WARN
    assert reasons == ["unhealthy: mongo-2.db.internal:27017"]


async def test_repl_set_get_status_unauthorized_gives_no_members(
    replica_monitor: MongoMonitor, replica: FakeMongod
) -> None:
    replica.replies["replsetgetstatus"] = lambda: UNAUTHORIZED_REPL_STATUS

    status = await replica_monitor.poll()

    assert status.replica_set == SET_NAME  # still known from serverStatus.repl
    assert status.members == ()
    assert status.connections_current == 12
    assert "replsetgetstatus" in replica.commands()


async def test_repl_set_get_status_other_failure_is_reported(
    replica_monitor: MongoMonitor, replica: FakeMongod
) -> None:
    replica.replies["replsetgetstatus"] = lambda: command_error(8, "UnknownError", "something unexpected")

    with pytest.raises(SourceUnavailable, match=r"code 8\b"):
        await replica_monitor.poll()


# --- Failures ---------------------------------------------------------------------------------------------


async def test_unreachable_port_raises_unavailable_without_password() -> None:
    uri = f"mongodb://opsconsole:{PASSWORD}@127.0.0.1:{free_port()}/?serverMonitoringMode=poll"
    async with MongoMonitor(uri, TIMEOUT) as mon:
        with pytest.raises(SourceUnavailable) as caught:
            await asyncio.wait_for(mon.poll(), GUARD)

    message = str(caught.value)
    assert message
    assert PASSWORD not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_stopped_server_raises_unavailable(disposable: FakeMongod) -> None:
    async with MongoMonitor(disposable.uri(), TIMEOUT) as mon:
        await mon.poll()
        disposable.stop()
        with pytest.raises(SourceUnavailable):
            await asyncio.wait_for(mon.poll(), GUARD)


async def test_authentication_failure_hides_password(standalone: FakeMongod) -> None:
    standalone.replies["saslstart"] = lambda: command_error(18, "AuthenticationFailed", "Authentication failed.")

    async with MongoMonitor(standalone.uri(f"opsconsole:{PASSWORD}@"), TIMEOUT) as mon:
        with pytest.raises(SourceUnavailable) as caught:
            await asyncio.wait_for(mon.poll(), GUARD)

    assert "saslstart" in standalone.commands()
    assert PASSWORD not in str(caught.value)
    assert "18" in str(caught.value)


async def test_server_status_never_answered_times_out(monitor: MongoMonitor, standalone: FakeMongod) -> None:
    standalone.replies["serverstatus"] = lambda: None  # received, never replied to

    with pytest.raises((SourceTimeout, SourceUnavailable)):
        await asyncio.wait_for(monitor.poll(), GUARD)

    assert "serverstatus" in standalone.commands()
    # The timed-out connection is discarded; the next poll works on a fresh one.
    standalone.replies["serverstatus"] = standalone.server_status
    assert (await monitor.poll()).version == "7.0.5"


async def test_invalid_uri_is_bad_response_without_password() -> None:
    async with MongoMonitor(f"mongodb://opsconsole:{PASSWORD}@127.0.0.1:99999/", TIMEOUT) as mon:
        with pytest.raises(BadResponse, match="invalid MongoDB URI") as caught:
            await mon.poll()

    assert PASSWORD not in str(caught.value)


async def test_aclose_closes_the_client(standalone: FakeMongod) -> None:
    client: AsyncMongoClient = AsyncMongoClient(standalone.uri(), directConnection=True, timeoutMS=int(TIMEOUT * 1000))
    mon = MongoMonitor(standalone.uri(), TIMEOUT, client=client)
    await mon.poll()

    await mon.aclose()

    assert "endsessions" in standalone.commands()  # the driver ended its sessions on close
    with pytest.raises(InvalidOperation):
        await client.admin.command("ping")
    await mon.aclose()  # idempotent


async def test_aclose_then_poll_reconnects(standalone: FakeMongod) -> None:
    mon = MongoMonitor(standalone.uri(), TIMEOUT)
    try:
        await mon.poll()
        await mon.aclose()
        status = await mon.poll()
        assert status.version == "7.0.5"
    finally:
        await mon.aclose()


# --- Through the collector ---------------------------------------------------------------------------------


def _source(uri: str) -> MongoSource:
    return MongoSource(MongoConfig(uri=uri, name="primary", interval=0.5, timeout=TIMEOUT))


async def test_collector_unreachable_mongo_yields_unreachable_reading() -> None:
    uri = f"mongodb://opsconsole:{PASSWORD}@127.0.0.1:{free_port()}/?serverMonitoringMode=poll"
    emitted: list[Reading] = []
    collector = Collector([_source(uri)], emitted.append)
    try:
        reading = await collector.poll_once("mongo:primary")
    finally:
        await collector.stop()

    assert emitted == [reading]
    assert reading.kind == "mongo"
    assert reading.error
    assert PASSWORD not in reading.error
    assert reading.value is None
    assert not reading.stale
    assert reading.last_ok_at is None
    assert reading.mode is SourceMode.UNREACHABLE
    board = Board()
    board.apply(reading)
    assert board.status_of(reading) is Status.CRIT
    assert board.pane_state("mongo").mode is SourceMode.UNREACHABLE


async def test_collector_success_then_failure_keeps_last_value(disposable: FakeMongod) -> None:
    emitted: list[Reading] = []
    collector = Collector([_source(disposable.uri())], emitted.append)
    try:
        ok = await collector.poll_once("mongo:primary")
        assert ok.error is None
        assert ok.mode is SourceMode.LIVE
        assert isinstance(ok.value, MongoStatus)

        disposable.stop()
        failed = await asyncio.wait_for(collector.poll_once("mongo:primary"), GUARD)
    finally:
        await collector.stop()

    assert failed.error
    assert failed.stale
    assert failed.value is ok.value
    assert failed.last_ok_at == ok.last_ok_at
    assert failed.mode is SourceMode.STALE
    assert [r.mode for r in emitted] == [SourceMode.LIVE, SourceMode.STALE]


# --- Verdicts on readings built from the documents ----------------------------------------------------------


async def test_assess_lagging_replica_set_over_the_wire(replica_monitor: MongoMonitor) -> None:
    status = await replica_monitor.poll()

    verdict, reasons = assess_mongo(status)

    assert verdict is Status.WARN
    assert reasons == ["replication lag 12s"]


async def test_board_judges_collected_replica_reading(replica: FakeMongod) -> None:
    board = Board()
    collector = Collector([_source(replica.uri())], board.apply)
    try:
        reading = await collector.poll_once("mongo:primary")
    finally:
        await collector.stop()

    assert board.status_of(reading) is Status.WARN


@pytest.mark.parametrize(
    ("lags", "expected", "reason"),
    [
        ((0.0, 3.0), Status.OK, None),
        ((0.0, 12.0), Status.WARN, "replication lag 12s"),
        ((75.0, 0.0), Status.CRIT, "replication lag 75s"),
    ],
)
def test_assess_mongo_on_document_members(lags: tuple[float, ...], expected: Status, reason: str | None) -> None:
    status = MongoStatus(
        ping_ms=1.5,
        version="7.0.5",
        connections_current=12,
        connections_available=838_848,
        replica_set=SET_NAME,
        members=replica_members(repl_set_get_status(secondary_lags=lags)),
    )

    verdict, reasons = assess_mongo(status)

    assert verdict is expected
    assert reasons == ([reason] if reason else [])


def test_assess_mongo_connections_nearly_exhausted() -> None:
    doc = server_status(connections_current=900, connections_available=100)
    status = MongoStatus(
        ping_ms=1.0,
        connections_current=doc["connections"]["current"],
        connections_available=doc["connections"]["available"],
    )

    assert assess_mongo(status) == (Status.WARN, ["connections 90% used"])


def test_replica_members_without_primary() -> None:
    doc = repl_set_get_status()
    for member in doc["members"]:
        if member["stateStr"] == "PRIMARY":
            member.update(state=2, stateStr="SECONDARY")
    members = replica_members(doc)

    assert [m.state for m in members] == ["SECONDARY"] * 3
    assert all(m.lag_seconds is None for m in members)  # no primary optime to measure against
    status = MongoStatus(ping_ms=1.0, replica_set=SET_NAME, members=members)
    assert assess_mongo(status) == (Status.CRIT, ["no primary"])
