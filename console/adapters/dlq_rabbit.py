"""RabbitMQ dead-letter queues: discover, peek, replay to origin, move, export, purge with backup, restore.

Browsing uses the management API's Get (requeue): one request, bodies cut server-side, so a 10 MB letter
costs 64 KiB. Actions use AMQP and never ack a letter before its copy is safe. Replay and move stream: a
consumer with a prefetch window feeds pipelined publishes on a confirming channel, each letter acked only
when the broker confirmed its own copy (`dlq_rabbit_pump`, over the lean connection of `amqp_wire`); the
other actions take letters with `basic.get` through aio-pika. A letter an action does not take stays unacked
until the end and is then requeued; if the connection dies, every unacked letter goes back to the DLQ by
itself.

A replay goes where `x-death` says the letter was first published: its exchange and routing key, so the
origin queue's consumers see the routing key they expect (a fanout or topic exchange also reaches its other
bound queues: the dry-run names the exchange and key). `move` sends to one named queue instead.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from console.adapters.amqp_wire import Wire, WireError
from console.adapters.dlq_base import (
    SCAN_CAP,
    Mark,
    Plan,
    PlannedLetter,
    Progress,
    Selection,
    decode,
    encode,
    make_plan,
    write_ndjson,
)
from console.adapters.dlq_rabbit_pump import WINDOW as WINDOW  # unsettled letters a replay allows at most
from console.adapters.dlq_rabbit_pump import Pump
from console.adapters.rabbitmq import ManagementApi
from console.errors import ActionRefused, BadResponse, ConsoleError, SourceUnavailable
from console.model import (
    DEAD_LETTER_BODY_CAP,
    DeadLetter,
    DeadLetterPage,
    Death,
    DlqInfo,
    QueueInfo,
    ReplayProgress,
    breakdown,
)
from console.sanitize import clean
from console.secrets import redact_text

BROWSE_CAP = 200  # letters one browse peeks: peeks requeue, so keep them few
_PROPERTY_NAMES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
)


async def discover(api: ManagementApi, queues: tuple[QueueInfo, ...]) -> tuple[str, ...]:
    """DLQs: the queues bound to any dead-letter exchange named in another queue's arguments."""
    found: set[str] = set()
    for exchange in sorted({q.dead_letter_exchange for q in queues if q.dead_letter_exchange}):
        try:
            found.update(await api.bound_queues(exchange))
        except BadResponse:
            continue  # the DLX is named but not declared: nothing dead-letters anywhere yet
    return tuple(sorted(found))


# --- letters from the two wire shapes ----------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # a header claiming the year 10^20 is no time
            return None
    return None


def deaths_of(headers: dict[str, Any]) -> tuple[Death, ...]:
    raw = headers.get("x-death")
    if not isinstance(raw, list):
        return ()
    deaths = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        keys = entry.get("routing-keys")
        count = entry.get("count")
        deaths.append(
            Death(
                queue=_text(entry.get("queue")),
                reason=_text(entry.get("reason")),
                exchange=_text(entry.get("exchange")),
                routing_keys=tuple(_text(k) for k in keys) if isinstance(keys, list) else (),
                count=count if isinstance(count, int) and not isinstance(count, bool) else 1,
                time=_time(entry.get("time")),
            )
        )
    return tuple(deaths)


def origin_route(deaths: tuple[Death, ...]) -> tuple[str, str] | None:
    """(exchange, routing key) the letter was published with before it died, from the newest x-death."""
    if not deaths or not deaths[0].routing_keys:
        return None
    return deaths[0].exchange, deaths[0].routing_keys[0]


def describe_route(exchange: str, routing_key: str) -> str:
    if exchange == "":
        return f"queue {routing_key}"
    return f"exchange {exchange} · key {routing_key}"


def _ref(message_id: str, body: bytes, size: int, headers: dict[str, Any]) -> str:
    """Stable across peeks and gets: the message id, else a digest of what the letter is."""
    if message_id:
        return message_id
    digest = hashlib.sha256(body[:DEAD_LETTER_BODY_CAP])
    digest.update(str(size).encode())
    digest.update(repr(sorted((k, repr(v)) for k, v in headers.items() if k != "x-death")).encode())
    return "sha256:" + digest.hexdigest()[:24]


