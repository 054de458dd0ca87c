"""RabbitMQ queues against the real broker: depths, consumers and unacked counts as published and consumed,
1,000 queues in one small management-API request, the dead-letter exchange argument, the AMQP passive-declare
fallback and the failures (API down, broker down, wrong credentials); plus the Board's queue verdicts.

Every broker test runs under its own queue prefix; `rabbit_prefix` deletes its queues at teardown.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from console.adapters.rabbitmq import COLUMNS, ManagementApi, parse_queues
from console.board import GROWING_WARN, Board, queue_row
from console.collector import Collector
from console.config import RabbitConfig
from console.errors import BadResponse, SourceError, SourceUnavailable
from console.model import QueueInfo, QueueSnapshot, Reading, SourceMode, Status
from console.sources import RabbitSource
from tests.fixtures.net import free_port
from tests.fixtures.rabbit import (
    AMQP_URL,
    MANAGEMENT_AUTH,
    MANAGEMENT_URL,
    declare_queues,
    hold_unacked,
    publish,
    rabbit_prefix_fixture,  # noqa: F401 - the `rabbit_prefix` fixture
    until,
)

pytestmark = pytest.mark.timeout(180)


async def _mine(api: ManagementApi, prefix: str) -> dict[str, QueueInfo]:
    return {q.name: q for q in await api.queues() if q.name.startswith(prefix)}


def _figures(queue: QueueInfo | None) -> tuple[Any, ...] | None:
    return None if queue is None else (queue.depth, queue.ready, queue.in_flight, queue.consumers)


# --- Management API against the real broker -----------------------------------------------------------


async def test_depths_and_consumers_match_what_was_published_and_consumed(rabbit_prefix: str) -> None:
    idle, busy = f"{rabbit_prefix}.q1", f"{rabbit_prefix}.q2"
    await publish(idle, 30)
    await publish(busy, 10)
    api = ManagementApi(MANAGEMENT_URL)
    try:
        async with hold_unacked(busy, prefetch=5) as consumer:
            await consumer.wait_for(5)
            expected = {idle: (30, 30, 0, 0), busy: (10, 5, 5, 1)}  # depth, ready, in_flight, consumers

            async def figures() -> dict[str, Any]:
                mine = await _mine(api, rabbit_prefix)
                return {name: _figures(mine.get(name)) for name in expected}

            await until(figures, lambda seen: seen == expected)
            mine = await _mine(api, rabbit_prefix)
            assert len(consumer.delivered) == 5  # prefetch caps what a non-acking consumer holds
    finally:
        await api.aclose()
    q1, q2 = mine[idle], mine[busy]
    assert (q1.depth, q1.consumers, q1.ready, q1.in_flight) == (30, 0, 30, 0)
    assert (q2.in_flight, q2.ready, q2.consumers, q2.depth) == (5, 5, 1, 10)
    assert q1.kind == q2.kind == "rabbitmq"


async def test_a_thousand_queues_come_back_in_one_small_request(rabbit_prefix: str) -> None:
    names = {f"{rabbit_prefix}.q{n:04d}" for n in range(1000)}
    declare_seconds = await declare_queues(names)
    requests: list[httpx.Request] = []
    responses: list[httpx.Response] = []

    async def on_request(request: httpx.Request) -> None:
        requests.append(request)

    async def on_response(response: httpx.Response) -> None:
        responses.append(response)

    api = ManagementApi(MANAGEMENT_URL)
    api._client.event_hooks = {"request": [on_request], "response": [on_response]}
    timings: list[float] = []

    async def one_round() -> dict[str, QueueInfo]:
        requests.clear()
        responses.clear()
        started = time.perf_counter()
        mine = await _mine(api, rabbit_prefix)
        timings.append(time.perf_counter() - started)
        assert len(requests) == 1, f"one round must be one HTTP request, saw {len(requests)}"
        return mine

    try:
        mine = await until(one_round, lambda seen: len(seen) == 1000)
    finally:
        await api.aclose()
    assert set(mine) == names
    (request,), (response,) = requests, responses
    assert request.method == "GET" and request.url.params.get("columns") == COLUMNS
    # The adapter streams the body under a size cap, so the hook's response is never buffered: count what was
    # read. The management API answers with identity encoding, so that is the JSON's size too.
    size = wire = response.num_bytes_downloaded
    assert size < 400 * 1024, f"columns= should keep 1,000 queues small, got {size} bytes"

    async with httpx.AsyncClient(auth=MANAGEMENT_AUTH, trust_env=False, timeout=30) as client:
        full = await client.get(f"{MANAGEMENT_URL}/api/queues/%2F")
    full_mine = [q for q in full.json() if q["name"].startswith(rabbit_prefix)]
    assert len(full_mine) == 1000
    assert size < len(full.content)
    print(
        f"\n1,000 queues: declared in {declare_seconds:.2f}s over one channel; listed in 1 request of "
        f"{size / 1024:.1f} KiB JSON ({wire / 1024:.1f} KiB on the wire, "
        f"content-encoding={response.headers.get('content-encoding', 'identity')}) in {timings[-1] * 1000:.0f} ms; "
        f"without columns= the same listing is {len(full.content) / 1024:.1f} KiB"
    )


async def test_the_dead_letter_exchange_argument_is_parsed(rabbit_prefix: str) -> None:
    dead, plain = f"{rabbit_prefix}.with-dlx", f"{rabbit_prefix}.plain"
    await declare_queues(
        [dead], arguments={"x-dead-letter-exchange": f"{rabbit_prefix}.dlx", "x-dead-letter-routing-key": "dead"}
    )
    await declare_queues([plain])
    api = ManagementApi(MANAGEMENT_URL)
    try:
        mine = await until(lambda: _mine(api, rabbit_prefix), lambda seen: {dead, plain} <= set(seen))
    finally:
        await api.aclose()
    assert mine[dead].dead_letter_exchange == f"{rabbit_prefix}.dlx"
    assert mine[plain].dead_letter_exchange == ""


# --- Fallback and failures ------------------------------------------------------------------------------


async def test_management_api_down_falls_back_to_passive_declares(rabbit_prefix: str) -> None:
    orders, held = f"{rabbit_prefix}.orders", f"{rabbit_prefix}.held"
    missing, also_missing = f"{rabbit_prefix}.missing", f"{rabbit_prefix}.gone"
    await publish(orders, 7)
    await publish(held, 10)
    config = RabbitConfig(
        management_url=f"http://guest:guest@127.0.0.1:{free_port()}",
        amqp_url=AMQP_URL,
        # A missing queue first and between: its 404 closes only its channel, the next queue is still read.
        queues=(missing, orders, also_missing, held),
        timeout=2.0,
    )
    source = RabbitSource(config)
    try:
        async with hold_unacked(held, prefetch=5) as consumer:
            await consumer.wait_for(5)
            snapshot = await source.poll()
    finally:
        await source.aclose()
    assert isinstance(snapshot, QueueSnapshot)
    assert "AMQP passive declare" in snapshot.source
    assert "management API" in snapshot.note
    assert "missing:" in snapshot.note and missing in snapshot.note and also_missing in snapshot.note
    assert orders not in snapshot.note and held not in snapshot.note
    read = {q.name: q for q in snapshot.queues}
    assert set(read) == {orders, held}
    assert (read[orders].depth, read[orders].ready, read[orders].consumers) == (7, 7, 0)
    # A passive declare reports ready messages and consumers only; unacked is unknown through AMQP.
    assert (read[held].ready, read[held].consumers, read[held].in_flight) == (5, 1, None)


async def test_management_api_down_without_a_fallback_raises_a_source_error() -> None:
    for config in (
        RabbitConfig(management_url=f"http://127.0.0.1:{free_port()}", timeout=1.0),
        # amqp_url alone is no fallback: passive declares need the queue names.
        RabbitConfig(management_url=f"http://127.0.0.1:{free_port()}", amqp_url=AMQP_URL, timeout=1.0),
    ):
        source = RabbitSource(config)
        try:
            with pytest.raises(SourceError) as caught:
                await source.poll()
        finally:
            await source.aclose()
        assert isinstance(caught.value, SourceUnavailable), repr(caught.value)
        assert "management API" in str(caught.value)


async def test_broker_unreachable_over_amqp_too_is_unavailable_without_the_password() -> None:
    secret = "Sup3r-s3cret-pw"
    config = RabbitConfig(
        management_url=f"http://ops:{secret}@127.0.0.1:{free_port()}",
        amqp_url=f"amqp://ops:{secret}@127.0.0.1:{free_port()}/",
        queues=("orders",),
        timeout=1.0,
    )
    source = RabbitSource(config)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.poll()
    finally:
        await source.aclose()
    assert "AMQP" in str(caught.value)
    assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_wrong_management_credentials_say_authentication_failed(rabbit_prefix: str) -> None:
    secret = "definitely-wrong-pw"
    wrong = f"http://guest:{secret}@127.0.0.1:15672"
    source = RabbitSource(RabbitConfig(management_url=wrong, timeout=3.0))
    try:
        with pytest.raises(SourceUnavailable, match="authentication failed") as caught:
            await source.poll()
    finally:
        await source.aclose()
    assert secret not in str(caught.value)

    # With the AMQP fallback configured, the reason travels in the note instead.
    await publish(f"{rabbit_prefix}.jobs", 2)
    fallback = RabbitSource(
        RabbitConfig(management_url=wrong, amqp_url=AMQP_URL, queues=(f"{rabbit_prefix}.jobs",), timeout=3.0)
    )
    try:
        snapshot = await fallback.poll()
    finally:
        await fallback.aclose()
    assert "AMQP passive declare" in snapshot.source and "authentication failed" in snapshot.note
    assert [(q.name, q.depth) for q in snapshot.queues] == [(f"{rabbit_prefix}.jobs", 2)]


# --- parse_queues on what a broken or hostile API might send --------------------------------------------


@pytest.mark.parametrize("payload", [None, {"not": "a list"}, "queues", 42, 1.5, True, b"[]"])
def test_parse_queues_rejects_a_payload_that_is_not_a_list(payload: Any) -> None:
    with pytest.raises(BadResponse):
        parse_queues(payload)


def test_parse_queues_skips_and_tolerates_malformed_items() -> None:
    queues = parse_queues(
        [
            None,
            "junk",
            7,
            ["name", "x"],
            {},
            {"nameless": 1},
            {"name": None},
            {"name": 12},
            {"name": ["a"]},
            {"name": "strings", "messages_ready": "7", "messages_unacknowledged": "2", "consumers": "3"},
            {"name": "bools", "messages_ready": True, "messages_unacknowledged": False, "consumers": True},
            {"name": "floats", "messages_ready": 4.0, "messages_unacknowledged": 1.9, "consumers": 2.0},
            {"name": "not-finite", "messages_ready": float("nan"), "messages_unacknowledged": float("inf")},
            {"name": "minus-inf", "consumers": float("-inf")},
            {"name": "args-list", "messages_ready": 3, "messages_unacknowledged": 2, "arguments": []},
            {"name": "args-str", "arguments": "x-dead-letter-exchange=dlx"},
            {"name": "dlx-none", "arguments": {"x-dead-letter-exchange": None}},
            {"name": "dlx-number", "arguments": {"x-dead-letter-exchange": 5}},
            {"name": "stats-list", "message_stats": []},
            {"name": "stats-str", "message_stats": "fast"},
            {"name": "details-number", "message_stats": {"publish_details": 3, "deliver_get_details": None}},
            {"name": "rate-str", "message_stats": {"publish_details": {"rate": "1.5"}}},
            {"name": "rate-bool", "message_stats": {"publish_details": {"rate": True}}},
            {"name": "rate-nan", "message_stats": {"publish_details": {"rate": float("nan")}}},
            {
                "name": "good",
                "messages_ready": 4,
                "messages_unacknowledged": 1,
                "consumers": 2,
                "arguments": {"x-dead-letter-exchange": "dlx"},
                "message_stats": {"publish_details": {"rate": 2.5}, "deliver_get_details": {"rate": 1}},
            },
            {"name": "\x1b]52;c;evil\x07" + "n" * 1000},
        ]
    )
    by_name = {q.name: q for q in queues}
    assert len(queues) == 17  # everything with a string name, nothing else
    for queue in queues:
        assert isinstance(queue.depth, int) and queue.depth >= 0
        assert isinstance(queue.consumers, int)
        assert isinstance(queue.dead_letter_exchange, str)
        assert queue.publish_rate is None or math.isfinite(queue.publish_rate)
        assert "\x1b" not in queue.name and len(queue.name) <= 200
    assert _figures(by_name["strings"]) == (0, 0, 0, 0)
    assert _figures(by_name["bools"]) == (0, 0, 0, 0)
    assert _figures(by_name["floats"]) == (5, 4, 1, 2)
    assert _figures(by_name["not-finite"]) == (0, 0, 0, 0)
    assert by_name["minus-inf"].consumers == 0
    assert by_name["args-list"].depth == 5 and by_name["args-list"].dead_letter_exchange == ""
    assert by_name["args-str"].dead_letter_exchange == ""
    assert by_name["dlx-none"].dead_letter_exchange == ""
    assert by_name["rate-str"].publish_rate is None
    assert by_name["rate-bool"].publish_rate is None
    assert by_name["rate-nan"].publish_rate is None
    good = by_name["good"]
    assert (good.depth, good.ready, good.in_flight, good.consumers) == (5, 4, 1, 2)
    assert (good.dead_letter_exchange, good.publish_rate, good.deliver_rate) == ("dlx", 2.5, 1.0)
    assert parse_queues([]) == ()


def test_parse_queues_reuses_unchanged_queues_between_ticks() -> None:
    def item(name: str, ready: int, **extra: Any) -> dict[str, Any]:
        return {"name": name, "messages_ready": ready, "messages_unacknowledged": 1, "consumers": 2, **extra}

    reuse: dict[Any, QueueInfo] = {}
    dlx = {"arguments": {"x-dead-letter-exchange": "dlx\x1b[2J"}}
    first = parse_queues([item("idle", 0, **dlx), item("busy", 5), item("gone", 1)], reuse)
    second = parse_queues([item("idle", 0, **dlx), item("busy", 6), item("new\x1b]0;x\x07", 1)], reuse)
    assert second[0] is first[0]  # nothing changed: the same frozen object
    assert second[0].dead_letter_exchange == "dlx\\x1b[2J"  # cleaned once, still cleaned
    assert second[1] is not first[1] and (second[1].depth, second[1].ready) == (7, 6)
    assert second[2].name == "new\\x1b]0;x\\x07"
    assert len(reuse) == 3  # this tick's queues only: "gone" is forgotten
    assert second == parse_queues([item("idle", 0, **dlx), item("busy", 6), item("new\x1b]0;x\x07", 1)])


# --- Board verdicts from synthetic history --------------------------------------------------------------


def _q(name: str, depth: int, consumers: int | None = 1, paused: bool = False) -> QueueInfo:
    return QueueInfo(kind="rabbitmq", name=name, depth=depth, consumers=consumers, ready=depth, paused=paused)


def test_growth_per_minute_comes_from_the_last_minute_of_history() -> None:
    # Points older than the 60 s window are ignored: growth is measured from t=100 to t=160.
    row = queue_row(_q("a", 560), ((0.0, 0), (100.0, 500), (130.0, 530), (160.0, 560)))
    assert row.growth_per_minute == pytest.approx(60.0)
    row = queue_row(_q("b", 40), ((0.0, 100), (30.0, 70), (60.0, 40)))
    assert row.growth_per_minute == pytest.approx(-60.0)
    # Two points further apart than the window still give a figure (the two newest).
    assert queue_row(_q("c", 20), ((0.0, 80), (120.0, 20))).growth_per_minute == pytest.approx(-30.0)
    # One point (or none): no growth yet, and no drain estimate while there is a consumer.
    single = queue_row(_q("d", 10), ((0.0, 10),))
    assert single.growth_per_minute is None and single.drain_seconds is None
    assert queue_row(_q("e", 10), ()).growth_per_minute is None
    assert queue_row(_q("f", 7), tuple((float(t), t) for t in range(50))).history == tuple(range(20, 50))


def test_drain_eta_finite_when_shrinking_never_when_growing_or_unconsumed_zero_when_empty() -> None:
    shrinking = queue_row(_q("s", 480, consumers=2), ((0.0, 600), (60.0, 480)))
    assert shrinking.growth_per_minute == pytest.approx(-120.0)
    assert shrinking.drain_seconds == pytest.approx(240.0)  # 480 at 2/s
    assert shrinking.status is Status.OK and shrinking.reasons == ()
    growing = queue_row(_q("g", 50, consumers=3), ((0.0, 20), (30.0, 50)))
    assert growing.drain_seconds == math.inf
    flat = queue_row(_q("f", 50, consumers=3), ((0.0, 50), (30.0, 50)))
    assert flat.drain_seconds == math.inf
    unconsumed = queue_row(_q("u", 500, consumers=0), ((0.0, 900), (60.0, 500)))  # shrinking (e.g. TTL), no consumer
    assert unconsumed.drain_seconds == math.inf
    assert queue_row(_q("u1", 5, consumers=0), ()).drain_seconds == math.inf
    assert queue_row(_q("empty", 0, consumers=0), ((0.0, 10), (30.0, 0))).drain_seconds == 0.0
    assert queue_row(_q("empty1", 0, consumers=None), ()).drain_seconds == 0.0


def test_queue_statuses() -> None:
    crit = queue_row(_q("c", 3, consumers=0), ())
    assert crit.status is Status.CRIT and crit.reasons == ("backlog with no consumers",)
    idle_empty = queue_row(_q("e", 0, consumers=0), ())
    assert idle_empty.status is Status.OK and idle_empty.reasons == ()
    paused = queue_row(_q("p", 3, consumers=1, paused=True), ())
    assert paused.status is Status.WARN and paused.reasons == ("paused",)
    points = ((0.0, GROWING_WARN), (60.0, GROWING_WARN + 90))
    growing = queue_row(_q("g", GROWING_WARN + 90), points)
    assert growing.status is Status.WARN and growing.reasons == ("growing 90/min",)
    small = queue_row(_q("s", GROWING_WARN), ((0.0, 10), (60.0, GROWING_WARN)))
    assert small.growth_per_minute and small.growth_per_minute > 0
    assert small.status is Status.OK  # growing, but not above the threshold
    both = queue_row(_q("b", GROWING_WARN + 90, consumers=0, paused=True), points)
    assert both.status is Status.CRIT
    assert both.reasons == ("backlog with no consumers", "paused", "growing 90/min")
    unknown_consumers = queue_row(_q("n", 5, consumers=None), ())
    assert unknown_consumers.status is Status.OK  # None is "unknown", not "no consumers"


def _reading(at: datetime, *queues: QueueInfo, source: str = "queues:rabbitmq") -> Reading:
    return Reading(source=source, kind="queues", at=at, value=QueueSnapshot("rabbitmq (management API)", queues))


def test_board_queue_rows_worst_first_then_deepest() -> None:
    board = Board()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    first = (
        _q("ok-deep", 90),
        _q("ok-shallow", 5),
        _q("crit-small", 2, 0),
        _q("crit-big", 40, 0),
        _q("paused", 1, paused=True),
        _q("growing", 150),
    )
    board.apply(_reading(t0, *first))
    later = first[:5] + (_q("growing", 300),)
    board.apply(_reading(t0 + timedelta(seconds=60), *later))
    board.apply(_reading(t0, _q("other-source", 1000), source="queues:bullmq"))
    rows = board.queue_rows()
    assert [r.queue.name for r in rows] == [
        "crit-big",
        "crit-small",
        "growing",
        "paused",
        "other-source",
        "ok-deep",
        "ok-shallow",
    ]
    assert [r.status for r in rows] == [Status.CRIT] * 2 + [Status.WARN] * 2 + [Status.OK] * 3
    growing = rows[2]
    assert growing.growth_per_minute == pytest.approx(150.0) and growing.history == (150, 300)
    # A failed poll (the collector hands the last good snapshot on, marked stale) adds no history point.
    last = board.readings["queues:rabbitmq"].value
    board.apply(Reading("queues:rabbitmq", "queues", t0 + timedelta(seconds=90), value=last, error="down", stale=True))
    assert board.queue_rows() == rows


# --- Collector + RabbitSource + Board, end to end -------------------------------------------------------


async def test_a_reading_from_the_real_broker_becomes_the_expected_board_row(rabbit_prefix: str) -> None:
    backlog, served = f"{rabbit_prefix}.backlog", f"{rabbit_prefix}.served"
    await publish(backlog, 12)
    await publish(served, 3)
    board = Board()
    source = RabbitSource(RabbitConfig(management_url=f"http://guest:guest@{MANAGEMENT_URL.split('://')[1]}"))
    collector = Collector([source], board.apply)
    try:
        async with hold_unacked(served, prefetch=10) as consumer:
            await consumer.wait_for(3)

            async def rows() -> list[Any]:
                reading = await collector.poll_once(source.name)
                assert reading.error is None, reading.error
                return [r for r in board.queue_rows() if r.queue.name.startswith(rabbit_prefix)]

            def settled(mine: list[Any]) -> bool:
                figures = {r.queue.name: _figures(r.queue) for r in mine}
                return figures == {backlog: (12, 12, 0, 0), served: (3, 0, 3, 1)}

            mine = await until(rows, settled)
    finally:
        await collector.stop()  # closes the source's HTTP client
    assert board.pane_state("queues").mode is SourceMode.LIVE
    assert board.readings[source.name].value.source == "rabbitmq (management API)"
    assert [r.queue.name for r in mine] == [backlog, served]  # CRIT first
    crit, ok = mine
    assert crit.status is Status.CRIT and crit.reasons == ("backlog with no consumers",)
    assert crit.drain_seconds == math.inf
    assert ok.status is Status.OK and ok.reasons == ()
    assert crit.history[-1] == 12 and ok.history[-1] == 3
