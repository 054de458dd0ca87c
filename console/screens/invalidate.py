"""`i` on the Cache pane: pattern → dry-run preview → confirmation scaled to blast radius → throttled
delete with progress and an abort key → exact report. Every step goes through `console.actions`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, Static

from console.errors import ActionRefused, ConsoleError
from console.model import InvalidationPreview
from console.safety import WriteMode
from console.units import human_bytes
from widgets.render import safe

if TYPE_CHECKING:
    from console.actions import CacheInvalidation


class InvalidateScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("y", "confirm_key", "Confirm", show=False),
        Binding("a", "abort", "Abort", show=False),
    ]

    DEFAULT_CSS = """
    InvalidateScreen { align: center middle; }
    InvalidateScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    InvalidateScreen #invalidate-confirm { display: none; }
    InvalidateScreen ProgressBar { display: none; }
    """

    def __init__(self, action_for: object, write: WriteMode, instance_name: str, protected: bool) -> None:
        super().__init__()
        self._action_for = action_for  # callable(pattern) -> CacheInvalidation
        self.write = write
        self.instance_name = instance_name
        self.protected = protected
        self.action: CacheInvalidation | None = None
        self.plan: InvalidationPreview | None = None
        self.abort_event = asyncio.Event()
        self.running = False
        self.finished = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = escape(
                f"Invalidate keys on {self.instance_name}" + (" · PROTECTED" if self.protected else "")
            )
            box.border_subtitle = "enter: preview · esc: close"
            yield Static("Pattern (SCAN MATCH glob, e.g. user:*). A preview comes first; nothing is deleted yet.")
            yield Input(placeholder="namespace:*", id="invalidate-pattern")
            yield Static("", id="invalidate-preview")
            yield Input(id="invalidate-confirm")
            yield ProgressBar(total=100, show_eta=False, id="invalidate-progress")
            yield Static("", id="invalidate-status")

    def _status(self, text: str | Text, style: str = "") -> None:
        self.query_one("#invalidate-status", Static).update(Text(text, style=style) if isinstance(text, str) else text)

    @on(Input.Submitted, "#invalidate-pattern")
    def _pattern_given(self, event: Input.Submitted) -> None:
        if self.running:
            return
        self.action = self._action_for(event.value.strip())  # type: ignore[operator]
        self._status("scanning …")
        self._preview()

    @work(exclusive=True, group="invalidate-preview", exit_on_error=False)
    async def _preview(self) -> None:
        assert self.action is not None
        try:
            self.plan = await self.action.dry_run()
        except (ActionRefused, ConsoleError) as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        plan = self.plan
        lines = Text()
        lines.append(f"{plan.matched}{'+' if plan.capped else ''} keys match", style="bold")
        lines.append(f" · ~{human_bytes(plan.estimated_bytes)} · {plan.scanned} SCAN calls\n")
        for key in plan.sample[:6]:
            lines.append("  e.g. ").append_text(safe(key, 70)).append("\n")
        self.query_one("#invalidate-preview", Static).update(lines)
        if plan.matched == 0:
            self._status("nothing to delete")
            return
        if not self.write.active():
            self.set_focus(None)  # `y` then reaches the binding and the refusal is journaled
            self._status("read-only: press esc, then w to enable write mode with a reason", "bold yellow")
            return
        confirmation = self.action.confirmation()
        if confirmation.level == "typed":
            box = self.query_one("#invalidate-confirm", Input)
            box.placeholder = f"type {confirmation.text} to delete {plan.matched} keys"
            box.display = True
            box.focus()
            self._status(
                f"type the pattern to confirm ({plan.matched} keys"
                f"{', protected environment' if self.protected else ''})",
                "bold yellow",
            )
        else:
            self.set_focus(None)  # so `y` reaches the confirm binding instead of the pattern box
            self._status(f"press y to delete {plan.matched} keys (tab back to edit the pattern)", "bold yellow")

    def action_confirm_key(self) -> None:
        if self.plan is not None and not self.running and not self.finished:
            self._execute(None, yes=True)

    @on(Input.Submitted, "#invalidate-confirm")
    def _typed(self, event: Input.Submitted) -> None:
        if not self.running and not self.finished:
            self._execute(event.value, yes=False)

    @work(exclusive=True, group="invalidate-run", exit_on_error=False)
    async def _execute(self, given: str | None, yes: bool) -> None:
        assert self.action is not None and self.plan is not None
        progress = self.query_one(ProgressBar)
        progress.update(total=max(1, self.plan.matched), progress=0)
        try:
            self.action.authorise(self.write, given, yes)
        except ActionRefused as exc:
            self._status(f"✖ refused: {exc}", "bold red")
            return
        self.running = True
        progress.display = True
        self._status("deleting … press a to abort", "bold")

        def advance(deleted: int, _batches: int) -> None:
            progress.update(progress=deleted)

        try:
            result = await self.action.execute(self.write, given, yes, abort=self.abort_event, progress=advance)
        except (ActionRefused, ConsoleError) as exc:
            self._status(f"✖ {exc}", "bold red")
            return
        finally:
            self.running = False
        self.finished = True
        progress.update(total=max(1, result.deleted), progress=result.deleted)
        verb = "aborted after deleting" if result.aborted else "deleted"
        self._status(
            f"{verb} {result.deleted} keys in {result.seconds:.1f}s ({result.batches} batches) · esc to close",
            "bold yellow" if result.aborted else "bold green",
        )

    def action_abort(self) -> None:
        if self.running:
            self.abort_event.set()
            self._status("aborting after the current batch …", "bold yellow")

    async def action_close(self) -> None:
        if self.running:
            self.abort_event.set()
            return  # the worker reports what was deleted; closing waits for that
        if self.action is not None:
            await self.action.aclose()
        self.dismiss(None)
