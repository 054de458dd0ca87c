"""What every dead-letter store (RabbitMQ DLQ, BullMQ failed set, Redis list) offers the DLQ pane and CLI.

The contract that keeps letters safe, whatever the backend:
- reading never consumes (RabbitMQ peeks requeue; Redis and BullMQ reads are plain reads);
- a letter leaves the DLQ only after its copy is confirmed where it went (publisher confirm, BullMQ's
  own Lua move, an atomic Redis script), so an interruption leaves every letter in the DLQ or at its
  destination, sometimes in both (at-least-once), never in neither;
- a purge writes an NDJSON backup and fsyncs it before the first letter is removed;
- every loop is bounded by the count read at its start, so letters arriving meanwhile are never chased.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from console.model import DeadLetter, DeadLetterPage, DlqInfo, ReplayProgress

SCAN_CAP = 10_000  # letters a filtered page, a plan or a selective action reads at most
PLAN_LISTED = 500  # letters a dry-run itemises (the counts cover all of them)
REPLAY_MARK = "x-opsconsole-replayed-at"  # RabbitMQ header on every replayed copy (Redis events: replayedAt)

Progress = Callable[[ReplayProgress], None]


@dataclass(frozen=True)
class Selection:
    """Which letters an action takes: the listed refs, or every letter matching the filter (up to `limit`)."""

    refs: frozenset[str] | None = None
    text: str = ""
    origin: str = ""
    reason: str = ""
    limit: int | None = None

    def wants(self, letter: DeadLetter) -> bool:
        if self.refs is not None and letter.ref not in self.refs:
            return False
        return letter.matches(self.text, self.origin, self.reason)

    @property
    def everything(self) -> bool:
        return self.refs is None and not (self.text or self.origin or self.reason) and self.limit is None

    def describe(self) -> str:
        parts = [f"{len(self.refs)} selected" if self.refs is not None else "all"]
        if self.text:
            parts.append(f"matching {self.text!r}")
        if self.origin:
            parts.append(f"from {self.origin}")
        if self.reason:
            parts.append(f"reason {self.reason!r}")
        if self.limit is not None:
            parts.append(f"at most {self.limit}")
        return " ".join(parts)


@dataclass(frozen=True)
class PlannedLetter:
    ref: str
    message_id: str
    origin: str
    reason: str
    destination: str  # "" when the letter cannot go anywhere (it is skipped, and the plan says why)
    problem: str = ""


@dataclass(frozen=True)
class Plan:
    """A dry-run: exactly which letters an action takes and where each goes."""

    letters: tuple[PlannedLetter, ...]  # the first PLAN_LISTED of them
    count: int  # all letters the action takes
    destinations: tuple[tuple[str, int], ...]  # destination → letters, most first
    skipped: int = 0  # selected but not movable (no origin, not JSON …)
    scanned: int = 0
    capped: bool = False  # the selection scan stopped at SCAN_CAP
    note: str = ""


@dataclass(frozen=True)
class Mark:
    """What a replayed or moved copy carries so nobody mistakes it for the original publish."""

    at: str  # ISO-8601 UTC
    by: str  # user@host

    def headers(self, previous: Any = None) -> dict[str, Any]:
        count = previous + 1 if isinstance(previous, int) and not isinstance(previous, bool) else 1
        return {REPLAY_MARK: self.at, "x-opsconsole-replayed-by": self.by, "x-opsconsole-replays": count}


class DeadLetterStore(Protocol):
    kind: str
    name: str

    async def info(self, sample: int) -> DlqInfo: ...

    async def count(self) -> int:
        """Letters in the DLQ right now, exactly (not from lagging statistics): actions journal it."""
        ...

    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage: ...

    async def plan(self, verb: str, selection: Selection, target: str = "") -> Plan: ...

    async def transfer(
        self,
        verb: str,  # replay (to origin) | move (to target)
        selection: Selection,
        mark: Mark,
        target: str = "",
        rate: float = 200.0,
        abort: asyncio.Event | None = None,
        progress: Progress | None = None,
    ) -> ReplayProgress: ...

    async def export(self, selection: Selection, path: Path) -> int: ...

    async def purge(self, backup: Path) -> int: ...

    async def restore(self, records: list[dict[str, Any]]) -> int: ...

    async def aclose(self) -> None: ...


class Pacer:
    """At most `rate` letters per second, measured from the start (bursts of one window at a time)."""

    def __init__(self, rate: float):
        self.rate = max(rate, 0.001)
        self.started = time.monotonic()

    async def wait(self, done: int) -> None:
        ahead = done / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            await asyncio.sleep(ahead)


def rank(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def make_plan(letters: list[PlannedLetter], scanned: int, capped: bool, note: str = "") -> Plan:
    movable = [letter for letter in letters if letter.destination]
    return Plan(
        letters=tuple(letters[:PLAN_LISTED]),
        count=len(movable),
        destinations=rank(letter.destination for letter in movable),
        skipped=len(letters) - len(movable),
        scanned=scanned,
        capped=capped,
        note=note,
    )


# --- NDJSON backups and exports --------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """JSON for AMQP header values and Redis/BullMQ fields, reversible by `decode`: bytes and times keep
    their type, so a restored `x-death` is the broker's own again."""
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in ("$bytes", "b64"):  # "b64": backups written before 0.2
            return bytearray(base64.b64decode(inner))  # AMQP byte arrays: pamqp encodes bytearray only
        if tag == "$time":
            return datetime.fromisoformat(inner)
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def write_ndjson(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records, one per line, to a new file (never overwrite), fsynced before returning."""
    from console.errors import ActionRefused

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ActionRefused(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ActionRefused(f"{path} exists already: a backup or export never overwrites a file") from None
    except OSError as exc:
        raise ActionRefused(f"cannot write {path}: {exc.strerror or exc}") from None
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    from console.errors import ActionRefused

    records = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ActionRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ActionRefused(f"{path}:{number}: not a backup line (invalid JSON)") from None
            if not isinstance(record, dict) or "kind" not in record:
                raise ActionRefused(f"{path}:{number}: not a backup line (no kind)")
            records.append(record)
    return records
