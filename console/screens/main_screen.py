"""The console's main screen: Textual's default screen, without the layouts a resize to the same size asks for."""

from __future__ import annotations

from textual.geometry import Size
from textual.screen import Screen


class MainScreen(Screen[None]):
    """Textual lays the whole screen out again, and writes a full frame, for every Resize it is sent. Start-up
    sends two with the size the screen was already laid out at (the app's own, then the driver's), so two full
    frames (~14 KB each at 120x40) followed the first one and held it up: the output thread wrote them while
    the boot thread competed for the interpreter lock. A resize that changes nothing is skipped: a layout some
    widget asked for meanwhile is still done, by the screen's update timer."""

    def _screen_resized(self, size: Size) -> None:
        if self.is_attached and size == self._compositor.size:
            return
        super()._screen_resized(size)
