"""Queue actions for real: BullMQ pause / resume / retry / clean through the bullmq package (and what a
worker then does), RabbitMQ purge with an NDJSON backup written before anything is removed."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest
from bullmq import Queue, Worker

from console.actions import WriteMode
from console.audit import AuditLog
from console.config import BullConfig, Environment, RabbitConfig, Settings
from console.errors import ActionRefused
from console.queue_actions import QueueAction
from tests.fixtures.redis_server import PrivateRedis, make_redis_fixture, requires_redis_server  # noqa: F401

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
MANAGEMENT = "http://127.0.0.1:15672"


def write_mode() -> WriteMode:
    mode = WriteMode()
    mode.enable("test", 5)
    return mode


def bull_settings(redis: PrivateRedis, protected: bool = False) -> Settings:
    env = Environment(name="t", protected=protected, bullmq=BullConfig(redis_url=redis.url))
    return Settings(env=env, environments=("t",))


async def wait_until(predicate, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never became true")


@requires_redis_server
async def test_bullmq_pause_stops_a_worker_and_resume_restarts_it(make_redis, tmp_path: Path) -> None:
    redis = make_redis()
    settings = bull_settings(redis)
    audit = AuditLog(tmp_path / "audit.jsonl")
    queue = Queue("emails", {"connection": redis.url})
    done: list[int] = []

    async def process(job, _token):  # type: ignore[no-untyped-def]
        done.append(job.data["i"])

    worker = Worker("emails", process, {"connection": redis.url})
    try:
        pause = QueueAction(settings, "pause", "bullmq", "emails", audit)
        with pytest.raises(ActionRefused, match="read-only"):
            await pause.dry_run()
            await pause.execute(WriteMode(), yes=True)
        await pause.execute(write_mode(), yes=True)
        assert await queue.isPaused()
        for i in range(5):
            await queue.add("send", {"i": i})
        await asyncio.sleep(0.5)
        assert done == []  # paused: the worker takes nothing
        resume = QueueAction(settings, "resume", "bullmq", "emails", audit)
        await resume.dry_run()
        await resume.execute(write_mode(), yes=True)

        async def all_done() -> bool:
            return len(done) == 5

        await wait_until(all_done)
    finally:
        await worker.close()
        await queue.close()
    outcomes = [r["outcome"] for r in audit.records()]
    assert outcomes == ["dry-run", "refused", "started", "done", "dry-run", "started", "done"]


@requires_redis_server
async def test_bullmq_retry_failed_jobs_runs_them_again_and_clean_removes_completed(make_redis, tmp_path) -> None:
    redis = make_redis()
    settings = bull_settings(redis)
    audit = AuditLog(tmp_path / "audit.jsonl")
    queue = Queue("thumbs", {"connection": redis.url})
    attempts: dict[int, int] = {}
    healthy = asyncio.Event()

    async def process(job, _token):  # type: ignore[no-untyped-def]
        attempts[job.data["i"]] = attempts.get(job.data["i"], 0) + 1
        if not healthy.is_set():
            raise RuntimeError("storage down")

    worker = Worker("thumbs", process, {"connection": redis.url})
    try:
        for i in range(6):
            await queue.add("make", {"i": i})

        async def six_failed() -> bool:
            return (await queue.getJobCounts("failed"))["failed"] == 6

        await wait_until(six_failed)
        healthy.set()
        retry_two = QueueAction(settings, "retry", "bullmq", "thumbs", audit, count=2)
        plan = await retry_two.dry_run()
        assert plan.affected == 2
        assert (await retry_two.execute(write_mode(), yes=True)) == {"retried": 2}

        async def two_completed() -> bool:
            return (await queue.getJobCounts("completed"))["completed"] == 2

        await wait_until(two_completed)
        retry_all = QueueAction(settings, "retry", "bullmq", "thumbs", audit)
        await retry_all.dry_run()
        assert (await retry_all.execute(write_mode(), yes=True)) == {"retried": 4}

        async def six_completed() -> bool:
            return (await queue.getJobCounts("completed"))["completed"] == 6

        await wait_until(six_completed)
        assert all(count == 2 for count in attempts.values())
        clean = QueueAction(settings, "clean", "bullmq", "thumbs", audit)
        assert (await clean.dry_run()).affected == 6
        assert (await clean.execute(write_mode(), yes=True)) == {"removed": 6}
        assert (await queue.getJobCounts("completed"))["completed"] == 0
    finally:
        await worker.close()
        await queue.close()


@requires_redis_server
async def test_protected_environment_needs_the_typed_queue_name(make_redis, tmp_path: Path) -> None:
    redis = make_redis()
    action = QueueAction(
        bull_settings(redis, protected=True), "pause", "bullmq", "emails", AuditLog(tmp_path / "a.jsonl")
    )
    plan = await action.dry_run()
    assert plan.confirmation.level == "typed"
    with pytest.raises(ActionRefused, match="type the queue name"):
        await action.execute(write_mode(), yes=True)
    await action.execute(write_mode(), given="emails")


def _broker_up() -> bool:
    try:
        return httpx.get(f"{MANAGEMENT}/api/overview", auth=("guest", "guest"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


requires_rabbitmq = pytest.mark.skipif(not _broker_up(), reason="RabbitMQ with the management plugin not running")


@requires_rabbitmq
async def test_rabbitmq_purge_writes_an_exact_backup_before_removing(tmp_path: Path) -> None:
    import aio_pika

    name = f"oc-test-purge-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=False, auto_delete=False)
        bodies = [b"\x00\xffbinary", "ünïcode".encode(), b'{"json": true}'] + [f"m{i}".encode() for i in range(40)]
        for index, body in enumerate(bodies):
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    headers={"x-trace": f"t{index}", "x-retries": index % 3},
                    message_id=str(index),
                    content_type="application/octet-stream",
                ),
                routing_key=name,
            )
        env = Environment(name="t", rabbitmq=RabbitConfig(amqp_url=AMQP))
        settings = Settings(env=env, environments=("t",))
        action = QueueAction(
            settings, "purge", "rabbitmq", name, AuditLog(tmp_path / "a.jsonl"), backup_dir=tmp_path / "backups"
        )

        async def all_visible() -> bool:
            return (await action._rabbit_depth()) == len(bodies)

        await wait_until(all_visible)
        plan = await action.dry_run()
        assert plan.affected == len(bodies) and plan.confirmation.level == "typed"
        with pytest.raises(ActionRefused):
            await action.execute(write_mode(), yes=True)
        result = await action.execute(write_mode(), given=name)
        assert result["purged"] == len(bodies)
        lines = [json.loads(line) for line in Path(result["backup"]).read_text().splitlines()]
        assert [base64.b64decode(line["body_b64"]) for line in lines] == bodies
        assert [line["headers"]["x-trace"] for line in lines] == [f"t{i}" for i in range(len(bodies))]
        assert all(line["properties"]["content_type"] == "application/octet-stream" for line in lines)
        assert (await action._rabbit_depth()) == 0
        assert oct(Path(result["backup"]).stat().st_mode & 0o777) == "0o600"
    finally:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await connection.close()


async def test_dead_letter_queues_are_not_purged_here(tmp_path: Path) -> None:
    env = Environment(name="t", rabbitmq=RabbitConfig(amqp_url=AMQP))
    action = QueueAction(
        Settings(env=env, environments=("t",)), "purge", "rabbitmq", "dead.letter.queue", AuditLog(tmp_path / "a.jsonl")
    )
    with pytest.raises(ActionRefused, match="DLQ pane"):
        await action.dry_run()


@requires_redis_server
async def test_queues_pane_pause_key_through_the_tui(make_redis, tmp_path: Path) -> None:
    from console.app import make_app
    from console.screens.queue_action import QueueActionScreen
    from console.sources import build_sources

    redis = make_redis()
    queue = Queue("reports", {"connection": redis.url})
    await queue.add("build", {"n": 1})
    env = Environment(name="t", bullmq=BullConfig(redis_url=redis.url, interval=0.2))
    settings = Settings(env=env, environments=("t",), audit_log=tmp_path / "audit.jsonl")
    app = make_app(settings, build_sources(settings))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(200):
                if app.board.queue_rows():
                    break
                await pilot.pause(0.02)
            await pilot.press("w")
            await pilot.press(*"INC-9", "enter")
            await pilot.press("4", "P")
            assert isinstance(app.screen, QueueActionScreen)
            for _ in range(200):
                if app.screen.ready:
                    break
                await pilot.pause(0.02)
            await pilot.press("y")
            for _ in range(200):
                if app.screen.done:
                    break
                await pilot.pause(0.02)
            status = app.screen.query_one("#queue-action-status").render()
            assert await queue.isPaused(), str(status)
            await pilot.press("escape")
            for _ in range(200):  # the next poll shows it paused
                rows = app.board.queue_rows()
                if rows and rows[0].queue.paused:
                    break
                await pilot.pause(0.02)
            assert "paused" in app.board.queue_rows()[0].reasons
    finally:
        await queue.close()


@requires_rabbitmq
async def test_purge_then_restore_round_trip_is_exact(tmp_path: Path) -> None:
    import aio_pika

    from console.queue_actions import restore_backup

    name = f"oc-test-restore-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=False, auto_delete=False)
        sent = [
            (f"body-{i}".encode() + bytes([0, 255, i]), {"x-n": i, "x-bin": bytearray(b"\x01\x02")}) for i in range(25)
        ]
        for index, (body, headers) in enumerate(sent):
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    headers=headers,
                    message_id=f"id-{index}",
                    correlation_id="c",
                    priority=3,
                    content_type="application/x-test",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=name,
            )
        env = Environment(name="t", rabbitmq=RabbitConfig(amqp_url=AMQP))
        action = QueueAction(
            Settings(env=env, environments=("t",)),
            "purge",
            "rabbitmq",
            name,
            AuditLog(tmp_path / "a.jsonl"),
            backup_dir=tmp_path,
        )

        async def all_there() -> bool:
            return (await action._rabbit_depth()) == len(sent)

        await wait_until(all_there)
        await action.dry_run()
        result = await action.execute(write_mode(), given=name)
        assert result["purged"] == len(sent)
        assert await restore_backup(AMQP, Path(result["backup"])) == len(sent)
        queue = await channel.get_queue(name)
        received = []
        for _ in range(len(sent)):
            message = await queue.get(timeout=5)
            received.append(message)
            await message.ack()
        assert [m.body for m in received] == [body for body, _ in sent]
        assert [m.headers for m in received] == [headers for _, headers in sent]
        assert [m.message_id for m in received] == [f"id-{i}" for i in range(len(sent))]
        assert all(
            m.priority == 3
            and m.content_type == "application/x-test"
            and m.correlation_id == "c"
            and m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            for m in received
        )
    finally:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await connection.close()
