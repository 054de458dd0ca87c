"""Queue traffic for the demo: RabbitMQ and BullMQ producers and consumers, one queue nobody consumes,
and a trickle of dead letters for the DLQ pane.

- `demo.orders` is fed through the topic exchange `demo.events` (routing key `order.created`) and consumed
  at about the same rate (depth hovers). The checkout producer emits a few malformed orders (about 4 %);
  the consumer validates each order and rejects the bad ones with `requeue=False`, so the broker
  dead-letters them through `demo.dlx` into `demo.orders.dlq` with an `x-death` header (reason `rejected`).
  The producer stops emitting malformed orders while the DLQ holds `DLQ_CAP` messages or more, so a long
  demo never drops a dead letter and never grows the DLQ without bound.
- `demo.invoices` has a producer and no consumer (it grows: the Queues pane flags it).
- BullMQ `emails` is worked by a Python BullMQ worker that fails a few jobs (they land in the failed set).
- The Redis list `demo:events:dlq` receives a failed event-bus event every few seconds until it holds
  `REDIS_DLQ_CAP` entries (never trimmed: trimming would delete dead letters).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

EVENTS_EXCHANGE = "demo.events"
DLX_EXCHANGE = "demo.dlx"
ORDERS_QUEUE = "demo.orders"
ORDERS_DLQ = "demo.orders.dlq"
INVOICES_QUEUE = "demo.invoices"
ORDERS_ARGUMENTS: dict[str, Any] = {"x-dead-letter-exchange": DLX_EXCHANGE}
BAD_ORDER_RATE = 0.04  # ~18 orders/s, so ~0.7 dead letters/s
DLQ_CAP = 500  # stop producing malformed orders while demo.orders.dlq holds this many

REDIS_DLQ_KEY = "demo:events:dlq"
REDIS_DLQ_CAP = 200
MAX_ERRORS = 100

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
SKUS = {"SKU-1042": 19.90, "SKU-2210": 4.50, "SKU-3307": 129.00, "SKU-4188": 7.25, "SKU-5120": 59.00}
CURRENCIES = ("EUR", "USD", "GBP")
SMTP_FAILURES = (
    "SMTP 421 4.7.0 Try again later, closing connection",
    "SMTP 450 4.2.1 Mailbox busy, try again later",
    "SMTP 452 4.3.1 Insufficient system storage",
    "SMTP 550 5.1.1 Recipient address rejected: user unknown",
    "connect ETIMEDOUT smtp.relay.internal:587",
)
EVENT_FAILURES = {
    "user.created": (
        "TimeoutError: crm-sync did not answer within 5000 ms",
        "ValidationError: email domain 'example.invalid' is not deliverable",
        "HTTP 409 from crm-sync: contact already exists",
    ),
    "order.paid": (
        'IntegrityError: duplicate key value violates unique constraint "payments_order_id_key"',
        "HTTP 503 from ledger: upstream connect error or disconnect/reset before headers",
        "ValueError: amount 0.00 is not a positive decimal",
    ),
    "email.bounced": (
        "KeyError: 'smtpResponse'",
        "ConnectionError: Error 111 connecting to suppression-list:6380. Connection refused.",
        "TimeoutError: suppression-list write exceeded 2000 ms",
    ),
}


def valid_order(body: bytes) -> bool:
    """The consumer's validation: what a checkout service would refuse to process."""
    try:
        order = json.loads(body)
        if not isinstance(order, dict) or not order.get("customerId") or order.get("currency") not in CURRENCIES:
            return False
        items = order.get("items") or []
        if not items or any(item.get("sku") not in SKUS or int(item.get("qty", 0)) <= 0 for item in items):
            return False
        total = sum(SKUS[item["sku"]] * int(item["qty"]) for item in items)
        return abs(total - float(order.get("total", -1))) < 0.005
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


