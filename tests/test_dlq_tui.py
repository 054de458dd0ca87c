"""The DLQ pane and its screens in the real app, end to end: browse, filter, inspect, replay (read-only refusal,
one key, typed count, abort) and purge, against a private `redis-server` holding a Redis list DLQ (replayed to a
pub/sub channel a real redis-py subscriber listens on) and the shared RabbitMQ broker (a DLQ the broker itself
fills by dead-lettering, under a unique `oc-test-<hex>` prefix deleted afterwards).

Settings come from a TOML file in tmp_path (`load_settings`), sources from `build_sources`; the journal, the
state directory (purge backups) and the config all live under tmp_path. Keys go through `pilot.press`; every
wait is a bounded poll.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, ProgressBar, Static

from console.adapters.dlq_base import REPLAY_MARK, read_ndjson
from console.app import OpsConsoleApp, make_app
from console.audit import AuditLog
from console.config import Settings, load_settings
from console.screens.dlq_action import DlqActionScreen
from console.screens.dlq_browse import DlqBrowseScreen
from console.screens.letter_detail import LetterDetailScreen
from console.screens.write_mode import WriteModeScreen
from console.sources import build_sources
from tests.fixtures.dlq_rabbit import (
    Topology,
    consume,
    depth,
    dlq_topology_fixture,  # noqa: F401 - registers the dlq_topology fixture
    make_dead_letters,
    order,
)
from tests.fixtures.rabbit import AMQP_URL, MANAGEMENT_URL
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)
from widgets.dlq_pane import DlqPane

SIZE = (140, 40)
CHANNELS = ("t:order.created", "t:user.signup")


# --- config, data, probes ----------------------------------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Purge backups and exports land under tmp_path."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path / "opsconsole"


def write_settings(
    tmp_path: Path,
    *,
    redis_dlq: tuple[str, str] | None = None,
    topology: Topology | None = None,
    confirm_above: int = 10,
    replay_rate: float = 10000,
) -> Settings:
    lines = [
        "[console]",
        f"audit_log = {json.dumps(str(tmp_path / 'audit.jsonl'))}",
        "",
        "[env.t]",
        'label = "test"',
        "",
        "[env.t.dlq]",
        "bullmq = false",
        "discover = false",
        "interval = 0.3",
        f"confirm_above = {confirm_above}",
        f"replay_rate = {replay_rate}",
        f"rabbitmq = {json.dumps([topology.dlq] if topology else [])}",
    ]
    if redis_dlq is not None:
        url, key = redis_dlq
        lines += [
            "",
            "[[env.t.dlq.redis]]",
            f"key = {json.dumps(key)}",
            f"redis_url = {json.dumps(url)}",
            'replay_to = "channel"',
            'target = "t:{event}"',
        ]
    if topology is not None:
        lines += [
            "",
            "[env.t.rabbitmq]",
            f"management_url = {json.dumps(MANAGEMENT_URL.replace('://', '://guest:guest@'))}",
            f"amqp_url = {json.dumps(AMQP_URL)}",
            f"queues = {json.dumps([topology.orders])}",
            "interval = 0.5",
        ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(str(path))


def event(index: int, **extra: Any) -> bytes:
    """A seed-style dead-lettered event; higher index = died later."""
    document = {
        "eventId": f"evt-{index:03d}",
        "event": "user.signup" if index % 3 == 0 else "order.created",
        "payload": {"orderId": index, "total": 19.99},
        "error": "handler exploded\n    at handle (bus.js:42)",
        "failedAt": f"2024-05-01T12:{index // 60:02d}:{index % 60:02d}Z",
        "retryCount": 3,
        "traceId": f"trace-{index}",
        **extra,
    }
    return json.dumps(document).encode()


def seed(client: redis.Redis, key: str, elements: list[bytes]) -> None:
    """As the bus does it: LPUSH each failure, so the head (index 0) is the newest letter."""
    client.lpush(key, *elements)


class Subscriber:
    """A real redis-py pub/sub subscriber on the replay channels; `poll()` collects what arrived (non-blocking)."""

    def __init__(self, client: redis.Redis):
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(*CHANNELS)
        confirmed = 0
        deadline = time.monotonic() + 5
        while confirmed < len(CHANNELS):
            message = self.pubsub.get_message(timeout=0.5)
            if message is not None and message["type"] == "subscribe":
                confirmed += 1
            assert time.monotonic() < deadline, "SUBSCRIBE never confirmed"
        self.received: list[tuple[str, dict[str, Any]]] = []

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        while True:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
            if message is None:
                return self.received
            self.received.append((message["channel"].decode(), json.loads(message["data"])))

    @property
    def ids(self) -> list[str]:
        return [document["eventId"] for _, document in self.poll()]

    def close(self) -> None:
        self.pubsub.close()


@pytest.fixture
def redis_dlq(make_redis: Callable[..., PrivateRedis]) -> tuple[PrivateRedis, redis.Redis, str]:
    server = make_redis()
    return server, server.client(), f"events:dlq:{uuid.uuid4().hex[:8]}"


async def until(pilot: Pilot, predicate: Callable[[], Any], what: str, limit: float = 10.0) -> Any:
    """Let the app run until `predicate()` is truthy (returned); fail naming `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {limit:g}s: {what}")
        await pilot.pause(0.02)


def journal(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return list(AuditLog(settings.audit_log).records())


def pane_counts(app: OpsConsoleApp) -> dict[str, int]:
    return {row.info.key: row.info.count for row in app.query_one(DlqPane).rows if not row.info.error}


def status_of(app: OpsConsoleApp) -> str:
    screen = app.screen
    if not isinstance(screen, DlqActionScreen):
        return ""
    content = screen.query_one("#dlq-action-status", Static).content
    return content.plain if isinstance(content, Text) else str(content)


def letter_ids(screen: DlqBrowseScreen) -> list[str]:
    table = screen.query_one("#letters", DataTable)
    return [table.get_row_at(i)[2].plain for i in range(table.row_count)]


def screen_text(app: OpsConsoleApp) -> str:
    """Every cell the current screen paints, as text (segments joined, so a raw escape would show up)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def browse(pilot: Pilot, app: OpsConsoleApp, key: str, total: int) -> DlqBrowseScreen:
    """Pane 5, highlight the DLQ `key` ("kind:name"), enter; wait until its first page shows `total` letters."""
    await pilot.press("5")
    await until(pilot, lambda: pane_counts(app).get(key) == total, f"pane shows {key} with {total} letters")
    table = app.query_one(DlqPane).query_one(DataTable)
    table.move_cursor(row=[str(k.value) for k in table.rows].index(key), animate=False)
    await pilot.press("enter")
    screen = await until(pilot, lambda: isinstance(app.screen, DlqBrowseScreen) and app.screen, "browse screen")
    await until(
        pilot, lambda: screen.page is not None and screen.page.total == total and screen.page.letters, "first page"
    )
    await pilot.pause()
    return screen


async def open_action(pilot: Pilot, app: OpsConsoleApp, verb_key: str, wanted: str) -> DlqActionScreen:
    """Press the verb's key in the browse screen; wait for the dialog's dry-run to reach the confirmation."""
    await pilot.press(verb_key)
    dialog = await until(pilot, lambda: isinstance(app.screen, DlqActionScreen) and app.screen, "action dialog")
    await until(pilot, lambda: wanted in status_of(app), f"dialog status {wanted!r} (is {status_of(app)!r})")
    return dialog


# --- the pane ----------------------------------------------------------------------------------------------------


@requires_redis_server
@pytest.mark.timeout(40)
async def test_pane_lists_the_redis_and_the_rabbitmq_dlq_with_their_counts(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], dlq_topology: Topology, tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    seed(client, key, [event(i) for i in range(7)])
    await make_dead_letters(dlq_topology, [order(n) for n in range(1, 4)])
    settings = write_settings(tmp_path, redis_dlq=(server.url, key), topology=dlq_topology)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        wanted = {f"redis:{key}": 7, f"rabbitmq:{dlq_topology.dlq}": 3}
        # The RabbitMQ count is the management API's statistic: it lags the queue by up to 5 s.
        await until(pilot, lambda: pane_counts(app) == wanted, f"pane counts {wanted}", limit=15)
        table = app.query_one(DlqPane).query_one(DataTable)
        assert {str(row.value): table.get_cell(row, "count").plain for row in table.rows} == {
            f"redis:{key}": "7",
            f"rabbitmq:{dlq_topology.dlq}": "3",
        }
        assert table.get_cell(f"rabbitmq:{dlq_topology.dlq}", "dlq").plain.startswith(dlq_topology.prefix)
        assert app.query_one(DlqPane).has_class("-active")


# --- browsing and inspecting ---------------------------------------------------------------------------------------


@requires_redis_server
@pytest.mark.timeout(30)
async def test_browse_newest_first_filter_and_a_hostile_letter_in_detail(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    hostile = event(4, error="boom \x1b[2J\x1b]52;c;ZXZpbA==\x07 [bold red]pwned[/]", traceId="t\x1b[31mred")
    seed(client, key, [event(i) if i != 4 else hostile for i in range(9)] + [b"not json \x1b[2J raw"])
    settings = write_settings(tmp_path, redis_dlq=(server.url, key))
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await browse(pilot, app, f"redis:{key}", 10)
        ids = letter_ids(screen)
        assert ids[1:] == [f"evt-{i:03d}" for i in range(8, -1, -1)], ids  # newest (the head) first
        assert "\x1b" not in ids[0] and "not json" in screen.query_one(DataTable).get_row_at(0)[6].plain
        table = screen.query_one(DataTable)
        assert not any("\x1b" in cell.plain for i in range(table.row_count) for cell in table.get_row_at(i))

        # `/` filter, enter: only the user.signup events (every third), still newest first.
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"origin:user.signup", "enter")
        await until(pilot, lambda: letter_ids(screen) == ["evt-006", "evt-003", "evt-000"], "filtered letters")
        assert screen.page is not None and screen.page.total == 10
        assert isinstance(app.focused, DataTable)

        # Text filter on the hostile letter's id, enter opens it.
        await pilot.press("slash", *"evt-004", "enter")
        await until(pilot, lambda: letter_ids(screen) == ["evt-004"], "text filter")
        await pilot.press("enter")
        detail = await until(pilot, lambda: isinstance(app.screen, LetterDetailScreen) and app.screen, "detail")
        await pilot.pause()
        assert detail.letter.message_id == "evt-004"
        text = screen_text(app)
        assert "evt-004" in text and "handler" not in text  # its own error, not another letter's
        assert "pwned" in text and "[bold red]" in text  # markup stays literal
        assert "\x1b" not in text and "\x07" not in text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back to the letters")
        await pilot.press("escape")  # clears nothing (no filter box open): back to the main screen
        await until(pilot, lambda: not isinstance(app.screen, DlqBrowseScreen), "back to the pane")
    assert client.llen(key) == 10  # browsing never consumes


# --- replay -----------------------------------------------------------------------------------------------------------


@requires_redis_server
@pytest.mark.timeout(30)
async def test_read_only_replay_is_refused_and_changes_nothing(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    seed(client, key, [event(i) for i in range(4)])
    subscriber = Subscriber(client)
    settings = write_settings(tmp_path, redis_dlq=(server.url, key))
    app = make_app(settings, build_sources(settings))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await browse(pilot, app, f"redis:{key}", 4)
            dialog = await open_action(pilot, app, "R", "read-only")
            assert dialog.action.plan is not None and dialog.action.plan.plan.count == 1
            await pilot.press("y")
            await until(pilot, lambda: "✖" in status_of(app), "the refusal")
            assert "read-only" in status_of(app)
            await pilot.pause(0.1)
            assert client.llen(key) == 4 and subscriber.ids == []
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DlqBrowseScreen), "dialog closed")
    finally:
        subscriber.close()
    outcomes = [r["outcome"] for r in journal(settings) if r["action"] == "dlq-replay"]
    assert outcomes == ["dry-run", "refused"]


@requires_redis_server
@pytest.mark.timeout(30)
async def test_write_mode_replays_exactly_the_selected_letter(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    seed(client, key, [event(i) for i in range(5)])
    subscriber = Subscriber(client)
    settings = write_settings(tmp_path, redis_dlq=(server.url, key))
    app = make_app(settings, build_sources(settings))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("w")
            assert isinstance(app.screen, WriteModeScreen)
            await pilot.press(*"INC-9 replay one", "enter")
            assert app.write.active() and app.write.reason == "INC-9 replay one"

            screen = await browse(pilot, app, f"redis:{key}", 5)
            assert letter_ids(screen)[:3] == ["evt-004", "evt-003", "evt-002"]
            await pilot.press("down", "space")  # select evt-003; the cursor moves on to evt-002
            assert len(screen.chosen) == 1 and screen.query_one(DataTable).cursor_row == 2
            assert screen.query_one(DataTable).get_row_at(1)[0].plain == "●"
            dialog = await open_action(pilot, app, "R", "press y")
            assert dialog.action.plan is not None
            assert [p.message_id for p in dialog.action.plan.plan.letters] == ["evt-003"]
            await pilot.press("y")
            await until(pilot, lambda: status_of(app).startswith("done"), f"done (is {status_of(app)!r})")
            await until(pilot, lambda: subscriber.ids, "the replayed event")
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen, "back to the letters")
            await until(pilot, lambda: screen.page is not None and screen.page.total == 4, "reloaded page")
            assert "evt-003" not in letter_ids(screen) and not screen.chosen
            await pilot.pause(0.1)
            received = subscriber.poll()
    finally:
        subscriber.close()
    assert len(received) == 1
    channel, document = received[0]
    assert channel == "t:user.signup" and document["eventId"] == "evt-003"
    assert document["replayedAt"] and document["replayedBy"] and "error" not in document and "failedAt" not in document
    assert client.llen(key) == 4
    assert event(3) not in client.lrange(key, 0, -1)
    records = [r for r in journal(settings) if r["action"] == "dlq-replay"]
    assert [r["outcome"] for r in records] == ["dry-run", "started", "done"]
    assert records[0]["counts"] == {"before": 5, "affected": 1}
    done = records[-1]
    assert done["counts"]["before"] == 5 and done["counts"]["after"] == 4 and done["counts"]["replayed"] == 1
    assert done["reason"] == "INC-9 replay one"


@requires_redis_server
@pytest.mark.timeout(30)
async def test_many_letters_need_the_typed_count(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    seed(client, key, [event(i) for i in range(6)])
    subscriber = Subscriber(client)
    settings = write_settings(tmp_path, redis_dlq=(server.url, key), confirm_above=2)
    app = make_app(settings, build_sources(settings))
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.write.enable("INC-10 replay all", 5)
            screen = await browse(pilot, app, f"redis:{key}", 6)
            await pilot.press("a")  # every letter
            assert screen.everything
            dialog = await open_action(pilot, app, "R", "type the DLQ name or the count")
            box = dialog.query_one(Input)
            assert box.display and app.focused is box
            await pilot.press("y")  # one key is not enough: it lands in the box
            await pilot.press("backspace", *"5", "enter")  # the wrong count
            await until(pilot, lambda: "✖" in status_of(app), "the refusal")
            assert "confirmation required" in status_of(app)
            await pilot.pause(0.1)
            assert client.llen(key) == 6 and subscriber.ids == []

            # The box is back for another try.
            assert box.display and app.focused is box and box.value == ""
            await pilot.press(*"6", "enter")
            await until(pilot, lambda: status_of(app).startswith("done"), f"done (is {status_of(app)!r})")
            bar = dialog.query_one(ProgressBar)
            assert bar.total == 6 and bar.progress == 6 and bar.display
            assert "replayed=6" in status_of(app)
            await until(pilot, lambda: len(subscriber.ids) == 6, "six replayed events")
    finally:
        subscriber.close()
    assert sorted(subscriber.ids) == [f"evt-{i:03d}" for i in range(6)]
    assert subscriber.ids == [f"evt-{i:03d}" for i in range(6)]  # oldest first: the bus's order
    assert client.llen(key) == 0
    outcomes = [r["outcome"] for r in journal(settings) if r["action"] == "dlq-replay"]
    assert outcomes == ["dry-run", "refused", "started", "done"]


@requires_redis_server
@pytest.mark.timeout(30)
async def test_abort_mid_replay_loses_nothing(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    ids = [f"evt-{i:03d}" for i in range(40)]
    seed(client, key, [event(i) for i in range(40)])
    subscriber = Subscriber(client)
    settings = write_settings(tmp_path, redis_dlq=(server.url, key), replay_rate=5)
    app = make_app(settings, build_sources(settings))
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.write.enable("INC-11 slow replay", 5)
            await browse(pilot, app, f"redis:{key}", 40)
            await pilot.press("a")
            dialog = await open_action(pilot, app, "R", "type the DLQ name or the count")
            await pilot.press(*"40", "enter")
            await until(pilot, lambda: dialog.running, "replay running")
            await until(pilot, lambda: len(subscriber.ids) >= 3, "a few replayed")
            await pilot.press("escape")  # refused while running
            assert app.screen is dialog and "abort first" in status_of(app)
            await pilot.press("a")
            await until(pilot, lambda: dialog.done, "the replay to stop", limit=5)
            assert status_of(app).startswith("aborted"), status_of(app)
            await pilot.pause(0.3)
            received = subscriber.ids
            await pilot.press("escape")
    finally:
        subscriber.close()
    remaining = [json.loads(element)["eventId"] for element in client.lrange(key, 0, -1)]
    assert 3 <= len(received) < 40, received
    assert sorted(received + remaining) == ids  # each letter in exactly one place: none lost, none doubled
    assert received == ids[: len(received)]  # oldest first
    records = [r for r in journal(settings) if r["action"] == "dlq-replay"]
    assert [r["outcome"] for r in records] == ["dry-run", "started", "aborted"]
    assert records[-1]["counts"]["replayed"] == len(received)
    assert records[-1]["counts"]["after"] == len(remaining)


# --- purge --------------------------------------------------------------------------------------------------------


@requires_redis_server
@pytest.mark.timeout(30)
async def test_purge_needs_the_typed_name_and_writes_a_backup(
    redis_dlq: tuple[PrivateRedis, redis.Redis, str], tmp_path: Path, state: Path
) -> None:
    server, client, key = redis_dlq
    elements = [event(i) for i in range(5)]
    seed(client, key, elements)
    settings = write_settings(tmp_path, redis_dlq=(server.url, key))
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=SIZE) as pilot:
        app.write.enable("INC-12 purge", 5)
        screen = await browse(pilot, app, f"redis:{key}", 5)
        dialog = await open_action(pilot, app, "X", "type the DLQ name")
        assert app.focused is dialog.query_one(Input)
        await pilot.press(*"events:dlq", "enter")  # not the name
        await until(pilot, lambda: "✖" in status_of(app), "the refusal")
        assert client.llen(key) == 5 and not (state / "backups").exists()
        await pilot.press(*key, "enter")
        await until(pilot, lambda: status_of(app).startswith("done"), f"done (is {status_of(app)!r})")
        await pilot.press("escape")
        await until(pilot, lambda: screen.page is not None and screen.page.total == 0, "empty page")
    assert not client.exists(key)
    backups = list((state / "backups").glob("*.ndjson"))
    assert len(backups) == 1 and str(backups[0]).startswith(str(tmp_path))
    records = read_ndjson(backups[0])
    assert [r["element"].encode() for r in records] == elements[::-1]  # head (newest) first, byte for byte
    outcomes = [r["outcome"] for r in journal(settings) if r["action"] == "dlq-purge"]
    assert outcomes == ["dry-run", "refused", "started", "done"]


# --- RabbitMQ ------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(40)
async def test_rabbitmq_browse_and_replay_the_highlighted_letter(
    dlq_topology: Topology, tmp_path: Path, state: Path
) -> None:
    await make_dead_letters(dlq_topology, [order(n) for n in range(1, 4)])
    settings = write_settings(tmp_path, topology=dlq_topology)
    app = make_app(settings, build_sources(settings))
    async with app.run_test(size=SIZE) as pilot:
        app.write.enable("INC-13 rabbit", 5)
        screen = await browse(pilot, app, f"rabbitmq:{dlq_topology.dlq}", 3)
        note = screen.query_one("#dlq-note", Static).content
        assert "requeued" in str(note)
        assert sorted(letter_ids(screen)) == ["m-00001", "m-00002", "m-00003"]
        highlighted = letter_ids(screen)[0]
        dialog = await open_action(pilot, app, "R", "press y")
        assert dialog.action.plan is not None
        assert [p.message_id for p in dialog.action.plan.plan.letters] == [highlighted]
        assert dialog.action.plan.plan.letters[0].destination == dlq_topology.destination
        await pilot.press("y")
        await until(pilot, lambda: status_of(app).startswith("done"), f"done (is {status_of(app)!r})")
        assert "replayed=1" in status_of(app)
        await pilot.press("escape")
    received = await consume(dlq_topology.orders, 1, limit=10)
    assert [m.message_id for m in received] == [highlighted]
    assert received[0].headers[REPLAY_MARK]
    assert received[0].headers["x-tenant"] == "acme"  # properties and headers kept
    assert await depth(dlq_topology.dlq) == 2
    assert await depth(dlq_topology.orders) == 0
    records = [r for r in journal(settings) if r["action"] == "dlq-replay"]
    assert [r["outcome"] for r in records] == ["dry-run", "started", "done"]
    assert records[-1]["counts"]["before"] == 3 and records[-1]["counts"]["after"] == 2
