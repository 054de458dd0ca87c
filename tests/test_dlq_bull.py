"""BullMQ failed sets as dead-letter stores, for real: a private redis-server, jobs failed by a real bullmq Worker
whose processor raises, and every action checked against what bullmq itself then sees (job states, job logs,
a Worker completing replayed or moved jobs). Each test uses its own server, prefix and queue names."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bullmq import Job, Queue, Worker

from console.adapters import dlq_bull
from console.adapters.dlq_base import Mark, Selection, read_ndjson
from console.adapters.dlq_bull import BullFailedSet
from console.config import BullConfig
from console.errors import ActionRefused, SourceUnavailable
from console.model import DEAD_LETTER_BODY_CAP, ReplayProgress
from tests.fixtures.redis_server import PrivateRedis, make_redis_fixture, requires_redis_server  # noqa: F401

pytestmark = [requires_redis_server, pytest.mark.timeout(120)]

CLOSE_TIMEOUT = 15.0
MARK = Mark(at="2024-05-01T12:00:00+00:00", by="ops@bastion")


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def until(check: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], limit: float = 30.0) -> Any:
    """Poll `check()` until `done(value)`; never a fixed sleep standing in for a condition."""
    last: Any = None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        last = await check()
        if done(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never met within {limit}s; last value {last!r}")


class Bed:
    """One server, one prefix, one queue of failed jobs, the store under test; closes every bullmq Queue,
    Worker and store it made, even when a test fails."""

    def __init__(self, server: PrivateRedis):
        self.server = server
        self.redis = server.client()
        self.prefix = unique("t")
        self.name = unique("mail")
        self.queues: list[Queue] = []
        self.workers: list[Worker] = []
        self.stores: list[BullFailedSet] = []
        self.failing = True  # the processor raises while this is set
        self.queue = self.bull_queue(self.name)

    @property
    def config(self) -> BullConfig:
        return BullConfig(redis_url=self.server.url, prefix=self.prefix)

    def store(self, name: str | None = None) -> BullFailedSet:
        store = BullFailedSet(self.config, name or self.name, timeout=5.0)
        self.stores.append(store)
        return store

    def bull_queue(self, name: str) -> Queue:
        queue = Queue(name, {"connection": self.server.url, "prefix": self.prefix})
        self.queues.append(queue)
        return queue

    def worker(self, name: str, processor: Callable[..., Awaitable[Any]], concurrency: int = 1) -> Worker:
        worker = Worker(
            name, processor, {"connection": self.server.url, "prefix": self.prefix, "concurrency": concurrency}
        )
        self.workers.append(worker)
        return worker

    async def process(self, job: Any, _token: str) -> str:
        if self.failing:
            raise RuntimeError(job.data["reason"])
        return "ok"

    async def fail(self, jobs: list[tuple[str, dict[str, Any]]], opts: dict[str, Any] | None = None,
                   keep_worker: bool = False, concurrency: int = 1) -> list[str]:  # fmt: skip
        """Add `jobs` (name, data with a "reason") and let a real Worker fail each; their ids in add order."""
        ids = []
        for name, data in jobs:
            ids.append((await self.queue.add(name, data, opts or {})).id)
        worker = self.worker(self.name, self.process, concurrency)
        await until(lambda: self.queue.getJobCounts("failed"), lambda c: c["failed"] >= len(ids))
        if not keep_worker:
            await self.close_worker(worker)
        return ids

    async def close_worker(self, worker: Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
            await asyncio.wait_for(worker.close(force=True), CLOSE_TIMEOUT)

    def inject(self, job_id: str, fields: dict[str, Any], score: float | None = None) -> None:
        """A job written straight into the hash, as a buggy or hostile producer could leave it."""
        score = score if score is not None else time.time() * 1000
        self.redis.hset(f"{self.prefix}:{self.name}:{job_id}", mapping=fields)
        self.redis.zadd(f"{self.prefix}:{self.name}:failed", {job_id: score})

    def state(self, job_id: str, name: str | None = None) -> tuple[dict[bytes, bytes], float | None, list[bytes]]:
        base = f"{self.prefix}:{name or self.name}"
        return (
            self.redis.hgetall(f"{base}:{job_id}"),
            self.redis.zscore(f"{base}:failed", job_id),
            self.redis.lrange(f"{base}:{job_id}:logs", 0, -1),
        )

    def failed_ids(self) -> set[str]:
        return {m.decode() for m in self.redis.zrange(f"{self.prefix}:{self.name}:failed", 0, -1)}

    async def aclose(self) -> None:
        for worker in list(self.workers):
            try:
                await self.close_worker(worker)
            except Exception:  # noqa: BLE001, S110 - teardown closes everything it can
                pass
        for queue in self.queues:
            try:
                await asyncio.wait_for(queue.close(), CLOSE_TIMEOUT)
            except Exception:  # noqa: BLE001, S110
                pass
        for store in self.stores:
            await store.aclose()


@pytest.fixture
def server(make_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return make_redis()


@pytest.fixture
async def bed(server: PrivateRedis) -> Any:
    created = Bed(server)
    yield created
    await created.aclose()


# --- browsing ---------------------------------------------------------------------------------------------------


async def test_real_failed_jobs_are_listed_newest_first_with_their_reasons(bed: Bed) -> None:
    jobs = [
        ("send" if i % 3 else "render", {"i": i, "reason": f"smtp timeout {i % 2}\nat the second line"})
        for i in range(6)
    ]
    ids = await bed.fail(jobs)
    store = bed.store()

    page = await store.page(0, 10, Selection())
    assert page.total == 6 and page.kind == "bullmq" and page.dlq == bed.name
    # Newest first, exactly as bullmq's own getFailed() orders the failed set.
    assert [letter.ref for letter in page.letters] == [job.id for job in await bed.queue.getFailed(0, -1)]
    assert sorted(letter.ref for letter in page.letters) == sorted(ids)
    stamps = [letter.at for letter in page.letters]
    assert all(a is not None and b is not None and a >= b for a, b in zip(stamps, stamps[1:], strict=False))

    by_id = {letter.ref: letter for letter in page.letters}
    for index, job_id in enumerate(ids):
        letter = by_id[job_id]
        raw = bed.redis.hget(f"{bed.prefix}:{bed.name}:{job_id}", "data")
        assert letter.message_id == job_id and letter.origin == bed.name
        assert letter.reason == f"smtp timeout {index % 2}"  # the first line only
        assert letter.body == raw and letter.size == len(raw) and not letter.truncated
        assert json.loads(letter.body) == jobs[index][1]
        assert letter.content_type == "application/json"
        assert letter.destination == f"retry in {bed.name}"
        properties = dict(letter.properties)
        assert properties["name"] == jobs[index][0] and properties["attemptsMade"] == "1"
        assert datetime.fromisoformat(properties["timestamp"]).tzinfo is not None
        assert "test_dlq_bull.py" in properties["stacktrace"]  # the frame that raised
        finished = int(bed.redis.hget(f"{bed.prefix}:{bed.name}:{job_id}", "finishedOn"))
        assert letter.at == datetime.fromtimestamp(finished / 1000, UTC)

    second = await store.page(2, 2, Selection())
    assert [letter.ref for letter in second.letters] == [letter.ref for letter in page.letters[2:4]]

    odd = await store.page(0, 10, Selection(reason="smtp timeout 1"))
    assert sorted(letter.ref for letter in odd.letters) == sorted(ids[1::2])
    assert odd.scanned == 6 and odd.total == 6
    assert [letter.ref for letter in (await store.page(1, 1, Selection(reason="smtp timeout 1"))).letters] == [
        odd.letters[1].ref
    ]
    three = await store.page(0, 10, Selection(text='"i":3'))
    assert [letter.ref for letter in three.letters] == [ids[3]]
    chosen = await store.page(0, 10, Selection(refs=frozenset({ids[0], "no-such-job"})))
    assert [letter.ref for letter in chosen.letters] == [ids[0]]

    # A page costs one ZCARD + ZREVRANGE and one pipeline of capped reads (EVALSHA, no SCRIPT EXISTS).
    before = commandstats(bed.redis)
    await store.page(0, 10, Selection())
    delta = {name: calls - before.get(name, 0) for name, calls in commandstats(bed.redis).items()}
    inside = {"cmdstat_info", "cmdstat_type", "cmdstat_hget"}  # ours, and what the script itself calls
    assert {name: calls for name, calls in delta.items() if calls and name not in inside} == {
        "cmdstat_zcard": 1, "cmdstat_zrevrange": 1, "cmdstat_evalsha": 6
    }  # fmt: skip


def commandstats(client: Any) -> dict[str, int]:
    return {name: int(stats["calls"]) for name, stats in client.info("commandstats").items()}


async def test_info_counts_inflow_exactly_and_breaks_down_job_names_and_reasons(bed: Bed) -> None:
    jobs = [("send", {"reason": "smtp down"}) for _ in range(3)] + [
        ("render", {"reason": "no template\ntrace"}) for _ in range(2)
    ]
    ids = await bed.fail(jobs)
    aged = time.time() * 1000 - 10 * 60_000  # failed ten minutes ago: not in the last minute
    bed.redis.zadd(f"{bed.prefix}:{bed.name}:failed", {ids[0]: aged}, xx=True)
    store = bed.store()

    info = await store.info(sample=100)
    assert (info.kind, info.name, info.key, info.count) == ("bullmq", bed.name, f"bullmq:{bed.name}", 5)
    assert info.inflow_per_minute == 4.0
    assert info.oldest_at == datetime.fromtimestamp(aged / 1000, UTC)
    assert info.by_origin == (("send", 3), ("render", 2))  # job names: the origin is the queue itself
    assert info.by_reason == (("smtp down", 3), ("no template", 2))
    assert info.sampled == 5 and "job name" in info.note

    newest_two = await store.info(sample=2)
    assert newest_two.count == 5 and newest_two.sampled == 2
    assert sum(count for _, count in newest_two.by_reason) == 2


def job_reads(client: Any) -> int:
    """Job hashes read so far: one EVALSHA of the capped-fields script each (a private server: ours only)."""
    return commandstats(client).get("cmdstat_evalsha", 0)


async def test_info_reads_a_sampled_job_once_until_it_fails_again(bed: Bed) -> None:
    """The breakdown's job hashes are read the first time a job is sampled, not every poll: they were a hundred
    keyspace hits every few seconds on the Redis whose hit ratio the Cache pane shows."""
    ids = await bed.fail([("send", {"reason": "smtp down"}) for _ in range(20)])
    store = bed.store()
    first = await store.info(sample=100)
    assert first.by_reason == (("smtp down", 20),)
    before = job_reads(bed.redis)
    assert await store.info(sample=100) == first
    assert job_reads(bed.redis) == before  # an unchanged failed set: no job read again
    # A job that fails again (a new score, a new reason) is read again; one whose hash is gone is left out.
    failed_key, job_key = f"{bed.prefix}:{bed.name}:failed", f"{bed.prefix}:{bed.name}:{ids[0]}"
    bed.redis.hset(job_key, "failedReason", "timeout")
    bed.redis.zadd(failed_key, {ids[0]: time.time() * 1000 + 5}, xx=True)
    bed.redis.zadd(failed_key, {"ghost": time.time() * 1000 + 10})  # listed, its hash never written
    changed = await store.info(sample=100)
    assert changed.count == 21 and changed.sampled == 20
    assert changed.by_reason == (("smtp down", 19), ("timeout", 1))
    assert job_reads(bed.redis) - before == 2  # the two new members only
    bed.redis.zrem(failed_key, "ghost")


# --- replay -----------------------------------------------------------------------------------------------------


async def test_replay_retries_through_bullmq_and_a_real_worker_completes_them(bed: Bed) -> None:
    ids = await bed.fail([("send", {"i": i, "reason": "smtp down"}) for i in range(8)], keep_worker=True)
    store = bed.store()
    chosen = set(ids[:5])
    selection = Selection(refs=frozenset(chosen | {"vanished"}))

    plan = await store.plan("replay", selection)
    assert plan.count == 5 and plan.skipped == 1
    assert plan.destinations == ((f"retry in {bed.name}", 5),)
    assert {p.ref for p in plan.letters if p.problem} == {"vanished"}

    bed.failing = False  # the outage is over: the worker that failed them now completes them
    reports: list[ReplayProgress] = []
    result = await store.transfer("replay", selection, MARK, rate=1000, progress=reports.append)
    assert (result.total, result.done, result.skipped, result.failed) == (6, 5, 1, 0)
    assert reports and reports[-1] == result

    counts = await until(lambda: bed.queue.getJobCounts("completed", "failed"), lambda c: c["completed"] == 5)
    assert counts == {"completed": 5, "failed": 3}  # dropped by exactly the number replayed
    assert bed.failed_ids() == set(ids[5:])
    for job_id in chosen:
        assert await bed.queue.getJobState(job_id) == "completed"
        logs = await bed.queue.getJobLogs(job_id)
        assert logs["logs"] == [f"replayed by {MARK.by} at {MARK.at} (opsconsole)"]
    for job_id in ids[5:]:
        assert (await bed.queue.getJobLogs(job_id))["count"] == 0

    again = await store.transfer("replay", Selection(refs=frozenset(chosen)), MARK, rate=1000)
    assert (again.done, again.skipped) == (0, 5)  # no longer failed: nothing retried twice


async def test_an_abort_midway_leaves_every_job_failed_or_retried_none_lost(bed: Bed) -> None:
    ids = await bed.fail([("send", {"i": i, "reason": "down"}) for i in range(120)], concurrency=20)
    store = bed.store()
    abort = asyncio.Event()
    reports: list[ReplayProgress] = []

    def on_progress(report: ReplayProgress) -> None:
        reports.append(report)
        abort.set()  # the operator presses Esc at the first report (50 jobs)

    result = await store.transfer("replay", Selection(), MARK, rate=10_000, abort=abort, progress=on_progress)
    assert result.total == 120 and result.done == 50 and "aborted" in result.note
    assert reports[0].done == 50 and reports[-1] == result

    states = {job_id: await bed.queue.getJobState(job_id) for job_id in ids}
    failed = {job_id for job_id, state in states.items() if state == "failed"}
    waiting = {job_id for job_id, state in states.items() if state == "waiting"}
    assert failed | waiting == set(ids) and not failed & waiting  # each job in one place, none lost
    assert len(waiting) == 50 and failed == bed.failed_ids()
    retried_logs = {job_id for job_id in ids if (await bed.queue.getJobLogs(job_id))["count"]}
    assert retried_logs == waiting  # the mark is on exactly the jobs that were retried


# --- purge, restore, export -------------------------------------------------------------------------------------


async def test_purge_backs_up_first_removes_only_those_and_restore_puts_them_back_exactly(
    bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await bed.fail([("send", {"i": i, "reason": f"reason {i}"}) for i in range(4)])
    await Job.addJobLog(bed.queue, ids[0], "first attempt log")
    await Job.addJobLog(bed.queue, ids[0], "second line")
    await Job.addJobLog(bed.queue, ids[2], "only line")
    before = {job_id: bed.state(job_id) for job_id in ids}
    store = bed.store()
    backup = tmp_path / "backups" / "purge.ndjson"

    original = dlq_bull.write_ndjson

    def backup_then_a_late_failure(path: Path, records: Any) -> int:
        written = original(path, records)
        assert bed.failed_ids() == set(ids), "nothing may be removed before the backup is on disk"
        assert len(path.read_text().splitlines()) == 4
        bed.inject("late", {"name": "send", "data": "{}", "failedReason": "failed after the backup"})
        return written

    monkeypatch.setattr(dlq_bull, "write_ndjson", backup_then_a_late_failure)
    plan = await store.plan("purge", Selection())
    assert plan.count == 4
    removed = await store.purge(backup)
    monkeypatch.undo()

    assert removed == 4
    assert bed.failed_ids() == {"late"}  # the job that failed after the backup stays
    for job_id in ids:
        assert bed.state(job_id) == ({}, None, [])

    records = read_ndjson(backup)
    assert sorted(r["id"] for r in records) == sorted(ids)
    for record in records:
        assert (record["kind"], record["dlq"], record["prefix"]) == ("bullmq", bed.name, bed.prefix)
        assert record["score"] == before[record["id"]][1]
        assert record["hash"]["name"] == "send" and "failedReason" in record["hash"]
    assert next(r for r in records if r["id"] == ids[0])["logs"] == ["first attempt log", "second line"]

    assert await store.restore(records) == 4 and store.restore_skipped == 0
    for job_id in ids:
        assert bed.state(job_id) == before[job_id]  # hash fields, failed score and logs, byte for byte
    assert (await bed.queue.getJobCounts("failed"))["failed"] == 5
    job = await Job.fromId(bed.queue, ids[1])
    assert job is not None and job.failedReason == "reason 1"

    assert await store.restore(records) == 0 and store.restore_skipped == 4  # never over an existing job
    for job_id in ids:
        assert bed.state(job_id) == before[job_id]

    foreign = dict(records[0], dlq="another-queue")
    with pytest.raises(ActionRefused, match="another-queue"):
        await store.restore([foreign])
    with pytest.raises(ActionRefused, match="exists already"):
        await store.purge(backup)  # a backup is never overwritten, and nothing is removed
    assert len(bed.failed_ids()) == 5


async def test_export_writes_the_selection_and_removes_nothing(bed: Bed, tmp_path: Path) -> None:
    ids = await bed.fail([("send", {"i": i, "reason": "a" if i < 2 else "b"}) for i in range(5)])
    store = bed.store()
    assert await store.export(Selection(reason="a"), tmp_path / "a.ndjson") == 2
    assert sorted(r["id"] for r in read_ndjson(tmp_path / "a.ndjson")) == sorted(ids[:2])
    assert await store.export(Selection(), tmp_path / "all.ndjson") == 5
    assert bed.failed_ids() == set(ids)
    with pytest.raises(ActionRefused, match="exists already"):
        await store.export(Selection(), tmp_path / "a.ndjson")


# --- move -------------------------------------------------------------------------------------------------------


async def test_move_adds_each_job_to_the_target_queue_then_removes_it_here(bed: Bed) -> None:
    opts = {"attempts": 2, "backoff": {"type": "fixed", "delay": 5}}
    jobs = [("render", {"i": i, "reason": "template missing"}) for i in range(3)]
    ids = await bed.fail(jobs, opts)
    bed.inject("broken", {"name": "render", "data": "not json {", "failedReason": "garbage", "opts": "{}"})
    store = bed.store()
    target = unique("archive")

    for bad in ("", bed.name, "a:b"):
        with pytest.raises(ActionRefused):
            await store.plan("move", Selection(), target=bad)
    plan = await store.plan("move", Selection(), target=target)
    assert plan.count == 3 and plan.skipped == 1
    assert plan.destinations == ((f"queue {target}", 3),)
    assert [p.problem for p in plan.letters if p.ref == "broken"] == ["data is not JSON: a new job cannot carry it"]

    result = await store.transfer("move", Selection(), MARK, target=target, rate=1000)
    assert (result.total, result.done, result.skipped, result.failed) == (4, 3, 1, 0)
    assert bed.failed_ids() == {"broken"}  # the one that could not go stays where it was
    for job_id in ids:
        assert bed.state(job_id)[0] == {}

    archive = bed.bull_queue(target)
    moved = await archive.getWaiting()
    assert sorted(job.data["i"] for job in moved) == [0, 1, 2]
    for job in moved:
        assert job.name == "render" and job.data["reason"] == "template missing"
        assert job.opts["attempts"] == 2 and job.opts["backoff"] == {"type": "fixed", "delay": 5}
        (line,) = (await archive.getJobLogs(job.id))["logs"]
        assert line.startswith(f"moved from {bed.name} job ")
        assert line.endswith(f"by {MARK.by} at {MARK.at} (opsconsole)")

    bed.failing = False
    bed.worker(target, bed.process)  # they are real jobs: a worker of the target queue completes them
    await until(lambda: archive.getJobCounts("completed"), lambda c: c["completed"] == 3)


# --- hostile data -----------------------------------------------------------------------------------------------


async def test_a_hostile_job_browses_capped_and_neutralised_and_round_trips_byte_for_byte(
    bed: Bed, tmp_path: Path
) -> None:
    now = time.time() * 1000
    evil_data = b'{"x":"\x1b]52;c;aGk=\x07\x1b[2J' + b"\xff\xfe\xc0" + b'"}'
    bed.inject(
        "evil",
        {
            "name": "\x1b[31mred\x1b[0m\u202e",
            "data": evil_data,
            "opts": b'{"attempts":1,\xff}',
            "failedReason": "\x1b]0;pwned\x07boom \x9b\ncaused by",
            "stacktrace": b'["Error: x\\n    at evil (\x1b[2J/app.js:1:1)"',  # cut short: not JSON
            "timestamp": str(int(now)),
            "finishedOn": str(int(now)),
            "atm": "\xff",
        },
        score=now,
    )
    huge = b'{"blob":"' + b"a" * (10 * 1024 * 1024) + b'"}'
    bed.inject("huge", {"name": "big", "data": huge, "failedReason": "too big", "finishedOn": str(int(now) - 1)},
               score=now - 1)  # fmt: skip
    bed.redis.rpush(f"{bed.prefix}:{bed.name}:evil:logs", b"\x1b[2Jlog \xff")
    before = {job_id: bed.state(job_id) for job_id in ("evil", "huge")}
    store = bed.store()

    page = await store.page(0, 10, Selection())
    assert [letter.ref for letter in page.letters] == ["evil", "huge"]
    evil, big = page.letters
    assert big.size == len(huge) and big.truncated and len(big.body) == DEAD_LETTER_BODY_CAP
    assert big.body == huge[:DEAD_LETTER_BODY_CAP]
    assert evil.body == evil_data and evil.size == len(evil_data) and not evil.truncated  # raw: rendering escapes
    shown = [evil.reason, *(value for _, value in evil.properties)]
    for text in shown:
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), text
    assert evil.reason.endswith("boom \\x9b")
    assert dict(evil.properties)["stacktrace"].startswith("at evil (")

    info = await store.info(sample=10)
    assert info.count == 2 and info.sampled == 2
    assert (await store.page(0, 10, Selection(text="blob"))).letters[0].ref == "huge"
    plan = await store.plan("move", Selection(), target=unique("other"))
    assert {p.ref: p.problem != "" for p in plan.letters} == {"evil": True, "huge": False}  # huge: unverified

    assert await store.purge(tmp_path / "purge.ndjson") == 2
    records = read_ndjson(tmp_path / "purge.ndjson")
    evil_record = next(r for r in records if r["id"] == "evil")
    assert set(evil_record["hash"]["data"]) == {"$bytes"}  # invalid UTF-8 kept as bytes
    assert await store.restore(records) == 2
    for job_id in ("evil", "huge"):
        assert bed.state(job_id) == before[job_id]

    # bullmq cannot decode the evil hash (Job.fromId fails), yet its retry is BullMQ's own script.
    result = await store.transfer("replay", Selection(refs=frozenset({"evil"})), MARK, rate=1000)
    assert (result.done, result.failed, result.skipped) == (1, 0, 0)
    assert await bed.queue.getJobState("evil") == "waiting"
    assert bed.state("evil")[2][-1] == f"replayed by {MARK.by} at {MARK.at} (opsconsole)".encode()


# --- plans and failures -----------------------------------------------------------------------------------------


async def test_plans_refuse_what_cannot_be_done_and_count_the_whole_set(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(8):
        bed.inject(f"j{i}", {"name": "x", "data": json.dumps({"i": i}), "failedReason": "r"}, score=1000 + i)
    store = bed.store()
    with pytest.raises(ActionRefused, match="not 'delete'"):
        await store.plan("delete", Selection())
    with pytest.raises(ActionRefused, match="whole failed set"):
        await store.plan("purge", Selection(reason="r"))
    with pytest.raises(ActionRefused):
        await store.transfer("purge", Selection(), MARK)

    monkeypatch.setattr(dlq_bull, "SCAN_CAP", 5)
    everything = await store.plan("replay", Selection())
    assert everything.capped and everything.scanned == 5
    assert everything.count == 8 and everything.destinations == ((f"retry in {bed.name}", 8),)
    assert [p.ref for p in everything.letters] == ["j7", "j6", "j5", "j4", "j3"]  # newest first
    limited = await store.plan("replay", Selection(limit=3))
    assert limited.count == 3 and [p.ref for p in limited.letters] == ["j7", "j6", "j5"]
    filtered = await store.page(0, 10, Selection(reason="r"))
    assert len(filtered.letters) == 5 and "stopped at 5" in filtered.note


async def test_redis_down_is_source_unavailable_and_the_store_recovers(bed: Bed) -> None:
    bed.inject("1", {"name": "x", "data": "{}", "failedReason": "r"})
    store = bed.store()
    assert (await store.info(sample=10)).count == 1
    bed.server.stop()
    for attempt in (store.info(sample=10), store.page(0, 10, Selection()), store.plan("replay", Selection())):
        with pytest.raises(SourceUnavailable):
            await attempt
    with pytest.raises(SourceUnavailable):
        await store.transfer("replay", Selection(), MARK)
    bed.server.start()  # same port, empty: the read script is loaded again on first use
    assert (await store.info(sample=10)).count == 0
    bed.inject("2", {"name": "x", "data": "{}", "failedReason": "back"})
    assert [letter.reason for letter in (await store.page(0, 10, Selection())).letters] == ["back"]
