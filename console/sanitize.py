"""Neutralising untrusted text before it reaches a terminal.

Payloads, health messages, check names and error strings come from systems we do not control; an ESC
or OSC sequence in them could move the cursor, set the window title or write the clipboard. Markup
escaping is the renderer's job (widgets use rich `Text`, never markup strings).
"""

from __future__ import annotations

import re

# C0 controls except tab/newline, DEL, C1 controls, and bidi overrides/isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def clean(text: object, max_len: int = 500, single_line: bool = True) -> str:
    """Printable version of `text`: control characters shown as visible escapes, length capped."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > max_len * 4:
        s = s[: max_len * 4]
    s = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "?", s)
    if single_line:
        s = s.replace("\n", " ").replace("\t", " ")
    if len(s) > max_len:
        s = s[: max_len - 1] + "…"
    return s
