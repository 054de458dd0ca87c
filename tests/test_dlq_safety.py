"""The DLQ safety model: write mode, confirmations scaled to the blast radius, the journal, config errors.

`DlqAction` runs against a real Redis list DLQ on a private `redis-server` (never the shared :6379), built from a
TOML config in tmp_path; the journal is read back as JSON Lines. Skipped when `redis-server` is missing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from console.adapters.dlq_base import Selection, read_ndjson
from console.audit import AuditError, AuditLog
from console.cli import main
from console.config import Settings, load_settings
from console.dlq import StoreCatalog
from console.dlq_actions import DlqAction, restore
from console.errors import ActionRefused, ConfigError
from console.safety import Confirmation, WriteMode
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)

# --- Confirmation (no IO) -----------------------------------------------------------------------------------


def test_key_confirmation_accepts_yes_or_the_name() -> None:
    key = Confirmation("key", "dlq:events", "3")
    assert key.satisfied_by(None, yes=True)
    assert key.satisfied_by("", yes=True)
    assert key.satisfied_by("dlq:events", yes=False)
    assert not key.satisfied_by(None, yes=False)
    assert not key.satisfied_by("", yes=False)
    assert not key.satisfied_by("nope", yes=False)


@pytest.mark.parametrize("given", ["dlq:events", "42"])
def test_typed_confirmation_accepts_the_name_or_the_count(given: str) -> None:
    typed = Confirmation("typed", "dlq:events", "42")
    assert typed.satisfied_by(given, yes=False)
    assert typed.satisfied_by(given, yes=True)


@pytest.mark.parametrize("given", [None, "", "   ", "dlq:event", "DLQ:EVENTS", "41", "y", "yes", "dlq:events 42"])
def test_typed_confirmation_rejects_anything_else_even_with_yes(given: str | None) -> None:
    typed = Confirmation("typed", "dlq:events", "42")
    assert not typed.satisfied_by(given, yes=True)
    assert not typed.accepts(given)


def test_typed_confirmation_without_a_count_does_not_accept_empty_text() -> None:
    assert not Confirmation("typed", "q").satisfied_by("", yes=True)
    assert Confirmation("typed", "q").satisfied_by("q", yes=False)


def test_write_mode_needs_a_reason_and_expires() -> None:
    mode = WriteMode()
    assert not mode.active()
    with pytest.raises(ActionRefused, match="reason"):
        mode.enable("   ", 15)
    now = datetime.now(UTC)
    mode.enable("incident 42", 15, now=now)
    assert mode.active(now + timedelta(minutes=14))
    assert not mode.active(now + timedelta(minutes=15))
    mode.enable("incident 42", 5, now=now - timedelta(minutes=10))
    assert not mode.active()
    mode.enable("incident 42", 5)
    mode.disable()
    assert not mode.active() and mode.reason == ""


# --- helpers -------------------------------------------------------------------------------------------------


def write_config(
    tmp_path: Path,
    redis_url: str,
    key: str,
    *,
    audit_log: Path | None = None,
    protected: bool = False,
    confirm_above: int = 10,
) -> Path:
    audit = audit_log or tmp_path / "audit.jsonl"
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(
        f"""
[console]
audit_log = {json.dumps(str(audit))}

[env.t]
protected = {"true" if protected else "false"}

[env.t.dlq]
confirm_above = {confirm_above}

