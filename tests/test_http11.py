"""The health probes' lean HTTP/1.1 transport (console.adapters.http11) against scripted raw servers on
loopback: framing (Content-Length, chunked, until close, none), keep-alive and its races, interim answers,
malformed and oversized answers, header injection, timeouts and TLS.

Each test's server answers from a script, byte for byte, so what the transport must cope with is exact.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from console.adapters.http11 import MAX_HEAD_BYTES, ProbeTransport
from console.adapters.http_health import make_probe_client, probe
from console.model import Status

# (connection number, request number on it, request head) -> bytes to send; None: close without answering;
# "hang": never answer; (bytes, "close"): send, then close.
Script = Callable[[int, int, bytes], bytes | str | tuple[bytes, str] | None]
OK_JSON = b'{"status": "ok"}'


def answer(body: bytes = OK_JSON, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(body),
        extra,
        body,
    )


@dataclass
class RawServer:
    script: Script
    port: int = 0
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.connections += 1
        number, served = self.connections, 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                self.heads.append(head)
                served += 1
                reply = self.script(number, served, head)
                if reply is None:
                    return
                if reply == "hang":
                    await asyncio.sleep(3600)
                data = reply[0] if isinstance(reply, tuple) else reply
                assert isinstance(data, bytes)
                writer.write(data)
                await writer.drain()
                if isinstance(reply, tuple):
                    return
        finally:
            writer.close()

    def url(self, path: str = "/health", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def start(script: Script, tls: ssl.SSLContext | None = None) -> RawServer:
        raw = RawServer(script)
        raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0, ssl=tls)
        raw.port = raw.server.sockets[0].getsockname()[1]
        servers.append(raw)
        return raw

    yield start
    for raw in servers:
        assert raw.server is not None
        raw.server.close()
        for task in raw.handlers:
            task.cancel()
        await asyncio.gather(*raw.handlers, return_exceptions=True)
        await raw.server.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    http = make_probe_client()
    try:
        yield http
    finally:
        await http.aclose()


def always(reply: bytes | str | None) -> Script:
    return lambda conn, number, head: reply


# --- framing --------------------------------------------------------------------------------------------------


async def test_content_length_body_and_keep_alive(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(always(answer()))
    async with make_probe_client() as http:
        for _ in range(3):
            response = await http.get(server.url())
            assert (response.status_code, response.content) == (200, OK_JSON)
            assert response.http_version == "HTTP/1.1" and response.reason_phrase == "OK"
    assert server.connections == 1  # one kept-alive connection for all three


async def test_chunked_body_with_extensions_and_trailers(serve: Callable[..., Awaitable[RawServer]]) -> None:
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;name=value\r\n{"sta\r\n'
        b'b\r\ntus": "ok"}\r\n'
        b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    server = await serve(always(reply))
    async with make_probe_client() as http:
        for _ in range(2):
            response = await http.get(server.url())
            assert response.content == OK_JSON
    assert server.connections == 1


async def test_body_until_close_is_read_whole_and_the_connection_not_reused(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    def script(conn: int, number: int, head: bytes) -> tuple[bytes, str]:
        return b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", "close"

    server = await serve(script)
    async with make_probe_client() as http:
        for _ in range(2):
            assert (await http.get(server.url())).content == b"all of it"
    assert server.connections == 2


@pytest.mark.parametrize(
    ("method", "status"), [("HEAD", "200 OK"), ("GET", "204 No Content"), ("GET", "304 Not Modified")]
)
async def test_answers_without_a_body_keep_the_connection(
    serve: Callable[..., Awaitable[RawServer]], method: str, status: str
) -> None:
    # A HEAD answer announces the length of the body it does not send.
    server = await serve(always(b"HTTP/1.1 %s\r\nContent-Length: 99\r\n\r\n" % status.encode()))
    async with make_probe_client() as http:
        for _ in range(2):
            response = await http.request(method, server.url())
            assert response.content == b""
    assert server.connections == 1


async def test_gzip_body_is_decoded(serve: Callable[..., Awaitable[RawServer]]) -> None:
    packed = gzip.compress(OK_JSON)
    server = await serve(always(answer(packed, extra=b"Content-Encoding: gzip\r\n")))
    async with make_probe_client() as http:
        assert (await http.get(server.url())).json() == {"status": "ok"}


async def test_interim_answers_are_skipped(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(
        always(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + answer())
    )
    async with make_probe_client() as http:
        response = await http.get(server.url())
    assert (response.status_code, response.content) == (200, OK_JSON)


async def test_connection_close_from_the_server_is_honoured(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(always(answer(extra=b"Connection: close\r\n")))
    async with make_probe_client() as http:
        for _ in range(2):
            assert (await http.get(server.url())).status_code == 200
    assert server.connections == 2


async def test_request_head_is_what_httpx_built(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(always(answer()))
    async with make_probe_client() as http:
        await http.get(server.url("/h?x=1&y=%20"), headers={"X-Token": "abc"}, auth=("ops", "pw"))
    head = server.heads[0]
    assert head.startswith(b"GET /h?x=1&y=%20 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n".encode() in head
    assert b"\r\nX-Token: abc\r\n" in head and b"\r\nAuthorization: Basic b3BzOnB3\r\n" in head


async def test_request_body_is_sent_whole(serve: Callable[..., Awaitable[RawServer]]) -> None:
    seen: list[bytes] = []

    async def capture(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(v)
            for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
            if k.lower() == b"content-length"
        )
        seen.append(await reader.readexactly(length))
        writer.write(answer())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(capture, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        async with make_probe_client() as http:
            response = await http.post(f"http://127.0.0.1:{port}/x", json={"updateState": "FORCE_OPEN"})
        assert response.status_code == 200 and seen == [b'{"updateState":"FORCE_OPEN"}']
    finally:
        server.close()
        await server.wait_closed()


# --- keep-alive races -------------------------------------------------------------------------------------------


async def test_kept_alive_connection_closed_by_the_server_is_retried_once_for_a_get(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    # The server drops each connection at its second request without a word: what a keep-alive timeout
    # racing the client's reuse looks like.
    server = await serve(lambda conn, number, head: answer() if number == 1 else None)
    async with make_probe_client() as http:
        for _ in range(3):
            assert (await http.get(server.url())).status_code == 200
    assert server.connections == 3


async def test_a_post_is_never_sent_twice(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(lambda conn, number, head: answer() if number == 1 else None)
    async with make_probe_client() as http:
        assert (await http.post(server.url(), content=b"x")).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(server.url(), content=b"x")
    assert len(server.heads) == 2


async def test_server_closing_a_new_connection_is_not_retried(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    server = await serve(always(None))
    async with make_probe_client() as http:
        result = await probe(http, "health", server.url(), 1.0)
    assert (result.status, result.message) == (Status.CRIT, "connection closed by server")
    assert server.connections == 1


async def test_idle_connections_expire(
    serve: Callable[..., Awaitable[RawServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("console.adapters.http11.KEEPALIVE_EXPIRY", 0.0)
    server = await serve(always(answer()))
    async with make_probe_client() as http:
        for _ in range(2):
            await http.get(server.url())
            await asyncio.sleep(0.01)
    assert server.connections == 2


async def test_an_answer_that_comes_after_the_deadline_keeps_its_connection(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    # What a client starved of CPU sees: the deadline passes while a healthy answer is on its way.
    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            await asyncio.sleep(0.3 if len(connections) == 1 and not answered else 0)
            answered.append(True)
            writer.write(answer())
            await writer.drain()

    connections: list[asyncio.StreamWriter] = []
    answered: list[bool] = []
    server = await asyncio.start_server(late, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/health"
        async with make_probe_client() as http:
            first = await probe(http, "health", url, 0.1)
            assert (first.status, first.message) == (Status.CRIT, "timeout after 0.1s")
            await asyncio.sleep(0.5)  # the late answer arrives and is read in the background
            second = await probe(http, "health", url, 1.0)
            assert second.status is Status.OK
        assert len(connections) == 1 and len(answered) == 2
    finally:
        server.close()
        await server.wait_closed()


async def test_a_target_that_never_answers_loses_its_connection_after_the_drain(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    server = await serve(always("hang"))
    http = make_probe_client()
    try:
        result = await probe(http, "health", server.url(), 0.1)
        assert result.message == "timeout after 0.1s"
        transport = http.transport
        assert transport._connections  # still waiting, briefly, for a late answer
        await asyncio.sleep(1.3)
        assert not transport._connections and not transport._drains
        await probe(http, "health", server.url(), 0.1)
    finally:
        await http.aclose()
    assert not http.transport._drains  # closing the client ends any drain at once


# --- broken answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 OK\r\n\r\n",
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    ],
)
async def test_malformed_answers_are_protocol_errors(serve: Callable[..., Awaitable[RawServer]], reply: bytes) -> None:
    server = await serve(always(reply))
    async with make_probe_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url())


async def test_body_cut_short_is_an_error() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer()[:-3])
        await writer.drain()
        writer.close()

    short = await asyncio.start_server(cut, "127.0.0.1", 0)
    try:
        port = short.sockets[0].getsockname()[1]
        async with make_probe_client() as http:
            result = await probe(http, "health", f"http://127.0.0.1:{port}/health", 1.0)
        assert (result.status, result.message) == (Status.CRIT, "connection closed by server")
    finally:
        short.close()
        await short.wait_closed()


async def test_oversized_head_is_refused(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(always(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n"))
    async with make_probe_client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="head over"):
            await http.get(server.url())


async def test_read_timeout_of_httpx_applies(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(always("hang"))
    async with make_probe_client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await asyncio.wait_for(http.get(server.url(), timeout=0.2), 3.0)


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nInjected: 1", "a\x00b"])
async def test_header_injection_is_refused(serve: Callable[..., Awaitable[RawServer]], value: str) -> None:
    server = await serve(always(answer()))
    async with make_probe_client() as http:
        result = await probe(http, "health", server.url(), 1.0, headers={"X-Token": value})
    assert result.status is Status.CRIT
    assert not any(b"Injected" in head for head in server.heads)


async def test_unsupported_scheme() -> None:
    transport = ProbeTransport(ssl.create_default_context())
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))


async def test_closing_the_client_drops_its_connections(serve: Callable[..., Awaitable[RawServer]]) -> None:
    server = await serve(always(answer()))
    http = make_probe_client()
    await http.get(server.url())
    transport = http._transport  # type: ignore[attr-defined]
    assert isinstance(transport, ProbeTransport) and transport._connections
    await http.aclose()
    assert not transport._connections


# --- TLS --------------------------------------------------------------------------------------------------------


def test_probe_clients_verify_tls_unless_told_not_to() -> None:
    verifying = make_probe_client()._transport.ssl_context  # type: ignore[attr-defined]
    assert verifying.verify_mode is ssl.CERT_REQUIRED and verifying.check_hostname
    lax = make_probe_client(verify_tls=False)._transport.ssl_context  # type: ignore[attr-defined]
    assert lax.verify_mode is ssl.CERT_NONE and not lax.check_hostname


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


async def test_https_verified_unverified_and_refused(
    serve: Callable[..., Awaitable[RawServer]], certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = await serve(always(answer()), tls=tls)

    trusting = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(transport=ProbeTransport(trusting), trust_env=False) as http:
        for host in ("localhost", "127.0.0.1"):  # SNI and host name check, and an IP address SAN
            assert (await http.get(server.url(scheme="https", host=host))).content == OK_JSON

    async with make_probe_client(verify_tls=False) as http:
        assert (await http.get(server.url(scheme="https"))).content == OK_JSON

    async with make_probe_client() as http:  # a self-signed certificate is not trusted
        result = await probe(http, "health", server.url(scheme="https"), 2.0)
    assert (result.status, result.message) == (Status.CRIT, "cannot connect")


# --- the probe client's direct GETs -----------------------------------------------------------------------------


async def test_probe_follows_redirects_and_drops_credentials_across_origins(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    final = await serve(always(answer()))
    location = final.url("/health").encode()
    first = await serve(always(answer(b"", "302 Found", b"Location: " + location + b"\r\n")))
    url = first.url("/health").replace("http://", "http://ops:pw@")
    async with make_probe_client() as http:
        for _ in range(2):
            result = await probe(http, "health", url, 2.0)
            assert (result.status, result.http_status, result.format) == (Status.OK, 200, "seed")
    assert all(b"\r\nAuthorization: Basic b3BzOnB3\r\n" in head for head in first.heads)
    assert not any(b"Authorization" in head for head in final.heads)  # httpx's rule: not to another origin
    # The first poll learnt that this URL redirects: the second went through httpx's client at once.
    assert (len(first.heads), len(final.heads)) == (3, 2)


async def test_probe_sends_the_configured_headers_and_reuses_its_request(
    serve: Callable[..., Awaitable[RawServer]],
) -> None:
    server = await serve(always(answer()))
    async with make_probe_client() as http:
        for _ in range(2):
            result = await probe(http, "health", server.url(), 1.0, headers={"X-Api-Key": "k-123"})
            assert result.status is Status.OK
    assert len(server.heads) == 2 and all(b"\r\nX-Api-Key: k-123\r\n" in head for head in server.heads)
    assert server.connections == 1
