"""Enter on a Traffic row: that service's routes, worst first, and its trends since the backfill."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from console.model import TrafficPoint, TrafficRow
from console.screens.detail import DetailScreen
from widgets.render import STYLE, badge, percent, rate, safe, seconds_ms, spark


def trends(history: tuple[TrafficPoint, ...], width: int = 60) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", width=8)
    grid.add_column()
    for label, values in (
        ("req/s", [p.rps for p in history]),
        ("errors", [p.error_ratio for p in history]),
        ("p95", [p.p95 for p in history]),
    ):
        grid.add_row(label, spark(values, width))
    return grid


def routes_table(rows: list[TrafficRow]) -> Table:
    table = Table(expand=True, box=None, pad_edge=False)
    for header, justify in (
        ("STATUS", "left"),
        ("ROUTE", "left"),
        ("REQ/S", "right"),
        ("ERR", "right"),
        ("P50", "right"),
        ("P95", "right"),
        ("P99", "right"),
        ("WHY", "left"),
    ):
        table.add_column(header, justify=justify, no_wrap=header != "WHY")  # type: ignore[arg-type]
    for row in rows:
        stats = row.stats
        table.add_row(
            badge(row.status),
            safe(row.route or "(all)", 60),
            rate(stats.rps),
            percent(stats.error_ratio),
            seconds_ms(stats.p50),
            seconds_ms(stats.p95),
            seconds_ms(stats.p99),
            Text(", ".join(row.reasons), style=STYLE[row.status]),
        )
    if not rows:
        table.add_row("", Text("no per-route series (is the route label exported?)", style="dim"))
    return table


class TrafficRoutesScreen(DetailScreen):
    def __init__(self, service: str, routes: list[TrafficRow], history: tuple[TrafficPoint, ...]) -> None:
        super().__init__()
        self.service = service
        self.routes = routes
        self.history = history
        self.heading = f"{service} · routes"

    def body(self) -> Iterable[RenderableType]:
        return (trends(self.history), routes_table(self.routes))
