"""Browse one DLQ: letters newest first, a page at a time, filtered by text, origin or reason; select
letters and replay, move, export or purge them through the same action specs the CLI uses.

Filter syntax: words match id, origin, reason or body; `origin:NAME` and `reason:TEXT` match exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from console.adapters.dlq_base import DeadLetterStore, Selection
from console.errors import ConsoleError
from console.gc_control import HOLD as COLLECTOR_HOLD
from console.model import DeadLetter, DeadLetterPage
from console.sanitize import clean
from widgets.cell_table import CellTable
from widgets.queues_pane import count
from widgets.quiet_footer import QuietFooter
from widgets.render import safe

PAGE = 50
# Say "loading" only for a store slower than this: a page that comes sooner is drawn in one frame, not two.
LOADING_AFTER = 0.1
# The collector is held off while a page loads and paints (see `_hold_collector`), never longer than this.
GC_HOLD_LIMIT = 1.0
COLUMNS = (
    ("sel", "", 1),
    ("at", "DIED", 8),
    ("id", "ID", 14),
    ("origin", "ORIGIN", 16),
    ("reason", "REASON", 14),
    ("size", "SIZE", 7),
    ("body", "BODY", None),
)
COLUMN_KEYS = [key for key, _label, _width in COLUMNS]


def parse_filter(text: str) -> Selection:
    words, origin, reason = [], "", ""
    for word in text.split():
        if word.startswith("origin:"):
            origin = word.removeprefix("origin:")
        elif word.startswith("reason:"):
            reason = word.removeprefix("reason:")
        else:
            words.append(word)
    return Selection(text=" ".join(words), origin=origin, reason=reason)


def preview(letter: DeadLetter, width: int) -> Text:
    """The start of the body on one line; binary (mostly undecodable or control bytes) says so instead."""
    head = letter.body[: width * 4]
    text = head.decode("utf-8", "replace")
    odd = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\n\r\t"))
    if head and odd * 10 > len(text):
        return Text(f"<binary {letter.size:,} bytes>", style="dim")
    return safe(text, width)


class DlqBrowseScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("space", "mark", "Select"),
        Binding("a", "select_all", "Select all"),
        Binding("R", "act('replay')", "Replay"),
        Binding("M", "act('move')", "Move"),
        Binding("E", "act('export')", "Export"),
        Binding("X", "act('purge')", "Purge"),
        Binding("n", "page(1)", "Next page"),
        Binding("b", "page(-1)", "Prev page", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    AUTO_FOCUS = "#letters"

    DEFAULT_CSS = """
    DlqBrowseScreen #dlq-head { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    DlqBrowseScreen #dlq-note { height: 1; padding: 0 1; color: $text-muted; }
    DlqBrowseScreen DataTable { height: 1fr; }
    DlqBrowseScreen Input { display: none; height: 3; }
    DlqBrowseScreen.-filtering Input { display: block; }
    """

    def __init__(
        self,
        store: DeadLetterStore,
        act: Callable[[DeadLetterStore, str, Selection], None],
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.store = store
        self.act = act
        self.timeout = timeout
        self.start = 0
        self.selection = Selection()
        self.chosen: set[str] = set()
        self.everything = False  # `a`: the action takes every letter matching the filter
        self.page: DeadLetterPage | None = None

    def compose(self) -> ComposeResult:
        # The name comes from the broker: Text, never markup (a queue named "[link=…]" must not crash or link).
        yield Static(Text(clean(f"DLQ {self.store.name} · {self.store.kind}", 100)), id="dlq-head")
        yield Static("loading …", id="dlq-note")
        yield Input(placeholder="filter: words, origin:NAME, reason:TEXT (enter applies, esc clears)", id="dlq-filter")
        # A new page repaints every cell: CellTable's fast cells keep that frame within the 50 ms budget.
        yield CellTable(cursor_type="row", id="letters")
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one(CellTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.load()

    def on_unmount(self) -> None:
        self._release_collector()

    def _hold_collector(self) -> None:
        """Keep Python's cyclic garbage collector off from a page request until that page is on screen.

        A full collection walks every live object, tens of ms with a big heap, and one landing between `n` and
        the frame was the tail of the page-turn latency (issue 9); held off, it runs after the frame, while the
        engineer reads. Textual offers the same for scrolling (App.PAUSE_GC_ON_SCROLL). Released by the painted
        page, a failed load, unmount or the time limit (counted from the latest request)."""
        COLLECTOR_HOLD.hold(self, GC_HOLD_LIMIT)

    def _release_collector(self) -> None:
        COLLECTOR_HOLD.release(self)

    def _note(self, text: str | Text, style: str = "") -> None:
        # One line of fixed height: no layout pass over the whole screen for a new note.
        note = text if isinstance(text, Text) else Text(text, style=style)
        self.query_one("#dlq-note", Static).update(note, layout=False)

    @work(exclusive=True, group="dlq-load", exit_on_error=False)
    async def load(self) -> None:
        self._hold_collector()
        fetched = False

        def say_loading() -> None:
            if not fetched:  # the timer queues this call: it may come after the page did
                self._note("loading …", "dim")

        slow = self.set_timer(LOADING_AFTER, say_loading)
        try:
            page = await asyncio.wait_for(self.store.page(self.start, PAGE, self.selection), self.timeout)
        except (ConsoleError, TimeoutError) as exc:
            self._release_collector()
            self._note(f"✖ {clean(str(exc) or f'timeout after {self.timeout:g}s', 200)}", "bold red")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never swallowed by the worker
            self._release_collector()
            self._note(f"✖ {type(exc).__name__}: {clean(exc, 200)}", "bold red")
            return
        finally:
            fetched = True
            slow.stop()  # also when a newer load cancelled this one (exclusive worker)
        self.show(page)
        self.call_after_refresh(self._release_collector)

    def show(self, page: DeadLetterPage) -> None:
        same = self.page is not None and [x.ref for x in self.page.letters] == [x.ref for x in page.letters]
        self.page = page
        head = f"DLQ {page.dlq} · {page.kind} · {page.total:,} letters"
        if self.selection != Selection():
            head += f" · filter: {self.selection.describe()}"
        self.query_one("#dlq-head", Static).update(Text(clean(head, 160)), layout=False)
        shown = f"{page.offset + 1}–{page.offset + len(page.letters)}" if page.letters else "none"
        picked = f"all {page.total if self.selection == Selection() else 'matching'} selected"
        note = f"letters {shown} · " + (picked if self.everything else f"{len(self.chosen)} selected")
        if page.note:
            note += f" · {page.note}"
        self._note(note, "dim")
        self._fill(keep_cursor=same)

    def _fill(self, keep_cursor: bool) -> None:
        """Rows are keyed by position, so a page of as many letters as the last one only swaps cell contents:
        no clear and re-add, no re-measuring of all 350 cells, no layout (several ms of each `n`)."""
        table = self.query_one(CellTable)
        letters = self.page.letters if self.page is not None else ()
        rows = [(str(n), self._cells(letter)) for n, letter in enumerate(letters)]
        table.show_rows(rows, COLUMN_KEYS)
        # Swapped cells are not measured: widen BODY for a longer preview as a rebuild would (never narrower).
        body = table.columns.get(ColumnKey("body"))
        widest = max(rows, key=lambda row: row[1][-1].cell_len, default=None)
        if body is not None and widest is not None and widest[1][-1].cell_len > body.content_width:
            table.update_cell(widest[0], "body", widest[1][-1], update_width=True)
        if not keep_cursor:  # another page: back to its first letter, as a rebuild would
            table.move_cursor(row=0, column=0, animate=False)

    def _cells(self, letter: DeadLetter) -> list[Text]:
        body_width = max(10, self.size.width - 80)
        return [
            Text("●" if self.everything or letter.ref in self.chosen else " ", style="bold yellow"),
            Text(letter.at.strftime("%H:%M:%S") if letter.at else "—"),
            safe(letter.message_id or letter.ref, 14),
            safe(letter.origin or "?", 16),
            safe(letter.reason or "?", 14),
            Text(count(letter.size), justify="right"),
            preview(letter, body_width),
        ]

    def _current(self) -> DeadLetter | None:
        table = self.query_one(DataTable)
        letters = self.page.letters if self.page else ()
        return letters[table.cursor_row] if letters and 0 <= table.cursor_row < len(letters) else None

    @on(DataTable.RowSelected)
    def _open(self) -> None:
        from console.screens.letter_detail import LetterDetailScreen

        letter = self._current()
        if letter is not None:
            self.app.push_screen(LetterDetailScreen(letter))

    def action_mark(self) -> None:
        letter = self._current()
        if letter is None:
            return
        self.everything = False
        self.chosen.symmetric_difference_update({letter.ref})
        table = self.query_one(DataTable)
        if self.page is not None:
            self.show(self.page)  # the same letters: only the mark's cell changes, the cursor stays
            table.move_cursor(row=min(table.cursor_row + 1, len(self.page.letters) - 1), animate=False)

    def action_select_all(self) -> None:
        """Every letter the filter matches, on every page (again: back to none)."""
        self.everything = not self.everything
        self.chosen.clear()
        if self.page is not None:
            self.show(self.page)

    def action_page(self, step: int) -> None:
        if self.page is None:
            return
        offset = max(0, self.start + step * PAGE)
        if step > 0 and len(self.page.letters) < PAGE:
            self.notify("last page", timeout=2)
            return
        self.start = offset
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_filter(self) -> None:
        self.add_class("-filtering")
        self.query_one(Input).focus()

    @on(Input.Submitted, "#dlq-filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        self.selection = parse_filter(event.value)
        self.start = 0
        self.remove_class("-filtering")
        self.query_one(DataTable).focus()
        self.load()

    def action_back(self) -> None:
        if self.has_class("-filtering"):
            box = self.query_one(Input)
            box.value = ""
            self.remove_class("-filtering")
            self.query_one(DataTable).focus()
            if self.selection != Selection():
                self.selection = Selection()
                self.load()
            return
        self.app.pop_screen()

    def action_act(self, verb: str) -> None:
        """The selected letters; with `a`, every letter the filter matches; else the highlighted one.
        A purge always takes the whole DLQ (after its backup). The dialog's dry-run lists them."""
        current = self._current()
        if verb == "purge":
            selection = Selection()
        elif self.everything:
            selection = self.selection
        elif self.chosen:
            selection = Selection(refs=frozenset(self.chosen))
        elif current is not None:
            selection = Selection(refs=frozenset({current.ref}))
        else:
            return
        self.act(self.store, verb, selection)

    def refresh_after_action(self) -> None:
        self.chosen.clear()
        self.everything = False
        self.load()
