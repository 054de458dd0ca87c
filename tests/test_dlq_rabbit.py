"""RabbitMQ dead-letter queues against the real broker: letters dead-lettered by RabbitMQ itself (publish to a
topic exchange, reject at the origin queue, routed through the DLX), browsed through the management API and
AMQP, replayed to a real consumer, moved, purged and restored byte for byte, with the broker killing the
replay's connection midway, an abort, missing origins, hostile payloads, and the DLQ action spec end to end.

Every test works under its own `oc-test-<8 hex>` prefix (`dlq_topology`), whose queues and exchanges are deleted
at teardown whether the test passed or failed. Counts come from AMQP passive declares (exact at once); where the
management API's statistics are read, the test polls (`until`) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from rich.console import Console, RenderableType

from console.adapters.dlq_base import REPLAY_MARK, Mark, Selection, read_ndjson
from console.adapters.dlq_rabbit import WINDOW, RabbitDlq, discover  # WINDOW: unsettled letters at most
from console.adapters.rabbitmq import ManagementApi
from console.audit import AuditLog
from console.config import load_settings
from console.dlq import StoreCatalog
from console.dlq_actions import DlqAction
from console.errors import ActionRefused, SourceUnavailable
from console.model import DEAD_LETTER_BODY_CAP, DeadLetter, ReplayProgress
from console.safety import WriteMode
from console.screens.letter_detail import body_renderable, hex_preview
from tests.fixtures.dlq_rabbit import (
    PROPERTY_NAMES,
    Seen,
    Topology,
    client_port,
    consume,
    dead_lettered,
    depth,
    dlq_topology_fixture,  # noqa: F401 - the `dlq_topology` fixture
    drain,
    kill_connection,
    make_dead_letters,
    order,
    own_amqp_ports,
    peek_all,
    publish_confirmed,
    reject_all,
    tracked_connections,
    wait_depth,
)
from tests.fixtures.rabbit import AMQP_URL, MANAGEMENT_URL, until

pytestmark = pytest.mark.timeout(120)

MARK = Mark(at="2024-05-01T12:00:00Z", by="alice@bastion")
EVERYTHING = Selection()
MARK_HEADERS = {REPLAY_MARK, "x-opsconsole-replayed-by", "x-opsconsole-replays"}
FAST = 100_000.0  # letters per second: the pacer never waits


def ids(n: int, start: int = 0) -> list[str]:
    return [f"m-{i:05d}" for i in range(start, start + n)]


def id_list(messages: list[Seen]) -> list[str]:
    return [m.message_id for m in messages]


@pytest.fixture
async def api() -> AsyncIterator[ManagementApi]:
    client = ManagementApi(MANAGEMENT_URL, timeout=10.0)
    try:
        yield client
    finally:
        await client.aclose()


def store(topology: Topology, api: ManagementApi | None = None, url: str = AMQP_URL) -> RabbitDlq:
    return RabbitDlq(topology.dlq, url, api, timeout=10.0)


def assert_replayed_copy(copy: Seen, original: Seen, mark: Mark = MARK, replays: int = 1) -> None:
    """Body, every property and every original header (x-death included) intact, plus the replay mark."""
    assert copy.body == original.body
    assert copy.properties == original.properties
    for name, value in original.headers.items():
        if name in MARK_HEADERS:
            continue
        assert copy.headers[name] == value, name
    assert set(copy.headers) == set(original.headers) | MARK_HEADERS
    assert copy.headers[REPLAY_MARK] == mark.at
    assert copy.headers["x-opsconsole-replayed-by"] == mark.by
    assert copy.headers["x-opsconsole-replays"] == replays


def rendered(renderable: RenderableType) -> str:
    console = Console(record=True, width=100, force_terminal=False, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# --- 1. browsing ----------------------------------------------------------------------------------------------


async def test_dead_letters_are_listed_through_the_api_and_amqp_without_consuming(
    dlq_topology: Topology, api: ManagementApi
) -> None:
    topo = dlq_topology
    # A second origin whose letters die another way: a TTL of 0 expires them at once (reason "expired").
    slow = f"{topo.prefix}.slow"
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            slow, durable=False, arguments={"x-dead-letter-exchange": topo.dlx, "x-message-ttl": 0}
        )
        await queue.bind(topo.events, "slow.*")
    finally:
        await connection.close()
    started = datetime.now(UTC)
    await make_dead_letters(topo, [order(i) for i in range(6)])
    await publish_confirmed([order(i) for i in range(6, 8)], topo.events, "slow.created")
    await wait_depth(topo.dlq, 8)
    expected_order = list(reversed(ids(8)))  # newest first; the queue holds them oldest first

    via_api, via_amqp = store(topo, api), store(topo)
    pages = {}
    for name, dlq in (("api", via_api), ("amqp", via_amqp)):
        pages[name] = await until(
            lambda dlq=dlq: dlq.page(0, 50, EVERYTHING), lambda page: page.total == 8 and len(page.letters) == 8
        )
        page = pages[name]
        assert [letter.message_id for letter in page.letters] == expected_order, name
        assert page.scanned == 8 and page.kind == "rabbitmq" and page.dlq == topo.dlq
        for letter in page.letters:
            number = int(letter.message_id[2:])
            expired = number >= 6
            origin, reason, key = (
                (slow, "expired", "slow.created") if expired else (topo.orders, "rejected", "order.created")
            )
            assert (letter.kind, letter.dlq, letter.ref) == ("rabbitmq", topo.dlq, letter.message_id)
            assert (letter.origin, letter.reason) == (origin, reason), name
            assert letter.destination == f"exchange {topo.events} · key {key}"
            (death,) = letter.deaths
            assert (death.queue, death.reason, death.exchange, death.routing_keys, death.count) == (
                origin,
                reason,
                topo.events,
                (key,),
                1,
            )
            assert isinstance(death.time, datetime) and death.time.tzinfo is not None
            assert started - timedelta(seconds=2) <= death.time <= datetime.now(UTC) + timedelta(seconds=2)
            assert letter.at == death.time
            body = b'{"order": %d, "region": "%s"}' % (number, b"eu" if number % 2 else b"us")
            assert (letter.body, letter.size, letter.truncated) == (body, len(body), False)
            assert letter.content_type == "application/json"
            properties = dict(letter.properties)
            assert properties["message_id"] == letter.message_id
            assert properties["correlation_id"] == f"corr-{number}"
            assert properties["app_id"] == "shop-api" and properties["type"] == "order.created"
            headers = dict(letter.headers)
            assert headers["x-tenant"] == "acme" and headers["x-attempt"] == str(number % 3)
            assert "x-death" in headers and headers["x-first-death-queue"] == origin

    def essentials(letter: DeadLetter) -> tuple[Any, ...]:
        return (letter.ref, letter.origin, letter.reason, letter.at, letter.destination, letter.deaths, letter.body)

    assert [essentials(x) for x in pages["api"].letters] == [essentials(x) for x in pages["amqp"].letters]

    # Offsets and filters work on the newest-first order.
    window = await via_amqp.page(2, 3, EVERYTHING)
    assert [letter.message_id for letter in window.letters] == expected_order[2:5] and window.total == 8
    europe = await via_api.page(0, 50, Selection(text='"EU"'))
    assert [letter.message_id for letter in europe.letters] == ["m-00007", "m-00005", "m-00003", "m-00001"]
    only_slow = await via_amqp.page(0, 50, Selection(origin=slow))
    assert [letter.message_id for letter in only_slow.letters] == ["m-00007", "m-00006"]

    # discover() finds the DLQ from the origin queues' x-dead-letter-exchange argument (and nothing else of ours).
    async def mine() -> set[str]:
        return {name for name in await discover(api, await api.queues()) if name.startswith(topo.prefix)}

    assert await until(mine, lambda found: found == {topo.dlq}) == {topo.dlq}

    # info(sample): the count and where the sampled letters come from and why they died.
    for dlq in (via_api, via_amqp):
        info = await until(lambda dlq=dlq: dlq.info(sample=20), lambda got: got.count == 8)
        assert (info.kind, info.name, info.count, info.sampled) == ("rabbitmq", topo.dlq, 8, 8)
        assert info.by_origin == ((topo.orders, 6), (slow, 2))
        assert info.by_reason == (("rejected", 6), ("expired", 2))
        assert info.oldest_at == pages["amqp"].letters[-1].at
        small = await dlq.info(sample=3)
        assert small.sampled == 3 and small.by_origin == ((topo.orders, 3),) and small.count == 8
    assert (await via_amqp.info(sample=1)).inflow_per_minute is None

    # Nothing was consumed: every letter is still there, in its place.
    assert id_list(await peek_all(topo.dlq)) == ids(8)
    assert await depth(topo.dlq) == 8


# --- 2. replay ------------------------------------------------------------------------------------------------


async def test_replay_reaches_a_real_consumer_intact_and_a_second_death_counts_twice(dlq_topology: Topology) -> None:
    topo = dlq_topology
    await make_dead_letters(topo, [order(i) for i in range(20)])
    originals = {m.message_id: m for m in await peek_all(topo.dlq)}
    assert sorted(originals) == ids(20)
    dlq = store(topo)

    plan = await dlq.plan("replay", EVERYTHING)
    assert (plan.count, plan.skipped, plan.scanned, plan.destinations) == (20, 0, 20, ((topo.destination, 20),))
    assert await depth(topo.dlq) == 20  # a plan peeks, it does not take

    reports: list[ReplayProgress] = []
    result = await dlq.transfer("replay", EVERYTHING, MARK, rate=FAST, progress=reports.append)
    assert (result.total, result.done, result.failed, result.skipped) == (20, 20, 0, 0)
    assert reports and reports[-1].done == 20
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    assert await depth(topo.dlq) == 0

    received = await consume(topo.orders, 20)
    assert sorted(id_list(received)) == ids(20)
    for copy in received:
        assert_replayed_copy(copy, originals[copy.message_id])
        (death,) = copy.headers["x-death"]
        assert death["queue"] == topo.orders and death["count"] == 1 and death["routing-keys"] == ["order.created"]
        assert isinstance(death["time"], datetime)

    # Replayed copies that die again: the broker accepts the carried x-death and counts the second death on it.
    await make_dead_letters(topo, [order(i) for i in range(20, 25)])
    await dlq.transfer("replay", Selection(refs=frozenset(ids(5, 20))), MARK, rate=FAST)
    await reject_all(topo.orders, 5)
    await wait_depth(topo.dlq, 5)
    twice = await peek_all(topo.dlq)
    assert sorted(id_list(twice)) == ids(5, 20)
    for letter in twice:
        (death,) = letter.headers["x-death"]  # same queue and reason: one entry, counted
        assert death["count"] == 2 and death["queue"] == topo.orders and death["reason"] == "rejected"
        assert letter.headers["x-opsconsole-replays"] == 1
    second = Mark(at="2024-05-02T08:00:00Z", by="bob@bastion")
    result = await dlq.transfer("replay", EVERYTHING, second, rate=FAST)
    assert (result.done, result.failed) == (5, 0)
    by_id = {m.message_id: m for m in twice}
    for copy in await consume(topo.orders, 5):
        assert_replayed_copy(copy, by_id[copy.message_id], second, replays=2)
    assert await depth(topo.dlq) == 0


async def test_selective_replay_takes_only_the_selection_and_the_rest_keep_their_order(
    dlq_topology: Topology,
) -> None:
    topo = dlq_topology
    await make_dead_letters(topo, [order(i) for i in range(12)])
    dlq = store(topo)

    picked = frozenset({"m-00002", "m-00005", "m-00009", "m-99999"})  # one ref that is not there
    plan = await dlq.plan("replay", Selection(refs=picked))
    assert [p.message_id for p in plan.letters] == ["m-00002", "m-00005", "m-00009"]
    assert (plan.count, plan.scanned, plan.skipped) == (3, 12, 0)
    result = await dlq.transfer("replay", Selection(refs=picked), MARK, rate=FAST)
    assert (result.total, result.done, result.failed, result.skipped) == (12, 3, 0, 0)
    remaining = [i for i in ids(12) if i not in picked]
    assert id_list(await peek_all(topo.dlq)) == remaining  # the others stay, in their order
    assert sorted(id_list(await drain(topo.orders))) == ["m-00002", "m-00005", "m-00009"]

    # A text filter (case-insensitive, on the body): the "eu" orders are the odd ones.
    result = await dlq.transfer("replay", Selection(text='"EU"'), MARK, rate=FAST)
    europe = ["m-00001", "m-00003", "m-00007", "m-00011"]
    assert (result.total, result.done) == (9, 4)
    assert sorted(id_list(await drain(topo.orders))) == europe
    remaining = [i for i in remaining if i not in europe]
    assert id_list(await peek_all(topo.dlq)) == remaining == ["m-00000", "m-00004", "m-00006", "m-00008", "m-00010"]

    # A limit takes the oldest letters first.
    result = await dlq.transfer("replay", Selection(limit=2), MARK, rate=FAST)
    assert result.done == 2
    assert id_list(await drain(topo.orders)) == ["m-00000", "m-00004"]
    assert id_list(await peek_all(topo.dlq)) == ["m-00006", "m-00008", "m-00010"]

    # A filter and a limit together; a selection matching nothing takes nothing.
    result = await dlq.transfer("replay", Selection(text="us", limit=1), MARK, rate=FAST)
    assert result.done == 1 and id_list(await drain(topo.orders)) == ["m-00006"]
    result = await dlq.transfer("replay", Selection(text="no such text"), MARK, rate=FAST)
    assert (result.total, result.done) == (2, 0)
    assert id_list(await peek_all(topo.dlq)) == ["m-00008", "m-00010"]


# --- 3. interruptions: the broker kills the connection; an abort ----------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc to find this process's sockets")
@pytest.mark.timeout(90)
async def test_a_connection_killed_by_the_broker_midway_loses_no_letter(dlq_topology: Topology) -> None:
    topo, total = dlq_topology, 5000
    await make_dead_letters(topo, [order(i, body=b"%d" % i) for i in range(total)])
    everyone = set(ids(total))
    dlq = store(topo, url=f"{AMQP_URL}?name={topo.prefix}-replay")

    # A probe on its own connection, opened before the snapshot so it is never taken for the replay's.
    probe = await aio_pika.connect(AMQP_URL)
    before = await tracked_connections()
    reports: list[ReplayProgress] = []
    hundreds = asyncio.Event()

    def progress(report: ReplayProgress) -> None:
        reports.append(report)
        if report.done >= 300:
            hundreds.set()

    replay = asyncio.create_task(dlq.transfer("replay", EVERYTHING, MARK, rate=FAST, progress=progress))
    try:
        waiter = asyncio.create_task(hundreds.wait())
        await asyncio.wait({waiter, replay}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        assert hundreds.is_set() and not replay.done(), f"replay never got midway: {reports[-1:]}"
        # The replay's connection: opened since `before`, by this process (never another process's connection).
        ours = own_amqp_ports()
        opened = {name for name in await tracked_connections() - before if client_port(name) in ours}
        assert len(opened) == 1, opened
        # Kill it while a window is in flight: some copies of the window routed to the origin, their letters
        # not yet acked (the origin's depth is not a whole number of windows), or after 5 s whatever the phase.
        channel = await probe.channel()
        deadline = asyncio.get_running_loop().time() + 5
        while asyncio.get_running_loop().time() < deadline and not replay.done():
            routed = (await channel.declare_queue(topo.orders, passive=True)).declaration_result.message_count
            if routed and routed % WINDOW:
                break
        done_at_kill = reports[-1].done
        await kill_connection(opened.pop(), "test: broker-side kill mid-replay")
        outcome = await asyncio.wait_for(asyncio.gather(replay, return_exceptions=True), 30)
    finally:
        if not replay.done():
            replay.cancel()
        await probe.close()
    # The failure comes through the console's error tree, after a last report of how far it got.
    (error,) = outcome
    assert isinstance(error, SourceUnavailable), repr(error)
    assert "AMQP replay stopped" in str(error)
    assert reports[-1].note.startswith("stopped: ") and done_at_kill <= reports[-1].done < total

    in_dlq, at_origin = await drain(topo.dlq), await drain(topo.orders)
    dlq_ids, origin_ids = Counter(id_list(in_dlq)), Counter(id_list(at_origin))
    assert max(dlq_ids.values()) == 1 and max(origin_ids.values()) == 1  # never two copies in one place
    assert set(dlq_ids) | set(origin_ids) == everyone  # none lost
    duplicates = set(dlq_ids) & set(origin_ids)
    assert len(duplicates) <= WINDOW, f"{len(duplicates)} letters in both places: more than one window in flight"
    # Letters go oldest first, so those in both places belong to the one window after the last confirmed one.
    assert duplicates <= set(ids(WINDOW, reports[-1].done)), sorted(duplicates)
    assert done_at_kill <= len(origin_ids) < total  # the kill came midway
    assert all(m.headers.get(REPLAY_MARK) == MARK.at for m in at_origin)
    assert not any(REPLAY_MARK in m.headers for m in in_dlq)
    print(
        f"\nkilled at {done_at_kill} replayed: {len(origin_ids)} at the origin, {len(dlq_ids)} in the DLQ, "
        f"{len(duplicates)} in both, 0 lost"
    )


async def test_an_abort_midway_returns_early_and_every_letter_is_in_one_place(dlq_topology: Topology) -> None:
    topo, total = dlq_topology, 2000
    await make_dead_letters(topo, [order(i, body=b"%d" % i) for i in range(total)])
    abort = asyncio.Event()

    def progress(report: ReplayProgress) -> None:
        if report.done >= 300:
            abort.set()

    result = await store(topo).transfer("replay", EVERYTHING, MARK, rate=FAST, abort=abort, progress=progress)
    assert result.total == total and 300 <= result.done < total and result.failed == 0
    assert result.note == "aborted"
    in_dlq, at_origin = id_list(await drain(topo.dlq)), id_list(await drain(topo.orders))
    assert len(at_origin) == result.done and len(in_dlq) == total - result.done  # nothing twice
    assert sorted(at_origin) == ids(result.done)  # the oldest went first
    assert in_dlq == ids(total - result.done, result.done)  # the rest untouched, in order


# --- 4. letters that cannot be replayed -----------------------------------------------------------------------


async def test_a_deleted_origin_exchange_or_no_x_death_is_planned_as_a_problem_and_skipped(
    dlq_topology: Topology,
) -> None:
    topo = dlq_topology
    legacy = f"{topo.prefix}.legacy"
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(legacy, aio_pika.ExchangeType.TOPIC)
        orders = await channel.get_queue(topo.orders)
        await orders.bind(exchange, "order.*")
    finally:
        await connection.close()
    await publish_confirmed([order(i) for i in range(3)], topo.events)
    await publish_confirmed([order(i) for i in range(3, 5)], legacy, "order.legacy")
    await publish_confirmed([order(i) for i in range(5, 7)], topo.events)
    await reject_all(topo.orders, 7)
    await wait_depth(topo.dlq, 7)
    # Published straight into the DLQ: no x-death, so no origin.
    raw = [order(n, message_id=f"raw-{n}") for n in (1, 2)]
    await publish_confirmed(raw, "", topo.dlq)
    await wait_depth(topo.dlq, 9)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        await (await connection.channel()).exchange_delete(legacy)
    finally:
        await connection.close()

    dlq = store(topo)
    plan = await dlq.plan("replay", EVERYTHING)
    planned = {p.message_id: p for p in plan.letters}
    assert list(planned) == ids(7) + ["raw-1", "raw-2"]
    for message_id in ("m-00003", "m-00004"):
        assert planned[message_id].destination == ""
        assert planned[message_id].problem == f"exchange {legacy} does not exist"
        assert planned[message_id].origin == topo.orders
    for message_id in ("raw-1", "raw-2"):
        assert planned[message_id].destination == "" and "origin unknown" in planned[message_id].problem
        assert planned[message_id].origin == ""
    for message_id in ("m-00000", "m-00001", "m-00002", "m-00005", "m-00006"):
        assert (planned[message_id].destination, planned[message_id].problem) == (topo.destination, "")
    assert (plan.count, plan.skipped, plan.destinations) == (5, 4, ((topo.destination, 5),))
    assert await depth(topo.dlq) == 9

    result = await dlq.transfer("replay", EVERYTHING, MARK, rate=FAST)
    assert (result.total, result.done, result.failed, result.skipped) == (9, 5, 0, 4)
    assert "does not exist" in result.note
    assert id_list(await peek_all(topo.dlq)) == ["m-00003", "m-00004", "raw-1", "raw-2"]
    assert sorted(id_list(await drain(topo.orders))) == ["m-00000", "m-00001", "m-00002", "m-00005", "m-00006"]

    # Those left can still be moved somewhere that exists.
    moved = await dlq.transfer("move", EVERYTHING, MARK, target=topo.parking, rate=FAST)
    assert (moved.done, moved.skipped) == (4, 0)
    assert id_list(await drain(topo.parking)) == ["m-00003", "m-00004", "raw-1", "raw-2"]


async def test_unroutable_letters_returned_mid_window_stay_and_the_rest_go(dlq_topology: Topology) -> None:
    topo, total = dlq_topology, 700
    # Every 7th letter's origin key is bound nowhere: the broker returns its copy (mandatory) in the middle of
    # windows of routable ones, and only those letters stay.
    bad = {n for n in range(total) if n % 7 == 3}
    await publish_confirmed(
        [dead_lettered(n, topo, "nowhere.key" if n in bad else "order.created") for n in range(total)], "", topo.dlq
    )
    await wait_depth(topo.dlq, total)
    result = await store(topo).transfer("replay", EVERYTHING, MARK, rate=FAST)
    assert (result.total, result.done, result.failed, result.skipped) == (total, total - len(bad), len(bad), 0)
    assert "key nowhere.key: returned NO_ROUTE (unroutable)" in result.note
    left = await drain(topo.dlq)
    assert id_list(left) == [f"m-{n:05d}" for n in sorted(bad)]  # exactly the returned ones, in their order
    assert not any(REPLAY_MARK in m.headers for m in left)  # the originals, untouched
    arrived = await drain(topo.orders)
    assert id_list(arrived) == [f"m-{n:05d}" for n in range(total) if n not in bad]  # queue order kept


async def test_a_narrow_selection_over_many_letters_keeps_the_rest_in_place(dlq_topology: Topology) -> None:
    # One letter in 25 selected: the others stay unacked, far more than one prefetch of them (the pump restarts
    # its consumer so they never starve it), and go back in place.
    topo, total = dlq_topology, 1500
    await make_dead_letters(topo, [order(n, body=b"%d%s" % (n, b" vip" if n % 25 == 0 else b"")) for n in range(total)])
    result = await store(topo).transfer("replay", Selection(text="vip"), MARK, rate=FAST)
    picked = [f"m-{n:05d}" for n in range(0, total, 25)]
    assert (result.total, result.done, result.failed) == (total, len(picked), 0)
    assert id_list(await drain(topo.orders)) == picked
    assert id_list(await peek_all(topo.dlq)) == [f"m-{n:05d}" for n in range(total) if n % 25]


async def test_big_letters_replay_intact_through_a_narrow_window(
    dlq_topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.adapters import dlq_rabbit_pump

    monkeypatch.setattr(dlq_rabbit_pump, "BYTES_IN_FLIGHT", 1 << 20)  # 1 MiB in flight: four 256 KiB letters
    topo = dlq_topology
    bodies = [bytes([n]) * (256 << 10) + b"%d" % n for n in range(12)] + [os.urandom(3 << 20)]  # 3 MiB: one at a time
    await publish_confirmed([dead_lettered(n, topo, body=body) for n, body in enumerate(bodies)], "", topo.dlq)
    await wait_depth(topo.dlq, len(bodies))
    result = await store(topo).transfer("replay", EVERYTHING, MARK, rate=FAST)
    assert (result.done, result.failed) == (len(bodies), 0)
    assert [m.body for m in await drain(topo.orders)] == bodies


async def test_letters_taken_by_another_consumer_end_the_replay_cleanly(dlq_topology: Topology) -> None:
    # Another consumer on the DLQ takes letters while the replay runs: the replay sees fewer than it counted,
    # asks the queue (basic.get) when deliveries stop, and ends; every letter went exactly one way.
    topo, total = dlq_topology, 600
    await make_dead_letters(topo, [order(n, body=b"%d" % n) for n in range(total)])
    connection = await aio_pika.connect(AMQP_URL)
    taken: list[str] = []
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)
        queue = await channel.declare_queue(topo.dlq, passive=True)

        async def slow(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await asyncio.sleep(0.005)
            await message.ack()
            taken.append(str(message.message_id))  # only once acked: a letter it drops goes back to the DLQ

        await queue.consume(slow)
        result = await asyncio.wait_for(store(topo).transfer("replay", EVERYTHING, MARK, rate=2000), 60)
    finally:
        await connection.close()
    replayed = id_list(await drain(topo.orders))
    left = id_list(await drain(topo.dlq))
    assert len(replayed) == result.done and result.failed == 0
    assert Counter(replayed + taken + left) == Counter(ids(total))  # each letter once, none lost


async def test_the_rate_limit_paces_the_replay(dlq_topology: Topology) -> None:
    topo = dlq_topology
    await make_dead_letters(topo, [order(n) for n in range(30)])
    started = asyncio.get_running_loop().time()
    result = await store(topo).transfer("replay", EVERYTHING, MARK, rate=100.0)
    elapsed = asyncio.get_running_loop().time() - started
    assert result.done == 30 and elapsed >= 0.29  # 30 letters at 100/s: the last one leaves at 0.29 s


async def test_an_unreachable_broker_or_a_bad_login_is_source_unavailable(dlq_topology: Topology) -> None:
    nowhere = RabbitDlq(dlq_topology.dlq, "amqp://guest:guest@127.0.0.1:1/", None, timeout=5.0)
    with pytest.raises(SourceUnavailable, match="AMQP unreachable"):
        await nowhere.transfer("replay", EVERYTHING, MARK)
    wrong = RabbitDlq(dlq_topology.dlq, "amqp://guest:hunter2-wrong@127.0.0.1:5672/", None, timeout=5.0)
    with pytest.raises(SourceUnavailable, match="AMQP unreachable.*ACCESS_REFUSED") as caught:
        await wrong.transfer("replay", EVERYTHING, MARK)
    assert "hunter2" not in str(caught.value)
    missing = RabbitDlq(f"{dlq_topology.prefix}.no-such-dlq", AMQP_URL, None, timeout=5.0)
    with pytest.raises(SourceUnavailable, match="NOT_FOUND"):
        await missing.transfer("replay", EVERYTHING, MARK)


# --- 5. move --------------------------------------------------------------------------------------------------


async def test_move_to_a_queue_is_exact_and_to_a_missing_queue_moves_nothing(dlq_topology: Topology) -> None:
    topo = dlq_topology
    await make_dead_letters(topo, [order(i) for i in range(8)])
    originals = await peek_all(topo.dlq)
    dlq = store(topo)

    plan = await dlq.plan("move", EVERYTHING, target=topo.parking)
    assert (plan.count, plan.destinations) == (8, ((f"queue {topo.parking}", 8),))
    result = await dlq.transfer("move", EVERYTHING, MARK, target=topo.parking, rate=FAST)
    assert (result.total, result.done, result.failed, result.skipped) == (8, 8, 0, 0)
    assert await depth(topo.dlq) == 0
    parked = await drain(topo.parking)
    assert id_list(parked) == id_list(originals)
    for copy, original in zip(parked, originals, strict=True):
        assert_replayed_copy(copy, original)
    assert await depth(topo.orders) == 0  # a move does not go through the origin

    # To a queue that does not exist: planned as a problem, skipped, nothing lost.
    await make_dead_letters(topo, [order(i) for i in range(8, 13)])
    before = await peek_all(topo.dlq)
    nowhere = f"{topo.prefix}.nowhere"
    plan = await dlq.plan("move", EVERYTHING, target=nowhere)
    assert plan.count == 0 and plan.skipped == 5
    assert {p.problem for p in plan.letters} == {f"queue {nowhere} does not exist"}
    result = await dlq.transfer("move", EVERYTHING, MARK, target=nowhere, rate=FAST)
    assert (result.done, result.failed, result.skipped) == (0, 0, 5)
    after = await peek_all(topo.dlq)
    assert [(m.message_id, m.body, m.headers) for m in after] == [(m.message_id, m.body, m.headers) for m in before]

    with pytest.raises(ActionRefused):
        await dlq.transfer("move", EVERYTHING, MARK, target="")
    with pytest.raises(ActionRefused):
        await dlq.transfer("delete", EVERYTHING, MARK)


# --- 6. purge with a backup, restore --------------------------------------------------------------------------


async def test_purge_then_restore_round_trip_is_exact(
    dlq_topology: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topo = dlq_topology
    ten_mb = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    messages = [
        order(0, body=b"\xff\xfe\x00\x80 not utf-8 \xc3\x28", content_type="application/octet-stream"),
        order(1, body=ten_mb, content_encoding="identity"),
        order(
            2,
            user_id="guest",
            headers={
                "x-raw": bytearray(b"\x00\x01\xfe\xff"),
                "x-nested": {"a": {"b": [1, "two", True]}},
                "x-big": 2**40,
                "x-flag": False,
                "x-list": ["one", 2],
            },
        ),
        order(3, delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT, priority=0, reply_to="elsewhere"),
        order(4, body=b""),
    ]
    await make_dead_letters(topo, messages)
    before = await peek_all(topo.dlq)
    assert len(before) == 5 and before[1].body == ten_mb

    fsynced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.isdir("/proc/self/fd") else str(fd))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    backup = tmp_path / "backups" / "dlq.ndjson"
    dlq = store(topo)
    assert await dlq.purge(backup) == 5
    monkeypatch.undo()

    assert str(backup) in fsynced or not os.path.isdir("/proc/self/fd")
    assert backup.stat().st_mode & 0o777 == 0o600
    lines = backup.read_text(encoding="ascii").splitlines()
    assert len(lines) == 5
    assert [json.loads(line)["properties"]["message_id"] for line in lines] == ids(5)
    assert all(json.loads(line)["kind"] == "rabbitmq" and json.loads(line)["dlq"] == topo.dlq for line in lines)
    assert await depth(topo.dlq) == 0
    with pytest.raises(ActionRefused, match="exists already"):  # a backup is never overwritten
        await dlq.purge(backup)

    records = read_ndjson(backup)
    assert await dlq.restore(records) == 5
    after = await peek_all(topo.dlq)

    assert [m.body for m in after] == [m.body for m in before]
    for restored, original in zip(after, before, strict=True):
        assert restored.properties == original.properties, original.message_id
        assert set(restored.properties) == set(PROPERTY_NAMES)
        assert restored.headers == original.headers, original.message_id
        (death,) = restored.headers["x-death"]
        assert isinstance(death["time"], datetime) and death["time"] == original.headers["x-death"][0]["time"]
        assert death["routing-keys"] == ["order.created"]
        assert isinstance(death["count"], int) and not isinstance(death["count"], bool) and death["count"] == 1
        assert (death["queue"], death["reason"], death["exchange"]) == (topo.orders, "rejected", topo.events)
        if "x-trace" in original.headers:
            assert isinstance(restored.headers["x-trace"], bytes | bytearray)
        assert REPLAY_MARK not in restored.headers
    assert after[2].properties["user_id"] == "guest"
    assert after[2].headers["x-raw"] == b"\x00\x01\xfe\xff" and isinstance(after[2].headers["x-raw"], bytearray)
    assert after[2].headers["x-nested"] == {"a": {"b": [1, "two", True]}}
    assert (after[2].headers["x-big"], after[2].headers["x-flag"]) == (2**40, False)
    assert after[1].properties["content_encoding"] == "identity" and after[3].properties["delivery_mode"] == 1
    assert after[0].properties["timestamp"] == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)

    # The restored letters are dead letters like before: a replay still finds their origin.
    result = await dlq.transfer("replay", Selection(refs=frozenset({"m-00003"})), MARK, rate=FAST)
    assert result.done == 1
    (copy,) = await drain(topo.orders)
    assert_replayed_copy(copy, before[3])


# --- 7. hostile payloads --------------------------------------------------------------------------------------


async def test_hostile_payloads_browse_capped_in_one_request_and_render_without_escapes(
    dlq_topology: Topology, api: ManagementApi
) -> None:
    topo = dlq_topology
    huge = b"\x1b[2J" + b"B" * (10 * 1024 * 1024 - 4)
    bodies = {
        "esc": b"\x1b]0;pwned\x07\x1b[2Jscreen cleared",
        "markup": b"[bold red]x[/] not markup [link=http://evil]click[/link]",
        "binary": b"\xff\xfe\x00\x80\x1b[31m bad utf-8 \xc3\x28",
        "huge": huge,
    }
    messages = [
        order(
            n, body=body, message_id=f"hostile-{name}", content_type="text/plain", headers={"x-note": "\x1b[2J[b]h[/b]"}
        )
        for n, (name, body) in enumerate(bodies.items())
    ]
    await make_dead_letters(topo, messages)

    requests: list[httpx.Request] = []
    responses: list[httpx.Response] = []

    async def on_request(request: httpx.Request) -> None:
        requests.append(request)

    async def on_response(response: httpx.Response) -> None:
        responses.append(response)

    api._client.event_hooks = {"request": [on_request], "response": [on_response]}
    dlq = store(topo, api)

    async def page() -> Any:
        requests.clear()
        responses.clear()
        return await dlq.page(0, 50, EVERYTHING)

    listed = await until(page, lambda got: got.total == 4 and len(got.letters) == 4)
    peeks = [r for r in requests if r.url.path.endswith("/get")]
    assert len(peeks) == 1 and peeks[0].method == "POST", [str(r.url) for r in requests]
    (peek_response,) = [r for r in responses if r.request is peeks[0]]
    assert peek_response.num_bytes_downloaded < 1024 * 1024  # the 10 MB body never crossed the wire

    letters = {letter.message_id: letter for letter in listed.letters}
    big = letters["hostile-huge"]
    assert (big.size, big.truncated, len(big.body)) == (len(huge), True, DEAD_LETTER_BODY_CAP)
    assert big.body == huge[:DEAD_LETTER_BODY_CAP]
    for name in ("esc", "markup", "binary"):
        letter = letters[f"hostile-{name}"]
        assert (letter.body, letter.size, letter.truncated) == (bodies[name], len(bodies[name]), False)

    for name, letter in letters.items():
        for renderable in (body_renderable(letter), hex_preview(letter.body)):
            text = rendered(renderable)
            assert "\x1b" not in text and "\x07" not in text, name
    assert "[bold red]x[/]" in rendered(body_renderable(letters["hostile-markup"]))
    assert "[link=http://evil]click[/link]" in rendered(body_renderable(letters["hostile-markup"]))
    assert "pwned" in rendered(body_renderable(letters["hostile-esc"]))
    assert "ff fe 00 80" in rendered(body_renderable(letters["hostile-binary"]))
    assert "more bytes" in rendered(hex_preview(big.body))

    # The whole detail view (properties, headers with escapes in them, x-death, body) stays clean too.
    from console.screens.letter_detail import LetterDetailScreen

    for letter in letters.values():
        for part in LetterDetailScreen(letter).body():
            assert "\x1b" not in rendered(part)
    assert await depth(topo.dlq) == 4


# --- 8. the DLQ action spec, end to end -------------------------------------------------------------------------


def settings_for(tmp_path: Path, dlq: str, confirm_above: int = 3, management: bool = False) -> Any:
    """Settings from a TOML file; without `management` the store counts through AMQP (exact at once)."""
    path = tmp_path / "config.toml"
    api_line = f'management_url = "http://guest:guest@{MANAGEMENT_URL.split("://")[1]}"' if management else ""
    path.write_text(
        f"""
