"""Cache traffic for the demo: the API's read-through caches, built on `RedisCache` as a service would.

Each namespace has its own key spread and TTL, so hit ratios differ realistically: `products` is hot
and small (high ratio), `sessions` churns (below the 80 % target, so the pane shows a warning).

Keys are drawn from a Zipf distribution (key k with weight 1/(k+1)^skew). `products` is browsed broadly
(skew 1.0: most of the 200 products are read within their TTL), so its working set is large and the
cache-flush incident empties it: the next seconds are mostly misses (measured at 1 s polls: about 30 %,
then 45 % hits, and below the 80 % target for ~5 s) while the catalogue refills. A steep skew (users,
sessions: 2.2, close to the earlier `int(paretovariate(1.2))` draw) sends most reads to a handful of keys
that refill on their first read, which a flush barely dents: with that draw for products too, the flush
moved its hit ratio from ~97 % to ~80 % for one poll and never reached the console's first screen.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from functools import partial

import redis.asyncio as aioredis

from console.adapters.redis_cache import RedisCache

# namespace: (distinct keys, ttl seconds, reads per second, Zipf skew of the key popularity)
NAMESPACES = {
    "products": (200, 60.0, 40.0, 1.0),
    "users": (2000, 30.0, 25.0, 2.2),
    "sessions": (20000, 5.0, 15.0, 2.2),
}


def popularity(keys: int, skew: float) -> list[float]:
    """Cumulative Zipf weights of keys 0..keys-1, for `random.choices(cum_weights=…)`."""
    return list(itertools.accumulate(1.0 / (k + 1) ** skew for k in range(keys)))


class CacheTraffic:
    """Runs read-through traffic in its own thread and event loop until `stop()`."""

    def __init__(self, url: str, seed: int = 11):
        self.url = url
        self.random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-cache", daemon=True)
        self.error = ""

    def start(self) -> None:
        self._thread.start()

    def flush(self) -> int:
        """The cache-flush incident: delete every cached value (the statistics hash stays). Returns the count."""
        import redis as sync_redis

        client = sync_redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
        deleted = 0
        try:
            for name in NAMESPACES:
                batch = []
                for key in client.scan_iter(match=f"{name}:*", count=1000):
                    batch.append(key)
                    if len(batch) >= 500:
                        deleted += client.unlink(*batch)
                        batch = []
                if batch:
                    deleted += client.unlink(*batch)
        finally:
            client.close()
        return deleted

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        client = aioredis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        caches = {name: RedisCache(client, name, ttl) for name, (_keys, ttl, _rate, _skew) in NAMESPACES.items()}
        weights = {name: popularity(keys, skew) for name, (keys, _ttl, _rate, skew) in NAMESPACES.items()}

        async def load(name: str, key: int) -> dict[str, object]:
            return {"id": key, "namespace": name, "payload": "x" * self.random.randint(50, 400)}

        try:
            while not self._stop.is_set():
                try:
                    for name, (keys, _ttl, reads, _skew) in NAMESPACES.items():
                        cache = caches[name]
                        count = max(1, round(reads * 0.25))
                        for key in self.random.choices(range(keys), cum_weights=weights[name], k=count):
                            await cache.get_or_set(str(key), partial(load, name, key))
                    self.error = ""
                except Exception as exc:  # noqa: BLE001 - Redis down: the demo keeps running without cache traffic
                    self.error = str(exc)
                    await asyncio.sleep(1.0)
                await asyncio.sleep(0.25)
        finally:
            await client.aclose()
