"""The RabbitMQ replay pipeline (`dlq_rabbit_pump`) and its lean AMQP codec (`amqp_wire`), without a broker.

- The codec reads what pamqp (aio-pika's codec) reads: property offsets, header tables, the `x-death` route,
  for the broker's shapes and for hypothesis-made header tables; a copy's properties are the letter's bytes
  plus the replay mark (an earlier mark replaced and counted on), `user_id` dropped unless it is our login.
- The pump against a simulated broker (`Broker`: a queue, per-consumer prefetch, delivery tags, confirms and
  returns in any order): every letter acked was confirmed and not returned (nothing lost), at most `WINDOW`
  letters are ever published-and-not-settled, a `multiple` ack never reaches a letter the pump keeps, letters
  keep their order, a return that cannot be told apart keeps every candidate, kept letters never starve the
  prefetch, and big letters shrink the window.

The same behaviour against the real broker is in tests/test_dlq_rabbit.py and tests/test_no_loss.py.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp import decode as pamqp_decode

from console.adapters import dlq_rabbit_pump
from console.adapters.amqp_wire import (
    HEADERS,
    Delivery,
    Returned,
    WireError,
    endpoint,
    first_death_route,
    property_spans,
    table_entries,
)
from console.adapters.dlq_base import REPLAY_MARK, Mark, Selection
from console.adapters.dlq_rabbit import WINDOW, _letter, deaths_of, origin_route
from console.adapters.dlq_rabbit_pump import _WANTED, Pump

MARK = Mark(at="2024-05-01T12:00:00Z", by="alice@bastion")
EVERYTHING = Selection()
EVENTS = "shop.events"


def death(key: str = "order.created", exchange: str = EVENTS) -> dict[str, Any]:
    return {
        "count": 1,
        "reason": "rejected",
        "queue": "shop.orders",
        "time": datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        "exchange": exchange,
        "routing-keys": [key],
    }


def properties(number: int, key: str = "order.created", **extra: Any) -> bytes:
    """A letter's raw property bytes as the broker sends them (pamqp encodes what aio-pika would)."""
    headers = {"x-death": [death(key)], "x-tenant": "acme", "x-first-death-queue": "shop.orders"}
    headers.update(extra.pop("headers", {}))
    values = {"message_id": f"m-{number:05d}", "content_type": "application/json", "headers": headers, **extra}
    return spec.Basic.Properties(**values).marshal()


def decoded(raw: bytes) -> spec.Basic.Properties:
    result = spec.Basic.Properties()
    result.unmarshal(int.from_bytes(raw[:2], "big"), raw[2:])
    return result


# --- the codec ------------------------------------------------------------------------------------------------


def test_endpoint_reads_urls_as_aiormq_does() -> None:
    point = endpoint("amqp://alice:p%40ss@rabbit.example:5673/prod%2Fa?name=replay&heartbeat=10")
    assert (point.host, point.port, point.tls, point.user, point.password) == (
        "rabbit.example",
        5673,
        False,
        "alice",
        "p@ss",
    )
    assert (point.vhost, point.name, point.heartbeat) == ("prod/a", "replay", 10)
    assert endpoint("amqp://h/").vhost == "/" and endpoint("amqp://h").vhost == "/"
    assert (endpoint("amqp://h").user, endpoint("amqp://h").port) == ("guest", 5672)
    secure = endpoint("amqps://h?no_verify_ssl=1&cafile=/ca.pem")
    assert (secure.port, secure.tls, secure.verify, secure.cafile) == (5671, True, False, "/ca.pem")
    with pytest.raises(WireError):
        endpoint("http://h/")
    assert endpoint("amqps://h/?auth=external").mechanism == "EXTERNAL"
    with pytest.raises(WireError, match="not supported"):
        endpoint("amqp://h/?auth=amqplain")


