"""Nothing lost in actions under faults (issue 10, part 6): a DLQ replay interrupted by the worst that can happen,
then every message accounted for by its id — in the DLQ or at its destination, never in neither; a message in
both places is a duplicate that carries the replay mark, so a consumer can tell (at-least-once).

- The RabbitMQ broker itself killed -9 in the middle of replaying 5,000 letters (a private node, durable queues,
  persistent messages), restarted, and the books checked.
  (tests/test_dlq_rabbit.py already covers the broker closing the replay's *connection* on the shared broker.)
- Redis killed -9 in the middle of a Redis-list DLQ replay of 5,000 events (a private server with an
  append-only file fsynced on every write), restarted with its data, the books checked — the Lua move is atomic,
  so not even a duplicate — then the same store resumes the replay after the restart.
- The console process itself (`opsconsole dlq replay … --write --confirm N` as a subprocess) killed -9 midway,
  against RabbitMQ (the shared broker, unique names) and against Redis: whatever it had not confirmed is back in
  the DLQ; the audit journal still has the start record.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import redis

from console.adapters.dlq_base import REPLAY_MARK, Mark, Selection
from console.adapters.dlq_rabbit import WINDOW, RabbitDlq  # WINDOW: unsettled letters at most
from console.adapters.dlq_redis import RedisListDlq
from console.config_dlq import RedisDlqConfig
from console.errors import SourceUnavailable
from console.model import ReplayProgress
from tests.fixtures.dlq_rabbit import (
    Seen,
    Topology,
    dead_lettered,
    depth,
    dlq_topology_fixture,  # noqa: F401 - the `dlq_topology` fixture
    drain,
    make_dead_letters,
    order,
    seen,
)
from tests.fixtures.rabbit import AMQP_URL, MANAGEMENT_URL
from tests.fixtures.rabbit_private import PrivateRabbit, requires_rabbitmq_server
from tests.fixtures.redis_server import PrivateRedis, requires_redis_server

MARK = Mark(at="2024-05-01T12:00:00Z", by="alice@bastion")
EVERYTHING = Selection()
TOTAL = 5000
FAST = 100_000.0  # letters per second: the pacer never waits
KILL_AT = 1000  # letters replayed when the fault strikes
OPSCONSOLE = Path(sys.executable).parent / "opsconsole"


def ids(n: int) -> set[str]:
    return {f"m-{i:05d}" for i in range(n)}


def account(in_dlq: list[str], at_destination: list[str], everyone: set[str]) -> set[str]:
    """The books: nothing twice in one place, nothing lost; returns the ids found in both places."""
    dlq, destination = Counter(in_dlq), Counter(at_destination)
    assert not dlq or max(dlq.values()) == 1, "a letter twice in the DLQ"
    assert not destination or max(destination.values()) == 1, "a copy twice at the destination"
    missing = everyone - set(dlq) - set(destination)
    assert not missing, f"{len(missing)} lost: {sorted(missing)[:10]}"
    assert set(dlq) | set(destination) == everyone, "ids that were never letters"
    return set(dlq) & set(destination)


# --- RabbitMQ: the broker killed -9 mid-replay ------------------------------------------------------------------


async def private_topology(url: str, topo: Topology, letters: int) -> None:
    """Durable exchanges and queues on the private node, and `letters` persistent letters in the DLQ, each
    confirmed (so on disk) before this returns."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.declare_exchange(topo.events, aio_pika.ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(topo.dlx, aio_pika.ExchangeType.TOPIC, durable=True)
        orders = await channel.declare_queue(topo.orders, durable=True, arguments={"x-dead-letter-exchange": topo.dlx})
        await orders.bind(events, "order.*")
        dlq = await channel.declare_queue(topo.dlq, durable=True)
        await dlq.bind(dlx, "#")
        for start in range(0, letters, 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(dead_lettered(i, topo, body=b"%d" % i), topo.dlq, timeout=30)
                    for i in range(start, min(start + 500, letters))
                )
            )
    finally:
        await connection.close()


