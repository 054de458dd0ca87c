"""Append-only journal of every action, dry-run and refusal (JSON Lines, one record per line).

Who (operator and SSH client), where (host, environment), what (action, target, parameters), how much
(counts before/after), and how it ended. A write failure raises `AuditError`: callers show it, and an
action whose journal entry cannot be written is not started.

When the environment's MongoDB has `audit = "database.collection"`, every record is also mirrored there
(`console.audit_mongo.MongoMirror`, built by `audit_log_for`) so a team shares one journal. The local file
stays the record of truth: the mirror works in the background, never blocks the caller, and keeps what it
could not deliver in a spool next to the journal; `AuditLog.mirror_problem()` says when it is behind.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from console.errors import ConsoleError
from console.sanitize import clean
from console.secrets import redact_text

if TYPE_CHECKING:
    from console.config import Settings

SPOOL_NAME = "audit.mongo-pending.jsonl"


class AuditError(ConsoleError):
    """The journal could not be written (or, for the shared journal, read)."""


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    root = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".local" / "state")
    return Path(root) / "opsconsole" / "audit.jsonl"


def spool_path(journal: Path) -> Path:
    """Where records not yet stored in the shared journal wait: next to the local journal."""
    return journal.with_name(SPOOL_NAME)


def operator(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    ssh = environ.get("SSH_CONNECTION", "").split()
    return {
        "user": environ.get("USER") or environ.get("LOGNAME") or "unknown",
        "ssh_client": ssh[0] if ssh else "",
        "host": socket.gethostname(),
    }


@dataclass
class AuditRecord:
    action: str
    target: str
    environment: str
    outcome: str  # dry-run | refused | started | done | aborted | failed
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    detail: str = ""
    duration_seconds: float | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    who: dict[str, str] = field(default_factory=operator)
    # Unique and stable: the shared journal's _id, so delivering a record twice stores it once.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        doc = {key: value for key, value in self.__dict__.items()}
        return redact_text(json.dumps(doc, ensure_ascii=True, sort_keys=True))


class AuditMirror(Protocol):
    """A second, shared copy of the journal (see console.audit_mongo.MongoMirror). Never blocks, never raises."""

    name: str  # for messages, e.g. "MongoDB ops.audit"

    @property
    def pending(self) -> int: ...  # records handed over and not yet confirmed stored

    @property
    def last_error(self) -> str | None: ...  # why the mirror is behind (secrets redacted), None when healthy

    def submit(self, document: dict[str, Any]) -> None: ...

    def flush(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class AuditLog:
    def __init__(self, path: Path | None = None, mirror: AuditMirror | None = None):
        self.path = path or default_path()
        self.mirror = mirror
        self._handover_error: str | None = None
        # Called with each record once it is in the local journal (the TUI's timeline and recorder).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def append(self, record: AuditRecord) -> None:
        line = record.to_json() + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND: concurrent consoles on one bastion never interleave inside a record.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(f"cannot write audit journal {self.path}: {exc.strerror or exc}") from None
        for listener in self.listeners:
            try:
                listener(json.loads(line))
            except Exception:  # noqa: BLE001, S112 - a display hook must never fail an action that is done
                continue
        if self.mirror is not None:
            # The record is safely in the local journal; the shared copy must not fail the action.
            try:
                self.mirror.submit(json.loads(line))
            except Exception as exc:  # reported by mirror_problem(), never swallowed
                self._handover_error = redact_text(f"{type(exc).__name__}: {exc}")

    def mirror_problem(self) -> str | None:
        """One line for the UI and CLI when the shared journal is behind, else None."""
        if self.mirror is None:
            return None
        error = self._handover_error or self.mirror.last_error
        if error is None:
            return None
        pending = self.mirror.pending
        noun = "record" if pending == 1 else "records"
        return clean(f"shared journal ({self.mirror.name}): {pending} {noun} pending: {error}", 300)

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` for the mirror to catch up; True when nothing is pending."""
        return True if self.mirror is None else self.mirror.flush(timeout)

    def close(self) -> None:
        if self.mirror is not None:
            self.mirror.close()

    def records(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open(encoding="utf-8") as handle:
                for line in handle:
                    line = line.strip()
                    if line:
                        try:
                            yield json.loads(line)
                        except ValueError:
                            continue  # a torn last line from a crash must not hide the rest
        except FileNotFoundError:
            return


def audit_log_for(settings: Settings) -> AuditLog:
    """The journal for these settings: local always, mirrored to MongoDB when `[env.X.mongo] audit` is set."""
    path = settings.audit_log or default_path()
    mongo = settings.env.mongo
    if mongo is None or not mongo.audit:
        return AuditLog(path)
    # pymongo is imported here, not at module level: the console's first paint does not pay for it.
    from console.audit_mongo import MongoMirror

    return AuditLog(path, MongoMirror(mongo, spool_path(path)))


# --- Reading and filtering -----------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`1h`, `30m`, `2d`, `1h30m` (that long ago) or an ISO date/time (naive = UTC, as the listing prints)."""
    text = text.strip()
    if text and _DURATION.sub("", text) == "":
        delta = timedelta()
        for amount, unit in _DURATION.findall(text):
            delta += timedelta(**{_UNITS[unit]: int(amount)})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a duration like 30m, 1h, 2d or an ISO time, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def record_time(record: Mapping[str, Any]) -> datetime | None:
    """When a journal record was written (UTC when the record says no zone); None when unreadable."""
    try:
        moment = datetime.fromisoformat(str(record.get("at", "")))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class AuditFilter:
    """Which records to list; the same meaning for the local file and the shared collection."""

    action: str | None = None
    environment: str | None = None
    outcome: str | None = None
    target: str | None = None  # substring, case-insensitive
    since: datetime | None = None
    user: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        who = record.get("who")
        user = who.get("user") if isinstance(who, Mapping) else None
        if self.action is not None and record.get("action") != self.action:
            return False
        if self.environment is not None and record.get("environment") != self.environment:
            return False
        if self.outcome is not None and record.get("outcome") != self.outcome:
            return False
        if self.user is not None and user != self.user:
            return False
        if self.target is not None and self.target.lower() not in str(record.get("target", "")).lower():
            return False
        if self.since is not None:
            moment = record_time(record)
            if moment is None or moment < self.since:
                return False
        return True

    def mongo_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for key in ("action", "environment", "outcome"):
            value = getattr(self, key)
            if value is not None:
                query[key] = value
        if self.user is not None:
            query["who.user"] = self.user
        if self.target is not None:
            query["target"] = {"$regex": re.escape(self.target), "$options": "i"}
        if self.since is not None:
            # `at` is stored as written locally: UTC isoformat, whose strings sort in time order.
            query["at"] = {"$gte": self.since.astimezone(UTC).isoformat()}
        return query


def read_since(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Records from byte `offset` on (whole lines only), and the offset after the last whole line: a reader
    following the journal passes it back next time."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # torn by a crash, or the middle of a line where a tail started reading
        if isinstance(record, dict):
            records.append(record)
    return records, offset + end


def tail_records(path: Path, max_bytes: int = 256 * 1024) -> list[dict[str, Any]]:
    """The journal's most recent records (at most its last `max_bytes`): cheap to read on a long-lived host."""
    try:
        size = path.stat().st_size
    except OSError:
        return []
    return read_since(path, max(0, size - max_bytes))[0]