def test_property_offsets_and_the_route_match_pamqp() -> None:
    raw = properties(7, priority=3, user_id="guest", timestamp=datetime(2024, 5, 1, tzinfo=UTC), app_id="shop")
    spans = property_spans(raw)
    start, end = spans[HEADERS]
    assert pamqp_decode.field_table(raw[start:end])[1] == decoded(raw).headers
    (entry,) = table_entries(raw, start + 4, end, _WANTED)
    assert entry[0] == b"x-death"
    assert first_death_route(raw, entry[2], entry[3]) == (EVENTS, "order.created")
    names = [name for name, *_ in table_entries(raw, start + 4, end)]
    assert sorted(names) == [b"x-death", b"x-first-death-queue", b"x-tenant"]


# Header values pamqp can encode (and RabbitMQ keeps): what a producer may put next to x-death.
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)  # pamqp packs floats in 32 bits
    | st.text(max_size=20)
    | st.binary(max_size=20).map(bytearray)
    | st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)).map(  # noqa: DTZ001 - naive bounds
        lambda value: value.replace(microsecond=0, tzinfo=UTC)
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3),
    max_leaves=8,
)
deaths = st.lists(
    st.fixed_dictionaries(
        {"exchange": st.text(max_size=10), "routing-keys": st.lists(st.text(max_size=10), max_size=2)},
        optional={"queue": st.text(max_size=10), "count": st.integers(0, 9), "reason": st.sampled_from(["rejected"])},
    )
    | values,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=4), deaths | values)
def test_the_route_read_in_place_is_the_route_the_full_decoder_finds(extra: dict[str, Any], xdeath: Any) -> None:
    headers = {**extra, "x-death": xdeath}
    raw = spec.Basic.Properties(headers=headers).marshal()
    spans = property_spans(raw)
    start, end = spans[HEADERS]
    expected = origin_route(deaths_of(decoded(raw).headers or {}))
    entries = table_entries(raw, start + 4, end, _WANTED)
    pump = bare_pump()
    assert pump._route(raw, entries) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=4),
    st.sampled_from([None, 1, 5, True, "x"]),
    st.sampled_from([None, "guest", "mallory"]),
)
def test_a_copy_is_the_letter_plus_the_mark(extra: dict[str, Any], replays: Any, user: str | None) -> None:
    headers: dict[str, Any] = {"x-death": [death()], **extra}
    if replays is not None:
        headers |= {REPLAY_MARK: "2020-01-01T00:00:00Z", "x-opsconsole-replays": replays}
    original = spec.Basic.Properties(
        message_id="m-1", content_type="text/plain", headers=headers, user_id=user, app_id="shop", priority=4
    )
    raw = original.marshal()
    spans = property_spans(raw)
    start, end = spans[HEADERS]
    copy = decoded(bare_pump()._copy(raw, spans, table_entries(raw, start + 4, end, _WANTED)))
    count = replays + 1 if isinstance(replays, int) and not isinstance(replays, bool) else 1
    assert copy.headers == {**pamqp_round_trip(headers), **MARK.headers(replays if count > 1 else None)}
    assert copy.headers["x-opsconsole-replays"] == count
    assert copy.user_id == (user if user == "guest" else None)
    for name in ("message_id", "content_type", "app_id", "priority"):
        assert getattr(copy, name) == getattr(original, name)


def test_a_copy_of_a_letter_without_headers_gets_a_table() -> None:
    raw = spec.Basic.Properties(content_type="text/plain", content_encoding="gzip", delivery_mode=2).marshal()
    copy = decoded(bare_pump()._copy(raw, property_spans(raw), []))
    assert copy.headers == MARK.headers()
    assert (copy.content_type, copy.content_encoding, copy.delivery_mode) == ("text/plain", "gzip", 2)
    bare = spec.Basic.Properties().marshal()
    assert decoded(bare_pump()._copy(bare, property_spans(bare), [])).headers == MARK.headers()


def pamqp_round_trip(headers: dict[str, Any]) -> dict[str, Any]:
    decoded_headers = decoded(spec.Basic.Properties(headers=headers).marshal()).headers
    assert decoded_headers is not None
    return dict(decoded_headers)