async def drain_at(url: str, queue: str) -> list[Seen]:
    """Empty `queue` and return what it held, head first: a consumer with a deep prefetch (basic.get, one round
    trip per message, is ten times slower for thousands)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        declared = await channel.declare_queue(queue, passive=True)
        count = int(declared.declaration_result.message_count or 0)
        found: list[Seen] = []
        if count:
            async with asyncio.timeout(60), declared.iterator(no_ack=True) as messages:
                async for message in messages:
                    found.append(seen(message))
                    if len(found) >= count:
                        break
        return found
    finally:
        await connection.close()


@pytest.fixture
def private_rabbit() -> Iterator[PrivateRabbit]:
    with PrivateRabbit() as rabbit:
        yield rabbit


@requires_rabbitmq_server
@pytest.mark.timeout(150)
async def test_the_broker_killed_mid_replay_of_5000_loses_no_letter(private_rabbit: PrivateRabbit) -> None:
    rabbit, topo = private_rabbit, Topology(f"oc-test-{uuid.uuid4().hex[:8]}")
    url = rabbit.amqp_url
    await private_topology(url, topo, TOTAL)
    reports: list[ReplayProgress] = []
    midway = asyncio.Event()

    def progress(report: ReplayProgress) -> None:
        reports.append(report)
        if report.done >= KILL_AT:
            midway.set()

    store = RabbitDlq(topo.dlq, url, None, timeout=10.0)
    replay = asyncio.create_task(store.transfer("replay", EVERYTHING, MARK, rate=FAST, progress=progress))
    waiter = asyncio.create_task(midway.wait())
    await asyncio.wait({waiter, replay}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert midway.is_set() and not replay.done(), f"the replay never got midway: {reports[-1:]}"
    killed_at = reports[-1].done
    rabbit.kill9()  # the whole node, mid-window: copies in flight, acks unsent
    (outcome,) = await asyncio.wait_for(asyncio.gather(replay, return_exceptions=True), 30)
    assert isinstance(outcome, SourceUnavailable), repr(outcome)  # through the console's error tree
    assert reports[-1].note.startswith("stopped: ")

    await asyncio.to_thread(rabbit.start)  # same ports, same data: durable queues and persistent messages
    in_dlq, at_origin = await drain_at(url, topo.dlq), await drain_at(url, topo.orders)
    both = account([m.message_id for m in in_dlq], [m.message_id for m in at_origin], ids(TOTAL))
    assert killed_at <= len(at_origin) < TOTAL, "the kill came midway"
    assert all(m.headers.get(REPLAY_MARK) == MARK.at for m in at_origin), "every copy carries the replay mark"
    assert not any(REPLAY_MARK in m.headers for m in in_dlq), "letters in the DLQ are the originals"
    # A broker crash can forget acks it had not yet written (classic queues persist them lazily), unlike a
    # connection loss (at most one window): every letter replayed in its last moments may be back in the DLQ.
    # Those are duplicates, and each copy at the origin says it is a replay; the originals stay unmarked.
    assert both <= {m.message_id for m in at_origin}
    print(
        f"\nbroker killed at {killed_at} replayed: {len(at_origin)} at the origin, {len(in_dlq)} back in the DLQ "
        f"(restart {rabbit.ready_after:.1f}s), {len(both)} in both (marked), 0 lost"
    )


# --- Redis: the server killed -9 mid-replay, restarted with its data --------------------------------------------


def event(number: int) -> bytes:
    return json.dumps(
        {
            "eventId": f"m-{number:05d}",
            "event": "order.paid",
            "payload": {"n": number},
            "error": "TimeoutError: handler took too long",
            "failedAt": "2024-05-01T11:00:00.000Z",
            "retryCount": 3,
        }
    ).encode()


def event_ids(client: redis.Redis, key: str) -> list[str]:
    return [json.loads(element)["eventId"] for element in client.lrange(key, 0, -1)]


def seed(client: redis.Redis, key: str, count: int) -> None:
    for start in range(0, count, 500):
        client.lpush(key, *(event(i) for i in range(start, min(start + 500, count))))


@requires_redis_server
@pytest.mark.timeout(120)
async def test_redis_killed_mid_replay_and_restarted_loses_nothing_and_the_replay_resumes() -> None:
    with PrivateRedis(persistent=True) as server:
        client = server.client()
        key, target = "events:dlq", "replayed:order.paid"
        seed(client, key, TOTAL)
        config = RedisDlqConfig(key=key, redis_url=server.url, replay_to="list", target="replayed:{event}")
        store = RedisListDlq(config, timeout=5.0)
        reports: list[ReplayProgress] = []

        def progress(report: ReplayProgress) -> None:
            reports.append(report)
            if report.done >= KILL_AT and server.running:
                server.kill9()  # between two letters' scripts, from inside the replay's own progress report

        try:
            with pytest.raises(SourceUnavailable):
                await store.transfer("replay", EVERYTHING, MARK, rate=FAST, progress=progress)
            killed_at = max(r.done for r in reports)
            assert reports[-1].note.startswith("stopped: Redis")

            await asyncio.to_thread(server.start)  # the append-only file brings every acknowledged write back
            in_dlq, replayed = event_ids(client, key), event_ids(client, target)
            both = account(in_dlq, replayed, ids(TOTAL))
            assert not both, "the Lua move is atomic: not even a duplicate"
            assert len(replayed) == killed_at, (len(replayed), killed_at)
            copies = [json.loads(element) for element in client.lrange(target, 0, -1)]
            assert all(c["replayedAt"] == MARK.at and "error" not in c for c in copies)

            # The same store (its pool reconnects) finishes the job.
            result = await store.transfer("replay", EVERYTHING, MARK, rate=FAST)
            assert (result.done, result.failed) == (TOTAL - killed_at, 0)
            assert client.llen(key) == 0
            assert Counter(event_ids(client, target)) == Counter(ids(TOTAL))
        finally:
            await store.aclose()
    print(f"\nRedis killed at {killed_at} replayed, restarted in {server.ready_after:.2f}s: 0 lost, 0 duplicates")


# --- the console process killed -9 mid-replay -------------------------------------------------------------------


def write_config(tmp_path: Path, *, rabbit_dlq: str | None = None, redis: tuple[str, str] | None = None) -> Path:
    lines = ["[console]", f"audit_log = {json.dumps(str(tmp_path / 'audit.jsonl'))}", "", "[env.t]"]
    if rabbit_dlq is not None:
        lines += [
            "[env.t.rabbitmq]",
            f"management_url = {json.dumps(MANAGEMENT_URL.replace('://', '://guest:guest@'))}",
            f"amqp_url = {json.dumps(AMQP_URL)}",
        ]
    lines += ["[env.t.dlq]", "bullmq = false", "discover = false", "replay_rate = 400"]
    if rabbit_dlq is not None:
        lines += [f"rabbitmq = {json.dumps([rabbit_dlq])}"]
    if redis is not None:
        url, key = redis
        lines += [
            "[[env.t.dlq.redis]]",
            f"key = {json.dumps(key)}",
            f"redis_url = {json.dumps(url)}",
            'replay_to = "list"',
            'target = "replayed:{event}"',
        ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def console_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def replay_cli(config: Path, tmp_path: Path, dlq: str, count: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "NO_COLOR": "1"}
    argv = [str(OPSCONSOLE), "dlq", "replay", dlq, "--write", "--reason", "INC-10 kill test", "--confirm", str(count)]
    return subprocess.Popen(
        [*argv, "--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def kill_when(process: subprocess.Popen[bytes], moved: Any, at_least: int, limit: float = 60.0) -> int:
    """SIGKILL `process` once `await moved()` reaches `at_least`; returns what it had reached."""
    deadline = time.monotonic() + limit
    while (reached := await moved()) < at_least:
        assert process.poll() is None, f"the console exited ({process.returncode}) before the kill, at {reached}"
        assert time.monotonic() < deadline, f"only {reached} replayed after {limit:g}s"
        await asyncio.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    return reached


def journal(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.skipif(not OPSCONSOLE.exists(), reason="the opsconsole script is not installed in .venv")
@pytest.mark.timeout(120)
async def test_the_console_killed_mid_replay_loses_no_rabbitmq_letter(
    dlq_topology: Topology, tmp_path: Path, console_process: list[subprocess.Popen[bytes]]
) -> None:
    topo, total = dlq_topology, 2000
    await make_dead_letters(topo, [order(i, body=b"%d" % i) for i in range(total)])
    config = write_config(tmp_path, rabbit_dlq=topo.dlq)
    process = replay_cli(config, tmp_path, f"rabbitmq:{topo.dlq}", total)
    console_process.append(process)

    reached = await kill_when(process, lambda: depth(topo.orders), 400)

    # The broker sees the connection drop at once and requeues every unacked letter; then the books add up.
    async def settled() -> int:
        return await depth(topo.dlq) + await depth(topo.orders)

    for _ in range(600):  # 30 s at most
        if await settled() >= total:
            break
        await asyncio.sleep(0.05)
    in_dlq, at_origin = await drain(topo.dlq), await drain(topo.orders)
    both = account([m.message_id for m in in_dlq], [m.message_id for m in at_origin], ids(total))
    assert reached <= len(at_origin) < total
    assert len(both) <= WINDOW
    assert all(m.headers.get(REPLAY_MARK) for m in at_origin) and not any(REPLAY_MARK in m.headers for m in in_dlq)
    # The journal says a replay started and never says it finished: the on-call engineer sees it was cut.
    outcomes = [r.get("outcome") for r in journal(tmp_path) if r.get("action") == "dlq-replay"]
    assert outcomes == ["dry-run", "started"], outcomes
    print(
        f"\nconsole killed at {len(at_origin)} of {total}: {len(in_dlq)} back in the DLQ, {len(both)} in both, 0 lost"
    )


@requires_redis_server
@pytest.mark.skipif(not OPSCONSOLE.exists(), reason="the opsconsole script is not installed in .venv")
@pytest.mark.timeout(120)
async def test_the_console_killed_mid_replay_loses_no_redis_letter(
    tmp_path: Path, console_process: list[subprocess.Popen[bytes]]
) -> None:
    with PrivateRedis() as server:
        client = server.client()
        key, target, total = "events:dlq", "replayed:order.paid", 2000
        seed(client, key, total)
        config = write_config(tmp_path, redis=(server.url, key))
        process = replay_cli(config, tmp_path, f"redis:{key}", total)
        console_process.append(process)

        async def replayed() -> int:
            return int(client.llen(target))

        await kill_when(process, replayed, 400)
        in_dlq, copies = event_ids(client, key), event_ids(client, target)
        both = account(in_dlq, copies, ids(total))
        assert not both and 400 <= len(copies) < total
    print(f"\nconsole killed at {len(copies)} of {total} (Redis): {len(in_dlq)} still in the DLQ, 0 lost, 0 twice")
