"""DLQ actions as specs: replay (to origin), move (to a queue or list), export, purge (backup first), restore.

Same contract as every action: `dry_run()` says exactly which letters go where; the confirmation scales
with the blast radius (one key up to `confirm_above` letters, typing the DLQ name or the count above that,
for every purge, and on a protected environment); write mode must be on; the journal gets the dry-run,
any refusal, the start and the result with counts before and after. Export only reads and needs no write
mode, but is journaled like the rest.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.adapters.dlq_base import DeadLetterStore, Mark, Plan, Progress, Selection, read_ndjson
from console.audit import AuditLog, AuditRecord, operator
from console.config import Settings
from console.errors import ActionRefused
from console.model import ReplayProgress
from console.safety import Confirmation, WriteMode, refusal

VERBS = ("replay", "move", "export", "purge", "restore")
WRITES = ("replay", "move", "purge", "restore")


def state_dir() -> Path:
    import os

    root = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(root) / "opsconsole"


def default_file(settings: Settings, verb: str, dlq: str) -> Path:
    """Where a purge backup or an export goes unless told: one new file per action, never overwritten."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in dlq)[:80]
    folder = "backups" if verb == "purge" else "exports"
    return state_dir() / folder / f"{settings.env.name}-{safe_name}-{stamp}.ndjson"


@dataclass(frozen=True)
class DlqPlan:
    verb: str
    store: str  # "kind:name"
    plan: Plan
    summary: str
    confirmation: Confirmation
    before: int  # letters in the DLQ at dry-run time


@dataclass
class DlqAction:
    """One verb on one DLQ: `dry_run()`, then `execute()` (watch `progress`, set `abort` to stop)."""

    settings: Settings
    store: DeadLetterStore
    verb: str
    audit: AuditLog
    selection: Selection = field(default_factory=Selection)
    target: str = ""  # move: the queue or list; export/purge: the file (default under the state dir)
    rate: float | None = None
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    progress: ReplayProgress | None = None
    plan: DlqPlan | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return f"dlq-{self.verb}"

    @property
    def target_label(self) -> str:
        return f"{self.store.kind}:{self.store.name}"

    def _record(self, outcome: str, **extra: Any) -> AuditRecord:
        parameters = {"kind": self.store.kind, "dlq": self.store.name, "selection": self.selection.describe()}
        if self.target:
            parameters["target"] = self.target
        if self.selection.refs is not None:
            parameters["refs"] = ",".join(sorted(self.selection.refs)[:50])
        return AuditRecord(
            action=self.name,
            target=self.target_label,
            environment=self.settings.env.name,
            outcome=outcome,
            parameters=parameters,
            **extra,
        )

    def _check(self) -> None:
        if self.verb not in VERBS or self.verb == "restore":
            raise ActionRefused(f"DLQ actions are {', '.join(VERBS[:4])} (restore takes a file)")
        if self.verb == "move" and not self.target:
            raise ActionRefused("move needs a target queue (or list)")
        if self.verb == "move" and self.target == self.store.name:
            raise ActionRefused("move: the target is the DLQ itself")
        if self.verb == "purge" and not self.selection.everything:
            # Every store's purge takes the whole DLQ: a filter must not look like it narrows one.
            raise ActionRefused("a purge takes every letter: export or move a selection instead")

    async def _count(self) -> int:
        return await self.store.count()

    async def dry_run(self) -> DlqPlan:
        self._check()
        before = await self._count()
        plan = await self.store.plan(self.verb, self.selection, self.target)
        # A purge takes everything; `before` may come from lagging management statistics, the plan read the letters.
        count = max(before, plan.count) if self.verb == "purge" else plan.count
        config = self.settings.dlq
        limit = config.confirm_above if config is not None else 10
        typed = self.verb == "purge" or count > limit or self.settings.env.protected
        level = "typed" if typed and self.verb in WRITES else "key"
        confirmation = Confirmation(level, self.store.name, str(count))
        where = ", ".join(f"{n} → {d}" for d, n in plan.destinations[:4]) or "nowhere"
        summary = {
            "replay": f"replay {count} of {before} letters to their origin: {where}",
            "move": f"move {count} of {before} letters to {self.target}",
            "export": f"export {count} of {before} letters to {self.target or 'a new NDJSON file'} (nothing changes)",
            "purge": f"purge all {count} letters: an NDJSON backup is written and fsynced first",
        }[self.verb]
        if plan.skipped:
            summary += f"; {plan.skipped} selected letters cannot go (shown below) and stay"
        if plan.capped:
            summary += f"; only the first {plan.scanned:,} letters were examined"
        self.plan = DlqPlan(self.verb, self.target_label, plan, summary, confirmation, before)
        self.audit.append(self._record("dry-run", counts={"before": before, "affected": count}, detail=summary))
        return self.plan

    def authorise(self, write: WriteMode, given: str | None = None, yes: bool = False) -> None:
        confirmation = self.plan.confirmation if self.plan else None
        what = f"the DLQ name {self.store.name!r} or the count {confirmation.also if confirmation else ''}"
        why = refusal(write if self.verb in WRITES else None, confirmation, given, yes, what)
        if why:
            self.audit.append(self._record("refused", detail=why, reason=write.reason))
            raise ActionRefused(why)

    def _update(self, progress: ReplayProgress) -> None:
        self.progress = progress

    async def execute(
        self, write: WriteMode, given: str | None = None, yes: bool = False, on_progress: Progress | None = None
    ) -> dict[str, Any]:
        self.authorise(write, given, yes)
        assert self.plan is not None
        before = await self._count()
        self.audit.append(self._record("started", reason=write.reason, counts={"before": before}))
        started = time.monotonic()

        def progress(value: ReplayProgress) -> None:
            self.progress = value
            if on_progress is not None:
                on_progress(value)

        try:
            result = await self._run(progress)
        except Exception as exc:
            self.audit.append(
                self._record(
                    "failed", reason=write.reason, detail=str(exc), duration_seconds=time.monotonic() - started
                )
            )
            raise
        try:
            result["after"] = await self._count()
        except Exception as exc:  # noqa: BLE001 - the action happened; the recount is only for the journal
            result["after"] = f"unknown ({type(exc).__name__})"
        result["before"] = before
        outcome = "aborted" if self.abort.is_set() else "done"
        self.audit.append(
            self._record(outcome, reason=write.reason, counts=result, duration_seconds=time.monotonic() - started)
        )
        return result

    async def _run(self, progress: Progress) -> dict[str, Any]:
        if self.verb in ("replay", "move"):
            config = self.settings.dlq
            rate = self.rate or (config.replay_rate if config is not None else 200.0)
            who = operator()
            mark = Mark(
                datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"), f"{who['user']}@{who['host']}"
            )
            outcome = await self.store.transfer(
                self.verb, self.selection, mark, self.target, rate, self.abort, progress
            )
            return {
                "moved" if self.verb == "move" else "replayed": outcome.done,
                "failed": outcome.failed,
                "skipped": outcome.skipped,
                **({"note": outcome.note} if outcome.note else {}),
            }
        path = (
            Path(self.target).expanduser() if self.target else default_file(self.settings, self.verb, self.store.name)
        )
        if self.verb == "export":
            return {"exported": await self.store.export(self.selection, path), "file": str(path)}
        purged = await self.store.purge(path)
        progress(ReplayProgress(purged, purged))
        return {"purged": purged, "backup": str(path)}


