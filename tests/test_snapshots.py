"""Snapshot tests of every pane and screen, from fixed readings and a fixed clock, at 120x40 and 80x24."""

from __future__ import annotations

import pytest

from tests.fixtures.scenes import make_scene_app

WIDE = (120, 40)
NARROW = (80, 24)
SIZES = pytest.mark.parametrize("size", [WIDE, NARROW], ids=["120x40", "80x24"])


class TestHealthPane:
    """The Health pane: worst first, liveness/readiness apart, history strips, stale and unreachable targets."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded", "unreachable", "stale"])
    def test_scene(self, snap_compare, scene, size):
        assert snap_compare(make_scene_app(scene), terminal_size=size)

    @SIZES
    def test_component_breakdown(self, snap_compare, size):
        async def open_first(pilot):
            await pilot.press("1", "enter")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=open_first)

    def test_hostile_text_is_rendered_literally(self, snap_compare):
        async def open_evil(pilot):
            await pilot.press("1", "enter")
            await pilot.pause()

        assert snap_compare(make_scene_app("hostile"), terminal_size=WIDE, run_before=open_evil)


class TestMongoPane:
    """The MongoDB pane: healthy replica set, lag and connection pressure, unreachable, stale."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded", "unreachable", "stale"])
    def test_scene(self, snap_compare, scene, size):
        async def show_mongo(pilot):
            await pilot.press("7")
            await pilot.pause()

        assert snap_compare(make_scene_app(scene), terminal_size=size, run_before=show_mongo)


class TestTrafficPane:
    """The Traffic pane: steady traffic, latency spike with error burst, no data, Prometheus unreachable, stale."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded", "no-traffic", "unreachable", "stale"])
    def test_scene(self, snap_compare, scene, size):
        async def show_traffic(pilot):
            await pilot.press("2")
            await pilot.pause()

        assert snap_compare(make_scene_app(scene), terminal_size=size, run_before=show_traffic)

    @SIZES
    def test_routes_of_the_worst_service(self, snap_compare, size):
        async def open_routes(pilot):
            await pilot.press("2", "enter")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=open_routes)


class TestCachePane:
    """The Cache pane: healthy, low hit ratio with memory near maxmemory and evictions, unreachable, stale."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded", "unreachable", "stale"])
    def test_scene(self, snap_compare, scene, size):
        async def show_cache(pilot):
            await pilot.press("3")
            await pilot.pause()

        assert snap_compare(make_scene_app(scene), terminal_size=size, run_before=show_cache)

    def test_invalidate_dialog_read_only(self, snap_compare):
        async def open_dialog(pilot):
            await pilot.press("3", "i")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=WIDE, run_before=open_dialog)


