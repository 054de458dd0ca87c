"""RabbitMQ queues: every queue of a vhost in one management-API request, AMQP passive declares as fallback.

`columns=` keeps the answer small (the full default payload is ~1.5 MB for 1,000 queues). Without the
management plugin, aio-pika passive-declares the configured queues: a missing queue closes the channel
(404), so each queue gets a fresh channel and a missing one is reported, not fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from console.adapters.http11 import ProbeTransport
from console.adapters.http_health import tls_context
from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import QueueInfo
from console.sanitize import clean
from console.secrets import redact_text

COLUMNS = (
    "name,messages,messages_ready,messages_unacknowledged,consumers,arguments,"
    "message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
)
MAX_BYTES = 32 * 1024 * 1024  # a peek of 200 letters cut at 64 KiB is ~17 MB of base64; queue listings far less


def _number(value: Any) -> bool:
    """A real JSON number: not a bool, not NaN/Infinity (which Python's json module accepts)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> int:
    if type(value) is int:  # what the API sends: skip the general checks (a tick reads thousands)
        return value
    return int(value) if _number(value) else 0


def _rate(stats: Any, key: str) -> float | None:
    if not isinstance(stats, dict) or not isinstance(stats.get(key), dict):
        return None
    rate = stats[key].get("rate")
    return float(rate) if _number(rate) else None


def _text(value: str) -> str:
    """`clean(value, 200)`, without the regex passes for the usual short printable name."""
    return value if len(value) <= 200 and value.isprintable() else clean(value, 200)


# A queue's figures as read (name and dead-letter exchange before cleaning): equal figures, equal QueueInfo.
_Figures = tuple[str, int, int, int, float | None, float | None, str | None]


def parse_queues(payload: Any, reuse: dict[_Figures, QueueInfo] | None = None) -> tuple[QueueInfo, ...]:
    """The queues of a management-API listing; malformed items are skipped, odd values read as 0 / none.

    With `reuse` (a dict kept from tick to tick), a queue whose figures have not changed since the last tick
    comes back as the same QueueInfo object: building a frozen 13-field dataclass is most of a tick's CPU
    over 1,000 queues, and most queues of a fleet are idle. `reuse` then holds this tick's queues only.
    """
    if not isinstance(payload, list):
        raise BadResponse("management API: expected a list of queues")
    previous = reuse.copy() if reuse else {}
    if reuse is not None:
        reuse.clear()
    queues = []
    for item in payload:
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if not isinstance(name, str):
            continue
        arguments = item.get("arguments")
        dlx = arguments.get("x-dead-letter-exchange") if isinstance(arguments, dict) else None
        if not isinstance(dlx, str):
            dlx = None
        ready, unacked = _int(item.get("messages_ready")), _int(item.get("messages_unacknowledged"))
        consumers = _int(item.get("consumers"))
        stats = item.get("message_stats")  # absent on a queue nothing went through
        publish = None if stats is None else _rate(stats, "publish_details")
        deliver = None if stats is None else _rate(stats, "deliver_get_details")
        figures = (name, ready, unacked, consumers, publish, deliver, dlx)
        info = previous.get(figures)
        if info is None:
            info = QueueInfo(
                kind="rabbitmq",
                name=_text(name),
                depth=ready + unacked,
                consumers=consumers,
                ready=ready,
                in_flight=unacked,
                publish_rate=publish,
                deliver_rate=deliver,
                dead_letter_exchange="" if dlx is None else _text(dlx),
            )
        if reuse is not None:
            reuse[figures] = info
        queues.append(info)
    return tuple(queues)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body, or BadResponse as soon as it is known to exceed `limit` bytes (never buffering more)."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise BadResponse(f"management API answer too large ({int(announced):,} bytes, cap {limit:,})")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise BadResponse(f"management API answer too large (over {limit:,} bytes)")
    return bytes(body)


class ManagementApi:
    def __init__(
        self,
        url: str,
        vhost: str = "/",
        timeout: float = 3.0,
        username: str = "guest",
        password: str = "guest",
        verify_tls: bool = True,
    ):
        self.url = url.rstrip("/")
        self.vhost = vhost
        self.timeout = timeout
        self._secret = password
        self._known: dict[_Figures, QueueInfo] = {}  # the last listing's queues, for parse_queues(reuse=)
        # The health probes' lean HTTP/1.1 transport under httpx's client (auth, errors): a poll 1.1 → 0.6 ms of CPU.
        transport = ProbeTransport(tls_context(verify_tls))
        self._client = httpx.AsyncClient(auth=(username, password), trust_env=False, transport=transport)

    @classmethod
    def from_url(cls, url: str, vhost: str = "/", timeout: float = 3.0, verify_tls: bool = True) -> ManagementApi:
        """Credentials come out of the URL into basic auth, so they never reach a logged URL or error."""
        parts = urlsplit(url)
        bare = url
        if parts.hostname:
            bare = urlunsplit(
                (parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""), parts.path, "", "")
            )
        return cls(
            bare, vhost, timeout, unquote(parts.username or "guest"), unquote(parts.password or "guest"), verify_tls
        )

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One management-API request; every failure becomes the console's error tree, password masked.

        `timeout` bounds the whole exchange (connect, headers and body), not each read: a server dribbling a
        byte at a time cannot hold a poll open. The body is read in chunks up to MAX_BYTES and abandoned past
        it (an announced Content-Length over the cap is refused before reading), so a runaway answer costs at
        most MAX_BYTES of memory.
        """
        url = f"{self.url}/api/{path}"
        try:
            async with (
                asyncio.timeout(self.timeout),
                self._client.stream(method, url, timeout=self.timeout, **kwargs) as response,
            ):
                if response.status_code == 401:
                    raise SourceUnavailable("management API: authentication failed")
                if response.status_code == 404:
                    raise BadResponse(f"management API: not found: {clean(path, 120)}")
                if response.status_code != 200:
                    raise BadResponse(f"management API answered HTTP {response.status_code}")
                content_type = response.headers.get("content-type", "")
                body = await _read_capped(response, MAX_BYTES)
        except (TimeoutError, httpx.TimeoutException):
            raise SourceTimeout(f"management API timeout after {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            text = clean(redact_text(str(exc), (self._secret,)), 120)
            raise SourceUnavailable(f"management API unreachable: {text or type(exc).__name__}") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            shown = clean(content_type.split(";", 1)[0].strip(), 60)
            if shown and "json" not in shown.lower():
                raise BadResponse(f"management API answered {shown}, not JSON") from None
            raise BadResponse("management API answered invalid JSON") from None

    def _vhost(self) -> str:
        return quote(self.vhost, safe="")

    async def queues(self) -> tuple[QueueInfo, ...]:
        payload = await self._call("GET", f"queues/{self._vhost()}", params={"columns": COLUMNS})
        return parse_queues(payload, self._known)

    async def queue(self, name: str) -> QueueInfo:
        payload = await self._call("GET", f"queues/{self._vhost()}/{quote(name, safe='')}", params={"columns": COLUMNS})
        found = parse_queues([payload])
        if not found:
            raise BadResponse(f"management API: no queue {clean(name, 120)!r}")
        return found[0]

    async def bound_queues(self, exchange: str) -> tuple[str, ...]:
        """Queues bound to `exchange` (a dead-letter exchange's queues are the DLQs)."""
        path = f"exchanges/{self._vhost()}/{quote(exchange, safe='')}/bindings/source"
        payload = await self._call("GET", path)
        if not isinstance(payload, list):
            raise BadResponse("management API: expected a list of bindings")
        names = {
            b["destination"]
            for b in payload
            if isinstance(b, dict) and b.get("destination_type") == "queue" and isinstance(b.get("destination"), str)
        }
        return tuple(sorted(names))

    async def peek(self, name: str, count: int, truncate: int) -> list[dict[str, Any]]:
        """The first `count` messages at the head, requeued at once (what the management UI's Get does).

        Requeued messages come back in place but flagged redelivered; bodies arrive base64, cut at `truncate`.
        """
        body = {"count": count, "ackmode": "ack_requeue_true", "encoding": "base64", "truncate": truncate}
        payload = await self._call("POST", f"queues/{self._vhost()}/{quote(name, safe='')}/get", json=body)
        if not isinstance(payload, list):
            raise BadResponse("management API: expected a list of messages")
        return [item for item in payload if isinstance(item, dict)]

    async def aclose(self) -> None:
        await self._client.aclose()


async def _closed(closing: Awaitable[object], timeout: float) -> None:
    """Close within `timeout`, whatever happens: a close waits for the broker's answer, read by aiormq's own
    task, and when a poll is cancelled as its event loop shuts down that task may already be gone (a test's
    teardown hung there for good)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(closing, timeout)


async def passive_depths(amqp_url: str, names: tuple[str, ...], timeout: float) -> tuple[tuple[QueueInfo, ...], str]:
    """Depth and consumers of `names` through AMQP passive declares; missing queues are named in the note."""
    import aio_pika
    from aio_pika.exceptions import ChannelClosed

    try:
        connection = await aio_pika.connect(amqp_url, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - aio-pika/aiormq raise many types for one outcome
        raise SourceUnavailable(f"AMQP unreachable: {clean(redact_text(str(exc)), 120)}") from None
    queues, missing = [], []
    try:
        for name in names:
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(name, passive=True, timeout=timeout)
                result = declared.declaration_result
                queues.append(
                    QueueInfo(
                        kind="rabbitmq",
                        name=clean(name, 200),
                        depth=result.message_count or 0,
                        consumers=result.consumer_count,
                        ready=result.message_count or 0,
                    )
                )
            except ChannelClosed:
                missing.append(name)  # 404: the broker closed this channel; the connection lives on
            finally:
                if not channel.is_closed:
                    await _closed(channel.close(), timeout)
    finally:
        await _closed(connection.close(), timeout)
    note = f"missing: {', '.join(clean(n, 60) for n in missing)}" if missing else ""
    return tuple(queues), note
