"""One dead letter in full: properties, headers, `x-death` history, and the body — pretty JSON with
highlighting, or a hex preview for binary. Every field is untrusted: control and escape sequences are
shown as visible escapes and Rich markup stays literal (nothing here is ever parsed as markup)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from console.model import DeadLetter
from console.sanitize import clean
from console.screens.detail import DetailScreen
from widgets.render import safe

PRETTY_CAP = 16 * 1024  # characters of pretty JSON shown; the rest is summarised
HEX_CAP = 512  # bytes of a binary body shown as hex


def printable(body: bytes) -> str | None:
    """The body as text when it is mostly text (stray invalid bytes become U+FFFD); None for binary."""
    text = body.decode("utf-8", "replace")
    sample = text[:4096]
    odd = sum(1 for c in sample if c == "\ufffd" or (ord(c) < 32 and c not in "\n\r\t"))
    return text if odd * 10 <= len(sample) else None


def hex_preview(body: bytes, cap: int = HEX_CAP) -> Text:
    lines = []
    for offset in range(0, min(len(body), cap), 16):
        chunk = body[offset : offset + 16]
        ascii_part = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {ascii_part}")
    if len(body) > cap:
        lines.append(f"… {len(body) - cap:,} more bytes")
    return Text("\n".join(lines), style="dim")


def body_renderable(letter: DeadLetter) -> RenderableType:
    text = printable(letter.body)
    if text is None:
        return hex_preview(letter.body)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        # Pretty-print with escapes kept escaped (ensure_ascii): no control character reaches the terminal.
        pretty = json.dumps(parsed, indent=2, ensure_ascii=True)
        if len(pretty) > PRETTY_CAP:
            pretty = pretty[:PRETTY_CAP] + f"\n… {len(pretty) - PRETTY_CAP:,} more characters"
        return Syntax(pretty, "json", theme="ansi_dark", word_wrap=True, background_color="default")
    return Text(clean(text, PRETTY_CAP, single_line=False))


def fields_table(pairs: Iterable[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in pairs:
        table.add_row(safe(name, 60), safe(value, 400))
    return table


def deaths_table(letter: DeadLetter) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for header in ("#", "QUEUE", "REASON", "EXCHANGE", "ROUTING KEYS", "COUNT", "TIME"):
        table.add_column(header)
    for index, death in enumerate(letter.deaths, 1):
        table.add_row(
            str(index),
            safe(death.queue, 40),
            safe(death.reason, 20),
            safe(death.exchange or "(default)", 30),
            safe(", ".join(death.routing_keys), 40),
            str(death.count),
            death.time.strftime("%Y-%m-%d %H:%M:%S") if death.time else "—",
        )
    return table


class LetterDetailScreen(DetailScreen):
    def __init__(self, letter: DeadLetter) -> None:
        super().__init__()
        self.letter = letter
        self.heading = clean(f"{letter.dlq} · {letter.message_id or letter.ref}", 80)

    def body(self) -> Iterable[RenderableType]:
        letter = self.letter
        summary = [
            ("origin", letter.origin or "unknown"),
            ("reason", letter.reason or "—"),
            ("died", letter.at.strftime("%Y-%m-%d %H:%M:%S UTC") if letter.at else "—"),
            ("replay to", letter.destination or "nowhere (no origin: move it instead)"),
            ("size", f"{letter.size:,} bytes" + (f" (first {len(letter.body):,} shown)" if letter.truncated else "")),
        ]
        if letter.redelivered:
            summary.append(("redelivered", "yes (peeked before)"))
        yield fields_table(summary)
        if letter.properties:
            yield Text("\nproperties", style="bold underline")
            yield fields_table(letter.properties)
        headers = [(k, v) for k, v in letter.headers if k != "x-death"]
        if headers:
            yield Text("\nheaders", style="bold underline")
            yield fields_table(headers)
        if letter.deaths:
            yield Text("\nx-death (newest first)", style="bold underline")
            yield deaths_table(letter)
        yield Text("\nbody", style="bold underline")
        yield body_renderable(letter)
