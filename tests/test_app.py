"""Behaviour of the real app under `run_test`: live readings, keys, layout, faults. Asserts on state, not pixels."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from console.app import OpsConsoleApp, make_app
from console.config import Environment, HealthTargetConfig, Settings
from console.demo.backend import DemoStack
from console.model import HealthTarget, ProbeResult, Reading, Status
from console.screens.health_detail import HealthDetailScreen
from console.screens.help import HelpScreen
from console.sources import build_sources
from tests.fixtures.scenes import make_scene_app
from widgets.breakers_pane import BreakersPane
from widgets.dlq_pane import DlqPane
from widgets.env_banner import EnvBanner
from widgets.health_pane import HealthPane
from widgets.pane import Pane
from widgets.traffic_pane import TrafficPane


@pytest.fixture
def demo_stack() -> Iterator[DemoStack]:
    for _attempt in range(20):
        stack = DemoStack(base=random.randint(20000, 40000))
        try:
            stack.start()
        except OSError:
            stack.stop()
            continue
        yield stack
        stack.stop()
        return
    pytest.skip("no free port range for the demo stack")


def demo_settings(stack: DemoStack, interval: float = 0.2) -> Settings:
    targets = tuple(
        HealthTargetConfig(
            name=s.name,
            interval=interval,
            timeout=1.0,
            **{("url" if k == "health" else k): stack.url(s, k) for k in s.paths},
        )
        for s in stack.services.values()
    )
    return Settings(env=Environment(name="test", health=targets), environments=("test",))


async def wait_for(predicate, pilot, limit: int = 400) -> None:
    """Let the app run until `predicate()` holds; fails after `limit` pauses instead of hanging."""
    for _ in range(limit):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition never became true")


def row_status(app: OpsConsoleApp, name: str) -> Status | None:
    return next((r.status for r in app.board.health_rows() if r.name == name), None)


async def test_live_target_goes_critical_when_stopped_and_recovers(demo_stack: DemoStack) -> None:
    settings = demo_settings(demo_stack)
    arrived: list[Reading] = []
    app = make_app(settings, build_sources(settings))
    app.reading_observers.append(arrived.append)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: len(app.board.health_rows()) == 4 and row_status(app, "billing") is Status.OK, pilot)
        assert {r.name for r in app.board.health_rows()} == {"api", "billing", "search", "legacy"}

        demo_stack.stop_service("billing")
        before = sum(1 for r in arrived if r.source == "health:billing")
        await wait_for(lambda: row_status(app, "billing") is Status.CRIT, pilot)
        after = sum(1 for r in arrived if r.source == "health:billing")
        assert after - before <= 2, "a stopped service must turn critical within two polls"
        row = next(r for r in app.board.health_rows() if r.name == "billing")
        assert "connection refused" in row.message
        assert app.board.health_rows()[0].status is Status.CRIT  # worst first

        demo_stack.start_service("billing")
        await wait_for(lambda: row_status(app, "billing") is Status.OK, pilot)
        table = app.query_one(HealthPane).rows
        assert any(r.name == "billing" and r.status is Status.OK for r in table)


async def test_readiness_fails_while_liveness_passes(demo_stack: DemoStack) -> None:
    settings = demo_settings(demo_stack)
    demo_stack.apply("fail", "api")
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: row_status(app, "api") is Status.CRIT, pilot)
        row = next(r for r in app.board.health_rows() if r.name == "api")
        assert row.target is not None
        assert row.target.probe("liveness").status is Status.OK
        assert row.target.probe("readiness").status is Status.CRIT
        await pilot.press("1")
        table = app.query_one("#health-table")
        api_index = [str(k.value) for k in table.rows].index("api")
        table.move_cursor(row=api_index)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HealthDetailScreen)
        assert app.screen.row.name == "api"
        await pilot.pause(0.5)  # readings keep arriving while the dialog is open
        assert app.is_running and isinstance(app.screen, HealthDetailScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HealthDetailScreen)


async def test_keys_pause_refresh_help_quit(demo_stack: DemoStack) -> None:
    settings = demo_settings(demo_stack, interval=0.3)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: len(app.board.health_rows()) == 4, pilot)
        await pilot.press("p")
        assert app.query_one(EnvBanner).paused and app.collector is not None and app.collector.paused
        await pilot.press("p")
        assert not app.collector.paused
        await pilot.press("r")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code in (0, None)


@pytest.mark.parametrize(("size", "compact"), [((120, 40), False), ((80, 24), True)])
async def test_layout_switches_to_one_pane_with_summary(size: tuple[int, int], compact: bool) -> None:
    settings = Settings(env=Environment(name="x"), environments=("x",))
    app = make_app(settings)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-compact") is compact
        visible = [p.id for p in app.query("#panes > *") if p.display and p.styles.display != "none"]
        if not compact:
            assert {"health", "traffic", "cache", "queues", "dlq", "breakers", "mongo"} <= set(visible)
        await pilot.press("7")
        assert app.query_one("#mongo").has_class("-active")


async def test_a_resize_to_the_same_size_lays_nothing_out_and_a_real_one_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up sends the screen two Resize events of the size it already has; each was a full layout and a
    full frame right behind the first one."""
    from textual.geometry import Size

    from console.screens.main_screen import MainScreen

    settings = Settings(env=Environment(name="x"), environments=("x",))
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        layouts: list[Size | None] = []
        original = screen._refresh_layout
        monkeypatch.setattr(screen, "_refresh_layout", lambda size=None, scroll=False: layouts.append(size))
        screen._screen_resized(Size(120, 40))
        assert layouts == []
        monkeypatch.setattr(screen, "_refresh_layout", original)
        await pilot.resize_terminal(80, 24)
        await wait_for(lambda: screen.has_class("-compact") and screen.size == Size(80, 24), pilot)
        await pilot.resize_terminal(120, 40)
        await wait_for(lambda: not screen.has_class("-compact") and screen.size == Size(120, 40), pilot)
        health = app.query_one("#health")
        assert health.size.width > 60  # laid out again at the wide size: the two-column Health pane