def bare_pump(selection: Selection = EVERYTHING, **kwargs: Any) -> Pump:
    return Pump(
        Broker([]),  # type: ignore[arg-type]
        "shop.dlq",
        "guest",
        kwargs.pop("timeout", 5.0),
        kwargs.pop("verb", "replay"),
        selection,
        MARK,
        kwargs.pop("target", ""),
        kwargs.pop("rate", 1e9),
        asyncio.Event(),
        kwargs.pop("progress", None),
        letter=lambda dlq, body, props, headers, redelivered: _letter(
            dlq, body, len(body), props, headers, redelivered
        ),
        origin=lambda headers: origin_route(deaths_of(headers)),
    )


# --- the pump against a simulated broker ----------------------------------------------------------------------


class Broker:
    """The Wire interface over a simulated RabbitMQ: one queue, consumers with prefetch, delivery tags, confirms
    (in random batches, `multiple` or not) and returns, a barrier's reply after the acks before it. It checks
    the pump's promises as they happen and records what it saw."""

    def __init__(
        self,
        letters: list[tuple[bytes, bytes]],
        unroutable: set[str] = frozenset(),
        seed: int = 7,  # type: ignore[assignment]
    ):
        self.ready: deque[tuple[bytes, bytes]] = deque(letters)
        self.unroutable = unroutable  # routing keys nothing is bound to
        self.returned_copies: set[int] = set()  # publish seqs to return whatever they are
        self.random = random.Random(seed)
        self.writable = asyncio.Event()
        self.writable.set()
        self.error: WireError | None = None
        self.blocked = ""
        self.tag = 0
        self.unacked: dict[int, tuple[bytes, bytes, str]] = {}  # tag -> letter, consumer
        self.consumers: dict[str, list[int]] = {}  # tag -> [prefetch, unacked]
        self.next_prefetch = 0
        self.seq = 0
        self.copies: dict[int, int] = {}  # publish seq -> the delivery tag it copies
        self.fate: dict[int, str] = {}  # publish seq -> "routed" | "returned"
        self.pending: list[int] = []  # seqs awaiting their confirm
        self.published: list[tuple[str, str, bytes, bytes]] = []
        self.routed: list[bytes] = []  # bodies that reached the destination
        self.acked: list[int] = []
        self.violations: list[str] = []
        self.max_in_flight = 0  # copies whose letter the broker still holds unacked
        self.on_delivery: Any = None
        self.on_confirm: Any = None
        self.on_return: Any = None
        self.on_failure: Any = None
        self.on_cancel: Any = None
        self.channels = 0

    # Wire interface

    async def channel(self, timeout: float, confirms: bool = False) -> int:
        self.channels += 1
        return self.channels

    def alive(self, channel: int) -> bool:
        return True

    async def call(self, channel: int, method: Any) -> Any:
        await asyncio.sleep(0)
        if isinstance(method, spec.Queue.Declare):
            return SimpleNamespace(message_count=len(self.ready))
        if isinstance(method, spec.Exchange.Declare):
            return SimpleNamespace()
        if isinstance(method, spec.Basic.Qos):
            self.next_prefetch = method.prefetch_count
            return SimpleNamespace()
        if isinstance(method, spec.Basic.Consume):
            assert self.next_prefetch > 0, "a consumer without a prefetch takes the whole queue"
            tag = f"ctag-{len(self.consumers)}"
            self.consumers[tag] = [self.next_prefetch, 0]
            self._deliver()
            return SimpleNamespace(consumer_tag=tag)
        if isinstance(method, spec.Basic.Cancel):
            self.consumers.pop(method.consumer_tag)
            return SimpleNamespace()
        if isinstance(method, spec.Basic.Get):
            if not self.ready:
                return None
            return self._give("")
        raise AssertionError(f"unexpected {method!r}")

    def request(self, channel: int, method: Any, waiter: Any) -> None:
        assert isinstance(method, spec.Basic.Qos)  # the barrier: acks before it are taken
        asyncio.get_running_loop().call_soon(waiter, SimpleNamespace(), None)

    def publish(self, channel: int, method: bytes, props: bytes, body: bytes) -> None:
        offset = 7 + 6
        exchange = method[offset + 1 : offset + 1 + method[offset]].decode()
        offset += 1 + method[offset]
        key = method[offset + 1 : offset + 1 + method[offset]].decode()
        self.seq += 1
        # The copy of the oldest delivered, not yet copied letter with this body (the pump goes in order).
        copied = {tag for tag in self.copies.values()}
        tag = min(t for t, (_, b, _) in self.unacked.items() if b == body and t not in copied)
        self.copies[self.seq] = tag
        self.published.append((exchange, key, props, body))
        returned = key in self.unroutable or self.seq in self.returned_copies
        self.fate[self.seq] = "returned" if returned else "routed"
        if not returned:
            self.routed.append(body)  # routed as it arrives, in publish order
        self.pending.append(self.seq)
        in_flight = sum(1 for seq, t in self.copies.items() if t in self.unacked)
        self.max_in_flight = max(self.max_in_flight, in_flight)
        asyncio.get_running_loop().call_soon(self._confirm_some)

    def ack(self, channel: int, tag: int, multiple: bool = False) -> None:
        tags = [t for t in self.unacked if t <= tag] if multiple else [tag]
        if tag not in self.unacked:
            self.violations.append(f"ack of unknown tag {tag}")  # a channel error on a real broker
        for one in tags:
            seqs = [seq for seq, copied in self.copies.items() if copied == one]
            if not seqs:
                self.violations.append(f"letter {one} acked without a copy")
            elif any(seq in self.pending for seq in seqs):
                self.violations.append(f"letter {one} acked before its copy was confirmed")
            elif self.fate[seqs[-1]] != "routed":
                self.violations.append(f"letter {one} acked though its copy was returned")
            _, _, consumer = self.unacked.pop(one)
            if consumer in self.consumers:
                self.consumers[consumer][1] -= 1
            self.acked.append(one)
        self._deliver()

    # the simulation

    def _give(self, consumer: str) -> Delivery:
        props, body = self.ready.popleft()
        self.tag += 1
        self.unacked[self.tag] = (props, body, consumer)
        delivery = Delivery(self.tag, False, consumer.encode(), props, body)
        self.on_delivery(2, delivery)
        return delivery

    def _deliver(self) -> None:
        for tag, state in list(self.consumers.items()):
            while self.ready and state[1] < state[0]:
                state[1] += 1
                self._give(tag)

    def _confirm_some(self) -> None:
        if not self.pending:
            return
        count = self.random.randint(1, len(self.pending))
        batch = self.pending[:count] if self.random.random() < 0.7 else self.random.sample(self.pending, count)
        for seq in batch:
            if self.fate[seq] == "returned":
                props, body = self.published[seq - 1][2:]
                exchange, key = self.published[seq - 1][:2]
                self.on_return(3, Returned(312, "NO_ROUTE", exchange, key, props, body))
        head = batch == self.pending[:count]
        self.pending = [seq for seq in self.pending if seq not in batch]
        if head and self.random.random() < 0.5:
            self.on_confirm(3, batch[-1], True, True)
        else:
            for seq in batch:
                self.on_confirm(3, seq, False, True)

    def requeue(self) -> list[bytes]:
        """The connection closes: every unacked letter goes back, in delivery order."""
        back = [body for _, (_, body, _) in sorted(self.unacked.items())]
        self.unacked.clear()
        return back + [body for _, body in self.ready]


