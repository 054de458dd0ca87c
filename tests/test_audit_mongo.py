"""The shared audit journal: MongoMirror over pymongo's real wire path (MockupDB), the spool, `opsconsole audit`.

MockupDB listens on loopback and answers like a MongoDB 7.0 standalone (tests/fixtures/mongo_docs.py); the
mirror's synchronous MongoClient does its real handshake and sends real `insert` / `find` commands. URIs
carry `serverMonitoringMode=poll` for the reason given in tests/test_mongo_wire.py. Every journal and spool
lives in tmp_path. A real-server class at the end runs only when MONGO_URI is set.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient
from pymongo.errors import ServerSelectionTimeoutError

from console.audit import (
    SPOOL_NAME,
    AuditError,
    AuditFilter,
    AuditLog,
    AuditRecord,
    audit_log_for,
    parse_since,
    spool_path,
)
from console.audit_mongo import MongoMirror, Spool, describe, document_id, read_shared
from console.cli import main
from console.config import Environment, MongoConfig, Settings
from tests.fixtures.mongo_docs import hello_standalone
from tests.fixtures.net import free_port

REAL_MONGO_URI = os.environ.get("MONGO_URI")  # read at import: conftest removes it from every test's environment

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 0.5  # client-side: server selection, connect, socket
WAIT = 10.0  # upper bound for flush() in tests that expect success; only guards against a hang
PASSWORD = "Audit-s3cret-pw"
NAMESPACE = "ops.audit"


class AuditMongod:
    """MockupDB answering the handshake, `insert`, `find` and `endSessions` like a 7.0 standalone.

    `insert_reply(document)` decides the reply per inserted document: None (stored), an int error code
    (a write error, e.g. 11000 duplicate key), or "hang" (never answered: the client times out).
    """

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self.inserts: list[Mapping[str, Any]] = []  # each `insert` command as received
        self.finds: list[Mapping[str, Any]] = []
        self.handshakes: list[Mapping[str, Any]] = []
        self.stored: list[dict[str, Any]] = []
        self.find_batch: list[dict[str, Any]] = []
        self.insert_reply: Callable[[Mapping[str, Any]], int | str | None] = lambda _doc: None
        self.reset()
        self.server = MockupDB(port=port)
        self.server.autoresponds(self._dispatch)
        self.port = 0
        self._running = False

    def reset(self) -> None:
        """Back to an empty server that stores every insert (the server is shared by the tests of this module)."""
        with self._lock:
            for seen in (self.inserts, self.finds, self.handshakes, self.stored, self.find_batch):
                seen.clear()
            self.insert_reply = lambda _doc: None

    def _dispatch(self, request: Any) -> bool | None:
        name = str(request.command_name or "").lower()
        doc = dict(request.doc)
        if name in ("hello", "ismaster"):
            with self._lock:
                self.handshakes.append(doc)
            return bool(request.replies(hello_standalone(legacy=name == "ismaster")))
        if name == "endsessions":
            return bool(request.replies({"ok": 1.0}))
        if name == "find":
            with self._lock:
                self.finds.append(doc)
                batch = list(self.find_batch)
            return bool(request.replies({"cursor": {"id": 0, "ns": NAMESPACE, "firstBatch": batch}, "ok": 1.0}))
        if name == "insert":
            with self._lock:
                self.inserts.append(doc)
            errors = []
            for index, document in enumerate(doc.get("documents", [])):
                verdict = self.insert_reply(document)
                if verdict == "hang":
                    return None  # queued by MockupDB and never answered
                if isinstance(verdict, int):
                    message = f"E{verdict} write error collection: {NAMESPACE} _id: {document.get('_id')!r}"
                    errors.append({"index": index, "code": verdict, "errmsg": message})
                else:
                    with self._lock:
                        self.stored.append(dict(document))
            reply: dict[str, Any] = {"n": len(doc.get("documents", [])) - len(errors), "ok": 1.0}
            if errors:
                reply["writeErrors"] = errors
            return bool(request.replies(reply))
        return None

    def inserted_documents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for command in self.inserts for d in command.get("documents", [])]

    def start(self) -> None:
        self.port = self.server.run()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.server.stop()

    def uri(self, credentials: str = "") -> str:
        return f"mongodb://{credentials}127.0.0.1:{self.port}/?serverMonitoringMode=poll"


def _serve() -> Iterator[AuditMongod]:
    mongod = AuditMongod()
    mongod.start()
    try:
        yield mongod
    finally:
        mongod.stop()


# MockupDB.stop() waits out its accept loop's 1 s select, so one server is shared by the module and reset per
# test; the test that stops its server starts its own.
@pytest.fixture(scope="module")
def _server() -> Iterator[AuditMongod]:
    yield from _serve()


@pytest.fixture
def mongod(_server: AuditMongod) -> AuditMongod:
    _server.reset()
    return _server


@pytest.fixture
def mirrors() -> Iterator[list[MongoMirror]]:
    """Mirrors created by a test; all closed at the end, so no thread outlives it."""
    made: list[MongoMirror] = []
    yield made
    for mirror in made:
        mirror.close(timeout=WAIT)


def config_for(uri: str, audit: str = NAMESPACE) -> MongoConfig:
    return MongoConfig(uri=uri, timeout=TIMEOUT, audit=audit)


def mirror_for(made: list[MongoMirror], uri: str, journal: Path, **kwargs: Any) -> MongoMirror:
    mirror = MongoMirror(config_for(uri), spool_path(journal), **kwargs)
    made.append(mirror)
    return mirror


def refused_uri() -> str:
    return f"mongodb://audit:{PASSWORD}@127.0.0.1:{free_port()}/?serverMonitoringMode=poll"


def record(**overrides: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "action": "cache-invalidate",
        "target": "redis:user:*",
        "environment": "staging",
        "outcome": "done",
        "parameters": {"pattern": "user:*", "batch": 500},
        "counts": {"matched_before": 12, "deleted": 12},
        "reason": "INC-42 stale sessions",
        "duration_seconds": 0.25,
        "who": {"user": "alice", "ssh_client": "10.0.0.7", "host": "bastion-1"},
    }
    fields.update(overrides)
    return AuditRecord(**fields)


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- Records ----------------------------------------------------------------------------------------------


def test_every_record_has_a_unique_id_in_the_journal(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    first, second = record(), record()
    log.append(first)
    log.append(second)

    ids = [line["id"] for line in journal_lines(log.path)]
    assert ids == [first.id, second.id]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
    assert [r["id"] for r in log.records()] == ids


def test_document_id_is_the_record_id_or_a_stable_hash() -> None:
    assert document_id({"id": "abc", "x": 1}) == "abc"
    assert document_id({"x": 1, "y": 2}) == document_id({"y": 2, "x": 1})
    assert document_id({"x": 1}) != document_id({"x": 2})


# --- Mirror over the wire ---------------------------------------------------------------------------------


def test_appended_record_reaches_the_server_as_an_insert(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    journal = tmp_path / "audit.jsonl"
    log = AuditLog(journal, mirror_for(mirrors, mongod.uri(), journal))
    entry = record()

    log.append(entry)

    assert log.flush(WAIT) is True
    assert log.mirror_problem() is None
    assert log.mirror is not None and log.mirror.pending == 0
    command = mongod.inserts[-1]
    assert command["insert"] == "audit"
    assert command["$db"] == "ops"
    (document,) = command["documents"]
    line = journal_lines(journal)[-1]
    assert document["_id"] == entry.id == line["id"]
    assert {k: v for k, v in document.items() if k != "_id"} == line  # the same document as the journal line
    for key in ("who", "environment", "action", "target", "parameters", "counts", "outcome", "duration_seconds"):
        assert key in document
    assert document["who"] == {"user": "alice", "ssh_client": "10.0.0.7", "host": "bastion-1"}
    assert document["counts"] == {"matched_before": 12, "deleted": 12}
    # The client introduces itself, so the server's logs and currentOp name the console.
    assert any(h.get("client", {}).get("application", {}).get("name") == "opsconsole" for h in mongod.handshakes)
    assert not spool_path(journal).exists() or spool_path(journal).read_text() == ""


def test_append_never_waits_for_a_slow_server(tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]) -> None:
    mongod.insert_reply = lambda _doc: "hang"
    journal = tmp_path / "audit.jsonl"
    log = AuditLog(journal, mirror_for(mirrors, mongod.uri(), journal))
    entry = record()

    started = time.perf_counter()
    log.append(entry)
    assert time.perf_counter() - started < TIMEOUT / 2  # the insert runs on the mirror's thread

    # The server never answers: once the client's own timeout passes, the record is spooled, not dropped.
    assert log.flush(WAIT) is False
    problem = log.mirror_problem()
    assert problem is not None
    assert problem.startswith(f"shared journal (MongoDB {NAMESPACE}): 1 record pending: unreachable")
    assert [d["id"] for d in Spool(spool_path(journal)).read()] == [entry.id]


def test_server_down_spools_and_a_later_start_resends(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    journal = tmp_path / "audit.jsonl"
    down = mirror_for(mirrors, refused_uri(), journal)
    log = AuditLog(journal, down)
    entries = [record(target="redis:a:*"), record(target="redis:b:*", outcome="refused")]

    for entry in entries:
        log.append(entry)  # never raises: the local journal has it

    assert log.flush(WAIT) is False
    assert [r["id"] for r in log.records()] == [e.id for e in entries]
    spool = spool_path(journal)
    assert spool.name == SPOOL_NAME and spool.parent == journal.parent
    assert [d["id"] for d in Spool(spool).read()] == [e.id for e in entries]  # oldest first
    problem = log.mirror_problem()
    assert problem is not None
    assert problem.startswith(f"shared journal (MongoDB {NAMESPACE}): 2 records pending: unreachable")
    assert PASSWORD not in problem
    assert down.last_error is not None and PASSWORD not in down.last_error
    log.close()

    # The next console start against a live server sends the spool, oldest first, then empties it.
    live = mirror_for(mirrors, mongod.uri(), journal)
    assert live.flush(WAIT) is True
    assert [d["_id"] for d in mongod.inserted_documents()] == [e.id for e in entries]
    assert spool.read_text() == ""
    assert live.pending == 0 and live.last_error is None
    assert AuditLog(journal, live).mirror_problem() is None


def test_outage_mid_session_spools_and_the_next_success_sends_older_records_first(
    tmp_path: Path, mirrors: list[MongoMirror]
) -> None:
    journal = tmp_path / "audit.jsonl"
    first_server = AuditMongod()
    first_server.start()
    port = first_server.port
    try:
        log = AuditLog(journal, mirror_for(mirrors, first_server.uri(), journal, retry_interval=0.3))
        before = record(target="before")
        log.append(before)
        assert log.flush(WAIT) is True
    finally:
        first_server.stop()

    during = record(target="during")
    log.append(during)
    assert log.flush(WAIT) is False
    assert [d["id"] for d in Spool(spool_path(journal)).read()] == [during.id]
    assert "1 record pending" in (log.mirror_problem() or "")

    # The server comes back on the same address: the next record first flushes the spool, then goes itself.
    second_server = AuditMongod(port=port)
    second_server.start()
    try:
        after = record(target="after")
        log.append(after)
        # pymongo may not have seen the server come back yet (heartbeats are at least 0.5 s apart): then
        # `after` is spooled too, and the periodic retry delivers both, still oldest first.
        deadline = time.monotonic() + WAIT
        while not log.flush(WAIT) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.flush(WAIT) is True
        assert [d["_id"] for d in second_server.inserted_documents()] == [during.id, after.id]
        assert log.mirror_problem() is None
        assert spool_path(journal).read_text() == ""
    finally:
        second_server.stop()


def test_spool_is_retried_periodically_without_new_records(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    journal = tmp_path / "audit.jsonl"
    mongod.insert_reply = lambda _doc: 10107  # NotWritablePrimary: the server is there but cannot take it
    log = AuditLog(journal, mirror_for(mirrors, mongod.uri(), journal, retry_interval=0.2))
    entry = record()
    log.append(entry)
    assert log.flush(WAIT) is False
    assert "1 record pending" in (log.mirror_problem() or "")

    mongod.insert_reply = lambda _doc: None  # the primary is back
    deadline = time.monotonic() + WAIT
    while log.mirror_problem() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.mirror_problem() is None
    assert log.flush(WAIT) is True
    assert mongod.stored[-1]["_id"] == entry.id


def test_duplicate_key_on_retry_counts_as_delivered(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    journal = tmp_path / "audit.jsonl"
    entry = record()
    # An earlier run inserted it but lost the acknowledgement, so it was spooled as well.
    Spool(spool_path(journal)).append([json.loads(entry.to_json())])
    mongod.insert_reply = lambda doc: 11000 if doc.get("_id") == entry.id else None

    mirror = mirror_for(mirrors, mongod.uri(), journal)

    assert mirror.flush(WAIT) is True
    assert [d["_id"] for d in mongod.inserted_documents()] == [entry.id]
    assert spool_path(journal).read_text() == ""
    assert mirror.pending == 0 and mirror.last_error is None


def test_a_rejected_record_stays_spooled_without_holding_back_the_others(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    journal = tmp_path / "audit.jsonl"
    bad, good = record(target="bad"), record(target="good")
    Spool(spool_path(journal)).append([json.loads(bad.to_json()), json.loads(good.to_json())])
    mongod.insert_reply = lambda doc: 121 if doc.get("_id") == bad.id else None  # DocumentValidationFailure

    mirror = mirror_for(mirrors, mongod.uri(), journal)

    assert mirror.flush(WAIT) is False
    assert [d["_id"] for d in mongod.stored] == [good.id]
    assert [d["id"] for d in Spool(spool_path(journal)).read()] == [bad.id]
    assert mirror.pending == 1
    assert mirror.last_error is not None and "record rejected (code 121)" in mirror.last_error


def test_local_write_failure_still_raises_and_mirrors_nothing(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    journal = blocker / "audit.jsonl"
    mirror = mirror_for(mirrors, mongod.uri(), tmp_path / "audit.jsonl")
    log = AuditLog(journal, mirror)

    with pytest.raises(AuditError, match="cannot write audit journal"):
        log.append(record())

    assert mirror.flush(WAIT) is True
    assert mirror.pending == 0
    assert mongod.inserts == []


def test_close_spools_what_the_thread_could_not_finish(
    tmp_path: Path, mongod: AuditMongod, mirrors: list[MongoMirror]
) -> None:
    mongod.insert_reply = lambda _doc: "hang"
    journal = tmp_path / "audit.jsonl"
    mirror = mirror_for(mirrors, mongod.uri(), journal)
    log = AuditLog(journal, mirror)
    entries = [record(target=f"t{i}") for i in range(3)]
    for entry in entries:
        log.append(entry)

    mirror.close(timeout=0.05)  # well before the client's own timeout

    spooled = {d["id"] for d in Spool(spool_path(journal)).read()}
    assert spooled == {e.id for e in entries}


def test_spool_removal_keeps_records_other_consoles_added(tmp_path: Path) -> None:
    spool = Spool(tmp_path / SPOOL_NAME)
    spool.append([{"id": "a"}, {"id": "b"}])
    spool.append([{"id": "c"}])

    assert spool.remove({"a", "c"}) == 1
    assert spool.read() == [{"id": "b"}]
    assert spool.remove({"b"}) == 0
    assert spool.path.read_text() == ""  # truncated in place


def test_describe_masks_the_password_in_a_uri() -> None:
    error = ServerSelectionTimeoutError(f"cannot reach {refused_uri()}, Timeout: 0.5s, Topology Description: ...")

    text = describe(error, PASSWORD)

    assert PASSWORD not in text
    assert text.startswith("unreachable: cannot reach mongodb://audit:***@127.0.0.1:")
    assert "Topology Description" not in text


def test_audit_log_for_builds_the_mirror_only_when_configured(tmp_path: Path, mongod: AuditMongod) -> None:
    journal = tmp_path / "journal" / "team.jsonl"
    plain = Settings(env=Environment(name="t", label="t"), environments=("t",), audit_log=journal)
    assert audit_log_for(plain).mirror is None

    no_audit = Environment(name="t", label="t", mongo=MongoConfig(uri=mongod.uri()))
    assert audit_log_for(Settings(env=no_audit, environments=("t",), audit_log=journal)).mirror is None

    shared = Environment(name="t", label="t", mongo=config_for(mongod.uri()))
    log = audit_log_for(Settings(env=shared, environments=("t",), audit_log=journal))
    try:
        assert isinstance(log.mirror, MongoMirror)
        assert log.path == journal
        assert log.mirror.spool.path == journal.parent / SPOOL_NAME
        log.append(record())
        assert log.flush(WAIT) is True
    finally:
        log.close()


def test_shared_read_sends_a_server_side_query(mongod: AuditMongod) -> None:
    older, newer = json.loads(record(target="a").to_json()), json.loads(record(target="b").to_json())
    mongod.find_batch = [{**newer, "_id": newer["id"]}, {**older, "_id": older["id"]}]  # newest first
    since = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    where = AuditFilter(outcome="done", target="user:", since=since, user="alice", environment="staging")

    documents = read_shared(config_for(mongod.uri()), where, 5)

    assert [d["id"] for d in documents] == [older["id"], newer["id"]]  # printed oldest first, like the file
    assert all("_id" not in d for d in documents)
    (find,) = mongod.finds
    assert find["find"] == "audit" and find["$db"] == "ops"
    assert dict(find["filter"]) == {
        "outcome": "done",
        "environment": "staging",
        "who.user": "alice",
        "target": {"$regex": "user:", "$options": "i"},
        "at": {"$gte": "2024-05-01T10:00:00+00:00"},
    }
    assert dict(find["sort"]) == {"at": -1}
    assert find["limit"] == 5


# --- Filters and `opsconsole audit` -----------------------------------------------------------------------


def test_parse_since() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("1h30m", now) == now - timedelta(hours=1, minutes=30)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)  # naive = UTC
    assert parse_since("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="duration like 30m"):
        parse_since("yesterday")


def write_config(tmp_path: Path, journal: Path, mongo_uri: str | None = None) -> Path:
    config = tmp_path / "config.toml"
    text = f'[console]\naudit_log = "{journal}"\n\n[env.t]\nlabel = "t"\n'
    if mongo_uri:
        text += f'\n[env.t.mongo]\nuri = "{mongo_uri}"\ntimeout = {TIMEOUT}\naudit = "{NAMESPACE}"\n'
    config.write_text(text)
    return config


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "audit.jsonl"
    log = AuditLog(path)
    now = datetime.now(UTC)
    entries = [
        record(target="redis:user:*", outcome="dry-run", at=(now - timedelta(hours=3)).isoformat()),
        record(target="redis:user:*", outcome="done", at=(now - timedelta(hours=2)).isoformat()),
        record(
            action="queue-purge",
            target="rabbitmq:Orders.DLQ",
            outcome="refused",
            environment="production",
            who={"user": "bob", "ssh_client": "", "host": "bastion-2"},
            at=(now - timedelta(minutes=20)).isoformat(),
        ),
        record(target="redis:session:*", outcome="done", at=(now - timedelta(minutes=5)).isoformat()),
    ]
    for entry in entries:
        log.append(entry)
    return path


def run_audit(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, list[str], str]:
    code = main(["audit", "--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if line], err


def targets_of(lines: list[str]) -> list[str]:
    return [json.loads(line)["target"] for line in lines]


def test_cli_outcome_filter(tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, journal)

    code, lines, _ = run_audit(capsys, config, "--outcome", "done", "--json")

    assert code == 0
    assert targets_of(lines) == ["redis:user:*", "redis:session:*"]


def test_cli_target_filter_is_a_case_insensitive_substring(
    tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, journal)

    code, lines, _ = run_audit(capsys, config, "--target", "orders.dlq", "--json")

    assert code == 0
    assert targets_of(lines) == ["rabbitmq:Orders.DLQ"]


def test_cli_since_duration_and_iso(tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, journal)

    code, lines, _ = run_audit(capsys, config, "--since", "1h", "--json")
    assert code == 0
    assert targets_of(lines) == ["rabbitmq:Orders.DLQ", "redis:session:*"]

    cutoff = (datetime.now(UTC) - timedelta(hours=2, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    code, lines, _ = run_audit(capsys, config, "--since", cutoff, "--json")
    assert code == 0
    assert len(lines) == 3

    code, lines, err = run_audit(capsys, config, "--since", "last tuesday")
    assert code == 2 and lines == []
    assert "--since" in err


def test_cli_user_environment_action_last_combine(
    tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, journal)

    _, lines, _ = run_audit(capsys, config, "--user", "bob", "--json")
    assert targets_of(lines) == ["rabbitmq:Orders.DLQ"]
    _, lines, _ = run_audit(capsys, config, "--environment", "staging", "--action", "cache-invalidate", "--json")
    assert len(lines) == 3
    _, lines, _ = run_audit(capsys, config, "--outcome", "done", "--last", "1", "--json")
    assert targets_of(lines) == ["redis:session:*"]
    code, lines, err = run_audit(capsys, config, "--outcome", "failed")
    assert code == 0 and lines == [] and "no audit records" in err


def test_cli_text_listing_neutralises_escape_sequences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "audit.jsonl"
    AuditLog(journal).append(record(target="evil\x1b]0;owned\x07"))
    config = write_config(tmp_path, journal)

    code, lines, _ = run_audit(capsys, config)

    assert code == 0
    assert "\x1b" not in lines[0] and "\x07" not in lines[0]
    assert "alice@10.0.0.7 staging cache-invalidate evil" in lines[0]


def test_cli_local_listing_mentions_records_waiting_for_the_shared_journal(
    tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Spool(spool_path(journal)).append([{"id": "x"}, {"id": "y"}])
    config = write_config(tmp_path, journal, refused_uri())

    code, lines, err = run_audit(capsys, config)

    assert code == 0 and len(lines) == 4
    assert f"2 record(s) not yet in the shared journal (MongoDB {NAMESPACE})" in err


def test_cli_shared_lists_from_the_server(
    tmp_path: Path, journal: Path, mongod: AuditMongod, capsys: pytest.CaptureFixture[str]
) -> None:
    done = json.loads(record(target="redis:from-mongo:*").to_json())
    mongod.find_batch = [{**done, "_id": done["id"]}]
    config = write_config(tmp_path, journal, mongod.uri())

    code, lines, _ = run_audit(capsys, config, "--shared", "--outcome", "done", "--last", "3", "--json")

    assert code == 0
    assert targets_of(lines) == ["redis:from-mongo:*"]
    assert json.loads(lines[0]) == done
    (find,) = mongod.finds
    assert dict(find["filter"]) == {"outcome": "done"}
    assert find["limit"] == 3


def test_cli_shared_unreachable_is_one_clear_line(
    tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, journal, refused_uri())

    started = time.perf_counter()
    code, lines, err = run_audit(capsys, config, "--shared")

    assert code == 1 and lines == []
    assert time.perf_counter() - started < TIMEOUT + 5
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"opsconsole: shared journal (MongoDB {NAMESPACE}): unreachable")
    assert PASSWORD not in err


def test_cli_shared_without_configuration(tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, journal)

    code, lines, err = run_audit(capsys, config, "--shared")

    assert code == 1 and lines == []
    assert "no shared journal" in err


# --- A real server ----------------------------------------------------------------------------------------


@pytest.mark.mongo_real
@pytest.mark.skipif(not REAL_MONGO_URI, reason="set MONGO_URI to run against a real MongoDB server")
class TestRealServer:
    """MONGO_URI=mongodb://localhost:27017 .venv/bin/pytest -m mongo_real tests/test_audit_mongo.py"""

    @pytest.fixture
    def namespace(self) -> Iterator[str]:
        assert REAL_MONGO_URI
        name = f"audit_{uuid.uuid4().hex[:12]}"
        yield f"opsconsole_test.{name}"
        with MongoClient(REAL_MONGO_URI, serverSelectionTimeoutMS=5000) as client:
            client["opsconsole_test"].drop_collection(name)

    def test_append_retry_and_read_back(self, tmp_path: Path, namespace: str, mirrors: list[MongoMirror]) -> None:
        assert REAL_MONGO_URI
        config = MongoConfig(uri=REAL_MONGO_URI, timeout=5.0, audit=namespace)
        journal = tmp_path / "audit.jsonl"
        mirror = MongoMirror(config, spool_path(journal))
        mirrors.append(mirror)
        log = AuditLog(journal, mirror)
        entry = record(target="redis:real:*")
        log.append(entry)
        assert log.flush(30) is True, log.mirror_problem()

        # The same record spooled again (a lost acknowledgement) is stored once.
        Spool(spool_path(journal)).append([json.loads(entry.to_json())])
        again = MongoMirror(config, spool_path(journal))
        mirrors.append(again)
        assert again.flush(30) is True, again.last_error
        assert spool_path(journal).read_text() == ""

        documents = read_shared(config, AuditFilter(target="REAL", since=parse_since("1h")), 10)
        assert [d["id"] for d in documents] == [entry.id]
        assert documents[0] == journal_lines(journal)[0]
