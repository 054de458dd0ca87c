"""Redis health for the Cache pane through redis.asyncio: one pipelined round trip per tick per instance.

INFO gives memory, clients, replication and the keyspace hit/miss counters; the hit ratio and every rate
are computed from deltas between ticks, so lifetime totals never leak into "now". The per-namespace
counters that `RedisCache` keeps live in one hash read in the same pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import CacheStatus, NamespaceStats
from console.sanitize import clean
from console.secrets import redact_text, url_password

STATS_KEY = "opsconsole:cache:stats"  # hash: "<namespace>:hits" / "<namespace>:misses" → count
_COUNTERS = ("keyspace_hits", "keyspace_misses", "total_commands_processed", "evicted_keys", "expired_keys")


def connect(url: str, timeout: float, verify_tls: bool = True) -> aioredis.Redis:
    """A small pool with short timeouts; `rediss://` gets TLS, ACL user/password come from the URL."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "max_connections": 4,
        "client_name": "opsconsole",
        # redis-py 8 retries 10 times with backoff by default (~4 s on a refused port): the collector
        # has its own backoff, and an outage must show as one at once.
        "retry": Retry(NoBackoff(), 0),
    }
    if url.startswith("rediss://") and not verify_tls:
        options["ssl_cert_reqs"] = "none"
    try:
        return aioredis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise BadResponse(f"invalid Redis URL: {clean(redact_text(str(exc)), 120)}") from None


def translate(exc: BaseException, secret: str = "") -> Exception:
    """redis-py's exceptions as the console's error tree, secrets masked."""
    text = clean(redact_text(str(exc), (secret,)), 160)
    if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
        return SourceUnavailable(f"authentication failed: {text}")
    if isinstance(exc, redis_errors.TimeoutError | TimeoutError):
        return SourceTimeout(f"Redis timeout: {text}")
    if isinstance(exc, redis_errors.ConnectionError | OSError):
        reason = "connection refused" if _refused(exc) or "refused" in text.lower() else text
        return SourceUnavailable(f"Redis {reason}")
    if isinstance(exc, redis_errors.ResponseError):
        return BadResponse(f"Redis error: {text}")
    return BadResponse(f"Redis: {type(exc).__name__}: {text}")


