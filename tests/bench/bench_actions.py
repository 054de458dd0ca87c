"""4. Actions: replaying RabbitMQ dead letters against the broker's own shovel move, and invalidating cache keys
against a naive KEYS + DEL.

Replay: 10,000 dead letters (x-death names their origin queue) in a private vhost. The console's replay
(publisher confirms, each letter acked only after its copy is confirmed) moves them DLQ → origin, unthrottled
(the console paces replays at `replay_rate`, 200/s by default; this measures what it can do); then a dynamic
shovel with `src-delete-after: queue-length` — what the management UI's "Move messages" creates — moves the
same messages back, timed from its creation until the destination holds them all. Rounds alternate.

Invalidation: a private redis-server holding 1,000,000 keys of which 100,000 match; the console's
SCAN + UNLINK (batches of 500, 5 ms apart: the shipped defaults) against KEYS + one DEL, while a concurrent
client PINGs in a loop (like `redis-cli --latency`) and records what it waits.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from tests.bench.core import Figure, Report, Row, Skip, percentile
from tests.bench.rabbit_vhost import BenchVhost, dead_letter

# --- replay vs shovel -------------------------------------------------------------------------------------


def _shovel_ready(vhost: BenchVhost) -> str | None:
    response = vhost.http.get("/api/shovels")
    if response.status_code == 200:
        return None
    if shutil.which("rabbitmq-plugins") is None:
        return "the rabbitmq_shovel_management plugin is not enabled and rabbitmq-plugins is not installed"
    out = subprocess.run(  # noqa: S603, S607
        ["rabbitmq-plugins", "-q", "enable", "rabbitmq_shovel", "rabbitmq_shovel_management"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for _ in range(30):
        if vhost.http.get("/api/shovels").status_code == 200:
            return None
        time.sleep(1)
    return f"could not enable rabbitmq_shovel_management: {(out.stderr or out.stdout).strip()[:200]}"


def run_replay(report: Report, quick: bool) -> None:
    asyncio.run(_replay(report, quick))


async def _replay(report: Report, quick: bool) -> None:
    from console.adapters.dlq_base import Mark, Selection
    from console.adapters.dlq_rabbit import RabbitDlq

    n, rounds = (1_000, 1) if quick else (10_000, 3)
    with BenchVhost() as vhost:
        why = _shovel_ready(vhost)
        origin, dlq = f"{vhost.name}.orders", f"{vhost.name}.orders.dlq"
        await vhost.declare([origin, dlq])
        await vhost.publish(dlq, (dead_letter(i, origin) for i in range(n)))
        await vhost.wait_depth(dlq, n)
        ours, theirs, notes = [], [], []
        for index in range(rounds):
            store = RabbitDlq(dlq, vhost.amqp_url, None, timeout=30.0)
            mark = Mark(datetime.now(UTC).isoformat(), "bench@localhost")
            started = time.perf_counter()
            result = await store.transfer("replay", Selection(), mark, rate=1e9)
            elapsed = time.perf_counter() - started
            await store.aclose()
            if result.done != n:
                notes.append(f"round {index + 1}: replayed {result.done} of {n} ({result.note})")
            ours.append(result.done / elapsed)
            await vhost.wait_depth(origin, n)
            if why is not None:
                break
            name = f"{vhost.name}-move-{index}"
            value = {
                "src-protocol": "amqp091",
                "src-uri": f"amqp:///{vhost.quoted}",
                "src-queue": origin,
                "dest-protocol": "amqp091",
                "dest-uri": f"amqp:///{vhost.quoted}",
                "dest-queue": dlq,
                "src-delete-after": "queue-length",
                "ack-mode": "on-confirm",
            }
            started = time.monotonic()
            response = vhost.http.put(f"/api/parameters/shovel/{vhost.quoted}/{name}", json={"value": value})
            response.raise_for_status()
            done_at = await vhost.wait_depth(dlq, n)
            theirs.append(n / (done_at - started))
            vhost.http.delete(f"/api/parameters/shovel/{vhost.quoted}/{name}")
            await vhost.wait_depth(dlq, n)
        if why is not None:
            report.skip("replay vs shovel", why)
        row = Row(f"Replay {n:,} RabbitMQ dead letters", "messages/s, publisher confirms", Figure("msg/s", ours))
        if theirs:
            row.peer, row.theirs = "shovel move (management API)", Figure("msg/s", theirs)
            row.target = "≥ shovel's rate"
            row.met = row.ratio is not None and row.ratio >= 1.0
        row.note = "; ".join(notes)
        report.add(row)


# --- invalidation vs KEYS + DEL ---------------------------------------------------------------------------


_PROBE = """
import json, sys, time, redis
client = redis.Redis.from_url(sys.argv[1])
samples = []
sys.stdout.write("ready\\n"); sys.stdout.flush()
import select
while not select.select([sys.stdin], [], [], 0)[0]:
    started = time.monotonic()
    client.ping()
    samples.append((started, (time.monotonic() - started) * 1000))
    time.sleep(0.001)
