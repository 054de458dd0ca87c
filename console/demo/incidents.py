"""The demo's incident switch: one realistic failure at a time, to practise triage on.

Each incident changes the running demo the way the real failure would, so the console sees it through its
normal sources (nothing is faked on the console's side). `clear` ends every incident.

| incident          | what breaks                                   | where it shows first                  |
|-------------------|-----------------------------------------------|---------------------------------------|
| latency-spike     | api answers 15× slower, its redis check slow  | Health (warn), Traffic p95 (crit)     |
| error-burst       | 30 % of billing's requests fail with 500      | Traffic errors (warn, then crit)      |
| breaker-trip      | api's `payments` downstream refuses calls     | Breakers: api/payments OPEN           |
| stopped-consumer  | the demo.orders consumer dies                 | Queues: backlog with no consumers     |
| cache-flush       | every cached value is deleted                 | Cache: hit ratio drops                |
| dependency-down   | search's database refuses connections         | Health: search CRIT, Traffic errors   |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.demo.backend import DemoStack


@dataclass(frozen=True)
class Incident:
    name: str
    summary: str
    start: Callable[[DemoStack], None]


def _latency(stack: DemoStack) -> None:
    stack.services["api"].condition = "slow"


def _errors(stack: DemoStack) -> None:
    stack.services["billing"].condition = "erroring"


def _breaker(stack: DemoStack) -> None:
    if stack.breakers is None:
        raise IncidentUnavailable("the demo's breaker traffic is not running (no Redis?)")
    stack.breakers.down.add("payments")


def _consumer(stack: DemoStack) -> None:
    if stack.queues is None:
        raise IncidentUnavailable("the demo's queue traffic is not running (no RabbitMQ?)")
    stack.queues.consuming.clear()


def _flush(stack: DemoStack) -> None:
    if stack.cache is None:
        raise IncidentUnavailable("the demo's cache traffic is not running (no Redis?)")
    stack.cache.flush()


def _dependency(stack: DemoStack) -> None:
    stack.services["search"].condition = "failing"


INCIDENTS = {
    incident.name: incident
    for incident in (
        Incident("latency-spike", "api answers 15x slower; its redis check reports slow responses", _latency),
        Incident("error-burst", "30 % of billing's requests fail with HTTP 500", _errors),
        Incident("breaker-trip", "api's payments downstream refuses every call: its breaker opens", _breaker),
        Incident("stopped-consumer", "the demo.orders consumer dies: a backlog with no consumers", _consumer),
        Incident("cache-flush", "every cached value is deleted: hit ratios collapse while caches refill", _flush),
        Incident("dependency-down", "search's database refuses connections", _dependency),
    )
}


class IncidentUnavailable(Exception):
    """The part of the demo this incident needs is not running."""


def clear(stack: DemoStack) -> None:
    """End every incident: conditions back to ok, downstreams up, the consumer back."""
    for service in stack.services.values():
        if service.condition in ("slow", "erroring", "failing", "degraded"):
            service.condition = "ok"
    if stack.breakers is not None:
        stack.breakers.down.clear()
    if stack.queues is not None:
        stack.queues.consuming.set()


def start(stack: DemoStack, name: str) -> None:
    if name == "clear":
        clear(stack)
        return
    if name not in INCIDENTS:
        raise KeyError(name)
    INCIDENTS[name].start(stack)
    stack.incidents.append(name)
