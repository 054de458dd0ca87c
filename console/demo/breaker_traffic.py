"""Downstream calls for the demo, through the backend's own `Breaker` (state in Redis, shared with the
console): api calls `payments` and `ledger`, billing calls `fraudCheck` and `paymentGateway`.

`opsconsole demo ctl fail api` makes most payments calls fail (the breaker trips, probes in half-open,
closes again after `heal`); `ctl degrade billing` makes fraudCheck slow (the slow-call rate trips it).
Forcing a breaker open from the console makes every demo call to it fail fast with `BreakerOpen`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable

from console.adapters.breaker import Breaker, BreakerOpen, BreakerSettings

# Small windows and short timeouts so a demo shows every transition within a minute.
DEMO_SETTINGS = BreakerSettings(
    failure_rate_threshold=50.0,
    slow_call_rate_threshold=60.0,
    slow_call_ms=250,
    window=20,
    minimum_calls=10,
    open_ms=15_000,
    half_open_probes=3,
)
# (service, breaker, what breaks it: "fail" or "slow")
CALLS = (
    ("api", "payments", "fail"),
    ("api", "ledger", "fail"),
    ("billing", "fraudCheck", "slow"),
    ("billing", "paymentGateway", "fail"),
)


class DownstreamFailed(Exception):
    """A fake downstream call failed."""


class BreakerTraffic:
    def __init__(self, redis_url: str, condition_of: Callable[[str], str], seed: int = 11):
        self.redis_url = redis_url
        self.condition_of = condition_of
        self.random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="demo-breakers", daemon=True)
        self.rejected = 0
        # Downstreams hard down (the "breaker-trip" incident): every call fails, and calls come fast, as
        # they do when a busy service retries, so the breaker trips within a second.
        self.down: set[str] = set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    async def _main(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2, max_connections=8)
        try:
            await asyncio.gather(*(self._caller(client, service, name, mode) for service, name, mode in CALLS))
        finally:
            await client.aclose()

    async def _caller(self, client: object, service: str, name: str, mode: str) -> None:
        breaker = Breaker(client, service, name, DEMO_SETTINGS)  # type: ignore[arg-type]
        while not self._stop.is_set():
            await asyncio.sleep(0.02 if name in self.down else self.random.uniform(0.15, 0.35))
            condition = self.condition_of(service)
            try:
                async with breaker:
                    await self._downstream(name, mode, condition)
            except BreakerOpen:
                self.rejected += 1
            except DownstreamFailed:
                pass

    async def _downstream(self, name: str, mode: str, condition: str) -> None:
        if name in self.down:
            await asyncio.sleep(0.005)
            raise DownstreamFailed(f"{name}: connection refused")
        broken = condition in ("failing", "stopped") and mode == "fail" and name in ("payments", "paymentGateway")
        slow = condition == "degraded" and mode == "slow"
        await asyncio.sleep(self.random.uniform(0.3, 0.4) if slow else self.random.uniform(0.005, 0.03))
        if self.random.random() < (0.8 if broken else 0.02):
            raise DownstreamFailed(f"{name}: upstream 503")
