"""Cache pane: per Redis instance hit ratio (this tick, not lifetime), memory against maxmemory, evictions,
clients, replication; below, per-namespace hit ratios with a trend. `i` asks to invalidate by pattern."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
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
from widgets.text_grid import GridColumn, as_table, grid_lines


@dataclass(frozen=True)
class CacheView:
    """What one instance row needs: the reading, its verdict and the findings behind it."""

    reading: Reading
    status: Status
    findings: tuple[str, ...]
    namespace_history: dict[str, tuple[float | None, ...]]


# Narrow / wide column sets (wide from a 70-cell body): a glyph or badge, the name, the figures both sets show,
# then memory and evictions (named in full when wide) and, wide only, clients and role.
_NAME_AND_RATES = (
    GridColumn("INSTANCE", None, min_width=8, ellipsis=True),
    GridColumn("HIT", 4, "right"),
    GridColumn("OPS/S", 5, "right"),
)
INSTANCE_COLUMNS = {
    False: (
        GridColumn("", 1, ellipsis=True),
        *_NAME_AND_RATES,
        GridColumn("MEM", 6, "right", ellipsis=True),
        GridColumn("EVI", 4, "right"),
    ),
    True: (
        GridColumn("", 6, ellipsis=True),
        *_NAME_AND_RATES,
        GridColumn("MEMORY", 12, "right", ellipsis=True),
        GridColumn("EVICT/S", 7, "right"),
        GridColumn("CLIENTS", 7, "right"),
        GridColumn("ROLE", 12, ellipsis=True),
    ),
}
NAMESPACE_COLUMNS = {
    wide: (
        GridColumn("NAMESPACE", None, ellipsis=True),
        GridColumn("HIT", 5, "right"),
        GridColumn("TREND", 20 if wide else 10, ellipsis=True),
    )
    for wide in (False, True)
}


def render_instances(views: tuple[CacheView, ...], wide: bool, width: int = 0) -> RenderableType:
    """The instances' table, the namespaces' and the findings; drawn as lines of `width` cells when they fit
    (`text_grid`), else (or with no width yet) as Rich tables."""
    rows: list[list[Text | str]] = []
    namespaces: list[tuple[str, str, float | None, tuple[float | None, ...]]] = []
    for view in views:
        value = view.reading.value
        name = view.reading.source.removeprefix("cache:")
        glyph = badge(view.status) if wide else Text(GLYPH[view.status], style=STYLE[view.status])
        if not isinstance(value, CacheStatus):
            rows.append([glyph, safe(name, 40), "—", "—", "—", "—", *(["—", "—"] if wide else [])])
            continue
        memory = human_bytes(value.used_memory)
        if wide and value.maxmemory:
            memory += f" {value.memory_share:.0%}"
        role = value.role + (f" {value.link_status}" if value.link_status else "")
        if value.replication_lag_bytes:
            role += f" lag {human_bytes(value.replication_lag_bytes)}"
        evict = value.evictions_per_second
        cells: list[Text | str] = [
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
        rows.append(cells)
        for namespace in value.namespaces:
            namespaces.append(
                (name, namespace.name, namespace.hit_ratio, view.namespace_history.get(namespace.name, ()))
            )
    parts = _grid(INSTANCE_COLUMNS[wide], rows, width)
    if namespaces:
        ns_rows: list[list[Text | str]] = []
        for instance, name, hit, history in sorted(namespaces, key=lambda n: (n[2] is None, n[2] or 0)):
            label = name if len(views) == 1 else f"{instance}/{name}"
            style = "yellow" if hit is not None and hit < 0.8 else ""
            ns_rows.append(
                [
                    safe(label, 60),
                    Text(percent(hit) if hit is not None else "—", style=style),
                    spark(list(history), 20 if wide else 10, "cyan", floor=0.0, ceiling_at_least=1.0),
                ]
            )
        parts += _grid(NAMESPACE_COLUMNS[wide], ns_rows, width)
    findings = [f for view in views for f in view.findings]
    for finding in findings[:4]:
        parts.append(Text(f"▲ {finding}", style="yellow"))
    return Group(*parts)


def _grid(columns: tuple[GridColumn, ...], rows: list[list[Text | str]], width: int) -> list[RenderableType]:
    lines = grid_lines(columns, rows, width) if width > 0 else None
    return [as_table(columns, rows)] if lines is None else list(lines)


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
        body.show(render_instances(views, wide=self.content_size.width >= 70, width=body.size.width))

    def on_resize(self) -> None:
        self.watch_views(self.views)

    def action_invalidate(self) -> None:
        self.post_message(self.InvalidateRequested())
