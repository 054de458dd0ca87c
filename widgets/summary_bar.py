"""One line with every pane's verdict, for the 80x24 layout where only the focused pane is shown."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.model import Status
from widgets.render import GLYPH, STYLE

SummaryItem = tuple[str, str, Status | None]  # key, short name, verdict (None: not configured)


class SummaryBar(Static):
    DEFAULT_CSS = """
    SummaryBar { height: 1; background: $boost; padding: 0 1; }
    """

    items: reactive[tuple[SummaryItem, ...]] = reactive(())
    """One entry per pane, in key order."""
    active: reactive[str] = reactive("1")
    """Key of the pane currently shown."""

    def render(self) -> Text:
        text = Text()
        for index, (key, name, status) in enumerate(self.items):
            if index:
                text.append(" ")
            if status is None:
                text.append("–", style="dim")
            else:
                text.append(GLYPH[status], style=STYLE[status])
            text.append(f"{key}:{name}", style="reverse" if key == self.active else "")
        return text
