"""`opsconsole dlq …` end to end: list, browse, show, replay, export, purge and restore against a private
`redis-server` (a Redis list DLQ) and the shared RabbitMQ broker (a DLQ fed by real dead letters: messages
rejected with requeue=False from a queue whose x-dead-letter-exchange leads to it).

Commands run in-process through `console.cli.main` (a couple through the installed `opsconsole` script);
configs are TOML files in tmp_path, journals, backups and exports land under tmp_path. RabbitMQ queues and
exchanges carry a unique `oc-test-<hex>` prefix and are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
import redis

from console.adapters.dlq_base import read_ndjson
from console.cli import main
from tests.fixtures.net import free_port
from tests.fixtures.rabbit import (
    AMQP_URL,
    MANAGEMENT_AUTH,
    MANAGEMENT_URL,
    delete_queues_with_prefix,
    require_rabbitmq,
    unique_prefix,
)
from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
)

ROOT = Path(__file__).resolve().parent.parent
OPSCONSOLE = ROOT / ".venv" / "bin" / "opsconsole"


# --- running the CLI -------------------------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """`cli("dlq", "list", …)` runs `opsconsole` in-process with this test's config; output captured."""

    def __init__(self, capsys: pytest.CaptureFixture[str], tmp_path: Path):
        self.capsys = capsys
        self.tmp_path = tmp_path
        self.config: Path | None = None
        self.audit_log = tmp_path / "audit.jsonl"

    def write_config(self, *, redis: tuple[str, str] | None = None, rabbit: dict[str, Any] | None = None) -> Path:
        lines = ["[console]", f"audit_log = {json.dumps(str(self.audit_log))}", "", "[env.t]", 'label = "test"']
        if rabbit is not None:
            lines += [
                "[env.t.rabbitmq]",
                f'management_url = "{MANAGEMENT_URL.replace("://", "://guest:guest@")}"',
                f"amqp_url = {json.dumps(AMQP_URL)}",
            ]
        if redis is not None or rabbit is not None:
            lines += ["[env.t.dlq]", "confirm_above = 10", "bullmq = false", "replay_rate = 10000"]
        if rabbit is not None:
            lines += [f"discover = {'true' if rabbit.get('discover') else 'false'}"]
            lines += [f"rabbitmq = {json.dumps(rabbit.get('names', []))}"]
        if redis is not None:
            url, key = redis
            lines += [
                "[[env.t.dlq.redis]]",
                f"key = {json.dumps(key)}",
                f"redis_url = {json.dumps(url)}",
                'replay_to = "list"',
                'target = "replayed:{event}"',
            ]
        self.config = self.tmp_path / f"config-{uuid.uuid4().hex[:6]}.toml"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config

    def __call__(self, *argv: str) -> Result:
        assert self.config is not None
        self.capsys.readouterr()
        code = main([*argv, "--config", str(self.config)])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def journal(self) -> list[dict[str, Any]]:
        result = self("audit", "--json", "--last", "1000")
        assert result.code == 0, result.err
        return [json.loads(line) for line in result.out.splitlines() if line.strip()]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path) -> Cli:
    return Cli(capsys, tmp_path)


# --- Redis list DLQ ----------------------------------------------------------------------------------------------


def event(index: int, name: str | None = None, **extra: Any) -> bytes:
    document = {
        "eventId": f"evt-{index}",
        "event": name or ("order.created" if index % 2 else "user.signup"),
        "payload": {"orderId": index},
        "error": "handler exploded\n  at line 3",
        "failedAt": f"2024-05-01T12:{index // 60:02d}:{index % 60:02d}Z",
        "retryCount": 3,
        **extra,
    }
    return json.dumps(document).encode()


@dataclass
class RedisDlq:
    server: PrivateRedis
    client: redis.Redis
    key: str

    def seed(self, count: int, start: int = 0) -> None:
        for index in range(start, start + count):
            self.client.lpush(self.key, event(index))

    def elements(self) -> list[bytes]:
        return list(self.client.lrange(self.key, 0, -1))

    def count(self) -> int:
        return int(self.client.llen(self.key))

    def replayed(self) -> dict[str, list[bytes]]:
        return {k.decode(): list(self.client.lrange(k, 0, -1)) for k in self.client.keys("replayed:*")}