[[env.t.dlq.redis]]
key = {json.dumps(key)}
redis_url = {json.dumps(redis_url)}
replay_to = "list"
target = "replayed:{{event}}"
""",
        encoding="utf-8",
    )
    return path


def event(index: int, name: str = "order.created") -> bytes:
    return json.dumps(
        {
            "eventId": f"evt-{index}",
            "event": name,
            "payload": {"orderId": index},
            "error": "handler exploded",
            "failedAt": f"2024-05-01T12:{index // 60:02d}:{index % 60:02d}Z",
            "retryCount": 3,
        }
    ).encode()


def seed(client: redis.Redis, key: str, count: int) -> list[bytes]:
    """LPUSH `count` events (as the bus does: the newest at the head); the list as LRANGE shows it."""
    for index in range(count):
        client.lpush(key, event(index))
    return list(client.lrange(key, 0, -1))


def journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_mode() -> WriteMode:
    mode = WriteMode()
    mode.enable("incident 42", 15)
    return mode


class Env:
    """A Redis DLQ environment: server, list key, config file, settings and a factory of actions."""

    def __init__(self, server: PrivateRedis, tmp_path: Path, **config: Any):
        self.server = server
        self.client = server.client()
        self.key = f"test:dlq:{uuid.uuid4().hex[:10]}"
        self.tmp_path = tmp_path
        self.audit_path = config.pop("audit_log", None) or tmp_path / "audit.jsonl"
        self.config = write_config(tmp_path, server.url, self.key, audit_log=self.audit_path, **config)
        self.settings: Settings = load_settings(str(self.config))
        self.catalog = StoreCatalog(self.settings)

    def action(self, verb: str, selection: Selection | None = None, target: str = "") -> DlqAction:
        store = self.catalog.get("redis", self.key)
        return DlqAction(
            self.settings, store, verb, AuditLog(self.settings.audit_log), selection or Selection(), target
        )

    def count(self) -> int:
        return int(self.client.llen(self.key))

    def replayed(self) -> int:
        return sum(int(self.client.llen(k)) for k in self.client.keys("replayed:*"))


@pytest.fixture
async def make_env(make_redis: Callable[..., PrivateRedis], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    server = make_redis()
    made: list[Env] = []

    def make(**config: Any) -> Env:
        folder = tmp_path / f"env{len(made)}"
        folder.mkdir()
        env = Env(server, folder, **config)
        made.append(env)
        return env

    yield make
    for env in made:
        await env.catalog.aclose()


# --- read-only, write mode, export ---------------------------------------------------------------------------


@requires_redis_server
@pytest.mark.parametrize("verb", ["replay", "move", "purge"])
async def test_read_only_refuses_every_change_and_journals_the_refusal(make_env: Any, verb: str) -> None:
    env = make_env()
    before = seed(env.client, env.key, 3)
    action = env.action(verb, target="elsewhere" if verb == "move" else "")
    plan = await action.dry_run()
    assert plan.before == 3
    for given, yes in ((None, True), (env.key, False), ("3", True)):
        with pytest.raises(ActionRefused, match="read-only"):
            await action.execute(WriteMode(), given=given, yes=yes)
    assert env.client.lrange(env.key, 0, -1) == before
    assert env.client.exists("elsewhere") == 0 and env.replayed() == 0
    records = journal(env.audit_path)
    assert [r["outcome"] for r in records] == ["dry-run", "refused", "refused", "refused"]
    for record in records:
        assert record["action"] == f"dlq-{verb}"
        assert record["target"] == f"redis:{env.key}"
        assert record["environment"] == "t"
        assert record["parameters"]["dlq"] == env.key
    assert "read-only" in records[-1]["detail"]
    assert not list((env.tmp_path.parent / "state").rglob("*.ndjson"))  # no purge backup either


@requires_redis_server
async def test_read_only_refuses_restore_and_journals_it(make_env: Any, tmp_path: Path) -> None:
    env = make_env()
    backup = tmp_path / "backup.ndjson"
    backup.write_text(json.dumps({"kind": "redis", "dlq": env.key, "element": event(1).decode()}) + "\n")
    store = env.catalog.get("redis", env.key)
    with pytest.raises(ActionRefused, match="read-only"):
        await restore(env.settings, store, backup, AuditLog(env.audit_path), WriteMode())
    assert env.count() == 0
    (record,) = journal(env.audit_path)
    assert (record["action"], record["outcome"]) == ("dlq-restore", "refused")
    assert record["parameters"]["file"] == str(backup)


@requires_redis_server
async def test_export_works_read_only_changes_nothing_and_is_journaled(make_env: Any, tmp_path: Path) -> None:
    env = make_env()
    before = seed(env.client, env.key, 4)
    out = tmp_path / "export.ndjson"
    action = env.action("export", Selection(text="evt-2"), target=str(out))
    plan = await action.dry_run()
    assert plan.confirmation.level == "key" and plan.plan.count == 1
    result = await action.execute(WriteMode(), yes=True)
    assert result["exported"] == 1 and result["file"] == str(out)
    assert env.client.lrange(env.key, 0, -1) == before
    (record,) = read_ndjson(out)
    assert record["element"] == event(2).decode()
    outcomes = [(r["action"], r["outcome"]) for r in journal(env.audit_path)]
    assert outcomes == [("dlq-export", "dry-run"), ("dlq-export", "started"), ("dlq-export", "done")]
    assert journal(env.audit_path)[-1]["counts"]["exported"] == 1


@requires_redis_server
async def test_expired_write_mode_is_read_only_again(make_env: Any) -> None:
    env = make_env()
    seed(env.client, env.key, 2)
    action = env.action("replay")
    await action.dry_run()
    lapsed = WriteMode()
    lapsed.enable("incident 42", 15, now=datetime.now(UTC) - timedelta(minutes=16))
    with pytest.raises(ActionRefused, match="read-only"):
        await action.execute(lapsed, yes=True)
    ended = WriteMode(reason="incident 42", until=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ActionRefused, match="read-only"):
        await action.execute(ended, given=env.key)
    assert env.count() == 2 and env.replayed() == 0
    assert [r["outcome"] for r in journal(env.audit_path)] == ["dry-run", "refused", "refused"]


@requires_redis_server
async def test_no_dry_run_no_action(make_env: Any) -> None:
    env = make_env()
    seed(env.client, env.key, 1)
    with pytest.raises(ActionRefused, match="dry-run"):
        await env.action("replay").execute(write_mode(), yes=True)
    assert env.count() == 1


# --- confirmation scales with the blast radius ---------------------------------------------------------------


@requires_redis_server
@pytest.mark.parametrize("count", [1, 10])
async def test_up_to_confirm_above_letters_one_key_is_enough(make_env: Any, count: int) -> None:
    env = make_env(confirm_above=10)
    seed(env.client, env.key, count)
    action = env.action("replay")
    plan = await action.dry_run()
    assert plan.confirmation.level == "key"
    with pytest.raises(ActionRefused, match="confirmation required"):
        await action.execute(write_mode(), given=None, yes=False)
    assert env.count() == count
    result = await action.execute(write_mode(), yes=True)
    assert result["replayed"] == count and result["before"] == count and result["after"] == 0
    assert env.count() == 0 and env.replayed() == count
    outcomes = [r["outcome"] for r in journal(env.audit_path)]
    assert outcomes == ["dry-run", "refused", "started", "done"]


@requires_redis_server
@pytest.mark.parametrize("answer", ["name", "count"])
async def test_above_confirm_above_the_name_or_the_count_must_be_typed(make_env: Any, answer: str) -> None:
    env = make_env(confirm_above=10)
    seed(env.client, env.key, 11)
    action = env.action("replay")
    plan = await action.dry_run()
    assert plan.confirmation == Confirmation("typed", env.key, "11")
    for given, yes in ((None, True), ("", True), ("y", True), ("10", False), (env.key + "x", False)):
        with pytest.raises(ActionRefused, match="type the DLQ name"):
            await action.execute(write_mode(), given=given, yes=yes)
    assert env.count() == 11 and env.replayed() == 0
    result = await action.execute(write_mode(), given=env.key if answer == "name" else "11")
    assert result["replayed"] == 11
    assert env.count() == 0 and env.replayed() == 11
    outcomes = [r["outcome"] for r in journal(env.audit_path)]
    assert outcomes == ["dry-run"] + ["refused"] * 5 + ["started", "done"]


@requires_redis_server
async def test_a_selection_counts_not_the_whole_dlq(make_env: Any) -> None:
    env = make_env(confirm_above=10)
    seed(env.client, env.key, 30)
    action = env.action("replay", Selection(limit=5))
    plan = await action.dry_run()
    assert plan.plan.count == 5 and plan.before == 30 and plan.confirmation.level == "key"
    assert (await action.execute(write_mode(), yes=True))["replayed"] == 5
    assert env.count() == 25


@requires_redis_server
async def test_purge_always_needs_the_typed_name_even_for_one_letter(make_env: Any, tmp_path: Path) -> None:
    env = make_env(confirm_above=10)
    before = seed(env.client, env.key, 1)
    backup = tmp_path / "purge.ndjson"
    action = env.action("purge", target=str(backup))
    plan = await action.dry_run()
    assert plan.confirmation == Confirmation("typed", env.key, "1")
    with pytest.raises(ActionRefused, match="type the DLQ name"):
        await action.execute(write_mode(), yes=True)
    assert env.count() == 1 and not backup.exists()
    result = await action.execute(write_mode(), given=env.key)
    assert result["purged"] == 1 and result["backup"] == str(backup)
    assert env.count() == 0
    assert [r["element"] for r in read_ndjson(backup)] == [b.decode() for b in before]


@requires_redis_server
async def test_purge_takes_no_selection(make_env: Any, tmp_path: Path) -> None:
    env = make_env()
    seed(env.client, env.key, 3)
    with pytest.raises(ActionRefused, match="purge"):
        await env.action("purge", Selection(text="evt-1"), target=str(tmp_path / "b.ndjson")).dry_run()
    assert env.count() == 3


@requires_redis_server
@pytest.mark.parametrize("verb", ["replay", "move", "purge"])
async def test_a_protected_environment_demands_typing_even_for_one_letter(make_env: Any, verb: str) -> None:
    env = make_env(protected=True, confirm_above=10)
    seed(env.client, env.key, 1)
    action = env.action(verb, target="elsewhere" if verb == "move" else "")
    plan = await action.dry_run()
    assert plan.confirmation.level == "typed"
    with pytest.raises(ActionRefused, match="type the DLQ name"):
        await action.execute(write_mode(), yes=True)
    assert env.count() == 1
    await action.execute(write_mode(), given="1")
    assert env.count() == 0


@requires_redis_server
async def test_a_protected_environment_still_exports_with_one_key(make_env: Any, tmp_path: Path) -> None:
    env = make_env(protected=True)
    seed(env.client, env.key, 2)
    action = env.action("export", target=str(tmp_path / "out.ndjson"))
    assert (await action.dry_run()).confirmation.level == "key"
    assert (await action.execute(WriteMode(), yes=True))["exported"] == 2
    assert env.count() == 2


# --- the journal must be writable before anything changes -----------------------------------------------------


@requires_redis_server
async def test_an_unwritable_journal_stops_the_dry_run(make_env: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the journal's folder should be")
    env = make_env(audit_log=blocker / "audit.jsonl")
    before = seed(env.client, env.key, 3)
    with pytest.raises(AuditError, match="cannot write audit journal"):
        await env.action("replay").dry_run()
    assert env.client.lrange(env.key, 0, -1) == before and env.replayed() == 0


@requires_redis_server
@pytest.mark.parametrize("verb", ["replay", "move", "purge"])
async def test_a_journal_that_breaks_before_the_start_changes_nothing(make_env: Any, tmp_path: Path, verb: str) -> None:
    env = make_env()
    before = seed(env.client, env.key, 3)
    backup = tmp_path / "purge.ndjson"
    action = env.action(verb, target={"move": "elsewhere", "purge": str(backup)}.get(verb, ""))
    await action.dry_run()
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    action.audit = AuditLog(blocker / "audit.jsonl")  # e.g. the disk filled up, the folder went read-only
    with pytest.raises(AuditError):
        await action.execute(write_mode(), given=env.key, yes=True)
    assert env.client.lrange(env.key, 0, -1) == before
    assert env.client.exists("elsewhere") == 0 and env.replayed() == 0 and not backup.exists()


@requires_redis_server
async def test_an_unwritable_journal_stops_a_restore(make_env: Any, tmp_path: Path) -> None:
    env = make_env()
    backup = tmp_path / "backup.ndjson"
    backup.write_text(json.dumps({"kind": "redis", "dlq": env.key, "element": "x"}) + "\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    store = env.catalog.get("redis", env.key)
    with pytest.raises(AuditError):
        await restore(env.settings, store, backup, AuditLog(blocker / "audit.jsonl"), write_mode())
    assert env.count() == 0


# --- [env.X.dlq] config errors name the key ------------------------------------------------------------------


BAD_DLQ = {
    "bad replay_to": (
        '[[env.t.dlq.redis]]\nkey = "dlq"\nredis_url = "redis://127.0.0.1:6390"\nreplay_to = "queue"\n',
        "env.t.dlq.redis[0].replay_to",
        "channel, list",
    ),
    "bad sample": ("[env.t.dlq]\nsample = 0\n", "env.t.dlq.sample", "1 to 10000"),
    "sample not a number": ('[env.t.dlq]\nsample = "lots"\n', "env.t.dlq.sample", "whole number"),
    "redis entry without key": (
        '[[env.t.dlq.redis]]\nredis_url = "redis://127.0.0.1:6390"\n',
        "env.t.dlq.redis[0].key",
        "is required",
    ),
    "redis entry without url": ('[[env.t.dlq.redis]]\nkey = "dlq"\n', "env.t.dlq.redis[0].redis_url", "required"),
    "unknown dlq key": ("[env.t.dlq]\nreplay_speed = 5\n", "env.t.dlq.replay_speed", "unknown key"),
    "unknown redis entry key": (
        '[[env.t.dlq.redis]]\nkey = "dlq"\nredis_url = "redis://127.0.0.1:6390"\nchannel = "x"\n',
        "env.t.dlq.redis[0].channel",
        "unknown key",
    ),
    "negative confirm_above": ("[env.t.dlq]\nconfirm_above = -1\n", "env.t.dlq.confirm_above", ">= 0"),
    "redis not an array": ('[env.t.dlq]\nredis = "dlq"\n', "env.t.dlq.redis", "array of tables"),
}


@pytest.mark.parametrize("case", sorted(BAD_DLQ))
def test_dlq_config_errors_name_the_key(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, key, expectation = BAD_DLQ[case]
    path = tmp_path / "config.toml"
    path.write_text(f'[env.t]\nlabel = "t"\n\n{text}', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(str(path))
    problems = [p for p in raised.value.problems if f": {key}:" in p]
    assert problems, raised.value.problems
    assert expectation in problems[0] and str(path) in problems[0]
    capsys.readouterr()
    assert main(["config", "check", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert key in err and "invalid configuration" in err


def test_every_dlq_problem_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[env.t.dlq]
sample = 100000
bogus = true

[[env.t.dlq.redis]]
replay_to = "kafka"
redis_url = "redis://127.0.0.1:6390"
""",
        encoding="utf-8",
    )
    assert main(["config", "check", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    for key in ("env.t.dlq.sample", "env.t.dlq.bogus", "env.t.dlq.redis[0].key", "env.t.dlq.redis[0].replay_to"):
        assert key in err


def test_a_good_dlq_config_checks_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, "redis://127.0.0.1:6390", "dlq:events")
    assert main(["config", "check", "--config", str(path)]) == 0
    settings = load_settings(str(path))
    assert settings.dlq is not None
    (item,) = settings.dlq.redis
    assert (item.key, item.replay_to, item.target, item.strip) == (
        "dlq:events",
        "list",
        "replayed:{event}",
        ("error", "failedAt"),
    )
    assert settings.dlq.confirm_above == 10