class ExplodingSource:
    """A source whose client raises something no adapter translated: the app must survive it."""

    name = "health:explodes"
    kind = "health"
    interval = 0.05
    timeout = 1.0

    def __init__(self) -> None:
        self.polls = 0

    async def poll(self):
        self.polls += 1
        raise RuntimeError("boom \x1b[2J with mongodb://u:hunter22@db")

    async def aclose(self) -> None:
        pass


async def test_backend_fault_never_crashes_the_app() -> None:
    settings = Settings(env=Environment(name="x"), environments=("x",))
    source = ExplodingSource()
    app = make_app(settings, [source])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: source.polls >= 3, pilot)
        reading = app.board.readings["health:explodes"]
        assert reading.error is not None
        assert "hunter22" not in reading.error and "\x1b" not in reading.error
        assert app.is_running


class AnsweringSource:
    """A source that answers every poll with `svc_reading` (OK, 5 ms)."""

    name = "health:svc"
    kind = "health"
    interval = 0.05
    timeout = 1.0

    async def poll(self):
        return svc_reading(Status.OK, 5.0).value

    async def aclose(self) -> None:
        pass


async def test_readings_are_taken_on_the_loop_without_a_message_and_a_failure_in_them_is_loud() -> None:
    settings = Settings(env=Environment(name="x"), environments=("x",))
    app = make_app(settings, [AnsweringSource()])
    posted: list[object] = []
    seen: list[Reading] = []
    app.reading_observers.append(seen.append)
    with pytest.raises(RuntimeError, match="observer broke"):
        async with app.run_test(size=(120, 40), message_hook=posted.append) as pilot:
            await wait_for(lambda: len(seen) >= 3 and row_status(app, "svc") is Status.OK, pilot)
            assert not any(hasattr(m, "reading") for m in posted)  # handed over, not posted as a message

            def broken(reading: Reading) -> None:
                raise RuntimeError("observer broke")

            app.reading_observers.append(broken)  # like a failing message handler: the app exits with it
            await wait_for(lambda: not app.is_running, pilot)
    assert app.return_code == 1


class SilentSource:
    """A source that never answers: the test hands the app its readings itself."""

    name = "health:svc"
    kind = "health"
    interval = 100.0
    timeout = 100.0

    async def poll(self):
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        pass


def svc_reading(status: Status, latency_ms: float) -> Reading:
    probe = ProbeResult("health", "http://svc/health", status, "status-code", 200, latency_ms)
    return Reading("health:svc", "health", datetime.now(UTC), HealthTarget("svc", (probe,)))


