"""DLQ pane: every dead-letter queue with its count, inflow per minute, age of the oldest letter and where
its letters come from and why. Enter browses the highlighted DLQ; the line under the table breaks the
highlighted DLQ down by origin and reason (from a sample, whose size it states)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from console.model import DlqInfo, DlqRow
from widgets.cell_table import CellTable
from widgets.queues_pane import count
from widgets.render import GLYPH, STYLE, duration, safe
from widgets.table_pane import TablePane

KIND = {"rabbitmq": "rmq", "bullmq": "bull", "redis": "redis"}
WIDE = (
    ("status", "", 2),
    ("kind", "KIND", 5),
    ("dlq", "DLQ", None),
    ("count", "COUNT", 7),
    ("inflow", "IN/MIN", 7),
    ("oldest", "OLDEST", 7),
    ("origin", "TOP ORIGIN", 18),
    ("reason", "TOP REASON", 16),
)
NARROW = (
    ("status", "", 2),
    ("dlq", "DLQ", None),
    ("count", "COUNT", 7),
    ("inflow", "IN/M", 6),
    ("oldest", "OLDEST", 7),
)
WIDE_FROM = 90
NUMERIC = {"count", "inflow", "oldest"}


def age(oldest: datetime | None, now: datetime | None) -> str:
    if oldest is None or now is None:
        return "—"
    seconds = max((now - oldest).total_seconds(), 0.0)
    # Minute precision past the first minute: the cell changes (and repaints) once a minute, not every tick.
    return duration(seconds if seconds < 60 else seconds - seconds % 60)


def top(pairs: tuple[tuple[str, int], ...]) -> str:
    return pairs[0][0] if pairs else "—"


def dlq_cells(row: DlqRow, now: datetime | None, name_width: int, columns: tuple = WIDE) -> list[Text]:
    info = row.info
    inflow = "—" if row.inflow_per_minute is None else f"{row.inflow_per_minute:.1f}"
    cells = {
        "status": Text(GLYPH[row.status], style=STYLE[row.status]),
        "kind": Text(KIND.get(info.kind, info.kind), style="dim"),
        "dlq": safe(info.name, name_width) if not info.error else safe(f"{info.name}: {info.error}", name_width),
        "count": Text("?" if info.error else count(info.count), justify="right"),
        "inflow": Text(inflow, justify="right", style="yellow" if (row.inflow_per_minute or 0) > 0 else ""),
        "oldest": Text(age(info.oldest_at, now) if info.count else "—", justify="right"),
        "origin": safe(top(info.by_origin), 18),
        "reason": safe(top(info.by_reason), 16),
    }
    return [cells[key] for key, _h, _w in columns]


def breakdown_line(row: DlqRow) -> Text:
    info = row.info
    text = Text()
    if info.error:
        text.append("✖ ", style="bold red")
        text.append_text(safe(info.error, 200))
        return text
    if not info.count:
        text.append("empty", style="dim")
        return text
    for label, pairs in (("from", info.by_origin), ("why", info.by_reason)):
        if not pairs:
            continue
        text.append(f"{label} ", style="bold")
        total = sum(n for _, n in pairs) or 1
        for index, (value, n) in enumerate(pairs[:3]):
            if index:
                text.append(" · ")
            text.append_text(safe(value, 40))
            text.append(f" {n * 100 // total}%", style="dim")
        text.append("  ")
    if info.sampled:
        text.append(f"(sample of {info.sampled})", style="dim")
    return text


class DlqPane(TablePane):
    pane_title = "DLQ"
    key = "5"
    WIDE, NARROW, WIDE_FROM, NUMERIC = WIDE, NARROW, WIDE_FROM, frozenset(NUMERIC)
    FLEX_DEFAULT = 24

    BINDINGS = [Binding("enter", "browse", "Browse", show=False)]

    @dataclass
    class Chosen(Message):
        """The operator wants to browse this DLQ."""

        kind: str
        name: str

    DEFAULT_CSS = """
    DlqPane DataTable { height: 1fr; background: $surface; }
    DlqPane #dlq-breakdown { height: 1; color: $text-muted; }
    """

    rows: reactive[tuple[DlqRow, ...]] = reactive((), always_update=True, repaint=False)
    """Every DLQ, judged by the board, worst first."""

    _breakdown_shown = ""
    _breakdown_of: DlqInfo | None = None

    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row", id="dlq-table")
        yield table
        yield Static("", id="dlq-breakdown")

    def watch_rows(self) -> None:
        self._table_changed()

    def watch_now(self) -> None:
        super().watch_now()
        if self.is_mounted:
            self._table_changed()  # the ages

    def _refresh_table(self, force: bool = False) -> None:
        force = self._fitted(force)
        columns, width, now = self.columns, self.flex_width(), self.now
        rows = [(row.info.key, dlq_cells(row, now, width, columns)) for row in self.rows]
        self.child(CellTable).show_rows(rows, [key for key, _h, _w in columns], force=force)
        self._show_breakdown()

    def _highlighted(self) -> DlqRow | None:
        table = self.child(DataTable)
        rows = list(self.rows)
        return rows[table.cursor_row] if rows and 0 <= table.cursor_row < len(rows) else None

    def _show_breakdown(self) -> None:
        row = self._highlighted()
        if row is not None and row.info == self._breakdown_of:
            return  # the line is made of the letters' info only: building it each second cost more than the table
        self._breakdown_of = row.info if row is not None else None
        line = breakdown_line(row) if row is not None else Text("no DLQs found", style="dim")
        if line.markup != self._breakdown_shown:  # an unchanged line must not repaint the pane
            self._breakdown_shown = line.markup
            self.child(Static, "#dlq-breakdown").update(line, layout=False)  # height 1: no new layout

    @on(DataTable.RowHighlighted)
    def _highlight(self) -> None:
        self._show_breakdown()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_browse()

    def action_browse(self) -> None:
        row = self._highlighted()
        if row is not None and not row.info.error:
            self.post_message(self.Chosen(row.info.kind, row.info.name))
