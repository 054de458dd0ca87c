"""Paging in the DLQ browser swaps cell contents in place (rows are keyed by position): what it then shows must
be what a rebuilt table shows for that page, the cursor goes back to the first letter of a new page, the
BODY column widens for longer previews, and marks survive paging. In memory: no broker needed."""

from __future__ import annotations

import asyncio
import gc
import json
from dataclasses import replace
from datetime import timedelta

from textual.widgets import Static

from console.adapters.dlq_base import Selection
from console.errors import SourceUnavailable
from console.model import DeadLetterPage
from console.screens import dlq_browse
from console.screens.dlq_browse import PAGE, DlqBrowseScreen
from tests.fixtures.dlq_letters import EVIL, FixedStore, _order
from tests.fixtures.scenes import NOW, make_scene_app
from widgets.cell_table import CellTable

SIZE = (120, 40)


class PagedStore(FixedStore):
    """120 letters, newest first; page one's bodies are short, page two's long and one of them hostile."""

    def __init__(self) -> None:
        super().__init__(NOW, 120)
        self.letters = []
        for n in range(1, 121):
            letter = _order(n, NOW - timedelta(seconds=5 * n))
            if n <= PAGE:
                letter = replace(letter, body=b"{}", size=2)
            elif n == PAGE + 3:
                letter = replace(letter, body=EVIL.encode(), message_id=EVIL)
            elif n > PAGE + 3:
                body = json.dumps({"orderId": f"ord_{n:04d}", "note": "x" * n}).encode()
                letter = replace(letter, body=body, size=len(body))
            self.letters.append(letter)

    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage:
        chosen = [x for x in self.letters if selection.wants(x)]
        return DeadLetterPage(self.name, self.kind, len(chosen), tuple(chosen[offset : offset + limit]), offset)


async def open_browser(pilot, app) -> DlqBrowseScreen:  # type: ignore[no-untyped-def]
    await pilot.press("5")
    await pilot.pause()
    await pilot.press("enter")
    screen = app.screen
    assert isinstance(screen, DlqBrowseScreen)
    await until_page(pilot, screen, 0)
    return screen


