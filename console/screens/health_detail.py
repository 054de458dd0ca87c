"""Enter on a health target: every probe and every component check, with latency and detail."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from console.model import HealthRow
from console.screens.detail import DetailScreen
from widgets.render import badge, millis, safe, strip


def breakdown(row: HealthRow) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    table.add_column("STATUS", width=6, no_wrap=True)
    table.add_column("PROBE / CHECK", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("LATENCY", justify="right", width=8)
    table.add_column("DETAIL", ratio=3)
    if row.target is None:
        table.add_row(badge(row.status), safe(row.name), "—", safe(row.reading.error or "no data"))
        return table
    for probe in row.target.probes:
        code = f"HTTP {probe.http_status}" if probe.http_status else "no answer"
        url = safe(probe.url, 120)
        url.stylize("dim")
        detail = Text.assemble(safe(probe.message, 120), "\n", (f"{code} · {probe.format} · ", "dim"), url)
        table.add_row(badge(probe.status), Text(probe.probe, style="bold"), millis(probe.latency_ms), detail)
        for check in probe.checks:
            table.add_row(
                badge(check.status),
                Text("  └ ").append_text(safe(check.name, 60)),
                millis(check.latency_ms),
                safe(check.detail, 160),
            )
    return table


class HealthDetailScreen(DetailScreen):
    def __init__(self, row: HealthRow) -> None:
        super().__init__()
        self.row = row
        self.heading = f"{row.name} · components"

    def body(self) -> Iterable[RenderableType]:
        history = Text("history ").append_text(strip(self.row.history, len(self.row.history)))
        if self.row.flapping:
            history.append("  flapping", style="bold yellow")
        return (history, breakdown(self.row))
