"""Builds collector sources from settings: the glue between config and the adapters."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import httpx

from console.adapters import http_health
from console.adapters.bullmq import BullMQReader, ListQueues
from console.adapters.metrics_scrape import ScrapeTraffic
from console.adapters.prometheus import FleetQuery, NamespaceQuery, TrafficQuery
from console.adapters.rabbitmq import ManagementApi, passive_depths
from console.adapters.redis import RedisMonitor
from console.collector import Clock, Source, utc_now
from console.config import (
    BullConfig,
    FleetConfig,
    HealthTargetConfig,
    ListQueuesConfig,
    MongoConfig,
    PrometheusConfig,
    RabbitConfig,
    RedisConfig,
    Settings,
    TrafficConfig,
)
from console.errors import SourceError

if TYPE_CHECKING:
    from console.adapters.mongo import MongoMonitor
from console.model import CacheStatus, HealthFleet, HealthTarget, MongoStatus, QueueSnapshot, TrafficSnapshot


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
        from console.adapters.mongo import MongoMonitor  # pymongo (~5 MB) only where MongoDB is configured

        self.monitor = MongoMonitor(self.config.uri, self.config.timeout)

    async def poll(self) -> MongoStatus:
        return await self.monitor.poll()

    async def aclose(self) -> None:
        await self.monitor.aclose()


class TrafficSource:
    """Traffic from Prometheus, falling back to scraping /metrics directly when Prometheus cannot be read.

    The first successful Prometheus tick also carries the sparkline backfill (query_range), so the first
    frame shows the trend. The snapshot's `mode` says which way the figures came.
    """

    kind = "traffic"
    name = "traffic"

    def __init__(
        self, traffic: TrafficConfig, prometheus: PrometheusConfig | None, timeout: float, clock: Clock = utc_now
    ):
        self.interval = traffic.interval
        self.query = TrafficQuery(prometheus, traffic) if prometheus else None
        self.scrape = ScrapeTraffic(traffic.scrape, traffic, timeout) if traffic.scrape else None
        # Queries of a tick run in parallel threads, each bounded by the client timeout; the backfill adds
        # a wave, the fallback scrape one more per target.
        prometheus_budget = 2 * prometheus.timeout if prometheus else 0.0
        self.timeout = prometheus_budget + timeout * len(traffic.scrape) + 1.0
        self._clock = clock
        self._backfilled = traffic.history_minutes <= 0

    async def poll(self) -> TrafficSnapshot:
        if self.query is None:
            return await self._scraped("")
        try:
            services, routes = await asyncio.to_thread(self.query.collect)
        except SourceError as exc:
            if self.scrape is None:
                raise
            return await self._scraped(f"Prometheus: {exc} — falling back to direct scrape")
        backfill, note = {}, ""
        if not self._backfilled:
            try:
                backfill = await asyncio.to_thread(self.query.backfill, self._clock(), self.interval)
                self._backfilled = True
            except SourceError as exc:  # live figures still count; history is retried next tick
                note = f"history not loaded: {exc}"
        return TrafficSnapshot("prometheus", services, routes, backfill, note)

    async def _scraped(self, why: str) -> TrafficSnapshot:
        assert self.scrape is not None
        services, routes, note = await self.scrape.collect()
        return TrafficSnapshot("scrape", services, routes, note=" · ".join(n for n in (why, note) if n))

    async def aclose(self) -> None:
        if self.query is not None:
            self.query.close()
        if self.scrape is not None:
            await self.scrape.aclose()


class CacheSource:
    """One Redis instance for the Cache pane (INFO + the namespace counters, one round trip)."""

    kind = "cache"

    def __init__(self, instance: RedisConfig, stats_key: str, prometheus: PrometheusConfig | None = None):
        self.name = f"cache:{instance.name}"
        self.interval = instance.interval
        self.timeout = instance.timeout + (prometheus.timeout if prometheus else 0.0) + 1.0
        self.monitor = RedisMonitor(instance.name, instance.url, instance.timeout, instance.verify_tls, stats_key)
        self.namespaces = NamespaceQuery(prometheus) if prometheus else None

    async def poll(self) -> CacheStatus:
        status = await self.monitor.poll()
        if self.namespaces is None:
            return status
        try:
            namespaces = await asyncio.to_thread(self.namespaces.collect)
        except SourceError:
            return status  # Prometheus down: the counters RedisCache keeps in Redis still answer
        if not namespaces:
            return status
        return replace(status, namespaces=namespaces, namespace_source="prometheus")

    async def aclose(self) -> None:
        await self.monitor.aclose()
        if self.namespaces is not None:
            self.namespaces.close()


class RabbitSource:
    """All queues of a vhost from the management API; AMQP passive declares of the configured queues when the
    management API cannot be read."""

    kind = "queues"
    name = "queues:rabbitmq"

    def __init__(self, config: RabbitConfig):
        self.config = config
        self.interval = config.interval
        self.timeout = config.timeout * (2 + len(config.queues)) + 1.0
        self.api: ManagementApi | None = None
        if config.management_url:
            self.api = ManagementApi.from_url(config.management_url, config.vhost, config.timeout, config.verify_tls)

    async def poll(self) -> QueueSnapshot:
        why = "no management_url configured"
        if self.api is not None:
            try:
                return QueueSnapshot("rabbitmq (management API)", await self.api.queues())
            except SourceError as exc:
                if not (self.config.amqp_url and self.config.queues):
                    raise
                why = f"management API: {exc}"
        if not (self.config.amqp_url and self.config.queues):
            raise SourceError("nothing to read: set management_url, or amqp_url with queues")
        queues, note = await passive_depths(self.config.amqp_url, self.config.queues, self.config.timeout)
        return QueueSnapshot("rabbitmq (AMQP passive declare)", queues, " · ".join(n for n in (why, note) if n))

    async def aclose(self) -> None:
        if self.api is not None:
            await self.api.aclose()


class BullSource:
    kind = "queues"
    name = "queues:bullmq"

    def __init__(self, config: BullConfig):
        self.interval = config.interval
        self.timeout = config.timeout + 1.0
        self.reader = BullMQReader(config.redis_url, config.prefix, config.queues, config.timeout)

    async def poll(self) -> QueueSnapshot:
        return QueueSnapshot("bullmq", await self.reader.queues())

    async def aclose(self) -> None:
        await self.reader.aclose()


class ListSource:
    kind = "queues"
    name = "queues:lists"

    def __init__(self, config: ListQueuesConfig):
        self.interval = config.interval
        self.timeout = config.timeout + 1.0
        self.reader = ListQueues(config.redis_url, config.keys, config.pattern, config.timeout)

    async def poll(self) -> QueueSnapshot:
        return QueueSnapshot("redis lists", await self.reader.queues())

    async def aclose(self) -> None:
        await self.reader.aclose()


class FleetSource:
    """Health rows for every series of an `up` / `probe_success` query: hundreds of endpoints, one request."""

    kind = "health"

    def __init__(self, fleet: FleetConfig, prometheus: PrometheusConfig):
        self.name = f"health:{fleet.name}"
        self.interval = fleet.interval
        self.timeout = prometheus.timeout + 1.0
        self.query = FleetQuery(prometheus, fleet.query, fleet.labels)

    async def poll(self) -> HealthFleet:
        return await asyncio.to_thread(self.query.collect)

    async def aclose(self) -> None:
        self.query.close()


def build_sources(settings: Settings, clock: Clock = utc_now) -> list[Source]:
    """Every source the environment configures. Clients connect lazily, on first poll."""
    sources: list[Source] = []
    # One probe client per TLS mode for every health target: its transport keeps connections per origin and
    # costs the same per request however many targets share it (httpx's own pool did not: see http11).
    clients: dict[bool, httpx.AsyncClient] = {}
    for target in settings.env.health:
        first = target.verify_tls not in clients
        if first:
            clients[target.verify_tls] = http_health.make_probe_client(target.verify_tls)
        sources.append(HealthSource(target, clients[target.verify_tls], owns_client=first))
    if settings.env.mongo is not None:
        sources.append(MongoSource(settings.env.mongo))
    for index, instance in enumerate(settings.redis_instances):
        # Namespace counters are the application's, not an instance's: read them from Prometheus once.
        prometheus = settings.env.prometheus if index == 0 else None
        sources.append(CacheSource(instance, settings.env.cache.stats_key, prometheus))
    if settings.env.rabbitmq is not None:
        sources.append(RabbitSource(settings.env.rabbitmq))
    if settings.env.bullmq is not None:
        sources.append(BullSource(settings.env.bullmq))
    if settings.env.lists is not None:
        sources.append(ListSource(settings.env.lists))
    if settings.dlq is not None:
        from console.dlq_source import DlqSource

        sources.append(DlqSource(settings))
    if settings.env.breakers is not None:
        from console.breaker_source import BreakerSource

        sources.append(BreakerSource(settings))
    if settings.env.prometheus is not None:
        sources.extend(FleetSource(fleet, settings.env.prometheus) for fleet in settings.env.fleet)
    traffic = settings.traffic
    if traffic is not None and (settings.env.prometheus is not None or traffic.scrape):
        sources.append(TrafficSource(traffic, settings.env.prometheus, settings.timeout, clock))
    _import_what_first_polls_import(settings)
    return sources


def _import_what_first_polls_import(settings: Settings) -> None:
    """Import now the modules the sources' first polls would import on the UI loop: the app builds sources in
    a thread behind its start-up skeleton, and ~0.1 s of imports on the loop delayed every pane's first reading."""
    # httpx's default transport loads its async backend on a client's first request.
    modules = ["httpcore._backends.anyio", "anyio._backends._asyncio", "sniffio"]
    if settings.dlq is not None:
        modules += ["console.adapters.dlq_rabbit", "console.adapters.dlq_bull", "console.adapters.dlq_redis"]
    if settings.env.breakers is not None:
        modules.append("console.adapters.breaker")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:  # private module names of pinned libraries: a rename costs speed, never a source
            pass