async def until_page(pilot, screen: DlqBrowseScreen, offset: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        await pilot.pause()
        if screen.page is not None and screen.page.offset == offset:
            await pilot.pause()
            return
    raise AssertionError(f"page at {offset} never shown")


async def until_note(pilot, screen: DlqBrowseScreen, text: str) -> None:  # type: ignore[no-untyped-def]
    note = screen.query_one("#dlq-note", Static)
    for _ in range(100):
        await pilot.pause(0.02)
        if text in str(note.content):
            return
    raise AssertionError(f"the note never said {text!r}: {note.content}")


def drawn(screen: DlqBrowseScreen) -> list[str]:
    return [strip.text for strip in screen._compositor.render_strips()]


def ids(table: CellTable) -> list[str]:
    return [table.get_row_at(i)[2].plain for i in range(table.row_count)]


async def test_next_page_draws_what_a_rebuilt_table_draws_and_back() -> None:
    store = PagedStore()
    app = make_scene_app("all-ok")
    app.dlq_store_for = lambda kind, name: store
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_browser(pilot, app)
        table = screen.query_one(CellTable)
        assert table.fast_cells
        first_body_width = table.columns[table.ordered_columns[-1].key].content_width
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 3

        await pilot.press("n")
        await until_page(pilot, screen, PAGE)
        assert ids(table) == [f"m-{n:04d}" for n in range(PAGE + 1, 2 * PAGE + 1) if n != PAGE + 3][:2] + [
            "\\x1b]52;c;ZXZ…"
        ] + [f"m-{n:04d}" for n in range(PAGE + 4, 2 * PAGE + 1)]
        assert table.cursor_row == 0  # a new page starts at its first letter
        assert table.columns[table.ordered_columns[-1].key].content_width > first_body_width
        assert not any("\x1b" in cell.plain for row in range(table.row_count) for cell in table.get_row_at(row))
        assert gc.isenabled()  # held off only until the page was painted
        paged = drawn(screen)

        # The same page built from scratch (DataTable.clear, then every row added and measured) draws alike.
        table.clear()
        screen.show(screen.page)
        await pilot.pause()
        await pilot.pause()
        assert table.row_count == PAGE and drawn(screen) == paged

        await pilot.press("b")
        await until_page(pilot, screen, 0)
        assert ids(table)[:2] == ["m-0001", "m-0002"]


async def test_marks_survive_paging_and_the_last_page_is_shorter() -> None:
    store = PagedStore()
    app = make_scene_app("all-ok")
    app.dlq_store_for = lambda kind, name: store
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_browser(pilot, app)
        table = screen.query_one(CellTable)
        await pilot.press("down", "space")  # mark m-0002, the cursor moves on
        assert table.cursor_row == 2 and table.get_row_at(1)[0].plain == "●"
        await pilot.press("n")
        await until_page(pilot, screen, PAGE)
        assert [table.get_row_at(i)[0].plain for i in range(table.row_count)] == [" "] * PAGE
        await pilot.press("n")
        await until_page(pilot, screen, 2 * PAGE)
        assert table.row_count == 20 and ids(table)[0] == "m-0101" and table.cursor_row == 0
        await pilot.press("b", "b")
        await until_page(pilot, screen, 0)
        assert table.row_count == PAGE and table.get_row_at(1)[0].plain == "●" and screen.chosen == {"m-0002"}


class BrokenStore(PagedStore):
    """Page one, then a broker that is gone; or, with `hang`, one that never answers."""

    hang = False

    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage:
        if self.hang:
            await asyncio.Event().wait()
        if offset:
            raise SourceUnavailable("broker gone")
        return await super().page(offset, limit, selection)


async def test_the_collector_is_back_on_after_a_failed_page_and_after_leaving() -> None:
    store = BrokenStore()
    app = make_scene_app("all-ok")
    app.dlq_store_for = lambda kind, name: store
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_browser(pilot, app)
        await pilot.press("n")
        await until_note(pilot, screen, "broker gone")
        assert gc.isenabled() and screen.page is not None and screen.page.offset == 0

        store.hang = True
        await pilot.press("r")
        await pilot.pause()
        assert not gc.isenabled()  # held while the page loads
        await pilot.press("escape")  # leave while it is held
        await pilot.pause()
        assert not isinstance(app.screen, DlqBrowseScreen) and gc.isenabled()


async def test_a_page_that_never_comes_holds_the_collector_off_only_briefly(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(dlq_browse, "GC_HOLD_LIMIT", 0.5)
    store = BrokenStore()
    app = make_scene_app("all-ok")
    app.dlq_store_for = lambda kind, name: store
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(pilot, app)
        store.hang = True
        await pilot.press("r")
        await pilot.pause()
        assert not gc.isenabled()
        await pilot.pause(1.0)
        assert gc.isenabled()


class SlowStore(PagedStore):
    """Pages after the first wait for the test to let them through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage:
        if offset:
            await self.gate.wait()
        return await super().page(offset, limit, selection)


async def test_a_slow_page_says_loading_and_then_what_it_shows() -> None:
    store = SlowStore()
    app = make_scene_app("all-ok")
    app.dlq_store_for = lambda kind, name: store
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_browser(pilot, app)
        note = screen.query_one("#dlq-note", Static)
        await pilot.press("n")
        await until_note(pilot, screen, "loading")
        store.gate.set()
        await until_page(pilot, screen, PAGE)
        for _ in range(5):
            await pilot.pause()
        assert str(note.content).startswith("letters 51–100")  # not a late "loading …"
        assert note.outer_size.width == SIZE[0]  # spans the screen: updated without a layout pass
        assert "letters 51–100" in "\n".join(drawn(screen))
