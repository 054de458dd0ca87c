"""Traffic pane: request rate, 5xx share and latency percentiles per service, worst first, with trends."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from console.model import TrafficPoint, TrafficRow
from widgets.cell_table import CellTable
from widgets.pane import Pane
from widgets.render import GLYPH, STYLE, badge, percent, rate, safe, seconds_ms, spark

# (key, header, width); the narrow set is used when the pane is under WIDE_FROM columns.
WIDE_COLUMNS = (
    ("status", "STATUS", 6),
    ("service", "SERVICE", 14),
    ("rps", "REQ/S", 6),
    ("err", "ERR", 6),
    ("p50", "P50", 6),
    ("p95", "P95", 6),
    ("p99", "P99", 6),
    ("trend", "TREND", None),
)
# No cell padding in the narrow set: every numeric column is one wider than its longest value ("<0.1%",
# "149ms") so neighbours never run together, and TREND's header starts with the space its cells start with.
NARROW_COLUMNS = (
    ("status", "", 1),
    ("service", "SERVICE", 10),
    ("rps", "REQ/S", 5),
    ("err", "ERR", 6),
    ("p95", "P95", 6),
    ("trend", " TREND", None),
)
WIDE_FROM = 70
NUMERIC = {"rps", "err", "p50", "p95", "p99"}


def traffic_cells(
    row: TrafficRow, history: tuple[TrafficPoint, ...], columns: tuple, trend_width: int, label: str | None = None
) -> list[Text]:
    stats = row.stats
    values = {
        "status": badge(row.status)
        if columns is WIDE_COLUMNS
        else Text(f"{GLYPH[row.status]} ", style=STYLE[row.status]),
        "service": safe(label if label is not None else row.service, 60),
        "rps": Text(rate(stats.rps), justify="right"),
        "err": Text(
            percent(stats.error_ratio),
            justify="right",
            style=STYLE[row.status] if any(r.startswith("errors") for r in row.reasons) else "",
        ),
        "p50": Text(seconds_ms(stats.p50), justify="right"),
        "p95": Text(
            seconds_ms(stats.p95),
            justify="right",
            style=STYLE[row.status] if any(r.startswith("p95") for r in row.reasons) else "",
        ),
        "p99": Text(seconds_ms(stats.p99), justify="right"),
        "trend": Text(" ").append_text(  # the last points only: a history holds up to 15 minutes of them
            spark([p.rps for p in history[-max(trend_width - 1, 1) :]], trend_width - 1, STYLE[row.status])
        ),
    }
    return [values[key] for key, _header, _width in columns]


class TrafficPane(Pane):
    """Enter on a service opens its routes."""

    pane_title = "Traffic"
    key = "2"

    DEFAULT_CSS = """
    TrafficPane DataTable { height: 1fr; background: $surface; }
    TrafficPane #traffic-note { color: $text-muted; height: auto; }
    """

    rows: reactive[tuple[TrafficRow, ...]] = reactive((), always_update=True, repaint=False)
    """Per-service rows, judged and sorted worst first by the board."""
    histories: reactive[dict[str, tuple[TrafficPoint, ...]]] = reactive(dict, always_update=True, repaint=False)
    """Per-service trend points (backfilled from query_range, then extended live)."""
    mode: reactive[str] = reactive("", repaint=False)
    """prometheus or scrape: which way the figures were obtained."""
    note: reactive[str] = reactive("", repaint=False)
    """A remark from the source (collecting first samples, history not loaded …)."""

    @dataclass
    class ServiceChosen(Message):
        service: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._columns: tuple = ()

    def compose(self) -> ComposeResult:
        yield CellTable(cursor_type="row", id="traffic-table")
        yield Static("", id="traffic-note")

    def _layout_columns(self) -> bool:
        """Pick the column set for the current width; True when the table was rebuilt."""
        width = self.content_size.width or 80
        columns = WIDE_COLUMNS if width >= WIDE_FROM else NARROW_COLUMNS
        if columns is self._columns:
            return False
        table = self.child(DataTable)
        table.clear(columns=True)
        table.cell_padding = 1 if columns is WIDE_COLUMNS else 0
        for key, header, col_width in columns:
            label = Text(header, justify="right" if key in NUMERIC else "left")
            table.add_column(label, key=key, width=col_width)
        self._columns = columns
        return True

    @property
    def _trend_width(self) -> int:
        padding = 2 * len(self._columns) if self._columns is WIDE_COLUMNS else 1
        fixed = sum(w or 0 for _k, _h, w in self._columns) + padding + 3  # + scrollbar gutter
        return max(4, min(40, (self.content_size.width or 80) - fixed))

    def on_resize(self) -> None:
        self._columns = ()  # auto-width columns only ever grow: rebuild them for the new width
        self._refresh_table(force=True)

    def watch_rows(self) -> None:
        self._table_changed()

    def watch_histories(self) -> None:
        self._table_changed()

    def watch_mode(self, mode: str) -> None:
        label = {"prometheus": "Prometheus", "scrape": "direct /metrics scrape"}.get(mode, mode)
        self.set_title(f"{self.key} Traffic" + (f" · {label}" if label else ""))

    def watch_note(self, note: str) -> None:
        self.child(Static, "#traffic-note").update(safe(note, 200))

    def _refresh_table(self, force: bool = False) -> None:
        rebuilt = self._layout_columns()
        columns, width = self._columns, self._trend_width
        rows = [
            (row.service, traffic_cells(row, self.histories.get(row.service, ()), columns, width)) for row in self.rows
        ]
        self.child(CellTable).show_rows(rows, [key for key, _h, _w in columns], force=rebuilt or force)

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.ServiceChosen(str(event.row_key.value)))
