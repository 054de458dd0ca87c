"""Breakers pane: one row per circuit breaker — service, name, state, failure and slow-call rates, rejected
calls, time in state (or the countdown of a forced open) and a strip of its recent states. Open and
half-open first. F / C / Z / D ask for force-open, close, reset, disable on the highlighted breaker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable

from console.model import BreakerRow, BreakerState, Status
from widgets.cell_table import CellTable
from widgets.render import GLYPH, STYLE, duration, safe, styled_runs
from widgets.table_pane import TablePane

STATE_STYLE = {
    BreakerState.CLOSED: "green",
    BreakerState.METRICS_ONLY: "green",
    BreakerState.HALF_OPEN: "yellow",
    BreakerState.DISABLED: "yellow",
    BreakerState.OPEN: "bold red",
    BreakerState.FORCED_OPEN: "bold red reverse",
    BreakerState.UNKNOWN: "magenta",
}
SHORT = {
    BreakerState.CLOSED: "CLOSED",
    BreakerState.METRICS_ONLY: "METRICS",
    BreakerState.HALF_OPEN: "HALF",
    BreakerState.DISABLED: "DISABLED",
    BreakerState.OPEN: "OPEN",
    BreakerState.FORCED_OPEN: "FORCED",
    BreakerState.UNKNOWN: "?",
}
STRIP = {
    BreakerState.CLOSED: "▁",
    BreakerState.METRICS_ONLY: "▁",
    BreakerState.HALF_OPEN: "▄",
    BreakerState.DISABLED: "▂",
    BreakerState.OPEN: "█",
    BreakerState.FORCED_OPEN: "█",
    BreakerState.UNKNOWN: "·",
}
# No cell padding: each width includes its own gap, so the wide set fits the 78-column pane of the grid.
WIDE = (
    ("status", "", 2),
    ("service", "SERVICE", 11),
    ("name", "BREAKER", None),
    ("state", "STATE", 9),
    ("fail", "FAIL%", 6),
    ("slow", "SLOW%", 6),
    ("rejected", "REJECT", 7),
    ("since", "IN STATE", 10),
    ("history", " HISTORY", 11),
)
NARROW = (
    ("status", "", 2),
    ("name", "BREAKER", None),
    ("state", "STATE", 9),
    ("fail", "FAIL%", 6),
    ("since", "IN STATE", 9),
)
NUMERIC = frozenset({"fail", "slow", "rejected", "since"})


def percent(value: float | None) -> Text:
    if value is None:
        return Text("—", style="dim", justify="right")
    return Text(f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%", justify="right")


def in_state(since: datetime | None, forced_until: datetime | None, now: datetime | None) -> Text:
    if now is None:
        return Text("—", justify="right", style="dim")
    if forced_until is not None:
        left = max((forced_until - now).total_seconds(), 0.0)
        return Text(f"⏱{duration(left - left % 10 if left >= 60 else left)}", justify="right", style="bold")
    if since is None:
        return Text("—", justify="right", style="dim")
    seconds = max((now - since).total_seconds(), 0.0)
    # Ten-second precision past a minute: the cell changes (and repaints) rarely.
    return Text(duration(seconds if seconds < 60 else seconds - seconds % 10), justify="right")


def history_strip(states: tuple[BreakerState, ...], width: int) -> Text:
    recent = states[-width:]
    return styled_runs(
        ((STRIP[state], STATE_STYLE[state].replace(" reverse", "")) for state in recent), width - len(recent)
    )


def breaker_cells(row: BreakerRow, now: datetime | None, name_width: int, columns: tuple = WIDE) -> list[Text]:
    info = row.info
    status: Status = row.status
    # No cell padding: the flexible column keeps one space of gap itself.
    name = safe(info.name if "service" in (c[0] for c in columns) else info.key, max(name_width - 1, 4))
    cells = {
        "status": Text(GLYPH[status], style=STYLE[status]),
        "service": safe(info.service, 10),
        "name": name,
        "state": Text(SHORT[info.state], style=STATE_STYLE[info.state]),
        "fail": percent(info.failure_rate),
        "slow": percent(info.slow_call_rate),
        "rejected": Text("—" if info.not_permitted_calls is None else str(info.not_permitted_calls), justify="right"),
        "since": in_state(info.since, info.forced_until, now),
        "history": Text(" ").append_text(history_strip(row.history, 10)),
    }
    return [cells[key] for key, _h, _w in columns]


class BreakersPane(TablePane):
    pane_title = "Breakers"
    key = "6"
    WIDE, NARROW, WIDE_FROM, NUMERIC = WIDE, NARROW, 70, NUMERIC
    FLEX_DEFAULT = 20
    PAD_WIDE = False

    BINDINGS = [
        Binding("F", "act('force-open')", "Force open", show=False),
        Binding("C", "act('close')", "Close", show=False),
        Binding("Z", "act('reset')", "Reset", show=False),
        Binding("D", "act('disable')", "Disable", show=False),
    ]

    @dataclass
    class ActionRequested(Message):
        verb: str
        source: str
        service: str
        name: str

    DEFAULT_CSS = """
    BreakersPane DataTable { height: 1fr; background: $surface; }
    """

    rows: reactive[tuple[BreakerRow, ...]] = reactive((), always_update=True, repaint=False)
    """Every breaker, open first."""

    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row", id="breakers-table")
        yield table

    def watch_rows(self) -> None:
        self._table_changed()

    def watch_now(self) -> None:
        super().watch_now()
        if self.is_mounted:
            self._table_changed()  # the ages

    def _refresh_table(self, force: bool = False) -> None:
        force = self._fitted(force)
        columns, width, now = self.columns, self.flex_width(), self.now
        rows = [(f"{row.info.key}@{row.info.source}", breaker_cells(row, now, width, columns)) for row in self.rows]
        self.child(CellTable).show_rows(rows, [key for key, _h, _w in columns], force=force)

    def action_act(self, verb: str) -> None:
        table = self.child(DataTable)
        rows = list(self.rows)
        if rows and 0 <= table.cursor_row < len(rows):
            info = rows[table.cursor_row].info
            self.post_message(self.ActionRequested(verb, info.source, info.service, info.name))