@pytest.fixture
def rdlq(make_redis: Callable[..., PrivateRedis], cli: Cli) -> RedisDlq:
    server = make_redis()  # skips, with the reason, when redis-server is not installed
    dlq = RedisDlq(server, server.client(), f"test:dlq:{uuid.uuid4().hex[:10]}")
    cli.write_config(redis=(server.url, dlq.key))
    return dlq


def test_list_shows_a_redis_dlq(cli: Cli, rdlq: RedisDlq) -> None:
    rdlq.seed(5)
    text = cli("dlq", "list")
    assert text.code == 0, text.err
    (line,) = [line for line in text.out.splitlines() if line.startswith(f"redis:{rdlq.key} ")]
    assert line.split()[1] == "5"
    as_json = cli("dlq", "list", "--json")
    assert as_json.code == 0
    (row,) = json.loads(as_json.out)["dlqs"]
    assert row["kind"] == "redis" and row["name"] == rdlq.key and row["count"] == 5
    assert row["by_origin"] == {"user.signup": 3, "order.created": 2}
    assert row["by_reason"] == {"handler exploded": 5}
    assert row["oldest_at"] == "2024-05-01T12:00:00+00:00"


def test_browse_is_newest_first_filters_and_prints_json(cli: Cli, rdlq: RedisDlq) -> None:
    rdlq.seed(12)
    rdlq.client.rpush(rdlq.key, b"\xff\xfe binary, the oldest \x00")
    result = cli("dlq", "browse", f"redis:{rdlq.key}", "--json", "--limit", "12")
    assert result.code == 0, result.err
    page = json.loads(result.out)
    assert page["total"] == 13
    assert [letter["message_id"] for letter in page["letters"]] == [f"evt-{i}" for i in range(11, -1, -1)]
    assert page["letters"][0]["destination"] == "list replayed:order.created"
    assert page["letters"][0]["reason"] == "handler exploded"

    text = cli("dlq", "browse", rdlq.key, "--limit", "3")  # a bare name works when it is unique
    assert text.code == 0, text.err
    header, *rows = text.out.splitlines()
    assert header == f"redis:{rdlq.key} · 13 letters"
    assert [row.split()[2] for row in rows] == ["evt-11", "evt-10", "evt-9"]
    oldest = cli("dlq", "browse", f"redis:{rdlq.key}", "--offset", "12")  # a binary letter prints, too
    assert oldest.code == 0, oldest.err
    assert "binary, the oldest" in oldest.out and "\x00" not in oldest.out

    filtered = json.loads(cli("dlq", "browse", f"redis:{rdlq.key}", "--filter", "ORDER.created", "--json").out)
    assert [letter["message_id"] for letter in filtered["letters"]] == [f"evt-{i}" for i in (11, 9, 7, 5, 3, 1)]
    by_origin = json.loads(cli("dlq", "browse", f"redis:{rdlq.key}", "--origin", "user.signup", "--json").out)
    assert len(by_origin["letters"]) == 6
    paged = json.loads(cli("dlq", "browse", f"redis:{rdlq.key}", "--offset", "10", "--limit", "5", "--json").out)
    assert [letter["message_id"] for letter in paged["letters"]] == ["evt-1", "evt-0", ""]
    assert rdlq.count() == 13


def test_show_prints_one_letter_as_json_and_never_a_raw_escape(cli: Cli, rdlq: RedisDlq) -> None:
    rdlq.seed(12)  # evt-1 and evt-10, evt-11: an id must not be taken for a longer one containing it
    hostile = b"not json: evt-esc \x1b[2J\x1b]0;pwned\x07\x1b[31m red \x9b1m"
    rdlq.client.lpush(rdlq.key, hostile)
    rdlq.client.lpush(rdlq.key, event(99, note="\x1b[2J inside JSON"))

    result = cli("dlq", "show", f"redis:{rdlq.key}", "evt-1")
    assert result.code == 0, result.err
    letter = json.loads(result.out)
    assert letter["message_id"] == "evt-1" and letter["origin"] == "order.created"
    assert letter["ref"] == event(1).decode()

    for ident in ("evt-esc", "evt-99"):
        shown = cli("dlq", "show", f"redis:{rdlq.key}", ident)
        assert shown.code == 0, shown.err
        assert "\x1b" not in shown.out and "\x07" not in shown.out and "\x9b" not in shown.out
    escaped = json.loads(cli("dlq", "show", f"redis:{rdlq.key}", "evt-esc").out)
    assert escaped["body_preview"].startswith("not json: evt-esc \x1b[2J")  # escaped in the JSON, intact inside

    for argv in (["browse", f"redis:{rdlq.key}"], ["browse", f"redis:{rdlq.key}", "--json"], ["list"]):
        out = cli("dlq", *argv).out
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out

    missing = cli("dlq", "show", f"redis:{rdlq.key}", "evt-404")
    assert missing.code == 1 and "no letter 'evt-404'" in missing.err


