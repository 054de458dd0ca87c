"""HTTP health endpoints: seed-style JSON, Spring actuator, IETF health+json, or the bare status code.

A target that refuses the connection or times out is not an adapter failure: it is a critical probe
result, because "down" is exactly what the Health pane exists to show.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import httpx

from console.adapters.http11 import ProbeTransport
from console.model import HealthCheck, HealthTarget, ProbeResult, Status, worst
from console.sanitize import clean
from console.secrets import redact_text, redact_url, url_password

MAX_BODY_BYTES = 256 * 1024

_SEED = {
    "ok": Status.OK,
    "healthy": Status.OK,
    "up": Status.OK,
    "pass": Status.OK,
    "degraded": Status.WARN,
    "warn": Status.WARN,
    "warning": Status.WARN,
    "error": Status.CRIT,
    "unhealthy": Status.CRIT,
    "down": Status.CRIT,
    "fail": Status.CRIT,
    "critical": Status.CRIT,
}
_SPRING = {"UP": Status.OK, "DOWN": Status.CRIT, "OUT_OF_SERVICE": Status.CRIT, "UNKNOWN": Status.UNKNOWN}
_IETF = {
    "pass": Status.OK,
    "ok": Status.OK,
    "up": Status.OK,
    "warn": Status.WARN,
    "fail": Status.CRIT,
    "error": Status.CRIT,
    "down": Status.CRIT,
}
# Values a seed backend puts in `checks` as plain strings ("database": "connected").
_CHECK_WORDS = {
    "connected": Status.OK,
    "ready": Status.OK,
    "available": Status.OK,
    "disconnected": Status.CRIT,
    "unavailable": Status.CRIT,
    "timeout": Status.CRIT,
    "connecting": Status.WARN,
}


def status_from_code(code: int) -> Status:
    if 200 <= code < 300:
        return Status.OK
    if 300 <= code < 400:
        return Status.WARN
    return Status.CRIT


def _word_status(value: Any, table: Mapping[str, Status]) -> Status | None:
    if not isinstance(value, str):
        return None
    return table.get(value) or table.get(value.lower()) or table.get(value.upper())


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("ms").strip()
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _latency(obj: Mapping[str, Any]) -> float | None:
    for key in ("latencyMs", "latency_ms", "responseTime", "response_time_ms", "duration_ms", "latency"):
        if key in obj:
            return _num(obj[key])
    return None


def _detail(obj: Mapping[str, Any], skip: set[str]) -> str:
    for key in ("message", "error", "output", "reason", "description"):
        if isinstance(obj.get(key), str) and obj[key]:
            return clean(obj[key], 200)
    details = obj.get("details")
    source = details if isinstance(details, dict) else {k: v for k, v in obj.items() if k not in skip}
    parts = [f"{k}={v}" for k, v in source.items() if isinstance(v, str | int | float) and not isinstance(v, bool)]
    return clean(", ".join(parts), 200)


def _seed_checks(checks: Any) -> list[HealthCheck]:
    result: list[HealthCheck] = []
    items: list[tuple[str, Any]] = []
    if isinstance(checks, dict):
        items = list(checks.items())
    elif isinstance(checks, list):
        items = [(str(c.get("name", i)) if isinstance(c, dict) else str(i), c) for i, c in enumerate(checks)]
    for name, value in items[:100]:
        if isinstance(value, dict):
            status = _word_status(value.get("status"), _SEED) or _word_status(value.get("status"), _CHECK_WORDS)
            if status is None:
                # An informational block (memory figures) with no verdict of its own.
                status = Status.OK
            result.append(HealthCheck(clean(name, 60), status, _detail(value, {"status"}), _latency(value)))
        elif isinstance(value, bool):
            result.append(HealthCheck(clean(name, 60), Status.OK if value else Status.CRIT, str(value).lower()))
        else:
            word = clean(value, 120)
            status = _word_status(value, _CHECK_WORDS) or _word_status(value, _SEED) or Status.UNKNOWN
            result.append(HealthCheck(clean(name, 60), status, word))
    return result


def _spring_components(components: Any, prefix: str = "") -> list[HealthCheck]:
    result: list[HealthCheck] = []
    if not isinstance(components, dict):
        return result
    for name, value in list(components.items())[:100]:
        if not isinstance(value, dict):
            continue
        full = f"{prefix}{name}"
        status = _word_status(value.get("status"), _SPRING) or Status.UNKNOWN
        raw_details = value.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        result.append(HealthCheck(clean(full, 60), status, _detail(details, set()), _latency(details)))
        # Spring nests composites (db → components → primary, secondary).
        result.extend(_spring_components(value.get("components"), prefix=f"{full}/"))
    return result


def _ietf_checks(checks: Any) -> list[HealthCheck]:
    result: list[HealthCheck] = []
    if not isinstance(checks, dict):
        return result
    for name, entries in list(checks.items())[:100]:
        for entry in (entries if isinstance(entries, list) else [entries])[:20]:
            if not isinstance(entry, dict):
                continue
            status = _word_status(entry.get("status"), _IETF) or Status.UNKNOWN
            latency = None
            if str(entry.get("observedUnit", "")).lower() == "ms" and "responsetime" in str(name).lower().replace(
                ":", ""
            ):
                latency = _num(entry.get("observedValue"))
            label = name if not entry.get("componentId") else f"{name} [{entry['componentId']}]"
            detail = _detail(entry, {"status", "componentId", "componentType", "time", "observedUnit"})
            result.append(HealthCheck(clean(label, 60), status, detail, latency))
    return result


def parse_health(code: int, content_type: str, body: bytes) -> tuple[Status, str, tuple[HealthCheck, ...], str]:
    """Interpret a health response: (status, format, checks, message).

    The verdict is the worse of what the document says and what the status code says, so a body
    claiming "ok" on a 503 is still critical.
    """
    by_code = status_from_code(code)
    doc: Any = None
    if body:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            doc = None
    if not isinstance(doc, dict) or "status" not in doc:
        message = f"HTTP {code}"
        if body and doc is None and "json" in content_type.lower():
            message += " (invalid JSON body)"
        return by_code, "status-code", (), message
    raw = doc["status"]
    if "health+json" in content_type.lower() or (isinstance(raw, str) and raw.lower() in ("pass", "fail")):
        fmt, verdict, checks = "ietf", _word_status(raw, _IETF), _ietf_checks(doc.get("checks"))
    elif isinstance(raw, str) and (raw in _SPRING or "components" in doc):
        fmt, verdict, checks = "spring", _word_status(raw, _SPRING), _spring_components(doc.get("components"))
    else:
        fmt, verdict, checks = "seed", _word_status(raw, _SEED), _seed_checks(doc.get("checks"))
    if verdict is None:
        verdict = Status.UNKNOWN
    message = ""
    for key in ("output", "message", "error", "description"):
        if isinstance(doc.get(key), str) and doc[key]:
            message = clean(doc[key], 200)
            break
    failing = sorted((c for c in checks if c.status is not Status.OK), key=lambda c: -c.status.rank)
    if not message and failing:
        message = f"{failing[0].name}: {failing[0].detail or failing[0].status.value}"
    if not message:
        message = f"{clean(raw, 30)} (HTTP {code})"
    final = verdict if verdict.rank >= by_code.rank else by_code
    return final, fmt, tuple(checks), message


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _failure_text(exc: Exception, url: str) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "read timeout"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        if "refused" in text or "all connection attempts failed" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            return "DNS lookup failed"
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed by server"
    return clean(redact_text(f"{type(exc).__name__}: {exc}".replace(url, redact_url(url))), 160)


@functools.lru_cache(maxsize=4096)
def _parsed(url: str) -> httpx.URL | str:
    """`url` parsed once (httpx.URL), or as given when httpx cannot parse it."""
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return url  # the request fails on it again, inside the probe, and is reported like any failure


_PLAIN_HEADERS = {"accept", "content-type", "user-agent", "accept-encoding", "accept-language"}


def credentials(url: str, headers: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """What a request to `url` with `headers` reveals: the URL's password and sensitive query values, every
    header value but the plain ones (and the token after `Bearer`/`Basic`), and the Basic credential httpx
    builds from the URL's user:password — so an answer quoting any of them can be scrubbed."""
    found: set[str] = set()
    parts = _parsed(url)
    if isinstance(parts, str):  # not a URL httpx can send to
        return ()
    try:
        query = parts.params
    except (httpx.InvalidURL, ValueError, TypeError):
        return ()
    password = url_password(url)
    if password:
        found.update((password, unquote(password)))
        basic = f"{unquote(parts.username)}:{unquote(password)}".encode()
        found.add(base64.b64encode(basic).decode())
    for key, value in query.multi_items():
        if key.lower() in _SENSITIVE_QUERY_KEYS and value:
            found.add(value)
    for name, value in (headers or {}).items():
        if name.lower() in _PLAIN_HEADERS or not value:
            continue
        found.add(value)
        _, _, token = value.partition(" ")
        if token:
            found.add(token)
    return tuple(sorted((s for s in found if len(s) >= 3), key=len, reverse=True))


