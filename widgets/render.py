"""Rendering helpers shared by the widgets: status glyphs, history strips, terminal-safe text.

Every string that came from a backend goes through `safe` into a rich `Text` (never markup), so
escape sequences are neutralised and `[bold]`-looking data stays literal.
"""

from __future__ import annotations

from rich.text import Text

from console.model import Status
from console.sanitize import clean

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


def strip(history: tuple[Status, ...], width: int) -> Text:
    """The last `width` results as a bar strip, oldest left; blanks pad a short history."""
    recent = history[-width:]
    text = Text(" " * (width - len(recent)))
    for status in recent:
        text.append(STRIP[status], style=STYLE[status])
    return text


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
