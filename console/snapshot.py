"""One collection round over every configured source, for runbooks and CI (`opsconsole snapshot`)."""

from __future__ import annotations

from typing import Any

from console.board import Board
from console.collector import Clock, Collector, utc_now
from console.config import Settings
from console.report import snapshot_document
from console.sources import build_sources


async def run_snapshot(settings: Settings, clock: Clock = utc_now) -> dict[str, Any]:
    board = Board(history=settings.history, traffic=settings.traffic)
    collector = Collector(build_sources(settings), board.apply, clock=clock)
    try:
        await collector.collect_once()
    finally:
        await collector.stop()
    return snapshot_document(settings, board, clock())


def render_text(document: dict[str, Any]) -> str:
    """Human form: one line per source, worst first, then the overall verdict."""
    order = {"crit": 0, "unknown": 1, "warn": 2, "ok": 3}
    env = document["environment"]
    lines = [f"opsconsole snapshot · env {env['name']}" + (" (PROTECTED)" if env["protected"] else "")]
    for entry in sorted(document["sources"], key=lambda e: (order.get(e["status"], 9), e["source"])):
        detail = entry["error"] or _summary(entry)
        lines.append(f"{entry['status'].upper():7} {entry['source']:30} {detail}")
    if not document["sources"]:
        lines.append("UNKNOWN no sources configured")
    lines.append(f"overall: {document['status'].upper()} (exit {document['exit_code']})")
    return "\n".join(lines)


def _summary(entry: dict[str, Any]) -> str:
    data = entry.get("data") or {}
    if entry["kind"] == "health" and "targets" in data:  # a Prometheus fleet
        down = [t["name"] for t in data["targets"] if any(p["status"] != "ok" for p in t["probes"])]
        return f"{len(data['targets'])} targets from {data['query']!r}" + (
            f"; not ok: {', '.join(down)}" if down else ""
        )
    if entry["kind"] == "health":
        probes = data.get("probes", [])
        return "; ".join(f"{p['probe']} {p['status']} {p['message']}" for p in probes)
    if entry["kind"] == "traffic":
        rows = data.get("services", [])
        worst = ", ".join(f"{r['service']} {'; '.join(r['reasons'])}" for r in rows if r["reasons"])
        return f"{data.get('mode')}: {len(rows)} services" + (f"; {worst}" if worst else ", all within thresholds")
    if entry["kind"] == "mongo":
        findings = ", ".join(entry.get("findings", [])) or "healthy"
        return f"ping {data.get('ping_ms', 0):.1f} ms, {findings}"
    return ""
