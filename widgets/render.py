"""Rendering helpers shared by the widgets: status glyphs, history strips, terminal-safe text.

Every string that came from a backend goes through `safe` into a rich `Text` (never markup), so
escape sequences are neutralised and `[bold]`-looking data stays literal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.text import Span, Text

from console.model import Status
from console.sanitize import clean

# Text Rich cannot draw on one line as is: it splits lines, expands tabs and strips other controls. A cell holding
# one is left to Rich's own layout (CellTable's fast cells, text_grid's lines).
NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]")
# Glyphs differ per status so the screen still reads under NO_COLOR and in monochrome.
GLYPH = {Status.OK: "●", Status.WARN: "▲", Status.CRIT: "✖", Status.UNKNOWN: "?"}
LABEL = {Status.OK: "OK", Status.WARN: "WARN", Status.CRIT: "CRIT", Status.UNKNOWN: "UNKN"}
# ANSI 16-colour names: they map onto every terminal's palette, including 16-colour ones.
STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.CRIT: "bold red", Status.UNKNOWN: "magenta"}
STRIP = {Status.OK: "▁", Status.WARN: "▄", Status.CRIT: "█", Status.UNKNOWN: "·"}


def safe(value: object, max_len: int = 200) -> Text:
    """Untrusted text as a plain rich Text: controls made visible, no markup interpreted."""
    return Text(clean(value, max_len))


def badge(status: Status, with_label: bool = True) -> Text:
    text = f"{GLYPH[status]} {LABEL[status]}" if with_label else GLYPH[status]
    return Text(text, style=STYLE[status])


def styled_runs(cells: Iterable[tuple[str, str]], pad: int = 0) -> Text:
    """Characters with their styles as one Text, a span per run of one style (not per character: each span is
    a segment, written with its own colour codes, and a strip of ten is drawn every second); `pad` blanks
    first."""
    plain: list[str] = [" " * pad]
    spans: list[Span] = []
    start = position = pad
    current = ""
    for char, style in cells:
        if style != current:
            if current and position > start:
                spans.append(Span(start, position, current))
            start, current = position, style
        plain.append(char)
        position += len(char)
    if current and position > start:
        spans.append(Span(start, position, current))
    return Text("".join(plain), spans=spans)


def strip(history: tuple[Status, ...], width: int) -> Text:
    """The last `width` results as a bar strip, oldest left; blanks pad a short history."""
    recent = history[-width:]
    return styled_runs(((STRIP[status], STYLE[status]) for status in recent), width - len(recent))


def millis(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.0f}s"
    if value >= 1000:
        return f"{value / 1000:.1f}s"
    return f"{value:.0f}ms"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def spark(
    values: list[float | None], width: int, style: str = "", floor: float | None = None, ceiling_at_least: float = 0.0
) -> Text:
    """The last `width` values as block characters scaled between their min and max (or `floor` and at
    least `ceiling_at_least`, so e.g. a 0.05 % error rate does not fill the cell); None shows as a gap."""
    recent = values[-width:]
    present = [v for v in recent if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    if floor is not None:
        low = floor
    high = max(high, ceiling_at_least)
    # A near-flat series is drawn flat at mid height, so noise is not magnified into a jagged line.
    flat = high - low <= 0.1 * abs(high)
    top = len(SPARK_BLOCKS) - 1

    def block(value: float | None) -> tuple[str, str]:
        if value is None:
            return " ", ""
        if flat:
            return SPARK_BLOCKS[0 if high == 0 else 3], style
        return SPARK_BLOCKS[min(top, int((value - low) / (high - low) * top + 0.5))], style

    return styled_runs(map(block, recent), width - len(recent))


def rate(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0%"
    if value < 0.001:
        return "<0.1%"
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def seconds_ms(value: float | None) -> str:
    """A latency given in seconds, shown in ms / s."""
    return millis(None if value is None else value * 1000)
