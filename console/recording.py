"""Recordings: every reading and action of a session as gzip-compressed, versioned JSON lines.

A recording is self-describing: the first line is a header (format, version, environment, the panes that
were configured), then one line per reading or action, in arrival order. Values are the model dataclasses,
each tagged with its class name, so a later opsconsole rebuilds the same objects: fields it does not know
are ignored, fields a recording lacks take their defaults. Every string is scrubbed of credentials on the
way out (URL passwords, tokens, and the literal secret values of the config), so a recording can be
attached to a ticket.

No Textual here: `opsconsole record` runs headless.
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
import types
import typing
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console import model
from console.errors import ConsoleError
from console.model import Reading
from console.secrets import redact_text

FORMAT = "opsconsole.recording"
VERSION = 1
# Recordings this version reads; a newer writer bumps VERSION and adds a migration for the older ones.
READABLE = (1,)
PANE_KINDS = ("health", "traffic", "cache", "queues", "dlq", "breakers", "mongo")


class RecordingError(ConsoleError):
    """A recording that cannot be written or read; the message names the file and the line."""


# --- encoding ------------------------------------------------------------------------------------------

_CLASSES: dict[str, type] = {
    name: cls
    for name, cls in vars(model).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == model.__name__
}


def encode(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """A model value as JSON: dataclasses tagged `{"$": class}`, datetimes `{"$t": iso}`, strings scrubbed."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        doc: dict[str, Any] = {"$": type(value).__name__}
        for f in dataclasses.fields(value):
            doc[f.name] = encode(getattr(value, f.name), secrets)
        return doc
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return {"$f": "inf" if value > 0 else "-inf"}
    if isinstance(value, Mapping):
        return {redact_text(str(k), secrets): encode(v, secrets) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [encode(v, secrets) for v in value]
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


_HINTS: dict[type, dict[str, Any]] = {}


def decode(doc: Any, hint: Any = Any) -> Any:
    """The inverse of `encode`, guided by the dataclasses' type hints (tuples, enums, nested classes)."""
    if isinstance(doc, dict):
        if "$" in doc:
            return _decode_dataclass(doc)
        if "$t" in doc:
            return datetime.fromisoformat(doc["$t"])
        if "$f" in doc:
            return float(doc["$f"])
        if "$b" in doc:
            return bytes.fromhex(doc["$b"])
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if doc is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return decode(doc, inner[0] if len(inner) == 1 else Any)
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and doc is not None:
        return hint(doc)
    if origin is tuple and isinstance(doc, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(item, args[0]) for item in doc)
        if args and len(args) == len(doc):
            return tuple(decode(item, a) for item, a in zip(doc, args, strict=True))
        return tuple(decode(item) for item in doc)
    if origin in (dict, Mapping):
        value_hint = args[1] if len(args) == 2 else Any
        return {key: decode(item, value_hint) for key, item in doc.items()} if isinstance(doc, dict) else doc
    if isinstance(doc, list):
        return tuple(decode(item) for item in doc)
    if isinstance(doc, dict):
        return {key: decode(item) for key, item in doc.items()}
    if hint is float and isinstance(doc, int):
        return float(doc)
    return doc


def _decode_dataclass(doc: dict[str, Any]) -> Any:
    name = doc["$"]
    cls = _CLASSES.get(name)
    if cls is None:
        raise RecordingError(f"unknown value type {name!r} (recorded by a newer opsconsole?)")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in doc:
            kwargs[f.name] = decode(doc[f.name], hints.get(f.name, Any))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordingError(f"{name} lacks its field {f.name!r}")
    return cls(**kwargs)


# --- the file ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    environment: str
    label: str = ""
    protected: bool = False
    panes: tuple[str, ...] = PANE_KINDS  # configured panes: the replay shows the same layout
    sources: Mapping[str, str] = field(default_factory=dict)  # source name → kind
    started: datetime | None = None
    # The thresholds the verdicts were judged by (p95_warn_ms, error_crit, hit_warn …): a replay judges alike.
    limits: Mapping[str, float] = field(default_factory=dict)
    version: int = VERSION
    app_version: str = ""


@dataclass(frozen=True)
class ActionEvent:
    """An audit record of an action taken (by this console or another) while recording."""

    at: datetime
    record: Mapping[str, Any]


@dataclass
class Recording:
    header: Header
    readings: list[Reading]
    actions: list[ActionEvent]
    warnings: list[str]

    @property
    def start(self) -> datetime | None:
        times = [r.at for r in self.readings] + [a.at for a in self.actions]
        return min(times) if times else self.header.started

    @property
    def end(self) -> datetime | None:
        times = [r.at for r in self.readings] + [a.at for a in self.actions]
        return max(times) if times else self.header.started


def _app_version() -> str:
    try:
        from importlib.metadata import version

        return version("opsconsole")
    except Exception:  # noqa: BLE001 - a source checkout without metadata still records
        return ""


class RecordingWriter:
    """Appends readings and actions; flushed (a complete gzip block) at least every `flush_every` seconds,
    so a recorder killed mid-way leaves a file that replays up to its last flush."""

    def __init__(self, path: Path, header: Header, secrets: tuple[str, ...] = (), flush_every: float = 1.0):
        self.path = path
        self.secrets = secrets
        self.count = 0
        self._flush_every = flush_every
        self._last_flush: float | None = None
        try:
            raw = path.open("xb")  # never overwrite: a recording may be evidence
        except FileExistsError:
            raise RecordingError(f"{path} exists already; choose another file name") from None
        except OSError as exc:
            raise RecordingError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
        head = {"format": FORMAT, **encode(dataclasses.replace(header, app_version=_app_version()), secrets)}
        head.pop("$", None)
        self._write(head)
        self.flush()

    def _write(self, doc: dict[str, Any]) -> None:
        line = json.dumps(doc, ensure_ascii=True, separators=(",", ":"), allow_nan=False) + "\n"
        self._gzip.write(line.encode())

    def reading(self, reading: Reading, now: float | None = None) -> None:
        self._write({"type": "reading", "reading": encode(reading, self.secrets)})
        self.count += 1
        self._maybe_flush(now)

    def action(self, record: Mapping[str, Any], at: datetime, now: float | None = None) -> None:
        self._write({"type": "action", "at": {"$t": at.isoformat()}, "record": encode(dict(record), self.secrets)})
        self._maybe_flush(now)

    def _maybe_flush(self, now: float | None) -> None:
        import time

        now = time.monotonic() if now is None else now
        if self._last_flush is None or now - self._last_flush >= self._flush_every:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        self._gzip.flush()  # Z_SYNC_FLUSH: everything so far decodes even if the process dies now
        self._raw.flush()

    def close(self) -> None:
        self._gzip.close()
        self._raw.close()


def _lines(path: Path, warnings: list[str]) -> Iterator[tuple[int, str]]:
    try:
        handle = gzip.open(path, "rt", encoding="utf-8")
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    number = 0
    with handle:
        try:
            for number, line in enumerate(handle, start=1):  # noqa: B007 - used after the loop
                yield number, line
        except (EOFError, zlib.error):
            warnings.append(f"{path} ends abruptly after line {number} (recorder killed?): replaying what is there")
        except gzip.BadGzipFile:
            raise RecordingError(f"{path} is not a gzip-compressed opsconsole recording") from None
        except UnicodeDecodeError:
            raise RecordingError(f"{path} line {number + 1}: not UTF-8 text") from None


def load(path: Path) -> Recording:
    """Read a recording; a torn last line or a truncated file is a warning, anything else a clear error."""
    warnings: list[str] = []
    lines = _lines(path, warnings)
    try:
        number, first = next(lines)
    except StopIteration:
        raise RecordingError(f"{path} is empty: not an opsconsole recording") from None
    try:
        head = json.loads(first)
    except ValueError:
        raise RecordingError(f"{path} line 1: not JSON: not an opsconsole recording") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise RecordingError(f"{path} line 1: not an opsconsole recording (no format {FORMAT!r})")
    version = head.get("version")
    if version not in READABLE:
        newest = max(READABLE)
        hint = "upgrade opsconsole" if isinstance(version, int) and version > newest else "unsupported version"
        raise RecordingError(f"{path}: recording format v{version}; this opsconsole reads v{newest}: {hint}")
    header = _header(head, path)
    readings: list[Reading] = []
    actions: list[ActionEvent] = []
    pending_error: str | None = None
    for number, line in lines:
        if pending_error:  # a bad line is only forgivable as the last one (torn by a crash)
            raise RecordingError(pending_error)
        try:
            doc = json.loads(line)
            if doc.get("type") == "reading":
                reading = decode(doc["reading"])
                if not isinstance(reading, Reading):
                    raise ValueError("not a reading")
                readings.append(reading)
            elif doc.get("type") == "action":
                actions.append(ActionEvent(decode(doc["at"]), decode(doc["record"], dict[str, Any])))
            # other types: written by a newer version; skipped
        except (ValueError, KeyError, TypeError, AttributeError, RecordingError) as exc:
            pending_error = f"{path} line {number}: {exc}"
    if pending_error:
        warnings.append(f"{pending_error.split(': ', 1)[0]} is torn and was skipped")
    readings.sort(key=lambda r: r.at)
    actions.sort(key=lambda a: a.at)
    return Recording(header, readings, actions, warnings)


def _header(head: dict[str, Any], path: Path) -> Header:
    try:
        doc = {"$": "Header", **head}
        kwargs = {}
        hints = typing.get_type_hints(Header, globals())
        for f in dataclasses.fields(Header):
            if f.name in doc:
                kwargs[f.name] = decode(doc[f.name], hints[f.name])
        return Header(**kwargs)
    except (ValueError, TypeError) as exc:
        raise RecordingError(f"{path} line 1: bad header: {exc}") from None


def header_for(settings: Any, sources: Mapping[str, str]) -> Header:
    """The header of a recording of `settings` (a console.config.Settings) polling `sources`."""
    from datetime import UTC

    env = settings.env
    panes = tuple(sorted(set(sources.values()), key=lambda k: PANE_KINDS.index(k) if k in PANE_KINDS else 99))
    limits: dict[str, float] = {"hit_warn": env.cache.hit_warn, "memory_warn": env.cache.memory_warn}
    traffic = settings.traffic
    if traffic is not None:
        for name in ("p95_warn_ms", "p95_crit_ms", "error_warn", "error_crit"):
            limits[name] = float(getattr(traffic, name))
    return Header(env.name, env.label, env.protected, panes, dict(sources), datetime.now(UTC), limits)
