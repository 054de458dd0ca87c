"""The backend side of the Cache pane: a namespaced Redis cache that counts its own hits and misses.

A service uses it for its cache; the console reads the counters it keeps (one hash, `STATS_KEY`) to show
the hit ratio per namespace, and invalidates through the same SCAN + UNLINK code the console uses.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from console.adapters.redis import STATS_KEY
from console.adapters.redis_invalidate import invalidate as invalidate_keys
from console.model import InvalidationResult


class RedisCache:
    """JSON values under `<namespace>:<key>` with a default TTL; counters in `STATS_KEY`."""

    def __init__(self, client: aioredis.Redis, namespace: str, ttl: float = 300.0, stats_key: str = STATS_KEY):
        if not namespace or ":" in namespace or any(c in namespace for c in "*?[]"):
            raise ValueError(f"namespace must be a plain word, got {namespace!r}")
        if stats_key.startswith(f"{namespace}:"):
            raise ValueError(f"namespace {namespace!r} is reserved: the statistics hash {stats_key!r} lives there")
        self.client = client
        self.namespace = namespace
        self.ttl = ttl
        self.stats_key = stats_key

    def key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    async def get(self, key: str) -> Any | None:
        raw = await self.client.get(self.key(key))
        await self.client.hincrby(self.stats_key, f"{self.namespace}:{'misses' if raw is None else 'hits'}", 1)
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self.client.set(self.key(key), json.dumps(value), px=int((ttl or self.ttl) * 1000))

    async def get_or_set(self, key: str, factory: Callable[[], Awaitable[Any]], ttl: float | None = None) -> Any:
        value = await self.get(key)
        if value is None:
            value = await factory()
            await self.set(key, value, ttl)
        return value

    async def delete(self, key: str) -> bool:
        return bool(await self.client.unlink(self.key(key)))

    async def invalidate(self, pattern: str = "*") -> InvalidationResult:
        """Delete this namespace's keys matching `pattern` (relative to the namespace)."""
        return await invalidate_keys(self.client, self.key(pattern))

    async def stats(self) -> tuple[int, int]:
        """Lifetime (hits, misses) of this namespace."""
        hits, misses = await self.client.hmget(self.stats_key, f"{self.namespace}:hits", f"{self.namespace}:misses")
        return int(hits or 0), int(misses or 0)
