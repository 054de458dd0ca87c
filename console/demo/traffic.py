"""Synthetic request traffic for the demo services, shaped by each service's condition.

Requests are not really served: a thread records what a busy service would (rate, routes, latency,
status codes) into the service's `RequestMetrics`, which its /metrics endpoint exposes.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from console.adapters.http_metrics import RequestMetrics


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    share: float
    median_s: float


ROUTES = {
    "api": (
        Route("GET", "/api/users/:id", 0.5, 0.018),
        Route("GET", "/api/products", 0.3, 0.035),
        Route("POST", "/api/orders", 0.2, 0.090),
    ),
    "billing": (Route("POST", "/payments", 0.6, 0.050), Route("GET", "/invoices/:id", 0.4, 0.025)),
    "search": (Route("GET", "/search", 0.9, 0.045), Route("GET", "/suggest", 0.1, 0.008)),
}
RATES = {"api": 60.0, "billing": 12.0, "search": 35.0}


class TrafficGenerator:
    """Records ~RATES[name] requests per second until stopped; `condition()` is read every tick."""

    def __init__(self, name: str, metrics: RequestMetrics, condition, seed: int = 7):  # type: ignore[no-untyped-def]
        self.name = name
        self.metrics = metrics
        self.condition = condition
        self.random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"traffic:{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        routes = ROUTES.get(self.name, ())
        if not routes:
            return
        tick = 0.25
        while not self._stop.wait(tick):
            condition = self.condition()
            if condition == "stopped":
                continue
            count = self.random.gauss(RATES[self.name] * tick, RATES[self.name] * tick * 0.1)
            for _ in range(max(0, round(count))):
                self._one(self.random.choices(routes, [r.share for r in routes])[0], condition)

    def _one(self, route: Route, condition: str) -> None:
        latency = self.random.lognormvariate(0, 0.45) * route.median_s
        error_share = 0.0005
        if condition == "degraded":
            latency *= 5.0  # a slow dependency: p95 crosses 200 ms
        elif condition == "slow":
            latency *= 15.0  # the latency-spike incident: p95 far past 1 s
        elif condition == "failing":
            error_share = 0.25
        elif condition == "erroring":
            error_share = 0.30  # the error-burst incident: health stays green, only the traffic shows it
        status = 500 if self.random.random() < error_share else (201 if route.method == "POST" else 200)
        self.metrics.observe(route.method, route.path, status, latency)