def test_replay_dry_run_refusal_and_confirmations(cli: Cli, rdlq: RedisDlq) -> None:
    rdlq.seed(25)
    dlq = f"redis:{rdlq.key}"
    before = rdlq.elements()

    dry = cli("dlq", "replay", dlq, "--dry-run")
    assert dry.code == 0, dry.err
    assert "replay 25 of 25 letters" in dry.out and "dry-run: nothing changed" in dry.out
    listed = [line.split() for line in dry.out.splitlines() if line.startswith("  evt-")]
    assert [row[0] for row in listed] == [f"evt-{i}" for i in range(25)]  # oldest first, as the replay takes them
    for row in listed:
        index = int(row[0].removeprefix("evt-"))
        assert row[-1] == ("replayed:order.created" if index % 2 else "replayed:user.signup")
        assert row[-3:-1] == ["→", "list"]
    assert rdlq.elements() == before

    refused = cli("dlq", "replay", dlq, "--max", "3")
    assert refused.code == 2 and "refused: read-only" in refused.err
    no_reason = cli("dlq", "replay", dlq, "--max", "3", "--write", "--yes")
    assert no_reason.code == 2 and "reason" in no_reason.err
    unconfirmed = cli("dlq", "replay", dlq, "--max", "3", "--write", "--reason", "INC-1")
    assert unconfirmed.code == 2 and "confirmation required" in unconfirmed.err
    assert rdlq.elements() == before and rdlq.replayed() == {}

    small = cli("dlq", "replay", dlq, "--max", "3", "--write", "--reason", "INC-1", "--yes")
    assert small.code == 0, small.err
    assert "done: replayed=3, failed=0, skipped=0" in small.out
    assert rdlq.count() == 22 and rdlq.elements() == before[:22]  # the three oldest went
    replayed = rdlq.replayed()
    assert sorted(replayed) == ["replayed:order.created", "replayed:user.signup"]
    copies = [json.loads(raw) for raws in replayed.values() for raw in raws]
    assert sorted(c["eventId"] for c in copies) == ["evt-0", "evt-1", "evt-2"]
    assert all("error" not in c and "failedAt" not in c and c["replayedBy"] for c in copies)

    many = cli("dlq", "replay", dlq, "--write", "--reason", "INC-1", "--yes")  # 22 > confirm_above
    assert many.code == 2 and "type the DLQ name" in many.err and "typed confirmation required" in many.err
    wrong = cli("dlq", "replay", dlq, "--write", "--reason", "INC-1", "--confirm", "21")
    assert wrong.code == 2 and "confirmation required" in wrong.err
    assert rdlq.count() == 22

    by_name = cli("dlq", "replay", dlq, "--max", "11", "--write", "--reason", "INC-1", "--confirm", rdlq.key)
    assert by_name.code == 0, by_name.err
    assert "replayed=11" in by_name.out and rdlq.count() == 11
    by_count = cli("dlq", "replay", dlq, "--write", "--reason", "INC-1", "--confirm", "11")
    assert by_count.code == 0, by_count.err
    assert "replayed=11" in by_count.out and rdlq.count() == 0
    assert sum(len(v) for v in rdlq.replayed().values()) == 25


