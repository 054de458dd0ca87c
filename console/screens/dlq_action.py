"""A DLQ action in one dialog: (target for a move) → dry-run (which letters, where) → confirmation scaled
to the blast radius → progress bar with an abort key → result. Aborting stops between letters: every
letter is then in the DLQ or where it went."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, Static

from console.dlq_actions import DlqAction, DlqPlan
from console.errors import ActionRefused, ConsoleError
from console.model import ReplayProgress
from console.safety import WriteMode
from console.sanitize import clean
from widgets.render import safe

LISTED = 8  # letters itemised in the dialog (the CLI's --dry-run lists them all)


def plan_table(plan: DlqPlan) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for header in ("ID", "ORIGIN", "REASON", "GOES TO"):
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for letter in plan.plan.letters[:LISTED]:
        where = (
            safe(letter.destination, 40)
            if letter.destination
            else Text(f"stays: {letter.problem}"[:48], style="yellow")
        )
        name = safe(letter.message_id or letter.ref, 18)
        table.add_row(name, safe(letter.origin, 18), safe(letter.reason, 14), where)
    more = len(plan.plan.letters) - LISTED + (plan.plan.count + plan.plan.skipped - len(plan.plan.letters))
    if more > 0:
        table.add_row(Text(f"… {more:,} more", style="dim"), "", "", "")
    return table


class DlqActionScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("y", "confirm_key", "Confirm", show=False),
        Binding("a", "abort", "Abort", show=False),
    ]
    AUTO_FOCUS = ""  # `y` must reach the confirm binding, not a text box

    DEFAULT_CSS = """
    DlqActionScreen { align: center middle; }
    DlqActionScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    DlqActionScreen Input { display: none; }
    DlqActionScreen ProgressBar { display: none; }
    DlqActionScreen.-running ProgressBar { display: block; }
    """

    def __init__(self, action: DlqAction, write: WriteMode) -> None:
        super().__init__()
        self.action = action
        self.write = write
        self.stage = "target" if action.verb == "move" and not action.target else "plan"
        self.running = False
        self.done = False

    def compose(self) -> ComposeResult:
        action = self.action
        with Vertical() as box:
            box.border_title = escape(clean(f"{action.verb} · {action.store.kind} · {action.store.name}", 80))
            box.border_subtitle = "esc: close"
            yield Static("", id="dlq-action-plan")
            yield Static("", id="dlq-action-letters")
            yield Input(id="dlq-action-input")
            yield ProgressBar(total=None, show_eta=False, id="dlq-action-progress")
            yield Static("", id="dlq-action-status")

    def on_mount(self) -> None:
        if self.stage == "target":
            self._ask("move to which queue (or list)?", "target queue name")
        else:
            self._plan()

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#dlq-action-status", Static).update(Text(text, style=style))

    def _ask(self, question: str, placeholder: str) -> None:
        box = self.query_one(Input)
        box.value = ""
        box.placeholder = placeholder
        box.display = True
        box.focus()
        self._status(question, "bold yellow")

    @work(exclusive=True, exit_on_error=False)
    async def _plan(self) -> None:
        self._status("dry-run: reading the letters …", "dim")
        try:
            plan = await self.action.dry_run()
        except ConsoleError as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never swallowed by the worker
            self._status(f"✖ {type(exc).__name__}: {safe(exc, 200)}", "bold red")
            return
        self.show_plan(plan)

    def show_plan(self, plan: DlqPlan) -> None:
        self.query_one("#dlq-action-plan", Static).update(safe(plan.summary, 400))
        if plan.verb != "purge":
            self.query_one("#dlq-action-letters", Static).update(plan_table(plan))
        self.stage = "confirm"
        if plan.plan.count == 0 and plan.verb != "purge":
            self._status("nothing to do · esc to close", "bold")
        elif plan.verb != "export" and not self.write.active():
            self._status("read-only: press esc, then w to enable write mode with a reason", "bold yellow")
        elif plan.confirmation.level == "typed":
            self._ask(
                f"type the DLQ name or the count ({plan.confirmation.also}) to confirm",
                f"{plan.confirmation.text} or {plan.confirmation.also}",
            )
        else:
            self._status("press y to confirm", "bold yellow")

    def action_confirm_key(self) -> None:
        if self.stage == "confirm" and not self.running and not self.done:
            self._execute(None, True)

    @on(Input.Submitted, "#dlq-action-input")
    def _typed(self, event: Input.Submitted) -> None:
        if self.stage == "target":
            target = event.value.strip()
            if not target:
                return
            self.action.target = target
            self.query_one(Input).display = False
            self.stage = "plan"
            self._plan()
        elif self.stage == "confirm" and not self.running and not self.done:
            self._execute(event.value, False)

    def show_progress(self, progress: ReplayProgress) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=max(progress.total, 1), progress=progress.done + progress.failed + progress.skipped)
        text = f"{progress.done:,} done · {progress.failed:,} failed · {progress.skipped:,} skipped"
        self._status(f"{text} of {progress.total:,} · a aborts", "bold")

    @work(exclusive=True, group="dlq-action-run", exit_on_error=False)
    async def _execute(self, given: str | None, yes: bool) -> None:
        self.running = True
        self.add_class("-running")
        self.query_one(Input).display = False
        self._status("working …", "bold")
        try:
            result = await self.action.execute(self.write, given, yes, on_progress=self.show_progress)
        except ActionRefused as exc:
            self._status(f"✖ {exc}", "bold red")
            self.running = False
            self.remove_class("-running")
            if given is not None:  # a typed confirmation that did not match: the box is back for another try
                box = self.query_one(Input)
                box.value = ""
                box.display = True
                box.focus()
            return
        except ConsoleError as exc:
            self._status(f"✖ {exc}", "bold red")
            self.running = False
            return
        except Exception as exc:  # noqa: BLE001 - shown, never swallowed by the worker
            self._status(f"✖ {type(exc).__name__}: {safe(exc, 200)}", "bold red")
            self.running = False
            return
        self.running = False
        self.done = True
        words = ", ".join(f"{k}={v}" for k, v in result.items())
        ended = "aborted" if self.action.abort.is_set() else "done"
        self._status(f"{ended}: {words} · esc to close", "bold yellow" if ended == "aborted" else "bold green")

    def action_abort(self) -> None:
        if self.running:
            self.action.abort.set()
            self._status("aborting after the letters in flight …", "bold yellow")

    def action_close(self) -> None:
        if self.running:
            self._status("still running: press a to abort first", "bold yellow")
            return
        self.dismiss(self.done)
