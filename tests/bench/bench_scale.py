"""3. Scale: the cost per tick at N = 10, 100, 1,000, so the growth is visible.

RabbitMQ (a private vhost on the shared broker), health targets (a private HTTP server in its own process,
5 % of targets hanging), BullMQ (a private redis-server), and the first DLQ page of a large Redis DLQ
(private redis-server) and RabbitMQ DLQ (private vhost), with the memory a page costs.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.bench.core import Figure, Report, Row, Skip
from tests.bench.rabbit_vhost import MANAGEMENT_URL, BenchVhost, dead_letter


async def _time(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


def _sizes(quick: bool) -> tuple[int, ...]:
    return (10, 100) if quick else (10, 100, 1000)


# --- RabbitMQ ------------------------------------------------------------------------------------------


def run_rabbitmq(report: Report, quick: bool) -> None:
    asyncio.run(_rabbitmq(report, quick))


async def _rabbitmq(report: Report, quick: bool) -> None:
    import httpx

    from console.adapters.rabbitmq import COLUMNS, ManagementApi

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        report.skip("rabbitmq vs rabbitmqctl", "rabbitmqctl not installed")
    ticks = 5 if quick else 9
    with BenchVhost() as vhost:
        api = ManagementApi(MANAGEMENT_URL, vhost.name, timeout=30.0)
        raw = httpx.AsyncClient(auth=("guest", "guest"), timeout=30, trust_env=False)
        path = f"{MANAGEMENT_URL}/api/queues/{vhost.quoted}"
        try:
            declared = 0
            for n in _sizes(quick):
                await vhost.declare(f"{vhost.name}-q{i:05d}" for i in range(declared, n))
                declared = n
                assert len(vhost.queue_names()) == n
                ours, floor, full, ctl_ms = [], [], [], []
                got = len(await api.queues())  # warm the keep-alive connection, as a running console has it
                for _ in range(ticks):
                    ours.append(await _time(api.queues))
                    floor.append(await _time(lambda: raw.get(path, params={"columns": COLUMNS})))
                    full.append(await _time(lambda: raw.get(path)))
                if ctl is not None:
                    for _ in range(1 if quick else 3):
                        started = time.perf_counter()
                        subprocess.run(  # noqa: S603, ASYNC221 - timed on purpose, nothing else runs
                            [ctl, "-q", "list_queues", "-p", vhost.name, "name", "messages"],
                            capture_output=True,
                            timeout=120,
                            check=True,
                        )
                        ctl_ms.append((time.perf_counter() - started) * 1000)
                bench = f"RabbitMQ {n:,} queues"
                mine = Figure("ms", ours)
                note = f"{got:,} queues read" if got != n else ""
                row = Row(
                    bench, "one tick (management API, columns=)", mine, "raw GET, same columns", Figure("ms", floor)
                )
                row.target, row.met, row.note = "≤ 1.5× raw GET", row.ratio is not None and row.ratio <= 1.5, note
                report.add(row)
                report.add(Row(bench, "one tick", mine, "raw GET /api/queues (all columns)", Figure("ms", full)))
                if ctl_ms:
                    row = Row(bench, "one tick", mine, "rabbitmqctl list_queues name messages", Figure("ms", ctl_ms))
                    row.target, row.met = "≥ 4× faster (≤ 0.25×)", row.ratio is not None and row.ratio <= 0.25
                    report.add(row)
        finally:
            await api.aclose()
            await raw.aclose()


# --- Health ---------------------------------------------------------------------------------------------

_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    BODY = b'{"status": "ok", "checks": {"database": "connected"}}'
    HEAD = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n"
    OK = HEAD % len(BODY) + BODY

    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                hang = b"/hang/" in line
                while (await reader.readline()) not in (b"\\r\\n", b"\\n", b""):
                    pass
                if hang:
                    await asyncio.sleep(3600)
                writer.write(OK)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)


def run_health(report: Report, quick: bool) -> None:
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        asyncio.run(_health(report, quick, port))
    finally:
        server.terminate()
        server.wait(5)


async def _health(report: Report, quick: bool, port: int) -> None:
    from console.collector import Collector
    from console.config import Environment, HealthTargetConfig, Settings
    from console.sources import build_sources

    timeout = 1.0
    curl = shutil.which("curl")
    if curl is None:
        report.skip("health vs curl", "curl not installed")
    for n in _sizes(quick):
        urls = [
            f"http://127.0.0.1:{port}/{'hang' if i % 20 == 0 else 'ok'}/{i}/health" for i in range(n)
        ]  # every 20th target (5 %) hangs past the timeout
        # The sources exactly as the console builds them (connection pools included).
        targets = tuple(HealthTargetConfig(f"t{i}", url, timeout=timeout) for i, url in enumerate(urls))
        sources = build_sources(Settings(env=Environment(name="bench", health=targets), environments=("bench",)))
        collector = Collector(sources, emit=lambda reading: None)
        rounds = []
        try:
            for _ in range(2 if quick else 4):
                readings: list[Any] = []

                async def one_round(readings: list[Any] = readings, collector: Collector = collector) -> None:
                    readings.extend(await collector.collect_once())

                rounds.append(await _time(one_round))
                hung = sum(1 for r in readings if r.value and r.value.probes[0].http_status is None)
                if hung != len(range(0, n, 20)):
                    print(f"    note: {hung} targets failed, {len(range(0, n, 20))} were meant to hang", flush=True)
        finally:
            await collector.stop()
        loop_ms: list[float] = []
        if curl is not None and (n < 1000 or not quick):
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
                listing.write("\n".join(urls) + "\n")
            script = f'while read -r u; do {curl} -s -o /dev/null -m {timeout:g} "$u"; done < {listing.name}'
            started = time.perf_counter()
            subprocess.run(["bash", "-c", script], check=False, timeout=3600)  # noqa: S603, S607, ASYNC221
            loop_ms.append((time.perf_counter() - started) * 1000)
            Path(listing.name).unlink()
        bench = f"Health {n:,} targets, 5 % hanging"
        mine = Figure("ms", rounds)
        row = Row(bench, f"one round (timeout {timeout:g} s)", mine, "sequential curl -m 1 loop" if loop_ms else "")
        row.theirs = Figure("ms", loop_ms) if loop_ms else None
        if n >= 1000:
            row.target = f"≤ {timeout * 1000 + 200:,.0f} ms"
            row.met = mine.median <= timeout * 1000 + 200
        report.add(row)


# --- BullMQ ---------------------------------------------------------------------------------------------


class _RoundTrips:
    """Counts client→server writes (one per round trip: a pipeline is sent in one write)."""

    def __init__(self) -> None:
        from redis.asyncio.connection import AbstractConnection

        self.cls = AbstractConnection
        self.original = AbstractConnection.send_packed_command
        self.count = 0

    def __enter__(self) -> _RoundTrips:
        original, counter = self.original, self

        async def counted(conn: Any, command: Any, check_health: bool = True) -> None:
            counter.count += 1
            await original(conn, command, check_health)

        self.cls.send_packed_command = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.cls.send_packed_command = self.original  # type: ignore[method-assign]


def _private_redis(**options: Any) -> Any:
    if shutil.which("redis-server") is None:
        raise Skip("redis-server not installed (Debian package redis-server)")
    from tests.fixtures.redis_server import PrivateRedis

    return PrivateRedis(**options).start()


def run_bullmq(report: Report, quick: bool) -> None:
    server = _private_redis()
    try:
        asyncio.run(_bullmq(report, quick, server))
    finally:
        server.close()


async def _bullmq(report: Report, quick: bool, server: Any) -> None:
    import redis.asyncio as aioredis

    from console.adapters.bullmq import _LISTS, _ZSETS, BullMQReader

    sync = server.client()
    made = 0
    for n in _sizes(quick):
        pipe = sync.pipeline(transaction=False)
        for i in range(made, n):
            base = f"bull:queue-{i:05d}"
            pipe.hset(f"{base}:meta", mapping={"opts.maxLenEvents": 10000, "version": "bullmq:5"})
            pipe.rpush(f"{base}:wait", *range(i % 7 + 1))
            pipe.zadd(f"{base}:failed", {f"f{j}": j for j in range(i % 3)} or {"f": 1})
            pipe.zadd(f"{base}:completed", {f"c{j}": j for j in range(5)})
        pipe.execute()
        made = n
        reader = BullMQReader(server.url, timeout=10.0)
        ticks: list[float] = []
        trips: list[float] = []
        first_trips = 0
        try:
            with _RoundTrips() as counter:
                queues = await reader.queues()  # first tick: SCAN discovery of bull:*:meta, then the pipeline
                first_trips = counter.count
                assert len(queues) == n, (len(queues), n)
                for _ in range(5 if quick else 10):
                    counter.count = 0
                    ticks.append(await _time(reader.queues))
                    trips.append(counter.count)
        finally:
            await reader.aclose()
        naive_ms: list[float] = []
        client = aioredis.Redis.from_url(server.url)
        try:

            async def per_queue(n: int = n, client: Any = client) -> None:  # one round trip per queue
                for i in range(n):
                    pipe = client.pipeline(transaction=False)
                    for kind in _LISTS:
                        pipe.llen(f"bull:queue-{i:05d}:{kind}")
                    for kind in _ZSETS:
                        pipe.zcard(f"bull:queue-{i:05d}:{kind}")
                    pipe.hexists(f"bull:queue-{i:05d}:meta", "paused")
                    await pipe.execute()

            await per_queue()
            for _ in range(3 if quick else 5):
                naive_ms.append(await _time(per_queue))
        finally:
            await client.aclose()
        bench = f"BullMQ {n:,} queues"
        report.add(
            Row(bench, "counts per tick", Figure("ms", ticks), "one round trip per queue", Figure("ms", naive_ms))
        )
        row = Row(bench, "round trips per tick", Figure("", trips), note=f"first tick {first_trips} (SCAN discovery)")
        row.target, row.met = "1 per tick", max(trips) == 1
        report.add(row)
    sync.close()


# --- DLQ first page --------------------------------------------------------------------------------------


async def _measured(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(milliseconds, peak Python allocation in KB) of one call."""
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        await fn()
        elapsed = (time.perf_counter() - started) * 1000
        peak = tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()
    return elapsed, peak