def test_replay_and_export_take_ids_as_listed(cli: Cli, rdlq: RedisDlq, tmp_path: Path) -> None:
    rdlq.seed(12)
    dlq = f"redis:{rdlq.key}"
    out = tmp_path / "picked.ndjson"
    export = cli("dlq", "export", dlq, "--ids", "evt-1,evt-10", "--out", str(out))  # no --write, no --yes
    assert export.code == 0, export.err
    assert "exported=2" in export.out
    assert sorted(r["element"] for r in read_ndjson(out)) == sorted([event(1).decode(), event(10).decode()])
    assert all(r["kind"] == "redis" and r["dlq"] == rdlq.key for r in read_ndjson(out))
    assert rdlq.count() == 12

    again = cli("dlq", "export", dlq, "--ids", "evt-1", "--out", str(out))
    assert again.code != 0 and "exists" in again.err  # an export never overwrites
    default = cli("dlq", "export", dlq, "--filter", "user.signup")
    assert default.code == 0, default.err
    (written,) = (cli.tmp_path / "state" / "opsconsole" / "exports").glob("*.ndjson")
    assert len(read_ndjson(written)) == 6

    replay = cli("dlq", "replay", dlq, "--ids", "evt-3, evt-4", "--write", "--reason", "INC-2", "--yes")
    assert replay.code == 0, replay.err
    assert "replayed=2" in replay.out and rdlq.count() == 10
    remaining = {json.loads(e)["eventId"] for e in rdlq.elements()}
    assert remaining == {f"evt-{i}" for i in range(12)} - {"evt-3", "evt-4"}


def test_purge_writes_a_backup_and_restore_puts_it_back_exactly(cli: Cli, rdlq: RedisDlq, tmp_path: Path) -> None:
    rdlq.seed(12)
    rdlq.client.lpush(rdlq.key, b"\xff\xfe binary \x00 letter")
    rdlq.client.rpush(rdlq.key, event(3))  # a duplicate element: restored twice, too
    before = rdlq.elements()
    dlq = f"redis:{rdlq.key}"

    dry = cli("dlq", "purge", dlq, "--dry-run")
    assert dry.code == 0 and "purge all 14 letters" in dry.out and rdlq.elements() == before
    assert cli("dlq", "purge", dlq).code == 2
    only_yes = cli("dlq", "purge", dlq, "--write", "--reason", "INC-3", "--yes")
    assert only_yes.code == 2 and "type the DLQ name" in only_yes.err
    assert rdlq.elements() == before
    assert not (cli.tmp_path / "state" / "opsconsole" / "backups").exists()

    purge = cli("dlq", "purge", dlq, "--write", "--reason", "INC-3", "--confirm", rdlq.key)
    assert purge.code == 0, purge.err
    assert "purged=14" in purge.out and rdlq.count() == 0
    (backup,) = (cli.tmp_path / "state" / "opsconsole" / "backups").glob("*.ndjson")
    assert f"backup={backup}" in purge.out
    assert len(read_ndjson(backup)) == 14

    refused = cli("dlq", "restore", str(backup))
    assert refused.code == 2 and "read-only" in refused.err and rdlq.count() == 0
    restored = cli("dlq", "restore", str(backup), "--write", "--reason", "INC-3")
    assert restored.code == 0, restored.err
    assert f"restored 14 of 14 letters to redis:{rdlq.key}" in restored.out
    assert rdlq.elements() == before

    out = tmp_path / "chosen" / "backup.ndjson"
    by_count = cli("dlq", "purge", dlq, "--write", "--reason", "INC-3", "--confirm", "14", "--out", str(out))
    assert by_count.code == 0, by_count.err
    assert rdlq.count() == 0 and len(read_ndjson(out)) == 14
    into = cli("dlq", "restore", str(out), "--dlq", dlq, "--write", "--reason", "INC-3")
    assert into.code == 0, into.err
    assert rdlq.elements() == before


