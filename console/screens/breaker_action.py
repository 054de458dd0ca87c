"""A breaker action in one dialog: dry-run (state before → after, until when, how it reverts), the
confirmation (y, or the breaker's name typed on a protected environment), the result."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.breaker_actions import BreakerAction
from console.errors import ConsoleError
from console.safety import WriteMode
from widgets.render import safe


class BreakerActionScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("y", "confirm_key", "Confirm", show=False)]
    AUTO_FOCUS = ""  # `y` must reach the confirm binding, not a text box

    DEFAULT_CSS = """
    BreakerActionScreen { align: center middle; }
    BreakerActionScreen > Vertical {
        width: 90; max-width: 100%; height: auto; border: round $warning; background: $surface; padding: 0 1;
    }
    BreakerActionScreen Input { display: none; }
    """

    def __init__(
        self, action: BreakerAction, write: WriteMode, done: Callable[[BreakerAction], None] | None = None
    ) -> None:
        super().__init__()
        self.action = action
        self.write = write
        self.on_done = done
        self.ready = False
        self.finished = False

    def compose(self) -> ComposeResult:
        info = self.action.info
        with Vertical() as box:
            box.border_title = safe(f"{self.action.verb} · {info.source} · {info.service}/{info.name}", 80)
            box.border_subtitle = "esc: close"
            yield Static("", id="breaker-plan")
            yield Input(id="breaker-confirm")
            yield Static("", id="breaker-status")

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#breaker-status", Static).update(Text(text, style=style))

    def on_mount(self) -> None:
        try:
            plan = self.action.dry_run()
        except ConsoleError as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        self.query_one("#breaker-plan", Static).update(safe(plan.summary, 400))
        self.ready = True
        if not self.write.active():
            self._status("read-only: press esc, then w to enable write mode with a reason", "bold yellow")
        elif plan.confirmation.level == "typed":
            box = self.query_one(Input)
            box.placeholder = f"type {plan.confirmation.text} to confirm"
            box.display = True
            box.focus()
            self._status("protected environment: type the breaker name to confirm", "bold yellow")
        else:
            self._status("press y to confirm", "bold yellow")

    def action_confirm_key(self) -> None:
        if self.ready and not self.finished:
            self._execute(None, True)

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if self.ready and not self.finished:
            self._execute(event.value, False)

    @work(exclusive=True, exit_on_error=False)
    async def _execute(self, given: str | None, yes: bool) -> None:
        try:
            result = await self.action.execute(self.write, given, yes)
        except ConsoleError as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never swallowed by the worker
            self._status(f"✖ {type(exc).__name__}: {safe(exc, 200)}", "bold red")
            return
        self.finished = True
        if self.on_done is not None:
            self.on_done(self.action)
        self._status("done: " + ", ".join(f"{k}={v}" for k, v in result.items()) + " · esc to close", "bold green")
