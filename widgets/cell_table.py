"""A DataTable that repaints only the cells whose content changed.

`DataTable.update_cell` repaints the whole table, so a pane whose one latency figure moved rewrote every
row on the terminal each time (measured: most of the console's output). `CellTable.show_rows` compares
each cell with what is shown, updates only the changed ones and repaints only their regions; a table
whose rows changed (added, removed, reordered) is rebuilt with the cursor kept on the same row key.

DataTable renders each cell through Rich's Padding, Styled and render_lines (~0.15 ms a cell: most of a
60 ms frame for a new page of 35 dead letters of 7 columns, and the largest part of the console's steady CPU,
since DataTable re-renders every visible line of a table after any cell changes). `fast_cells` (on unless
turned off) renders one-line Text cells that fit their column straight to segments, with exactly the same
output (tests/test_cell_table.py compares the two paths); every other cell still takes DataTable's own path.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Self

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

from widgets.render import NOT_ONE_LINE

# Above this many changed cells one whole-table repaint is cheaper than locating each cell.
MAX_CELL_REPAINTS = 48
# Rendered fast cells, keyed on content and styles (so never stale). A few screens' worth: every entry is
# objects the garbage collector walks in each full pass.
FAST_CACHE_SIZE = 2_000


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
    fast_cells = True
    """Render one-line Text cells directly instead of through Rich (same output, several times cheaper)."""
    _fast_cache: dict[tuple[object, ...], list[list[Segment]]] | None = None
    _fast_row: tuple[int, int, list[object], int, int, tuple[bool, bool, bool, bool]] | None = None
    _pass_style: Style | None = None

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
        if changed and self.fast_cells:
            # Every DataTable cache is keyed on its update count, which each update_cell bumped: drop the dead
            # entries now rather than keep up to thousands of them alive (they made full GC passes slow).
            self._clear_table_caches()
        if len(changed) > MAX_CELL_REPAINTS:
            self.refresh()
            return
        self._refresh_cells(changed)

    def _refresh_cells(self, cells: Sequence[tuple[str, str]]) -> None:
        """`refresh_coordinate` for each (row key, column key) in one pass: DataTable finds a cell's region by
        summing the widths of the columns to its left and the heights of the rows above it, again for every cell
        (~0.04 ms a cell, the larger half of an update of a few figures). Here the sums are taken once."""
        header = self.header_height if self.show_header else 0
        lefts = list(accumulate((c.get_render_width(self) for c in self.ordered_columns), initial=0))
        tops = list(accumulate((r.height for r in self.ordered_rows), initial=header))
        label, window, offset = self._row_label_column_width, self.window_region, self.scroll_offset
        regions = []
        for key, column in cells:
            row, col = self.get_row_index(key), self.get_column_index(column)
            region = Region(label + lefts[col], tops[row], lefts[col + 1] - lefts[col], tops[row + 1] - tops[row])
            if window.overlaps(region):  # DataTable._refresh_region: only what the window shows
                regions.append(region.translate(-offset))
        if regions:
            self.refresh(*regions)

    def _clear_table_caches(self) -> None:
        """DataTable's `_clear_caches` but for the rendered lines (the styles cache): those stay valid for every
        line but the changed cells', which `refresh_coordinate` marks dirty. Clearing them too made the next
        frame render every line of the table again, empty ones included: Textual renders each widget a partial
        update touches whole, trusting the line cache (measured: 17 lines of the Health table rendered on
        every repaint for one changed latency, the largest share of the console's steady CPU)."""
        for cache in (
            self._row_render_cache,
            self._cell_render_cache,
            self._row_renderable_cache,
            self._line_cache,
            self._offset_cache,
            self._ordered_row_cache,
        ):
            cache.clear()
        self._get_styles_to_render_cell.cache_clear()

    @property
    def rich_style(self) -> Style:
        # DataTable asks on every line; each answer walks every ancestor's styles. One pass, one answer.
        return self._pass_style if self._pass_style is not None else super().rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self.fast_cells:
            return super().render_lines(crop)
        self._pass_style = super().rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None

    def render_line(self, y: int) -> Strip:
        self._fast_row = None  # what `_fast_cell` looked up holds for one line only
        return super().render_line(y)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        lines = self._fast_cell(row_index, column_index, base_style, width, cursor, hover) if self.fast_cells else None
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return lines

    def _fast_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool, hover: bool
    ) -> list[list[Segment]] | None:
        """DataTable's cell rendering for the common case, or None to let DataTable render it.

        The common case: a data or header cell of height 1 holding a Text of one line that fits, justified
        by default, left or right. Mirrors `DataTable._render_cell` (textual is pinned): styles from
        `_get_styles_to_render_cell`, `cell_padding` spaces each side, the Text padded as Rich's
        `Text.wrap` would pad it."""
        if column_index < 0:
            return None
        # DataTable renders a line cell by cell: what holds for the whole line is looked up once.
        row = self._fast_row
        if row is None or row[0] != self._update_count or row[1] != row_index:
            height = self.header_height if row_index < 0 else self.ordered_rows[row_index].height
            cells: list[object] = list(self._get_row_renderables(row_index).cells) if height == 1 else []
            flags = (
                self.show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )
            fixed_columns = 0 if row_index < 0 else len(cells) if row_index < self.fixed_rows else self.fixed_columns
            row = self._fast_row = (self._update_count, row_index, cells, self.cell_padding, fixed_columns, flags)
        _count, _index, cells, padding, fixed_columns, (show_cursor, show_hover, css_fg, css_bg) = row
        if column_index >= len(cells):
            return None
        cell = cells[column_index]
        if not isinstance(cell, Text):
            return None
        fixed = column_index < fixed_columns  # a fixed row's cells all count as fixed
        component_style, post_style = self._get_styles_to_render_cell(
            row_index < 0, False, fixed, hover, cursor, show_cursor, show_hover, css_fg, css_bg
        )
        plain = cell.plain
        key: tuple[object, ...] = (plain, cell.style, tuple(cell.spans), cell.justify, cell.overflow, width, row_index)
        key += (column_index,)
        key += (padding, base_style, component_style, post_style)
        if self._fast_cache is None or len(self._fast_cache) >= FAST_CACHE_SIZE:
            self._fast_cache = {}
        lines = self._fast_cache.get(key)
        if lines is not None:
            return lines
        justify = cell.justify or "default"
        inner = width - 2 * padding
        length = cell_len(plain)
        if (
            justify not in ("default", "left", "right")
            or cell.overflow == "ignore"
            or length > inner
            or NOT_ONE_LINE.search(plain)
            or (justify == "right" and plain != plain.rstrip())
        ):
            return None
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        lines = self._fast_cache[key] = [self._fast_line(cell, justify, inner - length, pre_style, post_style)]
        return lines

    def _fast_line(self, cell: Text, justify: str, spare: int, pre_style: Style, post_style: Style) -> list[Segment]:
        plain, spans, shift = cell.plain, cell.spans, 0
        # Rich's Text.wrap pads left and right justified text inside the Text (in its own style)...
        if spare and justify == "left":
            plain, spare = plain + " " * spare, 0
        elif spare and justify == "right":
            plain, shift, spare = " " * spare + plain, spare, 0
        # ...and Text.join turns the Text's own style into a span under the others (Text.render ignores it).
        under = [Span(0, len(plain), cell.style)] if cell.style else []
        text = Text(plain, spans=[*under, *(span.move(shift) for span in spans)])
        padding = self.cell_padding
        side = [Segment(" " * padding)] if padding else []
        segments = [*side, *text.render(self.app.console), *([Segment(" " * spare)] if spare else []), *side]
        return list(Segment.apply_style(segments, pre_style, post_style))
