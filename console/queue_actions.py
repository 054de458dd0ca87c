"""Queue actions: BullMQ pause / resume / retry failed / clean completed, RabbitMQ purge with a backup.

Same contract as every action (`console.actions`): a dry-run that says exactly what will change, a
confirmation scaled to the blast radius, write mode, and a journal entry for the dry-run, a refusal and
the result. BullMQ changes go through the official `bullmq` package (the Lua scripts Node BullMQ runs).
A RabbitMQ purge first writes every message to an NDJSON backup (body base64, properties, headers) and
acks the messages only after the backup is fsynced: the queue is never emptied before its copy exists.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.audit import AuditLog, AuditRecord
from console.config import Settings
from console.errors import ActionRefused, SourceUnavailable
from console.safety import Confirmation, WriteMode, refusal
from console.sanitize import clean
from console.secrets import redact_text, url_password

BULL_VERBS = ("pause", "resume", "retry", "clean")
KEY_CONFIRM_LIMIT = 1000  # more jobs or messages than this: type the queue name


@dataclass(frozen=True)
class QueuePlan:
    verb: str
    kind: str
    queue: str
    affected: int  # jobs or messages the action touches
    summary: str
    confirmation: Confirmation


@dataclass
class QueueAction:
    """One verb on one queue; `dry_run()` first, then `execute()`."""

    settings: Settings
    verb: str  # pause | resume | retry | clean | purge
    kind: str  # bullmq | rabbitmq
    queue: str
    audit: AuditLog
    count: int | None = None  # retry: at most this many failed jobs (None: all)
    backup_dir: Path | None = None  # purge: where the NDJSON backup goes
    plan: QueuePlan | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return f"queue-{self.verb}"

    def _record(self, outcome: str, **extra: Any) -> AuditRecord:
        parameters = {"kind": self.kind, "queue": self.queue, "verb": self.verb}
        if self.count is not None:
            parameters["count"] = str(self.count)
        return AuditRecord(
            action=self.name,
            target=f"{self.kind}:{self.queue}",
            environment=self.settings.env.name,
            outcome=outcome,
            parameters=parameters,
            **extra,
        )

    def _check(self) -> None:
        if self.kind == "bullmq" and self.verb not in BULL_VERBS:
            raise ActionRefused(f"BullMQ queues support {', '.join(BULL_VERBS)}, not {self.verb!r}")
        if self.kind == "rabbitmq" and self.verb != "purge":
            raise ActionRefused("RabbitMQ queues support purge (with backup) only")
        if self.kind not in ("bullmq", "rabbitmq"):
            raise ActionRefused(f"no actions for {self.kind} queues")
        if self.kind == "bullmq" and self.settings.env.bullmq is None:
            raise ActionRefused("no [env.NAME.bullmq] configured")
        if self.kind == "rabbitmq" and (self.settings.env.rabbitmq is None or not self.settings.env.rabbitmq.amqp_url):
            raise ActionRefused("purge needs [env.NAME.rabbitmq] amqp_url")
        if self.kind == "rabbitmq" and self.queue.endswith(("dlq", "dead.letter.queue", ".dead")):
            raise ActionRefused("dead-letter queues are purged from the DLQ pane, not here")

    def _bull_queue(self):  # type: ignore[no-untyped-def]
        import redis.asyncio as aioredis
        from bullmq import Queue
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        assert self.settings.env.bullmq is not None
        config = self.settings.env.bullmq
        # Our own client: bullmq's default one retries a refused password forever (`act` hung on it).
        client = aioredis.Redis.from_url(
            config.redis_url,
            decode_responses=True,
            socket_timeout=config.timeout,
            socket_connect_timeout=config.timeout,
            retry=Retry(NoBackoff(), 0),
            client_name="opsconsole",
        )
        return Queue(self.queue, {"connection": client, "prefix": config.prefix})

    async def dry_run(self) -> QueuePlan:
        self._check()
        if self.kind == "bullmq":
            queue = self._bull_queue()
            try:
                counts = await queue.getJobCounts("waiting", "failed", "completed", "paused", "active")
                paused = await queue.isPaused()
            except Exception as exc:  # noqa: BLE001
                secret = url_password(self.settings.env.bullmq.redis_url) if self.settings.env.bullmq else None
                text = clean(redact_text(str(exc) or type(exc).__name__, (secret or "",)), 160)
                raise SourceUnavailable(f"BullMQ: {text}") from None
            finally:
                await queue.close()
            affected, summary = {
                "pause": (
                    counts.get("waiting", 0) + counts.get("paused", 0),
                    "already paused" if paused else "workers stop taking new jobs; active jobs finish",
                ),
                "resume": (
                    counts.get("waiting", 0) + counts.get("paused", 0),
                    "workers take jobs again" if paused else "not paused: nothing to do",
                ),
                "retry": (
                    min(counts.get("failed", 0), self.count or counts.get("failed", 0)),
                    "failed jobs move back to waiting and run again",
                ),
                "clean": (counts.get("completed", 0), "completed jobs are deleted (their results are lost)"),
            }[self.verb]
        else:
            affected = await self._rabbit_depth()
            summary = f"every message is written to a backup file first, then removed ({affected} ready)"
        typed = affected > KEY_CONFIRM_LIMIT or self.settings.env.protected or self.verb == "purge"
        confirmation = Confirmation("typed" if typed else "key", self.queue)
        self.plan = QueuePlan(
            self.verb,
            self.kind,
            self.queue,
            affected,
            f"{self.verb} {self.kind} queue {self.queue!r}: {affected} affected — {summary}",
            confirmation,
        )
        self.audit.append(self._record("dry-run", counts={"affected": affected}))
        return self.plan

    def authorise(self, write: WriteMode, given: str | None = None, yes: bool = False, reason: str = "") -> None:
        why = refusal(
            write, self.plan.confirmation if self.plan else None, given, yes, f"the queue name {self.queue!r}"
        )
        if why:
            self.audit.append(self._record("refused", detail=why, reason=reason or write.reason))
            raise ActionRefused(why)

    async def execute(self, write: WriteMode, given: str | None = None, yes: bool = False) -> dict[str, Any]:
        self.authorise(write, given, yes)
        assert self.plan is not None
        self.audit.append(self._record("started", reason=write.reason, counts={"affected": self.plan.affected}))
        started = time.monotonic()
        try:
            result = await (self._bull() if self.kind == "bullmq" else self._purge())
        except Exception as exc:
            self.audit.append(
                self._record(
                    "failed", reason=write.reason, detail=str(exc), duration_seconds=time.monotonic() - started
                )
            )
            raise
        self.audit.append(
            self._record("done", reason=write.reason, counts=result, duration_seconds=time.monotonic() - started)
        )
        return result

    async def _bull(self) -> dict[str, Any]:
        queue = self._bull_queue()
        try:
            if self.verb == "pause":
                await queue.pause()
                return {"paused": True}
            if self.verb == "resume":
                await queue.resume()
                return {"paused": False}
            if self.verb == "clean":
                removed = await queue.clean(0, 0, "completed")
                return {"removed": len(removed) if isinstance(removed, list) else int(removed or 0)}
            if self.count is None:
                before = (await queue.getJobCounts("failed")).get("failed", 0)
                await queue.retryJobs({"state": "failed"})
                after = (await queue.getJobCounts("failed")).get("failed", 0)
                return {"retried": before - after}
            retried = 0
            for job in await queue.getFailed(0, self.count - 1):
                await job.retry("failed")
                retried += 1
            return {"retried": retried}
        finally:
            await queue.close()

    async def _rabbit_depth(self) -> int:
        import aio_pika

        assert self.settings.env.rabbitmq is not None and self.settings.env.rabbitmq.amqp_url
        connection = await aio_pika.connect(self.settings.env.rabbitmq.amqp_url, timeout=5)
        try:
            channel = await connection.channel()
            declared = await channel.declare_queue(self.queue, passive=True)
            return int(declared.declaration_result.message_count or 0)
        finally:
            await connection.close()

    async def _purge(self) -> dict[str, Any]:
        """Every ready message to an NDJSON backup, fsynced, and only then acked (the DLQ purge does the same)."""
        from console.adapters.dlq_rabbit import RabbitDlq

        assert self.settings.env.rabbitmq is not None and self.settings.env.rabbitmq.amqp_url
        folder = (
            self.backup_dir
            or Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "opsconsole" / "backups"
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"{self.settings.env.name}-{self.queue}-{stamp}.ndjson"
        purged = await RabbitDlq(self.queue, self.settings.env.rabbitmq.amqp_url, None).purge(path)
        return {"purged": purged, "backup": str(path)}


async def restore_backup(amqp_url: str, path: Path, queue: str | None = None) -> int:
    """Publish every message of a purge backup back (to `queue`, or the queue it was purged from), with
    publisher confirms, body, properties and headers as they were. Returns the number restored."""
    from console.adapters.dlq_base import read_ndjson
    from console.adapters.dlq_rabbit import RabbitDlq, restore_records

    store = RabbitDlq(queue or "", amqp_url, None)
    records = [{"kind": "rabbitmq", **r} if "kind" not in r else r for r in _records(path)]
    del read_ndjson
    return await restore_records(store._connect, records, store.login, queue=queue)


def _records(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise ActionRefused(f"{path}:{number}: not a backup line (invalid JSON)") from None
    return records
