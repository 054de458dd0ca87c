"""`[env.NAME.breakers]`: where circuit breakers are read — the Redis breaker registry the backend's own
`Breaker` writes, resilience4j actuators over HTTP, and Prometheus state gauges — and how long a forced
open lasts by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.config import _Checker

_BREAKER_KEYS = {
    "redis_url",
    "prefix",
    "actuator",
    "prometheus",
    "service_label",
    "force_minutes",
    "interval",
    "timeout",
}
_ACTUATOR_KEYS = {"service", "url", "headers", "verify_tls"}


@dataclass(frozen=True)
class ActuatorTarget:
    service: str
    url: str  # the service's base URL; /actuator/circuitbreakers is appended
    headers: tuple[tuple[str, str], ...] = ()
    verify_tls: bool = True


@dataclass(frozen=True)
class BreakersConfig:
    redis_url: str | None = None  # the registry; None: no Redis registry
    prefix: str = "opsconsole:breaker"
    actuator: tuple[ActuatorTarget, ...] = ()
    prometheus: bool = False  # read resilience4j_circuitbreaker_state / circuit_breaker_state gauges
    service_label: str = "application"
    force_minutes: float = 10.0  # a force-open without a duration lasts this long
    interval: float = 2.0
    timeout: float = 3.0


def parse_breakers(
    check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]
) -> BreakersConfig | None:
    if "breakers" not in env:
        return None
    key = f"{prefix}.breakers"
    table = check.table(env["breakers"], key)
    check.known(table, key, _BREAKER_KEYS)
    targets = []
    raw = table.get("actuator", [])
    if not isinstance(raw, list):
        check.fail(f"{key}.actuator", "expected an array of tables ([[env.NAME.breakers.actuator]])")
        raw = []
    for index, item in enumerate(raw):
        item_key = f"{key}.actuator[{index}]"
        if not isinstance(item, dict):
            check.fail(item_key, "expected a table")
            continue
        check.known(item, item_key, _ACTUATOR_KEYS)
        service = check.string(item, "service", item_key, required=True)
        url = check.url(item, "url", item_key, ("http", "https"), required=True)
        headers = item.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            check.fail(f"{item_key}.headers", "expected a table of string values")
            headers = {}
        if service and url:
            targets.append(
                ActuatorTarget(
                    service, url.rstrip("/"), tuple(headers.items()), check.boolean(item, "verify_tls", item_key, True)
                )
            )
    redis_url = check.url(table, "redis_url", key, ("redis", "rediss", "unix")) or env.get("redis_url")
    prometheus = check.boolean(table, "prometheus", key, False)
    if prometheus and not (env.get("prometheus_url") or env.get("prometheus")):
        check.fail(f"{key}.prometheus", "needs prometheus_url (or [env.NAME.prometheus]) for the environment")
    return BreakersConfig(
        redis_url=redis_url if isinstance(redis_url, str) else None,
        prefix=check.string(table, "prefix", key) or "opsconsole:breaker",
        actuator=tuple(targets),
        prometheus=prometheus,
        service_label=check.string(table, "service_label", key) or "application",
        force_minutes=check.number(table, "force_minutes", key, 10.0, minimum=0.1),
        interval=check.number(table, "interval", key, options["refresh"], minimum=0.2),
        timeout=check.number(table, "timeout", key, options["timeout"]),
    )