def test_audit_lists_the_dlq_records(cli: Cli, rdlq: RedisDlq) -> None:
    rdlq.seed(3)
    dlq = f"redis:{rdlq.key}"
    assert cli("dlq", "replay", dlq, "--dry-run").code == 0
    assert cli("dlq", "replay", dlq).code == 2
    assert cli("dlq", "replay", dlq, "--write", "--reason", "INC-4", "--yes").code == 0
    records = [r for r in cli.journal() if r["action"].startswith("dlq-")]
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("dlq-replay", "dry-run"),
        ("dlq-replay", "dry-run"),
        ("dlq-replay", "refused"),
        ("dlq-replay", "dry-run"),
        ("dlq-replay", "started"),
        ("dlq-replay", "done"),
    ]
    assert all(r["target"] == dlq and r["environment"] == "t" for r in records)
    assert records[-1]["reason"] == "INC-4"
    assert records[-1]["counts"]["replayed"] == 3 and records[-1]["counts"]["after"] == 0
    assert records[0]["counts"] == {"before": 3, "affected": 3}
    filtered = cli("audit", "--json", "--action", "dlq-replay", "--outcome", "refused")
    assert [json.loads(line)["outcome"] for line in filtered.out.splitlines()] == ["refused"]
    text = cli("audit")
    assert text.code == 0 and "dlq-replay" in text.out and "INC-4" in text.out


def test_bad_dlq_names_are_refused_clearly(cli: Cli, rdlq: RedisDlq) -> None:
    for name, message in (
        ("nosuch", "no DLQ named 'nosuch'"),
        ("redis:nosuch", "no [[env.NAME.dlq.redis]] with key 'nosuch'"),
        ("rabbitmq:orders.dlq", "no [env.NAME.rabbitmq] configured"),
        ("kafka:topic", "no DLQ named 'kafka:topic'"),
    ):
        result = cli("dlq", "browse", name)
        assert result.code == 2, (name, result)
        assert message in result.err and "Traceback" not in result.err
        assert result.err.count("\n") == 1
    assert cli("dlq", "replay", "nosuch", "--write", "--reason", "r", "--yes").code == 2
    assert cli("dlq", "restore", str(cli.tmp_path / "missing.ndjson"), "--write", "--reason", "r").code == 2


def test_no_dlqs_configured_is_refused(cli: Cli) -> None:
    cli.write_config()
    result = cli("dlq", "list")
    assert result.code == 2 and "no DLQs configured" in result.err