def _refused(exc: BaseException) -> bool:
    """redis-py words a refused connect as "Error 111 connecting to … Connect call failed": look at the cause."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _int(info: Mapping[str, Any], key: str) -> int | None:
    value = info.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _rate(
    now: Mapping[str, int | None], before: Mapping[str, int | None] | None, key: str, seconds: float
) -> float | None:
    if before is None or seconds <= 0:
        return None
    a, b = before.get(key), now.get(key)
    if a is None or b is None or b < a:  # restarted server: counters went back to zero
        return None
    return (b - a) / seconds


def ratio(hits: float | None, misses: float | None) -> float | None:
    if hits is None or misses is None or hits + misses <= 0:
        return None
    return hits / (hits + misses)


def namespace_counters(raw: Mapping[Any, Any]) -> dict[str, tuple[float, float]]:
    """{namespace: (hits, misses)} from the stats hash ("ns:hits" / "ns:misses" fields)."""
    result: dict[str, list[float]] = {}
    for field, value in raw.items():
        name = field.decode(errors="replace") if isinstance(field, bytes) else str(field)
        namespace, _, kind = name.rpartition(":")
        if kind not in ("hits", "misses") or not namespace:
            continue
        try:
            count = float(value)
        except (TypeError, ValueError):
            continue
        result.setdefault(clean(namespace, 60), [0.0, 0.0])[0 if kind == "hits" else 1] = count
    return {name: (hits, misses) for name, (hits, misses) in result.items()}


def namespace_stats(
    now: dict[str, tuple[float, float]], before: dict[str, tuple[float, float]] | None
) -> tuple[NamespaceStats, ...]:
    stats = []
    for name, (hits, misses) in sorted(now.items()):
        previous = before.get(name) if before else None
        if previous is None or hits < previous[0] or misses < previous[1]:
            stats.append(NamespaceStats(name, None, None, None, hits, misses))
            continue
        dh, dm = hits - previous[0], misses - previous[1]
        stats.append(NamespaceStats(name, dh, dm, ratio(dh, dm), hits, misses))
    return tuple(stats)


class RedisMonitor:
    """Reads one instance; keeps the previous counters to turn totals into per-tick figures."""

    def __init__(self, name: str, url: str, timeout: float = 3.0, verify_tls: bool = True, stats_key: str = STATS_KEY):
        self.name = name
        self._url = url
        self._timeout = timeout
        self._verify = verify_tls
        self._secret = url_password(url) or ""
        self._stats_key = stats_key
        self._client: aioredis.Redis | None = None
        self._before: dict[str, int | None] | None = None
        self._before_at: float | None = None
        self._namespaces_before: dict[str, tuple[float, float]] | None = None

    async def poll(self) -> CacheStatus:
        if self._client is None:
            self._client = connect(self._url, self._timeout, self._verify)
        try:
            pipe = self._client.pipeline(transaction=False)
            # The stats hash before INFO: this HGETALL is itself a keyspace hit (hash exists) or miss, so the
            # INFO that follows already counts it and `_build` takes it back out of the tick's delta.
            pipe.hgetall(self._stats_key)
            pipe.info()
            raw_namespaces, info = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - every library error becomes one of ours
            await self._reset()
            raise translate(exc, self._secret) from None
        if not isinstance(info, dict):
            raise BadResponse("Redis INFO was not a mapping")
        return self._build(info, raw_namespaces if isinstance(raw_namespaces, dict) else {}, time.monotonic())

    async def _reset(self) -> None:
        """Drop the pool after a failure so a restarted server gets fresh connections (and none leak)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001, S110 - closing a broken pool may fail; it is gone either way
                pass

    def _build(self, info: Mapping[str, Any], raw_namespaces: Mapping[Any, Any], now: float) -> CacheStatus:
        counters = {key: _int(info, key) for key in _COUNTERS}
        seconds = now - self._before_at if self._before_at is not None else 0.0
        before = self._before
        hits = _rate(counters, before, "keyspace_hits", 1.0) if before else None
        misses = _rate(counters, before, "keyspace_misses", 1.0) if before else None
        # Our own HGETALL of the stats hash (see `poll`) is in this delta: not the application's traffic.
        if raw_namespaces and hits is not None:
            hits = max(0.0, hits - 1)
        elif not raw_namespaces and misses is not None:
            misses = max(0.0, misses - 1)
        self._before, self._before_at = counters, now
        namespaces_now = namespace_counters(raw_namespaces)
        namespaces = namespace_stats(namespaces_now, self._namespaces_before)
        self._namespaces_before = namespaces_now
        keys = 0
        for key, value in info.items():
            if str(key).startswith("db") and isinstance(value, dict):
                keys += _int(value, "keys") or 0
        role = str(info.get("role", ""))
        lag = None
        if role == "slave":
            master, replica = _int(info, "master_repl_offset"), _int(info, "slave_repl_offset")
            lag = max(0, master - replica) if master is not None and replica is not None else None
        return CacheStatus(
            instance=self.name,
            version=clean(info.get("redis_version", ""), 20),
            role="replica" if role == "slave" else ("primary" if role == "master" else clean(role, 20)),
            used_memory=_int(info, "used_memory"),
            maxmemory=_int(info, "maxmemory"),
            policy=clean(info.get("maxmemory_policy", ""), 30),
            hit_ratio=ratio(hits, misses),
            ops_per_second=_rate(counters, before, "total_commands_processed", seconds),
            evictions_per_second=_rate(counters, before, "evicted_keys", seconds),
            expired_per_second=_rate(counters, before, "expired_keys", seconds),
            clients=_int(info, "connected_clients"),
            blocked_clients=_int(info, "blocked_clients"),
            keys=keys,
            link_status=clean(info.get("master_link_status", ""), 10) if role == "slave" else "",
            replication_lag_bytes=lag,
            namespaces=namespaces,
            namespace_source="redis" if namespaces else "",
        )

    async def aclose(self) -> None:
        await self._reset()
