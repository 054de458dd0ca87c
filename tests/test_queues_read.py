"""Reading queues for real: RabbitMQ depths and consumers through the management API (and the AMQP
fallback), 1,000 queues in one request, BullMQ counts in one pipeline, Redis lists."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
from bullmq import Queue, Worker

from console.adapters.bullmq import BullMQReader, ListQueues
from console.adapters.rabbitmq import ManagementApi, parse_queues
from console.config import RabbitConfig
from console.errors import BadResponse, SourceError, SourceUnavailable
from console.sources import RabbitSource
from tests.fixtures.prometheus_server import free_port
from tests.fixtures.redis_server import PrivateRedis, make_redis_fixture, requires_redis_server  # noqa: F401

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
MANAGEMENT = "http://127.0.0.1:15672"


def _broker_up() -> bool:
    try:
        return httpx.get(f"{MANAGEMENT}/api/overview", auth=("guest", "guest"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


requires_rabbitmq = pytest.mark.skipif(not _broker_up(), reason="RabbitMQ with the management plugin not running")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A unique queue-name prefix; every queue carrying it is deleted afterwards."""
    name = f"oc-test-{uuid.uuid4().hex[:8]}"
    yield name
    async with httpx.AsyncClient(auth=("guest", "guest")) as client:
        queues = (await client.get(f"{MANAGEMENT}/api/queues/%2F", params={"columns": "name"})).json()
        for queue in queues:
            if queue["name"].startswith(name):
                await client.delete(f"{MANAGEMENT}/api/queues/%2F/{queue['name']}")


async def until(check, limit: float = 30.0):  # type: ignore[no-untyped-def]
    """Management statistics lag by up to the collection interval: poll, never sleep a fixed time."""
    last = None
    for _ in range(int(limit / 0.25)):
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"never true; last value {last!r}")


