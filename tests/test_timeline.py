"""The incident timeline: what becomes an event (and what does not), the order across panes, actions from the
journal, the timeline screen's jump to a past moment and back, and the Markdown export."""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from pathlib import Path

import pytest

from console.app import make_app
from console.board import Board
from console.findings import findings_markdown, md
from console.model import (
    BreakerInfo,
    BreakerSnapshot,
    BreakerState,
    HealthCheck,
    HealthTarget,
    ProbeResult,
    Reading,
    Status,
    TrafficRow,
    TrafficSnapshot,
    TrafficStats,
)
from console.screens.timeline import TimelineScreen
from console.timeline import Timeline, build, relative
from tests.fixtures.recordings import readings_of
from tests.fixtures.scenes import NOW, SCENES, make_scene_app
from widgets.env_banner import EnvBanner
from widgets.timeline_chart import TimelineChart, column_of


def health(name: str, status: Status, at_seconds: float) -> Reading:
    target = HealthTarget(name, (ProbeResult("health", "http://x/health", status, "seed", 200, 5.0),))
    return Reading(f"health:{name}", "health", NOW + timedelta(seconds=at_seconds), target)


def traffic(p95: float, at_seconds: float, errors: float = 0.0) -> Reading:
    row = TrafficRow("api", None, TrafficStats(rps=50.0, error_ratio=errors, p95=p95), Status.OK, ())
    return Reading("traffic", "traffic", NOW + timedelta(seconds=at_seconds), TrafficSnapshot("prometheus", (row,)))


def breaker(state: BreakerState, at_seconds: float) -> Reading:
    info = BreakerInfo("redis", "api", "payments", state)
    return Reading("breakers", "breakers", NOW + timedelta(seconds=at_seconds), BreakerSnapshot("redis", (info,)))


def test_the_story_of_an_incident_in_order_across_panes() -> None:
    """'the breaker opened 40 s after p95 tripled': both on one axis, in order, with their offset."""
    readings = [traffic(0.040, t) for t in range(0, 20, 2)]
    readings += [breaker(BreakerState.CLOSED, t) for t in range(0, 20, 2)]
    readings += [traffic(0.130, 20), breaker(BreakerState.CLOSED, 20)]
    readings += [traffic(0.150, t) for t in range(22, 80, 2)] + [
        breaker(BreakerState.CLOSED, t) for t in range(22, 60, 2)
    ]
    readings += [breaker(BreakerState.OPEN, 60)]
    events = build(sorted(readings, key=lambda r: r.at), Board()).ordered()
    texts = [e.text for e in events]
    spike = next(e for e in events if "p95 ×" in e.text)
    opened = next(e for e in events if "CLOSED → OPEN" in e.text)
    assert spike.at == NOW + timedelta(seconds=20) and "40 → 130 ms" in spike.text
    assert (opened.at - spike.at).total_seconds() == 40
    assert relative((opened.at - spike.at).total_seconds()) == "+40s"
    assert texts.index(spike.text) < texts.index(opened.text)


def test_healthy_first_sight_is_no_event_but_a_bad_one_is() -> None:
    timeline = Timeline()
    board = Board()
    for reading in (health("ok", Status.OK, 0), health("bad", Status.CRIT, 0)):
        board.apply(reading)
        timeline.observe(reading, board)
    assert [(e.subject, e.severity) for e in timeline.events] == [("bad", Status.CRIT)]


def test_a_health_event_names_the_failing_checks_else_the_probe_message() -> None:
    timeline, board = Timeline(), Board()
    checks = (HealthCheck("db", Status.CRIT, "connection refused"), HealthCheck("cache", Status.OK, "ok"))
    failing = ProbeResult("health", "http://x/health", Status.CRIT, "seed", 503, 5.0, "HTTP 503", checks)
    quiet = ProbeResult("health", "http://y/health", Status.WARN, "seed", 200, 5.0, "slow answer")
    for name, probe in (("api", failing), ("web", quiet)):
        reading = Reading(f"health:{name}", "health", NOW, HealthTarget(name, (probe,)))
        board.apply(reading)
        timeline.observe(reading, board)
    assert [e.text for e in timeline.events] == ["api crit: db connection refused", "web warn: slow answer"]


def test_a_flapping_target_makes_a_line_per_settle_window_not_per_poll() -> None:
    readings = [health("flappy", Status.CRIT if i % 2 else Status.OK, i) for i in range(30)]
    events = [e for e in build(readings, Board()).ordered() if e.subject == "flappy"]
    changes = 29
    assert 0 < len(events) < changes / 3
    assert events[0].severity is Status.CRIT  # getting worse is reported at once


def test_an_unreachable_source_is_one_event_and_its_return_another() -> None:
    readings = [health("api", Status.OK, 0)]
    readings += [
        Reading("health:api", "health", NOW + timedelta(seconds=t), error="connection refused") for t in (2, 4, 6)
    ]
    readings += [health("api", Status.OK, 30)]
    texts = [e.text for e in build(readings, Board()).ordered()]
    assert texts == ["health:api unreachable: connection refused", "health:api answering again"]


