"""Redis list DLQs of seed-event-bus events against a real, private `redis-server`: browsing and filters, the
breakdown, plans, replay to a channel (a real subscriber) and to a list, LMOVE moves, abort, export, purge with
a backup and restore, concurrent pushes during a purge, and odd elements (binary, escapes, 10 MB).

Every server is a `PrivateRedis` on its own port (the shared 127.0.0.1:6379 is never used) and every list key
is unique; skipped, with the reason, when `redis-server` is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from console.adapters import dlq_redis
from console.adapters.dlq_base import Mark, Selection, read_ndjson
from console.adapters.dlq_redis import RedisListDlq, element_of, parse_event, reason_of, route
from console.config_dlq import RedisDlqConfig
from console.errors import ActionRefused, BadResponse, SourceUnavailable
from console.model import DEAD_LETTER_BODY_CAP, ReplayProgress
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)

pytestmark = requires_redis_server

FAILED_AT = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)  # fixed, so event(n) is the same bytes every time
MARK = Mark(at="2024-05-01T12:00:00.000Z", by="alice@bastion")
EVERYTHING = Selection()
ODD = (
    b"\xff\xfe\x00binary \x80\x81",  # not UTF-8
    b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred",  # terminal escapes
    b"plain text, not JSON",
    b"[1, 2, 3]",  # JSON, not an event
    b"",
    '{"eventId": "u-1", "event": "caf\u00e9", "note": "\u202eevil"}'.encode(),
)


# --- helpers ---------------------------------------------------------------------------------------------------


@pytest.fixture
def server(make_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return make_redis()


@pytest.fixture
def sync(server: PrivateRedis) -> redis.Redis:
    return server.client()


@pytest.fixture
def key() -> str:
    return f"test:dlq:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def make_dlq(server: PrivateRedis, key: str) -> Any:
    """`make_dlq(**config)`: a RedisListDlq on the private server (list `key` unless given), closed at teardown."""
    made: list[RedisListDlq] = []

    def make(client: aioredis.Redis | None = None, **options: Any) -> RedisListDlq:
        options.setdefault("key", key)
        dlq = RedisListDlq(RedisDlqConfig(redis_url=server.url, **options), timeout=10.0, client=client)
        made.append(dlq)
        return dlq

    yield make
    for dlq in made:
        await dlq.aclose()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(
    number: int,
    name: str = "user.created",
    error: str = "TimeoutError: handler took too long",
    failed_at: datetime | None = None,
    **extra: Any,
) -> bytes:
    """A seed-bus dead letter, as the bus LPUSHes it."""
    body = {
        "eventId": f"evt-{number}",
        "event": name,
        "payload": {"n": number},
        "error": error,
        "failedAt": iso(failed_at or FAILED_AT),
        "retryCount": 3,
        "traceId": f"trace-{number}",
        **extra,
    }
    return json.dumps(body).encode()


def push(client: redis.Redis, key: str, *elements: bytes) -> None:
    """LPUSH in the given order (the last one ends up newest, at index 0), as the bus does over time."""
    for start in range(0, len(elements), 500):
        client.lpush(key, *elements[start : start + 500])


def everything(client: redis.Redis, key: str) -> list[bytes]:
    return list(client.lrange(key, 0, -1))


def event_ids(client: redis.Redis, key: str) -> list[str]:
    ids = []
    for element in everything(client, key):
        _, parsed = parse_event(element)
        assert parsed is not None
        ids.append(parsed["eventId"])
    return ids


def calls(server: PrivateRedis, command: str) -> int:
    stats = server.info("commandstats").get(f"cmdstat_{command}")
    return int(stats["calls"]) if isinstance(stats, dict) else 0


# --- pure helpers ----------------------------------------------------------------------------------------------


def test_route_formats_the_target_from_the_event_fields() -> None:
    assert route("{event}", {"event": "user.created"}) == ("user.created", "")
    assert route("bus:{event}:{payload[region]}", {"event": "a", "payload": {"region": "eu"}}) == ("bus:a:eu", "")
    assert route("{event}", {"eventId": "x"}) == ("", "not a JSON event with event")
    assert route("{event}", {"event": None}) == ("", "not a JSON event with event")
    assert route("{event}", {"event": {"nested": 1}}) == ("", "not a JSON event with event")
    assert route("bus:{event}", None) == ("", "not a JSON event with event")


def test_reason_is_the_first_line_capped() -> None:
    assert reason_of("\n  Error: boom\n    at handler (x.js:1)") == "Error: boom"
    assert reason_of({"message": "nested"}) == "nested"
    assert reason_of("x" * 500) == "x" * 200
    assert reason_of(None) == ""


# --- browsing --------------------------------------------------------------------------------------------------


async def test_browse_is_newest_first_and_maps_the_event(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    old = datetime(2024, 5, 1, 11, 59, 30, 250_000, tzinfo=UTC)
    multi_line = "ValidationError: amount must be positive\n    at validate (orders.js:12)"
    push(sync, key, *(event(i, failed_at=old) for i in range(4)), event(4, "order.paid", multi_line, old))
    dlq = make_dlq(target="bus:{event}")
    assert (dlq.kind, dlq.name) == ("redis", key)

    page = await dlq.page(0, 3, EVERYTHING)
    assert (page.total, page.offset, page.scanned, page.kind, page.dlq) == (5, 0, 3, "redis", key)
    assert [letter.message_id for letter in page.letters] == ["evt-4", "evt-3", "evt-2"]
    newest = page.letters[0]
    assert element_of(newest.ref) == event(4, "order.paid", multi_line, old)
    assert newest.origin == "order.paid"
    assert newest.reason == "ValidationError: amount must be positive"
    assert newest.at == old
    assert newest.content_type == "application/json"
    assert newest.properties == (("retryCount", "3"), ("traceId", "trace-4"))
    assert newest.destination == "channel bus:order.paid"
    assert newest.body == element_of(newest.ref) and newest.size == len(newest.body) and not newest.truncated

    rest = await dlq.page(3, 3, EVERYTHING)
    assert [letter.message_id for letter in rest.letters] == ["evt-1", "evt-0"]
    assert (rest.offset, rest.total) == (3, 5)


async def test_filters_scan_forward_and_offset_counts_matches(
    sync: redis.Redis, key: str, make_dlq: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    elements = [event(i, "order.paid" if i % 3 == 0 else "user.created", f"error-{i % 2}") for i in range(1200)]
    push(sync, key, *elements)
    dlq = make_dlq()

    page = await dlq.page(0, 5, Selection(origin="order.paid"))
    assert [letter.message_id for letter in page.letters] == [f"evt-{i}" for i in (1197, 1194, 1191, 1188, 1185)]
    assert page.total == 1200 and page.scanned == 15 and page.note == ""

    later = await dlq.page(5, 5, Selection(origin="order.paid"))  # offset counts matches, not elements
    assert [letter.message_id for letter in later.letters] == [f"evt-{i}" for i in (1182, 1179, 1176, 1173, 1170)]

    deep = await dlq.page(390, 50, Selection(origin="order.paid"))  # past the first chunk of 500
    assert [letter.message_id for letter in deep.letters] == [f"evt-{i}" for i in (27, 24, 21, 18, 15, 12, 9, 6, 3, 0)]
    assert deep.scanned == 1200

    text = await dlq.page(0, 10, Selection(text="EVT-1199"))  # case-insensitive, on the id
    assert [letter.message_id for letter in text.letters] == ["evt-1199"]
    both = await dlq.page(0, 3, Selection(origin="user.created", reason="error-0"))
    assert [letter.message_id for letter in both.letters] == ["evt-1198", "evt-1196", "evt-1192"]
    refs = frozenset({elements[7].decode(), elements[1000].decode(), "not in the list"})
    picked = await dlq.page(0, 10, Selection(refs=refs))
    assert [letter.message_id for letter in picked.letters] == ["evt-1000", "evt-7"]

    monkeypatch.setattr(dlq_redis, "SCAN_CAP", 600)
    capped = await dlq.page(0, 10, Selection(text="evt-5"))  # evt-5, evt-50…59, evt-500…: some past the cap
    assert capped.scanned == 600
    assert "600 of 1,200" in capped.note
    assert capped.letters == ()  # evt-5, evt-50…59 and evt-500…599 are all older than the newest 600


async def test_odd_elements_never_crash_and_keep_their_bytes(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    huge = event(1, payload={"blob": "x" * 200_000})
    nan = b'{"eventId": "n", "event": "e", "value": NaN}'
    deep = b"[" * 100_000 + b"]" * 100_000
    elements = [*ODD, huge, nan, deep, event(2, name="")]
    push(sync, key, *elements)
    dlq = make_dlq()

    page = await dlq.page(0, 50, EVERYTHING)
    assert [element_of(letter.ref) for letter in page.letters] == elements[::-1]
    by_body = {element_of(letter.ref): letter for letter in page.letters}
    big = by_body[huge]
    assert big.size == len(huge) and big.truncated and big.body == huge[:DEAD_LETTER_BODY_CAP]
    assert big.message_id == "evt-1" and big.destination == "channel user.created"
    binary = by_body[ODD[0]]
    assert (binary.content_type, binary.message_id, binary.origin, binary.destination) == ("", "", "", "")
    assert binary.body == ODD[0]
    assert by_body[ODD[1]].body == ODD[1]  # raw: the widgets neutralise escapes
    assert by_body[ODD[3]].content_type == "application/json" and by_body[ODD[3]].destination == ""
    assert by_body[nan].content_type == "" and by_body[deep].content_type == ""
    assert by_body[ODD[5]].origin == "caf\u00e9"

    plan = await dlq.plan("replay", EVERYTHING)
    problems = {element_of(letter.ref): letter.problem for letter in plan.letters}
    assert problems[ODD[0]] == problems[ODD[2]] == problems[deep] == "not a JSON event with event"
    assert problems[event(2, name="")] == "not a JSON event with event"  # empty counts as missing
    assert problems[huge] == "" and problems[ODD[5]] == ""
    assert plan.count == 2 and plan.skipped == len(elements) - 2

    info = await dlq.info(100)
    assert info.count == len(elements) and info.sampled == len(elements)

    # A ref takes exactly its bytes out of the list, even when they are not UTF-8.
    moved = await dlq.transfer("move", Selection(refs=frozenset({binary.ref, by_body[ODD[1]].ref})), MARK, "held")
    assert (moved.total, moved.done) == (2, 2)
    assert everything(sync, "held") == [ODD[1], ODD[0]]
    assert sync.llen(key) == len(elements) - 2


# --- info and plans --------------------------------------------------------------------------------------------


async def test_info_breaks_down_the_sample_and_counts_inflow(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    now = datetime.now(UTC)
    oldest = (now - timedelta(hours=2)).replace(microsecond=0)
    push(
        sync,
        key,
        event(0, "mail.bounced", "SMTP 550", oldest),
        event(1, "user.created", "Timeout", now - timedelta(minutes=10)),
        *(event(i, "order.paid", "Card declined\nstack", now - timedelta(seconds=5)) for i in range(2, 5)),
        *(event(i, "user.created", "Timeout", now - timedelta(seconds=20)) for i in range(5, 7)),
        b"\x00not json",
    )
    dlq = make_dlq()

    info = await dlq.info(100)
    assert (info.kind, info.name, info.key, info.count, info.sampled) == ("redis", key, f"redis:{key}", 8, 8)
    assert info.oldest_at == oldest
    assert info.by_origin == (("order.paid", 3), ("user.created", 3), ("", 1), ("mail.bounced", 1))
    assert info.by_reason == (("Card declined", 3), ("Timeout", 3), ("", 1), ("SMTP 550", 1))
    assert info.inflow_per_minute == 5.0

    newest = await dlq.info(3)
    assert newest.sampled == 3 and newest.count == 8 and newest.by_origin == (("user.created", 2), ("", 1))
    assert newest.inflow_per_minute == 2.0

    empty = await make_dlq(key=f"{key}:missing").info(100)
    assert (empty.count, empty.sampled, empty.inflow_per_minute, empty.oldest_at) == (0, 0, None, None)


async def test_plans_name_destinations_and_problems(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    push(
        sync,
        key,
        *(event(i, "user.created") for i in range(3)),
        *(event(i, "order.paid") for i in range(3, 5)),
        b"garbage",
        json.dumps({"eventId": "no-name"}).encode(),
    )
    dlq = make_dlq(replay_to="list", target="events:{event}")

    replay = await dlq.plan("replay", EVERYTHING)
    assert replay.count == 5 and replay.skipped == 2 and replay.scanned == 7 and not replay.capped
    assert replay.destinations == (("list events:user.created", 3), ("list events:order.paid", 2))
    assert [letter.message_id for letter in replay.letters][:3] == ["evt-0", "evt-1", "evt-2"]  # oldest first
    assert {letter.problem for letter in replay.letters if not letter.destination} == {"not a JSON event with event"}

    only = await dlq.plan("replay", Selection(origin="order.paid"))
    assert only.count == 2 and only.destinations == (("list events:order.paid", 2),)

    move = await dlq.plan("move", EVERYTHING, "parking")
    assert move.count == 7 and move.destinations == (("list parking", 7),)
    export = await dlq.plan("export", Selection(limit=2))
    assert export.count == 2 and export.destinations == (("backup file", 2),)
    purge = await dlq.plan("purge", EVERYTHING)
    assert purge.count == 7 and purge.destinations == (("backup file", 7),)

    gone = await dlq.plan("replay", Selection(refs=frozenset({event(0).decode(), event(99).decode()})))
    assert [(letter.message_id, letter.problem) for letter in gone.letters] == [
        ("evt-0", ""),
        ("evt-99", "no longer in the DLQ"),
    ]

    for verb, selection, target in (
        ("purge", Selection(origin="order.paid"), ""),
        ("move", EVERYTHING, ""),
        ("move", EVERYTHING, key),
        ("delete", EVERYTHING, ""),
    ):
        with pytest.raises(ActionRefused):
            await dlq.plan(verb, selection, target)

    into_itself = make_dlq(replay_to="list", target=key)
    assert (await into_itself.plan("replay", EVERYTHING)).letters[0].problem == "its destination is this DLQ"


async def test_plan_of_everything_beyond_the_scan_cap_counts_it_all(
    sync: redis.Redis, key: str, make_dlq: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dlq_redis, "SCAN_CAP", 100)
    push(sync, key, *(event(i) for i in range(250)))
    dlq = make_dlq()
    purge = await dlq.plan("purge", EVERYTHING)
    assert (purge.count, purge.scanned, purge.capped, len(purge.letters)) == (250, 100, False, 100)
    replay = await dlq.plan("replay", EVERYTHING)
    assert (replay.count, replay.capped) == (250, True) and "150" in replay.note
    selective = await dlq.plan("replay", Selection(origin="user.created"))
    assert (selective.count, selective.capped) == (100, True)


# --- replay ----------------------------------------------------------------------------------------------------


async def collect(pubsub: Any, wanted: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < wanted and time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            messages.append(message)
    return messages


async def test_replay_to_a_channel_reaches_a_real_subscriber(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any
) -> None:
    created = [event(i, "user.created") for i in range(5)]
    paid = [event(i, "order.paid") for i in range(5, 7)]
    push(sync, key, created[0], paid[0], *created[1:3], paid[1], *created[3:])
    subscriber = aioredis.Redis.from_url(server.url, socket_timeout=10.0)
    pubsub = subscriber.pubsub()
    try:
        await pubsub.subscribe("bus:user.created")
        dlq = make_dlq(target="bus:{event}")
        reports: list[ReplayProgress] = []

        result = await dlq.transfer("replay", EVERYTHING, MARK, progress=reports.append)

        assert (result.total, result.done, result.failed, result.skipped) == (7, 5, 2, 0)
        assert "no subscriber on bus:order.paid" in result.note
        assert reports[-1] == result
        assert sync.llen(key) == 7 - 5  # exactly the replayed ones left
        assert everything(sync, key) == [paid[1], paid[0]]  # untouched, byte for byte

        messages = await collect(pubsub, 5)
        assert [message["channel"] for message in messages] == [b"bus:user.created"] * 5
        copies = [json.loads(message["data"]) for message in messages]
        assert [copy["eventId"] for copy in copies] == [f"evt-{i}" for i in range(5)]  # oldest first
        for number, copy in enumerate(copies):
            assert "error" not in copy and "failedAt" not in copy
            assert copy["replayedAt"] == MARK.at and copy["replayedBy"] == MARK.by
            assert copy["payload"] == {"n": number} and copy["traceId"] == f"trace-{number}"
            assert copy["retryCount"] == 3 and copy["event"] == "user.created"
    finally:
        await pubsub.aclose()
        await subscriber.aclose()


async def test_replay_with_no_subscriber_removes_nothing(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    elements = [event(i) for i in range(4)]
    push(sync, key, *elements)
    dlq = make_dlq(target="nobody:{event}")
    result = await dlq.transfer("replay", EVERYTHING, MARK)
    assert (result.total, result.done, result.failed, result.skipped) == (4, 0, 4, 0)
    assert result.note == "no subscriber on nobody:user.created"
    assert everything(sync, key) == elements[::-1]


async def test_replay_to_a_list_moves_copies_atomically(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    push(sync, key, event(0, "user.created"), b"\xffnot json", event(1, "order.paid"), event(2, "user.created"))
    sync.set("events:order.paid", "a string, not a list")
    dlq = make_dlq(replay_to="list", target="events:{event}", strip=["error", "failedAt", "retryCount"])

    result = await dlq.transfer("replay", EVERYTHING, MARK, rate=1000)

    assert (result.total, result.done, result.failed, result.skipped) == (4, 2, 1, 1)
    assert "refused by events:order.paid: WRONGTYPE" in result.note
    copies = [json.loads(element) for element in everything(sync, "events:user.created")]
    assert [copy["eventId"] for copy in copies] == ["evt-2", "evt-0"]  # LPUSHed oldest first: newest at the head
    assert all(set(copy) == {"eventId", "event", "payload", "traceId", "replayedAt", "replayedBy"} for copy in copies)
    assert everything(sync, key) == [event(1, "order.paid"), b"\xffnot json"]  # the refused one and the skipped one


async def test_replay_across_chunks_leaves_exactly_what_stays(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    """Letters that stay (refused, no destination) stay at the tail: the walk's offset must skip exactly them."""
    elements = [event(i, "order.paid" if i % 2 else "user.created") if i % 7 else b"junk %d" % i for i in range(1300)]
    push(sync, key, *elements)
    sync.set("events:order.paid", "not a list")
    result = await make_dlq(replay_to="list", target="events:{event}").transfer("replay", EVERYTHING, MARK, rate=10_000)
    replayed = [i for i in range(1300) if i % 7 and not i % 2]
    refused = [i for i in range(1300) if i % 7 and i % 2]
    junk = [i for i in range(1300) if not i % 7]
    assert (result.total, result.done, result.failed, result.skipped) == (1300, len(replayed), len(refused), len(junk))
    assert everything(sync, key) == [
        element for element in elements[::-1] if not element.startswith(b'{"eventId"') or b"order.paid" in element
    ]
    assert event_ids(sync, "events:user.created") == [f"evt-{i}" for i in reversed(replayed)]


