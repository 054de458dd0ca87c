"""`?`: every key, in one modal."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("1 … 7", "show / focus a pane: Health, Traffic, Cache, Queues, DLQ, Breakers, MongoDB"),
    ("tab / shift+tab", "move focus between panes"),
    ("↑ ↓ / j k", "move in a table"),
    ("enter", "open details (Health: component breakdown · DLQ: browse letters, then one letter)"),
    ("w", "write mode on (asks for a reason; expires) / off"),
    ("i", "Cache: invalidate keys by pattern (preview, confirm, progress, a aborts)"),
    ("/ s", "Queues: filter by name / sort by depth or growth"),
    ("P R C X", "Queues: pause-resume · retry failed · clean completed (BullMQ) · purge with backup (RabbitMQ)"),
    ("space a / n b", "DLQ browser: select a letter · all matching · filter · next / previous page"),
    ("R M E X", "DLQ browser: replay to origin · move · export · purge with backup (dry-run first, a aborts)"),
    ("F C Z D", "Breakers: force open (timed) · close · reset · disable (write mode, confirmed, journaled)"),
    ("t", "timeline: every change of every pane on one time axis; enter jumps to that pane and moment"),
    ("L", "back to live after jumping to a past moment"),
    ("x", "export the findings on screen: Markdown + SVG screenshot (secrets removed)"),
    ("ctrl+r", "start / stop recording every reading and action to a file"),
    ("space . , [ ] + - g G", "replay: play-pause · step · step back · ∓30 s · speed · start / end"),
    ("r", "refresh every source now"),
    ("p", "pause / resume updates (replay: play / pause)"),
    ("ctrl+p", "command palette: every action by name"),
    ("?", "this help"),
    ("esc", "close a dialog"),
    ("q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, text in KEYS:
            table.add_row(key, text)
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "esc to close"
            yield Static(table)
