"""Traffic figures from Prometheus via prometheus-api-client (`PrometheusConnect`).

The client is synchronous: callers run `TrafficQuery.collect` / `backfill` in a thread (the collector's
`asyncio.to_thread`). Its retries are off and every request has a short timeout — its default retry
policy blocks for ~6 s when Prometheus is down, which would hide the outage behind a frozen pane.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from console.adapters.prometheus_http import LeanSession
from console.config import PrometheusConfig, TrafficConfig
from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import (
    HealthFleet,
    HealthTarget,
    NamespaceStats,
    ProbeResult,
    Status,
    TrafficPoint,
    TrafficRow,
    TrafficStats,
)
from console.sanitize import clean
from console.secrets import redact_text, url_password

QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
SERIES_CAP = 5000  # a runaway label cardinality must not eat the bastion's memory
KIND_LABEL = "opsconsole_kind"  # tags each part of a combined query (see TrafficQuery.query_tagged)


def connect(config: PrometheusConfig) -> PrometheusConnect:
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else None
    auth = (config.username, config.password or "") if config.username else None
    session = LeanSession(deadline=config.timeout)
    session.verify = config.ca_file or config.verify_tls
    session.trust_env = False  # a bastion's proxy variables must not reroute monitoring traffic
    return PrometheusConnect(
        url=config.url.rstrip("/"),
        method="POST",  # queries go in the body (as Grafana sends them): see BoundedSession._form
        headers=headers,
        auth=auth,
        session=session,
        retry=Retry(total=0, connect=0, read=0, status=0, redirect=2),
        timeout=config.timeout,  # type: ignore[arg-type]  # the library annotates int, accepts float
    )


_LABELS: dict[tuple[str, int], str] = {}
_LABELS_KEPT = 4096


def _label(value: Any, limit: int) -> str:
    """`clean(value, limit)` remembered: a tick's answer repeats the same few label values in every part, and
    cleaning them was a third of the traffic source's CPU (~85 calls a tick). A hostile answer's endless new
    values only refill the memo."""
    if not isinstance(value, str):
        return clean(value, limit)
    key = (value, limit)
    shown = _LABELS.get(key)
    if shown is None:
        if len(_LABELS) >= _LABELS_KEPT:
            _LABELS.clear()
        shown = _LABELS[key] = clean(value, limit)
    return shown


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def vector_by(result: Any, labels: tuple[str, ...]) -> dict[tuple[str, ...], float | None]:
    """An instant-vector result as {(label values…): value}; malformed entries are skipped."""
    if not isinstance(result, list):
        raise BadResponse("Prometheus answered with something that is not a vector")
    values: dict[tuple[str, ...], float | None] = {}
    for entry in result[:SERIES_CAP]:
        if not isinstance(entry, dict) or not isinstance(entry.get("metric"), dict):
            continue
        metric, sample = entry["metric"], entry.get("value")
        key = tuple(_label(metric.get(label, ""), 80) for label in labels)
        if isinstance(sample, list) and len(sample) == 2:
            values[key] = _float(sample[1])
    return values


def split_by_kind(result: Any, kinds: Iterable[str]) -> dict[str, list[Any]]:
    """A combined instant-vector result back into one vector per kind (by `KIND_LABEL`)."""
    if not isinstance(result, list):
        raise BadResponse("Prometheus answered with something that is not a vector")
    parts: dict[str, list[Any]] = {kind: [] for kind in kinds}
    for entry in result:
        metric = entry.get("metric") if isinstance(entry, dict) else None
        kind = metric.get(KIND_LABEL) if isinstance(metric, dict) else None
        if isinstance(kind, str) and kind in parts and len(parts[kind]) < SERIES_CAP:
            parts[kind].append(entry)
    return parts


def matrix_by(result: Any, label: str) -> dict[str, list[tuple[datetime, float | None]]]:
    if not isinstance(result, list):
        raise BadResponse("Prometheus answered with something that is not a matrix")
    series: dict[str, list[tuple[datetime, float | None]]] = {}
    for entry in result[:SERIES_CAP]:
        if not isinstance(entry, dict) or not isinstance(entry.get("metric"), dict):
            continue
        name = _label(entry["metric"].get(label, ""), 80)
        points = []
        values = entry.get("values")
        for sample in values if isinstance(values, list) else ():
            at = _timestamp(sample[0]) if isinstance(sample, list) and len(sample) == 2 else None
            if at is not None:
                points.append((at, _float(sample[1])))
        series[name] = points
    return series


def _timestamp(value: Any) -> datetime | None:
    """A sample's Unix time, or None when it is not one (a hostile answer may send 1e300)."""
    seconds = _float(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _ratio(errors: float | None, total: float | None) -> float | None:
    if total is None or total <= 0:
        return None if total is None else 0.0
    return (errors or 0.0) / total


@dataclass
class TrafficQuery:
    """Builds and runs the few PromQL queries one tick needs."""

    prometheus: PrometheusConfig
    traffic: TrafficConfig

    def __post_init__(self) -> None:
        self._client = connect(self.prometheus)
        # The backfill's range queries run side by side, so it costs about one timeout at worst, not three.
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="promql")
        self._secrets = tuple(
            s for s in (self.prometheus.token, self.prometheus.password, url_password(self.prometheus.url)) if s
        )

    def promql(self, kind: str, by: tuple[str, ...], q: float | None = None) -> str:
        t = self.traffic
        template = t.queries.get("quantile" if kind in QUANTILES else kind, "")
        return template.format(
            by=", ".join(by),
            window=t.window,
            q=q,
            requests=t.requests_metric,
            duration=t.duration_metric,
            status=t.status_label,
        )

    def _query(self, promql: str) -> Any:
        return self._translated(lambda: self._client.custom_query(promql))

    def _query_range(self, promql: str, start: datetime, end: datetime, step: str) -> Any:
        return self._translated(
            lambda: self._client.custom_query_range(promql, start_time=start, end_time=end, step=step)
        )

    def _translated(self, call: Callable[[], Any]) -> Any:
        """Run one request, turning requests / client exceptions into the console's error tree.

        The translated error is raised outside the `except` block, so it carries no `__context__`: the
        library's exception (whose traceback holds the response, and through it the socket) is freed at once
        instead of waiting for the cyclic garbage collector with a connection open per failed query.
        """
        error: Exception
        try:
            return call()
        except requests.exceptions.Timeout:
            error = SourceTimeout(f"Prometheus timeout after {self.prometheus.timeout:g}s")
        except requests.exceptions.SSLError as exc:
            error = SourceUnavailable(f"Prometheus TLS error: {self._safe(exc)}")
        except requests.exceptions.ConnectionError as exc:
            text = str(exc).lower()
            if "timed out" in text:  # with retries off, urllib3 reports a read timeout as a connection error
                error = SourceTimeout(f"Prometheus timeout after {self.prometheus.timeout:g}s")
            else:
                error = SourceUnavailable(
                    f"Prometheus {'connection refused' if 'refused' in text else 'cannot connect'}"
                )
        except PrometheusApiClientException as exc:
            error = BadResponse(f"Prometheus error: {self._safe(exc)}")
        except (requests.exceptions.RequestException, ValueError, KeyError, TypeError) as exc:
            error = BadResponse(f"Prometheus answer unusable: {self._safe(exc)}")
        raise error

    def _safe(self, exc: BaseException) -> str:
        return clean(redact_text(str(exc), self._secrets), 160)

    def _parallel(self, calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        futures = {name: self._pool.submit(call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}

    def _tagged(self, prefix: str, by: tuple[str, ...]) -> dict[str, str]:
        """The five figures of one level, each PromQL expression under its tag (`prefix` + kind)."""
        kinds: dict[str, float | None] = {"rate": None, "errors": None, **QUANTILES}
        return {prefix + kind: self.promql(kind, by, q) for kind, q in kinds.items()}

    @staticmethod
    def _stats(raw: Mapping[str, list[Any]], prefix: str, by: tuple[str, ...]) -> dict[tuple[str, ...], TrafficStats]:
        rate = vector_by(raw[prefix + "rate"], by)
        errors = vector_by(raw[prefix + "errors"], by)
        quantiles = {name: vector_by(raw[prefix + name], by) for name in QUANTILES}
        keys = set(rate) | set(quantiles["p95"])
        return {
            key: TrafficStats(
                rps=rate.get(key),
                error_ratio=_ratio(errors.get(key, 0.0 if key in rate else None), rate.get(key)),
                p50=quantiles["p50"].get(key),
                p95=quantiles["p95"].get(key),
                p99=quantiles["p99"].get(key),
            )
            for key in keys
        }

    def query_tagged(self, parts: Mapping[str, str]) -> dict[str, list[Any]]:
        """Several instant queries in one request: each part's series tagged with its name and joined with
        `or` (the tags keep every series apart), then split back. A request through requests costs ~1 ms of
        CPU whatever it asks, more than parsing the answer: at a 1 s refresh, ten requests a tick were a tenth
        of the console's steady CPU."""
        joined = " or ".join(
            f'label_replace(({promql}), "{KIND_LABEL}", "{tag}", "", "")' for tag, promql in parts.items()
        )
        return split_by_kind(self._query(joined), parts)

    def collect(self) -> tuple[tuple[TrafficRow, ...], tuple[TrafficRow, ...]]:
        """(per-service rows, per-route rows): one request per tick, whatever the fleet size."""
        service_label, route_label = self.traffic.service_label, self.traffic.route_label
        by_service, by_route = (service_label,), (service_label, route_label)
        raw = self.query_tagged({**self._tagged("service:", by_service), **self._tagged("route:", by_route)})
        services, routes = self._stats(raw, "service:", by_service), self._stats(raw, "route:", by_route)
        return (
            tuple(TrafficRow(key[0], None, stats) for key, stats in sorted(services.items())),
            tuple(TrafficRow(key[0], key[1], stats) for key, stats in sorted(routes.items())),
        )

    def backfill(self, now: datetime, step_seconds: float) -> dict[str, tuple[TrafficPoint, ...]]:
        """Per-service history for the sparklines, so the first frame already shows the trend."""
        minutes = self.traffic.history_minutes
        if minutes <= 0:
            return {}
        start, step = now - timedelta(minutes=minutes), f"{max(1, int(step_seconds))}s"
        by = (self.traffic.service_label,)
        kinds: dict[str, float | None] = {"rate": None, "errors": None, "p95": 0.95}
        raw = self._parallel(
            {k: partial(self._query_range, self.promql(k, by, q), start, now, step) for k, q in kinds.items()}
        )
        rate, errors, p95 = (matrix_by(raw[k], by[0]) for k in ("rate", "errors", "p95"))
        history: dict[str, tuple[TrafficPoint, ...]] = {}
        for service, points in rate.items():
            error_at = dict(errors.get(service, []))
            p95_at = dict(p95.get(service, []))
            history[service] = tuple(
                TrafficPoint(at, value, _ratio(error_at.get(at, 0.0), value), p95_at.get(at)) for at, value in points
            )
        return history

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client._session.close()


class FleetQuery:
    """Health of many endpoints from one Prometheus query: `up` or blackbox `probe_success` (1 up, 0 down)."""

    def __init__(self, prometheus: PrometheusConfig, query: str, name_labels: tuple[str, ...]):
        self.query = query
        self.name_labels = name_labels
        self._traffic = TrafficQuery(prometheus, TrafficConfig())

    def collect(self) -> HealthFleet:
        result = self._traffic._query(self.query)
        if not isinstance(result, list):
            raise BadResponse("Prometheus answered with something that is not a vector")
        targets = []
        for entry in result[:SERIES_CAP]:
            if not isinstance(entry, dict) or not isinstance(entry.get("metric"), dict):
                continue
            metric = entry["metric"]
            name = "/".join(clean(metric.get(label, "?"), 60) for label in self.name_labels)
            sample = entry.get("value")
            value = _float(sample[1]) if isinstance(sample, list) and len(sample) == 2 else None
            status = Status.UNKNOWN if value is None else (Status.OK if value >= 1 else Status.CRIT)
            shown = "?" if value is None else f"{value:g}"
            detail = clean(metric.get("__name__", "value"), 40) + f" = {shown}"
            probe = ProbeResult(
                "prometheus",
                clean(metric.get("instance", ""), 120),
                status,
                "prometheus",
                message="down" if status is Status.CRIT else detail,
            )
            targets.append(HealthTarget(name, (probe,)))
        return HealthFleet(self.query, tuple(sorted(targets, key=lambda t: t.name)))

    def close(self) -> None:
        self._traffic.close()


class NamespaceQuery:
    """Per-namespace cache hit ratio from `cache_hits_total` / `cache_misses_total{namespace}` rates."""

    def __init__(self, prometheus: PrometheusConfig, window: str = "1m", label: str = "namespace"):
        self.label = label
        self.hits = f"sum by ({label}) (rate(cache_hits_total[{window}]))"
        self.misses = f"sum by ({label}) (rate(cache_misses_total[{window}]))"
        self._traffic = TrafficQuery(prometheus, TrafficConfig())

    def collect(self) -> tuple[NamespaceStats, ...]:
        raw = self._traffic.query_tagged({"hits": self.hits, "misses": self.misses})
        hits, misses = vector_by(raw["hits"], (self.label,)), vector_by(raw["misses"], (self.label,))
        result = []
        for (name,) in sorted(set(hits) | set(misses)):
            h, m = hits.get((name,)) or 0.0, misses.get((name,)) or 0.0
            result.append(NamespaceStats(name, h, m, h / (h + m) if h + m > 0 else None))
        return tuple(result)

    def close(self) -> None:
        self._traffic.close()


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' estimate from cumulative bucket counts {upper bound: count}: linear inside the bucket."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][0] != math.inf:
        return None
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == math.inf:
                # Prometheus returns the highest finite bound when the rank falls in the +Inf bucket.
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return None
