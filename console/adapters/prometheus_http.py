"""The session under `PrometheusConnect`: answers bounded in time and size, and a lean path for plain HTTP.

prometheus-api-client asks its session for `request(...)` and reads `status_code`, `json()` and `content` of
what comes back. `BoundedSession` is a requests session that bounds every answer; `LeanSession` answers the
common case itself — plain `http://`, no proxy, no client certificate — over kept-alive `http.client`
connections, and hands everything else (https, a redirect, an unusual argument) to `BoundedSession`.

Why: a query through requests and urllib3 cost ~1.5 ms of CPU in the console at a 1 s refresh (three queries
a second: traffic, fleet health, cache namespaces), a sixth of its steady CPU; most of it was requests'
machinery (merging settings, preparing the request, the pool's bookkeeping, email-parsed headers twice).
"""

from __future__ import annotations

import base64
import http.client
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from console.errors import BadResponse, SourceTimeout

# One answer. A traffic tick is one combined query of ten parts (~7 MB with every part at SERIES_CAP); a 15-minute
# backfill of a hundred services is ~1-3 MB per range query, three side by side.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024
_FORM = "application/x-www-form-urlencoded"
_FORMS_KEPT = 64
IDLE_EXPIRY = 30.0  # s an idle kept-alive connection is reused; older ones are closed instead (a server may have)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LEAN_KWARGS = frozenset({"params", "data", "headers", "auth", "timeout", "verify", "cert"})


