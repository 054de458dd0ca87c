"""BullMQ queues and Redis lists read for real, against a private redis-server and the official `bullmq` package.

Every figure the console shows is checked against what the test did with bullmq (add, delayed add, a Worker that
completes, fails or holds jobs, pause / resume, retryJobs) and cross-checked with bullmq's own `getJobCounts()`;
then discovery of `bull:<name>:meta` (custom prefix too), the cost of a tick (one pipeline: three LLENs per queue
and a single CLIENT LIST, counted with `INFO commandstats`), plain Redis lists, and Redis going away and coming back.

Note on worker counts: the reader counts the CLIENT LIST connections named after the queue, exactly as bullmq's
`Queue.get_workers_count()` does. A Python `Worker` names both of its connections (main and blocking), so one
Python worker counts as 2; a Node worker names only its blocking connection and counts as 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from bullmq import Queue, Worker
from redis.asyncio.connection import AbstractConnection

from console.adapters.bullmq import BullMQReader, ListQueues, count_workers, worker_names
from console.board import Board
from console.collector import Collector
from console.config import BullConfig, ListQueuesConfig
from console.errors import BadResponse, SourceUnavailable
from console.model import QueueInfo, QueueSnapshot, SourceMode, Status
from console.sources import BullSource, ListSource
from tests.fixtures.redis_server import PrivateRedis, make_redis_fixture, requires_redis_server  # noqa: F401

pytestmark = [requires_redis_server, pytest.mark.timeout(120)]

CLOSE_TIMEOUT = 15.0  # bound on closing a bullmq Worker / Queue


# --- helpers ----------------------------------------------------------------------------------------------------


async def until(check: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], limit: float = 20.0) -> Any:
    """Poll `check()` until `done(value)`; never a fixed sleep standing in for a condition."""
    last: Any = None
    for _ in range(int(limit / 0.05)):
        last = await check()
        if done(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never met within {limit}s; last value {last!r}")


async def read(reader: BullMQReader, name: str) -> QueueInfo:
    found = {q.name: q for q in await reader.queues()}
    assert name in found, f"{name!r} not read; got {sorted(found)}"
    return found[name]


def figures(info: QueueInfo) -> dict[str, Any]:
    return {
        "depth": info.depth,
        "ready": info.ready,
        "delayed": info.delayed,
        "in_flight": info.in_flight,
        "completed": info.completed,
        "failed": info.failed,
        "paused": info.paused,
    }


def assert_matches_bullmq(info: QueueInfo, counts: dict[str, int]) -> None:
    """The reader's figures against bullmq's own getJobCounts() (its Lua getCounts script)."""
    waiting = counts["waiting"] + counts["prioritized"]
    assert info.ready == waiting, (info, counts)
    assert info.delayed == counts["delayed"], (info, counts)
    assert info.depth == waiting + counts["delayed"], (info, counts)
    assert info.in_flight == counts["active"], (info, counts)
    assert info.completed == counts["completed"], (info, counts)
    assert info.failed == counts["failed"], (info, counts)


class Bull:
    """Creates bullmq Queues and Workers on one server and closes every one of them, even when a test fails."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.queues: list[Queue] = []
        self.workers: list[Worker] = []
        self.closed: set[int] = set()

    def queue(self, name: str, prefix: str | None = None) -> Queue:
        options: dict[str, Any] = {"connection": self.url}
        if prefix is not None:
            options["prefix"] = prefix
        queue = Queue(name, options)
        self.queues.append(queue)
        return queue

    def worker(
        self, name: str, processor: Callable[..., Awaitable[Any]], options: dict[str, Any] | None = None
    ) -> Worker:
        worker = Worker(name, processor, {"connection": self.url, **(options or {})})
        self.workers.append(worker)
        return worker

    async def close_worker(self, worker: Worker, force: bool = False) -> None:
        if id(worker) not in self.closed:
            self.closed.add(id(worker))
            await asyncio.wait_for(worker.close(force=force), CLOSE_TIMEOUT)

    async def aclose(self) -> None:
        for worker in self.workers:
            try:
                await self.close_worker(worker, force=True)
            except Exception:  # noqa: BLE001, S110 - teardown closes everything it can
                pass
        for queue in self.queues:
            try:
                await asyncio.wait_for(queue.close(), CLOSE_TIMEOUT)
            except Exception:  # noqa: BLE001, S110
                pass


