"""A lean HTTP/1.1 transport for httpx: the health probes' hot path.

httpx's own stack (client, httpcore on anyio, h11) cost 1.0-1.4 ms of CPU a request on the 2-core bench
machine, and httpcore's pool re-checks every pooled connection (a `poll()` and a rebuilt anyio attribute table
each) whenever any request of the pool starts or ends. A round of 1,000 health targets needed more CPU than the
probes' 1 s timeout, so every probe of the round timed out, healthy or not. This transport speaks HTTP/1.1 on
an asyncio Protocol: a request is one write, a response head one regex search and a `split`; a probe through
it costs ~0.35 ms, most of it the kernel's.

Behind an `httpx.AsyncClient`, httpx still builds requests, applies auth, follows redirects (dropping
`Authorization` across origins) and decodes gzip/deflate; errors are httpx's exception types, so `probe()` and
its error texts see what they saw before. `http_health.ProbeClient` also hands its plain GETs to it directly.

Only what a health probe needs: http and https, keep-alive (idle connections expire after 5 s, as httpx's do),
bodies framed by Content-Length, chunked or the end of the connection, request bodies sent whole. No HTTP/2,
no proxies (the probe clients never read proxy settings), no Upgrade; httpx's write and pool timeouts are not
applied (a probe's own deadline bounds the whole exchange).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator

import httpx

MAX_HEAD_BYTES = 64 * 1024  # status line and headers; h11 allows 16 KiB
KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)
_READ_SIZE = 64 * 1024
_PAUSE_ABOVE = 256 * 1024  # stop reading the socket while this much waits unread (a huge body is cut, not buffered)
_MAX_LINE = 4096  # a chunk-size or trailer line
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_UNSAFE = re.compile(rb"[\x00\r\n]")
_UNSAFE_NAME = re.compile(rb"[\x00-\x20:\x7f]")
_CLOSED_EARLY = "Server disconnected without sending a response."
_IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS"))
_DRAIN_SECONDS = 1.0  # how long an answer the caller stopped waiting for may still take to keep its connection
_DRAIN_MAX_BYTES = 64 * 1024

Origin = tuple[bytes, bytes, int]


class _Connection(asyncio.Protocol):
    """One socket: bytes in a buffer, a waiter woken on data, end of stream or loss."""

    def __init__(self, loop: asyncio.AbstractEventLoop, registry: set[_Connection]) -> None:
        self.loop = loop
        self.registry = registry
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.origin: Origin = (b"", b"", 0)
        self.idle_since = 0.0
        self.received = False  # any byte of the current response arrived
        self._waiter: asyncio.Future[bool] | None = None
        self._paused = False

    # --- asyncio.Protocol --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.registry.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.received = True
        if len(self.buffer) > _PAUSE_ABOVE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake(True)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake(True)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.registry.discard(self)
        self._wake(True)

    # --- reading -------------------------------------------------------------------------------------------

    def _wake(self, value: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    async def _wait(self, timeout: float | None) -> None:
        """Until more bytes, end of stream or loss; httpx.ReadTimeout after `timeout` seconds of silence."""
        waiter = self._waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._wake, False) if timeout is not None else None
        try:
            if not await waiter:
                raise httpx.ReadTimeout("timed out")
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        if self._paused and len(self.buffer) < _PAUSE_ABOVE // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def read_head(self, timeout: float | None) -> bytes:
        """The status line and headers (without the blank line ending them)."""
        start = 0
        while True:
            found = _HEAD_END.search(self.buffer, start)
            if found is not None and found.start() <= MAX_HEAD_BYTES:
                head = self._take(found.end())
                return head[: found.start()]
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError(f"response head over {MAX_HEAD_BYTES // 1024} KiB")
            if self.eof:
                raise httpx.RemoteProtocolError(_CLOSED_EARLY if not self.buffer else "incomplete response head")
            start = max(0, len(self.buffer) - 3)
            await self._wait(timeout)

    async def read_some(self, limit: int, timeout: float | None) -> bytes:
        """Up to `limit` bytes as soon as any are there; b"" at the end of the stream."""
        while not self.buffer:
            if self.eof:
                return b""
            await self._wait(timeout)
        return self._take(limit)

    async def read_line(self, timeout: float | None) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                return self._take(end + 1).rstrip(b"\r\n")
            if len(self.buffer) > _MAX_LINE:
                raise httpx.RemoteProtocolError("chunked body: line too long")
            if self.eof:
                raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            await self._wait(timeout)

    # --- lifecycle -----------------------------------------------------------------------------------------

    def reusable(self, now: float) -> bool:
        transport = self.transport
        return (
            transport is not None
            and not transport.is_closing()
            and not self.eof
            and not self.buffer  # bytes nobody asked for: the stream is out of step
            and now - self.idle_since <= KEEPALIVE_EXPIRY
        )

    def abort(self) -> None:
        """Drop the socket at once: a half-read answer or a server that never answered is not worth a
        graceful close (nor, with TLS, waiting for the peer's close_notify)."""
        if self.transport is not None:
            self.transport.abort()
        self.registry.discard(self)


def _parse_head(head: bytes) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    """(version, status, reason, headers) of a response head."""
    lines = head.split(b"\n")
    parts = lines[0].rstrip(b"\r").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("malformed status line")
    headers: list[tuple[bytes, bytes]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding: part of the previous value
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or _UNSAFE_NAME.search(name):
            raise httpx.RemoteProtocolError("malformed header line")
        headers.append((name, value.strip(b" \t")))
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else b"", headers


def _framing(method: bytes, status: int, headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's length: n bytes, -1 for chunked, None for "until the server closes"."""
    if method == b"HEAD" or status in (204, 304):
        return 0
    lengths: set[bytes] = set()
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return -1 if b"chunked" in value.lower() else None
        if lowered == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
    if not lengths:
        return None
    if len(lengths) > 1 or not next(iter(lengths)).isdigit():
        raise httpx.RemoteProtocolError("invalid Content-Length")
    return int(next(iter(lengths)))


def _keeps_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    if version != b"HTTP/1.1":
        return False
    return not any(name.lower() == b"connection" and b"close" in value.lower() for name, value in headers)


async def _exactly(conn: _Connection, size: int, timeout: float | None) -> AsyncIterator[bytes]:
    """`size` bytes of a body as they arrive (a Content-Length body, or one chunk); a close before the end is an
    error, as httpx's own stack reports it."""
    while size:
        data = await conn.read_some(min(size, _READ_SIZE), timeout)
        if not data:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        size -= len(data)
        yield data


class _Body(httpx.AsyncByteStream):
    """A response body read off its connection; the connection goes back to the pool only when the body was
    read to its end and the server keeps it alive, otherwise it is dropped."""

    def __init__(
        self, pool: ProbeTransport, conn: _Connection, length: int | None, keep_alive: bool, timeout: float | None
    ) -> None:
        self._pool, self._conn, self._length, self._timeout = pool, conn, length, timeout
        self._keep_alive = keep_alive and length is not None
        self._complete = length == 0
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn, timeout, length = self._conn, self._timeout, self._length
        if length is None:  # until the server closes
            while data := await conn.read_some(_READ_SIZE, timeout):
                yield data
        elif length >= 0:
            async for data in _exactly(conn, length, timeout):
                yield data
        else:
            async for data in self._chunks():
                yield data
        self._complete = True

    async def _chunks(self) -> AsyncIterator[bytes]:
        conn, timeout = self._conn, self._timeout
        while True:
            line = await conn.read_line(timeout)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError("chunked body: bad chunk size") from None
            if size < 0:
                raise httpx.RemoteProtocolError("chunked body: bad chunk size")
            if size == 0:
                while await conn.read_line(timeout):  # trailers, up to the blank line
                    pass
                return
            async for data in _exactly(conn, size, timeout):
                yield data
            if await conn.read_line(timeout):
                raise httpx.RemoteProtocolError("chunked body: missing CRLF after a chunk")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._complete and self._keep_alive:
            self._pool._release(self._conn)
        else:
            self._conn.abort()


class ProbeTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections per origin, for `httpx.AsyncClient(transport=...)`.

    `ssl_context` is used for every https connection (verification is the context's business).
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._connections: set[_Connection] = set()
        self._drains: set[asyncio.Task[None]] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        origin: Origin = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        method = request.method.encode("ascii")
        message = _request_head(method, url.raw_path, request.headers.raw) + _body(request, await request.aread())
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        for attempt in (1, 2):
            reused = self._checkout(origin) if attempt == 1 else None
            conn = reused or await self._connect(origin, timeouts.get("connect"))
            conn.received = False
            assert conn.transport is not None
            try:
                conn.transport.write(message)
                head = await conn.read_head(read_timeout)
                version, status, reason, headers = _parse_head(head)
                while 100 <= status < 200:  # interim answers (100 Continue, 103 Early Hints)
                    if status == 101:
                        raise httpx.RemoteProtocolError("protocol upgrade is not supported")
                    version, status, reason, headers = _parse_head(await conn.read_head(read_timeout))
                length = _framing(method, status, headers)
            except httpx.RemoteProtocolError:
                conn.abort()
                # A kept-alive connection the server closed just as it was reused: an idempotent request is
                # safe to send again on a new one, within the same deadline.
                if reused is not None and not conn.received and method in _IDEMPOTENT:
                    continue
                raise
            except asyncio.CancelledError:
                self._drain_later(conn, method, request)
                raise
            except BaseException:
                conn.abort()
                raise
            break
        keep_alive = _keeps_alive(version, headers) and not _asks_close(request.headers.raw)
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(self, conn, length, keep_alive, read_timeout),
            extensions={"http_version": version, "reason_phrase": reason},
        )

    def _checkout(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have been closed by the server
            if conn.reusable(now):
                return conn
            conn.abort()
        return None

    def _release(self, conn: _Connection) -> None:
        if self._closed:
            conn.abort()
            return
        conn.idle_since = conn.loop.time()
        self._idle.setdefault(conn.origin, []).append(conn)

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        loop = asyncio.get_running_loop()
        tls = scheme == b"https"
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, self._connections),
                    host,
                    port,
                    ssl=self.ssl_context if tls else None,
                    server_hostname=host if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out") from None
        except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
            text = str(exc)
            if text.startswith("Multiple exceptions"):  # every address of the name failed (asyncio's wording)
                text = f"All connection attempts failed: {text}"
            raise httpx.ConnectError(text) from exc
        conn.origin = origin
        return conn

    def _drain_later(self, conn: _Connection, method: bytes, request: httpx.Request) -> None:
        """The caller stopped waiting (its deadline passed) before the answer's head arrived. A client starved
        of CPU times out healthy targets whose answers are already on the way; dropping those connections would
        make the next round reconnect to each, costing more CPU and timing out again. So the answer is read and
        discarded in the background, and the connection kept if it arrives within _DRAIN_SECONDS, small and
        keep-alive; otherwise it is dropped, as before."""
        if self._closed or _asks_close(request.headers.raw):
            conn.abort()
            return
        task = asyncio.get_running_loop().create_task(self._drain(conn, method))
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, conn: _Connection, method: bytes) -> None:
        try:
            async with asyncio.timeout(_DRAIN_SECONDS):
                version, status, _, headers = _parse_head(await conn.read_head(None))
                while 100 <= status < 200 and status != 101:
                    version, status, _, headers = _parse_head(await conn.read_head(None))
                length = _framing(method, status, headers)
                if status == 101 or length is None or not 0 <= length <= _DRAIN_MAX_BYTES:
                    conn.abort()
                    return
                while length:
                    data = await conn.read_some(length, None)
                    if not data:
                        conn.abort()
                        return
                    length -= len(data)
        except (Exception, asyncio.CancelledError):  # too late, broken, or the client closing: drop it
            conn.abort()
            return
        if _keeps_alive(version, headers):
            self._release(conn)
        else:
            conn.abort()

    async def aclose(self) -> None:
        self._closed = True
        self._idle.clear()
        drains = list(self._drains)
        for task in drains:
            task.cancel()
        for conn in list(self._connections):
            conn.abort()
        await asyncio.gather(*drains, return_exceptions=True)


def _request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request line and headers; a CR, LF or NUL anywhere (a header smuggling another) is refused."""
    if _UNSAFE.search(target) or b" " in target:
        raise httpx.LocalProtocolError("invalid request target")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if _UNSAFE_NAME.search(name) or _UNSAFE.search(value):
            raise httpx.LocalProtocolError(f"invalid header {name!r}")
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def _body(request: httpx.Request, content: bytes) -> bytes:
    """The request body as sent: whole, or as one chunk when httpx announced chunked (a stream of unknown
    length, read here in full)."""
    if "transfer-encoding" not in request.headers:
        return content
    return (b"%x\r\n%s\r\n" % (len(content), content) if content else b"") + b"0\r\n\r\n"


def _asks_close(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"connection" and b"close" in value.lower() for name, value in headers)
