"""The Mongo adapter against a real MongoDB server: runs only when MONGO_URI is set.

    MONGO_URI=mongodb://localhost:27017 .venv/bin/pytest -m mongo_real

The URI is read at import time because tests/conftest.py removes MONGO_URI from the environment of every
test. Replica-set checks need a user allowed to run replSetGetStatus (clusterMonitor); without it they skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import pytest

from console.adapters.mongo import OPCOUNTERS, MongoMonitor
from console.board import Board
from console.collector import Collector
from console.config import MongoConfig
from console.model import MongoStatus, Reading, SourceMode, Status
from console.secrets import url_password
from console.sources import MongoSource

MONGO_URI = os.environ.get("MONGO_URI")

pytestmark = [
    pytest.mark.mongo_real,
    pytest.mark.skipif(not MONGO_URI, reason="set MONGO_URI to run against a real MongoDB server"),
]

TIMEOUT = 5.0


def _uri() -> str:
    assert MONGO_URI
    return MONGO_URI


@pytest.fixture
async def monitor() -> AsyncIterator[MongoMonitor]:
    async with MongoMonitor(_uri(), TIMEOUT) as mon:
        yield mon


async def test_two_polls(monitor: MongoMonitor) -> None:
    first = await monitor.poll()
    second = await monitor.poll()

    for status in (first, second):
        assert isinstance(status, MongoStatus)
        assert status.ping_ms > 0
        assert re.match(r"^\d+\.\d+", status.version), status.version
        assert status.connections_current is not None and status.connections_current >= 1  # ours, at least
        assert status.connections_available is not None and status.connections_available >= 0
        assert status.uptime_seconds is not None and status.uptime_seconds >= 0
        assert status.resident_mb is not None and status.resident_mb > 0
        assert set(status.opcounters_total) == set(OPCOUNTERS)

    assert first.opcounters_per_second == {}
    rates = second.opcounters_per_second
    assert set(rates) == set(OPCOUNTERS)
    assert all(rate >= 0 for rate in rates.values())
    # The second poll's own ping ran after the first serverStatus was taken, so commands moved.
    assert rates["command"] > 0
    assert second.opcounters_total["command"] > first.opcounters_total["command"]


async def test_replica_set_has_exactly_one_primary(monitor: MongoMonitor) -> None:
    status = await monitor.poll()
    if status.replica_set is None:
        pytest.skip("MONGO_URI points at a standalone server")
    if not status.members:
        pytest.skip("replSetGetStatus refused: the user needs the clusterMonitor role")

    states = [m.state for m in status.members]
    assert states.count("PRIMARY") == 1, states
    assert sum(m.is_self for m in status.members) == 1
    primary = next(m for m in status.members if m.state == "PRIMARY")
    assert primary.lag_seconds == 0.0
    for member in status.members:
        assert member.name
        if member.lag_seconds is not None:
            assert member.lag_seconds >= 0


async def test_collector_reading_is_live() -> None:
    emitted: list[Reading] = []
    source = MongoSource(MongoConfig(uri=_uri(), name="real", timeout=TIMEOUT))
    collector = Collector([source], emitted.append)
    try:
        reading = await collector.poll_once(source.name)
    finally:
        await collector.stop()

    assert reading.error is None, reading.error
    assert reading.mode is SourceMode.LIVE
    assert isinstance(reading.value, MongoStatus)
    board = Board()
    board.apply(reading)
    assert board.status_of(reading) in {Status.OK, Status.WARN, Status.CRIT}
    password = url_password(_uri())
    if password and len(password) >= 3:
        assert password not in repr(reading)
