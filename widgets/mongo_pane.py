"""MongoDB pane: ping latency, connections, opcounters per second, memory, replica-set members and lag."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive

from console.model import MongoStatus, Reading, Status
from widgets.pane import Pane
from widgets.quiet_static import QuietStatic
from widgets.render import GLYPH, STYLE, badge, duration, millis, safe

OP_LABELS = (
    ("insert", "ins"),
    ("query", "qry"),
    ("update", "upd"),
    ("delete", "del"),
    ("getmore", "gm"),
    ("command", "cmd"),
)


def _rate(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.1f}"


def render_mongo(status: MongoStatus, verdict: Status, findings: tuple[str, ...]) -> RenderableType:
    head = badge(verdict)
    head.append(f"  ping {millis(status.ping_ms)}")
    if status.version:
        head.append(f" · v{status.version}")
    if status.uptime_seconds is not None:
        head.append(f" · up {duration(status.uptime_seconds)}")
    lines: list[RenderableType] = [head]
    conn = Text("conns ")
    if status.connections_current is not None:
        conn.append(f"{status.connections_current}")
        if status.connections_available is not None:
            total = status.connections_current + status.connections_available
            conn.append(f"/{total} ({status.connections_current / total:.0%})" if total else "")
    else:
        conn.append("—")
    conn.append(f" · mem {status.resident_mb:.0f} MB" if status.resident_mb is not None else " · mem —")
    lines.append(conn)
    ops = Text("ops/s")
    if status.opcounters_per_second:
        for key, label in OP_LABELS:
            ops.append(f" {label} {_rate(status.opcounters_per_second.get(key, 0.0))}")
    else:
        ops.append("rates after the next poll", style="dim")
    lines.append(ops)
    if status.replica_set:
        members = Table.grid(padding=(0, 1), expand=True)
        members.add_column(width=1, no_wrap=True)
        members.add_column(width=10, no_wrap=True)
        members.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
        members.add_column(width=8, justify="right", no_wrap=True)
        for member in status.members:
            healthy = Status.OK if member.healthy else Status.CRIT
            lag = "" if member.lag_seconds is None else f"lag {member.lag_seconds:.0f}s"
            members.add_row(
                Text(GLYPH[healthy], style=STYLE[healthy]), safe(member.state, 12), safe(member.name, 40), lag
            )
        lines.append(Text(f"replica set {status.replica_set}", style="bold"))
        lines.append(members)
    else:
        lines.append(Text("standalone (no replica set)", style="dim"))
    for finding in findings:
        lines.append(Text(f"▲ {finding}", style=STYLE[verdict]))
    return Group(*lines)


class MongoPane(Pane):
    """Shows the last MongoDB reading; a stale one stays visible with its age in the subtitle."""

    pane_title = "MongoDB"
    key = "7"

    DEFAULT_CSS = """
    MongoPane > Static { height: auto; }
    """

    reading: reactive[Reading | None] = reactive(None, repaint=False)
    """The last reading of the Mongo source (value may be stale)."""

    findings: reactive[tuple[str, ...]] = reactive((), repaint=False)
    """Why the verdict is not ok, as the board judged it."""

    def compose(self) -> ComposeResult:
        yield QuietStatic("waiting for first reading", id="mongo-body")

    def _render_body(self) -> None:
        reading = self.reading
        body = self.child(QuietStatic, "#mongo-body")
        if reading is None:
            body.show("waiting for first reading")
        elif isinstance(reading.value, MongoStatus):
            body.show(render_mongo(reading.value, self.status, self.findings))
        else:
            body.show(Text.assemble(badge(Status.CRIT), "  ", safe(reading.error or "no data", 200)))

    def watch_reading(self) -> None:
        self._render_body()

    def watch_findings(self) -> None:
        self._render_body()
