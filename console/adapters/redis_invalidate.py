"""Invalidate cache keys by pattern without hurting the server: SCAN + UNLINK in throttled batches.

Never KEYS (blocks the server for the whole keyspace) and never FLUSHDB. Deleting is non-blocking
(UNLINK frees memory in a background thread), batches are small and paced, and an abort between
batches leaves an exact count of what was deleted: every key is either gone or untouched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from console.adapters.redis import translate
from console.model import InvalidationPreview, InvalidationResult

SCAN_COUNT = 1000


def _text(key: bytes | str) -> str:
    return key.decode(errors="replace") if isinstance(key, bytes) else key


async def preview(
    client: aioredis.Redis, pattern: str, cap: int = 100_000, sample_size: int = 20
) -> InvalidationPreview:
    """How many keys match (SCAN, up to `cap`), a sample of them, and their memory estimated from the sample."""
    matched, scanned, capped = 0, 0, False
    sample: list[bytes | str] = []
    cursor = 0
    try:
        while True:
            cursor, keys = await client.scan(cursor=cursor, match=pattern, count=SCAN_COUNT)
            matched += len(keys)
            scanned += 1
            if len(sample) < sample_size:
                sample.extend(keys[: sample_size - len(sample)])
            if cursor == 0:
                break
            if matched >= cap:
                capped = True
                break
        estimated = None
        if sample:
            pipe = client.pipeline(transaction=False)
            for key in sample:
                pipe.memory_usage(key)
            sizes = [s for s in await pipe.execute() if isinstance(s, int)]
            if sizes:
                estimated = int(sum(sizes) / len(sizes) * matched)
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from None
    return InvalidationPreview(pattern, matched, capped, tuple(_text(k) for k in sample), estimated, scanned)


async def invalidate(
    client: aioredis.Redis,
    pattern: str,
    batch: int = 500,
    pause: float = 0.005,
    abort: asyncio.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> InvalidationResult:
    """Delete every key matching `pattern`; `progress(deleted, scanned_batches)` after each batch.

    The count is what UNLINK reported, so keys that expired or were deleted meanwhile are not counted.
    """
    started = time.monotonic()
    deleted, batches, scanned = 0, 0, 0
    pending: list[bytes | str] = []
    cursor = 0
    aborted = False

    async def flush() -> None:
        nonlocal deleted, batches, pending
        if pending:
            deleted += int(await client.unlink(*pending))
            batches += 1
            pending = []
            if progress is not None:
                progress(deleted, batches)
            if pause:
                await asyncio.sleep(pause)  # leave room for the application's own commands

    try:
        while True:
            if abort is not None and abort.is_set():
                aborted = True
                break
            cursor, keys = await client.scan(cursor=cursor, match=pattern, count=SCAN_COUNT)
            scanned += 1
            for key in keys:
                pending.append(key)
                if len(pending) >= batch:
                    await flush()
                    if abort is not None and abort.is_set():
                        aborted = True
                        break
            if aborted or cursor == 0:
                break
        if not aborted:
            await flush()
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from None
    return InvalidationResult(pattern, deleted, scanned, batches, aborted, time.monotonic() - started)