def _letter(
    dlq: str, body: bytes, size: int, properties: dict[str, Any], headers: dict[str, Any], redelivered: bool
) -> DeadLetter:
    deaths = deaths_of(headers)
    route = origin_route(deaths)
    message_id = _text(properties.get("message_id"))
    shown = tuple(
        (name, _text(value))
        for name, value in properties.items()
        if name != "headers" and value not in (None, "") and name in _PROPERTY_NAMES
    )
    return DeadLetter(
        kind="rabbitmq",
        dlq=dlq,
        ref=_ref(message_id, body, size, headers),
        message_id=message_id,
        origin=deaths[0].queue if deaths else "",
        reason=deaths[0].reason if deaths else "",
        at=(deaths[0].time if deaths else None) or _time(properties.get("timestamp")),
        size=size,
        body=body[:DEAD_LETTER_BODY_CAP],
        truncated=size > DEAD_LETTER_BODY_CAP,
        content_type=_text(properties.get("content_type")),
        properties=shown,
        headers=tuple((str(k), _text(v) if not isinstance(v, list | dict) else repr(v)) for k, v in headers.items()),
        deaths=deaths,
        destination=describe_route(*route) if route else "",
        redelivered=redelivered,
    )


def letter_from_api(dlq: str, item: dict[str, Any]) -> DeadLetter:
    """A letter from the management API's Get (bodies base64, maybe truncated, x-death times as epochs)."""
    payload = item.get("payload")
    try:
        body = base64.b64decode(payload if isinstance(payload, str | bytes) else "")
    except ValueError:
        body = _text(payload).encode()
    properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    assert isinstance(properties, dict)
    headers = properties.get("headers") if isinstance(properties.get("headers"), dict) else {}
    assert isinstance(headers, dict)
    size = item.get("payload_bytes")
    return _letter(
        dlq,
        body,
        size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else len(body),
        properties,
        headers,
        bool(item.get("redelivered")),
    )


def letter_from_message(dlq: str, message: Any) -> DeadLetter:
    """A letter from an aio-pika IncomingMessage."""
    properties = {name: getattr(message, name, None) for name in _PROPERTY_NAMES}
    return _letter(dlq, message.body, len(message.body), properties, dict(message.headers or {}), message.redelivered)


# --- NDJSON records ---------------------------------------------------------------------------------------


def message_record(message: Any, queue: str) -> dict[str, Any]:
    """One letter as an NDJSON line: exact body, every property, typed headers; `dlq` is where it lived."""
    properties = {name: getattr(message, name, None) for name in _PROPERTY_NAMES}
    if properties["delivery_mode"] is not None:
        properties["delivery_mode"] = int(properties["delivery_mode"])
    if properties["expiration"] is not None:
        properties["expiration"] = str(message.expiration)
    return {
        "kind": "rabbitmq",
        "dlq": queue,
        "body_b64": base64.b64encode(message.body).decode(),
        "exchange": message.exchange,
        "routing_key": message.routing_key,
        "properties": encode(properties),
        "headers": encode(dict(message.headers or {})),
    }


def _login(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).username or "guest")


def amqp_boundary(method: Any) -> Any:
    """aio-pika / aiormq exceptions as the console's error tree (one wording, password masked)."""

    @functools.wraps(method)
    async def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except ConsoleError:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - aiormq raises many types for one outcome
            text = clean(redact_text(str(exc)), 160)
            if "NOT_FOUND" in text:
                raise BadResponse(f"RabbitMQ: no queue or exchange: {text}") from None
            raise SourceUnavailable(f"RabbitMQ: {type(exc).__name__}: {text}") from None

    return guarded


# --- the store --------------------------------------------------------------------------------------------


