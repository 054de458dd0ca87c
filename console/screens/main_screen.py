"""The console's main screen: Textual's default screen, minus output the terminal does not need and renders
the frame does not show.

The changes override private Textual code (textual is pinned exactly; tests/test_main_screen.py holds them to
the stock behaviour's results).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.strip import Strip


class LeanChopsUpdate(ChopsUpdate):
    """A partial update that writes where the change is.

    Textual writes each changed span of a line from the left edge of the widget it falls in (it crops the
    end, not the start), so a table whose latency cell changed rewrote its whole row up to that cell, styles
    and all: most of the console's steady output. Here a span is written from the start of the first segment
    it touches to the end of the last one: whole segments, so a wide character is never cut in half at either
    edge (Textual's own end crop can leave half of one as a space). Textual's `__rich_console__` path for the
    same update already trims the start this way; `render_segments`, the one the app uses, does not."""

    def render_segments(self, console: Console) -> str:
        sequences: list[str] = []
        append = sequences.append
        last_y = self.spans[-1][0]
        for y, x1, x2 in self.spans:
            line = self.chops[y]
            for end, (x, strip) in zip(self.chop_ends[y], line.items(), strict=False):
                if strip is None or x >= x2 or end <= x1:
                    continue
                if x < x1 or end > x2:
                    x, strip = _whole_segments(x, strip, x1, x2)
                append(f"\x1b[{y + 1};{x + 1}H")  # what rich's Control.move_to(x, y) writes
                append(strip.render(console))
            if y != last_y:
                append("\n")
        return "".join(sequences)


def _whole_segments(x: int, strip: Strip, first: int, stop: int) -> tuple[int, Strip]:
    """The part of `strip` (which starts at screen column `x`) made of the segments that hold any of the
    columns first..stop-1, and the column it starts at."""
    position = x
    start = end = None
    for segment in strip:
        width = cell_len(segment.text)
        if position + width > first and position < stop:
            if start is None:
                start = position
            end = position + width
        elif position >= stop:
            break
        position += width
    if start is None or end is None:
        return x, strip.crop(first - x, stop - x)  # only zero-width segments there: nothing to snap to
    return start, strip.crop(start - x, end - x)


class LeanCompositor(Compositor):
    """Partial updates render each widget only where a changed region covers it.

    Textual renders every widget that overlaps the bounding box of all a frame's changed regions, each whole:
    a clock on the top line and a latency cell at the bottom touch every pane, so one frame asked ~18 widgets
    for all their lines (cached, but each still restyled, filtered and cut) to show two changed lines. Here a
    widget is rendered only if a changed region overlaps it, and only the rows those regions cover, in
    Textual's order (front to back: the front one wins each cell); a region that lies wholly inside a widget is
    drawn by it, so the widgets behind it (its pane, the screen) are not asked for those rows at all. The
    bounding box Textual passes as `crop` holds every changed region: the regions themselves are finer."""

    _update_regions: tuple[Region, ...] = ()

    def render_partial_update(self) -> ChopsUpdate | None:
        self._update_regions = tuple(self._dirty_regions)  # Textual clears them before it renders
        try:
            update = super().render_partial_update()
        finally:
            self._update_regions = ()
        return None if update is None else LeanChopsUpdate(update.chops, update.spans, update.chop_ends)

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        regions = self._update_regions
        if not regions:  # a full frame, or a screenshot: every widget, whole
            yield from super()._get_renders(crop)
            return
        open_regions = list(regions)  # not yet inside a widget drawn in front
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            shown = region.intersection(clip)
            under = [dirty for dirty in open_regions if shown.overlaps(dirty)]
            for top, bottom in _row_bands(shown, under):
                band = Region(shown.x, top, shown.width, bottom - top)
                yield region, band, widget.render_lines(band.translate((-region.x, -region.y)))
            if under:
                # A region inside this widget is drawn by it: the widgets behind would only be cut away.
                open_regions = [dirty for dirty in open_regions if not shown.contains_region(dirty)]
            if not open_regions:
                return


def _row_bands(shown: Region, regions: list[Region]) -> list[tuple[int, int]]:
    """The rows of `shown` that `regions` (all overlapping it) cover, as merged [top, bottom) bands."""
    rows = sorted((max(dirty.y, shown.y), min(dirty.bottom, shown.bottom)) for dirty in regions)
    bands: list[tuple[int, int]] = []
    for top, bottom in rows:
        if bands and top <= bands[-1][1]:
            bands[-1] = (bands[-1][0], max(bands[-1][1], bottom))
        else:
            bands.append((top, bottom))
    return bands


class MainScreen(Screen[None]):
    """The panes' screen: partial updates written from where they change (`LeanChopsUpdate`), and no layout
    for a resize that changes nothing.

    Textual lays the whole screen out again, and writes a full frame, for every Resize it is sent. Start-up
    sends two with the size the screen was already laid out at (the app's own, then the driver's), so two full
    frames (~14 KB each at 120x40) followed the first one and held it up: the output thread wrote them while
    the boot thread competed for the interpreter lock. A resize that changes nothing is skipped: a layout some
    widget asked for meanwhile is still done, by the screen's update timer (once the screen is current again,
    if a dialog covers it)."""

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(name=name, id=id, classes=classes)
        self._compositor = LeanCompositor()

    def _screen_resized(self, size: Size) -> None:
        if self.is_attached and size == self._compositor.size:
            return
        super()._screen_resized(size)