class TestQueuesPane:
    """The Queues pane: normal, growing backlog with no consumers, paused, 1,000 queues filtered, unreachable."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded", "unreachable"])
    def test_scene(self, snap_compare, scene, size):
        async def show_queues(pilot):
            await pilot.press("4")
            await pilot.pause()

        assert snap_compare(make_scene_app(scene), terminal_size=size, run_before=show_queues)

    @SIZES
    def test_thousand_queues_filtered(self, snap_compare, size):
        async def filter_queues(pilot):
            await pilot.press("4", "slash", *"tenant-09", "enter")
            await pilot.pause()

        assert snap_compare(make_scene_app("many-queues"), terminal_size=size, run_before=filter_queues)


class TestScreens:
    """Help and the paused banner."""

    @SIZES
    def test_help(self, snap_compare, size):
        async def press_help(pilot):
            await pilot.press("question_mark")
            await pilot.pause()

        assert snap_compare(make_scene_app("all-ok"), terminal_size=size, run_before=press_help)

    def test_write_mode_prompt(self, snap_compare):
        async def ask(pilot):
            await pilot.press("w")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=NARROW, run_before=ask)

    def test_paused_banner(self, snap_compare):
        async def pause(pilot):
            await pilot.press("p")
            await pilot.pause()

        assert snap_compare(make_scene_app("all-ok"), terminal_size=NARROW, run_before=pause)


def _with_letters(pilot):
    """The DLQ rows browse a store of fixed letters (JSON, binary, hostile); write mode on at the fixed clock."""
    from tests.fixtures.dlq_letters import FixedStore
    from tests.fixtures.scenes import NOW

    store = FixedStore(NOW)
    pilot.app.dlq_store_for = lambda kind, name: store
    pilot.app.write.enable("INC-4711 orders rejected", 15)
    return store


async def _browse(pilot):
    _with_letters(pilot)
    await pilot.press("5")
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    await pilot.pause()


class TestDlqPane:
    """The DLQ pane, browsing, letter detail (JSON, binary, hostile), the confirm dialog and replay progress."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded"])
    def test_overview(self, snap_compare, scene, size):
        async def show_dlq(pilot):
            await pilot.press("5")
            await pilot.pause()

        assert snap_compare(make_scene_app(scene), terminal_size=size, run_before=show_dlq)

    @SIZES
    def test_browse(self, snap_compare, size):
        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=_browse)

    @SIZES
    @pytest.mark.parametrize("downs", [0, 2, 4], ids=["json", "binary", "hostile"])
    def test_letter_detail(self, snap_compare, downs, size):
        async def open_letter(pilot):
            await _browse(pilot)
            for _ in range(downs):
                await pilot.press("down")
            await pilot.press("enter")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=open_letter)

    @SIZES
    def test_confirm_dialog(self, snap_compare, size):
        """Protected environment: two selected letters still need the DLQ name or the count typed."""

        async def ask(pilot):
            await _browse(pilot)
            await pilot.press("space", "space", "R")
            await pilot.pause()
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=ask)

    @SIZES
    def test_replay_progress(self, snap_compare, size):
        async def replay(pilot):
            await _browse(pilot)
            await pilot.press("a", "R")
            await pilot.pause()
            await pilot.pause()
            await pilot.press(*"dead.letter.queue", "enter")
            await pilot.pause()
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=replay)

    @SIZES
    def test_write_mode_banner(self, snap_compare, size):
        async def write_on(pilot):
            _with_letters(pilot)
            pilot.app._tick()
            await pilot.pause()

        assert snap_compare(make_scene_app("all-ok"), terminal_size=size, run_before=write_on)


class TestBreakersPane:
    """All closed; one tripped, one half-open, one forced open with its countdown; the registry unreachable."""

    @SIZES
    @pytest.mark.parametrize("scene", ["all-ok", "degraded", "unreachable"])
    def test_scene(self, snap_compare, scene, size):
        async def show_breakers(pilot):
            await pilot.press("6")
            await pilot.pause()

        assert snap_compare(make_scene_app(scene), terminal_size=size, run_before=show_breakers)

    def test_force_open_dialog(self, snap_compare):
        async def ask(pilot):
            pilot.app.write.enable("INC-4711 payments provider down", 15)
            await pilot.press("6", "F")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=WIDE, run_before=ask)


def _replay_at(offset_seconds: float):  # type: ignore[no-untyped-def]
    from tests.fixtures.screenshots import replay_app

    assert offset_seconds == 100  # the paused moment the README's screenshot shows too
    return replay_app()


class TestTimeline:
    """The timeline (lanes on one axis, events with offsets), replay mode, and a jump to a past moment."""

    @SIZES
    def test_timeline(self, snap_compare, size):
        async def open_timeline(pilot):
            await pilot.press("t")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=size, run_before=open_timeline)

    def test_timeline_selected_breaker(self, snap_compare):
        async def select(pilot):
            await pilot.press("t", "down", "down", "down", "down", "down", "down")
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=WIDE, run_before=select)

    @SIZES
    def test_replay_mode(self, snap_compare, size):
        assert snap_compare(_replay_at(100), terminal_size=size)

    def test_jump_to_a_past_moment(self, snap_compare):
        async def jump(pilot):
            await pilot.press("t", *["down"] * 5, "enter")  # the breaker opening, 6 s before the last reading
            await pilot.pause()

        assert snap_compare(make_scene_app("degraded"), terminal_size=WIDE, run_before=jump)
