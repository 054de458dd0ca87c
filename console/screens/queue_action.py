"""Queue actions from the Queues pane: dry-run summary, confirmation scaled to the blast radius, result."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.errors import ActionRefused, ConsoleError
from console.queue_actions import QueueAction
from console.safety import WriteMode
from console.sanitize import clean
from widgets.render import safe


class QueueActionScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("y", "confirm_key", "Confirm", show=False)]
    AUTO_FOCUS = ""  # `y` must reach the confirm binding, not a text box

    DEFAULT_CSS = """
    QueueActionScreen { align: center middle; }
    QueueActionScreen > Vertical {
        width: 90; max-width: 100%; height: auto; border: round $warning; background: $surface; padding: 0 1;
    }
    QueueActionScreen Input { display: none; }
    """

    def __init__(self, action: QueueAction, write: WriteMode) -> None:
        super().__init__()
        self.action = action
        self.write = write
        self.ready = False
        self.done = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = escape(clean(f"{self.action.verb} · {self.action.kind} · {self.action.queue}", 80))
            box.border_subtitle = "esc: close"
            yield Static("dry-run …", id="queue-action-plan")
            yield Input(id="queue-action-confirm")
            yield Static("", id="queue-action-status")

    def on_mount(self) -> None:
        self._plan()

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#queue-action-status", Static).update(Text(text, style=style))

    @work(exclusive=True, exit_on_error=False)
    async def _plan(self) -> None:
        try:
            plan = await self.action.dry_run()
        except (ActionRefused, ConsoleError) as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never swallowed by the worker
            self._status(f"✖ {type(exc).__name__}: {safe(exc, 200)}", "bold red")
            return
        self.query_one("#queue-action-plan", Static).update(safe(plan.summary, 300))
        self.ready = True
        if not self.write.active():
            self._status("read-only: press esc, then w to enable write mode with a reason", "bold yellow")
        elif plan.confirmation.level == "typed":
            box = self.query_one(Input)
            box.placeholder = f"type {plan.queue} to confirm"
            box.display = True
            box.focus()
            self._status("type the queue name to confirm", "bold yellow")
        else:
            self._status("press y to confirm", "bold yellow")

    def action_confirm_key(self) -> None:
        if self.ready and not self.done:
            self._execute(None, True)

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if self.ready and not self.done:
            self._execute(event.value, False)

    @work(exclusive=True, group="queue-action-run", exit_on_error=False)
    async def _execute(self, given: str | None, yes: bool) -> None:
        try:
            result = await self.action.execute(self.write, given, yes)
        except (ActionRefused, ConsoleError) as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never swallowed by the worker
            self._status(f"✖ {type(exc).__name__}: {safe(exc, 200)}", "bold red")
            return
        self.done = True
        self._status("done: " + ", ".join(f"{k}={v}" for k, v in result.items()) + " · esc to close", "bold green")
