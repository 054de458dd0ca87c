"""The Textual application: layout, keys, and routing readings from the collector to the panes.

No IO happens here: sources are handed in by `make_app`, the collector polls them in its own tasks,
and every reading arrives as a `ReadingArrived` message on the UI loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:

    from console.breaker_actions import BreakerAction
    from console.dlq import StoreCatalog

from console.adapters.dlq_base import DeadLetterStore, Selection
from console.audit import audit_log_for
from console.board import Board, assess_cache, assess_mongo
from console.collector import Clock, Collector, Source, utc_now
from console.config import Settings
from console.errors import ConsoleError
from console.model import CacheStatus, QueueSnapshot, Reading, Status, TrafficSnapshot
from console.safety import WriteMode
from console.sanitize import clean
from console.screens.health_detail import HealthDetailScreen
from console.screens.help import HelpScreen
from console.screens.traffic_routes import TrafficRoutesScreen
from console.screens.write_mode import WriteModeScreen
from widgets.breakers_pane import BreakersPane
from widgets.cache_pane import CachePane, CacheView
from widgets.dlq_pane import DlqPane
from widgets.env_banner import EnvBanner
from widgets.health_pane import HealthPane
from widgets.mongo_pane import MongoPane
from widgets.pane import Pane
from widgets.queues_pane import QueuesPane
from widgets.summary_bar import SummaryBar
from widgets.traffic_pane import TrafficPane
from widgets.unconfigured_pane import UnconfiguredPane

# Below either size the screen shows one pane at a time plus a one-line summary of the rest.
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 30

# (key, pane id, short name, hint shown while the pane's backend is not built or configured)
PANES = (
    ("1", "health", "Health", ""),
    ("2", "traffic", "Traffic", "set prometheus_url (or PROMETHEUS_URL), or [env.NAME.traffic] scrape targets"),
    ("3", "cache", "Cache", "set redis_url (or REDIS_URL), or [[env.NAME.redis]] instances"),
    ("4", "queues", "Queues", "set [env.NAME.rabbitmq], [env.NAME.bullmq] or [env.NAME.lists]"),
    ("5", "dlq", "DLQ", "set [env.NAME.rabbitmq] management_url, [env.NAME.bullmq] or [env.NAME.dlq]"),
    ("6", "breakers", "Breakers", "set [env.NAME.breakers] (Redis registry, actuators, Prometheus)"),
    ("7", "mongo", "Mongo", "set [env.NAME.mongo] uri or MONGO_URI"),
)


@dataclass
class ReadingArrived(Message):
    """A source finished a poll (successfully or not)."""

    reading: Reading


class OpsConsoleApp(App[int]):
    """One screen answering: what is broken right now."""

    TITLE = "opsconsole"
    ENABLE_COMMAND_PALETTE = True

    CSS = """
    Screen { layout: vertical; }
    #panes {
        layout: grid;
        grid-size: 3 3;
        grid-rows: 2fr 1fr 1fr;
        grid-columns: 1fr 1fr 1fr;
        height: 1fr;
    }
    #health { column-span: 2; }
    #breakers { column-span: 2; }
    SummaryBar { display: none; }
    Screen.-compact SummaryBar { display: block; }
    Screen.-compact #panes { layout: vertical; }
    Screen.-compact #panes > Pane { display: none; }
    Screen.-compact #panes > Pane.-active { display: block; height: 1fr; }
    """

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Keys"),
        Binding("w", "toggle_write", "Write mode"),
        *(Binding(key, f"show_pane('{pane_id}')", name, show=False) for key, pane_id, name, _ in PANES),
    ]

    def __init__(
        self,
        settings: Settings,
        sources: Sequence[Source] = (),
        clock: Clock = utc_now,
        readings: Iterable[Reading] = (),
        collect: bool = True,
        source_factory: Callable[[], Sequence[Source]] | None = None,
    ) -> None:
        super().__init__()
        # Building sources imports every client library (~0.3 s): the CLI hands a factory that runs
        # after the first frame, in a thread.
        self._source_factory = source_factory
        self.settings = settings
        self.clock = clock
        self.board = Board(history=settings.history, traffic=settings.traffic, cache=settings.env.cache)
        self._sources = list(sources)
        self._initial = list(readings)
        self._collect = collect
        self.collector: Collector | None = None
        self._active = "health"
        self.write = WriteMode(clock=clock)
        self.audit = audit_log_for(settings)
        self._journal_problem: str | None = None
        self._catalog: StoreCatalog | None = None
        # Which store backs a DLQ row; snapshot tests put fixed letters here.
        self.dlq_store_for: Callable[[str, str], DeadLetterStore] = self._catalog_store
        for source in self._sources:
            self.board.expect(source.name, source.kind)

    # --- layout ---------------------------------------------------------------------------------------

    @property
    def main_screen(self) -> Screen:
        """Readings keep arriving while a dialog is open: always address the main screen's widgets."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    def compose(self) -> ComposeResult:
        yield EnvBanner(id="banner")
        yield SummaryBar(id="summary")
        with Container(id="panes"):
            yield HealthPane(id="health")
            if self.settings.traffic is not None:
                yield TrafficPane(id="traffic")
            else:
                yield UnconfiguredPane("Traffic", "2", PANES[1][3], id="traffic")
            if self.settings.redis_instances:
                yield CachePane(id="cache")
            else:
                yield UnconfiguredPane("Cache", "3", PANES[2][3], id="cache")
            env = self.settings.env
            if env.rabbitmq is not None or env.bullmq is not None or env.lists is not None:
                yield QueuesPane(id="queues")
            else:
                yield UnconfiguredPane("Queues", "4", PANES[3][3], id="queues")
            if self.settings.dlq is not None:
                yield DlqPane(id="dlq")
            else:
                yield UnconfiguredPane("DLQ", "5", PANES[4][3], id="dlq")
            if self.settings.env.breakers is not None:
                yield BreakersPane(id="breakers")
            else:
                key, pane_id, name, hint = PANES[5]
                yield UnconfiguredPane(name, key, hint, id=pane_id)
            if self.settings.env.mongo is not None:
                yield MongoPane(id="mongo")
            else:
                yield UnconfiguredPane("MongoDB", "7", PANES[6][3], id="mongo")
        yield Footer()

    def on_mount(self) -> None:
        banner = self.main_screen.query_one(EnvBanner)
        env = self.settings.env
        banner.env_label = env.name if env.label in ("", env.name) else f"{env.name} ({env.label})"
        banner.protected = env.protected
        self._show_pane(self._active)
        self._layout_for(self.size.width, self.size.height)
        for reading in self._initial:
            self.board.apply(reading)
        self.board.take_breaker_changes()  # history, not news: only live transitions are announced
        self._refresh_all()
        self._tick()
        self.set_interval(1.0, self._tick)
        if self._collect and (self._sources or self._source_factory is not None):
            # Paint first; connect after the first frame so start-up is never held by a slow backend.
            self.call_after_refresh(self._start_collection)

    def _start_collection(self) -> None:
        self.run_worker(self._run_collection(), name="collector", group="poll", exit_on_error=False)

    async def _run_collection(self) -> None:
        if self._source_factory is not None:
            self._sources = list(await asyncio.to_thread(self._source_factory))
            for source in self._sources:
                self.board.expect(source.name, source.kind)
        if not self._sources:
            return
        self.collector = Collector(self._sources, self._emit, clock=self.clock)
        await self.collector.run()

    def _emit(self, reading: Reading) -> None:
        self.post_message(ReadingArrived(reading))

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        self.main_screen.set_class(width < COMPACT_WIDTH or height < COMPACT_HEIGHT, "-compact")

    # --- readings -------------------------------------------------------------------------------------

    @on(ReadingArrived)
    def _reading_arrived(self, message: ReadingArrived) -> None:
        self.board.apply(message.reading)
        for info, before in self.board.take_breaker_changes():
            opened = info.state.value in ("OPEN", "FORCED_OPEN")
            self.notify(
                clean(f"breaker {info.service}/{info.name}: {before.value} → {info.state.value}", 120),
                severity="error" if opened else "information",
                timeout=8,
                markup=False,  # names come from the services: text, not markup
            )
        try:
            self._refresh_kind(message.reading.kind)
            self._refresh_summary()
        except (NoMatches, ScreenStackError):
            pass  # the app is shutting down and its widgets are gone; the board still has the reading

    def _refresh_all(self) -> None:
        for kind in ("health", "mongo", "traffic", "cache", "queues", "dlq", "breakers"):
            self._refresh_kind(kind)
        self._refresh_summary()

    def _refresh_kind(self, kind: str) -> None:
        now = self.clock()
        if kind == "health":
            pane = self.main_screen.query_one(HealthPane)
            rows = self.board.health_rows()
            pane.rows = tuple(rows)
            pane.status = max((r.status for r in rows), key=lambda s: s.rank, default=Status.UNKNOWN)
            pane.state = self.board.pane_state("health")
            pane.now = now
        elif kind == "traffic":
            traffic_panes = self.main_screen.query(TrafficPane)
            traffic = self.board.traffic_reading()
            if not traffic_panes or traffic is None:
                return
            traffic_pane = traffic_panes.first()
            traffic_rows = self.board.traffic_rows()
            snapshot = traffic.value if isinstance(traffic.value, TrafficSnapshot) else None
            traffic_pane.status = self.board.status_of(traffic)
            traffic_pane.mode = snapshot.mode if snapshot else ""
            traffic_pane.note = snapshot.note if snapshot else ""
            traffic_pane.histories = {r.service: self.board.traffic_history(r.service) for r in traffic_rows}
            traffic_pane.rows = tuple(traffic_rows)
            traffic_pane.state = self.board.pane_state("traffic")
            traffic_pane.now = now
        elif kind == "queues":
            queue_panes = self.main_screen.query(QueuesPane)
            if not queue_panes:
                return
            queue_pane = queue_panes.first()
            queue_rows = self.board.queue_rows()
            notes = []
            for reading in self.board.readings.values():
                # Only what an operator must know goes in the title: fallbacks and remarks.
                value = reading.value
                if (
                    reading.kind == "queues"
                    and isinstance(value, QueueSnapshot)
                    and (value.note or "passive" in value.source)
                ):
                    notes.append(value.source + (f" ({value.note})" if value.note else ""))
            queue_pane.status = max((r.status for r in queue_rows), key=lambda s: s.rank, default=Status.OK)
            queue_pane.source_note = f"{len(queue_rows)} queues"
            queue_pane.rows = tuple(queue_rows)
            queue_pane.state = self.board.pane_state("queues")
            queue_pane.now = now
            if notes:
                queue_pane.source_note = f"{len(queue_rows)} queues · " + "; ".join(notes)
        elif kind == "dlq":
            dlq_panes = self.main_screen.query(DlqPane)
            if not dlq_panes:
                return
            dlq_pane = dlq_panes.first()
            dlq_rows = self.board.dlq_rows()
            dlq_pane.status = self._pane_status("dlq") or Status.OK  # an unreadable source counts too
            dlq_pane.rows = tuple(dlq_rows)
            dlq_pane.state = self.board.pane_state("dlq")
            dlq_pane.now = now
            total = sum(r.info.count for r in dlq_rows)
            dlq_pane.set_title(f"5 DLQ · {total:,} letters in {len(dlq_rows)}" if dlq_rows else "5 DLQ")
        elif kind == "breakers":
            breaker_panes = self.main_screen.query(BreakersPane)
            if not breaker_panes:
                return
            breaker_pane = breaker_panes.first()
            breaker_rows = self.board.breaker_rows()
            breaker_pane.status = self._pane_status("breakers") or Status.OK  # an unreadable source counts too
            breaker_pane.rows = tuple(breaker_rows)
            breaker_pane.state = self.board.pane_state("breakers")
            breaker_pane.now = now
            opened = sum(1 for r in breaker_rows if r.status is Status.CRIT)
            title = f"6 Breakers · {len(breaker_rows)}" + (f" · {opened} open" if opened else "")
            note = next(
                (
                    r.value.note
                    for r in self.board.readings.values()
                    if r.kind == "breakers" and r.value and r.value.note
                ),
                "",
            )
            breaker_pane.set_title(title + (f" · {note[:60]}" if note else ""))
        elif kind == "cache":
            cache_panes = self.main_screen.query(CachePane)
            readings = self.board.cache_readings()
            if not cache_panes or not readings:
                return
            views = []
            for reading in readings:
                status = self.board.status_of(reading)
                findings: tuple[str, ...] = ()
                history: dict[str, tuple[float | None, ...]] = {}
                if isinstance(reading.value, CacheStatus):
                    findings = tuple(assess_cache(reading.value, self.settings.env.cache)[1])
                    history = {
                        n.name: self.board.namespace_history(reading.value.instance, n.name)
                        for n in reading.value.namespaces
                    }
                elif reading.error:
                    findings = (f"{reading.source.removeprefix('cache:')}: {reading.error}",)
                views.append(CacheView(reading, status, findings, history))
            cache_pane = cache_panes.first()
            cache_pane.status = max((v.status for v in views), key=lambda s: s.rank)
            cache_pane.views = tuple(sorted(views, key=lambda v: -v.status.rank))
            cache_pane.state = self.board.pane_state("cache")
            cache_pane.now = now
        elif kind == "mongo":
            panes = self.main_screen.query(MongoPane)
            readings = self.board.mongo_readings()
            if not panes or not readings:
                return
            mongo_pane, reading = panes.first(), readings[0]
            mongo_pane.status = self.board.status_of(reading)
            mongo_pane.findings = tuple(assess_mongo(reading.value)[1]) if reading.value is not None else ()
            mongo_pane.reading = reading
            mongo_pane.state = self.board.pane_state("mongo")
            mongo_pane.now = now

    def _pane_status(self, pane_id: str) -> Status | None:
        kind = pane_id if pane_id in ("health", "mongo", "traffic", "cache", "queues", "dlq", "breakers") else None
        if kind is None or not any(k == kind for k in self.board.expected.values()):
            return None
        statuses = [self.board.status_of(r) for r in self.board.readings.values() if r.kind == kind]
        return max(statuses, key=lambda s: s.rank) if statuses else Status.UNKNOWN

    def _refresh_summary(self) -> None:
        items = tuple((key, name, self._pane_status(pane_id)) for key, pane_id, name, _ in PANES)
        self.main_screen.query_one(SummaryBar).items = items
        counts = {s: 0 for s in Status}
        for reading in self.board.readings.values():
            counts[self.board.status_of(reading)] += 1
        bad = [f"{counts[s]} {s.value}" for s in (Status.CRIT, Status.WARN, Status.UNKNOWN) if counts[s]]
        self.main_screen.query_one(EnvBanner).overall = (
            " · ".join(bad) if bad else ("all ok" if self.board.readings else "")
        )

    def _tick(self) -> None:
        """Once a second: ages in pane subtitles (only repainted when their text changes) and the clock."""
        now = self.clock()
        if not self.screen_stack:
            return
        for pane in self.main_screen.query(Pane):
            pane.now = now
        banner = self.main_screen.query_one(EnvBanner)
        banner.clock = now.strftime("%H:%M UTC")
        if self.write.until is not None and not self.write.active():
            self.write.disable()
            self.notify("write mode expired: back to read-only", severity="warning")
        banner.write_until = self.write.until.strftime("%H:%M") if self.write.active() and self.write.until else ""
        problem = self.audit.mirror_problem()
        if problem and problem != self._journal_problem:
            self.notify(problem, severity="warning", timeout=10)  # the record is spooled, never dropped
        self._journal_problem = problem

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.notify(f"{event.worker.name} stopped: {event.worker.error}", severity="error", timeout=10)

    # --- actions --------------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Poll every source now."""
        if self.collector is not None:
            self.collector.refresh()
        self.notify("refreshing every source", timeout=2)

    def action_toggle_pause(self) -> None:
        """Stop / restart polling; the banner shows PAUSED meanwhile."""
        banner = self.main_screen.query_one(EnvBanner)
        banner.paused = not banner.paused
        if self.collector is not None:
            (self.collector.pause if banner.paused else self.collector.resume)()

    def action_toggle_write(self) -> None:
        """Read-only by default; write mode needs a reason and expires by itself."""
        if self.write.active():
            self.write.disable()
            self._tick()
            self.notify("write mode off: read-only")
            return

        def enabled(reason: str | None) -> None:
            if reason:
                self.write.enable(reason, self.settings.write_minutes)
                self._tick()
                self.notify(f"write mode on for {self.settings.write_minutes:g} min", severity="warning")

        self.push_screen(
            WriteModeScreen(self.settings.write_minutes, self.settings.env.name, self.settings.env.protected), enabled
        )

    @on(QueuesPane.ActionRequested)
    def _queue_action(self, message: QueuesPane.ActionRequested) -> None:
        # Actions pull in the Redis / AMQP / BullMQ clients: imported on first use, not before first paint.
        from console.queue_actions import QueueAction
        from console.screens.queue_action import QueueActionScreen

        verb = "resume" if message.verb == "pause" and message.paused else message.verb
        action = QueueAction(self.settings, verb, message.kind, message.queue, self.audit)
        self.push_screen(QueueActionScreen(action, self.write))

    @on(CachePane.InvalidateRequested)
    def _invalidate(self) -> None:
        instances = self.settings.redis_instances
        if not instances:
            return
        instance = instances[0]
        from console.actions import CacheInvalidation
        from console.screens.invalidate import InvalidateScreen

        def action_for(pattern: str) -> CacheInvalidation:
            return CacheInvalidation(self.settings, instance, pattern, self.audit)

        self.push_screen(InvalidateScreen(action_for, self.write, instance.name, self.settings.env.protected))

    def _dlq_catalog(self):  # type: ignore[no-untyped-def]
        # The stores pull in the AMQP / Redis / BullMQ clients: built on first use, not before first paint.
        from console.dlq import StoreCatalog

        if self._catalog is None:
            self._catalog = StoreCatalog(self.settings)
        return self._catalog

    async def on_unmount(self) -> None:
        # The stores the DLQ screens browsed hold Redis pools and HTTP clients: closed with the app, not leaked.
        catalog, self._catalog = self._catalog, None
        if catalog is not None:
            try:
                await catalog.aclose()
            except Exception:  # noqa: BLE001, S110 - shutting down: a broken client is dropped either way
                pass

    def _catalog_store(self, kind: str, name: str) -> DeadLetterStore:
        return self._dlq_catalog().get(kind, name)  # type: ignore[no-any-return]

    @on(DlqPane.Chosen)
    def _browse_dlq(self, message: DlqPane.Chosen) -> None:
        from console.screens.dlq_browse import DlqBrowseScreen

        try:
            store = self.dlq_store_for(message.kind, message.name)
        except ConsoleError as exc:
            self.notify(str(exc), severity="error")
            return
        timeout = self.settings.dlq.timeout * 2 if self.settings.dlq else 10.0
        self.push_screen(DlqBrowseScreen(store, self.open_dlq_action, timeout))

    def open_dlq_action(self, store: DeadLetterStore, verb: str, selection: Selection) -> None:
        """The dialog for `verb` on `store`; the browse screen reloads when the action changed anything."""
        from console.dlq_actions import DlqAction
        from console.screens.dlq_action import DlqActionScreen

        action = DlqAction(self.settings, store, verb, self.audit, selection)

        def finished(done: bool | None) -> None:
            if done and hasattr(self.screen, "refresh_after_action"):
                self.screen.refresh_after_action()
            if done and self.collector is not None:
                self.collector.refresh()

        self.push_screen(DlqActionScreen(action, self.write), finished)

    @on(BreakersPane.ActionRequested)
    def _breaker_action(self, message: BreakersPane.ActionRequested) -> None:
        from console.breaker_actions import BreakerAction
        from console.screens.breaker_action import BreakerActionScreen

        info = next(
            (
                r.info
                for r in self.board.breaker_rows()
                if r.info.name == message.name and r.info.source == message.source and r.info.service == message.service
            ),
            None,
        )
        if info is None:
            return
        action = BreakerAction(self.settings, info, message.verb, self.audit, now=self.clock)
        self.push_screen(BreakerActionScreen(action, self.write, self._breaker_done))

    def _breaker_done(self, action: BreakerAction) -> None:
        # A timed actuator force-open is ended by a detached reverter (console.breaker_revert), not by this
        # console: it must end even if the console is closed first.
        if self.collector is not None:
            self.collector.refresh()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_show_pane(self, pane_id: str) -> None:
        self._show_pane(pane_id)

    def _show_pane(self, pane_id: str) -> None:
        self._active = pane_id
        for pane in self.main_screen.query(Pane):
            pane.set_class(pane.id == pane_id, "-active")
        key = next(k for k, p, _, _ in PANES if p == pane_id)
        self.main_screen.query_one(SummaryBar).active = key
        target = self.main_screen.query_one(f"#{pane_id}", Pane)
        focusable = [w for w in target.query("*") if w.can_focus]
        if focusable:
            focusable[0].focus()
        elif target.can_focus:
            target.focus()

    @on(HealthPane.TargetChosen)
    def _open_target(self, message: HealthPane.TargetChosen) -> None:
        row = next((r for r in self.board.health_rows() if r.name == message.name), None)
        if row is not None:
            self.push_screen(HealthDetailScreen(row))

    @on(TrafficPane.ServiceChosen)
    def _open_service(self, message: TrafficPane.ServiceChosen) -> None:
        self.push_screen(
            TrafficRoutesScreen(
                message.service, self.board.traffic_routes(message.service), self.board.traffic_history(message.service)
            )
        )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh now", "Poll every source immediately (r)", self.action_refresh)
        yield SystemCommand("Pause / resume updates", "Stop or restart polling (p)", self.action_toggle_pause)
        yield SystemCommand("Key help", "Show every key (?)", self.action_help)
        yield SystemCommand("Write mode", "Enable (with a reason) or disable write mode (w)", self.action_toggle_write)
        if self.settings.redis_instances:
            yield SystemCommand(
                "Invalidate cache keys", "Preview, confirm and delete keys by pattern (i on Cache)", self._invalidate
            )
        for key, pane_id, name, _ in PANES:
            yield SystemCommand(
                f"Show {name} pane", f"Focus the {name} pane ({key})", lambda pane_id=pane_id: self._show_pane(pane_id)
            )


def make_app(
    settings: Settings,
    sources: Sequence[Source] = (),
    clock: Clock = utc_now,
    readings: Iterable[Reading] = (),
    collect: bool = True,
    source_factory: Callable[[], Sequence[Source]] | None = None,
) -> OpsConsoleApp:
    """The factory tests, the CLI and the snapshot fixtures share."""
    return OpsConsoleApp(settings, sources, clock, readings, collect, source_factory)
