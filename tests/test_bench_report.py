"""The bench's results folder: every run's copy is named by its kind, and a partial run never rotates a full one out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.core import Report


def run(folder: Path, started: float, quick: bool = False, only: tuple[str, ...] = ()) -> None:
    Report(quick=quick, command="python -m tests.bench", started=started, only=only).write(folder, keep=2)


def test_partial_runs_are_named_apart_and_never_push_a_full_run_out(tmp_path: Path) -> None:
    run(tmp_path, 1_700_000_000)
    run(tmp_path, 1_700_000_100)
    for n in range(3):
        run(tmp_path, 1_700_000_200 + n, only=("startup",))
    run(tmp_path, 1_700_000_300, quick=True, only=("steady", "ui"))
    names = sorted(p.name for p in tmp_path.glob("*Z-*.json"))
    assert [n for n in names if n.endswith("-full.json")] == [
        "20231114T221320Z-full.json",
        "20231114T221500Z-full.json",
    ]
    assert [n for n in names if "-only-" in n] == [
        "20231114T221642Z-full-only-startup.json",
        "20231114T221820Z-quick-only-steady-ui.json",
    ]
    assert "(quick only steady ui run," in (tmp_path / "latest.md").read_text()
    assert json.loads((tmp_path / "latest.json").read_text())["quick"] is True
