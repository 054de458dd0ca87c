"""Circuit breakers as Prometheus sees them: resilience4j's Micrometer gauges, read-only.

Series read (every query configurable, `""` turns one off):

- `resilience4j_circuitbreaker_state{name, state}` — one gauge per state, 1 for the current state and 0 for
  the others; `state` is lower case: closed, open, half_open, forced_open, disabled, metrics_only.
- `circuit_breaker_state{name, state}` — the same convention from non-resilience4j libraries. A series of
  either family without a `state` label is read by value: 0 closed, 1 open, 2 half-open.
- `resilience4j_circuitbreaker_failure_rate{name}` and `..._slow_call_rate{name}` — percentages (0–100),
  like the actuator's; -1 means "not enough calls yet" and becomes None.
- `resilience4j_circuitbreaker_not_permitted_calls_total{name}` — calls rejected while open (a counter).
- `resilience4j_circuitbreaker_buffered_calls{name, kind}` — calls in the sliding window, kind failed or
  successful.

The service is the `service_label` label (`application`, which Spring Boot apps add through
`management.metrics.tags.application`), else `job`, else `instance`. Several instances of one service report
the same breaker: they become one `BreakerInfo` showing the worst state among them (open before half-open
before closed), the highest rates and the summed counters, with a note when the instances disagree.

The queries run through the project's `TrafficQuery` plumbing (`console.adapters.prometheus`): same
connection settings, no retries, short timeouts, errors translated to the console's error tree. `collect()` is
synchronous (run it in a thread); `read()` does that for you. Nothing here writes: actions go through the
actuator (`breaker_actuator`) or the Redis registry.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import partial

from console.adapters.breaker_actuator import parse_rate
from console.adapters.prometheus import TrafficQuery, vector_by
from console.config import PrometheusConfig, TrafficConfig
from console.model import BreakerInfo, BreakerState

DEFAULT_BREAKER_QUERIES: dict[str, str] = {
    "state": "resilience4j_circuitbreaker_state",
    "generic_state": "circuit_breaker_state",
    "failure_rate": "resilience4j_circuitbreaker_failure_rate",
    "slow_call_rate": "resilience4j_circuitbreaker_slow_call_rate",
    "not_permitted": "resilience4j_circuitbreaker_not_permitted_calls_total",
    "buffered": "resilience4j_circuitbreaker_buffered_calls",
}
STATE_QUERIES = ("state", "generic_state")
# Worst first when instances disagree: what needs eyes wins.
SEVERITY = {
    BreakerState.OPEN: 6,
    BreakerState.FORCED_OPEN: 5,
    BreakerState.HALF_OPEN: 4,
    BreakerState.DISABLED: 3,
    BreakerState.UNKNOWN: 2,
    BreakerState.METRICS_ONLY: 1,
    BreakerState.CLOSED: 0,
}
_BY_VALUE = {0.0: BreakerState.CLOSED, 1.0: BreakerState.OPEN, 2.0: BreakerState.HALF_OPEN}

# (service label, job, instance, name[, state | kind]) → value, as `vector_by` returns it.
Vector = Mapping[tuple[str, ...], float | None]
_Breaker = tuple[str, str]  # (service, name)
_Instance = tuple[str, str]  # (job, instance)


def _who(key: tuple[str, ...]) -> tuple[_Breaker, _Instance]:
    service_value, job, instance, name = key[:4]
    return (service_value or job or instance or "?", name), (job, instance)


def _instance_state(series: list[tuple[str, float | None]]) -> BreakerState:
    labelled = [BreakerState.parse(state) for state, value in series if state and value == 1.0]
    if labelled:
        return max(labelled, key=SEVERITY.__getitem__)
    if any(state for state, _ in series):
        return BreakerState.UNKNOWN  # every state gauge at 0: nothing current
    for _, value in series:
        if value is not None and value in _BY_VALUE:
            return _BY_VALUE[value]
    return BreakerState.UNKNOWN


def assemble(
    states: Iterable[Vector],
    failure_rate: Vector | None = None,
    slow_call_rate: Vector | None = None,
    not_permitted: Vector | None = None,
    buffered: Vector | None = None,
) -> tuple[BreakerInfo, ...]:
    """BreakerInfos from the query results (pure: the unit-testable half of `collect`), sorted by service/name."""
    series: dict[_Breaker, dict[_Instance, list[tuple[str, float | None]]]] = {}
    for vector in states:
        for key, value in vector.items():
            breaker, instance = _who(key)
            series.setdefault(breaker, {}).setdefault(instance, []).append((key[4] if len(key) > 4 else "", value))

    def per_breaker(vector: Vector | None) -> dict[_Breaker, list[tuple[tuple[str, ...], float | None]]]:
        grouped: dict[_Breaker, list[tuple[tuple[str, ...], float | None]]] = {}
        for key, value in (vector or {}).items():
            grouped.setdefault(_who(key)[0], []).append((key, value))
        return grouped

    failures, slows = per_breaker(failure_rate), per_breaker(slow_call_rate)
    rejected, windows = per_breaker(not_permitted), per_breaker(buffered)

    def highest(rows: list[tuple[tuple[str, ...], float | None]]) -> float | None:
        rates = [rate for _, value in rows if (rate := parse_rate(value)) is not None]
        return max(rates) if rates else None

    def total(rows: list[tuple[tuple[str, ...], float | None]], kind: str | None = None) -> int | None:
        values = [v for key, v in rows if v is not None and v >= 0 and (kind is None or key[4:5] == (kind,))]
        summed = sum(values)
        return int(summed) if values and math.isfinite(summed) else None

    infos = []
    for (service, name), instances in sorted(series.items()):
        by_instance = [_instance_state(rows) for rows in instances.values()]
        state = max(by_instance, key=SEVERITY.__getitem__)
        note = ""
        if len(by_instance) > 1:
            counts = Counter(by_instance)
            if len(counts) > 1:
                ranked = sorted(counts.items(), key=lambda item: -SEVERITY[item[0]])
                spread = ", ".join(f"{s.value.lower()} on {n}" for s, n in ranked)
                note = f"{spread} of {len(by_instance)} instances"
            else:
                note = f"{len(by_instance)} instances"
        key = (service, name)
        infos.append(
            BreakerInfo(
                source="prometheus",
                service=service,
                name=name,
                state=state,
                failure_rate=highest(failures.get(key, [])),
                slow_call_rate=highest(slows.get(key, [])),
                buffered_calls=total(windows.get(key, [])),
                failed_calls=total(windows.get(key, []), "failed"),
                not_permitted_calls=total(rejected.get(key, [])),
                note=note,
            )
        )
    return tuple(infos)


class PrometheusBreakers:
    """Every circuit breaker Prometheus has state gauges for, across services.

    `queries` overrides entries of `DEFAULT_BREAKER_QUERIES` (an empty string turns one off); each must answer
    an instant vector carrying `name` (and `state` for the state queries, `kind` for `buffered`) besides the
    service labels. `timeout` (seconds) replaces the Prometheus config's own for these queries.
    """

    source = "prometheus"

    def __init__(
        self,
        prometheus: PrometheusConfig,
        queries: Mapping[str, str] | None = None,
        timeout: float | None = None,
        service_label: str = "application",
    ):
        unknown = set(queries or {}) - set(DEFAULT_BREAKER_QUERIES)
        if unknown:
            raise ValueError(
                f"unknown breaker queries {sorted(unknown)} (expected some of {sorted(DEFAULT_BREAKER_QUERIES)})"
            )
        self.queries = {**DEFAULT_BREAKER_QUERIES, **dict(queries or {})}
        self.service_label = service_label
        config = prometheus if timeout is None else replace(prometheus, timeout=timeout)
        self._traffic = TrafficQuery(config, TrafficConfig())

    def collect(self) -> tuple[BreakerInfo, ...]:
        """Run the queries side by side (about one timeout at worst) and assemble the breakers."""
        wanted = {kind: promql for kind, promql in self.queries.items() if promql}
        raw = self._traffic._parallel({kind: partial(self._traffic._query, promql) for kind, promql in wanted.items()})
        labels = (self.service_label, "job", "instance", "name")

        def vector(kind: str, extra: tuple[str, ...] = ()) -> Vector | None:
            return vector_by(raw[kind], labels + extra) if kind in raw else None

        states = [v for kind in STATE_QUERIES if (v := vector(kind, ("state",))) is not None]
        return assemble(
            states,
            failure_rate=vector("failure_rate"),
            slow_call_rate=vector("slow_call_rate"),
            not_permitted=vector("not_permitted"),
            buffered=vector("buffered", ("kind",)),
        )

    async def read(self) -> tuple[BreakerInfo, ...]:
        """`collect()` in a worker thread (the Prometheus client is synchronous)."""
        return await asyncio.to_thread(self.collect)

    def close(self) -> None:
        self._traffic.close()
