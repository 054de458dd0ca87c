"""The console's main screen: Textual's default screen, minus output the terminal does not need.

Both changes override private Textual code (textual is pinned exactly; tests/test_main_screen.py holds them to
the stock behaviour's results).
"""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip


class LeanChopsUpdate(ChopsUpdate):
    """A partial update that starts writing where the change starts.

    Textual writes each changed span of a line from the left edge of the widget it falls in (it crops the
    end, not the start), so a table whose latency cell changed rewrote its whole row up to that cell, styles
    and all: most of the console's steady output. Here a span starts at the first segment it touches
    (segments never split a wide character, so the terminal is left exactly as the stock update leaves it)."""

    def render_segments(self, console: Console) -> str:
        sequences: list[str] = []
        append = sequences.append
        last_y = self.spans[-1][0]
        for y, x1, x2 in self.spans:
            line = self.chops[y]
            for end, (x, strip) in zip(self.chop_ends[y], line.items(), strict=False):
                if strip is None or x > x2 or end <= x1:
                    continue
                if x < x1:
                    x, strip = _from_segment_at(x, strip, x1)
                if end > x2:
                    strip = strip.crop(0, x2 - x)
                append(f"\x1b[{y + 1};{x + 1}H")
                append(strip.render(console))
            if y != last_y:
                append("\n")
        return "".join(sequences)


def _from_segment_at(x: int, strip: Strip, column: int) -> tuple[int, Strip]:
    """The strip (starting at screen column `x`) from the start of the segment that holds `column` on."""
    skipped = 0
    segment: Segment
    for segment in strip:
        width = segment.cell_length
        if x + skipped + width > column:
            break
        skipped += width
    if not skipped:
        return x, strip
    return x + skipped, strip.crop(skipped)


class LeanCompositor(Compositor):
    def render_partial_update(self) -> ChopsUpdate | None:
        update = super().render_partial_update()
        return None if update is None else LeanChopsUpdate(update.chops, update.spans, update.chop_ends)


class MainScreen(Screen[None]):
    """The panes' screen: partial updates written from where they change (`LeanChopsUpdate`), and no layout
    for a resize that changes nothing.

    Textual lays the whole screen out again, and writes a full frame, for every Resize it is sent. Start-up
    sends two with the size the screen was already laid out at (the app's own, then the driver's), so two full
    frames (~14 KB each at 120x40) followed the first one and held it up: the output thread wrote them while
    the boot thread competed for the interpreter lock. A resize that changes nothing is skipped: a layout some
    widget asked for meanwhile is still done, by the screen's update timer."""

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(name=name, id=id, classes=classes)
        self._compositor = LeanCompositor()

    def _screen_resized(self, size: Size) -> None:
        if self.is_attached and size == self._compositor.size:
            return
        super()._screen_resized(size)