def letters(count: int, key: str = "order.created", body: Any = None, **extra: Any) -> list[tuple[bytes, bytes]]:
    return [(properties(n, key, **extra), body(n) if body else b"order %d" % n) for n in range(count)]


async def pump_through(broker: Broker, selection: Selection = EVERYTHING, **kwargs: Any) -> Any:
    pump = bare_pump(selection, **kwargs)
    pump.wire = broker  # type: ignore[assignment]
    for hook in ("on_delivery", "on_confirm", "on_return", "on_failure", "on_cancel"):
        setattr(broker, hook, getattr(pump, "_" + hook))
    result = await asyncio.wait_for(pump.run(), 30)
    assert not broker.violations, broker.violations[:5]
    return pump, result


@pytest.mark.parametrize("seed", range(5))
async def test_every_letter_goes_once_in_order_and_the_window_holds(seed: int) -> None:
    broker = Broker(letters(3000), seed=seed)
    pump, result = await pump_through(broker)
    assert (result.total, result.done, result.failed, result.skipped) == (3000, 3000, 0, 0)
    assert broker.routed == [b"order %d" % n for n in range(3000)]  # copies in queue order
    assert len(broker.acked) == 3000 and broker.requeue() == []
    assert 0 < broker.max_in_flight <= WINDOW
    assert pump.window == WINDOW and pump.unsettled == 0
    assert all(decoded(props).headers[REPLAY_MARK] == MARK.at for _, _, props, _ in broker.published)


