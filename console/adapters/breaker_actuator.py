"""resilience4j circuit breakers over a Spring Boot actuator: read them, force them open, close, disable.

Wire (resilience4j's `CircuitBreakerEndpoint`, Spring Boot 2 and 3 starters alike):

- `GET {base}/actuator/circuitbreakers` answers `{"circuitBreakers": {"<name>": {details}}}`, the details being
  `failureRate` / `slowCallRate` / `failureRateThreshold` / `slowCallRateThreshold` as strings such as
  `"12.5%"` (a rate of `"-1.0%"` means "not enough calls recorded yet"), the counters `bufferedCalls`,
  `failedCalls`, `slowCalls`, `slowFailedCalls`, `notPermittedCalls`, and `state`. Old resilience4j 1.x answered
  a bare list of names; that is read too, every state UNKNOWN. Anything else that is not this shape is a
  `BadResponse`; within it, every field is optional and may be a number or a string.
- `POST {base}/actuator/circuitbreakers/<name>` with `{"updateState": "FORCE_OPEN" | "CLOSE" | "DISABLE"}`
  (FORCE_OPEN puts the breaker in FORCED_OPEN, CLOSE in CLOSED, DISABLE in DISABLED).

Timed force-open: resilience4j has none. A FORCE_OPEN holds until someone sends CLOSE (or DISABLE), or until
the service restarts (its registry lives in memory). When the console forces a breaker open "for 10 minutes",
the *caller* (the breaker action) sends FORCE_OPEN, journals the deadline, and sends CLOSE itself when the
deadline passes, journalling that too; this adapter only sends what it is told and never sets
`BreakerInfo.forced_until`. If the console is gone when the deadline passes, the breaker stays forced open —
which is why the deadline is in the journal.

Safety: resilience4j's endpoint *creates* a breaker for any name it is sent (`registry.circuitBreaker(name)`),
so `update()` refuses a name the service did not list a moment before. Every request has a whole-request
deadline and a body size cap; every failure becomes a `console.errors` exception whose message names the
service and the (password-masked) URL but never a credential: URL passwords and configured header values
(Authorization, API keys) are scrubbed from it. Breaker names are untrusted: they are kept as sent (widgets
neutralise them when rendering) but capped in length, and a list is capped in size.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from console.adapters.http_health import _failure_text, _read_capped
from console.errors import ActionRefused, BadResponse, SourceTimeout, SourceUnavailable
from console.model import BreakerInfo, BreakerState
from console.sanitize import clean
from console.secrets import redact_text, redact_url, url_password

MAX_BODY_BYTES = 1024 * 1024  # ~3,000 breakers' details; a bigger answer is not a breaker list
MAX_NAME_CHARS = 200
MAX_BREAKERS = 2000
ENDPOINT = "/actuator/circuitbreakers"
UPDATE_STATES = ("FORCE_OPEN", "CLOSE", "DISABLE")
# The states an update verb leads to, also accepted in place of the verb.
_VERB_FOR_STATE = {
    BreakerState.FORCED_OPEN: "FORCE_OPEN",
    BreakerState.CLOSED: "CLOSE",
    BreakerState.DISABLED: "DISABLE",
}
# Header values that are never secrets; every other configured header value is scrubbed from messages.
_PLAIN_HEADERS = {"accept", "content-type", "user-agent", "accept-encoding", "accept-language"}


def update_verb(state: str | BreakerState) -> str:
    """The actuator's `updateState` value for `state`: one of UPDATE_STATES, or the state it leads to.

    Anything else (OPEN, HALF_OPEN, lower case, typos) is refused: the actuator would answer 400, and an
    operator action must not be guessed.
    """
    if isinstance(state, str) and state in UPDATE_STATES:
        return state
    verb = (
        _VERB_FOR_STATE.get(BreakerState(state))
        if isinstance(state, str) and state in BreakerState.__members__
        else None
    )
    if verb is None:
        raise ActionRefused(
            f"cannot set a circuit breaker to {clean(state, 40)!r}: expected one of {', '.join(UPDATE_STATES)}"
        )
    return verb


def parse_rate(value: Any) -> float | None:
    """A resilience4j rate as a percentage: `"12.5%"`, `"12.5"`, `12.5` → 12.5; `"-1.0%"` (not enough calls),
    anything outside 0–100 and anything unreadable → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip().removesuffix("%").strip())
        except ValueError:
            return None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if math.isnan(number) or not 0.0 <= number <= 100.0:
        return None
    return number


