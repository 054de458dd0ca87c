"""Verdicts for dead-letter queues. The seeds' target is "DLQ size near 0": any letter is worth a look,
letters arriving now or a large pile is an incident."""

from __future__ import annotations

from console.model import DlqInfo, DlqRow, Status, worst

INFLOW_CRIT = 10.0  # letters per minute arriving now
COUNT_CRIT = 1000
WINDOW = 60.0  # seconds of count history behind the inflow estimate


def inflow_from_history(points: tuple[tuple[float, int], ...]) -> float | None:
    """Letters per minute from rises in the count over the last minute (drops are replays, not inflow)."""
    if len(points) < 2:
        return None
    end = points[-1][0]
    recent = [p for p in points if end - p[0] <= WINDOW] or list(points[-2:])
    if len(recent) < 2:
        recent = list(points[-2:])
    span = recent[-1][0] - recent[0][0]
    if span <= 0:
        return None
    rises = sum(max(b[1] - a[1], 0) for a, b in zip(recent, recent[1:], strict=False))
    return rises / span * 60


def dlq_row(info: DlqInfo, points: tuple[tuple[float, int], ...]) -> DlqRow:
    if info.error:
        return DlqRow(info, Status.UNKNOWN, None, (info.error,), tuple(c for _, c in points[-30:]))
    inflow = info.inflow_per_minute if info.inflow_per_minute is not None else inflow_from_history(points)
    findings: list[tuple[Status, str]] = []
    if info.count >= COUNT_CRIT:
        findings.append((Status.CRIT, f"{info.count:,} dead letters"))
    elif info.count > 0:
        findings.append((Status.WARN, f"{info.count:,} dead letters"))
    if inflow is not None and inflow >= INFLOW_CRIT:
        findings.append((Status.CRIT, f"arriving {inflow:.0f}/min"))
    elif inflow is not None and inflow > 0:
        findings.append((Status.WARN, f"arriving {inflow:.1f}/min"))
    return DlqRow(
        info, worst(s for s, _ in findings), inflow, tuple(t for _, t in findings), tuple(c for _, c in points[-30:])
    )
