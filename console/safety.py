"""Write mode and confirmation levels: the safety model's state, with no IO so the UI imports it cheaply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from console.errors import ActionRefused


@dataclass
class WriteMode:
    """Read-only unless enabled with a reason; expires by itself."""

    reason: str = ""
    until: datetime | None = None
    clock: Callable[[], datetime] | None = None  # the console's clock (fixed in snapshot tests)
    # Called after every enable / disable, so the banner changes with the mode, not a second later.
    listeners: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)

    def _now(self, now: datetime | None) -> datetime:
        return now or (self.clock() if self.clock is not None else datetime.now(UTC))

    def enable(self, reason: str, minutes: float, now: datetime | None = None) -> None:
        if not reason.strip():
            raise ActionRefused("write mode needs a reason")
        self.reason = reason.strip()
        self.until = self._now(now) + timedelta(minutes=minutes)
        self._changed()

    def disable(self) -> None:
        self.reason, self.until = "", None
        self._changed()

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def active(self, now: datetime | None = None) -> bool:
        return self.until is not None and self._now(now) < self.until


@dataclass(frozen=True)
class Confirmation:
    """What the operator must give: `key` (one keystroke / --yes) or `typed` (this exact text)."""

    level: str
    text: str = ""
    also: str = ""  # a second accepted answer, e.g. the count of messages next to the queue name

    def accepts(self, given: str | None) -> bool:
        return given is not None and given != "" and given in (self.text, self.also)

    def satisfied_by(self, given: str | None, yes: bool) -> bool:
        if self.level == "typed":
            return self.accepts(given)
        return yes or self.accepts(given)


READ_ONLY = "read-only mode: enable write mode (w in the console, --write --reason in the CLI)"


def refusal(write: WriteMode | None, confirmation: Confirmation | None, given: str | None, yes: bool, what: str) -> str:
    """Why an action may not run now ("" when it may). `write` None: the action only reads (no write mode
    needed); `confirmation` None: no dry-run yet; `what` names what must be typed, e.g. "the queue name 'x'"."""
    if write is not None and not write.active():
        return READ_ONLY
    if confirmation is None:
        return "no dry-run: preview first"
    if not confirmation.satisfied_by(given, yes):
        if confirmation.level == "typed":
            return f"confirmation required: type {what}"
        return "confirmation required (y in the console, --yes in the CLI)"
    return ""
