"""The DLQ pane's source: every DLQ's count, inflow, oldest letter and origin / reason breakdown per poll.

RabbitMQ breakdowns come from peeks, which requeue (and mark letters redelivered), so they are taken
every `sample_every` seconds, not every poll (and not on the first, which start-up waits for); counts and
rates come from the management API each poll.
One unreadable DLQ is reported in its row; the others are still shown.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from console.adapters.dlq_base import DeadLetterStore
from console.config import Settings
from console.dlq import StoreCatalog
from console.errors import ConsoleError
from console.model import DlqInfo, DlqSnapshot
from console.sanitize import clean

REDISCOVER_EVERY = 30.0  # seconds between looks for new dead-letter exchanges and BullMQ queues


class DlqSource:
    kind = "dlq"
    name = "dlq"

    def __init__(self, settings: Settings):
        assert settings.dlq is not None
        self.config = settings.dlq
        self.catalog = StoreCatalog(settings)
        self.interval = self.config.interval
        self.timeout = self.config.timeout * 3 + 1.0
        self._stores: list[DeadLetterStore] = []
        self._discovered_at = -REDISCOVER_EVERY
        self._samples: dict[str, tuple[float, DlqInfo | None]] = {}

    async def poll(self) -> DlqSnapshot:
        if time.monotonic() - self._discovered_at >= REDISCOVER_EVERY:
            self._stores = list(await self.catalog.refresh())
            self._discovered_at = time.monotonic()
        infos = await asyncio.gather(*(self._one(store) for store in self._stores))
        return DlqSnapshot("dlq", tuple(infos), "; ".join(self.catalog.problems))

    async def _one(self, store: DeadLetterStore) -> DlqInfo:
        key = f"{store.kind}:{store.name}"
        if store.kind == "rabbitmq" and key not in self._samples:
            # The first look counts only; the first peek (its own AMQP connection) comes with the next poll,
            # so start-up shows every DLQ's depth without waiting for a breakdown.
            self._samples[key] = (-1e9, None)
            previous, due = None, False
        else:
            sampled_at, previous = self._samples.get(key, (-1e9, None))
            due = store.kind != "rabbitmq" or time.monotonic() - sampled_at >= self.config.sample_every
        try:
            info = await asyncio.wait_for(store.info(self.config.sample if due else 0), self.config.timeout * 2)
        except (ConsoleError, TimeoutError) as exc:
            text = str(exc) or f"timeout after {self.config.timeout * 2:g}s"
            return DlqInfo(kind=store.kind, name=store.name, count=0, error=clean(text, 160))
        if due:
            self._samples[key] = (time.monotonic(), info)
        elif previous is not None and info.count:
            # Between peeks: the last breakdown still describes the pile (labelled with its sample size).
            info = replace(
                info,
                oldest_at=previous.oldest_at,
                by_origin=previous.by_origin,
                by_reason=previous.by_reason,
                sampled=previous.sampled,
            )
        return info

    async def aclose(self) -> None:
        await self.catalog.aclose()
