"""`t`: the incident timeline. Lanes per pane on one time axis above, the events as a list below, each with
its offset from the selected one ("+40s", "-2m05s"): the order of things is the first question of a triage.

Enter jumps to the event: its pane, at its moment (the console shows the recorded state then; `L` returns
to live). The list is newest first; the chart marks the selected event.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.model import TimelineEvent
from console.timeline import relative
from widgets.quiet_footer import QuietFooter
from widgets.render import GLYPH, STYLE, safe
from widgets.timeline_chart import LANE_NAMES, TimelineChart


class TimelineScreen(Screen[TimelineEvent | None]):
    DEFAULT_CSS = """
    TimelineScreen { layout: vertical; }
    TimelineScreen #timeline-head { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    TimelineScreen TimelineChart { border-bottom: solid $panel-lighten-2; }
    TimelineScreen DataTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape,t", "dismiss_none", "Close"),
        Binding("enter", "jump", "Jump to moment"),
        Binding("f", "cycle_lane", "Lane"),
    ]

    def __init__(self, events: list[TimelineEvent], title: str = "") -> None:
        super().__init__()
        self.all_events = sorted(events, key=lambda e: e.at)
        self.lane: str | None = None
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-head")
        with Vertical():
            yield TimelineChart()
            yield DataTable(cursor_type="row", zebra_stripes=False)
        yield QuietFooter()

    @property
    def events(self) -> list[TimelineEvent]:
        return [e for e in self.all_events if self.lane is None or e.lane == self.lane]

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        columns = (("at", "TIME", 8), ("offset", "OFFSET", 8), ("lane", "PANE", 8), ("what", "WHAT", None))
        for key, label, width in columns:
            table.add_column(label, key=key, width=width)
        self._fill()
        table.focus()

    def show(self, events: list[TimelineEvent]) -> None:
        """New events arrived (actions read from the journal): redraw."""
        self.all_events = sorted(events, key=lambda e: e.at)
        self._fill()

    def _fill(self) -> None:
        events = self.events
        chart = self.query_one(TimelineChart)
        chart.events = tuple(events)
        table = self.query_one(DataTable)
        table.clear()
        for index in range(len(events) - 1, -1, -1):  # newest first
            event = events[index]
            text = Text(f"{GLYPH[event.severity]} ", style=STYLE[event.severity])
            text.append_text(safe(event.text, 300))
            lane = LANE_NAMES.get(event.lane, event.lane)
            table.add_row(event.at.strftime("%H:%M:%S"), "", lane, text, key=str(index))
        lane = f" · lane {LANE_NAMES.get(self.lane, self.lane)} (f: next)" if self.lane else " · f: filter by pane"
        head = f"Timeline · {len(events)} events{lane}"
        if self.title_text:
            head += f" · {self.title_text}"
        self.query_one("#timeline-head", Static).update(safe(head, 200))
        if events:
            table.move_cursor(row=0)
            self._select(len(events) - 1)
        else:
            chart.selected = -1

    def _select(self, index: int) -> None:
        events = self.events
        self.query_one(TimelineChart).selected = index
        if not 0 <= index < len(events):
            return
        table = self.query_one(DataTable)
        chosen = events[index].at
        for row, event_index in enumerate(range(len(events) - 1, -1, -1)):
            offset = (events[event_index].at - chosen).total_seconds()
            table.update_cell_at(Coordinate(row, 1), "◆ here" if event_index == index else relative(offset))

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.row_key.value is not None:
            self._select(int(message.row_key.value))

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        message.stop()
        self.action_jump()  # the table takes enter first: a selected row is a jump

    def action_jump(self) -> None:
        table = self.query_one(DataTable)
        events = self.events
        if not events:
            return
        row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        self.dismiss(events[int(row_key.value or 0)])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_cycle_lane(self) -> None:
        lanes = [lane for lane in LANE_NAMES if any(e.lane == lane for e in self.all_events)]
        order: list[str | None] = [None, *lanes]
        self.lane = order[(order.index(self.lane) + 1) % len(order)] if self.lane in order else None
        self._fill()