class RabbitDlq:
    """One RabbitMQ DLQ. `api` (management) serves browsing and counts; AMQP serves every action."""

    kind = "rabbitmq"

    def __init__(self, name: str, amqp_url: str | None, api: ManagementApi | None, timeout: float = 5.0):
        self.name = name
        self.amqp_url = amqp_url
        self.api = api
        self.timeout = timeout
        self.login = _login(amqp_url) if amqp_url else ""

    # reading

    @amqp_boundary
    async def info(self, sample: int) -> DlqInfo:
        if self.api is not None:
            queue = await self.api.queue(self.name)
            count = queue.depth
            inflow = queue.publish_rate * 60 if queue.publish_rate is not None else None
        else:
            count, inflow = await self._depth(), None
        letters: list[DeadLetter] = []
        if sample and count:
            letters = await self._peek(min(sample, count), truncate=256)
        return DlqInfo(
            kind="rabbitmq",
            name=self.name,
            count=count,
            inflow_per_minute=inflow,
            oldest_at=letters[0].at if letters else None,  # the head is the oldest letter
            by_origin=breakdown(letter.origin or "?" for letter in letters),
            by_reason=breakdown(letter.reason or "?" for letter in letters),
            sampled=len(letters),
        )

    @amqp_boundary
    async def count(self) -> int:
        # The management API's figures are statistics, refreshed every 5 s: after a replay they still show
        # the letters that just left. A passive declare asks the queue itself.
        if self.amqp_url:
            return await self._depth()
        return (await self.info(0)).count

    @amqp_boundary
    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage:
        count = (await self.api.queue(self.name)).depth if self.api is not None else await self._depth()
        peeked = await self._peek(min(BROWSE_CAP, count), truncate=DEAD_LETTER_BODY_CAP) if count else []
        # Newest first; letters that died in the same second keep queue order, later ones first.
        oldest = datetime.min.replace(tzinfo=UTC)
        ranked = sorted(enumerate(peeked), key=lambda item: (item[1].at or oldest, item[0]), reverse=True)
        matching = [letter for _, letter in ranked if selection.wants(letter)]
        note = f"peeked {len(peeked):,} of {count:,} from the head (oldest), requeued at once; newest first"
        return DeadLetterPage(
            dlq=self.name,
            kind="rabbitmq",
            total=count,
            letters=tuple(matching[offset : offset + limit]),
            offset=offset,
            scanned=len(peeked),
            note=note,
        )

    async def _peek(self, count: int, truncate: int) -> list[DeadLetter]:
        if self.api is not None:
            return [letter_from_api(self.name, item) for item in await self.api.peek(self.name, count, truncate)]
        connection = await self._connect()
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.name, passive=True)
            letters = []
            for _ in range(count):
                message = await queue.get(no_ack=False, fail=False, timeout=self.timeout)
                if message is None:
                    break
                letters.append(letter_from_message(self.name, message))
            return letters
        finally:
            await connection.close()  # unacked: back to the queue

    async def _depth(self) -> int:
        connection = await self._connect()
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.name, passive=True, timeout=self.timeout)
            return int(queue.declaration_result.message_count or 0)
        finally:
            await connection.close()

    async def _connect(self) -> Any:
        import aio_pika

        if not self.amqp_url:
            raise ActionRefused("this needs [env.NAME.rabbitmq] amqp_url")
        try:
            return await aio_pika.connect(self.amqp_url, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - aio-pika/aiormq raise many types for one outcome
            raise SourceUnavailable(f"AMQP unreachable: {clean(redact_text(str(exc)), 120)}") from None

    # acting

    def _route(self, verb: str, letter: DeadLetter, target: str) -> tuple[str, str] | None:
        if verb == "move":
            return ("", target)
        return origin_route(letter.deaths)

    async def _exists(self, connection: Any, verb: str, exchange: str, target: str) -> bool:
        """Publishing to a missing exchange closes the channel: look first, on a throwaway channel."""
        from aio_pika.exceptions import ChannelClosed

        if exchange == "" and verb != "move":
            return True
        channel = await connection.channel()
        try:
            if verb == "move":
                await channel.declare_queue(target, passive=True, timeout=self.timeout)
            else:
                await channel.declare_exchange(exchange, passive=True, timeout=self.timeout)
            return True
        except ChannelClosed:
            return False
        finally:
            if not channel.is_closed:
                await channel.close()

    @amqp_boundary
    async def plan(self, verb: str, selection: Selection, target: str = "") -> Plan:
        connection = await self._connect()
        planned: list[PlannedLetter] = []
        known: dict[str, bool] = {}
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.name, passive=True, timeout=self.timeout)
            total = int(queue.declaration_result.message_count or 0)
            scanned = 0
            while scanned < min(total, SCAN_CAP):
                message = await queue.get(no_ack=False, fail=False, timeout=self.timeout)
                if message is None:
                    break
                scanned += 1
                letter = letter_from_message(self.name, message)
                if not selection.wants(letter):
                    continue
                destination, problem = "backup file", ""
                if verb in ("replay", "move"):
                    route = self._route(verb, letter, target)
                    if route is None:
                        destination, problem = "", "no x-death routing key: origin unknown (move it instead)"
                    else:
                        if route[0] not in known:
                            known[route[0]] = await self._exists(connection, verb, route[0], target)
                        destination = describe_route(*route)
                        if not known[route[0]]:
                            what = f"queue {target}" if verb == "move" else f"exchange {route[0]}"
                            destination, problem = "", f"{what} does not exist"
                planned.append(
                    PlannedLetter(letter.ref, letter.message_id, letter.origin, letter.reason, destination, problem)
                )
                if selection.limit is not None and len(planned) >= selection.limit:
                    break
        finally:
            await connection.close()  # every peeked letter goes back
        return make_plan(planned, scanned, capped=total > SCAN_CAP and scanned >= SCAN_CAP)

    async def transfer(
        self,
        verb: str,
        selection: Selection,
        mark: Mark,
        target: str = "",
        rate: float = 200.0,
        abort: asyncio.Event | None = None,
        progress: Progress | None = None,
    ) -> ReplayProgress:
        """Replay to origin (or move to `target`); each letter is acked only after its copy is confirmed.

        A consumer with a prefetch window feeds pipelined confirmed publishes over a lean connection
        (`dlq_rabbit_pump`): at most `WINDOW` letters are unsettled at once, which bounds the duplicates a
        lost connection can leave."""
        if verb not in ("replay", "move") or (verb == "move" and not target):
            raise ActionRefused("transfer is replay, or move with a target queue")
        if not self.amqp_url:
            raise ActionRefused("this needs [env.NAME.rabbitmq] amqp_url")
        abort = abort or asyncio.Event()
        try:
            wire = await Wire.open(self.amqp_url, self.timeout)
        except (WireError, OSError, TimeoutError, ValueError) as exc:
            raise SourceUnavailable(f"AMQP unreachable: {clean(redact_text(str(exc)), 120)}") from None
        pump = Pump(
            wire,
            self.name,
            self.login,
            self.timeout,
            verb,
            selection,
            mark,
            target,
            rate,
            abort,
            progress,
            letter=lambda dlq, body, properties, headers, redelivered: _letter(
                dlq, body, len(body), properties, headers, redelivered
            ),
            origin=lambda headers: origin_route(deaths_of(headers)),
        )
        try:
            return await pump.run()
        except ConsoleError:
            raise
        except Exception as exc:  # noqa: BLE001 - a lost connection or channel: one of ours, after the counts so far
            error = SourceUnavailable(f"AMQP {verb} stopped: {type(exc).__name__} {clean(redact_text(str(exc)), 120)}")
            if progress is not None:
                progress(pump.snapshot(f"stopped: {error}"))
            raise error from None
        finally:
            await wire.close()  # letters not taken, not confirmed or aborted: back to the DLQ, in place

    @amqp_boundary
    async def export(self, selection: Selection, path: Path) -> int:
        connection = await self._connect()
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.name, passive=True, timeout=self.timeout)
            total = min(int(queue.declaration_result.message_count or 0), SCAN_CAP)
            records = []
            for _ in range(total):
                message = await queue.get(no_ack=False, fail=False, timeout=self.timeout)
                if message is None:
                    break
                if selection.wants(letter_from_message(self.name, message)):
                    records.append(message_record(message, self.name))
                    if selection.limit is not None and len(records) >= selection.limit:
                        break
            return write_ndjson(path, records)
        finally:
            await connection.close()  # nothing acked: every letter stays

    @amqp_boundary
    async def purge(self, backup: Path) -> int:
        """Take every letter present at the start, write them all to `backup` (fsynced), then ack them."""
        connection = await self._connect()
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.name, passive=True, timeout=self.timeout)
            total = int(queue.declaration_result.message_count or 0)
            messages = []
            for _ in range(total):
                message = await queue.get(no_ack=False, fail=False, timeout=self.timeout)
                if message is None:
                    break
                messages.append(message)
            write_ndjson(backup, (message_record(m, self.name) for m in messages))
            for message in messages:  # only now: the copy is on disk
                await message.ack()
            return len(messages)
        finally:
            await connection.close()

    @amqp_boundary
    async def restore(self, records: list[dict[str, Any]]) -> int:
        return await restore_records(self._connect, records, self.login, queue=self.name)

    async def aclose(self) -> None:
        return None


