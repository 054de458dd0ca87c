"""A pane whose backend is not set up: says so plainly, never shows invented numbers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from widgets.pane import Pane


class UnconfiguredPane(Pane):
    DEFAULT_CSS = """
    UnconfiguredPane > Static { color: $text-muted; }
    """

    def __init__(self, title: str, key: str, hint: str, *, id: str | None = None) -> None:
        self.pane_title = title
        self.key = key
        self._hint = hint
        super().__init__(id=id)

    def compose(self) -> ComposeResult:
        yield Static(f"not configured\n{self._hint}")
