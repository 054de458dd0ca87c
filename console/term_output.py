"""Fewer bytes to the terminal: Textual ends every segment with a reset and starts the next one with its full
style, even when the style is the same (a border line is `style ╰ reset style ───── reset`). Over SSH those
repeats were 70 % of what the console wrote. `merge_style_runs` drops a reset that is immediately followed by
the very style it ended, which leaves the terminal in the same state; `QuietLinuxDriver` applies it to every
frame before it is written.
"""

from __future__ import annotations

import re

from textual.drivers.linux_driver import LinuxDriver

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_RESET = ("", "0")


def merge_style_runs(frame: str, clean: bool = False) -> tuple[str, bool]:
    """`frame` with every `reset + S` removed where S is the style the reset ended and nothing came between,
    and whether the attributes are the defaults at its end. `clean`: they are at its start.

    Only a style set on clean attributes counts, so a stack of styles is never merged; text or a cursor move
    between the reset and the style keeps both.
    """
    out: list[str] = []
    position = 0
    style: str | None = None  # the one style set on clean attributes since, if exactly one
    pending: tuple[int, str] | None = None  # (index in `out`, the style it ended) of a reset just written
    for match in _SGR.finditer(frame):
        start, end = match.span()
        if start > position:
            out.append(frame[position:start])
            pending = None  # something came between: that reset stays
        position = end
        params = match.group(1)
        if params in _RESET:
            pending = (len(out), style) if style is not None else None
            out.append(match.group(0))
            clean, style = True, None
        elif pending is not None and params == pending[1]:
            out[pending[0]] = ""  # reset, then the same style again: the terminal never needed either
            pending, style = None, params
        else:
            out.append(match.group(0))
            style = params if clean and style is None else None
            clean = clean and style is not None
            pending = None
    out.append(frame[position:])
    return "".join(out), clean and style is None


class QuietLinuxDriver(LinuxDriver):
    """Textual's Linux driver, writing each frame with repeated styles merged."""

    _clean = False  # the terminal's attributes are the defaults after what was written so far

    def write(self, data: str) -> None:
        merged, self._clean = merge_style_runs(data, self._clean)
        super().write(merged)
