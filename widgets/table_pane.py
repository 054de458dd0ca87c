"""A pane around one DataTable whose columns follow the pane's width: a wide set with padding, or a narrow
set without, where one column (width None) takes whatever the fixed ones leave."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from widgets.pane import Pane

Columns = tuple[tuple[str, str, int | None], ...]


class TablePane(Pane):
    WIDE: Columns = ()
    NARROW: Columns = ()
    WIDE_FROM = 80
    NUMERIC: frozenset[str] = frozenset()
    FLEX_DEFAULT = 30  # the flexible column's width before the pane has a size
    PAD_WIDE = True  # cell padding in the wide set (False: the widths include their own gaps)

    @property
    def columns(self) -> Columns:
        return self.WIDE if (self.content_size.width or 80) >= self.WIDE_FROM else self.NARROW

    def flex_width(self) -> int:
        columns = self.columns
        padding = 2 * len(columns) if columns is self.WIDE and self.PAD_WIDE else 0
        fixed = sum(w or 0 for _k, _h, w in columns) + padding + 3
        width = self.content_size.width
        return self.FLEX_DEFAULT if width == 0 else max(8, width - fixed)

    def build_columns(self) -> None:
        table = self.child(DataTable)
        table.clear(columns=True)
        table.cell_padding = 1 if self.columns is self.WIDE and self.PAD_WIDE else 0
        for key, header, width in self.columns:
            label = Text(header, justify="right" if key in self.NUMERIC else "left")
            table.add_column(label, key=key, width=width if width is not None else self.flex_width())

    def on_mount(self) -> None:
        self.build_columns()

    def on_resize(self) -> None:
        self.build_columns()
        self._refresh_table(force=True)

    def _fitted(self, force: bool) -> bool:
        """Whether the rows must be rebuilt: `force`, or the table's columns were the other set. The pane's width
        changes (a key shows it alone) before its Resize event arrives; a reading in between asked for cells of
        columns the table did not have yet, and the table raised."""
        wanted = [key for key, _h, _w in self.columns]
        if [str(column.key.value) for column in self.child(DataTable).ordered_columns] != wanted:
            self.build_columns()
            return True
        return force

    def _refresh_table(self, force: bool = False) -> None:
        raise NotImplementedError
