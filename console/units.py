"""Human-readable sizes, shared by the widgets and the CLI."""

from __future__ import annotations


def human_bytes(value: int | None, missing: str = "—") -> str:
    """1536 → "1.5K"; 3.9 GiB → "3.9G"; None → `missing`."""
    if value is None:
        return missing
    size = float(value)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit in ("B", "K") else f"{size:.1f}{unit}"
        size /= 1024
    return missing
