"""A Static that repaints only the cells whose content changed.

`Static.update` repaints the whole widget: the Cache pane's instance and namespace tables were rewritten
on the terminal for every reading although one or two figures moved. `QuietStatic.show` renders the new
content, compares it line by line with what is shown, and repaints only the changed span of each changed
line; a change of size (lines added or removed, a new width) is a normal update. With a fixed height (not
`auto`) the content is compared padded or cropped to that height, so a line coming or going repaints that line
instead of asking for a new layout of the whole screen (the Cache pane's findings came and went every second).
"""

from __future__ import annotations

from typing import Self

from rich.cells import cell_len
from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.widgets import Static

Cells = list[tuple[str, Style | None]]


def _cells(line: list[Segment]) -> Cells:
    """One (character, style) per terminal cell; a wide character's second cell is ("", style)."""
    cells: Cells = []
    for text, style, control in line:
        if control:
            continue
        for char in text:
            cells.append((char, style))
            if cell_len(char) == 2:
                cells.append(("", style))
    return cells


class QuietStatic(Static):
    _hold_refresh = False
    _shown: tuple[int, list[Cells]] | None = None  # (width, cells per line) as last shown

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        # While `show` swaps the content, Static's whole-widget repaint is dropped: changed spans repaint.
        if self._hold_refresh and not regions and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _render_cells(self, content: RenderableType, width: int) -> list[Cells]:
        console = self.app.console
        options = console.options.update(width=width, min_width=width, max_width=width, height=None)
        return [_cells(line) for line in console.render_lines(content, options, pad=True)]

    def show(self, content: RenderableType) -> None:
        """Show `content`, repainting only what differs from what is shown."""
        width, height = self.size
        if not self.is_mounted or not width or not height:
            self._shown = None
            self.update(content)
            return
        lines = self._render_cells(content, width)
        if not self.styles.height or not self.styles.height.is_auto:
            blank: Cells = [(" ", None)] * width
            lines = lines[:height] + [blank] * (height - len(lines))
        shown, self._shown = self._shown, (width, lines)
        if shown is None or shown[0] != width or len(shown[1]) != len(lines) or len(lines) != height:
            self.update(content)
            return
        self._hold_refresh = True
        try:
            self.update(content, layout=False)
        finally:
            self._hold_refresh = False
        for y, (old, new) in enumerate(zip(shown[1], lines, strict=True)):
            if old == new:
                continue
            if len(old) != len(new):
                self.refresh(Region(0, y, width, 1))
                continue
            changed = [x for x, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
            self.refresh(Region(changed[0], y, changed[-1] + 1 - changed[0], 1))