async def restore_records(
    connect: Any, records: list[dict[str, Any]], login: str = "", queue: str | None = None
) -> int:
    """Publish backed-up letters back to their queue (default exchange) with confirms: body, properties and
    headers exactly as they were. `queue` overrides the queue each record names."""
    import aio_pika

    for number, record in enumerate(records, 1):
        if record.get("kind", "rabbitmq") != "rabbitmq" or "body_b64" not in record:
            raise ActionRefused(f"record {number}: not a RabbitMQ letter")
    connection = await connect()
    restored = 0
    try:
        channel = await connection.channel(publisher_confirms=True)
        for record in records:
            properties = {k: decode(v) for k, v in record.get("properties", {}).items() if v is not None}
            if isinstance(properties.get("timestamp"), str):  # backups written before typed values
                properties["timestamp"] = datetime.fromisoformat(properties["timestamp"])
            if properties.get("user_id") and properties["user_id"] != login:
                properties.pop("user_id")
            message = aio_pika.Message(
                base64.b64decode(record["body_b64"]), headers=decode(record.get("headers", {})), **properties
            )
            destination = queue or record.get("dlq") or record.get("routing_key") or ""
            await channel.default_exchange.publish(message, routing_key=destination)
            restored += 1
    finally:
        await connection.close()
    return restored
