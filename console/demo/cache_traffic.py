"""Cache traffic for the demo: the API's read-through caches, built on `RedisCache` as a service would.

Each namespace has its own key spread and TTL, so hit ratios differ realistically: `products` is hot
and small (high ratio), `sessions` churns (below the 80 % target, so the pane shows a warning).
"""

from __future__ import annotations

import asyncio
import random
import threading
from functools import partial

import redis.asyncio as aioredis

from console.adapters.redis_cache import RedisCache

# namespace: (distinct keys, ttl seconds, reads per second)
NAMESPACES = {"products": (200, 60.0, 40.0), "users": (2000, 30.0, 25.0), "sessions": (20000, 5.0, 15.0)}


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

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        client = aioredis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        caches = {name: RedisCache(client, name, ttl) for name, (_keys, ttl, _rate) in NAMESPACES.items()}

        async def load(name: str, key: int) -> dict[str, object]:
            return {"id": key, "namespace": name, "payload": "x" * self.random.randint(50, 400)}

        try:
            while not self._stop.is_set():
                try:
                    for name, (keys, _ttl, reads) in NAMESPACES.items():
                        cache = caches[name]
                        for _ in range(max(1, round(reads * 0.25))):
                            key = int(self.random.paretovariate(1.2)) % keys
                            await cache.get_or_set(str(key), partial(load, name, key))
                    self.error = ""
                except Exception as exc:  # noqa: BLE001 - Redis down: the demo keeps running without cache traffic
                    self.error = str(exc)
                    await asyncio.sleep(1.0)
                await asyncio.sleep(0.25)
        finally:
            await client.aclose()