_SENSITIVE_QUERY_KEYS = {"password", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "secret", "auth"}


@functools.lru_cache(maxsize=4096)
def _shown(url: str, headers: tuple[tuple[str, str], ...]) -> tuple[str, tuple[str, ...]]:
    """The URL as shown and the secrets to scrub from what the service says, worked out once per target
    (parsing a URL costs more CPU than parsing the answer)."""
    return redact_url(url), credentials(url, dict(headers))


async def probe(
    client: httpx.AsyncClient, kind: str, url: str, timeout: float, headers: Mapping[str, str] | None = None
) -> ProbeResult:
    """GET one health URL within `timeout` seconds (connect + whole body), never raising."""
    started = time.perf_counter()
    header_items = tuple(headers.items()) if headers else ()
    try:
        # httpx timeouts are per phase; the outer deadline also bounds a server dribbling bytes.
        async with asyncio.timeout(timeout):
            # Start the clock, then let the other probes of the round start theirs before doing the costly
            # part (building and sending the request): a thousand deadlines then start within a few ms, and
            # a round with hanging targets ends about `timeout` after it began, not `timeout` plus the CPU
            # the whole fleet's requests cost first.
            await asyncio.sleep(0)
            response = await _open(client, url, header_items, timeout)
            try:
                body, truncated = await _read_capped(response, MAX_BODY_BYTES)
                elapsed = (time.perf_counter() - started) * 1000
                shown_url, secrets = _shown(url, header_items)
                content_type = response.headers.get("content-type", "")
                if truncated:
                    status = status_from_code(response.status_code)
                    return ProbeResult(
                        kind,
                        shown_url,
                        status,
                        "status-code",
                        response.status_code,
                        elapsed,
                        f"HTTP {response.status_code} (body over {MAX_BODY_BYTES // 1024} KiB, not parsed)",
                    )
                status, fmt, checks, message = parse_health(response.status_code, content_type, body)
                # Services quote the credentials they rejected ("invalid token abc…"): never on our screen.
                message = clean(redact_text(message, secrets), 200)
                checks = tuple(
                    replace(c, name=redact_text(c.name, secrets), detail=redact_text(c.detail, secrets)) for c in checks
                )
                return ProbeResult(kind, shown_url, status, fmt, response.status_code, elapsed, message, checks)
            finally:
                await response.aclose()
    except TimeoutError:
        elapsed = (time.perf_counter() - started) * 1000
        shown_url = redact_url(url)
        return ProbeResult(kind, shown_url, Status.CRIT, "none", None, elapsed, f"timeout after {timeout:g}s")
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure as a result, never raises
        elapsed = (time.perf_counter() - started) * 1000
        shown_url = redact_url(url)
        return ProbeResult(kind, shown_url, Status.CRIT, "none", None, elapsed, _failure_text(exc, url))


