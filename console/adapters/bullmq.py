"""BullMQ queues read straight from their `bull:<queue>:*` keys: every queue's counts in one pipeline.

Reading needs no Lua: list lengths and sorted-set sizes of the documented key layout, the `paused` field of
`meta`, and one CLIENT LIST for the workers (BullMQ names worker connections after the queue). Actions
(pause, resume, retry) go through the official `bullmq` package, whose Lua scripts are the ones Node
BullMQ runs, so a retry from the console is a retry by BullMQ.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from console.adapters.redis import connect, translate
from console.model import QueueInfo
from console.sanitize import clean

DISCOVERY_TTL = 30.0  # seconds between SCANs for new queues
_LISTS = ("wait", "paused", "active")
_ZSETS = ("prioritized", "delayed", "failed", "completed")


def worker_names(prefix: str, queue: str) -> tuple[str, ...]:
    """Client names a BullMQ worker of `queue` may use (Python and Node spell it differently)."""
    encoded = base64.b64encode(queue.encode()).decode()
    return (f"{prefix}:{queue}", f"{prefix}:{encoded}")


def count_workers(client_list: Sequence[dict[str, object]], prefix: str, queue: str) -> int:
    names = worker_names(prefix, queue)
    count = 0
    for client in client_list:
        name = str(client.get("name", ""))
        if any(name == n or name.startswith(f"{n}:w:") for n in names):
            count += 1
    return count


class BullMQReader:
    def __init__(self, url: str, prefix: str = "bull", queues: tuple[str, ...] = (), timeout: float = 3.0):
        self.url = url
        self.prefix = prefix
        self.configured = queues
        self.timeout = timeout
        self._client: aioredis.Redis | None = None
        self._discovered: tuple[str, ...] = ()
        self._discovered_at = 0.0

    async def _names(self, client: aioredis.Redis) -> tuple[str, ...]:
        if self.configured:
            return self.configured
        if time.monotonic() - self._discovered_at > DISCOVERY_TTL:
            names = set()
            async for key in client.scan_iter(match=f"{self.prefix}:*:meta", count=1000):
                text = key.decode(errors="replace") if isinstance(key, bytes) else key
                names.add(text[len(self.prefix) + 1 : -len(":meta")])
            self._discovered, self._discovered_at = tuple(sorted(names)), time.monotonic()
        return self._discovered

    async def discover(self) -> tuple[str, ...]:
        """The configured queue names, or those found from `<prefix>:*:meta` keys."""
        if self._client is None:
            self._client = connect(self.url, self.timeout)
        try:
            return await self._names(self._client)
        except Exception as exc:  # noqa: BLE001 - one error tree at the boundary
            raise translate(exc) from None

    async def queues(self) -> tuple[QueueInfo, ...]:
        if self._client is None:
            self._client = connect(self.url, self.timeout)
        client = self._client
        try:
            names = await self._names(client)
            pipe = client.pipeline(transaction=False)
            for name in names:
                base = f"{self.prefix}:{name}"
                for kind in _LISTS:
                    pipe.llen(f"{base}:{kind}")
                for kind in _ZSETS:
                    pipe.zcard(f"{base}:{kind}")
                pipe.hexists(f"{base}:meta", "paused")
            pipe.client_list()
            # CLIENT LIST may be refused (ACLs, managed Redis): the counts must survive that.
            results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001
            await self.aclose()
            raise translate(exc) from None
        for result in results[:-1]:
            if isinstance(result, Exception):
                raise translate(result) from None
        clients = results[-1] if isinstance(results[-1], list) else None
        width = len(_LISTS) + len(_ZSETS) + 1
        queues = []
        for index, name in enumerate(names):
            wait, paused_list, active, prioritized, delayed, failed, completed, paused = results[
                index * width : (index + 1) * width
            ]
            waiting = int(wait) + int(paused_list) + int(prioritized)
            queues.append(
                QueueInfo(
                    kind="bullmq",
                    name=clean(name, 200),
                    depth=waiting + int(delayed),
                    consumers=None if clients is None else count_workers(clients, self.prefix, name),
                    ready=waiting,
                    in_flight=int(active),
                    failed=int(failed),
                    delayed=int(delayed),
                    completed=int(completed),
                    paused=bool(paused),
                )
            )
        return tuple(queues)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001, S110 - a broken pool is dropped either way
                pass


class ListQueues:
    """Plain Redis lists used as queues: LLEN over configured keys and/or a SCAN pattern."""

    def __init__(self, url: str, keys: tuple[str, ...] = (), pattern: str = "", timeout: float = 3.0):
        self.url = url
        self.keys = keys
        self.pattern = pattern
        self.timeout = timeout
        self._client: aioredis.Redis | None = None

    async def queues(self) -> tuple[QueueInfo, ...]:
        if self._client is None:
            self._client = connect(self.url, self.timeout)
        try:
            keys = list(self.keys)
            if self.pattern:
                async for key in self._client.scan_iter(match=self.pattern, count=1000, _type="list"):
                    text = key.decode(errors="replace") if isinstance(key, bytes) else key
                    if text not in keys:
                        keys.append(text)
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            lengths = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001
            await self.aclose()
            raise translate(exc) from None
        # A key of another type (WRONGTYPE) is left out rather than hiding every other list.
        return tuple(
            QueueInfo(kind="list", name=clean(k, 200), depth=int(n), ready=int(n))
            for k, n in zip(keys, lengths, strict=True)
            if not isinstance(n, Exception)
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001, S110
                pass