def _event(i: int) -> bytes:
    return json.dumps(
        {
            "eventId": f"evt-{i:07d}",
            "event": ("order.paid", "user.signup", "invoice.sent")[i % 3],
            "payload": {"orderId": f"ord_{i:07d}", "total": 19.99},
            "error": "handler timeout after 5000ms",
            "failedAt": "2026-11-23T10:15:00Z",
            "retryCount": 3,
            "traceId": f"{i:032x}",
        }
    ).encode()


def run_dlq(report: Report, quick: bool) -> None:
    server = _private_redis()
    try:
        asyncio.run(_redis_dlq(report, quick, server))
    finally:
        server.close()
    try:
        asyncio.run(_rabbit_dlq(report, quick))
    except Skip as exc:
        report.skip("dlq rabbitmq", str(exc))


async def _redis_dlq(report: Report, quick: bool, server: Any) -> None:
    from console.adapters.dlq_base import Selection
    from console.adapters.dlq_redis import RedisListDlq
    from console.config_dlq import RedisDlqConfig

    sync = server.client()
    key = "events:dlq"
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    made = 0
    config = RedisDlqConfig(key=key, redis_url=server.url)
    runs = 3 if quick else 5
    for n in sizes:
        pipe = sync.pipeline(transaction=False)
        for start in range(made, n, 1000):
            pipe.lpush(key, *(_event(i) for i in range(start, min(n, start + 1000))))
        pipe.execute()
        made = n
        times, peaks, filtered, floor = [], [], [], []
        for _ in range(runs):
            store = RedisListDlq(config, timeout=10.0)  # a fresh store: the first page includes connecting
            try:
                elapsed, peak = await _measured(lambda store=store: store.page(0, 50, Selection()))
                times.append(elapsed)
                peaks.append(peak)
                # A filter matching nothing reads the newest SCAN_CAP letters: the worst case of a filtered page.
                filtered.append(await _time(lambda store=store: store.page(0, 50, Selection(text="no-such-text"))))
            finally:
                await store.aclose()
            started = time.perf_counter()
            sync.lrange(key, 0, 49)
            floor.append((time.perf_counter() - started) * 1000)
        bench = f"Redis DLQ {n:,} letters"
        row = Row(bench, "first page (50, newest first)", Figure("ms", times), "raw LRANGE 0 49", Figure("ms", floor))
        row.target, row.met = "≤ 150 ms", row.ours is not None and row.ours.median <= 150
        report.add(row)
        report.add(Row(bench, "first page: peak Python allocation", Figure("KB", peaks), target="flat in N"))
        report.add(Row(bench, "filtered page, no match (reads ≤ 10,000)", Figure("ms", filtered)))
    sync.close()