async def test_moved_figures_wait_for_the_tick_and_a_changed_verdict_is_painted_at_once() -> None:
    settings = Settings(env=Environment(name="x"), environments=("x",))
    app = make_app(settings, [SilentSource()])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.collector is not None, pilot)
        pane = app.query_one(HealthPane)

        def shown() -> tuple[Status, float | None]:
            row = next(r for r in pane.rows if r.name == "svc")
            probe = row.target.probe("health") if row.target else None
            return row.status, probe.latency_ms if probe else None

        # Synchronous calls: the app's own once-a-second tick cannot run in between.
        app.take_reading(svc_reading(Status.OK, 5.0))
        assert shown() == (Status.OK, 5.0), "a source's first reading is a changed verdict: painted at once"
        app.take_reading(svc_reading(Status.OK, 9.0))
        assert shown() == (Status.OK, 5.0), "a figure that merely moved waits for the tick"
        asked: list[datetime] = []
        clock = app.now
        app.now = lambda: (asked.append(clock()), asked[-1])[1]  # type: ignore[method-assign]
        app._tick()
        assert shown() == (Status.OK, 9.0)
        # One `now` for the tick: the pane painted with it is not refreshed again by the tick's ages.
        assert len(asked) == 1 and {p.now for p in app._pane_widgets()} == {asked[0]}
        app.now = clock  # type: ignore[method-assign]
        app.take_reading(svc_reading(Status.CRIT, 9.0))
        assert shown() == (Status.CRIT, 9.0), "a changed verdict does not wait"
        await pilot.pause()


