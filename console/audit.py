"""Append-only journal of every action, dry-run and refusal (JSON Lines, one record per line).

Who (operator and SSH client), where (host, environment), what (action, target, parameters), how much
(counts before/after), and how it ended. A write failure raises `AuditError`: callers show it, and an
action whose journal entry cannot be written is not started.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.errors import ConsoleError
from console.secrets import redact_text


class AuditError(ConsoleError):
    """The journal could not be written."""


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    root = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".local" / "state")
    return Path(root) / "opsconsole" / "audit.jsonl"


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
    outcome: str  # dry-run | refused | done | aborted | failed
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    detail: str = ""
    duration_seconds: float | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    who: dict[str, str] = field(default_factory=operator)

    def to_json(self) -> str:
        doc = {key: value for key, value in self.__dict__.items()}
        return redact_text(json.dumps(doc, ensure_ascii=True, sort_keys=True))


class AuditLog:
    def __init__(self, path: Path | None = None):
        self.path = path or default_path()

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
