"""Enter on a health target: every probe and every component check, with latency and detail."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.model import HealthRow
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


class HealthDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    DEFAULT_CSS = """
    HealthDetailScreen { align: center middle; }
    HealthDetailScreen > VerticalScroll {
        width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, row: HealthRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"{self.row.name} · components"
            scroll.border_subtitle = "esc to close"
            history = Text("history ").append_text(strip(self.row.history, len(self.row.history)))
            if self.row.flapping:
                history.append("  flapping", style="bold yellow")
            yield Static(history)
            yield Static(breakdown(self.row))