async def check_target(
    client: httpx.AsyncClient,
    name: str,
    urls: list[tuple[str, str]],
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> HealthTarget:
    """Probe every URL of one target concurrently."""
    if len(urls) == 1:  # the usual case: no task to spawn and gather
        ((kind, url),) = urls
        return HealthTarget(name=name, probes=(await probe(client, kind, url, timeout, headers),))
    results = await asyncio.gather(*(probe(client, kind, url, timeout, headers) for kind, url in urls))
    return HealthTarget(name=name, probes=tuple(results))


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """One CA bundle load for every pool: building a context costs ~10 ms, and a fleet has many pools."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def tls_context(verify_tls: bool) -> ssl.SSLContext:
    """The shared context for a lean transport (`http11.ProbeTransport`): verifying, or httpx's verify=False."""
    return _verifying_context() if verify_tls else _unverified_context()


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    """What httpx builds for verify=False: TLS still, but any certificate and any host name."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def make_client(verify_tls: bool = True) -> httpx.AsyncClient:
    """A general pooled client (httpx's own transport); redirects are followed like a load balancer would."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    verify: ssl.SSLContext | bool = _verifying_context() if verify_tls else False
    return httpx.AsyncClient(verify=verify, follow_redirects=True, limits=limits, trust_env=False)


class ProbeClient(httpx.AsyncClient):
    """The health sources' client: httpx over the lean HTTP/1.1 transport (`console.adapters.http11`), whose
    cost a request does not grow with the fleet, so one client serves every target. Redirects are followed
    like a load balancer would.

    `probe()` sends its GETs through `open_get`, straight to the transport: httpx's client layer (auth flow,
    redirect loop, cookie jar, hooks, logging) costs ~3x the transport's CPU a request, and a health GET needs
    none of it but the URL's basic auth, applied once when its request is built. An answer that redirects is
    dropped and that URL goes through the whole client from then on.
    """

    def __init__(self, verify_tls: bool = True):
        self.transport = ProbeTransport(tls_context(verify_tls))
        super().__init__(transport=self.transport, follow_redirects=True, trust_env=False)
        self._requests: dict[tuple[str, tuple[tuple[str, str], ...], float], httpx.Request] = {}
        self._redirecting: set[str] = set()

    async def open_get(self, url: str, headers: tuple[tuple[str, str], ...], timeout: float) -> httpx.Response:
        """GET `url` with `headers`, every phase bounded by `timeout`; the answer is open (stream it, close it)."""
        if url in self._redirecting:
            return await self._through_client(url, headers, timeout)
        key = (url, headers, timeout)
        request = self._requests.get(key)
        if request is None:
            request = self.build_request("GET", _parsed(url), headers=headers or None, timeout=timeout)
            if request.url.username or request.url.password:  # what httpx's auth flow would add
                userpass = f"{request.url.username}:{request.url.password}".encode()
                request.headers["Authorization"] = "Basic " + base64.b64encode(userpass).decode()
            if len(self._requests) >= 10_000:  # bounded even if URLs keep changing
                self._requests.clear()
            self._requests[key] = request
        response = await self.transport.handle_async_request(request)
        if response.has_redirect_location:
            await response.aclose()
            self._redirecting.add(url)
            return await self._through_client(url, headers, timeout)
        response.request = request
        return response

    async def _through_client(self, url: str, headers: tuple[tuple[str, str], ...], timeout: float) -> httpx.Response:
        request = self.build_request("GET", _parsed(url), headers=headers or None, timeout=timeout)
        return await self.send(request, stream=True)


def make_probe_client(verify_tls: bool = True) -> ProbeClient:
    return ProbeClient(verify_tls)


async def _open(
    client: httpx.AsyncClient, url: str, headers: tuple[tuple[str, str], ...], timeout: float
) -> httpx.Response:
    """GET `url`, the answer open for streaming."""
    if isinstance(client, ProbeClient):
        return await client.open_get(url, headers, timeout)
    request = client.build_request("GET", _parsed(url), headers=headers or None, timeout=timeout)
    return await client.send(request, stream=True)


# --- Backend side: the same three formats, for services that import this layer ---------------------------

_WORDS_OUT = {
    "seed": {Status.OK: "ok", Status.WARN: "degraded", Status.CRIT: "error", Status.UNKNOWN: "error"},
    "spring": {Status.OK: "UP", Status.WARN: "UP", Status.CRIT: "DOWN", Status.UNKNOWN: "UNKNOWN"},
    "ietf": {Status.OK: "pass", Status.WARN: "warn", Status.CRIT: "fail", Status.UNKNOWN: "fail"},
}
_CHECK_WORDS_OUT = {
    Status.OK: "connected",
    Status.WARN: "degraded",
    Status.CRIT: "disconnected",
    Status.UNKNOWN: "unknown",
}


def health_response(
    style: str, checks: Sequence[HealthCheck], extra: Mapping[str, Any] | None = None
) -> tuple[int, str, bytes]:
    """Render a health document (status code, content type, body) in `style`: seed, spring or ietf.

    The overall status is the worst check; critical answers 503 so load balancers agree with the body.
    """
    if style not in _WORDS_OUT:
        raise ValueError(f"unknown health style {style!r} (expected seed, spring or ietf)")
    overall = worst((c.status for c in checks), default=Status.OK)
    code = 503 if overall in (Status.CRIT, Status.UNKNOWN) else 200
    words = _WORDS_OUT[style]
    doc: dict[str, Any]
    if style == "seed":
        doc = {
            "status": words[overall],
            **(extra or {}),
            "checks": {
                c.name: (
                    {"status": words[c.status], "latencyMs": round(c.latency_ms, 1), "message": c.detail}
                    if c.latency_ms is not None
                    else _CHECK_WORDS_OUT[c.status]
                )
                for c in checks
            },
        }
        content_type = "application/json"
    elif style == "spring":
        doc = {
            "status": words[overall],
            "components": {
                c.name: {"status": words[c.status], "details": {"detail": c.detail, "latency_ms": c.latency_ms}}
                for c in checks
            },
        }
        content_type = "application/vnd.spring-boot.actuator.v3+json"
    elif style == "ietf":
        doc = {
            "status": words[overall],
            **(extra or {}),
            "checks": {
                f"{c.name}:responseTime": [
                    {"status": words[c.status], "observedValue": c.latency_ms, "observedUnit": "ms", "output": c.detail}
                ]
                for c in checks
            },
        }
        content_type = "application/health+json"
    else:
        raise ValueError(f"unknown health style {style!r} (expected seed, spring or ietf)")
    return code, content_type, json.dumps(doc).encode()
