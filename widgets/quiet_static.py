"""A Static that repaints only the cells whose content changed.

`Static.update` repaints the whole widget: the Cache pane's instance and namespace tables were rewritten
on the terminal for every reading although one or two figures moved. `QuietStatic.show` renders the new
content once, as Textual would, compares it line by line with what is shown, repaints only the changed span of
each changed line and draws those from that one render (Textual would render the whole content again for the
first dirty line); a change of size (lines added or removed, a new width) is a normal update. With a fixed height (not
`auto`) the content is compared padded or cropped to that height, so a line coming or going repaints that line
instead of asking for a new layout of the whole screen (the Cache pane's findings came and went every second).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import RichVisual, Visual
from textual.widget import _RenderCache
from textual.widgets import Static

Cells = list[tuple[str, Style | None]]


_PAST_END = ("", None)  # a cell past a line's end: the widget's own padding, unlike any cell of the content
LINES_KEPT = 256  # rendered one-line Texts remembered (a few screens' worth of a pane's lines)


def _cells(line: Iterable[Segment] | None, width: int) -> Cells:
    """One (character, style) per terminal cell, `width` of them unless the line is wider; a wide character's
    second cell is ("", style)."""
    cells: Cells = []
    for text, style, control in line or ():
        if control:
            continue
        for char in text:
            cells.append((char, style))
            if cell_len(char) == 2:
                cells.append(("", style))
    cells.extend([_PAST_END] * (width - len(cells)))
    return cells


class QuietStatic(Static):
    _hold_refresh = False
    # `show` rendered the content now shown (Textual's own render, kept in its render cache): the line regions
    # it marked for repaint need no second render of the whole content when they are drawn.
    _prerendered = False
    _line_memo: dict[tuple[object, ...], Strip] | None = None

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        if not regions:
            self._prerendered = False  # anything repainting the whole widget renders it again
        # While `show` swaps the content, Static's whole-widget repaint is dropped: changed spans repaint.
        if self._hold_refresh and not regions and not recompose:
            self._layout_cache.clear()  # what the dropped refresh would have cleared: it holds the old visual
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def render_line(self, y: int) -> Strip:
        if self._prerendered:
            self._dirty_regions.clear()  # else Widget.render_line renders all of the content again
        return super().render_line(y)

    def show(self, content: RenderableType) -> None:
        """Show `content`, repainting only what differs from what is shown.

        The content is rendered once, the way Textual renders it (a Rich table is a few milliseconds: the
        Cache pane's every second), and its lines compared with the lines on screen."""
        width, height = self.size
        shown = self._render_cache
        current = self.is_mounted and width and height and shown.size == self.size
        if not current or (self._dirty_regions and not self._prerendered):
            self.update(content)  # nothing comparable on screen yet, or a whole render is due anyway
            return
        auto = bool(self.styles.height and self.styles.height.is_auto)
        self._hold_refresh = True
        try:
            self.update(content, layout=False)
        finally:
            self._hold_refresh = False
        # Widget._render_content, but with every line when the height follows the content, to see it change.
        lines = None if auto else self._line_strips(content, width, height)
        if lines is None:
            lines = Visual.to_strips(self, self._render(), width, None if auto else height, self.visual_style)
        if auto and len(lines) != height:
            self.refresh(layout=True)  # the content needs another height
            return
        self._render_cache = _RenderCache(self.size, lines)
        self._dirty_regions.clear()
        self._prerendered = True
        for y in range(height):
            old = shown.lines[y] if y < len(shown.lines) else None
            new = lines[y] if y < len(lines) else None
            if old == new:
                continue
            old_cells, new_cells = _cells(old, width), _cells(new, width)
            if len(old_cells) != width or len(new_cells) != width:
                self.refresh(Region(0, y, width, 1))  # wider than the widget: not a line to compare by cells
                continue
            changed = [x for x, (a, b) in enumerate(zip(old_cells, new_cells, strict=True)) if a != b]
            if changed:
                self.refresh(Region(changed[0], y, changed[-1] + 1 - changed[0], 1))

    def _line_strips(self, content: RenderableType, width: int, height: int) -> list[Strip] | None:
        """The strips of a Group of one-line Texts, each line rendered once and remembered: the Cache pane's
        body is such a Group, and rendering all of it through Rich every second (~1.5 ms) was for the one or
        two lines whose figures moved. Exactly Textual's render of the whole Group (tests/test_quiet_static.py
        compares them); anything else (a table, a line that wraps, more lines than fit) returns None."""
        parts = content.renderables if isinstance(content, Group) else None
        if not parts or len(parts) > height or self.text_selection is not None:
            return None  # a selection is drawn across the whole content's lines: Textual's own render
        if self._line_memo is None or len(self._line_memo) > LINES_KEPT:
            self._line_memo = {}
        style = self.visual_style
        lines = []
        for part in parts:
            if not isinstance(part, Text) or "\n" in part.plain or cell_len(part.plain) > width:
                return None
            key = (part.plain, part.style, tuple(part.spans), part.justify, part.overflow, part.end, width, style)
            line = self._line_memo.get(key)
            if line is None:
                strips = Visual.to_strips(self, RichVisual(self, part), width, 1, style)
                if len(strips) != 1:
                    return None
                line = self._line_memo[key] = strips[0]
            lines.append(line)
        return lines
