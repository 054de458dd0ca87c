"""Cache pane: per Redis instance hit ratio (this tick, not lifetime), memory against maxmemory, evictions,
clients, replication; below, per-namespace hit ratios with a trend. `i` asks to invalidate by pattern."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from console.model import CacheStatus, Reading, Status
from console.units import human_bytes
from widgets.pane import Pane
from widgets.quiet_static import QuietStatic
from widgets.render import GLYPH, STYLE, badge, percent, rate, safe, spark


@dataclass(frozen=True)
class CacheView:
    """What one instance row needs: the reading, its verdict and the findings behind it."""

    reading: Reading
    status: Status
    findings: tuple[str, ...]
    namespace_history: dict[str, tuple[float | None, ...]]


def render_instances(views: tuple[CacheView, ...], wide: bool) -> RenderableType:
    table = Table(box=None, expand=True, pad_edge=False, show_edge=False, header_style="bold", collapse_padding=True)
    table.add_column("", width=1 if not wide else 6, no_wrap=True)
    table.add_column("INSTANCE", ratio=1, min_width=8, no_wrap=True, overflow="ellipsis")
    table.add_column("HIT", justify="right", width=4)
    table.add_column("OPS/S", justify="right", width=5)
    table.add_column("MEMORY" if wide else "MEM", justify="right", width=12 if wide else 6, no_wrap=True)
    table.add_column("EVICT/S" if wide else "EVI", justify="right", width=7 if wide else 4)
    if wide:
        table.add_column("CLIENTS", justify="right", width=7)
        table.add_column("ROLE", width=12, no_wrap=True)
    namespaces: list[tuple[str, str, float | None, tuple[float | None, ...]]] = []
    for view in views:
        value = view.reading.value
        name = view.reading.source.removeprefix("cache:")
        glyph = badge(view.status) if wide else Text(GLYPH[view.status], style=STYLE[view.status])
        if not isinstance(value, CacheStatus):
            table.add_row(glyph, safe(name, 40), "—", "—", "—", "—", *(["—", "—"] if wide else []))
            continue
        memory = human_bytes(value.used_memory)
        if wide and value.maxmemory:
            memory += f" {value.memory_share:.0%}"
        role = value.role + (f" {value.link_status}" if value.link_status else "")
        if value.replication_lag_bytes:
            role += f" lag {human_bytes(value.replication_lag_bytes)}"
        evict = value.evictions_per_second
        cells: list[RenderableType] = [
            glyph,
            safe(name, 40),
            percent(value.hit_ratio) if value.hit_ratio is not None else "—",
            rate(value.ops_per_second),
            memory,
            Text(rate(evict), style="yellow" if evict else ""),
        ]
        if wide:
            clients = "—" if value.clients is None else str(value.clients)
            if value.blocked_clients:
                clients += f" ({value.blocked_clients}b)"
            cells += [clients, safe(role, 30)]
        table.add_row(*cells)
        for namespace in value.namespaces:
            namespaces.append(
                (name, namespace.name, namespace.hit_ratio, view.namespace_history.get(namespace.name, ()))
            )
    parts: list[RenderableType] = [table]
    if namespaces:
        ns = Table(box=None, expand=True, pad_edge=False, show_edge=False, header_style="bold", collapse_padding=True)
        ns.add_column("NAMESPACE", ratio=1, no_wrap=True, overflow="ellipsis")
        ns.add_column("HIT", justify="right", width=5)
        ns.add_column("TREND", width=20 if wide else 10, no_wrap=True)
        for instance, name, hit, history in sorted(namespaces, key=lambda n: (n[2] is None, n[2] or 0)):
            label = name if len(views) == 1 else f"{instance}/{name}"
            style = "yellow" if hit is not None and hit < 0.8 else ""
            ns.add_row(
                safe(label, 60),
                Text(percent(hit) if hit is not None else "—", style=style),
                spark(list(history), 20 if wide else 10, "cyan", floor=0.0, ceiling_at_least=1.0),
            )
        parts.append(ns)
    findings = [f for view in views for f in view.findings]
    for finding in findings[:4]:
        parts.append(Text(f"▲ {finding}", style="yellow"))
    return Group(*parts)


class CachePane(Pane):
    pane_title = "Cache"
    key = "3"
    can_focus = True

    BINDINGS = [Binding("i", "invalidate", "Invalidate")]

    DEFAULT_CSS = """
    CachePane > Static { height: 1fr; }  /* fixed: findings coming and going repaint lines, not the layout */
    """

    views: reactive[tuple[CacheView, ...]] = reactive((), always_update=True, repaint=False)
    """One entry per Redis instance, worst first."""

    @dataclass
    class InvalidateRequested(Message):
        """The operator pressed `i`: ask for a pattern, preview, confirm."""

    def compose(self) -> ComposeResult:
        yield QuietStatic("waiting for first reading", id="cache-body")

    def watch_views(self, views: tuple[CacheView, ...]) -> None:
        body = self.child(QuietStatic, "#cache-body")
        if not views:
            body.show("waiting for first reading")
            return
        body.show(render_instances(views, wide=self.content_size.width >= 70))

    def on_resize(self) -> None:
        self.watch_views(self.views)

    def action_invalidate(self) -> None:
        self.post_message(self.InvalidateRequested())
