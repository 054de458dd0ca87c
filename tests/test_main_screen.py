"""The main screen's partial updates start where the change starts: same terminal result as Textual's own update,
fewer bytes. Both updates of every frame are played into two virtual terminals (pyte) and compared."""

from __future__ import annotations

from typing import Any

import pyte
import pytest
from rich.text import Text
from textual._compositor import ChopsUpdate

from console.screens.main_screen import LeanChopsUpdate, MainScreen
from tests.fixtures.scenes import make_scene_app
from widgets.cell_table import CellTable

SIZE = (120, 40)


class TwoTerminals:
    """What the stock update and the lean one would each have left on a terminal, and what each wrote."""

    def __init__(self) -> None:
        self.screens = [pyte.Screen(*SIZE), pyte.Screen(*SIZE)]
        self.streams = [pyte.Stream(screen) for screen in self.screens]
        self.written = [0, 0]
        self.partial_updates = 0

    def play(self, stock: str, lean: str) -> None:
        for index, data in enumerate((stock, lean)):
            self.streams[index].feed(data)
            self.written[index] += len(data.encode())

    def shown(self, index: int) -> list[list[tuple[str, Any, Any, bool]]]:
        screen = self.screens[index]
        return [
            [(c.data, c.fg, c.bg, c.bold) for c in (screen.buffer[y][x] for x in range(SIZE[0]))]
            for y in range(SIZE[1])
        ]


def _record(app: Any, terminals: TwoTerminals) -> None:
    def display(screen: Any, renderable: Any) -> None:
        if renderable is None:
            return
        console = app.console
        if isinstance(renderable, LeanChopsUpdate):
            stock = ChopsUpdate(renderable.chops, renderable.spans, renderable.chop_ends)
            terminals.play(stock.render_segments(console), renderable.render_segments(console))
            terminals.partial_updates += 1
        elif hasattr(renderable, "render_segments"):
            data = renderable.render_segments(console)
            terminals.play(data, data)

    app._display = display


@pytest.mark.parametrize("wide", [False, True])
async def test_partial_updates_leave_the_same_screen_with_fewer_bytes(wide: bool) -> None:
    app = make_scene_app("degraded")
    terminals = TwoTerminals()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        _record(app, terminals)
        app.screen.refresh()  # a full frame first: both terminals start from the screen as it is
        await pilot.pause()
        table = app.query_one("#health-table", CellTable)
        columns = [str(column.key.value) for column in table.ordered_columns]
        keys = table.row_keys()
        for step in range(6):
            rows = []
            for number, key in enumerate(keys):
                cells = [table.get_cell(key, column) for column in columns]
                if wide and number == 0:
                    cells[1] = Text(f"日本{step % 2}")  # a wide character to the left of the next change
                cells[3] = Text(f"{10 + step + number}ms", justify="right")
                rows.append((key, cells))
            table.show_rows(rows, columns)
            await pilot.pause()
        assert terminals.partial_updates >= 6
        assert terminals.shown(0) == terminals.shown(1)
        assert terminals.written[1] < terminals.written[0]