@pytest.fixture
def server(make_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return make_redis()


@pytest.fixture
async def bull(server: PrivateRedis) -> Any:
    created = Bull(server.url)
    yield created
    await created.aclose()


@pytest.fixture
async def reader(server: PrivateRedis) -> Any:
    created = BullMQReader(server.url)
    yield created
    await created.aclose()


async def process_even_fail_odd(job: Any, _token: str) -> str:
    if job.data["i"] % 2:
        raise RuntimeError(f"job {job.data['i']} is odd")
    return "ok"


def opsconsole_connections(server: PrivateRedis) -> int:
    return sum(1 for c in server.client().client_list() if c.get("name") == "opsconsole")


# --- counts -----------------------------------------------------------------------------------------------------


async def test_waiting_delayed_completed_and_failed_match_what_was_done(
    server: PrivateRedis, bull: Bull, reader: BullMQReader
) -> None:
    queue = bull.queue("invoices")
    for i in range(5):
        await queue.add("make", {"i": i})
    info = await read(reader, "invoices")
    assert figures(info) == {
        "depth": 5, "ready": 5, "delayed": 0, "in_flight": 0, "completed": 0, "failed": 0, "paused": False
    }  # fmt: skip
    assert info.kind == "bullmq" and info.consumers == 0
    assert_matches_bullmq(info, await queue.getJobCounts())

    for i in range(2):
        await queue.add("later", {"i": 100 + i}, {"delay": 60_000})
    info = await read(reader, "invoices")
    assert (info.depth, info.ready, info.delayed) == (7, 5, 2)
    assert_matches_bullmq(info, await queue.getJobCounts())

    # i = 0, 2, 4 complete; i = 1, 3 fail (one attempt each); the two delayed jobs stay delayed.
    worker = bull.worker("invoices", process_even_fail_odd)
    await until(lambda: queue.getJobCounts("completed", "failed"), lambda c: c == {"completed": 3, "failed": 2})
    info = await read(reader, "invoices")
    assert figures(info) == {
        "depth": 2, "ready": 0, "delayed": 2, "in_flight": 0, "completed": 3, "failed": 2, "paused": False
    }  # fmt: skip
    assert_matches_bullmq(info, await queue.getJobCounts())
    assert info.consumers is not None and info.consumers >= 1
    await bull.close_worker(worker)


async def test_in_flight_is_the_number_of_jobs_a_worker_holds_active(bull: Bull, reader: BullMQReader) -> None:
    queue = bull.queue("renders")
    release = asyncio.Event()
    started: list[int] = []

    async def hold(job: Any, _token: str) -> None:
        started.append(job.data["i"])
        await asyncio.wait_for(release.wait(), 60)

    for i in range(5):
        await queue.add("render", {"i": i})
    worker = bull.worker("renders", hold, {"concurrency": 3})
    try:
        counts = await until(lambda: queue.getJobCounts(), lambda c: c["active"] == 3 and c["waiting"] == 2)
        info = await read(reader, "renders")
        assert (info.in_flight, info.ready, info.depth) == (3, 2, 2)  # active jobs are not backlog
        assert_matches_bullmq(info, counts)
        assert len(started) == 3
    finally:
        release.set()
    await until(lambda: queue.getJobCounts("completed"), lambda c: c["completed"] == 5)
    info = await read(reader, "renders")
    assert (info.in_flight, info.depth, info.completed) == (0, 0, 5)
    await bull.close_worker(worker)


async def test_workers_are_counted_while_they_run_and_not_after_close(
    server: PrivateRedis, bull: Bull, reader: BullMQReader
) -> None:
    queue = bull.queue("mail")
    await queue.add("send", {"i": 0})
    assert (await read(reader, "mail")).consumers == 0

    plain = bull.worker("mail", process_even_fail_odd)
    named = bull.worker("mail", process_even_fail_odd, {"name": "alpha"})  # client name bull:mail:w:alpha
    assert plain.clientName == "bull:mail" and named.clientName == "bull:mail:w:alpha"
    assert plain.clientName in worker_names("bull", "mail")
    expected = await until(queue.get_workers_count, lambda n: n >= 4)  # 2 named connections per Python Worker
    info = await until(lambda: read(reader, "mail"), lambda i: i.consumers == expected)
    assert info.consumers == await queue.get_workers_count()

    await bull.close_worker(named)
    remaining = await until(queue.get_workers_count, lambda n: 1 <= n < expected)
    assert (await until(lambda: read(reader, "mail"), lambda i: i.consumers == remaining)).consumers >= 1

    await bull.close_worker(plain)
    info = await until(lambda: read(reader, "mail"), lambda i: i.consumers == 0)
    assert await queue.get_workers_count() == 0
    # Nothing named after the queue is left on the server (the reader's own connection is "opsconsole").
    assert count_workers(server.client().client_list(), "bull", "mail") == 0


def test_worker_names_cover_python_and_node_spellings() -> None:
    clients = [
        {"name": "bull:mail"},  # Python Worker
        {"name": "bull:mail:w:alpha"},  # Python Worker with opts name
        {"name": "bull:bWFpbA=="},  # Node Worker: base64 of the queue name
        {"name": "bull:bWFpbA==:w:beta"},
        {"name": "bull:mailer"},  # another queue whose name starts the same
        {"name": "bull:mail:x"},  # not a worker suffix
        {"name": "opsconsole"},
        {},
    ]
    assert count_workers(clients, "bull", "mail") == 4
    assert count_workers(clients, "bull", "mailer") == 1
    assert count_workers(clients, "acme", "mail") == 0


# --- pause / resume, retry --------------------------------------------------------------------------------------


async def test_pause_and_resume_flip_paused_and_the_board_row_says_paused(server: PrivateRedis, bull: Bull) -> None:
    queue = bull.queue("mail")
    board = Board()
    source = BullSource(BullConfig(redis_url=server.url, queues=("mail",)))
    collector = Collector([source], board.apply)
    done: list[int] = []

    async def deliver(job: Any, _token: str) -> None:
        done.append(job.data["i"])

    async def row() -> Any:
        reading = await collector.poll_once(source.name)
        assert reading.error is None, reading.error
        (only,) = board.queue_rows()
        return only

    try:
        worker = bull.worker("mail", deliver)
        await until(queue.get_workers_count, lambda n: n >= 1)
        await queue.pause()
        assert await queue.isPaused()
        for i in range(4):
            await queue.add("send", {"i": i})
        mail = await until(row, lambda r: r.queue.consumers >= 1)
        assert mail.queue.paused is True
        assert (mail.queue.depth, mail.queue.ready) == (4, 4)  # a paused queue keeps its waiting jobs counted
        assert_matches_bullmq(mail.queue, await queue.getJobCounts())
        assert mail.status is Status.WARN and mail.reasons == ("paused",)
        assert board.status_of(board.readings[source.name]) is Status.WARN
        assert done == []

        await queue.resume()
        assert not await queue.isPaused()
        await until(lambda: queue.getJobCounts("completed"), lambda c: c["completed"] == 4)
        mail = await row()
        assert mail.queue.paused is False
        assert (mail.queue.depth, mail.queue.completed) == (0, 4)
        assert mail.status is Status.OK and mail.reasons == ()
        assert sorted(done) == [0, 1, 2, 3]
        await bull.close_worker(worker)
    finally:
        await collector.stop()  # closes the source's reader


async def test_paused_without_workers_is_still_counted_and_flagged(bull: Bull, reader: BullMQReader) -> None:
    queue = bull.queue("reports")
    await queue.add("a", {"i": 0})
    await queue.pause()
    await queue.add("b", {"i": 1})
    await queue.add("c", {"i": 2}, {"delay": 60_000})
    info = await read(reader, "reports")
    assert info.paused is True
    assert (info.depth, info.ready, info.delayed, info.consumers) == (3, 2, 1, 0)
    assert_matches_bullmq(info, await queue.getJobCounts())
    await queue.resume()
    info = await read(reader, "reports")
    assert info.paused is False and (info.depth, info.ready) == (3, 2)


async def test_retried_failed_jobs_go_back_to_waiting_and_are_processed(bull: Bull, reader: BullMQReader) -> None:
    queue = bull.queue("payments")
    failing = True

    async def charge(job: Any, _token: str) -> str:
        if failing:
            raise RuntimeError("card declined")
        return "charged"

    for i in range(4):
        await queue.add("charge", {"i": i})
    first = bull.worker("payments", charge)
    await until(lambda: queue.getJobCounts("failed"), lambda c: c["failed"] == 4)
    await bull.close_worker(first)
    info = await until(lambda: read(reader, "payments"), lambda i: i.consumers == 0)
    assert (info.failed, info.depth, info.ready, info.completed) == (4, 0, 0, 0)

    await queue.retryJobs({"state": "failed"})
    info = await read(reader, "payments")
    assert (info.failed, info.depth, info.ready) == (0, 4, 4)
    assert_matches_bullmq(info, await queue.getJobCounts())

    failing = False
    second = bull.worker("payments", charge)
    await until(lambda: queue.getJobCounts("completed"), lambda c: c["completed"] == 4)
    info = await read(reader, "payments")
    assert (info.failed, info.depth, info.ready, info.in_flight, info.completed) == (0, 0, 0, 0, 4)
    assert_matches_bullmq(info, await queue.getJobCounts())
    await bull.close_worker(second)


# --- discovery and the cost of a tick ---------------------------------------------------------------------------


async def test_discovery_finds_every_queue_with_a_meta_key_per_prefix(server: PrivateRedis, bull: Bull) -> None:
    for name, jobs in (("invoices", 1), ("emails", 2), ("orders", 3)):
        queue = bull.queue(name)
        for i in range(jobs):
            await queue.add("x", {"i": i})
    acme_orders, acme_reports = bull.queue("orders", prefix="acme"), bull.queue("reports", prefix="acme")
    for i in range(4):
        await acme_orders.add("x", {"i": i})
    await acme_reports.add("x", {"i": 0})
    client = server.client()
    client.rpush("bull:ghost:wait", "1")  # queue keys but no meta: not a queue
    client.set("bull:notes", "x")
    client.hset("other:thing:meta", "paused", "1")  # another prefix's meta

    default, acme = BullMQReader(server.url), BullMQReader(server.url, prefix="acme")
    configured = BullMQReader(server.url, queues=("orders", "never-created"))
    worker = bull.worker("orders", process_even_fail_odd, {"prefix": "acme", "autorun": False})
    try:
        assert {q.name: q.depth for q in await default.queues()} == {"emails": 2, "invoices": 1, "orders": 3}
        assert {q.name: q.depth for q in await acme.queues()} == {"orders": 4, "reports": 1}
        # A configured list is read as given, without SCAN: a queue that does not exist reads as empty.
        assert [(q.name, q.depth, q.paused) for q in await configured.queues()] == [
            ("orders", 3, False),
            ("never-created", 0, False),
        ]
        # A worker of acme:orders is counted there, not on bull:orders.
        runner = asyncio.ensure_future(worker.run())
        await until(lambda: read(acme, "orders"), lambda i: i.consumers >= 1)
        assert (await read(default, "orders")).consumers == 0
        await bull.close_worker(worker)
        await asyncio.wait_for(runner, CLOSE_TIMEOUT)
        (orders,) = [q for q in await acme.queues() if q.name == "orders"]
        assert (orders.completed, orders.failed) == (2, 2)  # i = 0, 2 complete, 1, 3 fail
    finally:
        for reader in (default, acme, configured):
            await reader.aclose()


def commandstats(client: Any) -> dict[str, int]:
    return {name: int(stats["calls"]) for name, stats in client.info("commandstats").items()}


@pytest.mark.parametrize("queues", [1, 10])
async def test_one_pipelined_round_trip_per_tick_whatever_the_queue_count(
    server: PrivateRedis, bull: Bull, reader: BullMQReader, monkeypatch: pytest.MonkeyPatch, queues: int
) -> None:
    for index in range(queues):
        queue = bull.queue(f"q{index:02}")
        await queue.add("x", {"i": index})
        await asyncio.wait_for(queue.close(), CLOSE_TIMEOUT)  # nothing but the reader talks to Redis below
    assert len(await reader.queues()) == queues  # first tick: connects and discovers (SCAN)

    sends: list[int] = []
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sends.append(id(self))
        await original(self, command, check_health)

    stats = server.client()  # one connection for both readings: its handshake is not in the delta
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    before = commandstats(stats)
    read_back = await reader.queues()
    after = commandstats(stats)
    monkeypatch.undo()

    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    delta = {name: calls for name, calls in delta.items() if calls and name != "cmdstat_info"}  # info: ours
    assert delta == {
        "cmdstat_llen": 3 * queues,  # wait, paused, active
        "cmdstat_zcard": 4 * queues,  # prioritized, delayed, failed, completed
        "cmdstat_hexists": queues,  # meta paused
        "cmdstat_client|list": 1,  # one CLIENT LIST for all the queues' workers
    }  # and no SCAN: discovery is cached between ticks
    assert len(sends) == 1, "the whole tick must go out as one pipeline write"
    assert {q.name: q.depth for q in read_back} == {f"q{i:02}": 1 for i in range(queues)}


# --- Redis lists ------------------------------------------------------------------------------------------------


async def test_redis_lists_by_key_and_by_pattern_only_lists(server: PrivateRedis) -> None:
    client = server.client()
    client.rpush("jobs:a", 1, 2, 3)
    client.rpush("jobs:b", "x")
    client.set("jobs:text", "not a list")  # matches the pattern, not a list: ignored
    client.hset("jobs:hash", "f", "v")
    client.sadd("jobs:set", "m")
    client.rpush("other:c", 1, 2)  # a list outside the pattern

    by_key = ListQueues(server.url, keys=("jobs:a", "events:dlq"))
    by_pattern = ListQueues(server.url, pattern="jobs:*")
    both = ListQueues(server.url, keys=("events:dlq", "jobs:a"), pattern="jobs:*")
    try:
        assert [(q.name, q.depth) for q in await by_key.queues()] == [("jobs:a", 3), ("events:dlq", 0)]
        assert {q.name: q.depth for q in await by_pattern.queues()} == {"jobs:a": 3, "jobs:b": 1}
        mixed = await both.queues()
        assert [q.name for q in mixed][:2] == ["events:dlq", "jobs:a"]  # configured keys first, as given
        assert {q.name: q.depth for q in mixed} == {"events:dlq": 0, "jobs:a": 3, "jobs:b": 1}
        assert len(mixed) == 3  # a configured key the pattern also matches is read once
        for info in mixed:
            assert (info.kind, info.ready, info.consumers, info.in_flight) == ("list", info.depth, None, None)

        client.lpop("jobs:a")
        client.rpush("jobs:b", "y", "z")
        client.rpush("events:dlq", "dead")
        client.rpush("jobs:new", "n")  # a new list is picked up on the next tick
        assert {q.name: q.depth for q in await both.queues()} == {
            "events:dlq": 1, "jobs:a": 2, "jobs:b": 3, "jobs:new": 1
        }  # fmt: skip
        client.delete("jobs:b")  # drained and gone
        assert {q.name: q.depth for q in await by_key.queues()} == {"jobs:a": 2, "events:dlq": 1}
        assert "jobs:b" not in {q.name for q in await by_pattern.queues()}
    finally:
        for reader in (by_key, by_pattern, both):
            await reader.aclose()


async def test_list_source_feeds_the_board(server: PrivateRedis) -> None:
    server.client().rpush("work", *range(7))
    board = Board()
    source = ListSource(ListQueuesConfig(redis_url=server.url, keys=("work", "missing")))
    collector = Collector([source], board.apply)
    try:
        reading = await collector.poll_once(source.name)
    finally:
        await collector.stop()
    assert reading.error is None and isinstance(reading.value, QueueSnapshot)
    assert reading.value.source == "redis lists"
    rows = {r.queue.name: r for r in board.queue_rows()}
    assert {name: row.queue.depth for name, row in rows.items()} == {"work": 7, "missing": 0}
    # Lists have no consumer count: a backlog alone is no CRIT "no consumers".
    assert rows["work"].status is Status.OK and rows["work"].reasons == ()


async def test_a_configured_key_of_the_wrong_type_does_not_hide_the_other_lists(server: PrivateRedis) -> None:
    client = server.client()
    client.rpush("jobs:a", 1, 2)
    client.set("jobs:oops", "a string")
    reader = ListQueues(server.url, keys=("jobs:a", "jobs:oops"))
    try:
        depths = {q.name: q.depth for q in await reader.queues()}
    finally:
        await reader.aclose()
    assert depths["jobs:a"] == 2


async def test_counts_survive_a_user_not_allowed_client_list(make_redis: Callable[..., PrivateRedis]) -> None:
    server = make_redis(users=["ops on >pw ~* &* +@all -client|list"])
    queue = Queue("mail", {"connection": server.url})
    reader = BullMQReader(server.url)
    try:
        await queue.add("send", {"i": 0})
        try:
            info = await read(reader, "mail")
        except BadResponse as exc:
            pytest.fail(f"tick failed: {exc}")
        assert info.depth == 1 and info.consumers is None  # unknown, not a wrong 0
    finally:
        await reader.aclose()
        await asyncio.wait_for(queue.close(), CLOSE_TIMEOUT)


# --- Redis down -------------------------------------------------------------------------------------------------


async def _seed_bull(server: PrivateRedis, jobs: int) -> None:
    queue = Queue("jobs", {"connection": server.url})
    try:
        for i in range(jobs):
            await queue.add("x", {"i": i})
    finally:
        await asyncio.wait_for(queue.close(), CLOSE_TIMEOUT)


async def _seed_list(server: PrivateRedis, jobs: int) -> None:
    server.client().rpush("jobs:list", *range(jobs))


READERS: dict[str, tuple[Callable[[str], Any], Callable[[PrivateRedis, int], Awaitable[None]]]] = {
    "bullmq": (lambda url: BullMQReader(url, queues=("jobs",)), _seed_bull),
    "lists": (lambda url: ListQueues(url, keys=("jobs:list",)), _seed_list),
}


@pytest.fixture(params=sorted(READERS))
def reader_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


async def test_redis_down_is_connection_refused_and_the_reader_recovers(server: PrivateRedis, reader_kind: str) -> None:
    make, seed = READERS[reader_kind]
    await seed(server, 3)
    reader = make(server.url)
    fresh = make(server.url)
    try:
        assert [q.depth for q in await reader.queues()] == [3]
        assert opsconsole_connections(server) == 1

        server.stop()
        # The pooled connection was closed under it: the first tick may say so; then the port refuses.
        with pytest.raises(SourceUnavailable):
            await reader.queues()
        for _ in range(3):
            with pytest.raises(SourceUnavailable, match="connection refused"):
                await reader.queues()
        with pytest.raises(SourceUnavailable, match="connection refused"):  # never connected before
            await fresh.queues()

        server.start()  # same port, empty data
        assert [q.depth for q in await reader.queues()] == [0]
        await seed(server, 2)
        for _ in range(3):
            assert [q.depth for q in await reader.queues()] == [2]
        assert opsconsole_connections(server) <= 1  # the broken pool was dropped, not leaked
    finally:
        await reader.aclose()
        await fresh.aclose()
    server.wait_until("the reader's connection closed", lambda: opsconsole_connections(server) == 0, timeout=5)


async def test_bull_source_outage_goes_stale_then_live(server: PrivateRedis) -> None:
    await _seed_bull(server, 2)
    board = Board()
    source = BullSource(BullConfig(redis_url=server.url, queues=("jobs",), timeout=2.0))
    collector = Collector([source], board.apply)
    try:
        assert (await collector.poll_once(source.name)).error is None
        server.stop()
        await collector.poll_once(source.name)  # may read "connection closed by server"
        down = await collector.poll_once(source.name)
        assert down.error is not None and "connection refused" in down.error
        assert down.stale and down.value.queues[0].depth == 2  # last good figures kept, marked stale
        assert board.pane_state("queues").mode is SourceMode.STALE
        server.start()
        await _seed_bull(server, 1)
        up = await collector.poll_once(source.name)
        assert up.error is None and up.value.queues[0].depth == 1
        assert board.pane_state("queues").mode is SourceMode.LIVE
    finally:
        await collector.stop()
    server.wait_until("the source's connection closed", lambda: opsconsole_connections(server) == 0, timeout=5)
