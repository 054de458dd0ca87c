"""Queue traffic for the demo: RabbitMQ and BullMQ producers and consumers, and one queue nobody consumes.

`demo.orders` is produced and consumed at about the same rate (depth hovers), `demo.invoices` has a
producer and no consumer (it grows: the Queues pane flags it), BullMQ `emails` is worked by a Python
BullMQ worker that fails a few jobs (they land in the failed set).
"""

from __future__ import annotations

import asyncio
import random
import threading

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class QueueTraffic:
    def __init__(self, amqp_url: str, redis_url: str, seed: int = 5):
        self.amqp_url = amqp_url
        self.redis_url = redis_url
        self.random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="demo-queues", daemon=True)
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    async def _main(self) -> None:
        await asyncio.gather(self._rabbit(), self._bull(), return_exceptions=True)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the demo is shutting down."""
        await asyncio.sleep(seconds)
        return not self._stop.is_set()

    async def _rabbit(self) -> None:
        import aio_pika

        try:
            connection = await aio_pika.connect_robust(self.amqp_url, timeout=3)
        except Exception as exc:  # noqa: BLE001 - no broker: the demo runs without RabbitMQ traffic
            self.errors.append(f"rabbitmq: {exc}")
            return
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=10)
            orders = await channel.declare_queue("demo.orders", durable=True)
            await channel.declare_queue("demo.invoices", durable=True)

            async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    await asyncio.sleep(self.random.uniform(0.01, 0.06))

            await orders.consume(consume)
            tick = 0
            while await self._sleep(0.25):
                tick += 1
                for _ in range(self.random.randint(3, 6)):
                    await channel.default_exchange.publish(aio_pika.Message(b'{"order": 1}'), routing_key="demo.orders")
                if tick % 2 == 0:
                    await channel.default_exchange.publish(
                        aio_pika.Message(b'{"invoice": 1}'), routing_key="demo.invoices"
                    )

    async def _bull(self) -> None:
        from bullmq import Queue, Worker

        options = {"connection": self.redis_url}

        async def process(job, _token):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)
            if self.random.random() < 0.05:
                raise RuntimeError("SMTP 421 try again later")
            return "sent"

        try:
            queue = Queue("emails", options)
            worker = Worker("emails", process, {**options, "concurrency": 4})
        except Exception as exc:  # noqa: BLE001 - no Redis: the demo runs without BullMQ traffic
            self.errors.append(f"bullmq: {exc}")
            return
        try:
            while await self._sleep(0.5):
                try:
                    await queue.add(
                        "welcome",
                        {"to": f"user{self.random.randint(1, 999)}@example.com"},
                        {"removeOnComplete": 500, "removeOnFail": 200},
                    )
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"bullmq: {exc}")
                    await asyncio.sleep(2)
        finally:
            await worker.close()
            await queue.close()
