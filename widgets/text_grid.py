"""Rows of columns drawn as one Text per line: what the Cache pane's borderless Rich Tables draw, for a fraction of
the cost.

A Rich Table measures, wraps and pads every cell through Rich's render pipeline: the Cache pane's two small
tables took ~10 ms a render, every second, the largest single part of the console's steady CPU once the tables
of the other panes drew only their changed cells. The layout here is the one `Table(box=None, expand=True,
pad_edge=False, show_edge=False, collapse_padding=True)` gives: one space between columns, fixed widths, one
flexible column taking the rest. `grid_lines` returns None whenever the Table would do something else (a cell
wider than a column that does not cut it, a width too small for the flexible column): the caller then draws the
Table. tests/test_text_grid.py compares the two, cell by cell and style by style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.style import Style
from rich.table import Table
from rich.text import Text

from widgets.render import NOT_ONE_LINE


@dataclass(frozen=True)
class GridColumn:
    header: str
    width: int | None = None
    """Cells of the column; None: the flexible column, which takes the width the others leave."""
    justify: Literal["left", "right"] = "left"
    min_width: int = 1
    """The flexible column's least width."""
    ellipsis: bool = False
    """A cell too long for the column is cut with "…" (else the line cannot be drawn here: None)."""


def column_widths(columns: Sequence[GridColumn], width: int) -> list[int] | None:
    fixed = sum(c.width for c in columns if c.width is not None) + len(columns) - 1
    flexible = [c for c in columns if c.width is None]
    if len(flexible) != 1:
        return None
    spare = width - fixed
    if spare < flexible[0].min_width:
        return None
    return [spare if c.width is None else c.width for c in columns]


def grid_lines(
    columns: Sequence[GridColumn], rows: Sequence[Sequence[Text | str]], width: int, header_style: str = "bold"
) -> list[Text] | None:
    """The header and one line per row, each exactly `width` cells; None when a Table would lay them out
    differently."""
    widths = column_widths(columns, width)
    if widths is None:
        return None
    header = Style.parse(header_style)
    if any(isinstance(cell, str) and ("[" in cell or ":" in cell) for row in rows for cell in row):
        return None  # a Table reads a str cell as markup (and :emoji:): only Text cells are taken as they are
    lines = [_line([Text(c.header, style=header) for c in columns], columns, widths, header)]
    lines += [_line([Text(cell) if isinstance(cell, str) else cell for cell in row], columns, widths) for row in rows]
    return None if None in lines else lines  # type: ignore[return-value]  # checked: no None left


def _line(
    cells: Sequence[Text], columns: Sequence[GridColumn], widths: Sequence[int], base: Style | None = None
) -> Text | None:
    line = Text(no_wrap=True)
    for index, (cell, column, width) in enumerate(zip(cells, columns, widths, strict=True)):
        if index:
            line.append(" ", style=base)
        if NOT_ONE_LINE.search(cell.plain):
            return None  # a Table expands tabs, breaks lines, strips other controls
        length = cell.cell_len
        if length > width:
            if not column.ellipsis:
                return None  # a Table wraps it onto more lines
            cell = cell.copy()
            cell.truncate(width, overflow="ellipsis")
            length = cell.cell_len
        pad = " " * (width - length)  # in the cell's own style, as Rich pads a justified Text
        if column.justify == "right":
            line.append(pad, style=cell.style)
            line.append(cell)  # with its own style (append_text drops it)
        else:
            line.append(cell)  # with its own style (append_text drops it)
            line.append(pad, style=cell.style)
    return line


def as_table(columns: Sequence[GridColumn], rows: Sequence[Sequence[Text | str]], header_style: str = "bold") -> Table:
    """The Rich Table `grid_lines` draws like: for what it cannot draw."""
    table = Table(
        box=None, expand=True, pad_edge=False, show_edge=False, header_style=header_style, collapse_padding=True
    )
    for column in columns:
        if column.width is None:
            table.add_column(
                column.header,
                ratio=1,
                min_width=column.min_width,
                no_wrap=column.ellipsis,
                overflow="ellipsis",
                justify=column.justify,
            )
        else:
            table.add_column(column.header, width=column.width, no_wrap=column.ellipsis, justify=column.justify)
    for row in rows:
        table.add_row(*row)
    return table