def test_an_unreachable_backend_is_one_line_and_exit_1(cli: Cli, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    cli.write_config(redis=(f"redis://:s3cret@127.0.0.1:{port}/0", "dlq:events"))
    for argv in (
        ["browse", "redis:dlq:events"],
        ["show", "redis:dlq:events", "evt-1"],
        ["replay", "redis:dlq:events", "--dry-run"],
        ["export", "redis:dlq:events", "--out", str(tmp_path / "x.ndjson")],
    ):
        result = cli("dlq", *argv)
        assert result.code == 1, (argv, result)
        assert result.err.startswith("opsconsole dlq: ") and result.err.count("\n") == 1, result.err
        assert "refused" in result.err.lower() and "Traceback" not in result.err and "s3cret" not in result.err
    listed = cli("dlq", "list", "--json")
    assert listed.code == 0
    (row,) = json.loads(listed.out)["dlqs"]
    assert "refused" in row["error"].lower() and "s3cret" not in listed.out


def _run_script(config: Path, state: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"}
    return subprocess.run(
        [str(OPSCONSOLE), *argv, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.skipif(not OPSCONSOLE.exists(), reason="the opsconsole script is not installed in .venv")
def test_the_installed_script_lists_and_purges(cli: Cli, rdlq: RedisDlq, state: Path) -> None:
    rdlq.seed(4)
    assert cli.config is not None
    listed = _run_script(cli.config, state, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["dlqs"][0]["count"] == 4
    purge = _run_script(cli.config, state, "dlq", "purge", rdlq.key, "--write", "--reason", "e2e", "--confirm", "4")
    assert purge.returncode == 0, purge.stderr
    assert rdlq.count() == 0
    (backup,) = (state / "opsconsole" / "backups").glob("*.ndjson")
    assert len(read_ndjson(backup)) == 4


@pytest.mark.skipif(not OPSCONSOLE.exists(), reason="the opsconsole script is not installed in .venv")
def test_the_installed_script_reports_an_unreachable_backend_without_a_traceback(cli: Cli, state: Path) -> None:
    config = cli.write_config(redis=(f"redis://127.0.0.1:{free_port()}/0", "dlq:events"))
    result = _run_script(config, state, "dlq", "browse", "redis:dlq:events")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "connection refused" in result.stderr


# --- RabbitMQ ---------------------------------------------------------------------------------------------------


@dataclass
class Rabbit:
    prefix: str

    @property
    def origin(self) -> str:
        return f"{self.prefix}.orders"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.orders.dlq"

    @property
    def dlx(self) -> str:
        return f"{self.prefix}.dlx"


async def _topology(rabbit: Rabbit) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        dlx = await channel.declare_exchange(rabbit.dlx, aio_pika.ExchangeType.FANOUT, auto_delete=False)
        dlq = await channel.declare_queue(rabbit.dlq, durable=False, auto_delete=False)
        await dlq.bind(dlx)
        await channel.declare_queue(
            rabbit.origin, durable=False, auto_delete=False, arguments={"x-dead-letter-exchange": rabbit.dlx}
        )
    finally:
        await connection.close()


async def _dead_letter(rabbit: Rabbit, messages: list[tuple[str, bytes, dict[str, Any]]], settle: bool = False) -> None:
    """Publish (message id, body, headers) to the origin queue, then reject each with requeue=False; with
    `settle`, also wait for the management statistics (counts in `list`, the browse peek) to catch up."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for message_id, body, headers in messages:
            await channel.default_exchange.publish(
                aio_pika.Message(body, message_id=message_id, headers=headers, content_type="application/json"),
                routing_key=rabbit.origin,
            )
        queue = await channel.get_queue(rabbit.origin, ensure=False)
        for _ in messages:
            message = await queue.get(no_ack=False, timeout=10)
            assert message is not None
            await message.reject(requeue=False)
    finally:
        await connection.close()
    if settle:
        await _settle(rabbit.dlq, lambda n: n >= len(messages))
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (depth := await _depth(rabbit.dlq)) < len(messages):
        assert loop.time() < deadline, f"{rabbit.dlq}: {depth} of {len(messages)} dead letters arrived"
        await asyncio.sleep(0.05)


async def _depth(queue: str) -> int:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def _managed_depth(queue: str) -> int | None:
    async with httpx.AsyncClient(auth=MANAGEMENT_AUTH, timeout=10, trust_env=False) as client:
        response = await client.get(f"{MANAGEMENT_URL}/api/queues/%2F/{quote(queue, safe='')}")
        return response.json().get("messages") if response.status_code == 200 else None


async def _settle(queue: str, accept: Callable[[int], bool], limit: float = 30.0) -> int:
    """Until both AMQP and the (lagging) management statistics agree with `accept`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        exact = await _depth(queue)
        managed = await _managed_depth(queue)
        if accept(exact) and managed == exact:
            return exact
        if loop.time() > deadline:
            raise AssertionError(f"{queue}: AMQP {exact}, management {managed} after {limit:g}s")
        await asyncio.sleep(0.25)


async def _peek(queue: str) -> list[tuple[bytes, dict[str, Any], str | None]]:
    """Every message's (body, headers, message id), in queue order; all requeued when the connection closes."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        seen = []
        while (message := await declared.get(no_ack=False, fail=False, timeout=10)) is not None:
            seen.append((message.body, dict(message.headers or {}), message.message_id))
        return seen
    finally:
        await connection.close()


def _delete_exchange(name: str) -> None:
    httpx.delete(
        f"{MANAGEMENT_URL}/api/exchanges/%2F/{quote(name, safe='')}", auth=MANAGEMENT_AUTH, timeout=10, trust_env=False
    )


@pytest.fixture
def rabbit(cli: Cli) -> Iterator[Rabbit]:
    require_rabbitmq()
    found = Rabbit(unique_prefix())
    try:
        asyncio.run(_topology(found))
        yield found
    finally:
        asyncio.run(delete_queues_with_prefix(found.prefix))
        _delete_exchange(found.dlx)


def letters(count: int, start: int = 0) -> list[tuple[str, bytes, dict[str, Any]]]:
    return [
        (f"m-{i}", json.dumps({"order": i}).encode(), {"tenant": "acme", "attempt": i, "trace": f"t-{i}"})
        for i in range(start, start + count)
    ]


def test_list_discovers_a_rabbitmq_dlq_next_to_a_redis_one(cli: Cli, rabbit: Rabbit, rdlq: RedisDlq) -> None:
    rdlq.seed(2)
    asyncio.run(_dead_letter(rabbit, letters(3), settle=True))
    cli.write_config(redis=(rdlq.server.url, rdlq.key), rabbit={"discover": True})
    as_json = cli("dlq", "list", "--json")
    assert as_json.code == 0, as_json.err
    rows = {(row["kind"], row["name"]): row for row in json.loads(as_json.out)["dlqs"]}
    mine = rows[("rabbitmq", rabbit.dlq)]
    assert mine["count"] == 3
    assert mine["by_origin"] == {rabbit.origin: 3} and mine["by_reason"] == {"rejected": 3}
    assert rows[("redis", rdlq.key)]["count"] == 2
    assert ("rabbitmq", rabbit.origin) not in rows  # the origin is not a DLQ

    text = cli("dlq", "list")
    assert text.code == 0
    (line,) = [line for line in text.out.splitlines() if line.startswith(f"rabbitmq:{rabbit.dlq} ")]
    assert line.split()[1:2] == ["3"] and rabbit.origin in line and "rejected" in line
    (line,) = [line for line in text.out.splitlines() if line.startswith(f"redis:{rdlq.key} ")]
    assert line.split()[1] == "2"
    assert asyncio.run(_depth(rabbit.dlq)) == 3  # listing peeked and requeued


def test_rabbitmq_browse_show_and_dry_run(cli: Cli, rabbit: Rabbit) -> None:
    batch = letters(4) + [("m-esc", b"\x1b[2J\x1b]0;pwned\x07 wiped your screen", {"tenant": "evil\x1b[31m"})]
    asyncio.run(_dead_letter(rabbit, batch, settle=True))
    cli.write_config(rabbit={"names": [rabbit.dlq]})
    dlq = f"rabbitmq:{rabbit.dlq}"

    browse = cli("dlq", "browse", dlq, "--json")
    assert browse.code == 0, browse.err
    page = json.loads(browse.out)
    assert page["total"] == 5
    ids = [letter["message_id"] for letter in page["letters"]]
    assert sorted(ids) == sorted(["m-0", "m-1", "m-2", "m-3", "m-esc"])
    times = [letter["at"] for letter in page["letters"]]
    assert times == sorted(times, reverse=True)  # newest first
    first = page["letters"][0]
    assert first["origin"] == rabbit.origin and first["reason"] == "rejected"
    assert first["destination"] == f"queue {rabbit.origin}"
    filtered = json.loads(cli("dlq", "browse", dlq, "--filter", '"order": 2', "--json").out)
    assert [letter["message_id"] for letter in filtered["letters"]] == ["m-2"]

    text = cli("dlq", "browse", dlq)
    assert text.code == 0 and "\x1b" not in text.out and "\x07" not in text.out
    assert text.out.splitlines()[0].startswith(f"rabbitmq:{rabbit.dlq} · 5 letters")

    shown = cli("dlq", "show", dlq, "m-esc")
    assert shown.code == 0, shown.err
    assert "\x1b" not in shown.out and "\x07" not in shown.out
    letter = json.loads(shown.out)
    assert letter["body_preview"].startswith("\x1b[2J") and letter["headers"]["tenant"] == "evil\x1b[31m"
    assert letter["properties"]["message_id"] == "m-esc"

    dry = cli("dlq", "replay", dlq, "--dry-run")
    assert dry.code == 0, dry.err
    for message_id, _, _ in batch:
        (row,) = [line for line in dry.out.splitlines() if line.split()[:1] == [message_id]]
        assert row.rstrip().endswith(f"→ queue {rabbit.origin}")
    assert "\x1b" not in dry.out
    assert asyncio.run(_depth(rabbit.dlq)) == 5 and asyncio.run(_depth(rabbit.origin)) == 0


def test_rabbitmq_replay_needs_write_and_scales_the_confirmation(cli: Cli, rabbit: Rabbit) -> None:
    asyncio.run(_dead_letter(rabbit, letters(13)))
    cli.write_config(rabbit={"names": [rabbit.dlq]})
    dlq = f"rabbitmq:{rabbit.dlq}"

    refused = cli("dlq", "replay", dlq)
    assert refused.code == 2 and "refused" in refused.err
    too_many = cli("dlq", "replay", dlq, "--write", "--reason", "INC-5", "--yes")
    assert too_many.code == 2 and "type the DLQ name" in too_many.err
    assert asyncio.run(_depth(rabbit.dlq)) == 13 and asyncio.run(_depth(rabbit.origin)) == 0

    two = cli("dlq", "replay", dlq, "--ids", "m-0,m-5", "--write", "--reason", "INC-5", "--yes")
    assert two.code == 0, two.err
    assert "replayed=2" in two.out
    assert asyncio.run(_depth(rabbit.dlq)) == 11
    back = asyncio.run(_peek(rabbit.origin))
    assert sorted(message_id for _, _, message_id in back) == ["m-0", "m-5"]
    for body, headers, message_id in back:
        assert json.loads(body) == {"order": int(str(message_id).removeprefix("m-"))}
        assert headers["tenant"] == "acme" and headers["x-opsconsole-replayed-at"]
        assert headers["x-opsconsole-replays"] == 1

    rest = cli("dlq", "replay", dlq, "--write", "--reason", "INC-5", "--confirm", "11")
    assert rest.code == 0, rest.err
    assert "replayed=11" in rest.out
    assert asyncio.run(_depth(rabbit.dlq)) == 0 and asyncio.run(_depth(rabbit.origin)) == 13


def test_rabbitmq_purge_backup_restore_and_export(cli: Cli, rabbit: Rabbit, tmp_path: Path) -> None:
    asyncio.run(_dead_letter(rabbit, letters(4)))
    cli.write_config(rabbit={"names": [rabbit.dlq]})
    dlq = f"rabbitmq:{rabbit.dlq}"
    before = asyncio.run(_peek(rabbit.dlq))
    assert len(before) == 4 and all("x-death" in headers for _, headers, _ in before)

    out = tmp_path / "one.ndjson"
    export = cli("dlq", "export", dlq, "--ids", "m-2", "--out", str(out))
    assert export.code == 0, export.err
    (record,) = read_ndjson(out)
    assert record["kind"] == "rabbitmq" and record["dlq"] == rabbit.dlq
    assert record["properties"]["message_id"] == "m-2" and record["headers"]["tenant"] == "acme"
    assert asyncio.run(_depth(rabbit.dlq)) == 4

    dry = cli("dlq", "purge", dlq, "--dry-run")  # the statistics may still say 0: the plan counted them
    assert dry.code == 0 and "purge all 4 letters" in dry.out
    assert cli("dlq", "purge", dlq, "--write", "--reason", "INC-6", "--yes").code == 2
    assert cli("dlq", "purge", dlq, "--write", "--reason", "INC-6", "--confirm", "0").code == 2
    narrowed = cli("dlq", "purge", dlq, "--filter", "m-2", "--write", "--reason", "INC-6", "--confirm", rabbit.dlq)
    assert narrowed.code == 2 and "a purge takes every letter" in narrowed.err
    assert asyncio.run(_depth(rabbit.dlq)) == 4
    purge = cli("dlq", "purge", dlq, "--write", "--reason", "INC-6", "--confirm", rabbit.dlq)
    assert purge.code == 0, purge.err
    assert "purged=4" in purge.out and asyncio.run(_depth(rabbit.dlq)) == 0
    (backup,) = (cli.tmp_path / "state" / "opsconsole" / "backups").glob("*.ndjson")
    assert len(read_ndjson(backup)) == 4

    assert cli("dlq", "restore", str(backup)).code == 2
    assert asyncio.run(_depth(rabbit.dlq)) == 0
    restored = cli("dlq", "restore", str(backup), "--write", "--reason", "INC-6")
    assert restored.code == 0, restored.err
    assert f"restored 4 of 4 letters to rabbitmq:{rabbit.dlq}" in restored.out
    after = asyncio.run(_peek(rabbit.dlq))
    assert [(body, headers, message_id) for body, headers, message_id in after] == before

    outcomes = {(r["action"], r["outcome"]) for r in cli.journal()}
    assert {("dlq-export", "done"), ("dlq-purge", "refused"), ("dlq-purge", "done")} <= outcomes
    assert {("dlq-restore", "refused"), ("dlq-restore", "started"), ("dlq-restore", "done")} <= outcomes
