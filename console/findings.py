"""Export for the ticket: what the screen knows, as Markdown an incident channel or ticket can take as is.

Pure: built from the board and the timeline. Every backend string is cleaned (no escape sequences),
Markdown-escaped (a `|` in a queue name cannot break a table) and scrubbed of credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from console.board import Board, assess_mongo
from console.model import CacheStatus, MongoStatus, Status, TimelineEvent
from console.sanitize import clean
from console.secrets import redact_text

TIMELINE_LINES = 40
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def export_dir() -> Path:
    """Where `x` writes: $OPSCONSOLE_EXPORT_DIR, else ~/opsconsole-exports."""
    configured = os.environ.get("OPSCONSOLE_EXPORT_DIR")
    return Path(configured).expanduser() if configured else Path.home() / "opsconsole-exports"


def md(value: object, limit: int = 200, secrets: tuple[str, ...] = ()) -> str:
    """Untrusted text for a Markdown table cell or line: one line, no controls, no markup, no secrets."""
    text = redact_text(clean(value, limit), secrets)
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.0f} ms"


def findings_markdown(
    board: Board,
    events: list[TimelineEvent],
    environment: str,
    at: datetime,
    protected: bool = False,
    note: str = "",
    secrets: tuple[str, ...] = (),
) -> str:
    def s(value: object, limit: int = 200) -> str:
        return md(value, limit, secrets)

    counts = {status: 0 for status in Status}
    for reading in board.readings.values():
        counts[board.status_of(reading)] += 1
    overall = board.overall() if board.readings else Status.UNKNOWN
    summary = ", ".join(f"{counts[x]} {x.value}" for x in (Status.CRIT, Status.WARN, Status.UNKNOWN) if counts[x])
    lines = [
        f"# opsconsole findings · {s(environment, 60)}" + (" (PROTECTED)" if protected else ""),
        "",
        f"- **At:** {at.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- **Overall:** {overall.value.upper()}" + (f" ({summary})" if summary else ""),
    ]
    if note:
        lines.append(f"- **Source:** {s(note)}")
    lines.append("")

    down = [r for r in board.readings.values() if r.error is not None]
    if down:
        lines += ["## Unreachable or failing sources", ""]
        lines += _table(
            ("source", "since", "error"),
            (
                (
                    s(r.source, 60),
                    r.last_ok_at.strftime("%H:%M:%S") + " (last ok)" if r.last_ok_at else "never answered",
                    s(r.error),
                )
                for r in sorted(down, key=lambda r: r.source)
            ),
        )
        lines.append("")

    health = [r for r in board.health_rows() if r.status is not Status.OK]
    if health:
        lines += ["## Health", ""]
        rows = []
        for row in health:
            detail = ""
            if row.target is not None:
                bad = [
                    f"{c.name}: {c.detail}" for p in row.target.probes for c in p.checks if c.status is not Status.OK
                ]
                detail = "; ".join(dict.fromkeys(bad)) or "; ".join(p.message for p in row.target.probes if p.message)
            rows.append((s(row.name, 60), row.status.value, s(detail + (" (flapping)" if row.flapping else ""))))
        lines += _table(("target", "status", "why"), rows)
        lines.append("")

    traffic = [r for r in board.traffic_rows() if r.status is not Status.OK]
    if traffic:
        lines += ["## Traffic", ""]
        lines += _table(
            ("service", "status", "req/s", "errors", "p95", "why"),
            (
                (
                    s(r.service, 60),
                    r.status.value,
                    "—" if r.stats.rps is None else f"{r.stats.rps:.1f}",
                    _pct(r.stats.error_ratio),
                    _ms(r.stats.p95),
                    s(", ".join(r.reasons)),
                )
                for r in traffic
            ),
        )
        lines.append("")

    cache_lines = []
    for reading in board.cache_readings():
        if isinstance(reading.value, CacheStatus) and reading.error is None:
            verdict, found = board.assess_cache(reading)
            if found:
                cache_lines.append(f"- **{s(reading.value.instance, 60)}** {verdict.value}: {s(', '.join(found))}")
    if cache_lines:
        lines += ["## Cache", "", *cache_lines, ""]

    queues = [r for r in board.queue_rows() if r.status is not Status.OK]
    if queues:
        lines += ["## Queues", ""]
        lines += _table(
            ("queue", "status", "depth", "consumers", "why"),
            (
                (
                    s(r.queue.name, 80),
                    r.status.value,
                    f"{r.queue.depth:,}",
                    "—" if r.queue.consumers is None else str(r.queue.consumers),
                    s(", ".join(r.reasons)),
                )
                for r in queues[:30]
            ),
        )
        lines.append("")

    dlqs = [r for r in board.dlq_rows() if r.info.count or r.info.error]
    if dlqs:
        lines += ["## Dead letters", ""]
        lines += _table(
            ("DLQ", "letters", "inflow/min", "top reason", "top origin"),
            (
                (
                    s(f"{r.info.kind}:{r.info.name}", 80),
                    f"{r.info.count:,}",
                    "—" if r.inflow_per_minute is None else f"{r.inflow_per_minute:.1f}",
                    s(r.info.by_reason[0][0] if r.info.by_reason else (r.info.error or "—"), 80),
                    s(r.info.by_origin[0][0] if r.info.by_origin else "—", 60),
                )
                for r in dlqs[:30]
            ),
        )
        lines.append("")

    breakers = [r for r in board.breaker_rows() if r.status is not Status.OK]
    if breakers:
        lines += ["## Circuit breakers", ""]
        lines += _table(
            ("breaker", "state", "failure rate", "source"),
            (
                (
                    s(f"{r.info.service}/{r.info.name}" if r.info.service else r.info.name, 80),
                    r.info.state.value,
                    "—" if r.info.failure_rate is None else f"{r.info.failure_rate:.0f}%",
                    s(r.info.source, 40),
                )
                for r in breakers
            ),
        )
        lines.append("")

    for reading in board.mongo_readings():
        if isinstance(reading.value, MongoStatus) and reading.error is None:
            verdict, found = assess_mongo(reading.value)
            if found:
                lines += ["## MongoDB", "", f"- {verdict.value}: {s(', '.join(found))}", ""]

    if len(lines) <= 6 + (1 if note else 0):
        lines += ["Nothing wrong on screen: every source answered and every verdict is OK.", ""]

    recent = events[-TIMELINE_LINES:]
    if recent:
        start = recent[0].at
        lines += [f"## Timeline (last {len(recent)} changes)", ""]
        lines += _table(
            ("time", "offset", "pane", "severity", "what"),
            (
                (
                    e.at.strftime("%H:%M:%S"),
                    _offset((e.at - start).total_seconds()),
                    e.lane,
                    e.severity.value,
                    s(e.text, 200),
                )
                for e in recent
            ),
        )
        lines.append("")
    lines.append("_Exported by opsconsole; credentials are removed from every field._")
    return "\n".join(lines) + "\n"


def _offset(seconds: float) -> str:
    total = int(seconds)
    return f"+{total // 60}m{total % 60:02d}s" if total >= 60 else f"+{total}s"