[env.t]
label = "test"

[env.t.rabbitmq]
{api_line}
amqp_url = "{AMQP_URL}"

[env.t.dlq]
rabbitmq = ["{dlq}"]
discover = false
confirm_above = {confirm_above}
replay_rate = 100000
timeout = 10
""",
        encoding="utf-8",
    )
    return load_settings(str(path), environ={})


def journal(audit: AuditLog, action: str | None = None) -> list[dict[str, Any]]:
    return [r for r in audit.records() if action is None or r["action"] == action]


async def test_dlq_actions_refuse_read_only_confirm_by_blast_radius_and_journal_counts(
    dlq_topology: Topology, tmp_path: Path
) -> None:
    topo = dlq_topology
    settings = settings_for(tmp_path, topo.dlq)
    assert settings.dlq is not None and settings.dlq.confirm_above == 3
    audit = AuditLog(tmp_path / "audit.jsonl")
    catalog = StoreCatalog(settings)
    try:
        dlq = catalog.get("rabbitmq", topo.dlq)
        assert isinstance(dlq, RabbitDlq) and dlq.api is None  # the store the console builds from this config
        await make_dead_letters(topo, [order(i) for i in range(6)])
        await until(lambda: dlq.info(0), lambda info: info.count == 6)

        # Read-only: every write is refused, journaled, and nothing changes.
        write = WriteMode()
        backup = tmp_path / "purge.ndjson"
        for verb, target in (("replay", ""), ("move", topo.parking), ("purge", str(backup))):
            action = DlqAction(settings, dlq, verb, audit, target=target)
            await action.dry_run()
            with pytest.raises(ActionRefused, match="read-only"):
                await action.execute(write, given=topo.dlq, yes=True)
            outcomes = [(r["outcome"], r["counts"]) for r in journal(audit, f"dlq-{verb}")]
            assert outcomes == [("dry-run", {"before": 6, "affected": 6}), ("refused", {})]
            assert "read-only" in journal(audit, f"dlq-{verb}")[-1]["detail"]
        assert not backup.exists() and await depth(topo.dlq) == 6 and await depth(topo.parking) == 0

        # Write mode on: more than confirm_above letters needs the typed name or count.
        write.enable("INC-1234 consumer fixed", 5)
        replay = DlqAction(settings, dlq, "replay", audit)
        plan = await replay.dry_run()
        assert (plan.confirmation.level, plan.confirmation.text, plan.confirmation.also) == ("typed", topo.dlq, "6")
        assert plan.before == 6 and plan.plan.count == 6
        assert f"replay 6 of 6 letters to their origin: 6 → {topo.destination}" == plan.summary
        for given, yes in ((None, True), ("5", True), ("y", False)):
            with pytest.raises(ActionRefused, match="confirmation required"):
                await replay.execute(write, given=given, yes=yes)
        assert await depth(topo.dlq) == 6
        progress: list[ReplayProgress] = []
        result = await replay.execute(write, given="6", on_progress=progress.append)
        assert (result["replayed"], result["failed"], result["skipped"]) == (6, 0, 0)
        assert result["before"] == 6 and result["after"] == 0
        assert progress[-1].done == 6 and replay.progress == progress[-1]
        assert await depth(topo.dlq) == 0 and len(await consume(topo.orders, 6)) == 6

        records = journal(audit, "dlq-replay")
        assert [r["outcome"] for r in records] == [
            "dry-run",
            "refused",
            "dry-run",
            "refused",
            "refused",
            "refused",
            "started",
            "done",
        ]
        started, done = records[-2:]
        assert started["counts"] == {"before": 6} and started["reason"] == "INC-1234 consumer fixed"
        assert done["counts"]["replayed"] == 6 and (done["counts"]["before"], done["counts"]["after"]) == (6, 0)
        assert done["target"] == f"rabbitmq:{topo.dlq}" and done["environment"] == "t"
        assert done["parameters"]["selection"] == "all"

        # Up to confirm_above letters: one key (--yes) is enough.
        await make_dead_letters(topo, [order(i) for i in range(6, 10)])
        await until(lambda: dlq.info(0), lambda info: info.count == 4)
        move = DlqAction(
            settings,
            dlq,
            "move",
            audit,
            selection=Selection(refs=frozenset({"m-00007", "m-00009"})),
            target=topo.parking,
        )
        plan = await move.dry_run()
        assert plan.confirmation.level == "key" and plan.plan.count == 2
        result = await move.execute(write, yes=True)
        assert (result["moved"], result["before"], result["after"]) == (2, 4, 2)
        assert id_list(await drain(topo.parking)) == ["m-00007", "m-00009"]

        # A purge always needs the typed name, writes the backup, and the journal says where.
        purge = DlqAction(settings, dlq, "purge", audit, target=str(tmp_path / "purged.ndjson"))
        plan = await purge.dry_run()
        assert plan.confirmation.level == "typed"
        with pytest.raises(ActionRefused, match="confirmation required"):
            await purge.execute(write, yes=True)
        result = await purge.execute(write, given=topo.dlq)
        assert (result["purged"], result["before"], result["after"]) == (2, 2, 0)
        assert len(read_ndjson(Path(result["backup"]))) == 2
        done = journal(audit, "dlq-purge")[-1]
        assert done["outcome"] == "done" and done["counts"]["backup"] == str(tmp_path / "purged.ndjson")
        assert all(r["environment"] == "t" for r in journal(audit))
    finally:
        await catalog.aclose()


async def test_with_the_management_api_the_journal_after_count_is_current(
    dlq_topology: Topology, tmp_path: Path
) -> None:
    topo = dlq_topology
    settings = settings_for(tmp_path, topo.dlq, confirm_above=10, management=True)
    audit = AuditLog(tmp_path / "audit.jsonl")
    catalog = StoreCatalog(settings)
    try:
        dlq = catalog.get("rabbitmq", topo.dlq)
        assert isinstance(dlq, RabbitDlq) and dlq.api is not None
        await make_dead_letters(topo, [order(i) for i in range(4)])
        await until(lambda: dlq.info(0), lambda info: info.count == 4)
        write = WriteMode()
        write.enable("INC-1", 5)
        replay = DlqAction(settings, dlq, "replay", audit)
        await replay.dry_run()
        result = await replay.execute(write, yes=True)
        assert result["replayed"] == 4 and await depth(topo.dlq) == 0
        assert journal(audit, "dlq-replay")[-1]["counts"]["after"] == 0
    finally:
        await catalog.aclose()


async def test_the_pane_source_counts_first_and_peeks_a_breakdown_from_the_next_poll(
    dlq_topology: Topology, api: ManagementApi, tmp_path: Path
) -> None:
    """Start-up waits for every source's first reading: a RabbitMQ DLQ's first one is its depth alone (no
    AMQP peek); the origin / reason breakdown comes with the next poll and is kept between peeks."""
    from console.dlq_source import DlqSource

    topo = dlq_topology
    await make_dead_letters(topo, [order(i) for i in range(3)])
    await wait_depth(topo.dlq, 3)
    await until(lambda: api.queue(topo.dlq), lambda queue: queue.depth == 3)  # the API's figures lag
    source = DlqSource(settings_for(tmp_path, topo.dlq, management=True))
    try:
        first = await source.poll()
        assert first.dlqs[0].count == 3 and first.dlqs[0].sampled == 0 and not first.dlqs[0].by_origin
        second = await source.poll()
        assert second.dlqs[0].sampled == 3 and second.dlqs[0].by_origin
        third = await source.poll()  # within sample_every: no peek, the last breakdown is carried over
        assert third.dlqs[0].by_origin == second.dlqs[0].by_origin
    finally:
        await source.aclose()
    assert await depth(topo.dlq) == 3  # peeks requeue


async def test_both_discoveries_failing_are_named_in_a_fixed_order_and_the_configured_dlqs_stay(
    tmp_path: Path,
) -> None:
    """RabbitMQ and BullMQ are asked at once; when neither answers, each problem is named (RabbitMQ first,
    whichever failed first) and the DLQs named in the config are still listed."""
    import socket

    with socket.socket() as spare:  # a port nothing listens on
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[env.t]
[env.t.rabbitmq]
management_url = "http://guest:guest@127.0.0.1:{port}"
amqp_url = "amqp://guest:guest@127.0.0.1:{port}/"
timeout = 1
[env.t.bullmq]
redis_url = "redis://127.0.0.1:{port}/0"
timeout = 1
[env.t.dlq]
rabbitmq = ["configured.dlq"]
timeout = 1
""",
        encoding="utf-8",
    )
    catalog = StoreCatalog(load_settings(str(path), environ={}))
    try:
        stores = await catalog.refresh()
    finally:
        await catalog.aclose()
    assert [(s.kind, s.name) for s in stores] == [("rabbitmq", "configured.dlq")]
    assert [p.split(":")[0] for p in catalog.problems] == ["rabbitmq discovery", "bullmq discovery"]
