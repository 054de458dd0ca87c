"""CellTable's fast cell rendering draws exactly what DataTable's own (Rich) path draws, cell by cell and line by
line, under the cursor, hover, focus, zebra stripes, fixed columns and padding; cells it does not handle (too
long, multi-line, tabs, centred, control characters) fall back to DataTable's path."""

from __future__ import annotations

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable

from console.sanitize import clean
from widgets.cell_table import CellTable

COLUMNS = [
    ("sel", "", 1),
    ("id", "ID", 8),
    ("origin", Text("ORIGIN", style="italic"), 10),
    ("size", Text("SIZE", justify="right"), 7),
    ("body", "BODY", None),
]

HOSTILE = "\x1b[31mred\x1b]8;;http://x\x07link [bold]x[/] \u202e\u200b"
ROWS = [
    [Text("●", style="bold yellow"), Text("m-0001"), Text("orders"), Text("1.2K", justify="right"), Text("{}")],
    [Text(" ", style="bold yellow"), Text("注文-東京"), Text(""), Text("12", justify="right"), Text("<binary>", "dim")],
    [Text(""), Text("", style="reverse"), Text("x", justify="left"), Text("", justify="right"), Text("a\tb")],
    [Text("●"), Text("toolongtoolong"), Text("two\nlines"), Text("3 ", justify="right"), Text("mid", justify="center")],
    [Text("?"), Text(clean(HOSTILE, 8)), Text(clean(HOSTILE, 10)), Text("7", "red", justify="left"), Text(HOSTILE)],
    [
        Text("●"),
        Text.assemble(("ab", "green"), ("cd", Style(bold=True, underline=True))),
        Text("orig", style=Style(color="red", link="https://example.invalid")),
        Text.assemble(("1", "red"), ("0", "blue"), justify="right"),
        Text("wide 東京東京 and more", overflow="ellipsis"),
    ],
    [Text("x", overflow="ignore"), Text("full j", justify="full"), Text("[b]x[/b]"), Text("∞"), Text("end")],
]


class Tables(App[None]):
    def __init__(self, **options: object) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        yield CellTable(id="table", **self.options)  # type: ignore[arg-type]


def fill(table: CellTable) -> None:
    for key, label, width in COLUMNS:
        table.add_column(label, key=key, width=width)
    for n, cells in enumerate(ROWS * 3):
        table.add_row(*cells, key=f"r{n}")


def lines(table: CellTable) -> list[list[object]]:
    """The table's lines, through DataTable.render_line and through the widget's whole render pass."""
    table._clear_caches()
    by_line = [list(table.render_line(y)) for y in range(table.size.height)]
    table._clear_caches()
    by_pass = [list(strip) for strip in table.render_lines(Region(0, 0, *table.size))]
    return by_line + by_pass


@pytest.mark.parametrize(
    "options",
    [
        {"cursor_type": "row"},
        {"cursor_type": "cell", "zebra_stripes": True},
        {"cursor_type": "row", "fixed_columns": 1, "fixed_rows": 2, "cell_padding": 2},
        {"cursor_type": "row", "cell_padding": 0, "show_header": False},
    ],
    ids=["row", "cell-zebra", "fixed-padding2", "padding0-noheader"],
)
async def test_fast_cells_draw_what_datatable_draws(options: dict[str, object]) -> None:
    app = Tables(**options)
    async with app.run_test(size=(90, 30)) as pilot:
        table = app.query_one(CellTable)
        fill(table)
        await pilot.pause()
        handled = 0
        for cursor_row in (0, 4, 5):
            table.move_cursor(row=cursor_row, column=1, animate=False)
            table.hover_coordinate = Coordinate(2, 2)
            for focused in (True, False):
                if focused:
                    table.focus()
                else:
                    table.blur()
                await pilot.pause()
                for row in range(-1, table.row_count):
                    for column, col in enumerate(table.ordered_columns):
                        for cursor in (False, True):
                            for hover in (False, True):
                                base = table.rich_style + Style(bgcolor="grey11" if row % 2 else "black")
                                width = col.get_render_width(table)
                                args = (row, column, base, width, cursor, hover)
                                fast = table._fast_cell(*args)
                                rich = DataTable._render_cell(table, *args)
                                if fast is not None:
                                    handled += 1
                                    assert fast == rich, (row, column, cursor, hover)
                table.fast_cells = False
                slow_lines = lines(table)
                table.fast_cells = True
                assert lines(table) == slow_lines
        assert handled > 500  # the fast path is taken for most cells
        # And declined where Rich would wrap, crop, expand tabs, centre or strip something.
        for row, column in [(3, 1), (3, 2), (2, 4), (3, 4), (4, 4), (6, 0), (6, 1)]:
            width = table.ordered_columns[column].get_render_width(table)
            assert table._fast_cell(row, column, table.rich_style, width, False, False) is None, (row, column)


async def test_fast_cells_is_on_by_default_and_can_be_turned_off() -> None:
    app = Tables(cursor_type="row")
    async with app.run_test(size=(90, 30)) as pilot:
        table = app.query_one(CellTable)
        fill(table)
        await pilot.pause()
        assert table.fast_cells is True
        lines(table)
        assert table._fast_cache
        table._fast_cache = None
        table.fast_cells = False
        lines(table)
        assert not table._fast_cache


async def test_a_changed_cell_renders_only_its_own_line_and_the_table_stays_right() -> None:
    """Textual renders every line of a widget a partial update touches, trusting the widget's line cache: the
    cached lines of unchanged rows must survive a cell update, and still be exactly what a fresh render draws."""
    app = Tables(cursor_type="row")
    async with app.run_test(size=(90, 30)) as pilot:
        table = app.query_one(CellTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        columns = [key for key, _label, _width in COLUMNS]
        rows = [(f"r{n}", list(cells)) for n, cells in enumerate(ROWS * 2)]
        table.show_rows(rows, columns)
        await pilot.pause()
        rendered: list[int] = []
        render_line = table.render_line
        table.render_line = lambda y: (rendered.append(y), render_line(y))[1]  # type: ignore[method-assign]
        changed = [(key, list(cells)) for key, cells in rows]
        changed[3][1][3] = Text("99", justify="right")
        table.show_rows(changed, columns)
        await pilot.pause()
        assert rendered == [1 + 3]  # the header line, then rows from 0
        shown = [list(strip) for strip in table.render_lines(Region(0, 0, *table.size))]
        table._clear_caches()
        fresh = [list(strip) for strip in table.render_lines(Region(0, 0, *table.size))]
        assert shown == fresh
        assert any("99" in segment.text for segment in shown[4])


@pytest.mark.parametrize("show_header", [True, False])
async def test_changed_cells_repaint_the_regions_datatable_would(show_header: bool) -> None:
    app = Tables(cursor_type="row", show_header=show_header)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(CellTable)
        fill(table)
        await pilot.pause()
        table.scroll_to(x=6, y=5, animate=False)
        await pilot.pause()
        assert table.scroll_offset == (6, 5)
        cells = [(f"r{n}", key) for n in (0, 4, 6, 9, 15, 20) for key, _label, _width in COLUMNS]
        asked: list[Region] = []
        refresh = table.refresh
        table.refresh = lambda *regions, **kw: (asked.extend(regions), refresh(*regions, **kw))[1]  # type: ignore[method-assign]
        for key, column in cells:
            table.refresh_coordinate(Coordinate(table.get_row_index(key), table.get_column_index(column)))
        expected, asked[:] = list(asked), []
        table._refresh_cells(cells)
        assert asked == expected
        assert 0 < len(expected) < len(cells), "some cells lie outside the window and are not repainted"
