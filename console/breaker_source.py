"""The Breakers pane's source: the Redis breaker registry, every resilience4j actuator and the Prometheus
state gauges, read concurrently into one snapshot. One unreadable source is named in the note; the others
are still shown. Only when every source fails is the reading an error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from console.config import Settings
from console.errors import ConsoleError, SourceUnavailable
from console.model import BreakerInfo, BreakerSnapshot
from console.sanitize import clean

Reader = tuple[str, Callable[[], Awaitable[tuple[BreakerInfo, ...]]]]


class BreakerSource:
    kind = "breakers"
    name = "breakers"

    def __init__(self, settings: Settings):
        assert settings.env.breakers is not None
        self.settings = settings
        self.config = settings.env.breakers
        self.interval = self.config.interval
        self.timeout = self.config.timeout * 2 + 1.0
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        self._readers: list[Reader] | None = None

    def _build(self) -> list[Reader]:
        readers: list[Reader] = []
        config = self.config
        if config.redis_url:
            from console.adapters.breaker import BreakerRegistry
            from console.adapters.redis import connect

            client = connect(config.redis_url, config.timeout)
            self._closers.append(client.aclose)
            readers.append(("registry", BreakerRegistry(client, config.prefix).read))
        if config.actuator:
            import httpx

            from console.adapters.breaker_actuator import ActuatorBreakers

            clients: dict[bool, httpx.AsyncClient] = {}
            for target in config.actuator:
                if target.verify_tls not in clients:
                    clients[target.verify_tls] = httpx.AsyncClient(verify=target.verify_tls, trust_env=False)
                    self._closers.append(clients[target.verify_tls].aclose)
                reader = ActuatorBreakers(
                    target.url, target.service, clients[target.verify_tls], config.timeout, dict(target.headers)
                )
                readers.append((f"actuator {target.service}", reader.read))
        if config.prometheus and self.settings.env.prometheus is not None:
            from console.adapters.breaker_prometheus import PrometheusBreakers

            prometheus = PrometheusBreakers(
                self.settings.env.prometheus, timeout=config.timeout, service_label=config.service_label
            )
            readers.append(("prometheus", prometheus.read))

            async def close_prometheus() -> None:
                prometheus.close()

            self._closers.append(close_prometheus)
        return readers

    async def poll(self) -> BreakerSnapshot:
        if self._readers is None:
            self._readers = self._build()
        results = await asyncio.gather(
            *(asyncio.wait_for(read(), self.config.timeout + 0.5) for _, read in self._readers),
            return_exceptions=True,
        )
        breakers: list[BreakerInfo] = []
        problems = []
        for (label, _), result in zip(self._readers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, ConsoleError | TimeoutError):
                    raise result
                problems.append(f"{label}: {clean(str(result) or 'timeout', 120)}")
                continue
            breakers.extend(result)
        if problems and len(problems) == len(self._readers):
            raise SourceUnavailable("; ".join(problems))
        return BreakerSnapshot("breakers", tuple(breakers), "; ".join(problems))

    async def aclose(self) -> None:
        for close in self._closers:
            await close()
