"""Actions as named specs: plan (dry-run: what would be touched), confirmation level, execute, audit.

The TUI, `opsconsole act …` and the tests go through the same functions, so read-only mode, confirmation
and the journal cannot be bypassed by choosing another entry point.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from console.adapters.redis import connect, translate
from console.adapters.redis_invalidate import invalidate, preview
from console.audit import AuditLog, AuditRecord
from console.config import CacheConfig, RedisConfig, Settings
from console.errors import ActionRefused
from console.model import InvalidationPreview, InvalidationResult
from console.safety import Confirmation, WriteMode, refusal


@dataclass
class CacheInvalidation:
    """Invalidate keys matching a pattern on one Redis instance."""

    settings: Settings
    instance: RedisConfig
    pattern: str
    audit: AuditLog
    client: aioredis.Redis | None = None
    plan: InvalidationPreview | None = field(default=None, init=False)

    NAME = "cache-invalidate"

    @property
    def cache(self) -> CacheConfig:
        return self.settings.env.cache

    def _client(self) -> aioredis.Redis:
        if self.client is None:
            self.client = connect(self.instance.url, self.instance.timeout, self.instance.verify_tls)
        return self.client

    def _record(self, outcome: str, **extra: Any) -> AuditRecord:
        return AuditRecord(
            action=self.NAME,
            target=f"{self.instance.name}:{self.pattern}",
            environment=self.settings.env.name,
            outcome=outcome,
            parameters={"pattern": self.pattern, "instance": self.instance.name},
            **extra,
        )

    def check_pattern(self) -> None:
        if not self.pattern or self.pattern.strip() in ("*", ""):
            raise ActionRefused("refusing to invalidate every key ('*'): name a namespace, e.g. 'user:*'")
        if len(self.pattern) > 512:
            raise ActionRefused("pattern longer than 512 characters")
        if fnmatch.fnmatchcase(self.cache.stats_key, self.pattern):
            raise ActionRefused(f"pattern would also delete the cache statistics hash {self.cache.stats_key!r}")

    async def dry_run(self) -> InvalidationPreview:
        """What would be deleted: count (SCAN, capped), a sample, estimated memory. Audited as a dry-run."""
        self.check_pattern()
        self.plan = await preview(self._client(), self.pattern, cap=self.cache.scan_cap)
        self.audit.append(
            self._record(
                "dry-run",
                counts={
                    "matched": self.plan.matched,
                    "capped": self.plan.capped,
                    "estimated_bytes": self.plan.estimated_bytes,
                },
            )
        )
        return self.plan

    def confirmation(self) -> Confirmation:
        assert self.plan is not None, "dry_run() first"
        big = self.plan.matched > self.cache.confirm_above or self.plan.capped
        if big or self.settings.env.protected:
            return Confirmation("typed", self.pattern)
        return Confirmation("key", self.pattern)

    def authorise(self, write: WriteMode, given: str | None = None, yes: bool = False, reason: str = "") -> None:
        """Raise ActionRefused (and journal the refusal) unless write mode is on and confirmation given."""
        why = refusal(write, self.confirmation() if self.plan else None, given, yes, f"the pattern {self.pattern!r}")
        if why:
            self.audit.append(self._record("refused", detail=why, reason=reason or write.reason))
            raise ActionRefused(why)

    async def execute(
        self,
        write: WriteMode,
        given: str | None = None,
        yes: bool = False,
        abort: asyncio.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> InvalidationResult:
        self.authorise(write, given, yes)
        assert self.plan is not None
        self.audit.append(self._record("started", reason=write.reason, counts={"matched_before": self.plan.matched}))
        started = time.monotonic()
        try:
            result = await invalidate(
                self._client(),
                self.pattern,
                batch=self.cache.batch,
                pause=self.cache.pause_ms / 1000,
                abort=abort,
                progress=progress,
            )
        except Exception as exc:
            self.audit.append(
                self._record(
                    "failed", reason=write.reason, detail=str(exc), duration_seconds=time.monotonic() - started
                )
            )
            raise
        self.audit.append(
            self._record(
                "aborted" if result.aborted else "done",
                reason=write.reason,
                counts={"matched_before": self.plan.matched, "deleted": result.deleted},
                duration_seconds=result.seconds,
            )
        )
        return result

    async def aclose(self) -> None:
        if self.client is not None:
            try:
                await self.client.aclose()
            except Exception as exc:  # noqa: BLE001
                raise translate(exc) from None
            self.client = None
