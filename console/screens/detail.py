"""The shared frame of read-only detail dialogs: a titled, scrollable box closed with esc / q / enter."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static


class DetailScreen(ModalScreen[None]):
    """Subclasses set `heading` and return their renderables from `body()`."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll {
        width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    heading = ""

    def body(self) -> Iterable[RenderableType]:
        return ()

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = escape(self.heading)  # target and letter names: text, never markup
            scroll.border_subtitle = "esc to close"
            for renderable in self.body():
                yield Static(renderable)