async def test_replay_is_paced(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    push(sync, key, *(event(i) for i in range(10)))
    started = time.monotonic()
    result = await make_dlq(replay_to="list").transfer("replay", EVERYTHING, MARK, rate=50)
    assert result.done == 10
    assert time.monotonic() - started >= 9 / 50 * 0.9


# --- move ------------------------------------------------------------------------------------------------------


async def test_move_all_uses_lmove_and_is_exact(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any
) -> None:
    elements = [*ODD, *(event(i) for i in range(120))]
    push(sync, key, *elements)
    before = everything(sync, key)
    sync.lpush("parking", b"already there")
    lmoves, lrems = calls(server, "lmove"), calls(server, "lrem")
    reports: list[ReplayProgress] = []

    result = await make_dlq().transfer("move", EVERYTHING, MARK, "parking", rate=10_000, progress=reports.append)

    assert (result.total, result.done, result.failed, result.skipped) == (len(elements), len(elements), 0, 0)
    assert calls(server, "lmove") - lmoves == len(elements)
    assert calls(server, "lrem") == lrems
    assert sync.exists(key) == 0
    assert everything(sync, "parking") == [*before, b"already there"]
    assert [report.done for report in reports] == [25, 50, 75, 100, 125, len(elements)]


async def test_selective_move_takes_only_the_selection(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    elements = [event(i, "order.paid" if i % 4 == 0 else "user.created") for i in range(40)]
    push(sync, key, *elements)
    dlq = make_dlq()

    result = await dlq.transfer("move", Selection(origin="order.paid"), MARK, "paid")
    assert (result.total, result.done) == (10, 10)
    assert event_ids(sync, "paid") == [f"evt-{i}" for i in range(36, -1, -4)]  # same order as in the DLQ
    assert event_ids(sync, key) == [f"evt-{i}" for i in range(39, -1, -1) if i % 4]

    limited = await dlq.transfer("move", Selection(text="user.created", limit=3), MARK, "some")
    assert (limited.total, limited.done) == (3, 3)
    assert event_ids(sync, "some") == ["evt-3", "evt-2", "evt-1"]  # the oldest three

    refs = frozenset({elements[39].decode(), elements[5].decode(), event(999).decode()})
    picked = await dlq.transfer("move", Selection(refs=refs), MARK, "picked")
    assert (picked.total, picked.done, picked.skipped) == (3, 2, 1)
    assert event_ids(sync, "picked") == ["evt-39", "evt-5"]
    assert sync.llen(key) == 40 - 10 - 3 - 2

    for target in ("", key):
        with pytest.raises(ActionRefused):
            await dlq.transfer("move", EVERYTHING, MARK, target)


@pytest.mark.parametrize(
    ("verb", "selection", "options"),
    [
        ("move", EVERYTHING, {}),
        ("move", Selection(origin="user.created"), {}),
        ("replay", EVERYTHING, {"replay_to": "list", "target": "target"}),
    ],
    ids=["move-all-lmove", "move-selected", "replay-to-list"],
)
async def test_abort_leaves_every_letter_in_the_dlq_or_at_the_target(
    sync: redis.Redis, key: str, make_dlq: Any, verb: str, selection: Selection, options: dict[str, Any]
) -> None:
    push(sync, key, *(event(i) for i in range(100)))
    abort = asyncio.Event()

    def progress(report: ReplayProgress) -> None:
        if report.done >= 40:
            abort.set()

    result = await make_dlq(**options).transfer(verb, selection, MARK, "target", 10_000, abort, progress)

    assert result.done == 50 and result.total == 100 and "aborted after 50 of 100" in result.note
    in_dlq, at_target = event_ids(sync, key), event_ids(sync, "target")
    assert len(at_target) == result.done
    assert sorted(in_dlq + at_target) == sorted(f"evt-{i}" for i in range(100))  # none lost, none twice
    assert at_target == [f"evt-{i}" for i in range(49, -1, -1)]  # oldest first


async def test_a_redis_error_midway_is_raised_after_a_progress_report(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any
) -> None:
    push(sync, key, *(event(i) for i in range(60)))
    reports: list[ReplayProgress] = []

    def progress(report: ReplayProgress) -> None:
        reports.append(report)
        if report.done == 25:
            server.kill9()

    with pytest.raises(SourceUnavailable):
        await make_dlq().transfer("move", Selection(origin="user.created"), MARK, "target", 10_000, None, progress)
    assert reports[-1].done == 25 and reports[-1].note.startswith("stopped: Redis")


# --- export, purge, restore ------------------------------------------------------------------------------------


async def test_export_writes_ndjson_and_touches_nothing(
    sync: redis.Redis, key: str, make_dlq: Any, tmp_path: Path
) -> None:
    elements = [event(0), *ODD, event(1, "order.paid")]
    push(sync, key, *elements)
    before = everything(sync, key)
    dlq = make_dlq()

    assert await dlq.export(EVERYTHING, tmp_path / "all.ndjson") == len(elements)
    records = read_ndjson(tmp_path / "all.ndjson")
    assert [record["redis_index"] for record in records] == list(range(len(elements)))
    assert all(record["kind"] == "redis" and record["dlq"] == key for record in records)
    assert records[-1]["element"] == event(0).decode()
    binary = next(record for record in records if isinstance(record["element"], dict))
    assert base64.b64decode(binary["element"]["$bytes"]) == ODD[0]
    assert "\x1b" not in (tmp_path / "all.ndjson").read_text()  # escapes are JSON-escaped in the file
    assert everything(sync, key) == before

    assert await dlq.export(Selection(origin="order.paid"), tmp_path / "paid.ndjson") == 1
    assert read_ndjson(tmp_path / "paid.ndjson")[0]["redis_index"] == 0
    with pytest.raises(ActionRefused):
        await dlq.export(EVERYTHING, tmp_path / "all.ndjson")  # never overwrites


async def test_purge_then_restore_is_exact(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any, tmp_path: Path
) -> None:
    ten_mb = b'{"eventId": "big", "event": "user.created", "payload": "' + b"\x00\xff" * (5 * 1024 * 1024) + b'"}'
    elements = [event(0), *ODD, ten_mb, event(1), b"\x1b[6n\x9b\x00", "\u202e\U0001f600".encode()]
    push(sync, key, *elements)
    before = everything(sync, key)
    dlq = make_dlq()
    backup = tmp_path / "backup" / "dlq.ndjson"

    assert await dlq.purge(backup) == len(elements)
    assert sync.exists(key) == 0
    assert list(sync.scan_iter(match=f"{key}*")) == []  # the renamed list is gone too
    records = read_ndjson(backup)
    assert len(records) == len(elements) and backup.stat().st_mode & 0o777 == 0o600

    sync.lpush(key, b"arrived after the purge")
    assert await dlq.restore(records) == len(elements)
    assert everything(sync, key) == [b"arrived after the purge", *before]  # older letters go behind

    with pytest.raises(ActionRefused):
        await dlq.purge(backup)  # an existing backup is never overwritten
    assert sync.llen(key) == len(elements) + 1


async def test_a_letter_pushed_during_a_purge_is_not_lost(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any, tmp_path: Path
) -> None:
    push(sync, key, *(event(i) for i in range(1200)))
    client = aioredis.Redis.from_url(server.url, socket_timeout=10.0)
    original = client.lrange
    pushed: list[int] = []

    def lrange_after_a_push(*args: Any, **kwargs: Any) -> Any:
        # The bus pushes while the purge reads the renamed list: between RENAME and DEL.
        pushed.append(sync.lpush(key, event(5000)))
        return original(*args, **kwargs)

    client.lrange = lrange_after_a_push  # type: ignore[method-assign]
    dlq = make_dlq(client=client)

    assert await dlq.purge(tmp_path / "backup.ndjson") == 1200
    assert len(pushed) == 3  # one push per LRANGE chunk
    assert event_ids(sync, key) == ["evt-5000"] * 3
    assert sorted(record["element"] for record in read_ndjson(tmp_path / "backup.ndjson")) == sorted(
        event(i).decode() for i in range(1200)
    )


async def test_a_busy_producer_during_a_purge_loses_nothing(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any, tmp_path: Path
) -> None:
    push(sync, key, *(event(i) for i in range(5000)))
    producer = aioredis.Redis.from_url(server.url, socket_timeout=10.0)
    stop = asyncio.Event()
    produced: list[int] = []

    async def produce() -> None:
        number = 10_000
        while not stop.is_set():
            await producer.lpush(key, event(number))
            produced.append(number)
            number += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(produce())
    try:
        await asyncio.sleep(0.01)
        purged = await make_dlq().purge(tmp_path / "backup.ndjson")
    finally:
        stop.set()
        await task
        await producer.aclose()
    backed_up = [json.loads(record["element"])["eventId"] for record in read_ndjson(tmp_path / "backup.ndjson")]
    kept = event_ids(sync, key)
    assert len(backed_up) == purged
    assert sorted(backed_up + kept) == sorted([f"evt-{i}" for i in range(5000)] + [f"evt-{n}" for n in produced])


async def test_a_failed_backup_puts_the_letters_back(
    sync: redis.Redis, key: str, make_dlq: Any, tmp_path: Path
) -> None:
    elements = [event(i) for i in range(10)]
    push(sync, key, *elements)
    (tmp_path / "not-a-dir").write_text("")
    with pytest.raises(ActionRefused, match="nothing was purged"):
        await make_dlq().purge(tmp_path / "not-a-dir" / "backup.ndjson")
    assert everything(sync, key) == elements[::-1]
    assert list(sync.scan_iter(match=f"{key}:purging:*")) == []


async def test_purging_an_empty_dlq_writes_an_empty_backup(key: str, make_dlq: Any, tmp_path: Path) -> None:
    assert await make_dlq().purge(tmp_path / "empty.ndjson") == 0
    assert (tmp_path / "empty.ndjson").read_text() == ""


async def test_restore_refuses_foreign_or_broken_records(sync: redis.Redis, key: str, make_dlq: Any) -> None:
    dlq = make_dlq()
    good = {"kind": "redis", "dlq": key, "redis_index": 0, "element": "x"}
    for bad in (
        {"kind": "rabbitmq", "dlq": key, "body": "x"},
        {**good, "dlq": "another:dlq"},
        {**good, "element": {"$bytes": "!!! not base64"}},
        {**good, "element": 42},
    ):
        with pytest.raises(ActionRefused):
            await dlq.restore([good, bad])
    assert sync.exists(key) == 0  # checked before anything was pushed


# --- errors ----------------------------------------------------------------------------------------------------


async def test_errors_come_through_the_console_error_tree(
    server: PrivateRedis, sync: redis.Redis, key: str, make_dlq: Any, tmp_path: Path
) -> None:
    sync.set(key, "a string")
    dlq = make_dlq()
    with pytest.raises(BadResponse, match="WRONGTYPE"):
        await dlq.info(10)
    with pytest.raises(BadResponse, match="WRONGTYPE"):
        await dlq.purge(tmp_path / "backup.ndjson")
    assert sync.get(key) == b"a string"  # not renamed away

    server.stop()
    with pytest.raises(SourceUnavailable):
        await dlq.page(0, 10, EVERYTHING)
