"""Traffic without Prometheus: scrape services' `/metrics` directly and compute from deltas.

Rates and quantiles need two scrapes; the first tick shows "collecting". Counter resets (a restarted
service) restart the baseline instead of producing negative rates.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from console.adapters.prometheus import QUANTILES, histogram_quantile
from console.config import ScrapeTarget, TrafficConfig
from console.errors import BadResponse, SourceTimeout, SourceUnavailable
from console.model import TrafficRow, TrafficStats
from console.sanitize import clean

MAX_METRICS_BYTES = 8 * 1024 * 1024


@dataclass
class RouteTotals:
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))


@dataclass(frozen=True)
class Sample:
    at: float
    routes: dict[str, RouteTotals]


def parse_sample(text: str, config: TrafficConfig, at: float) -> Sample:
    """Totals per route from one exposition text (requests, 5xx, cumulative buckets)."""
    routes: dict[str, RouteTotals] = defaultdict(RouteTotals)
    requests_name = config.requests_metric
    count_name = f"{config.duration_metric}_count"
    bucket_name = f"{config.duration_metric}_bucket"
    saw_counter = False
    counts_from_histogram: dict[str, RouteTotals] = defaultdict(RouteTotals)
    # Imported on the first scrape: with Prometheus up the scrape is only a fallback (~50 ms off start-up).
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise BadResponse(f"metrics text not parseable: {clean(exc, 120)}") from None
    for family in families:
        for sample in family.samples:
            route = clean(sample.labels.get(config.route_label, ""), 80) or "(none)"
            is_error = str(sample.labels.get(config.status_label, "")).startswith("5")
            if sample.name == requests_name:
                saw_counter = True
                routes[route].requests += sample.value
                if is_error:
                    routes[route].errors += sample.value
            elif sample.name == count_name:
                counts_from_histogram[route].requests += sample.value
                if is_error:
                    counts_from_histogram[route].errors += sample.value
            elif sample.name == bucket_name:
                try:
                    bound = float(sample.labels.get("le", "+Inf"))
                except ValueError:
                    raise BadResponse(
                        f"metrics text: bucket bound le={clean(sample.labels.get('le'), 40)!r} is not a number"
                    ) from None
                if math.isnan(bound):
                    continue
                routes[route].buckets[bound] += sample.value
    if not saw_counter:  # no request counter exported: the histogram's _count is the same thing
        for route, totals in counts_from_histogram.items():
            routes[route].requests, routes[route].errors = totals.requests, totals.errors
    return Sample(at, dict(routes))


def _delta_stats(before: RouteTotals, after: RouteTotals, seconds: float) -> TrafficStats | None:
    requests = after.requests - before.requests
    if requests < 0 or seconds <= 0:
        return None  # counter reset
    deltas = {bound: after.buckets[bound] - before.buckets.get(bound, 0.0) for bound in after.buckets}
    if any(value < 0 for value in deltas.values()):
        return None
    quantiles = {
        name: histogram_quantile(q, deltas) if deltas.get(math.inf, 0) > 0 else None for name, q in QUANTILES.items()
    }
    return TrafficStats(
        rps=requests / seconds,
        error_ratio=(after.errors - before.errors) / requests if requests > 0 else 0.0,
        **quantiles,
    )


def _merge(routes: dict[str, RouteTotals]) -> RouteTotals:
    total = RouteTotals()
    for totals in routes.values():
        total.requests += totals.requests
        total.errors += totals.errors
        for bound, count in totals.buckets.items():
            total.buckets[bound] += count
    return total


class ScrapeTraffic:
    """Scrapes each target's /metrics and turns consecutive samples into traffic rows."""

    def __init__(self, targets: tuple[ScrapeTarget, ...], config: TrafficConfig, timeout: float):
        self.targets = targets
        self.config = config
        self.timeout = timeout
        self._previous: dict[str, Sample] = {}
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=True)

    async def _fetch(self, target: ScrapeTarget) -> str:
        try:
            async with self._client.stream("GET", target.url, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise BadResponse(f"{target.name}: /metrics answered HTTP {response.status_code}")
                size, chunks = 0, []
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_METRICS_BYTES:
                        raise BadResponse(f"{target.name}: /metrics larger than {MAX_METRICS_BYTES >> 20} MiB")
                    chunks.append(chunk)
                return b"".join(chunks).decode("utf-8", errors="replace")
        except httpx.TimeoutException:
            raise SourceTimeout(f"{target.name}: /metrics timeout") from None
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"{target.name}: {clean(type(exc).__name__, 40)}") from None

    async def collect(self) -> tuple[tuple[TrafficRow, ...], tuple[TrafficRow, ...], str]:
        services, routes, waiting = [], [], []
        for target in self.targets:
            text = await self._fetch(target)
            sample = parse_sample(text, self.config, time.monotonic())
            before = self._previous.get(target.name)
            self._previous[target.name] = sample
            if before is None:
                waiting.append(target.name)
                continue
            elapsed = sample.at - before.at
            whole = _delta_stats(_merge(before.routes), _merge(sample.routes), elapsed)
            if whole is None:
                waiting.append(target.name)
                continue
            services.append(TrafficRow(target.name, None, whole))
            for route, totals in sorted(sample.routes.items()):
                stats = _delta_stats(before.routes.get(route, RouteTotals()), totals, elapsed)
                if stats is not None:
                    routes.append(TrafficRow(target.name, route, stats))
        note = f"collecting first samples: {', '.join(waiting)}" if waiting else ""
        return tuple(services), tuple(routes), note

    async def aclose(self) -> None:
        await self._client.aclose()
