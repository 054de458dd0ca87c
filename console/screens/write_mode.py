"""`w`: enable write mode for a limited time, with a reason that goes into the audit journal."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class WriteModeScreen(ModalScreen[str | None]):
    """Returns the reason, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    WriteModeScreen { align: center middle; }
    WriteModeScreen > Vertical {
        width: 70; max-width: 100%; height: auto; border: round $error; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, minutes: float, environment: str, protected: bool) -> None:
        super().__init__()
        self.minutes = minutes
        self.environment = environment
        self.protected = protected

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Enable write mode"
            box.border_subtitle = "enter: enable · esc: cancel"
            where = f"{self.environment}{' (PROTECTED)' if self.protected else ''}"
            yield Static(
                f"Actions on {where} will be allowed for {self.minutes:g} minutes, each confirmed and "
                "audited. Why? (goes into the audit journal)"
            )
            yield Input(placeholder="e.g. INC-4211 stale prices after deploy", id="write-reason")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