@pytest.mark.parametrize(
    ("kind", "pane_type"), [("breakers", BreakersPane), ("dlq", DlqPane), ("traffic", TrafficPane)], ids=str
)
async def test_a_pane_repaint_rebuilds_its_table_once(
    kind: str, pane_type: type[Pane], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows, histories and the ages' moment arrive together: one rebuild, not one per reactive."""
    app = make_scene_app("degraded")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(pane_type)
        rebuilds: list[bool] = []
        rebuild = pane._refresh_table
        monkeypatch.setattr(pane, "_refresh_table", lambda force=False: (rebuilds.append(force), rebuild(force)))
        later = app.now() + timedelta(seconds=7)
        app._refresh_kind(kind, later)
        assert len(rebuilds) == 1 and pane.now == later
        app._refresh_kind(kind, later + timedelta(seconds=1))
        assert len(rebuilds) == 2
        pane.now = later + timedelta(seconds=2)  # the tick's ages alone, for a pane with no new reading
        assert len(rebuilds) == (3 if kind != "traffic" else 2)  # traffic shows no ages


async def test_protected_environment_is_shown() -> None:
    env = Environment(
        name="prod",
        label="production",
        protected=True,
        health=(HealthTargetConfig(name="a", url="http://127.0.0.1:9/health"),),
    )
    app = make_app(Settings(env=env, environments=("prod",)), collect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        banner = app.query_one(EnvBanner)
        assert banner.protected and banner.has_class("-protected")
        assert "PROTECTED" in str(banner.render())


async def test_slow_source_does_not_delay_others(demo_stack: DemoStack) -> None:
    """A target that never answers is cut at its timeout while the others keep updating."""
    server = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = demo_settings(demo_stack)
    hang = HealthTargetConfig(name="hangs", url=f"http://127.0.0.1:{port}/health", interval=0.2, timeout=0.5)
    settings = replace(settings, env=replace(settings.env, health=settings.env.health + (hang,)))
    arrived: list[str] = []
    app = make_app(settings, build_sources(settings))
    app.reading_observers.append(lambda reading: arrived.append(reading.source))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(lambda: row_status(app, "hangs") is Status.CRIT, pilot)
            # The others keep their own pace meanwhile: billing (every 0.2 s) reports several times per hanging
            # poll (cut at 0.5 s). Counted over a while, not at the instant of the first cut: on a loaded machine
            # the app's start-up can hold every first timer back until then.
            await wait_for(lambda: arrived.count("health:billing") >= arrived.count("health:hangs") + 3, pilot)
            row = next(r for r in app.board.health_rows() if r.name == "hangs")
            assert "timeout" in row.message
    finally:
        server.close()


def test_model_and_adapters_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import console.model, console.config, console.collector, console.board, console.report\n"
        "import console.adapters.http_health, console.adapters.mongo, console.sources, console.snapshot\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'widgets')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_building_the_sources_skips_the_httpx_command_line_tool() -> None:
    """httpx imports its CLI (rich.syntax, pygments, click) whenever rich is installed: ~40 modules the console
    never runs, in the thread that builds the sources while the panes wait for their first readings."""
    code = (
        "import sys\n"
        "from console.sources import build_sources\n"
        "import httpx\n"
        "assert callable(httpx.main)\n"  # httpx's own stub, which says the CLI is not installed
        "loaded = [name for name, module in sys.modules.items() if module is not None]\n"
        "print(','.join(sorted(m for m in loaded if m.startswith(('httpx._main', 'pygments', 'click')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_no_color_is_honoured_and_statuses_stay_distinguishable(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.scenes import make_scene_app
    from widgets.render import GLYPH

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_scene_app("degraded")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color
        # Without colour, the glyph alone must tell the statuses apart.
        assert len(set(GLYPH.values())) == len(GLYPH)
        statuses = {row.status for row in app.board.health_rows()}
        assert {Status.CRIT, Status.WARN, Status.OK} <= statuses


# --- paint first: the skeleton, then the config and the panes --------------------------------------------------


async def test_skeleton_first_then_the_config_and_the_panes(demo_stack: DemoStack) -> None:
    import threading

    from textual.widgets import Static

    release = threading.Event()
    settings = demo_settings(demo_stack)

    def slow_loader() -> Settings:
        release.wait(10)  # holds the config back: the skeleton must be on screen meanwhile
        return settings

    app = OpsConsoleApp(None, settings_loader=slow_loader, source_factory=lambda: build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert not app.attached
        titles = [str(w.border_title) for w in app.query(".boot-pane")]
        assert titles[:2] == ["1 Health", "2 Traffic"] and len(titles) == 7
        assert "starting" in str(app.query_one("#boot-banner", Static).render())
        await pilot.press("w", "t")  # keys before the panes exist do nothing (and break nothing)
        assert len(app.query(HealthPane)) == 0
        release.set()
        await wait_for(lambda: app.attached and len(app.query(HealthPane)) == 1, pilot)
        assert len(app.query(".boot-pane")) == 0
        assert app.settings is settings
        await wait_for(
            lambda: app.board.health_rows() and all(r.status is Status.OK for r in app.board.health_rows()), pilot
        )


def delay_the_panes_mount(
    monkeypatch: pytest.MonkeyPatch, seconds: float, seen: Callable[[], None] = lambda: None
) -> None:
    """The boot's mount of the panes waits `seconds` first (calling `seen` then): what happens meanwhile."""
    from textual.screen import Screen

    original = Screen.mount_all

    def mount_all(self, widgets, *args, **kwargs):  # type: ignore[no-untyped-def]
        widgets = list(widgets)
        if not any(getattr(widget, "id", None) == "panes" for widget in widgets):
            return original(self, widgets, *args, **kwargs)

        async def mounted():  # type: ignore[no-untyped-def]
            await asyncio.sleep(seconds)
            seen()
            await original(self, widgets, *args, **kwargs)

        return mounted()

    monkeypatch.setattr(Screen, "mount_all", mount_all)


async def test_first_polls_run_while_the_panes_mount_and_land_in_them(
    demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sources are built behind the skeleton and polled at once; readings that come before the panes are up
    are applied when they are, not lost."""
    settings = demo_settings(demo_stack)
    app = OpsConsoleApp(None, settings_loader=lambda: settings, source_factory=lambda: build_sources(settings))
    early: list[int] = []
    # Time for the first polls to answer before any pane exists.
    delay_the_panes_mount(monkeypatch, 0.5, lambda: early.append(len(app._initial)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app._panes_ready, pilot)
        assert early[0] > 0  # readings arrived before the panes did
        names = {row.name for row in app.board.health_rows()}  # applied by `_start`, not waited for
        assert {s.name for s in settings.env.health} <= names
        table_text = " ".join(str(c) for c in app.query_one(HealthPane).query_one("DataTable").get_row_at(0))
        assert any(name in table_text for name in names)


async def test_keys_while_the_sources_build_wait_for_the_panes(demo_stack: DemoStack) -> None:
    """The config is loaded but the panes are not mounted yet (the sources build in a thread): pane keys, dialogs
    and palette commands wait; nothing crashes, and the panes come with the first readings."""
    import threading

    release = threading.Event()
    settings = demo_settings(demo_stack)

    def slow_sources():  # type: ignore[no-untyped-def]
        release.wait(10)
        return build_sources(settings)

    app = OpsConsoleApp(None, settings_loader=lambda: settings, source_factory=slow_sources)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.attached, pilot)
        await pilot.press("p", "2", "question_mark", "t", "w", "r")
        assert app.is_running and not app._panes_ready
        assert not app.check_action("help", ()) and app.check_action("quit", ())
        assert not list(app.get_system_commands(app.screen))[-1].title.startswith("Write")
        assert len(app.screen_stack) == 1  # no dialog opened over the skeleton
        release.set()
        await wait_for(lambda: app._panes_ready and app.board.health_rows(), pilot)
        assert len(app.query(HealthPane)) == 1 and app.check_action("help", ())


async def test_a_failing_source_factory_is_reported_once_and_the_panes_still_come() -> None:
    calls: list[int] = []
    settings = Settings(env=Environment(name="x"), environments=("x",))

    def broken():  # type: ignore[no-untyped-def]
        calls.append(1)
        raise RuntimeError("cannot build: mongodb://u:hunter22@db")

    app = OpsConsoleApp(None, settings_loader=lambda: settings, source_factory=broken)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app._panes_ready, pilot)
        await wait_for(lambda: any("cannot build" in str(n.message) for n in app._notifications), pilot)
        assert calls == [1]
        shown = " ".join(str(n.message) for n in app._notifications)
        assert "hunter22" not in shown and app.is_running


class ClosingSource:
    name, kind, interval, timeout = "health:slow", "health", 10.0, 5.0

    def __init__(self) -> None:
        self.closed = False

    async def poll(self):  # type: ignore[no-untyped-def]
        await asyncio.sleep(60)  # still in its first poll when the app quits

    async def aclose(self) -> None:
        self.closed = True


async def test_quitting_while_the_panes_mount_closes_the_sources_already_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(env=Environment(name="x"), environments=("x",))
    source = ClosingSource()
    app = OpsConsoleApp(None, settings_loader=lambda: settings, source_factory=lambda: [source])
    delay_the_panes_mount(monkeypatch, 60)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: app._collecting, pilot)
        assert not app._panes_ready  # polling, the panes still mounting
        await pilot.press("q")
    assert source.closed


async def test_broken_config_after_the_first_frame_ends_the_app_with_the_errors() -> None:
    from console.errors import ConfigError

    def broken() -> Settings:
        raise ConfigError(["demo.toml: [console] refresh: expected a number, got 'soon'"])

    app = OpsConsoleApp(None, settings_loader=broken)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: app.boot_error is not None, pilot)
    assert app.return_code == 2
    assert app.boot_error is not None and "refresh" in str(app.boot_error)


def test_cli_reports_a_broken_config_found_after_the_first_frame(tmp_path) -> None:
    # Under a pipe Textual still runs the app headless: the errors reach stderr and the exit code is 2.
    config = tmp_path / "bad.toml"
    config.write_text('[console]\nrefresh = "soon"\n')
    out = subprocess.run(
        [sys.executable, "-m", "console", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out
    assert "refresh" in out.stderr


async def test_start_up_heap_is_frozen_once_live_and_thawed_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import console.app

    monkeypatch.setattr(console.app, "FREEZE_HEAP_AFTER", 0.05)
    gc.unfreeze()
    settings = Settings(env=Environment(name="x"), environments=("x",))
    app = make_app(settings, collect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: gc.get_freeze_count() > 0, pilot)
        assert gc.isenabled()  # frozen, not switched off
    assert gc.get_freeze_count() == 0


async def test_the_heap_freeze_waits_while_a_screen_holds_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import console.app
    from console import gc_control

    monkeypatch.setattr(console.app, "FREEZE_HEAP_AFTER", 0.2)  # the hold below comes first
    gc.unfreeze()
    holder = object()
    app = make_app(Settings(env=Environment(name="x"), environments=("x",)), collect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        gc_control.HOLD.hold(holder, 5.0)  # a page turn painting against its budget
        await pilot.pause(0.5)
        assert gc.get_freeze_count() == 0
        gc_control.HOLD.release(holder)
        await wait_for(lambda: gc.get_freeze_count() > 0, pilot, limit=200)
