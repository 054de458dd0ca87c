"""1. Start-up under a real pty: first frame, and every pane showing live data from the demo stack.

Peers, same run, same size: a minimal Textual app (the floor for any Textual program) and glances.
First frame = the first read after which the virtual screen shows the program's own text (opsconsole:
the Health pane's title; minimal app: its label; glances: its CPU block). All panes live = at 120x40 every
configured pane's border says `live · as of …`; at 80x24 (one pane at a time) the summary line has a
verdict for every configured pane (no `?`) and the shown pane's border says live. glances' equivalent is
its full screen: CPU, memory, load and the process list.
"""

from __future__ import annotations

import re
import shutil
import sys

from tests.bench.core import Figure, Report, Row, Skip
from tests.bench.ptyrun import Term
from tests.bench.stack import OPSCONSOLE, ROOT, config_at, configured_panes

LIVE = "live · as of"
TIMEOUT = 10.0


def ops_first(term: Term) -> bool:
    return "Health" in term.text()


def ops_live(term: Term) -> bool:
    text = term.text()
    if term.cols >= 100 and term.rows >= 30:
        return text.count(LIVE) >= configured_panes()
    summary = next((line for line in term.screen.display if "1:Health" in line), "")
    return bool(summary) and "?" not in summary and LIVE in text


def minimal_first(term: Term) -> bool:
    return "minimal textual app" in term.text()


def glances_first(term: Term) -> bool:
    return "CPU" in term.text()


def glances_full(term: Term) -> bool:
    text = term.text()
    return all(word in text for word in ("CPU", "MEM", "LOAD", "TASKS", "PID")) and bool(re.search(r"\d\.\d", text))


def _one(argv: list[str], cols: int, rows: int, first, full) -> tuple[float | None, float | None, str]:  # type: ignore[no-untyped-def]
    with Term(argv, cols, rows) as term:
        shown = term.wait_for(first, TIMEOUT)
        complete = None
        if full is not None and shown is not None:
            complete = shown if full(term) else term.wait_for(full, TIMEOUT)
        screen = term.text()
    return shown, complete, screen


def run(report: Report, quick: bool) -> None:
    runs = 2 if quick else 5
    programs: dict[str, tuple[list[str], object, object]] = {
        "opsconsole": ([OPSCONSOLE, "--config", str(config_at())], ops_first, ops_live),
        "minimal Textual app": ([sys.executable, str(ROOT / "tests/bench/minimal_app.py")], minimal_first, None),
    }
    if shutil.which("glances"):
        programs["glances"] = (["glances", "-t", "1"], glances_first, glances_full)
    else:
        report.skip("start-up vs glances", "glances not installed (make bench installs it: apt-get install glances)")
    for cols, rows in ((80, 24), (120, 40)):
        first: dict[str, list[float]] = {name: [] for name in programs}
        live: dict[str, list[float]] = {name: [] for name in programs}
        misses = 0
        last_screen = ""
        names = list(programs)
        for index in range(runs):
            for name in names[index % len(names) :] + names[: index % len(names)]:  # rotate the order
                argv, is_first, is_full = programs[name]
                shown, complete, screen = _one(argv, cols, rows, is_first, is_full)
                if shown is not None:
                    first[name].append(shown * 1000)
                if complete is not None:
                    live[name].append(complete * 1000)
                elif name == "opsconsole":
                    misses += 1
                    last_screen = screen
        size = f"start-up {cols}x{rows}"
        if not first["opsconsole"]:
            raise Skip(f"opsconsole never showed a frame at {cols}x{rows}")
        ours = Figure("ms", first["opsconsole"])
        floor = Figure("ms", first["minimal Textual app"])
        row = Row(size, "first frame", ours, "minimal Textual app", floor, target="≤ 1.2× minimal app")
        row.met = row.ratio is not None and row.ratio <= 1.2
        report.add(row)
        if "glances" in programs:
            report.add(Row(size, "first frame", ours, "glances -t 1", Figure("ms", first["glances"])))
        note = f"{misses} of {runs} runs not all live within {TIMEOUT:g} s" if misses else ""
        if misses:
            print("    last screen without every pane live:\n" + last_screen, flush=True)
        ours_live = Figure("ms", live["opsconsole"])
        theirs = Figure("ms", live["glances"]) if "glances" in programs else None
        row = Row(size, "all panes live (demo stack)", ours_live, "glances full screen" if theirs else "", theirs)
        row.target, row.note = "≤ 1,000 ms", note
        row.met = bool(live["opsconsole"]) and not misses and ours_live.median <= 1000
        report.add(row)
