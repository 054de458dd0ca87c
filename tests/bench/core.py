"""Figures, ratios, skips and the report (Markdown + JSON) every benchmark writes into.

A figure is a list of samples (several runs: the machines are shared and noisy); the report shows its median
and min–max. A row compares the console's figure with a peer's measured in the same run, and states the
issue's target and whether the median meets it. Benchmarks never fail anything: a missed target is a row
saying so, a benchmark that cannot run is a skip with its reason.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


class Skip(Exception):  # noqa: N818 - reads as `raise Skip("why")`
    """A benchmark that cannot run here (peer missing, service down): recorded with its reason."""


@dataclass
class Figure:
    unit: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def show(self) -> str:
        if not self.samples:
            return "–"
        lo, hi = min(self.samples), max(self.samples)
        text = f"{fmt(self.median)} {self.unit}".strip()
        if len(self.samples) > 1 and fmt(lo) != fmt(hi):
            text += f" ({fmt(lo)}–{fmt(hi)})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples) if self.samples else None,
            "max": max(self.samples) if self.samples else None,
            "samples": self.samples,
        }


def fmt(value: float) -> str:
    if value != value:  # NaN
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if 0 < magnitude < 0.01:
        return f"{value:.2g}"
    return f"{value:.3f}"


@dataclass
class Row:
    bench: str
    measure: str
    ours: Figure | None
    peer: str = ""
    theirs: Figure | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or not self.ours.samples or not self.theirs.samples:
            return None
        if self.theirs.median == 0:
            return None
        return self.ours.median / self.theirs.median


@dataclass
class Report:
    quick: bool
    command: str
    rows: list[Row] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    machine: dict[str, Any] = field(default_factory=dict)
    only: tuple[str, ...] = ()  # `--only`: the benchmarks this partial run was limited to

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f" ratio {fmt(row.ratio)}" if row.ratio is not None else ""
        verdict = {True: " [met]", False: " [MISSED]", None: ""}[row.met]
        peer = f" vs {row.peer} {row.theirs.show()}" if row.theirs is not None else ""
        ours = row.ours.show() if row.ours is not None else "–"
        print(f"  {row.bench} · {row.measure}: {ours}{peer}{ratio}{verdict}", flush=True)
        return row

    def skip(self, bench: str, reason: str) -> None:
        self.skipped.append((bench, reason))
        print(f"  SKIPPED {bench}: {reason}", flush=True)

    # --- output ---

    def markdown(self) -> str:
        when = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M UTC")
        m = self.machine
        lines = [
            f"# opsconsole benchmarks ({self._kind().replace('-', ' ')} run, {when})",
            "",
            f"Command: `{self.command}` · {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
            f"{m.get('memory_gb', '?')} GB · load {m.get('load_start', '?')} → {m.get('load_end', '?')} · "
            f"Python {m.get('python', '?')}, Textual {m.get('textual', '?')} · took {m.get('duration_s', 0):.0f} s",
            "",
            "Figures: median of the runs, (min–max) when they differ. Ratio = opsconsole ÷ peer, same run.",
            "",
            "| benchmark | measure | opsconsole | peer | peer figure | ratio | target | met |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in self.rows:
            ratio = f"{fmt(row.ratio)}×" if row.ratio is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[row.met]
            measure = row.measure + (f" — {row.note}" if row.note else "")
            lines.append(
                f"| {row.bench} | {measure} | {row.ours.show() if row.ours else '–'} | {row.peer} | "
                f"{row.theirs.show() if row.theirs else ''} | {ratio} | {row.target} | {met} |"
            )
        if self.skipped:
            lines += ["", "Skipped:", ""]
            lines += [f"- {bench}: {reason}" for bench, reason in self.skipped]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "opsconsole.bench/1",
            "quick": self.quick,
            "command": self.command,
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "machine": self.machine,
            "rows": [
                {
                    **{k: v for k, v in asdict(row).items() if k not in ("ours", "theirs")},
                    "ours": row.ours.to_json() if row.ours else None,
                    "theirs": row.theirs.to_json() if row.theirs else None,
                    "ratio": row.ratio,
                }
                for row in self.rows
            ],
            "skipped": [{"bench": b, "reason": r} for b, r in self.skipped],
        }

    def write(self, folder: Path = RESULTS, keep: int = 4) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.machine["load_end"] = _load()
        self.machine["duration_s"] = round(time.time() - self.started, 1)
        stamp = datetime.fromtimestamp(self.started, UTC).strftime("%Y%m%dT%H%M%SZ")
        markdown, document = self.markdown(), json.dumps(self.to_json(), indent=2)
        (folder / "latest.md").write_text(markdown)
        (folder / "latest.json").write_text(document + "\n")
        (folder / f"{stamp}-{self._kind()}.json").write_text(document + "\n")
        # Keep the folder small: the newest few copies of each kind of run, so a partial run (`--only`) never
        # pushes a full one out.
        for pattern in ("*Z-full.json", "*Z-quick.json", "*Z-*only-*.json"):
            for path in sorted(folder.glob(pattern))[:-keep]:
                path.unlink()
        return folder / "latest.md"

    def _kind(self) -> str:
        kind = "quick" if self.quick else "full"
        return f"{kind}-only-{'-'.join(self.only)}" if self.only else kind


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _version(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0][:80] if text else "?"


def machine_info() -> dict[str, Any]:
    import textual

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "python": platform.python_version(),
        "textual": getattr(textual, "__version__", "?"),
        "redis_server": _version(["redis-server", "--version"]),
        "glances": _version(["glances", "-V"]),
        "htop": _version(["htop", "--version"]),
        "load_start": _load(),
    }


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of `fn` took."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
