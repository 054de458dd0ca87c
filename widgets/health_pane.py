"""Health pane: one row per target, worst first, with liveness and readiness apart and a history strip."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable

from console.model import HealthRow, ProbeResult, Status
from widgets.cell_table import CellTable
from widgets.pane import Pane
from widgets.render import GLYPH, STYLE, badge, millis, safe, strip

HISTORY_WIDTH = 10
COLUMNS = (
    ("status", "STATUS", 6),
    ("target", "TARGET", 14),
    ("probes", "H L R", 5),
    ("latency", "LATENCY", 7),
    ("history", "HISTORY", HISTORY_WIDTH),
    ("detail", "DETAIL", None),
)
# Cell padding (1 each side) and the fixed columns; DETAIL gets whatever is left of the pane's width.
COLUMN_KEYS = tuple(key for key, _label, _width in COLUMNS)
FIXED_WIDTH = sum(w or 0 for _k, _l, w in COLUMNS) + 2 * len(COLUMNS) + 1


def _probe_cells(row: HealthRow) -> Text:
    """Health, liveness and readiness verdicts side by side; – where a probe is not configured."""
    text = Text()
    for kind in ("health", "liveness", "readiness"):
        probe: ProbeResult | None = row.target.probe(kind) if row.target else None
        if text:
            text.append(" ")
        if probe is None:
            text.append("–", style="dim")
        else:
            text.append(GLYPH[probe.status], style=STYLE[probe.status])
    return text


def row_cells(row: HealthRow, detail_width: int = 60) -> tuple[Text, ...]:
    target = row.target
    name = safe(row.name, 40)
    if row.reading.stale:
        name.append(" (stale)", style="dim")
    return (
        badge(row.status),
        name,
        _probe_cells(row),
        Text(millis(target.latency_ms if target else None), justify="right"),
        strip(row.history, HISTORY_WIDTH),
        safe(row.message, max(8, detail_width)),
    )


class HealthPane(Pane):
    """Targets polled concurrently; Enter opens the component breakdown of the highlighted one."""

    pane_title = "Health"
    key = "1"

    DEFAULT_CSS = """
    HealthPane DataTable { height: 1fr; background: $surface; }
    HealthPane .empty { color: $text-muted; }
    """

    rows: reactive[tuple[HealthRow, ...]] = reactive((), always_update=True, repaint=False)
    """The rows to show, already sorted worst first by the board."""

    @dataclass
    class TargetChosen(Message):
        """The operator asked for one target's component breakdown."""

        name: str

    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row", zebra_stripes=False, id="health-table")
        self._add_columns(table)
        yield table

    def _add_columns(self, table: DataTable[Text]) -> None:
        for key, label, width in COLUMNS:
            # DETAIL is sized to what the pane leaves it, so the table never scrolls sideways.
            table.add_column(label, key=key, width=width if width is not None else self.detail_width)

    def on_resize(self) -> None:
        table = self.child(DataTable)
        table.clear(columns=True)
        self._add_columns(table)
        self.watch_rows(self.rows)

    @property
    def detail_width(self) -> int:
        width = self.content_size.width
        return 20 if width == 0 else max(8, width - FIXED_WIDTH - 2)  # 0 before the first layout; 2: gutter

    def watch_rows(self, rows: tuple[HealthRow, ...]) -> None:
        width = self.detail_width
        # Same targets in the same order: only the cells whose content changed are repainted.
        self.child(CellTable).show_rows([(row.name, row_cells(row, width)) for row in rows], COLUMN_KEYS)
        counts = {s: sum(1 for r in rows if r.status is s) for s in Status}
        bad = ", ".join(f"{counts[s]} {s.value}" for s in (Status.CRIT, Status.WARN, Status.UNKNOWN) if counts[s])
        self.set_title(f"{self.key} Health · {len(rows)} targets" + (f" · {bad}" if bad else ""))

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.TargetChosen(str(event.row_key.value)))
