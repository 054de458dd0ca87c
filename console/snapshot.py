"""One collection round over every configured source, for runbooks and CI (`opsconsole snapshot`)."""

from __future__ import annotations

import asyncio
from typing import Any

from console.board import Board
from console.collector import Clock, Collector, utc_now
from console.config import Settings
from console.report import snapshot_document
from console.sources import build_sources

RATE_SAMPLE = 1.0  # seconds between the two samples of sources whose figures are deltas


async def run_snapshot(settings: Settings, clock: Clock = utc_now) -> dict[str, Any]:
    board = Board(history=settings.history, traffic=settings.traffic, cache=settings.env.cache)
    sources = build_sources(settings)
    collector = Collector(sources, board.apply, clock=clock)
    try:
        await collector.collect_once()
        # Hit ratios and per-second rates are deltas: sample those sources once more, `RATE_SAMPLE` apart.
        delta_sources = [
            s.name
            for s in sources
            if s.kind in ("cache", "mongo")
            or s.name == "traffic:scrape"
            or (s.kind == "traffic" and _scraped(board, s.name))
        ]
        if delta_sources:
            await asyncio.sleep(RATE_SAMPLE)
            await asyncio.gather(*(collector.poll_once(name) for name in delta_sources))
    finally:
        await collector.stop()
    return snapshot_document(settings, board, clock())


def _scraped(board: Board, name: str) -> bool:
    reading = board.readings.get(name)
    return reading is not None and getattr(reading.value, "mode", "") == "scrape"


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
    if entry["kind"] == "queues":
        queues = data.get("queues", [])
        stuck = [q["name"] for q in queues if q["depth"] and q.get("consumers") == 0]
        total = sum(q["depth"] for q in queues)
        text = f"{data.get('source')}: {len(queues)} queues, {total} waiting"
        return text + (f"; no consumers: {', '.join(stuck[:5])}" if stuck else "")
    if entry["kind"] == "cache":
        hit = data.get("hit_ratio")
        findings = ", ".join(entry.get("findings", [])) or "healthy"
        return f"{data.get('role')} hit ratio {'—' if hit is None else f'{hit:.0%}'}, {findings}"
    if entry["kind"] == "mongo":
        findings = ", ".join(entry.get("findings", [])) or "healthy"
        return f"ping {data.get('ping_ms', 0):.1f} ms, {findings}"
    return ""