async def restore(
    settings: Settings, store: DeadLetterStore, path: Path, audit: AuditLog, write: WriteMode
) -> dict[str, Any]:
    """Put a purge backup (or an export) back where it was taken from, exactly; journaled, write mode only."""
    target = f"{store.kind}:{store.name}"
    base = {"kind": store.kind, "dlq": store.name, "file": str(path)}

    def record(outcome: str, **extra: Any) -> AuditRecord:
        return AuditRecord(
            "dlq-restore", target, settings.env.name, outcome, parameters=base, reason=write.reason, **extra
        )

    if not write.active():
        why = "read-only mode: restore needs --write --reason"
        audit.append(record("refused", detail=why))
        raise ActionRefused(why)
    records = read_ndjson(path)
    kinds = {r.get("kind") for r in records}
    if records and kinds != {store.kind}:
        why = f"{path} holds {', '.join(sorted(map(str, kinds)))} letters, not {store.kind}"
        audit.append(record("refused", detail=why))
        raise ActionRefused(why)
    started = time.monotonic()
    audit.append(record("started", counts={"records": len(records)}))
    try:
        restored = await store.restore(records)
    except Exception as exc:
        audit.append(record("failed", detail=str(exc), duration_seconds=time.monotonic() - started))
        raise
    counts = {"records": len(records), "restored": restored}
    audit.append(record("done", counts=counts, duration_seconds=time.monotonic() - started))
    return counts


def backup_dlq(path: Path) -> tuple[str, str]:
    """(kind, dlq) named by a backup's first record, so `opsconsole dlq restore FILE` needs nothing else."""
    records = read_ndjson(path)
    if not records:
        raise ActionRefused(f"{path} is empty: nothing to restore")
    first = records[0]
    kind, name = str(first.get("kind", "")), str(first.get("dlq", ""))
    if not name:
        raise ActionRefused(f"{path}: the first record names no DLQ (pass --dlq)")
    return kind, name