@requires_rabbitmq
async def test_depths_and_consumers_match_what_was_published_and_consumed(prefix: str) -> None:
    connection = await aio_pika.connect(AMQP)
    api = ManagementApi(MANAGEMENT)
    try:
        channel = await connection.channel()
        idle = await channel.declare_queue(f"{prefix}.idle", auto_delete=False)
        busy_name = f"{prefix}.busy"
        await channel.declare_queue(busy_name, auto_delete=False, arguments={"x-dead-letter-exchange": "dlx"})
        for _ in range(30):
            await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=idle.name)
        for _ in range(10):
            await channel.default_exchange.publish(aio_pika.Message(b"y"), routing_key=busy_name)
        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=5)
        held = await consumer_channel.get_queue(busy_name)

        async def hold(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            pass  # never acks: 5 stay unacked

        await held.consume(hold)

        async def settled():  # type: ignore[no-untyped-def]
            queues = {q.name: q for q in await api.queues() if q.name.startswith(prefix)}
            ok = (
                queues.get(idle.name)
                and queues[idle.name].depth == 30
                and queues.get(busy_name)
                and queues[busy_name].in_flight == 5
                and queues[busy_name].consumers == 1
            )
            return queues if ok else None

        queues = await until(settled)
        assert queues[idle.name].consumers == 0 and queues[idle.name].ready == 30
        assert queues[busy_name].ready == 5 and queues[busy_name].depth == 10
        assert queues[busy_name].dead_letter_exchange == "dlx"
    finally:
        await api.aclose()
        await connection.close()


@requires_rabbitmq
async def test_a_thousand_queues_come_back_in_one_small_request(prefix: str) -> None:
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        await asyncio.gather(*(channel.declare_queue(f"{prefix}.q{n:04d}", auto_delete=False) for n in range(1000)))
    finally:
        await connection.close()
    requests: list[httpx.Response] = []
    api = ManagementApi(MANAGEMENT)
    api._client.event_hooks["response"].append(lambda response: requests.append(response) or asyncio.sleep(0))
    try:

        async def all_listed():  # type: ignore[no-untyped-def]
            requests.clear()
            mine = [q for q in await api.queues() if q.name.startswith(prefix)]
            return mine if len(mine) == 1000 else None

        mine = await until(all_listed)
    finally:
        await api.aclose()
    assert len(requests) == 1
    size = requests[0].num_bytes_downloaded  # streamed under a size cap by the adapter (identity encoding)
    assert size < 400 * 1024, f"columns= should keep 1,000+ queues small, got {size} bytes"
    assert {q.name for q in mine} == {f"{prefix}.q{n:04d}" for n in range(1000)}


@requires_rabbitmq
async def test_management_api_down_falls_back_to_passive_declares(prefix: str) -> None:
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{prefix}.orders", auto_delete=False)
        for _ in range(7):
            await channel.default_exchange.publish(aio_pika.Message(b"z"), routing_key=queue.name)
    finally:
        await connection.close()
    config = RabbitConfig(
        management_url=f"http://guest:guest@127.0.0.1:{free_port()}",
        amqp_url=AMQP,
        queues=(f"{prefix}.orders", f"{prefix}.missing"),
        timeout=2.0,
    )
    source = RabbitSource(config)
    try:
        snapshot = await source.poll()
    finally:
        await source.aclose()
    assert snapshot.source == "rabbitmq (AMQP passive declare)"
    assert "management API" in snapshot.note and f"{prefix}.missing" in snapshot.note
    (orders,) = snapshot.queues
    assert orders.name == f"{prefix}.orders" and orders.depth == 7 and orders.consumers == 0


async def test_broker_down_everywhere_is_an_error_without_secrets() -> None:
    config = RabbitConfig(
        management_url=f"http://guest:s3cretpw@127.0.0.1:{free_port()}",
        amqp_url=f"amqp://guest:s3cretpw@127.0.0.1:{free_port()}/",
        queues=("a",),
        timeout=1.0,
    )
    source = RabbitSource(config)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.poll()
    finally:
        await source.aclose()
    assert "s3cretpw" not in str(caught.value)
    no_fallback = RabbitSource(RabbitConfig(management_url=f"http://127.0.0.1:{free_port()}", timeout=1.0))
    try:
        with pytest.raises(SourceError):
            await no_fallback.poll()
    finally:
        await no_fallback.aclose()


def test_parse_queues_survives_malformed_payloads() -> None:
    with pytest.raises(BadResponse):
        parse_queues({"not": "a list"})
    queues = parse_queues(
        [
            {"name": "ok", "messages_ready": "7", "consumers": None},
            {"nameless": 1},
            "junk",
            {"name": "x", "messages_ready": 3, "messages_unacknowledged": 2, "arguments": []},
        ]
    )
    assert [(q.name, q.depth) for q in queues] == [("ok", 0), ("x", 5)]


@requires_redis_server
async def test_bullmq_counts_in_one_pipeline_match_bullmq_itself(make_redis) -> None:
    redis: PrivateRedis = make_redis()
    queue = Queue("invoices", {"connection": redis.url})
    other = Queue("emails", {"connection": redis.url})
    release = asyncio.Event()
    seen: list[int] = []

    async def process(job, _token):  # type: ignore[no-untyped-def]
        seen.append(job.data["i"])
        if job.data["i"] % 2:
            raise RuntimeError("odd")
        if job.data["i"] == 4:
            await release.wait()  # holds one job active

    reader = BullMQReader(redis.url)
    worker = None
    try:
        for i in range(5):
            await queue.add("make", {"i": i})
        await queue.add("later", {"i": 99}, {"delay": 60_000})
        await other.add("send", {"i": 0})
        (invoices,) = [q for q in await reader.queues() if q.name == "invoices"]
        assert (invoices.ready, invoices.delayed, invoices.depth, invoices.consumers) == (5, 1, 6, 0)
        worker = Worker("invoices", process, {"connection": redis.url})
        for _ in range(200):
            counts = await queue.getJobCounts("completed", "failed", "active")
            if counts == {"completed": 2, "failed": 2, "active": 1}:
                break
            await asyncio.sleep(0.05)
        (invoices,) = [q for q in await reader.queues() if q.name == "invoices"]
        assert (invoices.completed, invoices.failed, invoices.in_flight) == (2, 2, 1)
        assert invoices.consumers >= 1
        assert {q.name for q in await reader.queues()} == {"invoices", "emails"}
    finally:
        release.set()
        if worker is not None:
            await worker.close()
        await queue.close()
        await other.close()
        await reader.aclose()


@requires_redis_server
async def test_redis_lists_by_key_and_pattern(make_redis) -> None:
    redis: PrivateRedis = make_redis()
    client = redis.client()
    client.rpush("jobs:a", 1, 2, 3)
    client.rpush("jobs:b", 1)
    client.set("jobs:not-a-list", "x")
    reader = ListQueues(redis.url, keys=("events:dlq",), pattern="jobs:*")
    try:
        depths = {q.name: q.depth for q in await reader.queues()}
    finally:
        await reader.aclose()
    assert depths == {"events:dlq": 0, "jobs:a": 3, "jobs:b": 1}


class TcpProxy:
    """A loopback TCP proxy that can be cut and restored: a broker outage without touching the broker."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for task in list(self.pipes):
            task.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        for task in (
            asyncio.create_task(pipe(reader, upstream_writer)),
            asyncio.create_task(pipe(upstream_reader, writer)),
        ):
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)


@requires_rabbitmq
async def test_management_api_outage_goes_stale_then_recovers() -> None:
    from console.collector import Collector
    from console.model import Reading, SourceMode

    proxy = TcpProxy(15672)
    await proxy.start()
    readings: list[Reading] = []
    source = RabbitSource(
        RabbitConfig(management_url=f"http://guest:guest@127.0.0.1:{proxy.port}", interval=0.1, timeout=1.0)
    )
    collector = Collector([source], readings.append)
    collector.start()
    try:

        async def mode_is(mode: SourceMode):  # type: ignore[no-untyped-def]
            return readings and readings[-1].mode is mode

        await until(lambda: mode_is(SourceMode.LIVE))
        await proxy.stop()
        await until(lambda: mode_is(SourceMode.STALE))
        assert readings[-1].value is not None and readings[-1].error
        await proxy.start()
        await until(lambda: mode_is(SourceMode.LIVE))
    finally:
        await collector.stop()
        await proxy.stop()


@requires_rabbitmq
async def test_the_pane_says_when_it_reads_through_the_amqp_fallback(prefix: str) -> None:
    from console.app import make_app
    from console.config import Environment, Settings
    from console.sources import build_sources
    from widgets.queues_pane import QueuesPane

    connection = await aio_pika.connect(AMQP)
    try:
        await (await connection.channel()).declare_queue(f"{prefix}.jobs", auto_delete=False)
    finally:
        await connection.close()
    rabbit = RabbitConfig(
        management_url=f"http://127.0.0.1:{free_port()}",
        amqp_url=AMQP,
        queues=(f"{prefix}.jobs",),
        interval=0.2,
        timeout=1.0,
    )
    settings = Settings(env=Environment(name="t", rabbitmq=rabbit), environments=("t",))
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(300):
            if app.board.queue_rows():
                break
            await pilot.pause(0.02)
        title = str(app.query_one(QueuesPane).border_title)
        assert "AMQP passive declare" in title and "management API" in title
        assert app.board.queue_rows()[0].queue.name == f"{prefix}.jobs"