class QueueTraffic:
    def __init__(self, amqp_url: str, redis_url: str, seed: int = 5, prefix: str = "demo"):
        self.amqp_url = amqp_url
        self.redis_url = redis_url
        # Names under `prefix` (tests run a private copy of the demo next to a real one).
        self.prefix = prefix
        self.events_exchange = EVENTS_EXCHANGE.replace("demo", prefix, 1)
        self.dlx_exchange = DLX_EXCHANGE.replace("demo", prefix, 1)
        self.orders_queue = ORDERS_QUEUE.replace("demo", prefix, 1)
        self.orders_dlq = ORDERS_DLQ.replace("demo", prefix, 1)
        self.invoices_queue = INVOICES_QUEUE.replace("demo", prefix, 1)
        self.orders_arguments: dict[str, Any] = {"x-dead-letter-exchange": self.dlx_exchange}
        self.redis_dlq_key = REDIS_DLQ_KEY.replace("demo", prefix, 1)
        self.consuming = threading.Event()  # cleared by the "stopped-consumer" incident
        self.consuming.set()
        self.random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="demo-queues", daemon=True)
        self.errors: list[str] = []

    replayed_events = 0  # events the subscriber received (replays from the DLQ pane)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    async def _main(self) -> None:
        await asyncio.gather(
            self._rabbit(), self._bull(), self._event_dlq(), self._event_subscriber(), return_exceptions=True
        )

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the demo is shutting down."""
        await asyncio.sleep(seconds)
        return not self._stop.is_set()

    def _error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-MAX_ERRORS]

    # --- RabbitMQ -------------------------------------------------------------------------------

    async def _rabbit_topology(self) -> None:
        """Declare exchanges, queues and bindings on a short-lived plain connection.

        An earlier demo run may have declared `demo.orders` without its dead-letter argument; declaring it
        with different arguments fails with 406 PRECONDITION_FAILED (and closes the channel), so on 406 the
        queue is deleted on a fresh channel and declared again.
        """
        import aio_pika
        from aio_pika.exceptions import ChannelPreconditionFailed

        connection = await aio_pika.connect(self.amqp_url, timeout=3)
        async with connection:
            channel = await connection.channel()
            await channel.declare_exchange(self.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            await channel.declare_exchange(self.dlx_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            dlq = await channel.declare_queue(self.orders_dlq, durable=True)
            await dlq.bind(self.dlx_exchange, routing_key="#")
            await channel.declare_queue(self.invoices_queue, durable=True)

            probe = await connection.channel()
            try:
                await probe.declare_queue(self.orders_queue, durable=True, arguments=self.orders_arguments)
            except ChannelPreconditionFailed:
                fresh = await connection.channel()
                await fresh.queue_delete(self.orders_queue)
                await fresh.declare_queue(self.orders_queue, durable=True, arguments=self.orders_arguments)
                await fresh.close()
            else:
                await probe.close()

    def _order(self, bad: bool) -> dict[str, Any]:
        rnd = self.random
        lines = [(sku, rnd.randint(1, 4)) for sku in rnd.sample(sorted(SKUS), rnd.randint(1, 3))]
        items: list[dict[str, Any]] = [{"sku": sku, "qty": qty, "unitPrice": SKUS[sku]} for sku, qty in lines]
        order: dict[str, Any] = {
            "orderId": f"ord_{uuid.uuid4().hex[:12]}",
            "customerId": f"cus_{rnd.randint(10000, 99999)}",
            "items": items,
            "currency": rnd.choice(CURRENCIES),
            "total": round(sum(SKUS[sku] * qty for sku, qty in lines), 2),
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if bad:  # what a buggy client or a stale catalogue sends
            flaw = rnd.choice(("qty", "sku", "currency", "customer", "total"))
            if flaw == "qty":
                items[0]["qty"] = rnd.choice((0, -1))
            elif flaw == "sku":
                items[0]["sku"] = f"SKU-{rnd.randint(9000, 9999)}"
            elif flaw == "currency":
                order["currency"] = rnd.choice(("XXX", "", "eur"))
            elif flaw == "customer":
                order["customerId"] = None
            else:
                order["total"] = round(order["total"] * 0.9, 2)
        return order

    async def _rabbit(self) -> None:
        import aio_pika

        try:
            await self._rabbit_topology()
            connection = await aio_pika.connect_robust(self.amqp_url, timeout=3)
        except Exception as exc:  # noqa: BLE001 - no broker: the demo runs without RabbitMQ traffic
            self._error(f"rabbitmq: {exc}")
            return
        async with connection:
            try:
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=10)
                events = await channel.declare_exchange(self.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                await channel.declare_exchange(self.dlx_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                orders = await channel.declare_queue(self.orders_queue, durable=True, arguments=self.orders_arguments)
                await orders.bind(events, routing_key="order.*")
                dlq = await channel.declare_queue(self.orders_dlq, durable=True)
                await dlq.bind(self.dlx_exchange, routing_key="#")
                await channel.declare_queue(self.invoices_queue, durable=True)
            except Exception as exc:  # noqa: BLE001
                self._error(f"rabbitmq: {exc}")
                return

            async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                await asyncio.sleep(self.random.uniform(0.01, 0.06))
                if valid_order(message.body):
                    await message.ack()
                else:  # the broker dead-letters it into demo.orders.dlq (x-death reason "rejected")
                    await message.reject(requeue=False)

            consumer: str | None = await orders.consume(consume)
            tick = 0
            dlq_full = False
            while await self._sleep(0.25):
                tick += 1
                try:
                    if consumer is not None and not self.consuming.is_set():  # incident: the consumer died
                        await orders.cancel(consumer)
                        consumer = None
                    elif consumer is None and self.consuming.is_set():
                        consumer = await orders.consume(consume)
                    if tick % 40 == 0:  # every ~10 s: is the DLQ at its cap?
                        declared = await dlq.declare()
                        dlq_full = (declared.message_count or 0) >= DLQ_CAP
                    for _ in range(self.random.randint(3, 6)):
                        bad = not dlq_full and self.random.random() < BAD_ORDER_RATE
                        await events.publish(self._order_message(bad), routing_key="order.created")
                    if tick % 2 == 0:
                        await channel.default_exchange.publish(
                            aio_pika.Message(b'{"invoice": 1}'), routing_key=self.invoices_queue
                        )
                except Exception as exc:  # noqa: BLE001 - broker restarting: the robust connection reconnects
                    self._error(f"rabbitmq: {exc}")
                    await asyncio.sleep(2)

    def _order_message(self, bad: bool) -> Any:
        import aio_pika

        return aio_pika.Message(
            json.dumps(self._order(bad)).encode(),
            message_id=uuid.uuid4().hex,
            content_type="application/json",
            timestamp=datetime.now(UTC),
            app_id="checkout",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={"x-tenant": self.random.choice(TENANTS), "x-schema-version": "2"},
        )

    # --- BullMQ ---------------------------------------------------------------------------------

    async def _bull(self) -> None:
        from bullmq import Queue, Worker

        options = {"connection": self.redis_url}

        async def process(job, _token):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)
            if self.random.random() < 0.05:
                raise RuntimeError(self.random.choice(SMTP_FAILURES))
            return "sent"

        try:
            queue = Queue("emails", options)
            worker = Worker("emails", process, {**options, "concurrency": 4})
        except Exception as exc:  # noqa: BLE001 - no Redis: the demo runs without BullMQ traffic
            self._error(f"bullmq: {exc}")
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
                    self._error(f"bullmq: {exc}")
                    await asyncio.sleep(2)
        finally:
            await worker.close()
            await queue.close()

    # --- Redis list DLQ of failed events --------------------------------------------------------

    def _failed_event(self) -> dict[str, Any]:
        rnd = self.random
        event = rnd.choice(sorted(EVENT_FAILURES))
        payload: dict[str, Any]
        if event == "user.created":
            user = rnd.randint(1000, 99999)
            payload = {"userId": f"usr_{user}", "email": f"user{user}@example.com", "plan": rnd.choice(("free", "pro"))}
        elif event == "order.paid":
            payload = {
                "orderId": f"ord_{uuid.uuid4().hex[:12]}",
                "amount": round(rnd.uniform(5, 400), 2),
                "currency": rnd.choice(CURRENCIES),
                "provider": rnd.choice(("stripe", "adyen")),
            }
        else:
            payload = {
                "messageId": f"<{uuid.uuid4().hex[:16]}@mail.example.com>",
                "recipient": f"user{rnd.randint(1, 999)}@example.com",
                "bounceType": rnd.choice(("hard", "soft")),
            }
        return {
            "eventId": str(uuid.uuid4()),
            "event": event,
            "payload": payload,
            "error": rnd.choice(EVENT_FAILURES[event]),
            "failedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "retryCount": 3,
            "traceId": uuid.uuid4().hex,
        }

    async def _event_dlq(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        failing = False
        try:
            while await self._sleep(self.random.uniform(2.0, 5.0)):
                try:
                    if await client.llen(self.redis_dlq_key) < REDIS_DLQ_CAP:
                        await client.lpush(self.redis_dlq_key, json.dumps(self._failed_event()))
                    failing = False
                except Exception as exc:  # noqa: BLE001 - Redis down: keep running, note it once per outage
                    if not failing:
                        self._error(f"redis dlq: {exc}")
                    failing = True
        finally:
            await client.aclose()

    async def _event_subscriber(self) -> None:
        """The services' event bus: subscribed to every `demo:events:*` channel, so a replay from the DLQ
        pane has a receiver (with none, the console leaves the letter in the DLQ)."""
        import redis.asyncio as aioredis

        while not self._stop.is_set():
            client = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self.prefix}:events:*")
                    while not self._stop.is_set():
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self.replayed_events += 1
            except Exception as exc:  # noqa: BLE001 - Redis down: retry quietly, the demo keeps running
                self._error(f"redis events: {exc}")
                await asyncio.sleep(2)
            finally:
                await client.aclose()