async def test_returns_mid_window_keep_exactly_those_letters() -> None:
    mixed = [(properties(n, "nowhere" if n % 7 == 3 else "order.created"), b"order %d" % n) for n in range(1000)]
    broker = Broker(mixed, unroutable={"nowhere"})
    _, result = await pump_through(broker)
    bad = [b"order %d" % n for n in range(1000) if n % 7 == 3]
    assert (result.done, result.failed) == (1000 - len(bad), len(bad))
    assert "returned NO_ROUTE (unroutable)" in result.note
    assert broker.requeue() == bad  # exactly the returned letters stay, in their order
    assert len(broker.routed) == 1000 - len(bad)


async def test_a_return_that_matches_identical_copies_keeps_them_all() -> None:
    # Letters 10..14 are byte-identical; the broker returns only the second of them (bindings changed between
    # two publishes, say). Which letter's copy came back cannot be known: all five stay, none is acked.
    same = (properties(10), b"same order")
    broker = Broker(letters(10) + [same] * 5 + letters(30)[15:])
    broker.returned_copies = {12}
    _, result = await pump_through(broker)  # the broker checks that no returned copy's letter was acked
    assert result.failed >= 1 and result.done + result.failed == 30
    assert broker.requeue() == [b"same order"] * result.failed


async def test_kept_letters_never_starve_the_prefetch_and_no_multiple_ack_reaches_them() -> None:
    # Every 10th letter is selected: the rest stay unacked (kept), more than a prefetch of them.
    broker = Broker(letters(2000, body=lambda n: b"order %d%s" % (n, b" pick" if n % 10 == 0 else b"")))
    _, result = await pump_through(broker, Selection(text="pick"))
    assert (result.total, result.done) == (2000, 200)
    assert broker.requeue() == [b"order %d" % n for n in range(2000) if n % 10]
    assert len(broker.consumers) <= 1 and len(broker.acked) == 200


async def test_a_limit_takes_the_oldest_and_the_rest_stay_in_order() -> None:
    broker = Broker(letters(500))
    _, result = await pump_through(broker, Selection(limit=120))
    assert result.done == 120 and broker.routed == [b"order %d" % n for n in range(120)]
    assert broker.requeue() == [b"order %d" % n for n in range(120, 500)]


async def test_big_letters_shrink_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dlq_rabbit_pump, "BYTES_IN_FLIGHT", 1 << 20)
    broker = Broker(letters(60, body=lambda n: bytes([n]) * (200 << 10)))  # 200 KiB each: five fit in 1 MiB
    pump, result = await pump_through(broker)
    assert result.done == 60
    assert pump.window == 5 and broker.max_in_flight <= 5