def parse_count(value: Any) -> int | None:
    """A call counter: `10`, `10.0`, `"10"` → 10; negative, fractional garbage or unreadable → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if math.isnan(number) or math.isinf(number) or number < 0:
        return None
    return int(number)


def _cap(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


def _thresholds(details: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("failureRateThreshold", "failure"), ("slowCallRateThreshold", "slow calls")):
        threshold = parse_rate(details.get(key))
        if threshold is not None:
            parts.append(f"{label} {threshold:g}%")
    return f"thresholds: {', '.join(parts)}" if parts else ""


def parse_circuitbreakers(doc: Any, service: str, source: str = "actuator") -> dict[str, BreakerInfo]:
    """The actuator document as {name as sent: BreakerInfo}; raises BadResponse when it is not a breaker list."""
    if not isinstance(doc, dict) or "circuitBreakers" not in doc:
        raise BadResponse('not a resilience4j breaker list (no "circuitBreakers")')
    raw = doc["circuitBreakers"]
    items: list[tuple[str, Any]]
    if isinstance(raw, dict):
        items = [(str(name), details) for name, details in raw.items()]
    elif isinstance(raw, list):  # resilience4j 1.x: names only
        items = [(name, None) for name in raw if isinstance(name, str)]
    else:
        raise BadResponse('"circuitBreakers" is neither an object nor a list')
    infos: dict[str, BreakerInfo] = {}
    for name, details in sorted(items, key=lambda item: item[0])[:MAX_BREAKERS]:
        if not isinstance(details, dict):
            note = "names only (old resilience4j)" if details is None else "no details"
            infos[name] = BreakerInfo(source, service, _cap(name), BreakerState.UNKNOWN, note=note)
            continue
        infos[name] = BreakerInfo(
            source=source,
            service=service,
            name=_cap(name),
            state=BreakerState.parse(details.get("state")),
            failure_rate=parse_rate(details.get("failureRate")),
            slow_call_rate=parse_rate(details.get("slowCallRate")),
            buffered_calls=parse_count(details.get("bufferedCalls")),
            failed_calls=parse_count(details.get("failedCalls")),
            slow_calls=parse_count(details.get("slowCalls")),
            not_permitted_calls=parse_count(details.get("notPermittedCalls")),
            note=_thresholds(details),
        )
    return infos


def _list_url(base_url: str) -> str:
    """`{base}/actuator/circuitbreakers`, also when the base already ends in /actuator or the full path."""
    base = base_url.rstrip("/")
    if base.endswith(ENDPOINT):
        return base
    if base.endswith("/actuator"):
        return f"{base}/circuitbreakers"
    return base + ENDPOINT


class ActuatorBreakers:
    """The circuit breakers of one service's resilience4j actuator.

    `client` belongs to the caller (one pooled `httpx.AsyncClient` for many services, e.g.
    `http_health.make_client()`), which closes it; `timeout` bounds every request as a whole (connect,
    headers and body), `headers` go with every request (e.g. `Authorization`).
    """

    source = "actuator"

    def __init__(
        self,
        base_url: str,
        service: str,
        client: httpx.AsyncClient,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ):
        self.service = service
        self.client = client
        self.timeout = timeout
        self.url = _list_url(base_url)
        self.headers = {"Accept": "application/json", **dict(headers or {})}
        secrets = [url_password(self.url) or ""]
        for key, value in (headers or {}).items():
            if key.lower() not in _PLAIN_HEADERS:
                secrets.append(value)
                secrets.extend(value.split()[1:])  # "Bearer <token>": the token alone, too
        self._secrets = tuple(s for s in secrets if s)
        self._where = f"{clean(service, 60)} actuator at {clean(redact_text(redact_url(self.url), self._secrets), 200)}"

    async def read(self) -> tuple[BreakerInfo, ...]:
        """Every breaker the service reports, sorted by name."""
        return tuple((await self._fetch()).values())

    async def update(self, name: str, state: str | BreakerState) -> BreakerState:
        """Send `updateState` (FORCE_OPEN, CLOSE or DISABLE — or the state FORCED_OPEN, CLOSED, DISABLED) for
        breaker `name`, then read the list again and return the state the service now reports for it.

        Refuses (ActionRefused) any other value, and a name the service does not list (resilience4j would
        silently create a new breaker under it). Not retried: a timeout leaves the outcome unknown, and the
        caller should read again before trying again.
        """
        verb = update_verb(state)
        before = await self._fetch()
        if name not in before:
            raise ActionRefused(
                f"{self._where}: no circuit breaker named {clean(name, 80)!r} "
                "(resilience4j would create a new one under that name)"
            )
        await self._request("POST", f"{self.url}/{quote(name, safe='')}", {"updateState": verb})
        after = await self._fetch()
        info = after.get(name)
        return info.state if info is not None else BreakerState.UNKNOWN

    async def _fetch(self) -> dict[str, BreakerInfo]:
        body = await self._request("GET", self.url)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadResponse(f"{self._where}: answer is not JSON") from None
        try:
            return parse_circuitbreakers(doc, self.service, self.source)
        except BadResponse as exc:
            raise BadResponse(f"{self._where}: {exc}") from None

    async def _request(self, method: str, url: str, payload: Any = None) -> bytes:
        """One request within `timeout` seconds, its body capped; every failure translated."""
        try:
            # httpx timeouts are per phase; the outer deadline also bounds a server dribbling bytes.
            async with (
                asyncio.timeout(self.timeout),
                self.client.stream(method, url, headers=self.headers, json=payload, timeout=self.timeout) as response,
            ):
                body, truncated = await _read_capped(response, MAX_BODY_BYTES)
                code = response.status_code
        except TimeoutError:
            raise SourceTimeout(f"{self._where}: no answer within {self.timeout:g}s") from None
        except httpx.TimeoutException as exc:
            raise SourceTimeout(f"{self._where}: {self._safe(_failure_text(exc, url))}") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise SourceUnavailable(f"{self._where}: {self._safe(_failure_text(exc, url))}") from None
        if code >= 400:
            raise self._status_error(method, code, body)
        if truncated:
            raise BadResponse(f"{self._where}: answer over {MAX_BODY_BYTES // 1024} KiB, not read")
        return body

    def _status_error(self, method: str, code: int, body: bytes) -> Exception:
        said = ""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            doc = None
        if isinstance(doc, dict):
            for key in ("message", "error"):
                if isinstance(doc.get(key), str) and doc[key]:
                    said = f": {self._safe(doc[key])}"
                    break
        if code in (401, 403):
            return BadResponse(f"{self._where}: HTTP {code}, not authorised (check the configured headers){said}")
        if code == 404:
            return BadResponse(
                f"{self._where}: HTTP 404, no circuitbreakers endpoint "
                "(is it in management.endpoints.web.exposure.include?)"
            )
        if code in (502, 503, 504):
            return SourceUnavailable(f"{self._where}: HTTP {code}{said}")
        action = "refused the update" if method == "POST" else "answered"
        return BadResponse(f"{self._where}: {action} with HTTP {code}{said}")

    def _safe(self, text: str) -> str:
        return clean(redact_text(text, self._secrets), 160)