async def _rabbit_dlq(report: Report, quick: bool) -> None:
    import httpx

    from console.adapters.dlq_base import Selection
    from console.adapters.dlq_rabbit import BROWSE_CAP, RabbitDlq
    from console.adapters.rabbitmq import ManagementApi
    from console.model import DEAD_LETTER_BODY_CAP

    sizes = (100, 1_000) if quick else (100, 1_000, 10_000)
    runs = 3 if quick else 5
    with BenchVhost() as vhost:
        origin, dlq = f"{vhost.name}.orders", f"{vhost.name}.orders.dlq"
        await vhost.declare([origin, dlq])
        made = 0
        raw = httpx.AsyncClient(auth=("guest", "guest"), timeout=30, trust_env=False)
        try:
            for n in sizes:
                await vhost.publish(dlq, (dead_letter(i, origin) for i in range(made, n)))
                made = n
                await vhost.wait_depth(dlq, n)
                await _stats_caught_up(vhost.name, dlq, n)  # the store counts through the management API
                times, peaks, floor, shown = [], [], [], 0
                for _ in range(runs):
                    api = ManagementApi(MANAGEMENT_URL, vhost.name, timeout=30.0)
                    store = RabbitDlq(dlq, vhost.amqp_url, api, timeout=30.0)
                    try:
                        pages: list[Any] = []

                        async def first(store: Any = store, pages: list[Any] = pages) -> None:
                            pages.append(await store.page(0, 50, Selection()))

                        elapsed, peak = await _measured(first)
                        times.append(elapsed)
                        peaks.append(peak)
                        shown = len(pages[0].letters)
                    finally:
                        await api.aclose()
                    body = {"count": BROWSE_CAP, "ackmode": "ack_requeue_true", "encoding": "base64"}
                    body["truncate"] = DEAD_LETTER_BODY_CAP
                    url = f"{MANAGEMENT_URL}/api/queues/{vhost.quoted}/{dlq}/get"
                    floor.append(await _time(lambda body=body, url=url: raw.post(url, json=body)))
                bench = f"RabbitMQ DLQ {n:,} letters"
                row = Row(bench, f"first page (peeks {BROWSE_CAP})", Figure("ms", times))
                row.peer, row.theirs = f"raw management Get of {BROWSE_CAP}", Figure("ms", floor)
                row.target, row.met = "≤ 150 ms", row.ours is not None and row.ours.median <= 150 and shown == 50
                row.note = "" if shown == 50 else f"page showed {shown} letters"
                report.add(row)
                report.add(Row(bench, "first page: peak Python allocation", Figure("KB", peaks), target="flat in N"))
        finally:
            await raw.aclose()


async def _stats_caught_up(vhost: str, queue: str, n: int, limit: float = 30.0) -> None:
    """Management statistics lag the queue by up to 5 s: wait until they show `n` messages."""
    from console.adapters.rabbitmq import ManagementApi

    api = ManagementApi(MANAGEMENT_URL, vhost, timeout=30.0)
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if (await api.queue(queue)).depth >= n:
                break
            await asyncio.sleep(0.25)
    finally:
        await api.aclose()