async def test_an_abort_stops_before_the_next_publish_and_counts_exactly() -> None:
    broker = Broker(letters(3000))
    abort = asyncio.Event()
    pump = bare_pump()
    pump.abort = abort
    pump.wire = broker  # type: ignore[assignment]
    for hook in ("on_delivery", "on_confirm", "on_return", "on_failure", "on_cancel"):
        setattr(broker, hook, getattr(pump, "_" + hook))
    pump.progress = lambda report: abort.set() if report.done >= 700 else None
    result = await asyncio.wait_for(pump.run(), 30)
    assert not broker.violations
    assert result.note == "aborted" and 700 <= result.done < 3000
    assert broker.routed == [b"order %d" % n for n in range(result.done)]  # nothing in flight was left behind
    assert broker.requeue() == [b"order %d" % n for n in range(result.done, 3000)]


async def test_no_confirm_in_time_stops_the_pump_and_keeps_the_letters() -> None:
    broker = Broker(letters(50))
    broker._confirm_some = lambda: None  # type: ignore[method-assign]  # the broker swallows every publish
    broker.blocked = "low on memory"
    pump = bare_pump(timeout=0.3)
    pump.wire = broker  # type: ignore[assignment]
    for hook in ("on_delivery", "on_confirm", "on_return", "on_failure", "on_cancel"):
        setattr(broker, hook, getattr(pump, "_" + hook))
    with pytest.raises(WireError, match="no publisher confirm .* blocks publishing: low on memory"):
        await asyncio.wait_for(pump.run(), 10)
    assert broker.acked == [] and pump.done == 0
    assert len(broker.requeue()) == 50


def test_frames_are_what_pamqp_reads() -> None:
    from pamqp import frame as pamqp_frame

    from console.adapters.amqp_wire import publish_method

    channel, method = pamqp_frame.unmarshal(publish_method(3, EVENTS, "order.created"))[1:]
    assert channel == 3 and isinstance(method, spec.Basic.Publish)
    assert (method.exchange, method.routing_key, method.mandatory, method.immediate) == (
        EVENTS,
        "order.created",
        True,
        False,
    )
    sent: list[bytes] = []
    wire = SimpleNamespace(write=sent.append, frame_max=64)
    from console.adapters.amqp_wire import Wire

    Wire.publish(wire, 3, b"", b"\x00\x00", b"x" * 100)  # type: ignore[arg-type]
    Wire.ack(wire, 2, 41, multiple=True)  # type: ignore[arg-type]
    data = b"".join(sent)
    frames = []
    while data:
        consumed, number, value = pamqp_frame.unmarshal(data)
        frames.append((number, value))
        data = data[consumed:]
    header, *bodies, ack = frames
    assert header[1].body_size == 100 and [len(b[1].value) for b in bodies] == [56, 44]
    assert isinstance(ack[1], spec.Basic.Ack) and (ack[0], ack[1].delivery_tag, ack[1].multiple) == (2, 41, True)


async def test_replies_go_to_the_oldest_request_of_their_kind() -> None:
    # RabbitMQ sends consume-ok from the queue process and qos-ok from the channel process: a qos sent after a
    # consume can be answered first. Each reply must reach the request that waits for its kind.
    from pamqp import frame as pamqp_frame

    from console.adapters.amqp_wire import Wire

    wire = Wire(asyncio.get_running_loop())
    written: list[bytes] = []
    wire.transport = SimpleNamespace(write=written.append, is_closing=lambda: False)  # type: ignore[assignment]
    wire._channels[2] = type(wire._channels[0])(2)
    first = asyncio.ensure_future(wire.call(2, spec.Basic.Qos(prefetch_count=10)))
    consume = asyncio.ensure_future(wire.call(2, spec.Basic.Consume(queue="q")))
    second = asyncio.ensure_future(wire.call(2, spec.Basic.Qos(prefetch_count=10)))
    await asyncio.sleep(0)
    replies = [spec.Basic.QosOk(), spec.Basic.QosOk(), spec.Basic.ConsumeOk(consumer_tag="ctag-1")]
    wire.data_received(b"".join(pamqp_frame.marshal(reply, 2) for reply in replies))
    assert isinstance(await first, spec.Basic.QosOk) and isinstance(await second, spec.Basic.QosOk)
    assert (await consume).consumer_tag == "ctag-1"
    assert len(written) == 1  # three requests, one write
