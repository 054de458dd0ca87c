"""3. UI: key press to updated frame, under a real pty at 120x40, on fixed data.

A 1,000-row queue table (`↓` moves the cursor) and a 10,000-letter DLQ browser (`↓`/`↑`, and `n` for the next
page of 50). Latency = from writing the key to the pty until the last byte of the frame it caused (the
output then stays quiet for 40 ms). Reported as p50 and p95 over every press.
"""

from __future__ import annotations

import select
import sys
import time

from tests.bench.core import Figure, Report, Row, Skip, percentile
from tests.bench.ptyrun import Term

DOWN, UP, ENTER = b"\x1b[B", b"\x1b[A", b"\r"
QUIET = 0.04


def _settle(term: Term, quiet: float = 0.3, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([term.master], [], [], quiet)
        if not ready:
            return
        term.read_available()


def _press(term: Term, key: bytes, limit: float = 2.0) -> float | None:
    """Milliseconds from the key to the end of the frame it caused; None if nothing was drawn."""
    sent = time.monotonic()
    term.write(key)
    last = None
    deadline = sent + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([term.master], [], [], QUIET if last is not None else 0.2)
        if not ready:
            if last is not None:
                break
            continue
        if term.read_available():
            last = term.chunks[-1][0]
    return None if last is None else (last - sent) * 1000


def _presses(term: Term, keys: list[bytes]) -> tuple[list[float], int]:
    latencies, missing = [], 0
    for key in keys:
        value = _press(term, key)
        if value is None:
            missing += 1
        else:
            latencies.append(value)
    return latencies, missing


def run(report: Report, quick: bool) -> None:
    count = 30 if quick else 100
    argv = [sys.executable, "-m", "tests.bench.ui_app"]
    with Term([*argv, "queues"], 120, 40, parse=True) as term:
        if term.wait_for(lambda t: "tenant-" in t.text(), 15) is None:
            raise Skip("the 1,000-queue scene did not render")
        _settle(term)
        term.parse = False
        _presses(term, [b"4"])
        _settle(term)
        latencies, missing = _presses(term, [DOWN] * count)
    _row(report, "UI 1,000-row queue table", "↓ moves the cursor", latencies, missing)
    with Term([*argv, "dlq"], 120, 40, parse=True) as term:
        if term.wait_for(lambda t: "DLQ" in t.text(), 15) is None:
            raise Skip("the DLQ scene did not render")
        _settle(term)
        for key in (b"5", ENTER):
            _press(term, key)
            _settle(term)
        if "10,000 letters" not in term.text():
            raise Skip("the DLQ browser did not open: " + term.text()[:200])
        term.parse = False
        # A page holds 50 letters: go down 40 and back up, so every press moves the cursor.
        walk = ([DOWN] * 40 + [UP] * 40) * (count // 80 + 1)
        downs, missing_downs = _presses(term, walk[:count])
        pages, missing_pages = _presses(term, [b"n"] * (count // 5))
    _row(report, "UI DLQ browse, 10,000 letters", "↓/↑ move the cursor", downs, missing_downs)
    _row(report, "UI DLQ browse, 10,000 letters", "n: next page of 50", pages, missing_pages)


def _row(report: Report, bench: str, what: str, latencies: list[float], missing: int) -> None:
    note = f"{missing} presses drew nothing" if missing else ""
    p95 = percentile(latencies, 95)
    report.add(Row(bench, f"{what}: p50", Figure("ms", [percentile(latencies, 50)]), note=f"{len(latencies)} presses"))
    row = Row(bench, f"{what}: p95", Figure("ms", [p95]), target="≤ 50 ms", note=note)
    row.met = bool(latencies) and p95 <= 50 and not missing
    report.add(row)
