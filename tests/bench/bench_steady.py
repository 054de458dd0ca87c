"""2. Steady state, 120x40, 1 s refresh, on the demo stack: CPU % of one core, terminal bytes/s, peak RSS.

opsconsole, `glances -t 1`, `htop -d 10` (and, as a reference only, a naive Textual dashboard that rebuilds a
30-row table and six sparklines every second) run side by side, each under its own pty, for the same window,
so the machine's noise hits them alike. Each run: start all, let them settle (opsconsole until every pane is
live, at most 10 s), then count for the window. Peak RSS is the kernel's VmHWM at the end.
"""

from __future__ import annotations

import shutil
import sys
import time

from tests.bench.bench_startup import ops_live
from tests.bench.core import Figure, Report, Row
from tests.bench.ptyrun import Term, pump
from tests.bench.stack import OPSCONSOLE, ROOT, config_at

COLS, ROWS = 120, 40


def run(report: Report, quick: bool) -> None:
    runs, window = (1, 15.0) if quick else (3, 60.0)
    config = config_at(1.0)
    programs = {"opsconsole": [OPSCONSOLE, "--config", str(config)]}
    if shutil.which("glances"):
        programs["glances -t 1"] = ["glances", "-t", "1"]
    else:
        report.skip("steady vs glances", "glances not installed")
    if shutil.which("htop"):
        programs["htop -d 10"] = ["htop", "-d", "10"]
    else:
        report.skip("steady vs htop", "htop not installed")
    programs["naive Textual dashboard"] = [sys.executable, str(ROOT / "tests/bench/naive_app.py")]
    cpu: dict[str, list[float]] = {n: [] for n in programs}
    rate: dict[str, list[float]] = {n: [] for n in programs}
    rss: dict[str, list[float]] = {n: [] for n in programs}
    for index in range(runs):
        terms = {name: Term(argv, COLS, ROWS, parse=name == "opsconsole") for name, argv in programs.items()}
        try:
            ours = terms["opsconsole"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not ops_live(ours):
                pump(terms.values(), 0.2)
            pump(terms.values(), 2.0)  # past the first polls' burst
            for term in terms.values():
                term.parse = False
            before = {n: (t.cpu_seconds(), t.bytes_read) for n, t in terms.items()}
            started = time.monotonic()
            pump(terms.values(), window)
            elapsed = time.monotonic() - started
            for name, term in terms.items():
                cpu0, bytes0 = before[name]
                cpu[name].append((term.cpu_seconds() - cpu0) / elapsed * 100)
                rate[name].append((term.bytes_read - bytes0) / elapsed / 1024)
                rss[name].append(term.peak_rss_mb())
            print(
                f"    run {index + 1}: "
                + ", ".join(f"{n} {cpu[n][-1]:.1f}% {rate[n][-1]:.2f} KB/s {rss[n][-1]:.0f} MB" for n in programs),
                flush=True,
            )
        finally:
            for term in terms.values():
                term.close()
    bench = f"steady {COLS}x{ROWS}, {window:g} s"
    ours_cpu, ours_rate = Figure("%", cpu["opsconsole"]), Figure("KB/s", rate["opsconsole"])
    if "glances -t 1" in programs:
        row = Row(bench, "CPU % of one core", ours_cpu, "glances -t 1", Figure("%", cpu["glances -t 1"]))
        row.target, row.met = "≤ 0.7× glances", row.ratio is not None and row.ratio <= 0.7
        report.add(row)
    if "htop -d 10" in programs:
        report.add(Row(bench, "CPU % of one core", ours_cpu, "htop -d 10", Figure("%", cpu["htop -d 10"])))
        row = Row(bench, "terminal bytes/s", ours_rate, "htop -d 10", Figure("KB/s", rate["htop -d 10"]))
        row.target, row.met = "≤ htop", row.ratio is not None and row.ratio <= 1.0
        report.add(row)
    if "glances -t 1" in programs:
        report.add(Row(bench, "terminal bytes/s", ours_rate, "glances -t 1", Figure("KB/s", rate["glances -t 1"])))
    naive = "naive Textual dashboard"
    report.add(Row(bench, "terminal bytes/s", ours_rate, naive, Figure("KB/s", rate[naive]), note="reference"))
    row = Row(bench, "peak RSS", Figure("MB", rss["opsconsole"]), "glances -t 1", None)
    if "glances -t 1" in programs:
        row.theirs = Figure("MB", rss["glances -t 1"])
    row.target = "≤ 80 MB"
    row.met = row.ours is not None and row.ours.median <= 80
    report.add(row)
    if "htop -d 10" in programs:
        report.add(
            Row(bench, "peak RSS", Figure("MB", rss["opsconsole"]), "htop -d 10", Figure("MB", rss["htop -d 10"]))
        )
