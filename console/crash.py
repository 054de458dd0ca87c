"""Crash reports that keep credentials to themselves.

A crash on a bastion is read over someone's shoulder, pasted into a ticket, kept in a tmux scrollback. Textual's
own report shows every frame's local variables — the settings, with every password and token in them — and an
exception message may quote a connection URL. These reports keep what is needed to find the bug (exception type,
frames, source lines) and mask every configured secret and every credential-looking string in the messages.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from types import TracebackType

from rich.console import RenderableType
from rich.text import Text
from rich.traceback import Trace, Traceback

from console.sanitize import clean
from console.secrets import redact_text

EXIT_CRASH = 70  # EX_SOFTWARE


def _scrub(text: str, secrets: Sequence[str]) -> str:
    return redact_text(text, tuple(secrets))


def crash_renderable(
    exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
    secrets: Sequence[str] = (),
) -> RenderableType:
    """A Rich traceback without local variables and with every exception message scrubbed."""
    exc_type, exc_value, tb = exc_info
    if exc_type is None or exc_value is None:
        return Text("opsconsole crashed (no exception information)")
    trace = Traceback.extract(exc_type, exc_value, tb, show_locals=False)
    _scrub_trace(trace, secrets)
    return Traceback(trace, width=None, show_locals=False)


def _scrub_trace(trace: Trace, secrets: Sequence[str]) -> None:
    for stack in trace.stacks:
        stack.exc_value = clean(_scrub(stack.exc_value, secrets), 2000, single_line=False)
        stack.notes = [clean(_scrub(note, secrets), 2000, single_line=False) for note in stack.notes]
        if stack.syntax_error is not None:
            stack.syntax_error.line = _scrub(stack.syntax_error.line, secrets)
            stack.syntax_error.msg = _scrub(stack.syntax_error.msg, secrets)
        for group_member in stack.exceptions:  # an ExceptionGroup's members
            _scrub_trace(group_member, secrets)


def crash_text(error: BaseException, secrets: Sequence[str] = ()) -> str:
    """The plain-text traceback Python would print, scrubbed the same way (no locals are in it anyway)."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return clean(_scrub("".join(lines), secrets), 50_000, single_line=False)


def report_crash(error: BaseException, secrets: Sequence[str] = ()) -> int:
    """Print a scrubbed report of an unexpected exception to stderr; the CLI's exit code for it."""
    print(crash_text(error, secrets), file=sys.stderr, end="")
    print("opsconsole: internal error (the report above has credentials masked); please report it", file=sys.stderr)
    return EXIT_CRASH