print(json.dumps(samples))
"""


class LatencyProbe:
    """Another process PINGing in a loop (what `redis-cli --latency` does), recording each wait with the
    monotonic time it started: the waits inside a window are what a concurrent client saw."""

    def __init__(self, url: str) -> None:
        import sys

        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _PROBE, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> LatencyProbe:
        assert self.process.stdout is not None
        self.process.stdout.readline()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self.process.communicate("stop\n", timeout=30)
        self.samples = [(float(a), float(b)) for a, b in json.loads(out)]

    def between(self, start: float, end: float) -> list[float]:
        """Waits of the PINGs sent during [start, end] (and the one already waiting at start)."""
        return [wait for at, wait in self.samples if start <= at + wait / 1000 and at <= end]


def run_invalidate(report: Report, quick: bool) -> None:
    if shutil.which("redis-server") is None:
        raise Skip("redis-server not installed (Debian package redis-server)")
    from tests.fixtures.redis_server import PrivateRedis

    server = PrivateRedis(extra_args=["--enable-debug-command", "yes"]).start()
    try:
        asyncio.run(_invalidate(report, quick, server))
    finally:
        server.close()


def _populate(client: Any, count: int, prefix: str) -> None:
    try:
        client.execute_command("DEBUG", "POPULATE", count, prefix, 32)
    except Exception:  # noqa: BLE001 - DEBUG refused: load through a pipeline instead
        for start in range(0, count, 10_000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(count, start + 10_000)):
                pipe.set(f"{prefix}:{i}", "x" * 32)
            pipe.execute()


async def _invalidate(report: Report, quick: bool, server: Any) -> None:
    from console.adapters.redis import connect
    from console.adapters.redis_invalidate import invalidate
    from console.config import CacheConfig

    total, matching, rounds = (100_000, 10_000, 2) if quick else (1_000_000, 100_000, 3)
    defaults = CacheConfig()
    sync = server.client()
    _populate(sync, total - matching, "other")
    ours_rate, naive_rate, ours_wait, naive_wait, ours_p99, naive_p99 = [], [], [], [], [], []
    for _ in range(rounds):
        _populate(sync, matching, "sess")
        assert sync.dbsize() == total
        client = connect(server.url, 30.0)
        with LatencyProbe(server.url) as probe:
            started = time.monotonic()
            result = await invalidate(client, "sess:*", batch=defaults.batch, pause=defaults.pause_ms / 1000)
            ended = time.monotonic()
        during = probe.between(started, ended)
        await client.aclose()
        assert result.deleted == matching, result
        ours_rate.append(result.deleted / result.seconds)
        ours_wait.append(max(during))
        ours_p99.append(percentile(during, 99))
        _populate(sync, matching, "sess")
        with LatencyProbe(server.url) as probe:
            started = time.monotonic()
            keys = sync.keys("sess:*")
            deleted = sync.delete(*keys)
            ended = time.monotonic()
            time.sleep(0.05)  # noqa: ASYNC251 - the probe's PING that waited behind DEL returns now
        during = probe.between(started, ended)
        assert deleted == matching
        naive_rate.append(deleted / (ended - started))
        naive_wait.append(max(during))
        naive_p99.append(percentile(during, 99))
    sync.close()
    bench = f"Invalidate {matching:,} of {total:,} keys"
    report.add(Row(bench, "keys/s", Figure("keys/s", ours_rate), "KEYS + DEL", Figure("keys/s", naive_rate)))
    note = "a concurrent client's PING, worst"
    report.add(
        Row(
            bench,
            "Redis latency seen meanwhile (max)",
            Figure("ms", ours_wait),
            "KEYS + DEL",
            Figure("ms", naive_wait),
            note=note,
        )
    )
    report.add(
        Row(bench, "Redis latency seen meanwhile (p99)", Figure("ms", ours_p99), "KEYS + DEL", Figure("ms", naive_p99))
    )
