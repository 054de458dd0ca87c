"""A DataTable that repaints only the cells whose content changed.

`DataTable.update_cell` repaints the whole table, so a pane whose one latency figure moved rewrote every
row on the terminal each time (measured: most of the console's output). `CellTable.show_rows` compares
each cell with what is shown, updates only the changed ones and repaints only their regions; a table
whose rows changed (added, removed, reordered) is rebuilt with the cursor kept on the same row key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable

# Above this many changed cells one whole-table repaint is cheaper than locating each cell.
MAX_CELL_REPAINTS = 48


def same_cell(shown: object, new: Text) -> bool:
    """Whether a cell already shows `new`. Text's own == ignores the base style and the justification."""
    return (
        isinstance(shown, Text)
        and shown.plain == new.plain
        and shown.style == new.style
        and shown.justify == new.justify
        and shown.spans == new.spans
    )


class CellTable(DataTable[Text]):
    """Rows are (key, cells) in column order; `show_rows` makes the table show exactly those."""

    _hold_refresh = False

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        # While `show_rows` updates cells, the whole-table repaint `update_cell` asks for is dropped:
        # the changed cells' regions are repainted instead.
        if self._hold_refresh and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def row_keys(self) -> list[str]:
        return [str(key.value) for key in self.rows]

    def show_rows(
        self, rows: Sequence[tuple[str, Sequence[Text]]], columns: Sequence[str], force: bool = False
    ) -> None:
        """Show `rows`: cell by cell when the same keys are shown in the same order, else rebuild.

        `force` rebuilds anyway (new column set or widths)."""
        current = self.row_keys()
        order = [key for key, _cells in rows]
        if order == current and not force:
            self._update_cells(rows, columns)
            return
        highlighted = current[self.cursor_row] if current and 0 <= self.cursor_row < len(current) else None
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if highlighted in order:
            self.move_cursor(row=order.index(highlighted), animate=False)

    def _update_cells(self, rows: Sequence[tuple[str, Sequence[Text]]], columns: Sequence[str]) -> None:
        changed: list[tuple[str, str]] = []
        self._hold_refresh = True
        try:
            for key, cells in rows:
                for column, cell in zip(columns, cells, strict=True):
                    if not same_cell(self.get_cell(key, column), cell):
                        self.update_cell(key, column, cell)
                        changed.append((key, column))
        finally:
            self._hold_refresh = False
        if len(changed) > MAX_CELL_REPAINTS:
            self.refresh()
            return
        for key, column in changed:
            self.refresh_coordinate(Coordinate(self.get_row_index(key), self.get_column_index(column)))
