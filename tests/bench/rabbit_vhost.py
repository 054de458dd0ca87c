"""A private RabbitMQ vhost on the shared broker (`oc-bench-<hex>`), deleted afterwards with everything in it.

The shared broker carries other engineers' test queues; a vhost of our own keeps "N queues" exactly N and
makes cleanup one DELETE.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx

from tests.bench.core import Skip

MANAGEMENT_URL = "http://127.0.0.1:15672"
AUTH = ("guest", "guest")


class BenchVhost:
    def __init__(self) -> None:
        from tests.fixtures.rabbit import rabbitmq_missing

        why = rabbitmq_missing()
        if why:
            raise Skip(why)
        self.name = f"oc-bench-{uuid.uuid4().hex[:8]}"
        self.quoted = quote(self.name, safe="")
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{self.quoted}"
        self.http = httpx.Client(base_url=MANAGEMENT_URL, auth=AUTH, timeout=60, trust_env=False)

    def __enter__(self) -> BenchVhost:
        self.http.put(f"/api/vhosts/{self.quoted}").raise_for_status()
        body = {"configure": ".*", "write": ".*", "read": ".*"}
        self.http.put(f"/api/permissions/{self.quoted}/guest", json=body).raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.delete(f"/api/vhosts/{self.quoted}")
        self.http.close()

    def queue_names(self) -> list[str]:
        response = self.http.get(f"/api/queues/{self.quoted}", params={"columns": "name"})
        response.raise_for_status()
        return [q["name"] for q in response.json()]

    async def declare(self, names: Iterable[str], arguments: dict[str, Any] | None = None) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            names = list(names)
            for start in range(0, len(names), 200):
                await asyncio.gather(
                    *(
                        channel.declare_queue(n, durable=False, auto_delete=False, arguments=arguments)
                        for n in names[start : start + 200]
                    )
                )
        finally:
            await connection.close()

    async def publish(self, queue: str, messages: Iterable[aio_pika.Message], window: int = 500) -> None:
        """Publish with confirms, `window` in flight."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            batch: list[Any] = []
            for message in messages:
                batch.append(channel.default_exchange.publish(message, routing_key=queue))
                if len(batch) >= window:
                    await asyncio.gather(*batch)
                    batch = []
            if batch:
                await asyncio.gather(*batch)
        finally:
            await connection.close()

    async def depth(self, queue: str) -> int:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            return int(declared.declaration_result.message_count or 0)
        finally:
            await connection.close()

    async def wait_depth(self, queue: str, expected: int, limit: float = 120.0) -> float:
        """Poll the queue's own count (AMQP passive declare, no statistics lag) until it reaches `expected`;
        returns the monotonic time it did."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                declared = await channel.declare_queue(queue, passive=True)
                if int(declared.declaration_result.message_count or 0) >= expected:
                    return time.monotonic()
                await asyncio.sleep(0.02)
        finally:
            await connection.close()
        raise TimeoutError(f"{queue} did not reach {expected} messages in {limit:g} s")


def dead_letter(number: int, origin: str, dlq_exchange: str = "") -> aio_pika.Message:
    """A message as the broker dead-letters it: an `x-death` entry naming the origin queue and routing key."""
    from datetime import UTC, datetime

    death = {
        "count": 1,
        "reason": "rejected",
        "queue": origin,
        "time": datetime.now(UTC).replace(microsecond=0),
        "exchange": "",
        "routing-keys": [origin],
    }
    body = f'{{"orderId": "ord_{number:06d}", "sku": "SKU-42", "qty": 0}}'.encode()
    return aio_pika.Message(
        body,
        content_type="application/json",
        message_id=f"m-{number:06d}",
        headers={
            "x-death": [death],
            "x-first-death-queue": origin,
            "x-first-death-reason": "rejected",
            "x-first-death-exchange": dlq_exchange,
        },
    )
