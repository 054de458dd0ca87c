"""The frame every pane shares: a titled border whose subtitle tells the freshness of the data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Self, TypeVar

from rich.cells import cell_len
from textual.geometry import Region
from textual.markup import escape
from textual.reactive import reactive
from textual.widget import Widget

from console.model import PaneState, SourceMode, Status

WidgetT = TypeVar("WidgetT", bound=Widget)


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
        self._children_found: dict[tuple[type[Widget], str], Widget] = {}
        self.set_title(f"{self.key} {self.pane_title}".strip())

    _held = 0  # inside `held()`: table refreshes wait for its end
    _table_due = False

    @contextmanager
    def held(self) -> Iterator[None]:
        """Set several reactives (rows, histories, now) with one table refresh at the end: each one's watcher
        rebuilt the table, so a tick rebuilt the Breakers, DLQ and Traffic tables twice."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._table_due:
                self._table_due = False
                self._refresh_table()

    def _table_changed(self) -> None:
        """What a watcher calls when the table must show something new: now, or at the end of `held()`."""
        if self._held:
            self._table_due = True
        else:
            self._refresh_table()

    def _refresh_table(self, force: bool = False) -> None:
        """Panes with a table rebuild it here."""

    def child(self, cls: type[WidgetT], selector: str = "") -> WidgetT:
        """`query_one`, remembered: a pane's own widgets are composed once and stay, and a query per repaint
        ran the CSS matcher some twenty times a second (measured: a tenth of the UI's steady CPU, with the
        app's own pane lookups). Raises NoMatches, like the query, until the child is mounted."""
        key = (cls, selector)
        found = self._children_found.get(key)
        if found is None:
            found = self.query_one(selector, cls) if selector else self.query_one(cls)
            self._children_found[key] = found
        return found  # type: ignore[return-value]

    _title_text = ""
    _border_only = False

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        # Assigning border_title / border_subtitle repaints the whole pane, table and all; `_set_border`
        # drops that repaint and repaints only the border line it changed.
        if self._border_only and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _set_border(self, top: bool, markup: str) -> None:
        """Set the title (`top`) or subtitle, repainting that border line only — from the first cell that
        differs when the text keeps its length and alignment (a clock's last digit), else all of it."""
        old = self.border_title if top else self.border_subtitle
        width, height = self.outer_size
        if not self.is_mounted or not width or not height or old is None:
            if top:
                self.border_title = markup
            else:
                self.border_subtitle = markup
            return
        self._border_only = True
        try:
            if top:
                self.border_title = markup
            else:
                self.border_subtitle = markup
        finally:
            self._border_only = False
        x = 0
        align = self.styles.border_title_align if top else self.styles.border_subtitle_align
        plain = "[" not in old + markup and cell_len(old + markup) == len(old + markup)
        if plain and len(old) == len(markup) and align == "right":
            same = next((i for i, (a, b) in enumerate(zip(old, markup, strict=True)) if a != b), len(old))
            # Right-aligned: the label ends a space and a corner before the right edge (2 cells of slack).
            x = max(0, width - (len(markup) - same) - 4)
        offset = self.content_offset  # refresh regions are relative to the content area
        self.refresh(Region(x - offset.x, (0 if top else height - 1) - offset.y, width - x, 1))

    def set_title(self, text: str) -> None:
        """Set the border title as plain text (queue and breaker names may hold `[...]`: never markup);
        a same-text assignment would still repaint the whole pane."""
        if self._title_text != text:
            self._title_text = text
            self._set_border(True, escape(text))

    def _update_subtitle(self) -> None:
        state, now = self.state, self.now
        text = "not configured" if state is None or now is None else state.describe(now)
        # The reason quotes backend errors: plain text, never markup (`[link=…]` stays literal).
        markup = escape(text)
        # Assigning border_subtitle repaints the whole pane even when the text is the same: compare first.
        if self.border_subtitle != markup:
            self._set_border(False, markup)
        if state is None:
            return
        self._set_border_classes(
            {f"-{mode.value}": state.mode is mode for mode in (SourceMode.STALE, SourceMode.UNREACHABLE)}
        )

    def _set_border_classes(self, classes: dict[str, bool]) -> None:
        """Toggle classes that only recolour the border (-warn, -crit, -stale, -unreachable in DEFAULT_CSS),
        repainting the border only: a cache verdict flapping between ok and warn rewrote the whole pane.

        Only the pane is restyled, not its descendants as a class change does (the stylesheet matched against
        every widget of the pane's table: ~8 ms a flap, measured): no rule names these classes but the pane's
        own, and borders are not inherited."""
        changed = {name: on for name, on in classes.items() if self.has_class(name) != on}
        if not changed:
            return
        width, height = self.outer_size
        if not self.is_mounted or not width or not height:
            for name, on in changed.items():
                self.set_class(on, name)
            return
        self._border_only = True
        try:
            self.update_classes(changed, update=False)
            self.app.stylesheet.update_nodes([self], animate=False)  # the whole-pane repaint it asks for is dropped
        finally:
            self._border_only = False
        x, y = -self.content_offset.x, -self.content_offset.y  # refresh regions are relative to the content
        self.refresh(
            Region(x, y, width, 1),
            Region(x, y + height - 1, width, 1),
            Region(x, y, 1, height),
            Region(x + width - 1, y, 1, height),
        )

    def watch_state(self) -> None:
        self._update_subtitle()

    def watch_now(self) -> None:
        self._update_subtitle()

    def watch_status(self, status: Status) -> None:
        self._set_border_classes({"-warn": status is Status.WARN, "-crit": status is Status.CRIT})
