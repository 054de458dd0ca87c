"""Queues pane: RabbitMQ, BullMQ and Redis-list queues in one table — depth, growth per minute, drain ETA,
consumers and a depth trend. `/` filters by name, `s` sorts by depth or by growth. DataTable draws only the
visible rows, so thousands of queues stay cheap."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input

from console.model import QueueRow
from widgets.cell_table import CellTable
from widgets.render import GLYPH, STYLE, duration, safe, spark
from widgets.table_pane import TablePane

KIND = {"rabbitmq": "rmq", "bullmq": "bull", "list": "list"}
WIDE = (
    ("status", "", 2),
    ("kind", "KIND", 4),
    ("queue", "QUEUE", None),
    ("depth", "DEPTH", 7),
    ("growth", "GROW/M", 7),
    ("eta", "DRAIN", 7),
    ("consumers", "CONS", 4),
    ("trend", "TREND", 10),
)
# Narrow panes (the 120x40 grid): no cell padding, so each width includes its own gap.
NARROW = (
    ("status", "", 2),
    ("queue", "QUEUE", None),
    ("depth", "DEPTH", 7),
    ("growth", "GROW", 6),
    ("consumers", "CON", 4),
)
WIDE_FROM = 70
NUMERIC = {"depth", "growth", "eta", "consumers"}


def count(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}"


def eta(seconds: float | None) -> Text:
    if seconds is None:
        return Text("—", style="dim")
    if math.isinf(seconds):
        return Text("never", style="bold red")
    return Text("0" if seconds == 0 else duration(seconds))


def queue_cells(row: QueueRow, queue_width: int, columns: tuple = WIDE) -> list[Text]:
    queue = row.queue
    name = safe(queue.name, queue_width)
    if queue.paused:
        name.append(" paused", style="yellow")
    growth = Text(
        "—" if row.growth_per_minute is None else f"{row.growth_per_minute:+.0f}",
        style="yellow" if (row.growth_per_minute or 0) > 0 else "",
    )
    consumers = "?" if queue.consumers is None else str(queue.consumers)
    drain = eta(row.drain_seconds)
    cells = {
        "status": Text(GLYPH[row.status], style=STYLE[row.status]),
        "kind": Text(KIND.get(queue.kind, queue.kind), style="dim"),
        "queue": name,
        "depth": Text(count(queue.depth), justify="right"),
        "growth": Text(growth.plain, style=growth.style, justify="right"),
        "eta": Text(drain.plain, style=drain.style, justify="right"),
        "consumers": Text(consumers, justify="right", style="bold red" if queue.consumers == 0 and queue.depth else ""),
        "trend": spark([float(d) for d in row.history], 10, STYLE[row.status], floor=0.0),
    }
    return [cells[key] for key, _h, _w in columns]


class QueuesPane(TablePane):
    pane_title = "Queues"
    key = "4"
    WIDE, NARROW, WIDE_FROM, NUMERIC = WIDE, NARROW, WIDE_FROM, frozenset(NUMERIC)
    FLEX_DEFAULT = 30

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("P", "act('pause')", "Pause/resume", show=False),
        Binding("R", "act('retry')", "Retry failed", show=False),
        Binding("C", "act('clean')", "Clean completed", show=False),
        Binding("X", "act('purge')", "Purge", show=False),
    ]

    @dataclass
    class ActionRequested(Message):
        """The operator asked for `verb` on the highlighted queue."""

        verb: str
        kind: str
        queue: str
        paused: bool

    DEFAULT_CSS = """
    QueuesPane DataTable { height: 1fr; background: $surface; }
    QueuesPane Input { display: none; height: 3; }
    QueuesPane.-filtering Input { display: block; }
    """

    rows: reactive[tuple[QueueRow, ...]] = reactive((), always_update=True, repaint=False)
    """Every queue, judged by the board."""
    filter_text: reactive[str] = reactive("")
    """Substring the queue names must contain."""
    sort_by: reactive[str] = reactive("status")
    """status (worst, then deepest) or growth."""
    source_note: reactive[str] = reactive("", repaint=False)
    """Which way each kind was read (management API or AMQP fallback)."""

    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row", id="queues-table")
        yield table
        yield Input(placeholder="filter queues by name (esc clears)", id="queues-filter")

    def _visible(self) -> list[QueueRow]:
        needle = self.filter_text.lower()
        rows = [r for r in self.rows if needle in r.queue.name.lower()] if needle else list(self.rows)
        if self.sort_by == "growth":
            rows.sort(key=lambda r: -(r.growth_per_minute or 0.0))
        return rows

    def watch_rows(self) -> None:
        self._refresh_table()

    def watch_filter_text(self) -> None:
        self._refresh_table(force=True)

    def watch_sort_by(self) -> None:
        self._refresh_table(force=True)

    def watch_source_note(self, note: str) -> None:
        self.set_title(f"{self.key} Queues" + (f" · {note}" if note else ""))

    def _refresh_table(self, force: bool = False) -> None:
        force = self._fitted(force)
        columns, width = self.columns, self.flex_width()
        rows = [(row.queue.key, queue_cells(row, width, columns)) for row in self._visible()]
        self.child(CellTable).show_rows(rows, [key for key, _h, _w in columns], force=force)

    def action_filter(self) -> None:
        self.add_class("-filtering")
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one(Input)
        box.value = ""
        self.filter_text = ""
        self.remove_class("-filtering")
        self.child(DataTable).focus()

    @on(Input.Changed, "#queues-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted, "#queues-filter")
    def _filter_done(self) -> None:
        self.child(DataTable).focus()

    def action_act(self, verb: str) -> None:
        table = self.child(DataTable)
        rows = self._visible()
        if not rows or not 0 <= table.cursor_row < len(rows):
            return
        queue = rows[table.cursor_row].queue
        self.post_message(self.ActionRequested(verb, queue.kind, queue.name, queue.paused))

    def action_sort(self) -> None:
        self.sort_by = "growth" if self.sort_by == "status" else "status"
