"""One time axis for every pane: a lane per pane, a glyph where something changed, the selected event marked.

The chart answers "what happened in which order" at a glance; the list under it (in the timeline screen)
gives each event's words and its offset from the selected one.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.model import TIMELINE_LANES, Status, TimelineEvent
from widgets.render import GLYPH, STYLE

LANE_NAMES = {
    "health": "Health",
    "traffic": "Traffic",
    "cache": "Cache",
    "queues": "Queues",
    "dlq": "DLQ",
    "breakers": "Breakers",
    "mongo": "Mongo",
    "actions": "Actions",
}
LABEL_WIDTH = 9


def column_of(at: datetime, start: datetime, end: datetime, width: int) -> int:
    span = (end - start).total_seconds()
    if span <= 0 or width <= 1:
        return max(0, width - 1)
    return max(0, min(width - 1, round((at - start).total_seconds() / span * (width - 1))))


class TimelineChart(Widget):
    DEFAULT_CSS = """
    TimelineChart { height: auto; padding: 0 1; }
    """

    events: reactive[tuple[TimelineEvent, ...]] = reactive((), layout=True)
    selected: reactive[int] = reactive(-1)
    """Index into `events` of the selected event (-1: none)."""

    def lanes(self) -> tuple[str, ...]:
        used = {e.lane for e in self.events}
        return tuple(lane for lane in TIMELINE_LANES if lane in used) or ("health",)

    def get_content_height(self, container, viewport, width) -> int:  # type: ignore[no-untyped-def]
        return len(self.lanes()) + 2

    def render(self) -> Text:
        width = max(10, self.content_size.width - LABEL_WIDTH)
        events = self.events
        text = Text()
        if not events:
            text.append("no changes recorded yet: the axis fills as readings arrive", style="dim")
            return text
        start, end = events[0].at, events[-1].at
        for lane in self.lanes():
            cells: list[tuple[str, str] | None] = [None] * width
            ranks = [-1] * width
            for event in events:
                if event.lane != lane:
                    continue
                column = column_of(event.at, start, end, width)
                if event.severity.rank > ranks[column]:  # the worst of what shares a cell
                    ranks[column] = event.severity.rank
                    cells[column] = (GLYPH[event.severity], STYLE[event.severity])
            text.append(f"{LANE_NAMES.get(lane, lane)[: LABEL_WIDTH - 1]:<{LABEL_WIDTH}}", style="bold")
            for cell in cells:
                if cell is None:
                    text.append("·", style="dim")
                else:
                    text.append(cell[0], style=cell[1])
            text.append("\n")
        marker = [" "] * width
        if 0 <= self.selected < len(events):
            marker[column_of(events[self.selected].at, start, end, width)] = "▲"
        text.append(" " * LABEL_WIDTH + "".join(marker) + "\n", style="bold")
        left, right = start.strftime("%H:%M:%S"), end.strftime("%H:%M:%S")
        span = _span((end - start).total_seconds())
        middle = f"← {span} →"
        gap = max(1, width - len(left) - len(right) - len(middle))
        text.append(" " * LABEL_WIDTH + left + " " * (gap // 2) + middle + " " * (gap - gap // 2) + right, style="dim")
        return text


def _span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


__all__ = ["TimelineChart", "column_of", "LANE_NAMES", "Status"]