class BoundedSession(requests.Session):
    """A requests session whose answers are bounded in time and size, whatever the server does.

    requests' `timeout` is per socket read, so a server dribbling a byte at a time holds a plain session (and
    the worker thread running it) for as long as it likes, and `response.content` buffers a body of any size.
    Here every request streams its body with `read1` (one socket read at a time), stops at `deadline` seconds
    from the start (SourceTimeout) and at `max_bytes` (BadResponse, before reading anything when the
    Content-Length announces more). A worker thread is therefore free again within about `deadline` plus one
    read timeout. (A server dribbling its *headers* is still bounded only per read: requests offers no hook
    before the headers are complete.)
    """

    def __init__(self, deadline: float, max_bytes: int = MAX_ANSWER_BYTES):
        super().__init__()
        self.deadline = deadline
        self.max_bytes = max_bytes
        self._forms: dict[tuple[tuple[str, Any], ...], bytes] = {}

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        started = time.monotonic()
        kwargs["stream"] = True
        if method == "POST" and kwargs.get("params") and kwargs.get("data") is None:
            kwargs["data"] = self._form(kwargs.pop("params"))
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": _FORM}
        response = super().request(method, url, *args, **kwargs)
        try:
            self._check_announced(response.headers.get("Content-Length", ""))
            body = bytearray()
            while True:
                self._check_deadline(started)
                try:
                    chunk = response.raw.read1(_CHUNK, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError:
                    raise SourceTimeout(f"Prometheus timeout after {self.deadline:g}s") from None
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise requests.exceptions.ChunkedEncodingError(f"answer cut off: {type(exc).__name__}") from None
                if not chunk:
                    break
                body += chunk
                self._check_size(len(body))
            response._content = bytes(body)
        except BaseException:
            response.close()
            raise
        response.close()  # the body is read: the connection goes back to the pool
        return response

    def _check_announced(self, announced: str) -> None:
        if announced.isdigit() and int(announced) > self.max_bytes:
            raise BadResponse(f"Prometheus answer too large ({int(announced):,} bytes, cap {self.max_bytes:,})")

    def _check_deadline(self, started: float) -> None:
        if time.monotonic() - started > self.deadline:
            raise SourceTimeout(f"Prometheus timeout after {self.deadline:g}s (answer still arriving)")

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise BadResponse(f"Prometheus answer too large (over {self.max_bytes:,} bytes)")

    def _form(self, params: dict[str, Any]) -> bytes:
        """The query as a form body, encoded once: a tick asks the same queries every time, and requests and
        urllib3 percent-encode a URL's query a character at a time in Python (~1.5 ms for the traffic tick's
        2 KB of PromQL, most of its CPU)."""
        try:
            key = tuple(params.items())
            form = self._forms.get(key)
        except TypeError:  # an unhashable value (a list): encoded every time
            return urlencode(params, doseq=True).encode()
        if form is None:
            if len(self._forms) >= _FORMS_KEPT:
                self._forms.clear()  # range queries carry their times: never the same twice
            form = self._forms[key] = urlencode(params, doseq=True).encode()
        return form


class _Redirected(Exception):
    """The answer is a redirect: requests follows it (its rules for methods, bodies and credentials)."""


class LeanSession(BoundedSession):
    """`BoundedSession` with plain-HTTP requests answered over `http.client`, with the same bounds and errors.

    Connections are kept alive per origin and shared by the threads that query (the collector's workers, the
    backfill's three): a thread takes an idle one or opens its own. A request on a kept-alive connection that
    the server had closed meanwhile is sent again once on a new one (queries are reads). Failures are raised
    as requests' exceptions, so the adapter's translation into the console's errors stays the one place that
    words them."""

    def __init__(self, deadline: float, max_bytes: int = MAX_ANSWER_BYTES):
        super().__init__(deadline, max_bytes)
        self._idle: dict[tuple[str, int], list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self.lean_requests = 0  # answered here rather than by requests (the tests read it)

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(url) if isinstance(url, str) and not args else None
        if (
            parts is None
            or parts.scheme != "http"
            or not parts.hostname
            or parts.username is not None
            or self.proxies
            or self.cert
            or kwargs.get("cert")
            or not _LEAN_KWARGS.issuperset(kwargs)
            or not isinstance(kwargs.get("data"), bytes | None)
            or not isinstance(kwargs.get("auth"), tuple | None)
        ):
            return super().request(method, url, *args, **kwargs)
        try:
            return self._lean(method, parts, url, kwargs)
        except _Redirected:
            return super().request(method, url, *args, **kwargs)

    def _lean(self, method: str, parts: Any, url: str, kwargs: Mapping[str, Any]) -> requests.Response:
        started = time.monotonic()
        params, body = kwargs.get("params"), kwargs.get("data")
        headers = {"User-Agent": "opsconsole", "Accept-Encoding": "gzip", "Accept": "*/*"}
        headers.update(kwargs.get("headers") or {})
        target = parts.path or "/"
        if method == "POST" and params and body is None:
            body, headers["Content-Type"] = self._form(params), _FORM
        elif params:
            query = urlencode(params, doseq=True)
            target += "?" + (f"{parts.query}&{query}" if parts.query else query)
        elif parts.query:
            target += "?" + parts.query
        auth = kwargs.get("auth")
        if auth is not None:
            headers["Authorization"] = _basic(*auth)
        timeout = _read_timeout(kwargs.get("timeout"), self.deadline)
        origin = (parts.hostname, parts.port or 80)
        for attempt in (1, 2):
            # The second attempt on a new connection: after a restart, every idle one may be dead.
            conn, reused = self._checkout(origin, timeout) if attempt == 1 else self._new(origin, timeout)
            try:
                conn.request(method, target, body=body, headers=headers)
                answer = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused and attempt == 1:
                    continue  # the server closed it while idle: once more on a new connection
                raise requests.exceptions.ConnectionError(f"connection lost: {type(exc).__name__}") from None
            except BaseException as exc:
                conn.close()
                raise _as_requests_error(exc) from None
            break
        try:
            response = self._read(answer, started, url)
        except BaseException:
            conn.close()
            raise
        if answer.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        return response

    def _read(self, answer: http.client.HTTPResponse, started: float, url: str) -> requests.Response:
        if answer.status in _REDIRECTS:
            raise _Redirected
        self._check_announced(answer.getheader("Content-Length", ""))
        gzip = answer.getheader("Content-Encoding", "").strip().lower() == "gzip"
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        body = bytearray()
        while True:
            self._check_deadline(started)
            try:
                chunk = answer.read1(_CHUNK)
            except TimeoutError:
                raise SourceTimeout(f"Prometheus timeout after {self.deadline:g}s") from None
            except (http.client.HTTPException, OSError) as exc:
                raise requests.exceptions.ChunkedEncodingError(f"answer cut off: {type(exc).__name__}") from None
            if not chunk:
                break
            if inflate is not None:
                try:
                    # Never more than the cap plus one byte out of one chunk: a gzip bomb stops at the cap.
                    chunk = inflate.decompress(chunk, self.max_bytes - len(body) + 1)
                except zlib.error:
                    raise requests.exceptions.ContentDecodingError("answer is not valid gzip") from None
            body += chunk
            self._check_size(len(body))
        answer.close()  # read whole: http.client lets the connection carry the next request only once closed
        response = requests.Response()
        response.status_code, response.reason, response.url = answer.status, answer.reason, url
        response.headers = CaseInsensitiveDict(answer.getheaders())
        response._content = bytes(body)
        self.lean_requests += 1
        return response

    def _checkout(self, origin: tuple[str, int], timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                conn, since = idle.pop()
                if now - since <= IDLE_EXPIRY and conn.sock is not None:
                    conn.timeout = timeout
                    try:
                        conn.sock.settimeout(timeout)
                    except OSError:
                        conn.close()
                        continue
                    return conn, True
                conn.close()
        return self._new(origin, timeout)

    @staticmethod
    def _new(origin: tuple[str, int], timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        return http.client.HTTPConnection(origin[0], origin[1], timeout=timeout), False

    def _checkin(self, origin: tuple[str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append((conn, time.monotonic()))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _since in conns:
                conn.close()
        super().close()


def _basic(username: Any, password: Any) -> str:
    """requests' basic auth header: latin-1 when the text allows it, else UTF-8."""
    pair = f"{username}:{password}"
    try:
        raw = pair.encode("latin-1")
    except UnicodeEncodeError:
        raw = pair.encode()
    return "Basic " + base64.b64encode(raw).decode()


def _read_timeout(timeout: Any, default: float) -> float:
    """requests' timeout (a number, or a (connect, read) pair) as one socket timeout."""
    if isinstance(timeout, tuple):
        timeout = max((t for t in timeout if t is not None), default=None)
    return float(timeout) if isinstance(timeout, int | float) else default


def _as_requests_error(exc: BaseException) -> BaseException:
    """What requests would have raised, so `TrafficQuery._translated` words it as before."""
    if isinstance(exc, TimeoutError):
        return requests.exceptions.ReadTimeout("read timed out")
    if isinstance(exc, ConnectionRefusedError):
        return requests.exceptions.ConnectionError("connection refused")
    if isinstance(exc, http.client.HTTPException | OSError):
        return requests.exceptions.ConnectionError(f"cannot connect: {type(exc).__name__}")
    return exc
