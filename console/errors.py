"""The one error tree every adapter raises at its boundary.

Library exceptions (httpx, pymongo, redis, aio-pika …) are translated here so the collector, the CLI
and the app only ever handle these, and their messages are already safe to show (no secrets).
"""

from __future__ import annotations

from console.sanitize import clean


class ConsoleError(Exception):
    """Base of every error opsconsole raises on purpose."""


class ConfigError(ConsoleError):
    """A config file or setting is invalid; the message names file, key and expectation."""

    def __init__(self, problems: list[str]):
        # Keys and values quoted from the file are text, never terminal control (a quoted TOML key may hold ESC).
        self.problems = [clean(problem, 2000) for problem in problems]
        super().__init__("\n".join(problems))


class SourceError(ConsoleError):
    """A backend could not be read."""


class SourceUnavailable(SourceError):
    """Connection refused, DNS failure, server down."""


class SourceTimeout(SourceError):
    """The backend did not answer within its timeout."""


class BadResponse(SourceError):
    """The backend answered, but with something we cannot use (malformed, too large, wrong type)."""


class ActionRefused(ConsoleError):
    """An action was not allowed (read-only mode, missing confirmation, protected environment)."""
