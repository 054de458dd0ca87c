"""The Textual application: layout, keys, and routing readings from the collector to the panes.

No IO happens here: sources are handed in by `make_app`, the collector polls them in its own tasks on the UI
loop, and hands every reading straight to `take_reading`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual import on
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from console import gc_control
from console.errors import ConfigError, ConsoleError
from console.safety import WriteMode
from console.sanitize import clean
from console.screens.main_screen import MainScreen
from widgets.quiet_footer import QuietFooter

if TYPE_CHECKING:
    from console.adapters.dlq_base import DeadLetterStore, Selection
    from console.audit import audit_log_for
    from console.board import Board, assess_mongo
    from console.breaker_actions import BreakerAction
    from console.collector import Clock, Collector, Source, close_sources, utc_now
    from console.config import Settings
    from console.dlq import StoreCatalog
    from console.model import CacheStatus, QueueSnapshot, Reading, Status, TimelineEvent, TrafficSnapshot
    from console.recording import RecordingWriter
    from console.replay import ReplayDriver
    from console.screens.health_detail import HealthDetailScreen
    from console.screens.help import HelpScreen
    from console.screens.traffic_routes import TrafficRoutesScreen
    from console.screens.write_mode import WriteModeScreen
    from console.timeline import Timeline
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


def load_runtime() -> None:
    """Import the console's own modules into this one's namespace.

    They cost about as much again as Textual itself (dataclasses, tables, the config schema), so the CLI paints
    a skeleton first and calls this from a thread after the first frame; every other caller runs it at once.
    """
    from console.adapters.dlq_base import DeadLetterStore, Selection  # noqa: F401
    from console.audit import audit_log_for  # noqa: F401
    from console.board import Board, assess_cache, assess_mongo  # noqa: F401
    from console.collector import Clock, Collector, Source, close_sources, utc_now  # noqa: F401
    from console.model import (  # noqa: F401
        CacheStatus,
        QueueSnapshot,
        Reading,
        Status,
        TimelineEvent,
        TrafficSnapshot,
    )
    from console.replay import ReplayDriver  # noqa: F401
    from console.screens.health_detail import HealthDetailScreen  # noqa: F401
    from console.screens.help import HelpScreen  # noqa: F401
    from console.screens.traffic_routes import TrafficRoutesScreen  # noqa: F401
    from console.screens.write_mode import WriteModeScreen  # noqa: F401
    from console.timeline import Timeline  # noqa: F401
    from widgets.breakers_pane import BreakersPane  # noqa: F401
    from widgets.cache_pane import CachePane, CacheView  # noqa: F401
    from widgets.dlq_pane import DlqPane  # noqa: F401
    from widgets.env_banner import EnvBanner  # noqa: F401
    from widgets.health_pane import HealthPane  # noqa: F401
    from widgets.mongo_pane import MongoPane  # noqa: F401
    from widgets.pane import Pane  # noqa: F401
    from widgets.queues_pane import QueuesPane  # noqa: F401
    from widgets.summary_bar import SummaryBar  # noqa: F401
    from widgets.traffic_pane import TrafficPane  # noqa: F401
    from widgets.unconfigured_pane import UnconfiguredPane  # noqa: F401

    globals().update(locals())


# Below either size the screen shows one pane at a time plus a one-line summary of the rest.
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 30

# Readings kept in memory for the timeline's "jump to that moment": a reading is 2–6 KB, so this bounds the
# tape near 50 MB (about 15 minutes of the demo stack; less of a large fleet).
TAPE_READINGS = 10_000
REPLAY_TICK = 0.1  # seconds between replay steps
FREEZE_HEAP_AFTER = 3.0  # seconds after start: the panes have their first readings by then
WidgetT = TypeVar("WidgetT", bound=Widget)
TICK = 1.0  # seconds between ticks: ages, clock and the panes whose figures moved (a changed verdict does not wait)

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
class ActionJournaled(Message):
    """An action, dry-run or refusal reached the audit journal (posted from whichever thread ran it)."""

    record: dict[str, Any]


class OpsConsoleApp(App[int]):
    """One screen answering: what is broken right now."""

    TITLE = "opsconsole"
    ENABLE_COMMAND_PALETTE = True

    CSS = """
    Screen { layout: vertical; }
    #panes, #boot-panes {
        layout: grid;
        grid-size: 3 3;
        grid-rows: 2fr 1fr 1fr;
        grid-columns: 1fr 1fr 1fr;
        height: 1fr;
    }
    #health, #boot-health { column-span: 2; }
    #breakers, #boot-breakers { column-span: 2; }
    #boot-banner { height: 1; background: $panel; }
    #boot-summary { display: none; height: 1; color: $text-muted; }
    .boot-pane { border: round $panel-lighten-2; height: 1fr; padding: 0 1; color: $text-muted; }
    Screen.-compact #boot-summary { display: block; }
    Screen.-compact #boot-panes { layout: vertical; }
    Screen.-compact .boot-pane { display: none; }
    Screen.-compact #boot-health { display: block; }
    SummaryBar { display: none; }
    Screen.-compact SummaryBar { display: block; }
    Screen.-compact #panes { layout: vertical; }
    Screen.-compact #panes > Pane { display: none; }
    Screen.-compact #panes > Pane.-active { display: block; height: 1fr; }
    """

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh", show=False),  # in ? and the palette: the footer must fit 80 columns
        Binding("p", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Keys"),
        Binding("w", "toggle_write", "Write"),
        Binding("t", "timeline", "Timeline"),
        Binding("x", "export", "Export"),
        Binding("ctrl+r", "toggle_recording", "Record", show=False),
        Binding("L", "live", "Back to live"),
        Binding("space", "replay_play", "Play/pause", show=False),
        Binding("full_stop", "replay_step", "Step", show=False),
        Binding("comma", "replay_step_back", "Step back", show=False),
        Binding("right_square_bracket", "replay_seek(30)", "+30s", show=False),
        Binding("left_square_bracket", "replay_seek(-30)", "-30s", show=False),
        Binding("plus,equals_sign", "replay_speed(1)", "Faster", show=False),
        Binding("minus", "replay_speed(-1)", "Slower", show=False),
        Binding("g", "replay_edge('start')", "Start", show=False),
        Binding("G", "replay_edge('end')", "End", show=False),
        *(Binding(key, f"show_pane('{pane_id}')", name, show=False) for key, pane_id, name, _ in PANES),
    ]

    def __init__(
        self,
        settings: Settings | None,
        sources: Sequence[Source] = (),
        clock: Clock | None = None,
        readings: Iterable[Reading] = (),
        collect: bool = True,
        source_factory: Callable[[], Sequence[Source]] | None = None,
        replay: ReplayDriver | None = None,
        panes: Sequence[str] | None = None,
        replay_title: str = "",
        settings_loader: Callable[[], Settings] | None = None,
        write_reason: str = "",
    ) -> None:
        super().__init__()
        # Building sources imports every client library (~0.3 s): the CLI hands a factory that runs
        # after the first frame, in a thread. It hands `settings_loader` instead of settings for the same
        # reason: the config schema and the console's modules are loaded after a skeleton is on screen.
        self._source_factory = source_factory
        self._settings_loader = settings_loader
        self._write_reason = write_reason
        self.boot_error: ConfigError | None = None  # a broken config found after the first frame (the CLI reports it)
        self._sources = list(sources)
        self._initial = list(readings)
        self._collect = collect
        self._active = "health"
        self._journal_problem: str | None = None
        self._catalog: StoreCatalog | None = None
        self.replay = replay
        self.replaying_file = replay is not None  # a recording: no live data behind it, no actions at all
        self.replay_title = replay_title
        self._panes = tuple(panes) if panes is not None else None
        self.recorder: RecordingWriter | None = None
        self.exports: list[Path] = []
        self._dirty: set[str] = set()  # panes whose readings arrived since their last repaint
        self.reading_observers: list[Callable[[Reading], None]] = []  # see every reading first (tests, tools)
        self.collector: Collector | None = None
        self._heap_frozen = False
        self._panes_ready = False  # `_start` ran: readings go to the panes, keys to their actions
        self._found: dict[type[Widget], Widget | None] = {}  # `_one`
        self._all_panes: list[Pane] | None = None  # `_pane_widgets`
        self._build_error: Exception | None = None
        self._collecting = False
        self.attached = False
        if settings is not None:
            load_runtime()
            self._use_settings(settings, clock or utc_now)
        elif settings_loader is None:
            raise ValueError("OpsConsoleApp needs settings or a settings_loader")
        else:
            self._clock = clock

    def _use_settings(self, settings: Settings, clock: Clock) -> None:
        """Everything that needs the settings (and the modules `load_runtime` brings)."""
        self.settings = settings
        self.clock = clock
        self.board = Board(history=settings.history, traffic=settings.traffic, cache=settings.env.cache)
        self.write = WriteMode(clock=clock)
        self.write.listeners.append(self._show_write_mode)
        self.audit = audit_log_for(settings)
        # Which store backs a DLQ row; snapshot tests put fixed letters here.
        self.dlq_store_for: Callable[[str, str], DeadLetterStore] = self._catalog_store
        self._expect_sources()
        # What the panes show is `board`; readings always land in `live_board`. They differ while a
        # recording is replayed or a past moment is reviewed (`replay` set).
        self.live_board = self.board
        self.timeline = Timeline()
        self.tape: deque[Reading] = deque(maxlen=TAPE_READINGS)
        self.audit.listeners.append(self._journaled)
        self.attached = True

    def _expect_sources(self) -> None:
        for source in self._sources:
            self.board.expect(source.name, source.kind)

    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver":  # not a driver chosen through TEXTUAL_DRIVER, not Windows
            from console.term_output import QuietLinuxDriver

            return QuietLinuxDriver
        return driver

    def _journaled(self, record: dict[str, Any]) -> None:
        self.post_message(ActionJournaled(record))  # thread-safe: actions may run in worker threads

    def _configured(self, kind: str) -> bool:
        """Whether a pane has a backend: from the settings, or (replays) from the recording's header."""
        if self._panes is not None:
            return kind in self._panes
        env = self.settings.env
        return {
            "traffic": self.settings.traffic is not None,
            "cache": bool(self.settings.redis_instances),
            "queues": env.rabbitmq is not None or env.bullmq is not None or env.lists is not None,
            "dlq": self.settings.dlq is not None,
            "breakers": env.breakers is not None,
            "mongo": env.mongo is not None,
        }.get(kind, True)

    def now(self) -> datetime:
        """The moment the panes show: the replayed one, else the clock."""
        return self.replay.now() if self.replay is not None else self.clock()

    # --- layout ---------------------------------------------------------------------------------------

    @property
    def main_screen(self) -> Screen:
        """Readings keep arriving while a dialog is open: always address the main screen's widgets."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    def _one(self, cls: type[WidgetT]) -> WidgetT | None:
        """The main screen's only `cls` widget (None: it has none), found once the panes are up.

        A query walks the whole DOM through the CSS matcher; the panes were looked up that way some twenty
        times a second, a tenth of the UI's steady CPU (measured). The panes are mounted once (`_boot`) and
        never replaced, so a lookup made after `_start` holds for the app's life."""
        if cls in self._found:
            return self._found[cls]  # type: ignore[return-value]
        matches = self.main_screen.query(cls)
        widget = matches.first() if matches else None
        if self._panes_ready:
            self._found[cls] = widget
        return widget

    def _pane_widgets(self) -> list[Pane]:
        if self._panes_ready and self._all_panes is not None:
            return self._all_panes
        panes = list(self.main_screen.query(Pane))
        if self._panes_ready:
            self._all_panes = panes
        return panes

    def compose(self) -> ComposeResult:
        if not self.attached:
            yield from self._skeleton()
            return
        yield from self._console_widgets()

    def _console_widgets(self) -> Iterable[Widget]:
        yield EnvBanner(id="banner")
        yield SummaryBar(id="summary")
        yield Container(
            HealthPane(id="health"),
            TrafficPane(id="traffic") if self._configured("traffic") else self._unconfigured(1),
            CachePane(id="cache") if self._configured("cache") else self._unconfigured(2),
            QueuesPane(id="queues") if self._configured("queues") else self._unconfigured(3),
            DlqPane(id="dlq") if self._configured("dlq") else self._unconfigured(4),
            BreakersPane(id="breakers") if self._configured("breakers") else self._unconfigured(5),
            MongoPane(id="mongo") if self._configured("mongo") else self._unconfigured(6),
            id="panes",
        )
        yield QuietFooter()

    @staticmethod
    def _skeleton() -> Iterable[Widget]:
        """The first frame: the layout with every pane's title, before the config and the console's modules
        are loaded (Textual alone is on screen in about the time a bare Textual app takes)."""
        yield Static(" opsconsole │ starting…", id="boot-banner")
        yield Static(" ".join(f"{key}:{name}" for key, _, name, _ in PANES), id="boot-summary")
        yield Container(
            *(Static("starting…", classes="boot-pane", id=f"boot-{pane_id}") for _, pane_id, _, _ in PANES),
            id="boot-panes",
        )
        yield QuietFooter()

    @staticmethod
    def _unconfigured(index: int) -> UnconfiguredPane:
        key, pane_id, name, hint = PANES[index]
        return UnconfiguredPane("MongoDB" if pane_id == "mongo" else name, key, hint, id=pane_id)

    def _fatal_error(self) -> None:
        """Textual's crash report prints every frame's local variables — the settings, passwords and tokens
        included — to a terminal others may be watching: report frames and scrubbed messages only."""
        import sys

        from console.config_checks import secret_values
        from console.crash import crash_renderable

        self.bell()
        secrets = secret_values(self.settings) if self.attached else ()
        self.panic(crash_renderable(sys.exc_info(), secrets))

    def on_mount(self) -> None:
        self._layout_for(self.size.width, self.size.height)
        if not self.attached:
            for key, pane_id, name, _ in PANES:
                self.query_one(f"#boot-{pane_id}").border_title = f"{key} {name}"
            # A worker, not a callback: the app keeps handling keys (q) while the config loads.
            self.call_after_refresh(lambda: self.run_worker(self._boot(), name="boot", group="boot"))
            return
        self._start()

    async def _boot(self) -> None:
        """After the first frame: load the config and the console's modules, then swap the skeleton for the panes."""
        assert self._settings_loader is not None
        try:
            settings = await asyncio.to_thread(self._load_settings, self._settings_loader)
            self._use_settings(settings, self._clock or utc_now)
            if self._write_reason:
                self.write.enable(self._write_reason, settings.write_minutes)
        except ConfigError as error:
            self.boot_error = error
            self.exit(return_code=2)
            return
        if self._collect and self._source_factory is not None:
            # Still behind the skeleton, while the UI thread is idle: building the sources imports every client
            # library (~0.35 s), which took twice as long competing for the GIL with the panes' first paint.
            try:
                self._sources = list(await asyncio.to_thread(self._source_factory))
            except Exception as exc:  # noqa: BLE001 - the collector worker reports it, once the panes are up
                self._build_error = exc
            else:
                self._source_factory = None
                self._expect_sources()
                # The first polls (connections, discovery) run while the panes mount and paint; what they
                # read before the panes are up is applied when they are (`_start`).
                self._start_collection()
        # The main screen's, even if a key opened a dialog meanwhile (keys other than q wait for `_start`).
        screen = self.main_screen
        await screen.query("#boot-banner, #boot-summary, #boot-panes").remove()
        await screen.mount_all(self._console_widgets(), before=screen.query_one(Footer))
        self._start()

    @staticmethod
    def _load_settings(loader: Callable[[], Settings]) -> Settings:
        load_runtime()
        return loader()

    def _start(self) -> None:
        banner = self.main_screen.query_one(EnvBanner)
        env = self.settings.env
        banner.env_label = env.name if env.label in ("", env.name) else f"{env.name} ({env.label})"
        banner.protected = env.protected
        self._show_pane(self._active)
        self._panes_ready = True
        initial, self._initial = self._initial, []
        for reading in initial:
            self.board.apply(reading)
            self.timeline.observe(reading, self.board)
            self.tape.append(reading)
        self.board.take_breaker_changes()  # history, not news: only live transitions are announced
        if self.replay is not None:
            self._start_replay()
        self._refresh_all()
        self._tick()
        # A refresh faster than a second (`refresh = 0.5`) is shown as fast: the tick follows it.
        self.set_interval(min(TICK, self.settings.refresh), self._tick, name="tick")
        # Once the panes hold their first readings, the start-up heap is frozen (see console.gc_control).
        self.set_timer(FREEZE_HEAP_AFTER, self._freeze_heap)
        from console.config_checks import tls_opt_outs

        banner.tls_off = bool(tls_opt_outs(self.settings))  # an opt-out stays visible, not just notified once
        # The permission check stats and reads the config file: in a thread, not before the first paint.
        self.run_worker(self._config_warnings, thread=True, group="config", exit_on_error=False)
        if self._collect and not self._collecting and (self._sources or self._source_factory is not None):
            # Paint first; connect after the first frame so start-up is never held by a slow backend.
            self.call_after_refresh(self._start_collection)

    def _config_warnings(self) -> None:
        from console.config_checks import config_warnings

        for warning in config_warnings(self.settings):  # TLS opt-outs, a readable file holding secrets
            text = clean(warning, 300)
            self.call_from_thread(
                lambda text=text: self.notify(text, title="config", severity="warning", timeout=30, markup=False)
            )

    def _start_collection(self) -> None:
        self._collecting = True
        self.run_worker(self._run_collection(), name="collector", group="poll", exit_on_error=False)

    async def _run_collection(self) -> None:
        if self._build_error is not None:
            raise self._build_error  # from `_boot`: reported by `_worker_changed`
        if self._source_factory is not None:
            self._sources = list(await asyncio.to_thread(self._source_factory))
            self._source_factory = None
            self._expect_sources()
        if not self._sources:
            return
        self.collector = Collector(self._sources, self._emit, clock=self.clock)
        await self.collector.run()

    def _emit(self, reading: Reading) -> None:
        """The collector's tasks run on the UI loop: a reading is taken at once, not posted as a message
        (Textual's dispatch of ~10 messages a second was a tenth of the console's steady CPU)."""
        try:
            self.take_reading(reading)
        except Exception as error:  # noqa: BLE001 - as a failing message handler would: the app exits, loudly
            self._handle_exception(error)

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        self.main_screen.set_class(width < COMPACT_WIDTH or height < COMPACT_HEIGHT, "-compact")

    # --- readings -------------------------------------------------------------------------------------

    def take_reading(self, reading: Reading) -> None:
        """Apply a reading to the board and the panes; `reading_observers` see it first."""
        for observer in self.reading_observers:
            observer(reading)
        if not self._panes_ready:  # polled while the panes mount: `_start` applies it with the rest
            self._initial.append(reading)
            return
        board = self.live_board
        before = board.readings.get(reading.source)
        was = board.status_of(before) if before is not None and self.replay is None else None
        board.apply(reading)
        self.tape.append(reading)
        self.timeline.observe(reading, board)
        if self.recorder is not None:
            self._record(reading)
        changes = board.take_breaker_changes()
        if self.replay is not None:
            return  # a past moment is on screen: the live board keeps up, the panes wait for `L`
        for info, before_state in changes:
            opened = info.state.value in ("OPEN", "FORCED_OPEN")
            self.notify(
                clean(f"breaker {info.service}/{info.name}: {before_state.value} → {info.state.value}", 120),
                severity="error" if opened else "information",
                timeout=8,
                markup=False,  # names come from the services: text, not markup
            )
        # A verdict that changed is shown at once; figures that merely moved wait for the pane's next repaint.
        self._pane_changed(reading.kind, urgent=bool(changes) or was is not board.status_of(reading))

    def _pane_changed(self, kind: str, urgent: bool = False) -> None:
        """Repaint `kind`'s pane now if `urgent`, else on the next tick with every other pane whose readings
        arrived: about ten sources report per second, and a repaint per reading rewrote the Health pane seven
        times a second. Painting with the tick's ages and clock makes one screen update a second, not two."""
        if urgent:
            self._dirty.discard(kind)
            self._paint({kind})
            return
        self._dirty.add(kind)

    def _repaint_dirty(self, now: datetime | None = None) -> None:
        kinds, self._dirty = self._dirty, set()
        if kinds and self.replay is None:  # a review's rebuild repainted everything already
            self._paint(kinds, now)

    def _paint(self, kinds: set[str], now: datetime | None = None) -> None:
        try:
            for kind in kinds:
                self._refresh_kind(kind, now)
            self._refresh_summary()
        except (NoMatches, ScreenStackError):
            pass  # the app is shutting down and its widgets are gone; the board still has the reading

    def _refresh_all(self) -> None:
        for kind in ("health", "mongo", "traffic", "cache", "queues", "dlq", "breakers"):
            self._refresh_kind(kind)
        self._refresh_summary()

    def _refresh_kind(self, kind: str, now: datetime | None = None) -> None:
        """Show the board's `kind` rows in their pane. `now`: the tick's, so the tick's own `now` for every
        pane afterwards changes nothing (a new one refreshed the Breakers and DLQ tables a second time)."""
        now = now or self.now()
        if kind == "health":
            pane = self._one(HealthPane)
            if pane is None:
                return
            rows = self.board.health_rows()
            pane.rows = tuple(rows)
            pane.status = max((r.status for r in rows), key=lambda s: s.rank, default=Status.UNKNOWN)
            pane.state = self.board.pane_state("health")
            pane.now = now
        elif kind == "traffic":
            traffic_pane = self._one(TrafficPane)
            traffic = self.board.traffic_reading()
            if traffic_pane is None or traffic is None:
                return
            traffic_rows = self.board.traffic_rows()
            snapshot = traffic.value if isinstance(traffic.value, TrafficSnapshot) else None
            traffic_pane.status = self.board.status_of(traffic)
            traffic_pane.mode = snapshot.mode if snapshot else ""
            traffic_pane.note = snapshot.note if snapshot else ""
            with traffic_pane.held():
                traffic_pane.histories = {r.service: self.board.traffic_history(r.service) for r in traffic_rows}
                traffic_pane.rows = tuple(traffic_rows)
            traffic_pane.state = self.board.pane_state("traffic")
            traffic_pane.now = now
        elif kind == "queues":
            queue_pane = self._one(QueuesPane)
            if queue_pane is None:
                return
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
            dlq_pane = self._one(DlqPane)
            if dlq_pane is None:
                return
            dlq_rows = self.board.dlq_rows()
            dlq_pane.status = self._pane_status("dlq") or Status.OK  # an unreadable source counts too
            with dlq_pane.held():  # rows and the ages' moment: one table rebuild
                dlq_pane.rows = tuple(dlq_rows)
                dlq_pane.state = self.board.pane_state("dlq")
                dlq_pane.now = now
            total = sum(r.info.count for r in dlq_rows)
            dlq_pane.set_title(f"5 DLQ · {total:,} letters in {len(dlq_rows)}" if dlq_rows else "5 DLQ")
        elif kind == "breakers":
            breaker_pane = self._one(BreakersPane)
            if breaker_pane is None:
                return
            breaker_rows = self.board.breaker_rows()
            breaker_pane.status = self._pane_status("breakers") or Status.OK  # an unreadable source counts too
            with breaker_pane.held():  # rows and the ages' moment: one table rebuild
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
            cache_pane = self._one(CachePane)
            readings = self.board.cache_readings()
            if cache_pane is None or not readings:
                return
            views = []
            for reading in readings:
                status = self.board.status_of(reading)
                findings: tuple[str, ...] = ()
                history: dict[str, tuple[float | None, ...]] = {}
                if isinstance(reading.value, CacheStatus):
                    findings = tuple(self.board.assess_cache(reading)[1])
                    history = {
                        n.name: self.board.namespace_history(reading.value.instance, n.name)
                        for n in reading.value.namespaces
                    }
                elif reading.error:
                    findings = (f"{reading.source.removeprefix('cache:')}: {reading.error}",)
                views.append(CacheView(reading, status, findings, history))
            cache_pane.status = max((v.status for v in views), key=lambda s: s.rank)
            cache_pane.views = tuple(sorted(views, key=lambda v: -v.status.rank))
            cache_pane.state = self.board.pane_state("cache")
            cache_pane.now = now
        elif kind == "mongo":
            mongo_pane = self._one(MongoPane)
            readings = self.board.mongo_readings()
            if mongo_pane is None or not readings:
                return
            reading = readings[0]
            mongo_pane.status = self.board.status_of(reading)
            mongo_pane.findings = tuple(assess_mongo(reading.value)[1]) if reading.value is not None else ()
            mongo_pane.reading = reading
            mongo_pane.state = self.board.pane_state("mongo")
            mongo_pane.now = now

    def _pane_status(self, pane_id: str, judged: list[tuple[str, Status]] | None = None) -> Status | None:
        """The worst verdict of a pane's readings (None: the pane has no sources). `judged` reuses verdicts
        already worked out for every reading."""
        if pane_id not in set(self.board.expected.values()):
            return None
        if judged is None:
            judged = [(r.kind, self.board.status_of(r)) for r in self.board.readings.values() if r.kind == pane_id]
        statuses = [status for kind, status in judged if kind == pane_id]
        return max(statuses, key=lambda s: s.rank) if statuses else Status.UNKNOWN

    def _refresh_summary(self) -> None:
        # One verdict per reading, shared by the per-pane items and the banner's counts.
        judged = [(reading.kind, self.board.status_of(reading)) for reading in self.board.readings.values()]
        items = tuple((key, name, self._pane_status(pane_id, judged)) for key, pane_id, name, _ in PANES)
        summary, banner = self._one(SummaryBar), self._one(EnvBanner)
        if summary is None or banner is None:
            return
        summary.items = items
        counts = {s: 0 for s in Status}
        for _kind, status in judged:
            counts[status] += 1
        bad = [f"{counts[s]} {s.value}" for s in (Status.CRIT, Status.WARN, Status.UNKNOWN) if counts[s]]
        banner.overall = " · ".join(bad) if bad else ("all ok" if self.board.readings else "")

    def _tick(self) -> None:
        """Once a second: the panes whose figures moved, ages in pane subtitles (only repainted when their
        text changes) and the clock."""
        now = self.now()
        if not self.screen_stack:
            return
        self._repaint_dirty(now)
        for pane in self._pane_widgets():
            pane.now = now
        banner = self._one(EnvBanner)
        if banner is not None:
            banner.clock = self.clock().strftime("%H:%M UTC")
            banner.recording = self.recorder is not None
        if self.write.until is not None and not self.write.active():
            self.write.disable()
            self.notify("write mode expired: back to read-only", severity="warning")
        self._show_write_mode()
        problem = self.audit.mirror_problem()
        if problem and problem != self._journal_problem:
            self.notify(problem, severity="warning", timeout=10, markup=False)  # the record is spooled, never dropped
        self._journal_problem = problem

    def _show_write_mode(self) -> None:
        try:
            banner = self._one(EnvBanner)
        except ScreenStackError:
            banner = None
        if banner is None:
            return  # enabled before the screen opens (--write): on_mount's first tick shows it
        banner.write_until = self.write.until.strftime("%H:%M") if self.write.active() and self.write.until else ""

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            from console.config_checks import secret_values
            from console.secrets import redact_text

            secrets = secret_values(self.settings) if self.attached else ()
            text = redact_text(f"{event.worker.name} stopped: {event.worker.error}", secrets)
            self.notify(clean(text, 300), severity="error", timeout=10, markup=False)  # foreign text: no markup

    # --- actions --------------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Poll every source now."""
        if self.collector is not None:
            self.collector.refresh()
        self.notify("refreshing every source", timeout=2)

    def action_toggle_pause(self) -> None:
        """Stop / restart polling; the banner shows PAUSED meanwhile. In a replay: play / pause."""
        if self.replay is not None:
            self.action_replay_play()
            return
        banner = self.main_screen.query_one(EnvBanner)
        banner.paused = not banner.paused
        if self.collector is not None:
            (self.collector.pause if banner.paused else self.collector.resume)()

    def action_toggle_write(self) -> None:
        """Read-only by default; write mode needs a reason and expires by itself."""
        if self._refuse_in_replay():
            return
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

    def on_queues_pane_action_requested(self, message: QueuesPane.ActionRequested) -> None:
        # Actions pull in the Redis / AMQP / BullMQ clients: imported on first use, not before first paint.
        from console.queue_actions import QueueAction
        from console.screens.queue_action import QueueActionScreen

        if self._refuse_in_replay():
            return
        verb = "resume" if message.verb == "pause" and message.paused else message.verb
        action = QueueAction(self.settings, verb, message.kind, message.queue, self.audit)
        self.push_screen(QueueActionScreen(action, self.write))

    def on_cache_pane_invalidate_requested(self) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        instances = self.settings.redis_instances
        if not instances or self._refuse_in_replay():
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

    def _freeze_heap(self) -> None:
        if gc_control.HOLD.held:  # a screen is painting against its budget: not now
            self.set_timer(1.0, self._freeze_heap)
            return
        gc_control.freeze_heap()
        self._heap_frozen = True

    async def on_unmount(self) -> None:
        if self._heap_frozen:
            gc_control.thaw_heap()
        if self.collector is None and self._sources and self._collecting:
            # Quit while booting: the collector never ran (it closes the sources on its way out), these did.
            await close_sources(self._sources)
        # The stores the DLQ screens browsed hold Redis pools and HTTP clients: closed with the app, not leaked.
        catalog, self._catalog = self._catalog, None
        if catalog is not None:
            try:
                await catalog.aclose()
            except Exception:  # noqa: BLE001, S110 - shutting down: a broken client is dropped either way
                pass

    def _catalog_store(self, kind: str, name: str) -> DeadLetterStore:
        return self._dlq_catalog().get(kind, name)  # type: ignore[no-any-return]

    def on_dlq_pane_chosen(self, message: DlqPane.Chosen) -> None:
        from console.screens.dlq_browse import DlqBrowseScreen

        if self._refuse_in_replay():
            return

        try:
            store = self.dlq_store_for(message.kind, message.name)
        except ConsoleError as exc:
            self.notify(str(exc), severity="error", markup=False)
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

    def on_breakers_pane_action_requested(self, message: BreakersPane.ActionRequested) -> None:
        from console.breaker_actions import BreakerAction
        from console.screens.breaker_action import BreakerActionScreen

        if self._refuse_in_replay():
            return

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

    # --- timeline, replay, recording, export ------------------------------------------------------------

    def _refuse_in_replay(self) -> bool:
        """Actions act on the systems as they are now: never from a replay or a reviewed past moment."""
        if self.replay is None:
            return False
        if self.replaying_file:
            self.notify("REPLAY: actions are disabled (this is a recording)", severity="warning")
        else:
            self.notify("reviewing a past moment: press L for live before acting", severity="warning")
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self._panes_ready:
            return action == "quit"  # the skeleton: keys wait for the panes (a few tenths of a second)
        if action.startswith("replay_"):
            return self.replay is not None
        if action == "live":
            return self.replay is not None and not self.replaying_file
        if action == "toggle_recording":
            return not self.replaying_file
        return True

    def _start_replay(self) -> None:
        assert self.replay is not None
        self._replay_rebuild(self.replay.seek(self.replay.now()))
        if self.replaying_file:
            self.set_interval(REPLAY_TICK, self._replay_tick)

    def _replay_tick(self) -> None:
        if self.replay is None:
            return
        due = self.replay.advance(REPLAY_TICK)
        if due:
            self._replay_apply(due)
        self._show_replay_state()

    def _replay_apply(self, readings: list[Reading]) -> None:
        kinds = set()
        for reading in readings:
            self.board.apply(reading)
            kinds.add(reading.kind)
        self.board.take_breaker_changes()
        try:
            for kind in kinds:
                self._refresh_kind(kind)
            self._refresh_summary()
        except (NoMatches, ScreenStackError):
            pass

    def _replay_rebuild(self, readings: list[Reading]) -> None:
        """Going back in time: a fresh board from the first reading up to the new moment."""
        settings = self.settings
        self.board = Board(history=settings.history, traffic=settings.traffic, cache=settings.env.cache)
        for name, kind in self.live_board.expected.items():
            self.board.expect(name, kind)
        for reading in readings:
            self.board.apply(reading)
        self.board.take_breaker_changes()
        try:
            self._refresh_all()
        except (NoMatches, ScreenStackError):
            pass
        self._show_replay_state()

    def _show_replay_state(self) -> None:
        try:
            banner = self.main_screen.query_one(EnvBanner)
        except (NoMatches, ScreenStackError):
            return  # not composed yet, or shutting down
        if self.replay is None:
            banner.replay = ""
            return
        label = "REPLAY" if self.replaying_file else "PAST"
        banner.replay = f"{label} {self.replay.describe()}"
        for pane in self.main_screen.query(Pane):
            pane.now = self.replay.now()

    def action_replay_play(self) -> None:
        if self.replay is not None:
            if self.replay.finished and self.replay.paused is False:
                self._replay_rebuild(self.replay.seek(self.replay.first))
            self.replay.paused = not self.replay.paused
            self._show_replay_state()

    def action_replay_step(self) -> None:
        if self.replay is not None:
            self.replay.paused = True
            self._replay_apply(self.replay.step())
            self._show_replay_state()

    def action_replay_step_back(self) -> None:
        if self.replay is not None:
            self.replay.paused = True
            self._replay_rebuild(self.replay.step_back())

    def action_replay_seek(self, seconds: float) -> None:
        if self.replay is None:
            return
        target = self.replay.now() + timedelta(seconds=seconds)
        if seconds > 0:
            self._replay_apply(self.replay.seek_forward(target))
            self._show_replay_state()
        else:
            self._replay_rebuild(self.replay.seek(target))

    def action_replay_speed(self, direction: int) -> None:
        if self.replay is not None:
            speed = self.replay.faster() if direction > 0 else self.replay.slower()
            self._show_replay_state()
            self.notify(f"replay speed ×{speed:g}", timeout=2)

    def action_replay_edge(self, edge: str) -> None:
        if self.replay is not None:
            self._replay_rebuild(self.replay.seek(self.replay.first if edge == "start" else self.replay.last))

    def review(self, moment: datetime) -> None:
        """Show the screen as it was at `moment` (from the in-memory tape), paused there; `L` returns."""
        if self.replaying_file and self.replay is not None:
            self._replay_rebuild(self.replay.seek(moment))
            return
        if not self.tape:
            return
        self.replay = ReplayDriver(list(self.tape), start=moment)
        self.replay.paused = True
        self._replay_rebuild(self.replay.seek(moment))

    def action_live(self) -> None:
        if self.replay is None or self.replaying_file:
            return
        self.replay = None
        self.board = self.live_board
        self._refresh_all()
        self._show_replay_state()
        self._tick()

    def action_timeline(self) -> None:
        from console.screens.timeline import TimelineScreen

        title = f"replay of {self.replay_title}" if self.replaying_file and self.replay_title else ""

        def jump(event: TimelineEvent | None) -> None:
            if event is None:
                return
            self.review(event.at)
            self._show_pane(event.lane if event.lane in {p for _, p, _, _ in PANES} else "health")
            where = "replay" if self.replaying_file else "the screen"
            back = "" if self.replaying_file else " · L: live"
            self.notify(f"{where} at {event.at.strftime('%H:%M:%S')}: {event.lane}{back}", timeout=4)

        self.push_screen(TimelineScreen(self.timeline.ordered(), title), jump)
        if not self.replaying_file:
            self.run_worker(self._journal_actions, thread=True, group="journal", exclusive=True, exit_on_error=False)

    def _journal_actions(self) -> None:
        """Actions other consoles on this host journaled while this one ran (read in a thread: file IO)."""
        from console.audit import tail_records

        since = self.tape[0].at if self.tape else self.clock() - timedelta(hours=1)
        records = [r for r in tail_records(self.audit.path) if str(r.get("at", "")) >= since.isoformat()]
        self.call_from_thread(self._add_actions, records)

    def _add_actions(self, records: list[dict[str, Any]]) -> None:
        from console.screens.timeline import TimelineScreen

        screen: Any = self.screen
        if self.timeline.extend_actions(records) and isinstance(screen, TimelineScreen):
            screen.show(self.timeline.ordered())

    @on(ActionJournaled)
    def _action_journaled(self, message: ActionJournaled) -> None:
        self.timeline.observe_action(message.record)
        if self.recorder is not None:
            from console.audit import record_time

            self.recorder.action(message.record, record_time(message.record) or self.clock())

    def action_toggle_recording(self) -> None:
        """Start (or stop) writing every reading and action to a compressed recording."""
        if self.replaying_file:
            return
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            recorder.close()
            self.notify(f"recording stopped: {recorder.count} readings in {recorder.path}", timeout=8)
            self._tick()
            return
        from console.audit import default_path
        from console.config_checks import secret_values
        from console.recording import RecordingError, RecordingWriter, header_for

        name = f"opsconsole-{self.settings.env.name}-{self.clock():%Y%m%d-%H%M%S}.jsonl.gz"
        path = default_path().parent / "recordings" / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            header = header_for(self.settings, dict(self.live_board.expected))
            self.recorder = RecordingWriter(path, header, secret_values(self.settings))
        except (RecordingError, OSError) as exc:
            self.notify(f"cannot record: {exc}", severity="error")
            return
        for reading in self.live_board.readings.values():  # the recording opens on the current picture
            self._record(reading)
        self.notify(f"recording to {path} (ctrl+r stops)", timeout=8)
        self._tick()

    def _record(self, reading: Reading) -> None:
        assert self.recorder is not None
        try:
            self.recorder.reading(reading)
        except OSError as exc:
            recorder, self.recorder = self.recorder, None
            self.notify(f"recording stopped: cannot write {recorder.path}: {exc}", severity="error", timeout=10)

    def action_export(self) -> None:
        """Write the findings on screen as Markdown plus an SVG screenshot, for the ticket."""
        from console.config_checks import secret_values
        from console.findings import findings_markdown

        at = self.now()
        note = ""
        if self.replay is not None:
            note = f"replay of {self.replay_title}" if self.replaying_file else "a past moment of this session"
        env = self.settings.env
        secrets = secret_values(self.settings)
        markdown = findings_markdown(self.board, self.timeline.ordered(), env.name, at, env.protected, note, secrets)
        svg = self.export_screenshot(title=f"opsconsole · {env.name} · {at:%Y-%m-%d %H:%M:%S} UTC")
        self.run_worker(
            lambda: self._write_export(markdown, svg, at, secrets), thread=True, group="export", exit_on_error=False
        )

    def _write_export(self, markdown: str, svg: str, at: datetime, secrets: tuple[str, ...]) -> None:
        from console.findings import export_dir
        from console.secrets import redact_text

        folder = export_dir()
        stem = f"opsconsole-{self.settings.env.name}-{at:%Y%m%d-%H%M%S}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            md_path, svg_path = folder / f"{stem}.md", folder / f"{stem}.svg"
            md_path.write_text(markdown, encoding="utf-8")
            svg_path.write_text(redact_text(svg, secrets), encoding="utf-8")
        except OSError as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error", timeout=10)
            return
        self.exports.extend([md_path, svg_path])
        self.call_from_thread(self.notify, f"findings written to {md_path} (+ .svg)", timeout=10)

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

    def on_health_pane_target_chosen(self, message: HealthPane.TargetChosen) -> None:
        row = next((r for r in self.board.health_rows() if r.name == message.name), None)
        if row is not None:
            self.push_screen(HealthDetailScreen(row))

    def on_traffic_pane_service_chosen(self, message: TrafficPane.ServiceChosen) -> None:
        self.push_screen(
            TrafficRoutesScreen(
                message.service, self.board.traffic_routes(message.service), self.board.traffic_history(message.service)
            )
        )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not self._panes_ready:
            return
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
        yield SystemCommand("Timeline", "Every change across every pane on one time axis (t)", self.action_timeline)
        yield SystemCommand("Export findings", "Markdown + SVG screenshot for the ticket (x)", self.action_export)
        if not self.replaying_file:
            yield SystemCommand(
                "Start / stop recording",
                "Write every reading and action to a file (ctrl+r)",
                self.action_toggle_recording,
            )
        if self.settings.env.demo_control and not self.replaying_file:
            from console.demo.incidents import INCIDENTS

            for name, incident in INCIDENTS.items():
                yield SystemCommand(
                    f"Demo incident: {name}", incident.summary, lambda name=name: self.start_demo_incident(name)
                )
            yield SystemCommand(
                "Demo incident: clear", "End every demo incident", lambda: self.start_demo_incident("clear")
            )

    def start_demo_incident(self, name: str) -> None:
        """Ask the demo stack's control endpoint to start an incident (in a thread, with a timeout)."""
        url = f"{(self.settings.env.demo_control or '').rstrip('/')}/incidents/{name}"

        def post() -> None:
            import httpx

            try:
                response = httpx.post(url, timeout=5.0, trust_env=False)
                ok = response.status_code == 200
                detail = "" if ok else response.json().get("error", response.text)
            except (httpx.HTTPError, ValueError) as exc:
                ok, detail = False, f"demo stack not reachable ({type(exc).__name__})"
            if ok:
                verb = "cleared" if name == "clear" else "started: watch the first screen"
                self.call_from_thread(self.notify, f"demo incident {name} {verb}", timeout=6)
            else:
                self.call_from_thread(self.notify, f"demo incident {name}: {clean(detail, 200)}", severity="error")

        self.run_worker(post, thread=True, group="demo", exit_on_error=False)


def make_app(
    settings: Settings,
    sources: Sequence[Source] = (),
    clock: Clock | None = None,
    readings: Iterable[Reading] = (),
    collect: bool = True,
    source_factory: Callable[[], Sequence[Source]] | None = None,
    replay: ReplayDriver | None = None,
    panes: Sequence[str] | None = None,
    replay_title: str = "",
) -> OpsConsoleApp:
    """The factory tests, the CLI and the snapshot fixtures share."""
    return OpsConsoleApp(settings, sources, clock, readings, collect, source_factory, replay, panes, replay_title)
