"""The frame every pane shares: a titled border whose subtitle tells the freshness of the data."""

from __future__ import annotations

from datetime import datetime

from textual.markup import escape
from textual.reactive import reactive
from textual.widget import Widget

from console.model import PaneState, SourceMode, Status


class Pane(Widget):
    """Base of all panes. The app sets `state` and `now`; the subtitle follows."""

    DEFAULT_CSS = """
    Pane {
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        height: 1fr;
        padding: 0 1;
    }
    Pane:focus-within {
        border: round $accent;
    }
    Pane.-warn { border: round $warning; }
    Pane.-crit { border: round $error; }
    Pane.-stale { border-subtitle-color: $warning; }
    Pane.-unreachable { border-subtitle-color: $error; }
    """

    # repaint=False: these only feed the border subtitle, which repaints itself when its text changes.
    # A repaint on every tick would redraw every pane every second (measured: half the terminal output).
    state: reactive[PaneState | None] = reactive(None, repaint=False)
    """Freshness of this pane's sources, set by the screen."""

    now: reactive[datetime | None] = reactive(None, repaint=False)
    """The app clock's current time, so ages can be shown."""

    status: reactive[Status] = reactive(Status.UNKNOWN)
    """This pane's verdict; colours the border."""

    pane_title = "pane"
    key = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_title(f"{self.key} {self.pane_title}".strip())

    _title_text = ""

    def set_title(self, text: str) -> None:
        """Set the border title as plain text (queue and breaker names may hold `[...]`: never markup);
        a same-text assignment would still repaint the whole pane."""
        if self._title_text != text:
            self._title_text = text
            self.border_title = escape(text)

    def _update_subtitle(self) -> None:
        state, now = self.state, self.now
        text = "not configured" if state is None or now is None else state.describe(now)
        # Assigning border_subtitle repaints the whole pane even when the text is the same: compare first.
        if self.border_subtitle != text:
            self.border_subtitle = text
        if state is None:
            return
        for mode in (SourceMode.STALE, SourceMode.UNREACHABLE):
            if self.has_class(f"-{mode.value}") != (state.mode is mode):
                self.set_class(state.mode is mode, f"-{mode.value}")

    def watch_state(self) -> None:
        self._update_subtitle()

    def watch_now(self) -> None:
        self._update_subtitle()

    def watch_status(self, status: Status) -> None:
        self.set_class(status is Status.WARN, "-warn")
        self.set_class(status is Status.CRIT, "-crit")
