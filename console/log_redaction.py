"""Log records without credentials, whoever logs them.

Libraries log what they do: httpx logs every request URL at INFO — `user:password@` and `?token=` included —,
drivers log connection strings and failures at DEBUG. The console configures no logging itself, but an operator
who turns it on (or a wrapper script that does) must not get a file of credentials. `redact_logs` wraps the
log-record factory once per process, so every record of every logger is scrubbed when it is created (records are
only created for enabled levels: no cost while logging is off).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from console.secrets import redact_text

_known: tuple[str, ...] = ()
_installed = False


def redact_logs(secrets: Iterable[str] = ()) -> None:
    """Scrub credential-looking text and these `secrets` from every log record from now on."""
    global _known, _installed
    _known = tuple(sorted(set(_known) | {s for s in secrets if s}, key=len, reverse=True))
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is the logger's problem, not ours
            return record
        scrubbed = redact_text(message, _known)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), _known)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
