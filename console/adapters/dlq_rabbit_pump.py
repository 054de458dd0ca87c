"""The RabbitMQ replay/move pipeline: a consumer with a prefetch window feeds pipelined, confirmed, mandatory
publishes, and each letter is acked only after the broker confirmed its own copy.

    DLQ ──deliver (prefetch 2·W)──► pump ──publish (≤ W unsettled)──► origin
     ▲                                │                                  │
     └──────ack (after its confirm)───┴────────◄── confirm / return ─────┘

What it promises (`dlq_base` states the contract every store keeps):
- A letter is acked (removed from the DLQ) only after the publisher channel confirmed its own copy's sequence
  number and no `basic.return` named that copy. A return is matched to its copy by route, body and
  properties; byte-identical copies in flight cannot be told apart, so all of them stay. Returned and nacked
  letters stay in the DLQ and count as failed. No confirm for `timeout` seconds stops the action with an error
  (the letters in flight stay), instead of failing window after window against a blocked broker.
- `done` counts *settled* letters: acked, and the broker has taken the ack (a `basic.qos` sent after the
  acks is answered after them: one channel runs its methods in order). A report never names a letter that a
  lost connection could bring back.
- At most `window` letters are published and not settled: the duplication bound. If the connection dies the
  broker requeues every unacked letter, and only those (≤ `window`) can also have a copy at the destination,
  each carrying the replay mark. `window` is `WINDOW` (512) while the letters are at most
  `BYTES_IN_FLIGHT / WINDOW` (64 KiB), fewer for bigger letters, and `FIRST_WINDOW` until sizes are known.
  (256 measured 5-13 % slower on the 2-core bench box, 1,024 no faster than 512 within the noise; at the
  default `replay_rate` of 200/s only a handful of letters are ever in flight, whatever the window.)
- Queue order: letters are published in delivery order, so copies reach the destination in DLQ order.
  Letters the pump does not take (not selected, no origin, origin gone, beyond the count read at the start)
  are never acked and go back to their place when the connection closes, marked redelivered as a peek leaves
  them. The consumer prefetches, so up to one prefetch (2·window) of letters past the count (arrived
  meanwhile, or a DLQ over `SCAN_CAP`) is delivered and comes back marked redelivered too.
- Abort and the rate limit act before every publish; after an abort the pump waits for the confirms of what
  it published, so the counts it returns are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from pamqp import commands as spec
from pamqp import decode as pamqp_decode

from console.adapters.amqp_wire import (
    CONTENT_ENCODING,
    HEADERS,
    USER_ID,
    Delivery,
    Returned,
    Wire,
    WireError,
    field_entries,
    first_death_route,
    property_spans,
    publish_method,
    table_entries,
)
from console.adapters.dlq_base import SCAN_CAP, Mark, Pacer, Progress, Selection
from console.model import DeadLetter, ReplayProgress
from console.sanitize import clean

WINDOW = 512  # letters published and not settled, at most: what a lost connection can duplicate
FIRST_WINDOW = 32  # until the first letters' sizes are known (a DLQ of 10 MB letters must not arrive at once)
BYTES_IN_FLIGHT = 32 * 1024 * 1024  # the window shrinks so that this many bytes of letters are in flight
PROBE_AFTER = 0.25  # s without a delivery while the pump has room: ask `basic.get` whether the DLQ is empty
_MARK_KEYS = frozenset({b"x-opsconsole-replayed-at", b"x-opsconsole-replayed-by", b"x-opsconsole-replays"})
_REPLAYS = b"x-opsconsole-replays"
_MARKED = b"x-opsconsole-replay"  # what every mark key starts with: a letter without it was never replayed
_DEATHS = b"x-death"
_WANTED = (_DEATHS, _MARKED)  # the header entries the pump reads; the others pass through as bytes
_INFINITY = float("inf")
_UNKNOWN = b"?"  # a route not looked up yet
_WAITING, _OK, _FAILED = 0, 1, 2


class _Sent:
    """A published copy: which letter (delivery tag) it settles, and what a `basic.return` could match."""

    __slots__ = ("seq", "tag", "size", "exchange", "routing_key", "properties", "body", "state", "why")

    def __init__(self, seq: int, tag: int, exchange: str, routing_key: str, properties: bytes, body: bytes):
        self.seq = seq
        self.tag = tag
        self.size = len(body) + len(properties)
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties = properties
        self.body = body
        self.state = _WAITING
        self.why = ""  # set when a return names it: the letter stays


class Pump:
    """One replay or move over one `Wire`. Hooks run on the wire's `data_received`; `run()` is the loop that
    takes deliveries and publishes."""

    def __init__(
        self,
        wire: Wire,
        dlq: str,
        login: str,
        timeout: float,
        verb: str,
        selection: Selection,
        mark: Mark,
        target: str,
        rate: float,
        abort: asyncio.Event,
        progress: Progress | None,
        letter: Any,  # (dlq, body, properties dict, headers dict, redelivered) -> DeadLetter, for selections
        origin: Any,  # (headers dict) -> (exchange, routing key) | None, the full decoder's answer
    ):
        self.wire, self.dlq, self.login, self.timeout = wire, dlq, login, timeout
        self.verb, self.selection, self.mark, self.target = verb, selection, mark, target
        self.pacer, self.abort, self.progress = Pacer(rate), abort, progress
        self.make_letter, self.full_origin = letter, origin
        self.needs_letter = bool(selection.refs is not None or selection.text or selection.origin or selection.reason)
        self.total = self.done = self.failed = self.skipped = 0
        self.notes: list[str] = []
        self.failure: WireError | None = None
        self.source = self.publisher = self.control = 0
        self.consumer = b""
        self.prefetch = 0
        self.window = FIRST_WINDOW
        self.biggest = 0
        self.processed = 0
        self.kept: dict[bytes, int] = {}  # consumer tag -> letters kept (never acked) from its deliveries
        self.lowest_kept = _INFINITY  # no `multiple` ack may reach past a kept letter
        self.inbox: deque[Delivery] = deque()
        self.order: deque[_Sent] = deque()  # published, not yet acked or failed, in publish (= tag) order
        self.flight: dict[int, _Sent] = {}  # publish sequence number -> copy awaiting its confirm
        self.seq = 0
        self.unsettled = 0
        self.unsettled_bytes = 0
        self.acked_unproven = 0  # acked, waiting for the barrier that proves the broker took the acks
        self.barrier_out = 0  # acks the barrier in flight proves, 0 when none is in flight
        self.methods: dict[tuple[str, str], bytes | None] = {}  # route -> prebuilt publish frame (None: missing)
        self.exchanges: dict[str, bool] = {}  # exchange (a move: "") -> exists
        self.in_hand: float = _INFINITY  # the tag of the letter between the inbox and a publish
        self.last_tag = 0
        self.in_order = True  # deliveries arrived in delivery-tag order (so the inbox's head is its lowest tag)
        self.mark_entries: dict[Any, bytes] = {}
        self.progressed = time.monotonic()
        self.reported_done = -1
        self.reported_at = 0.0
        self.report_due = False
        self._wake: asyncio.Future[None] | None = None
        wire.on_delivery = self._on_delivery
        wire.on_confirm = self._on_confirm
        wire.on_return = self._on_return
        wire.on_failure = self._on_failure
        wire.on_cancel = self._on_cancel

    # --- the loop

    async def run(self) -> ReplayProgress:
        wire = self.wire
        self.control = await wire.channel(self.timeout)
        self.source = await wire.channel(self.timeout)
        self.publisher = await wire.channel(self.timeout, confirms=True)
        declared = await self._call(self.source, spec.Queue.Declare(queue=self.dlq, passive=True))
        self.total = min(int(declared.message_count or 0), SCAN_CAP)
        if self.total:
            first = min(2 * FIRST_WINDOW, self.total)
            if self.selection.limit is not None and not self.needs_letter:
                first = max(1, min(first, self.selection.limit))
            self.window = max(1, first // 2)
            await self._consume(first)
            await self._pump()
            self._check()
            if self.consumer:
                await self._call(self.source, spec.Basic.Cancel(self.consumer.decode()))  # no more deliveries
                self.consumer = b""
            await self._drain()
        self._report(force=True)
        note = "aborted" if self.abort.is_set() else "; ".join(dict.fromkeys(self.notes))[:300]
        return ReplayProgress(self.total, self.done, self.failed, self.skipped, note)

    def snapshot(self, note: str) -> ReplayProgress:
        return ReplayProgress(self.total, self.done, self.failed, self.skipped, note)

    async def _pump(self) -> None:
        seen = taken = 0
        limit = self.selection.limit
        while seen < self.total and not self.abort.is_set():
            if self.report_due:
                self._report()
            if limit is not None and taken >= limit:
                break
            delivery = self.inbox.popleft() if self.inbox else await self._next()
            if delivery is None:
                break  # the DLQ ran dry before the count read at the start (someone else took letters)
            seen += 1
            self.processed += 1
            self.in_hand = delivery.tag
            size = len(delivery.body)
            if size > self.biggest:
                self.biggest = size
                await self._retune()
            elif self.processed == self.prefetch:
                await self._retune()
            try:
                spans = property_spans(delivery.properties)
                headers = spans.get(HEADERS)
                entries = table_entries(delivery.properties, headers[0] + 4, headers[1], _WANTED) if headers else []
            except (ValueError, IndexError) as exc:
                self.skipped += 1
                self.notes.append(f"unreadable properties: {exc}")
                await self._keep(delivery)
                continue
            if self.needs_letter:
                letter = self._letter(delivery)
                if not self.selection.wants(letter):
                    await self._keep(delivery)
                    continue
            taken += 1
            route = self._route(delivery.properties, entries)
            if route is None:
                self.skipped += 1  # no origin in x-death: the dry-run says "move it instead"
                await self._keep(delivery)
                continue
            method = self.methods.get(route, _UNKNOWN)
            if method is _UNKNOWN:
                method = await self._method(route)
            if method is None:
                self.skipped += 1
                what = f"queue {self.target}" if self.verb == "move" else f"exchange {route[0]}"
                self.notes.append(f"{what} does not exist")
                await self._keep(delivery)
                continue
            properties = self._copy(delivery.properties, spans, entries)
            need = size + len(properties)
            if (
                self.unsettled >= self.window
                or (self.unsettled and self.unsettled_bytes + need > BYTES_IN_FLIGHT)
                or not self.wire.writable.is_set()
            ):
                await self._room(need)
            if self.seq > self.pacer.rate * (time.monotonic() - self.pacer.started):
                await self.pacer.wait(self.seq)
            if self.abort.is_set():
                self.in_hand = _INFINITY
                self.lowest_kept = min(self.lowest_kept, delivery.tag)
                break
            self._check()
            if not self.unsettled:
                self.progressed = time.monotonic()  # the confirm clock starts with the first letter in flight
            self.seq += 1
            sent = _Sent(self.seq, delivery.tag, route[0], route[1], properties, delivery.body)
            self.flight[self.seq] = sent
            self.order.append(sent)
            self.unsettled += 1
            self.unsettled_bytes += sent.size
            self.wire.publish(self.publisher, method, properties, delivery.body)
            self.in_hand = _INFINITY

    async def _next(self) -> Delivery | None:
        """The next letter in queue order, or None once `basic.get` says the DLQ has no ready letter left."""
        idle_since = time.monotonic()
        while not self.inbox:
            self._check()
            if time.monotonic() - idle_since >= PROBE_AFTER:
                # A get-ok's letter arrives through `_on_delivery` like any other, in delivery-tag order.
                if await self._call(self.source, spec.Basic.Get(queue=self.dlq)) is None and not self.inbox:
                    return None
                idle_since = time.monotonic()
                continue
            await self._sleep(PROBE_AFTER)
            if self.report_due:
                self._report()
        return self.inbox.popleft()

    async def _room(self, size: int) -> None:
        """Wait until one more letter fits the window (letters and bytes) and the socket takes writes."""
        while (
            self.unsettled >= self.window
            or (self.unsettled and self.unsettled_bytes + size > BYTES_IN_FLIGHT)
            or not self.wire.writable.is_set()
        ):
            self._check()
            self._stalled()
            if not self.wire.writable.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.timeout):
                        await self.wire.writable.wait()
                continue
            await self._sleep(self.timeout)
            if self.report_due:
                self._report()

    async def _drain(self) -> None:
        """Wait for every copy's confirm and every ack's barrier: the counts are then exact."""
        while self.unsettled:
            self._check()
            self._stalled()
            await self._sleep(self.timeout)
            if self.report_due:
                self._report()

    def _stalled(self) -> None:
        if self.unsettled and time.monotonic() - self.progressed > self.timeout:
            why = f" (the broker blocks publishing: {self.wire.blocked})" if self.wire.blocked else ""
            raise WireError(f"no publisher confirm for {self.unsettled} letters in {self.timeout:g} s{why}")

    async def _keep(self, delivery: Delivery) -> None:
        """A letter the pump does not take: never acked, back in its place when the connection closes."""
        self.in_hand = _INFINITY
        self.lowest_kept = min(self.lowest_kept, delivery.tag)
        kept = self.kept.get(delivery.consumer, 0) + 1
        self.kept[delivery.consumer] = kept
        if delivery.consumer == self.consumer and kept >= max(1, self.prefetch // 2):
            # Kept letters hold prefetch slots forever: a fresh consumer gets a whole prefetch again.
            await self._consume(self.prefetch)

    async def _retune(self) -> None:
        """Size the window to the biggest letter seen (BYTES_IN_FLIGHT of them), once sizes are known."""
        fit = max(1, min(WINDOW, BYTES_IN_FLIGHT // max(1, self.biggest)))
        if fit < self.window or (fit > self.window and self.processed >= self.prefetch):
            self.window = fit
            await self._consume(2 * fit)

    async def _consume(self, prefetch: int) -> None:
        """(Re)start the consumer with `prefetch`: a running consumer's prefetch cannot change, so cancel it;
        its unacked letters stay ours and its deliveries in flight still arrive (before the cancel-ok)."""
        if self.consumer:
            await self._call(self.source, spec.Basic.Cancel(self.consumer.decode()))
        self.prefetch = prefetch
        await self._call(self.source, spec.Basic.Qos(prefetch_count=prefetch))
        reply = await self._call(self.source, spec.Basic.Consume(queue=self.dlq))
        self.consumer = str(reply.consumer_tag).encode()

    async def _method(self, route: tuple[str, str]) -> bytes | None:
        """The route's prebuilt publish frame, or None when its exchange (a move: its queue) does not exist."""
        exchange = route[0]
        if exchange not in self.exchanges:
            self.exchanges[exchange] = await self._exists(exchange)
        method = self.methods[route] = publish_method(self.publisher, *route) if self.exchanges[exchange] else None
        return method

    async def _exists(self, exchange: str) -> bool:
        """Publishing to a missing exchange closes the channel: look first, on a throwaway channel."""
        if exchange == "" and self.verb != "move":
            return True
        if not self.wire.alive(self.control):
            self.control = await self.wire.channel(self.timeout)
        if self.verb == "move":
            method: Any = spec.Queue.Declare(queue=self.target, passive=True)
        else:
            method = spec.Exchange.Declare(exchange=exchange, passive=True)
        try:
            await self._call(self.control, method)
        except WireError as exc:
            if exc.channel == self.control:
                return False
            raise
        return True

    # --- letters

    def _route(self, raw: bytes, entries: list[tuple[bytes, int, int, int]]) -> tuple[str, str] | None:
        if self.verb == "move":
            return ("", self.target)
        deaths = [entry for entry in entries if entry[0] == _DEATHS]
        if not deaths:
            return None
        _, _, at, end = deaths[-1]
        try:
            return first_death_route(raw, at, end)
        except (ValueError, IndexError):
            _, value = pamqp_decode.embedded_value(raw[at:end])
            route: tuple[str, str] | None = self.full_origin({"x-death": value})
            return route

    def _letter(self, delivery: Delivery) -> DeadLetter:
        """The whole letter (pamqp decodes the properties), for selections: refs, text, origin, reason."""
        properties = spec.Basic.Properties()
        properties.unmarshal(int.from_bytes(delivery.properties[:2], "big"), delivery.properties[2:])
        letter: DeadLetter = self.make_letter(
            self.dlq,
            delivery.body,
            {"message_id": properties.message_id, "timestamp": properties.timestamp},
            dict(properties.headers or {}),
            delivery.redelivered,
        )
        return letter

    def _copy(self, raw: bytes, spans: dict[int, tuple[int, int]], entries: list[tuple[bytes, int, int, int]]) -> bytes:
        """The copy's properties: the letter's bytes, the replay mark spliced into the header table (replacing
        an earlier replay's), and `user_id` dropped when it is not our login (the broker refuses it)."""
        previous: Any = None
        if HEADERS in spans:
            before, after = spans[HEADERS]
            table = [raw[before + 4 : after]]
            marks = [entry for entry in entries if entry[0] in _MARK_KEYS]
            if marks:
                table, offset = [], before + 4
                for name, start, at, end in marks:
                    if name == _REPLAYS:
                        previous = pamqp_decode.embedded_value(raw[at:end])[1]
                    table.append(raw[offset:start])
                    offset = end
                table.append(raw[offset:after])
        else:
            before = after = next((spans[bit][1] for bit in (CONTENT_ENCODING, 0x8000) if bit in spans), 2)
            table = []
        key = previous if isinstance(previous, int) and not isinstance(previous, bool) else None
        mark = self.mark_entries.get(key)
        if mark is None:
            mark = self.mark_entries[key] = field_entries(self.mark.headers(key))
        table.append(mark)
        headers = b"".join(table)
        flags = int.from_bytes(raw[:2], "big") | HEADERS
        rest = raw[after:]
        if USER_ID in spans:
            start, end = spans[USER_ID]
            if raw[start + 1 : end].decode("utf-8", "replace") != self.login:
                flags &= ~USER_ID
                rest = raw[after:start] + raw[end:]
        return b"".join((flags.to_bytes(2, "big"), raw[2:before], len(headers).to_bytes(4, "big"), headers, rest))

    # --- hooks (on the wire's data_received)

    def _on_delivery(self, channel: int, delivery: Delivery) -> None:
        if channel == self.source:
            if delivery.tag <= self.last_tag:
                # A get-ok can overtake deliveries the broker's channel still holds: the tags are no longer in
                # order, so no `multiple` ack can be proven safe from here on.
                self.in_order = False
            self.last_tag = max(self.last_tag, delivery.tag)
            self.inbox.append(delivery)
            self._poke()

    def _on_confirm(self, channel: int, tag: int, multiple: bool, ok: bool) -> None:
        if channel != self.publisher:
            return
        if multiple:
            for sent in self.order:
                if sent.seq > tag:
                    break
                if sent.state == _WAITING:
                    self._settle(sent, ok)
        else:
            one = self.flight.get(tag)
            if one is not None:
                self._settle(one, ok)
        self.progressed = time.monotonic()
        self._flush()

    def _settle(self, sent: _Sent, ok: bool) -> None:
        self.flight.pop(sent.seq, None)
        if ok and not sent.why:
            sent.state = _OK
            return
        sent.state = _FAILED
        self.failed += 1
        self.notes.append(f"key {clean(sent.routing_key, 60)}: {sent.why or 'nacked by the broker'}")

    def _flush(self) -> None:
        """Ack the settled head of the line, then send a barrier (qos) to learn when the broker has taken the
        acks. One `multiple` ack covers a run only when no letter at or below its last tag is unsettled: none
        kept, none waiting, none in the inbox or in hand; otherwise one ack per letter."""
        run: list[int] = []
        while self.order and self.order[0].state != _WAITING:
            sent = self.order.popleft()
            self.unsettled_bytes -= sent.size
            if sent.state == _FAILED:
                self.unsettled -= 1  # the letter stays: nothing of it is in flight any more
                self.lowest_kept = min(self.lowest_kept, sent.tag)
                continue
            run.append(sent.tag)
        if run:
            ceiling = min(
                self.lowest_kept,
                self.in_hand,
                self.inbox[0].tag if self.inbox else _INFINITY,
                self.order[0].tag if self.order else _INFINITY,
            )
            if len(run) > 1 and self.in_order and run == sorted(run) and run[-1] < ceiling:
                self.wire.ack(self.source, run[-1], multiple=True)
            else:
                for tag in run:
                    self.wire.ack(self.source, tag)
            self.acked_unproven += len(run)
            self._barrier()
        self._poke()

    def _barrier(self) -> None:
        if self.barrier_out or not self.acked_unproven:
            return
        self.barrier_out, self.acked_unproven = self.acked_unproven, 0
        self.wire.request(self.source, spec.Basic.Qos(prefetch_count=self.prefetch), self._on_barrier)

    def _on_barrier(self, reply: Any, error: BaseException | None) -> None:
        proven, self.barrier_out = self.barrier_out, 0
        if error is not None:
            self._on_failure(error if isinstance(error, WireError) else WireError(str(error)))
            return
        self.done += proven
        self.unsettled -= proven
        self.progressed = time.monotonic()
        self.report_due = True  # reported from the loop: a progress callback never runs inside the protocol
        self._barrier()
        self._poke()

    def _on_return(self, channel: int, returned: Returned) -> None:
        """Match a return to its copy by what it is. Identical letters in flight cannot be told apart: all of
        them stay (some may be duplicates); a return matching nothing keeps every copy on its route."""
        if channel != self.publisher:
            return
        waiting = [s for s in self.flight.values() if s.state == _WAITING and not s.why]
        route = [s for s in waiting if s.exchange == returned.exchange and s.routing_key == returned.routing_key]
        same = [s for s in route if s.body == returned.body]
        exact = [s for s in same if s.properties == returned.properties]
        chosen = exact if len(exact) == 1 else same or route or waiting
        why = f"returned {returned.reply_text or returned.reply_code} (unroutable)"
        for sent in chosen:
            sent.why = why

    def _on_failure(self, error: WireError) -> None:
        if error.channel and error.channel == self.control:
            return  # a probe's channel: its 404 was the answer
        if self.failure is None:
            self.failure = error
        self._poke()

    def _on_cancel(self, channel: int) -> None:
        if channel == self.source and self.failure is None:
            self.failure = WireError("the broker cancelled the consumer (was the DLQ deleted?)")
            self._poke()

    # --- plumbing

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.wire.error is not None:
            raise self.wire.error

    async def _call(self, channel: int, method: Any) -> Any:
        async with asyncio.timeout(self.timeout):
            return await self.wire.call(channel, method)

    async def _sleep(self, seconds: float) -> None:
        self._wake = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake
        self._wake = None

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _report(self, force: bool = False) -> None:
        self.report_due = False
        if self.progress is None:
            return
        now = time.monotonic()
        if force or self.done - self.reported_done >= self.window or now - self.reported_at >= 0.1:
            self.reported_done, self.reported_at = self.done, now
            self.progress(self.snapshot("; ".join(self.notes[-1:])))
