"""MongoDB health through pymongo's AsyncMongoClient: ping, serverStatus, replica-set state and lag."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    ExecutionTimeout,
    InvalidURI,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from console.errors import BadResponse, ConsoleError, SourceTimeout, SourceUnavailable
from console.model import MongoStatus, ReplicaMember
from console.sanitize import clean
from console.secrets import redact_text, url_password

OPCOUNTERS = ("insert", "query", "update", "delete", "getmore", "command")
# Sections of serverStatus we never read; excluding them keeps each poll small on a busy server.
_SERVER_STATUS = {"serverStatus": 1, "wiredTiger": 0, "metrics": 0, "locks": 0, "tcmalloc": 0, "transactions": 0}
# NoReplicationEnabled, Unauthorized (needs clusterMonitor), AtlasError on shared tiers
_NO_REPLSET_CODES = {76, 13, 8000}


def opcounter_rates(
    previous: Mapping[str, int] | None, previous_at: float | None, current: Mapping[str, int], current_at: float
) -> dict[str, float]:
    """Per-second rates between two samples; empty on the first sample or after a counter reset."""
    if previous is None or previous_at is None or current_at <= previous_at:
        return {}
    elapsed = current_at - previous_at
    rates: dict[str, float] = {}
    for name, value in current.items():
        before = previous.get(name)
        if before is None or value < before:  # restarted server: counters went back to zero
            return {}
        rates[name] = (value - before) / elapsed
    return rates


def replica_members(status: Mapping[str, Any]) -> tuple[ReplicaMember, ...]:
    """Members of a replSetGetStatus document with lag measured against the primary's optime."""
    members = status.get("members")
    if not isinstance(members, list):
        return ()
    primary_optime: datetime | None = None
    for member in members:
        if isinstance(member, dict) and member.get("stateStr") == "PRIMARY":
            primary_optime = member.get("optimeDate") if isinstance(member.get("optimeDate"), datetime) else None
    result = []
    for member in members:
        if not isinstance(member, dict):
            continue
        state = str(member.get("stateStr", "UNKNOWN"))
        optime = member.get("optimeDate")
        lag = None
        if state == "SECONDARY" and primary_optime is not None and isinstance(optime, datetime):
            try:
                lag = max(0.0, (primary_optime - optime).total_seconds())
            except (TypeError, OverflowError):  # one optime with a zone, one without: no comparable lag
                lag = None
        elif state == "PRIMARY":
            lag = 0.0
        result.append(
            ReplicaMember(
                name=clean(member.get("name", "?"), 80),
                state=clean(state, 30),
                healthy=member.get("health", 1) == 1,
                lag_seconds=lag,
                is_self=bool(member.get("self", False)),
            )
        )
    return tuple(result)


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    number = _finite(value)
    return int(number) if number is not None else None


def _finite(value: Any) -> float | None:
    """A real number from a server document; NaN and infinities (valid BSON doubles) are no figure."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


class MongoMonitor:
    """Reads one deployment; keeps the previous opcounters to turn totals into rates."""

    def __init__(self, uri: str, timeout: float = 3.0, client: AsyncMongoClient | None = None):
        self._secret = url_password(uri) or ""
        self._timeout_ms = int(timeout * 1000)
        self._previous: dict[str, int] | None = None
        self._previous_at: float | None = None
        self._uri = uri
        self._client: AsyncMongoClient | None = client

    def _connect(self) -> AsyncMongoClient:
        if self._client is None:
            try:
                self._client = AsyncMongoClient(
                    self._uri,
                    appname="opsconsole",
                    serverSelectionTimeoutMS=self._timeout_ms,
                    connectTimeoutMS=self._timeout_ms,
                    socketTimeoutMS=self._timeout_ms,
                    timeoutMS=self._timeout_ms,
                    maxPoolSize=2,
                    directConnection=None if "replicaSet=" in self._uri or "+srv" in self._uri else True,
                )
            except (ConfigurationError, InvalidURI, ValueError, TypeError) as exc:
                raise BadResponse(f"invalid MongoDB URI: {self._redact(exc)}") from None
        return self._client

    def _redact(self, exc: BaseException) -> str:
        return clean(redact_text(str(exc), (self._secret,)), 200)

    async def poll(self) -> MongoStatus:
        client = self._connect()
        try:
            started = time.perf_counter()
            await client.admin.command("ping")
            ping_ms = (time.perf_counter() - started) * 1000
            status = await client.admin.command(_SERVER_STATUS)
            members: tuple[ReplicaMember, ...] = ()
            set_name = None
            if isinstance(status.get("repl"), dict) and status["repl"].get("setName"):
                set_name = str(status["repl"]["setName"])
                try:
                    members = replica_members(await client.admin.command("replSetGetStatus"))
                except OperationFailure as exc:
                    if exc.code not in _NO_REPLSET_CODES:
                        raise
        except ServerSelectionTimeoutError as exc:
            raise SourceUnavailable(f"no server reachable: {self._short(exc)}") from None
        except (NetworkTimeout, ExecutionTimeout) as exc:
            raise SourceTimeout(f"timeout: {self._short(exc)}") from None
        except ConnectionFailure as exc:
            raise SourceUnavailable(f"connection failed: {self._short(exc)}") from None
        except OperationFailure as exc:
            raise SourceUnavailable(f"command refused (code {exc.code}): {self._short(exc)}") from None
        except PyMongoError as exc:
            raise BadResponse(self._short(exc)) from None
        except ConsoleError:
            raise
        return self._build(ping_ms, status, set_name, members, time.monotonic())

    def _short(self, exc: BaseException) -> str:
        # pymongo appends a long topology description; the first clause is the useful part.
        return self._redact(exc).split(", Timeout:")[0].split(", Topology Description")[0]

    def _build(
        self,
        ping_ms: float,
        status: Mapping[str, Any],
        set_name: str | None,
        members: tuple[ReplicaMember, ...],
        now: float,
    ) -> MongoStatus:
        counters_raw = _section(status, "opcounters")
        counters = {k: v for k in OPCOUNTERS if (v := _int(counters_raw.get(k))) is not None}
        rates = opcounter_rates(self._previous, self._previous_at, counters, now)
        self._previous, self._previous_at = counters, now
        connections = _section(status, "connections")
        mem = _section(status, "mem")
        resident = mem.get("resident")
        uptime = status.get("uptime")
        return MongoStatus(
            ping_ms=ping_ms,
            version=clean(status.get("version", ""), 20),
            uptime_seconds=_finite(uptime),
            connections_current=_int(connections.get("current")),
            connections_available=_int(connections.get("available")),
            resident_mb=_finite(resident),
            opcounters_per_second=rates,
            opcounters_total=counters,
            replica_set=clean(set_name, 60) if set_name else None,
            members=members,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> MongoMonitor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
