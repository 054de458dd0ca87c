"""The lean plain-HTTP path under PrometheusConnect (`console.adapters.prometheus_http.LeanSession`).

A scripted HTTP/1.1 server on loopback records every request (with the client port it came from, so kept-alive
connections show) and answers as each test tells it: plain, gzip, a gzip bomb, a redirect, or closing the
connection after answering.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from console.adapters.prometheus import FleetQuery, TrafficQuery
from console.adapters.prometheus_http import LeanSession
from console.config import PrometheusConfig, TrafficConfig
from console.errors import BadResponse

UP = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {"job": "api"}, "value": [1, "1"]}]},
}


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless an answer says otherwise

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length", "")
        self._answer(self.rfile.read(int(length) if length.isdigit() else 0))

    def _answer(self, body: bytes) -> None:
        server: Any = self.server
        time.sleep(server.delay)
        server.seen.append((self.client_address[1], self.command, self.path, dict(self.headers), body))
        mode = server.mode
        if mode == "redirect" and self.path.startswith("/api/"):
            self.send_response(307)
            self.send_header("Location", "/moved" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = json.dumps(UP).encode()
        headers = {"Content-Type": "application/json"}
        if mode in ("gzip", "bomb"):
            answer = gzip.compress(b" " * (20 * 1024 * 1024) if mode == "bomb" else answer)
            headers["Content-Encoding"] = "gzip"
        if mode == "close":
            headers["Connection"] = "close"
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if mode in ("close", "hang-up"):
            self.close_connection = True  # "hang-up": without saying so, as an idle timeout does


@pytest.fixture
def scripted() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    server.mode, server.seen, server.delay = "plain", [], 0.0
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def fleet(url: str, **config: Any) -> FleetQuery:
    return FleetQuery(PrometheusConfig(url=url, timeout=2.0, **config), "up", ("job",))


def session_of(query: FleetQuery) -> LeanSession:
    session = query._traffic._client._session
    assert isinstance(session, LeanSession)
    return session


def test_queries_share_one_kept_alive_connection_and_travel_as_forms(scripted: Any) -> None:
    query = fleet(scripted.url)
    try:
        answers = [query.collect() for _ in range(3)]
        assert session_of(query).lean_requests == 3
    finally:
        query.close()
    assert [t.name for t in answers[0].targets] == ["api"] and answers[0] == answers[1] == answers[2]
    ports = {port for port, *_ in scripted.seen}
    assert len(scripted.seen) == 3 and len(ports) == 1  # one connection carried every query
    _port, method, path, headers, body = scripted.seen[0]
    assert (method, path, body) == ("POST", "/api/v1/query", b"query=up")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_connection_the_server_closed_is_not_reused(scripted: Any) -> None:
    scripted.mode = "close"
    query = fleet(scripted.url)
    try:
        assert query.collect() == query.collect()
    finally:
        query.close()
    assert len({port for port, *_ in scripted.seen}) == 2


def test_a_kept_alive_connection_dropped_while_idle_is_retried_once_on_a_new_one(scripted: Any) -> None:
    scripted.mode, scripted.delay = "hang-up", 0.3
    query = fleet(scripted.url)
    try:
        with ThreadPoolExecutor(2) as pool:  # two queries at once: two connections, both kept
            list(pool.map(lambda _: query.collect(), range(2)))
        assert len(next(iter(session_of(query)._idle.values()))) == 2  # kept: the answers did not say close
        time.sleep(0.2)  # the server's side of both is closed by now (a restart, an idle timeout)
        scripted.delay = 0.0
        assert [t.name for t in query.collect().targets] == ["api"]  # not the second dead one: a new one
        assert session_of(query).lean_requests == 3
    finally:
        query.close()
    assert len(scripted.seen) == 3 and len({port for port, *_ in scripted.seen}) == 3


def test_gzip_answers_are_decoded_and_a_gzip_bomb_stops_at_the_cap(scripted: Any) -> None:
    scripted.mode = "gzip"
    query = fleet(scripted.url)
    try:
        assert [t.name for t in query.collect().targets] == ["api"]
        assert scripted.seen[-1][3]["Accept-Encoding"] == "gzip"
        scripted.mode = "bomb"  # 20 MiB of spaces in ~20 KB of gzip: the cap (16 MiB) counts decoded bytes
        with pytest.raises(BadResponse, match="too large"):
            query.collect()
    finally:
        query.close()


def test_credentials_travel_as_basic_auth_and_a_redirect_is_left_to_requests(scripted: Any) -> None:
    query = fleet(scripted.url, username="ops", password="pässword")
    try:
        query.collect()
        assert scripted.seen[-1][3]["Authorization"] == "Basic b3BzOnDkc3N3b3Jk"  # latin-1, as requests sends it
        scripted.mode = "redirect"
        assert [t.name for t in query.collect().targets] == ["api"]
        assert session_of(query).lean_requests == 1  # the redirected query was requests' to follow
    finally:
        query.close()
    assert [path for _port, _method, path, *_ in scripted.seen[-2:]] == ["/api/v1/query", "/moved/api/v1/query"]


def test_https_and_urls_with_credentials_take_requests_path(scripted: Any) -> None:
    with_password = scripted.url.replace("http://", "http://ops:secret@")
    query = fleet(with_password)
    try:
        query.collect()
        assert session_of(query).lean_requests == 0  # requests takes the URL's credentials out
        assert scripted.seen[-1][3]["Authorization"].startswith("Basic ")
    finally:
        query.close()
    traffic = TrafficQuery(PrometheusConfig(url="https://127.0.0.1:1", timeout=0.5), TrafficConfig())
    try:
        with pytest.raises(Exception, match="Prometheus"):
            traffic.collect()
        assert traffic._client._session.lean_requests == 0  # type: ignore[attr-defined]
    finally:
        traffic.close()
