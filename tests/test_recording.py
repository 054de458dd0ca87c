"""Recordings: exact round trips, the versioned format, torn and hostile files, secrets, the headless recorder,
the TUI's record key, and replay mode (clock, step, seek, speed, actions disabled)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from console import cli
from console.app import make_app
from console.board import Board
from console.config import Environment, HealthTargetConfig, Settings
from console.config_checks import secret_values
from console.demo.backend import DemoStack
from console.model import Reading, Status
from console.record_cli import make_replay_app, replay_settings
from console.recording import (
    FORMAT,
    VERSION,
    Header,
    RecordingError,
    RecordingWriter,
    decode,
    encode,
    load,
)
from console.replay import SPEEDS, ReplayDriver
from console.sources import build_sources
from tests.fixtures import recordings
from tests.fixtures.http_targets import demo_stack_fixture  # noqa: F401 - the demo_stack fixture
from tests.fixtures.scenes import NOW, SCENES
from widgets.env_banner import EnvBanner


def write(path: Path, readings: list[Reading], secrets: tuple[str, ...] = ()) -> Path:
    writer = RecordingWriter(path, Header("test"), secrets)
    for reading in readings:
        writer.reading(reading)
    writer.close()
    return path


def lines_of(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_every_scene_round_trips_to_equal_readings(tmp_path: Path, scene: str) -> None:
    readings = sorted(SCENES[scene]().readings, key=lambda r: r.at)
    loaded = load(write(tmp_path / "r.jsonl.gz", readings))
    assert loaded.readings == readings  # every model type, tuple, enum, datetime and float comes back equal
    assert loaded.warnings == []


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_checked_in_recordings_match_their_scenes(scene: str) -> None:
    readings = sorted(SCENES[scene]().readings, key=lambda r: r.at)
    assert recordings.readings_of(scene) == readings, "run `python -m tests.fixtures.recordings`"


def test_a_v1_recording_replays_in_this_version() -> None:
    """The frozen file was written by format v1 and is never regenerated: later versions must read it."""
    recording = load(recordings.FROZEN_V1)
    assert json.loads(lines_of(recordings.FROZEN_V1)[0])["version"] == 1
    assert recording.readings == sorted(SCENES["degraded"]().readings, key=lambda r: r.at)
    board = Board()
    for reading in recording.readings:
        board.apply(reading)
    assert {row.name: row.status for row in board.health_rows()}["api"] is Status.CRIT


def test_unknown_fields_and_line_types_are_ignored_and_missing_defaults_filled(tmp_path: Path) -> None:
    reading = SCENES["degraded"]().readings[0]
    doc = encode(reading)
    doc["future_field"] = {"anything": [1, 2]}
    doc.pop("duration_ms")  # has a default
    path = tmp_path / "future.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": FORMAT, "version": VERSION, "environment": "x", "new_key": 1}) + "\n")
        handle.write(json.dumps({"type": "bookmark", "at": "later"}) + "\n")
        handle.write(json.dumps({"type": "reading", "reading": doc}) + "\n")
    loaded = load(path)
    assert loaded.readings == [dataclasses.replace(reading, duration_ms=None)]
    assert loaded.header.environment == "x"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"not json\n", "not JSON"),
        (b'{"format": "something-else"}\n', "not an opsconsole recording"),
        (b'{"format": "opsconsole.recording", "version": 99}\n', "v99; this opsconsole reads v1: upgrade opsconsole"),
    ],
)
def test_files_that_are_not_recordings_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(RecordingError, match=message):
        load(path)


def test_a_plain_file_and_a_missing_file_are_clear_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("hello\n")
    with pytest.raises(RecordingError, match="not a gzip-compressed opsconsole recording"):
        load(plain)
    with pytest.raises(RecordingError, match="cannot read"):
        load(tmp_path / "missing.jsonl.gz")


def test_a_value_type_from_a_newer_version_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "newer.jsonl.gz"
    reading = encode(SCENES["all-ok"]().readings[0])
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": FORMAT, "version": 1, "environment": "x"}) + "\n")
        handle.write(json.dumps({"type": "reading", "reading": {**reading, "value": {"$": "QuantumFlux"}}}) + "\n")
        handle.write(json.dumps({"type": "reading", "reading": reading}) + "\n")
    with pytest.raises(RecordingError, match=r"line 2: unknown value type 'QuantumFlux'"):
        load(path)


def test_a_recorder_killed_mid_write_leaves_a_replayable_file(tmp_path: Path) -> None:
    """Flushes are complete deflate blocks: cut the file anywhere after one and the readings before it load."""
    readings = sorted(SCENES["degraded"]().readings, key=lambda r: r.at)
    path = tmp_path / "killed.jsonl.gz"
    writer = RecordingWriter(path, Header("test"), flush_every=0.0)
    for reading in readings:
        writer.reading(reading, now=0.0)
    flushed = path.read_bytes()  # no close(): no gzip trailer, as after kill -9
    torn = tmp_path / "torn.jsonl.gz"
    torn.write_bytes(flushed[: len(flushed) - 7])  # and the last block cut short
    loaded = load(torn)
    assert 0 < len(loaded.readings) <= len(readings)
    assert loaded.readings == readings[: len(loaded.readings)]
    assert loaded.warnings and "ends abruptly" in loaded.warnings[0]


def test_recordings_never_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path / "once.jsonl.gz", [])
    before = path.read_bytes()
    with pytest.raises(RecordingError, match="exists already"):
        RecordingWriter(path, Header("test"))
    assert path.read_bytes() == before


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    settings = Settings(
        env=Environment(
            name="prod",
            redis_url="redis://ops:r3dis-Pa55word@cache.internal:6379/0",
            health=(
                HealthTargetConfig(
                    "api", "https://api.internal/health", headers={"Authorization": "Bearer tok-SECRET-123456"}
                ),
            ),
        ),
        environments=("prod",),
    )
    secrets = secret_values(settings)
    assert "r3dis-Pa55word" in secrets and "Bearer tok-SECRET-123456" in secrets
    leaky = Reading(
        "cache:redis",
        "cache",
        NOW,
        error="cannot connect to redis://ops:r3dis-Pa55word@cache.internal:6379/0 (sent Bearer tok-SECRET-123456)",
    )
    echoed = Reading("health:api", "health", NOW, error="server said: r3dis-Pa55word is wrong")
    path = write(tmp_path / "s.jsonl.gz", [leaky, echoed], secrets)
    text = "\n".join(lines_of(path))
    assert "r3dis-Pa55word" not in text and "tok-SECRET" not in text
    assert "***" in text and "cache.internal" in text  # the rest of the message survives


def test_decode_restores_tuples_enums_and_infinities() -> None:
    from console.model import QueueInfo, QueueRow

    row = QueueRow(QueueInfo("rabbitmq", "q", 5, consumers=0), Status.CRIT, 3.0, float("inf"), ("x",), (1, 2))
    assert decode(json.loads(json.dumps(encode(row)))) == row


# --- replay driver --------------------------------------------------------------------------------------


def driver(seconds: int = 60) -> ReplayDriver:
    readings = [Reading(f"s{i % 3}", "health", NOW + timedelta(seconds=i)) for i in range(seconds)]
    return ReplayDriver(readings)


def test_driver_plays_at_speed_and_pauses() -> None:
    play = driver()
    assert [r.at for r in play.advance(0.0)] == [NOW]
    assert len(play.advance(2.0)) == 2  # 1× : two more seconds of readings
    play.faster()
    assert play.speed == 2.0 and len(play.advance(2.0)) == 4
    play.paused = True
    assert play.advance(10.0) == [] and play.now() == NOW + timedelta(seconds=6)


def test_driver_steps_seeks_and_clamps() -> None:
    play = driver()
    assert [r.at for r in play.step()] == [NOW]
    assert [r.at for r in play.step()] == [NOW + timedelta(seconds=1)]
    assert len(play.seek(NOW + timedelta(seconds=30))) == 31  # a seek rebuilds from the start
    assert len(play.seek_forward(NOW + timedelta(seconds=40))) == 10  # forward: only what lies between
    assert play.step_back()[-1].at == NOW + timedelta(seconds=39)
    play.seek(NOW + timedelta(hours=5))
    assert play.now() == play.last and play.finished
    play.seek(NOW - timedelta(hours=5))
    assert play.now() == play.first
    for _ in SPEEDS:
        play.faster()
    assert play.speed == SPEEDS[-1]


def test_driver_refuses_an_empty_recording() -> None:
    with pytest.raises(ValueError, match="nothing to replay"):
        ReplayDriver([])


# --- the TUI ----------------------------------------------------------------------------------------------


def replay_app(start_offset: float = 0.0, paused: bool = True):  # type: ignore[no-untyped-def]
    recording = load(recordings.FROZEN_V1)
    start = recording.start + timedelta(seconds=start_offset) if recording.start else None
    return make_replay_app(recording, replay_settings(recording.header), "v1-degraded", 1.0, start, paused)


async def test_replay_mode_shows_a_banner_and_refuses_every_action() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        banner = app.main_screen.query_one(EnvBanner)
        assert banner.replay.startswith("REPLAY ⏸")
        await pilot.press("w")
        await pilot.pause()
        assert not app.write.active()
        assert any("actions are disabled" in n.message for n in app._notifications)
        await pilot.press("6", "F")  # breaker force-open key: refused too
        await pilot.pause()
        assert len(app.screen_stack) == 1
        await pilot.press("L")  # no live behind a recording
        assert app.replay is not None


async def test_replay_steps_seeks_and_plays_back_the_recorded_states() -> None:
    recording = load(recordings.FROZEN_V1)
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.replay is not None
        api = lambda: {r.name: r.status for r in app.board.health_rows()}.get("api")  # noqa: E731
        assert api() is not Status.CRIT  # the recording opens before api's database went away
        await pilot.press("G")
        await pilot.pause()
        assert app.replay.now() == recording.end and api() is Status.CRIT
        await pilot.press("g")
        await pilot.pause()
        assert app.replay.now() == recording.start and api() is not Status.CRIT
        position = app.replay.position
        await pilot.press("full_stop")
        assert app.replay.position > position
        await pilot.press("right_square_bracket")  # +30 s
        await pilot.pause()
        assert app.replay.now() >= recording.start + timedelta(seconds=30) or app.replay.finished
        await pilot.press("plus", "plus", "plus", "plus")
        assert app.replay.speed == 16.0
        await pilot.press("space")  # play to the end at 16×
        for _ in range(200):
            if app.replay.finished:
                break
            await pilot.pause(0.05)
        assert app.replay.finished and api() is Status.CRIT
        # The board at the end equals one built straight from the recording: the replay reproduces it.
        board = Board()
        for reading in recording.readings:
            board.apply(reading)
        assert [(r.name, r.status) for r in app.board.health_rows()] == [
            (r.name, r.status) for r in board.health_rows()
        ]


# --- recording for real: headless and from the TUI ---------------------------------------------------------


def demo_config(tmp_path: Path, stack: DemoStack) -> Path:
    lines = ["[console]", 'default_env = "rec"', "refresh = 0.3", "timeout = 1.0", "[env.rec]"]
    for service in stack.services.values():
        lines += ["[[env.rec.health]]", f'name = "{service.name}"', f'url = "{stack.url(service, "health")}"']
    path = tmp_path / "rec.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_headless_record_then_replay_reproduces_the_readings(
    tmp_path: Path, demo_stack: DemoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_config(tmp_path, demo_stack)
    demo_stack.stop_service("legacy")
    path = tmp_path / "session.jsonl.gz"
    assert cli.main(["--config", str(config), "record", str(path), "--duration", "2"]) == 0
    assert "recorded" in capsys.readouterr().err
    recording = load(path)
    assert recording.header.environment == "rec" and recording.header.panes == ("health",)
    sources = {r.source for r in recording.readings}
    assert sources == {"health:api", "health:billing", "health:search", "health:legacy"}
    assert len(recording.readings) >= 8  # 2 s at 0.3 s per source
    board = Board()
    for reading in recording.readings:
        board.apply(reading)
    statuses = {row.name: row.status for row in board.health_rows()}
    assert statuses["legacy"] is Status.CRIT and statuses["api"] is Status.OK
    # Recording again to the same file is refused: a recording may be evidence.
    assert cli.main(["--config", str(config), "record", str(path), "--duration", "0.5"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_replay_cli_explains_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"garbage")
    assert cli.main(["replay", str(bad)]) == 2
    assert "not a gzip-compressed opsconsole recording" in capsys.readouterr().err


async def test_ctrl_r_records_the_live_session(
    tmp_path: Path, demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    targets = tuple(
        HealthTargetConfig(s.name, demo_stack.url(s, "health"), interval=0.2, timeout=1.0)
        for s in demo_stack.services.values()
    )
    settings = Settings(env=Environment(name="live", health=targets), environments=("live",))
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if len(app.live_board.readings) == 4:
                break
            await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        assert app.recorder is not None
        assert app.main_screen.query_one(EnvBanner).recording
        path = app.recorder.path
        count = app.recorder.count
        for _ in range(200):
            if app.recorder.count >= count + 8:
                break
            await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        assert app.recorder is None
    recording = load(path)
    assert path.parent == tmp_path / "state" / "opsconsole" / "recordings"
    assert len(recording.readings) >= count + 8
    assert {r.source for r in recording.readings} == {f"health:{s}" for s in demo_stack.services}
