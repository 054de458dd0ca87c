"""Builds collector sources from settings: the glue between config and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from console.adapters import http_health
from console.adapters.mongo import MongoMonitor
from console.collector import Source
from console.config import HealthTargetConfig, MongoConfig, Settings
from console.model import HealthTarget, MongoStatus


@dataclass
class HealthSource:
    """One health target (all its probes); shares an HTTP connection pool with the other targets."""

    target: HealthTargetConfig
    client: httpx.AsyncClient
    kind: str = "health"
    owns_client: bool = False
    name: str = field(init=False)
    interval: float = field(init=False)
    timeout: float = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"health:{self.target.name}"
        self.interval = self.target.interval
        # Probes enforce their own deadline; the collector's is a backstop just past it.
        self.timeout = self.target.timeout + 1.0

    async def poll(self) -> HealthTarget:
        return await http_health.check_target(
            self.client, self.target.name, self.target.probe_urls(), self.target.timeout, self.target.headers
        )

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


@dataclass
class MongoSource:
    config: MongoConfig
    kind: str = "mongo"
    name: str = field(init=False)
    interval: float = field(init=False)
    timeout: float = field(init=False)
    monitor: MongoMonitor = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"mongo:{self.config.name}"
        self.interval = self.config.interval
        self.timeout = self.config.timeout + 1.0
        self.monitor = MongoMonitor(self.config.uri, self.config.timeout)

    async def poll(self) -> MongoStatus:
        return await self.monitor.poll()

    async def aclose(self) -> None:
        await self.monitor.aclose()


def build_sources(settings: Settings) -> list[Source]:
    """Every source the environment configures. Clients connect lazily, on first poll."""
    sources: list[Source] = []
    clients: dict[bool, httpx.AsyncClient] = {}
    for target in settings.env.health:
        first = target.verify_tls not in clients
        client = clients.setdefault(target.verify_tls, http_health.make_client(target.verify_tls))
        sources.append(HealthSource(target, client, owns_client=first))
    if settings.env.mongo is not None:
        sources.append(MongoSource(settings.env.mongo))
    return sources