def test_actions_from_the_journal_join_the_axis_once() -> None:
    timeline = Timeline()
    record = {
        "id": "abc",
        "at": (NOW + timedelta(seconds=5)).isoformat(),
        "action": "dlq.replay",
        "target": "orders.dlq",
        "outcome": "done",
        "counts": {"replayed": 12},
        "who": {"user": "alice"},
    }
    assert timeline.observe_action(record) is not None
    assert timeline.observe_action(record) is None  # the same record seen twice (listener and journal)
    refused = {**record, "id": "def", "outcome": "refused"}
    assert timeline.extend_actions([refused, {"at": "not a time"}]) == 1
    events = timeline.ordered()
    assert events[0].lane == "actions" and events[0].text == "dlq.replay orders.dlq done replayed=12 by alice"
    assert events[1].severity is Status.WARN


def test_the_degraded_scene_tells_its_story() -> None:
    events = build(readings_of("degraded"), Board()).ordered()
    lanes = {e.lane for e in events}
    assert {"health", "traffic", "cache", "queues", "dlq", "breakers", "mongo"} <= lanes
    texts = " | ".join(e.text for e in events)
    for expected in ("api ok → crit", "breaker api/payments CLOSED → OPEN", "hit ratio", "p95 ×"):
        assert expected in texts
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_the_chart_places_events_on_one_axis() -> None:
    assert column_of(NOW, NOW, NOW + timedelta(seconds=100), 101) == 0
    assert column_of(NOW + timedelta(seconds=40), NOW, NOW + timedelta(seconds=100), 101) == 40
    assert column_of(NOW, NOW, NOW, 50) == 49  # a single instant: at the right edge


async def test_timeline_screen_jumps_to_the_moment_and_L_returns_to_live() -> None:
    app = make_scene_app("degraded")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        chart = screen.query_one(TimelineChart)
        assert len(chart.events) == len(app.timeline.events) > 10
        # Find the breaker opening in the list (newest first) and jump to it.
        table = screen.query_one("DataTable")
        target_row = next(row for row in range(table.row_count) if "CLOSED → OPEN" in str(table.get_row_at(row)[3]))
        table.move_cursor(row=target_row)
        await pilot.pause()
        assert "◆ here" in str(table.get_row_at(target_row)[1])
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, TimelineScreen)
        assert app.replay is not None and not app.replaying_file
        opened = next(e for e in app.timeline.events if "CLOSED → OPEN" in e.text)
        assert app.replay.now() == opened.at
        assert app.main_screen.query_one("#breakers").has_class("-active")
        assert app.main_screen.query_one(EnvBanner).replay.startswith("PAST")
        # The past moment: the scene's later api outage is not on screen yet.
        later = [r for r in app.live_board.readings.values() if r.at > opened.at]
        assert app.board is not app.live_board and later
        await pilot.press("w")  # acting on the past is refused
        await pilot.pause()
        assert not app.write.active()
        await pilot.press("L")
        await pilot.pause()
        assert app.replay is None and app.board is app.live_board
        assert app.main_screen.query_one(EnvBanner).replay == ""


async def test_timeline_lane_filter() -> None:
    app = make_scene_app("degraded")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t", "f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        assert screen.lane is not None
        assert {e.lane for e in screen.query_one(TimelineChart).events} == {screen.lane}
        await pilot.press("escape")
        assert not isinstance(app.screen, TimelineScreen)


# --- export ---------------------------------------------------------------------------------------------


def test_markdown_cells_are_plain_text() -> None:
    assert md("a|b [link=x]y[/] `z`") == "a\\|b \\[link=x\\]y\\[/\\] \\`z\\`"
    assert "\x1b" not in md("evil\x1b]52;c;AAAA\x07 name")
    assert md("redis://u:hunter22@h/0 said no", secrets=("hunter22",)) == "redis://u:\\*\\*\\*@h/0 said no"


def test_export_golden_degraded() -> None:
    """The export of the degraded scene, compared with the file under tests/__snapshots__."""
    scene = SCENES["degraded"]()
    board = Board(traffic=scene.settings.traffic, cache=scene.settings.env.cache)
    events = build(readings_of("degraded"), board).ordered()
    text = findings_markdown(board, events, scene.settings.env.name, NOW, scene.settings.env.protected)
    golden = Path(__file__).parent / "__snapshots__" / "export-degraded.md"
    if os.environ.get("OPSCONSOLE_UPDATE_GOLDEN") == "1":  # `make snapshots-update`; review the diff like an SVG
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert "## Circuit breakers" in text and "api/payments" in text and "| api | crit |" in text


async def test_x_writes_markdown_and_svg_without_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSCONSOLE_EXPORT_DIR", str(tmp_path / "exports"))
    scene = SCENES["degraded"]()
    secret = "hunter2-Sup3r"
    env = dataclasses.replace(scene.settings.env, redis_url=f"redis://ops:{secret}@cache.internal:6379/0")
    settings = dataclasses.replace(scene.settings, env=env)
    leak = Reading(
        "cache:cache-main", "cache", NOW, error=f"auth failed for redis://ops:{secret}@cache.internal ({secret})"
    )
    app = make_app(settings, clock=lambda: NOW, readings=[*readings_of("degraded"), leak], collect=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        for _ in range(100):
            if len(app.exports) == 2:
                break
            await pilot.pause(0.05)
    markdown, svg = app.exports
    assert markdown.suffix == ".md" and svg.suffix == ".svg"
    text = markdown.read_text()
    assert text.startswith("# opsconsole findings") and "## Timeline" in text
    assert "## Unreachable or failing sources" in text and "auth failed" in text
    assert "<svg" in svg.read_text()
    for written in (text, svg.read_text()):
        assert secret not in written
