"""Which dead-letter stores an environment has, built from its settings (RabbitMQ DLQs discovered live).

The DLQ source, the DLQ screens and `opsconsole dlq …` all find their stores here, so a queue named
on the command line is the same store the console browses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from console.adapters.dlq_base import DeadLetterStore
from console.config import Settings
from console.errors import ActionRefused, SourceError

KINDS = ("rabbitmq", "bullmq", "redis")


class StoreCatalog:
    """Builds and caches one store per DLQ; `refresh()` rediscovers RabbitMQ DLQs from queue arguments."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.config = settings.dlq
        self.api: Any = None
        rabbit = settings.env.rabbitmq
        if rabbit is not None and rabbit.management_url:
            from console.adapters.rabbitmq import ManagementApi

            self.api = ManagementApi.from_url(rabbit.management_url, rabbit.vhost, rabbit.timeout, rabbit.verify_tls)
        self.stores: dict[str, DeadLetterStore] = {}
        self.problems: list[str] = []

    def key(self, kind: str, name: str) -> str:
        return f"{kind}:{name}"

    async def refresh(self) -> Sequence[DeadLetterStore]:
        """Every configured and discovered DLQ; a backend that cannot be asked is named in `problems`."""
        self.problems = []
        config = self.config
        if config is None:
            return []
        # The two discoveries ask different backends: at once, not one after the other (start-up waits on them).
        # Both end before anything is raised; their problems are listed in a fixed order.
        found = await asyncio.gather(self._rabbit_names(), self._bull_names(), return_exceptions=True)
        for result in found:
            if isinstance(result, BaseException):
                raise result
        (rabbit, rabbit_problem), (bull, bull_problem) = found  # type: ignore[misc]
        self.problems = [p for p in (rabbit_problem, bull_problem) if p]
        wanted = [("rabbitmq", name) for name in rabbit] + [("bullmq", name) for name in bull]
        wanted += [("redis", item.key) for item in config.redis]
        for kind, name in wanted:
            if self.key(kind, name) not in self.stores:
                self.stores[self.key(kind, name)] = self.build(kind, name)
        return [self.stores[self.key(kind, name)] for kind, name in wanted]

    async def _rabbit_names(self) -> tuple[list[str], str]:
        """The RabbitMQ DLQs to show, and what went wrong finding them ("" if nothing)."""
        config, problem = self.config, ""
        if self.settings.env.rabbitmq is None or config is None:
            return [], problem
        names = set(config.rabbitmq)
        if config.discover and self.api is not None:
            from console.adapters.dlq_rabbit import discover

            try:
                names.update(await discover(self.api, await self.api.queues()))
            except SourceError as exc:
                problem = f"rabbitmq discovery: {exc}"
                names.update(n for k, n in (key.split(":", 1) for key in self.stores) if k == "rabbitmq")
        return sorted(names), problem

    async def _bull_names(self) -> tuple[list[str], str]:
        bull, problem = self.settings.env.bullmq, ""
        if bull is None or self.config is None or not self.config.bullmq:
            return [], problem
        names = set(bull.queues)
        if not names:
            from console.adapters.bullmq import BullMQReader

            reader = BullMQReader(bull.redis_url, bull.prefix, (), bull.timeout)
            try:
                names.update(await reader.discover())
            except SourceError as exc:
                problem = f"bullmq discovery: {exc}"
            finally:
                await reader.aclose()
        return sorted(names), problem

    def build(self, kind: str, name: str) -> DeadLetterStore:
        env, config = self.settings.env, self.config
        timeout = config.timeout if config is not None else self.settings.timeout
        if kind == "rabbitmq":
            from console.adapters.dlq_rabbit import RabbitDlq

            if env.rabbitmq is None:
                raise ActionRefused("no [env.NAME.rabbitmq] configured")
            return RabbitDlq(name, env.rabbitmq.amqp_url, self.api, timeout)
        if kind == "bullmq":
            from console.adapters.dlq_bull import BullFailedSet

            if env.bullmq is None:
                raise ActionRefused("no [env.NAME.bullmq] configured")
            return BullFailedSet(env.bullmq, name, timeout)
        if kind == "redis":
            from console.adapters.dlq_redis import RedisListDlq

            item = next((r for r in (config.redis if config else ()) if r.key == name), None)
            if item is None:
                raise ActionRefused(f"no [[env.NAME.dlq.redis]] with key {name!r}")
            return RedisListDlq(item, timeout)
        raise ActionRefused(f"unknown DLQ kind {kind!r} (one of {', '.join(KINDS)})")

    def get(self, kind: str, name: str) -> DeadLetterStore:
        key = self.key(kind, name)
        if key not in self.stores:
            self.stores[key] = self.build(kind, name)
        return self.stores[key]

    async def aclose(self) -> None:
        for store in self.stores.values():
            await store.aclose()
        if self.api is not None:
            await self.api.aclose()
