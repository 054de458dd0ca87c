"""A Redis list used as a dead-letter queue by the seed event bus: browse, break down, replay, move, export,
purge with a backup, restore.

The bus LPUSHes each failed event as JSON (`eventId`, `event`, `payload`, `error`, `failedAt`, `retryCount`,
`traceId`), so index 0 is the newest letter and the tail (-1) the oldest. Elements are whatever was pushed:
nothing here assumes JSON, UTF-8 or a sane size. A letter's `ref` is the element itself (bytes decoded with
`surrogateescape`, so `element_of(ref)` gives back the exact bytes LREM needs).

How letters stay safe (see `dlq_base`):
- reads are plain LLEN / LINDEX / LRANGE / LPOS;
- actions walk the list from the tail (oldest first: replayed events keep their order, and the bus's LPUSHes
  at the head never shift what is still to be read), bounded by the LLEN read at their start;
- every letter leaves the DLQ inside one Lua script that first puts its copy where it goes (PUBLISH that
  reached a subscriber, LPUSH to the target list) or by LMOVE, so an interruption leaves each letter either
  in the DLQ or at its destination; the copy is pushed before LREM, so an OOM or WRONGTYPE on the target
  fails the script before anything was removed;
- a purge RENAMEs the list away first (new letters go to a fresh list), writes and fsyncs the backup, and
  deletes the renamed list only then; on any failure the renamed letters are put back behind the new ones.
"""

from __future__ import annotations

import asyncio
import json
import string
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from console.adapters.dlq_base import (
    SCAN_CAP,
    Mark,
    Pacer,
    Plan,
    PlannedLetter,
    Progress,
    Selection,
    decode,
    encode,
    make_plan,
    write_ndjson,
)
from console.adapters.redis import connect, translate
from console.config_dlq import RedisDlqConfig
from console.errors import ActionRefused, BadResponse, ConsoleError, SourceError
from console.model import DEAD_LETTER_BODY_CAP, DeadLetter, DeadLetterPage, DlqInfo, ReplayProgress, breakdown
from console.secrets import url_password

KIND = "redis"
CHUNK = 500  # elements per LRANGE
PROGRESS_EVERY = 25  # letters between progress reports
REASON_CAP = 200
INFLOW_WINDOW = timedelta(seconds=60)
RESTORE_BATCH_BYTES = 8 * 1024 * 1024  # elements per RPUSH: at most CHUNK, and about this many bytes
VERBS = ("replay", "move", "export", "purge")

# KEYS: dlq. ARGV: element, channel, copy. -1: the element is no longer in the DLQ; otherwise PUBLISH's
# receiver count, and the element was removed only if that is at least 1.
_PUBLISH = """
if not redis.call('LPOS', KEYS[1], ARGV[1], 'RANK', -1) then return -1 end
local receivers = redis.call('PUBLISH', ARGV[2], ARGV[3])
if receivers > 0 then redis.call('LREM', KEYS[1], -1, ARGV[1]) end
return receivers
"""

# KEYS: dlq, target list. ARGV: element, what to push. 1: moved; 0: no longer in the DLQ; a string: the
# target refused the push (WRONGTYPE, OOM) and nothing was removed. LPUSH comes before LREM on purpose:
# it is the only command here that can fail, and a script does not roll back what it already did.
_MOVE = """
if not redis.call('LPOS', KEYS[1], ARGV[1], 'RANK', -1) then return 0 end
local pushed = redis.pcall('LPUSH', KEYS[2], ARGV[2])
if type(pushed) == 'table' and pushed.err then return pushed.err end
redis.call('LREM', KEYS[1], -1, ARGV[1])
return 1
"""

# KEYS: dlq, purging name. The list's length after renaming it away; 0 when there is no list.
_PURGE_RENAME = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 0 end
if kind ~= 'list' then return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. kind .. ', not a list') end
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('BUSY ' .. KEYS[2] .. ' already exists') end
redis.call('RENAME', KEYS[1], KEYS[2])
return redis.call('LLEN', KEYS[2])
"""

# KEYS: dlq, purging name. A purge that failed puts its letters back behind whatever arrived since.
_UNDO_PURGE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('RENAME', KEYS[2], KEYS[1])
  return 1
end
while redis.call('LMOVE', KEYS[2], KEYS[1], 'LEFT', 'RIGHT') do end
return 1
"""

# --- elements as letters ---------------------------------------------------------------------------------


def ref_of(element: bytes) -> str:
    """The element as a `ref`: every byte survives (`element_of` reverses it exactly)."""
    return element.decode("utf-8", "surrogateescape")


def element_of(ref: str) -> bytes:
    return ref.encode("utf-8", "surrogateescape")


def _bytes(value: Any) -> bytes:
    """Elements as bytes, also from a client someone built with decode_responses=True."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return element_of(str(value))


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_event(element: bytes) -> tuple[bool, dict[str, Any] | None]:
    """(parsed as JSON at all, the event object or None). Never raises, whatever the bytes."""
    try:
        value = json.loads(element.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False, None
    return True, value if isinstance(value, dict) else None


def parse_time(value: Any) -> datetime | None:
    """`failedAt` (ISO-8601, `Z` or an offset; naive means UTC) or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def reason_of(error: Any) -> str:
    """The first non-blank line of `error` (a string, or an object's `message`), at most REASON_CAP chars."""
    if isinstance(error, dict):
        error = error.get("message", "")
    if error is None:
        return ""
    for line in _shown(error)[: REASON_CAP * 50].splitlines():  # a megabyte of stack trace is not split whole
        if line.strip():
            return line.strip()[:REASON_CAP]
    return ""


def _template_field(template: str) -> str:
    """The first field a target template uses ("event" for "{event}"), for problem messages."""
    try:
        for _, field, _, _ in string.Formatter().parse(template):
            if field:
                return field.split(".", 1)[0].split("[", 1)[0] or field
    except ValueError:
        pass
    return ""


class _NameFormatter(string.Formatter):
    """Only strings and numbers make names: an object or a list in a field is a problem, not "{'a': 1}"."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError("not a string or number")
        return super().format_field(value, format_spec)


_NAMES = _NameFormatter()


def route(template: str, event: dict[str, Any] | None) -> tuple[str, str]:
    """(channel or list name, problem): the target template formatted with the event's fields.

    Fields that are missing, null or "" count as missing; `{payload[orderId]}` reaches into objects.
    """
    field = _template_field(template)
    if event is None:
        return "", f"not a JSON event with {field}" if field else "not a JSON event"
    fields = {key: value for key, value in event.items() if value is not None and value != ""}
    try:
        name = _NAMES.vformat(template, (), fields)
    except KeyError as exc:
        missing = exc.args[0] if exc.args and isinstance(exc.args[0], str) else field
        return "", f"not a JSON event with {missing}"
    except (IndexError, AttributeError, TypeError, ValueError):
        return "", f"not a JSON event with {field}" if field else f"target {template!r} does not fit the event"
    if not name:
        return "", f"target {template!r} gives an empty name"
    return name, ""


@dataclass(frozen=True)
class _Item:
    """A letter as an action sees it; `index` is its place from the head when the action started, None when a
    selected ref is no longer in the DLQ."""

    index: int | None
    element: bytes
    letter: DeadLetter
    event: dict[str, Any] | None


@dataclass
class _Walk:
    read: int = 0  # elements read (or refs looked up)
    removed: int = 0  # of those, how many have left the list since (the tail offset depends on it)
    capped: bool = False


class RedisListDlq:
    """One Redis list DLQ (`kind` "redis", `name` the list key); implements `dlq_base.DeadLetterStore`."""

    kind = KIND

    def __init__(self, config: RedisDlqConfig, timeout: float, client: aioredis.Redis | None = None):
        self.config = config
        self.name = config.key
        self.timeout = timeout
        self._secret = url_password(config.redis_url) or ""
        # decode_responses stays False: elements are bytes and must come back byte for byte.
        self._client = client if client is not None else connect(config.redis_url, timeout)
        self._publish = self._client.register_script(_PUBLISH)
        self._move = self._client.register_script(_MOVE)
        self._purge_rename = self._client.register_script(_PURGE_RENAME)
        self._undo_purge = self._client.register_script(_UNDO_PURGE)

    # --- letters -------------------------------------------------------------------------------------

    def _read(self, element: bytes) -> tuple[DeadLetter, dict[str, Any] | None]:
        parsed, event = parse_event(element)
        fields = event or {}
        name, problem = route(self.config.target, event)
        properties = tuple((key, _shown(fields[key])) for key in ("retryCount", "traceId") if key in fields)
        letter = DeadLetter(
            kind=KIND,
            dlq=self.name,
            ref=ref_of(element),
            message_id=_scalar(fields.get("eventId")),
            origin=_scalar(fields.get("event")),
            reason=reason_of(fields.get("error")),
            at=parse_time(fields.get("failedAt")),
            size=len(element),
            body=element[:DEAD_LETTER_BODY_CAP],
            truncated=len(element) > DEAD_LETTER_BODY_CAP,
            content_type="application/json" if parsed else "",
            properties=properties,
            destination="" if problem else f"{self.config.replay_to} {name}",
        )
        return letter, event

    def _replay_route(self, event: dict[str, Any] | None) -> tuple[str, str]:
        name, problem = route(self.config.target, event)
        if not problem and self.config.replay_to == "list" and name == self.name:
            return "", "its destination is this DLQ"
        return name, problem

    def _copy(self, event: dict[str, Any], mark: Mark) -> bytes:
        """The replayed event: what the bus added when it dead-lettered it stripped, the replay mark added."""
        copy = {key: value for key, value in event.items() if key not in self.config.strip}
        copy["replayedAt"] = mark.at
        copy["replayedBy"] = mark.by
        try:
            return json.dumps(copy, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (from a \udXXX escape in the JSON): keep it escaped
            return json.dumps(copy, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    def _record(self, index: int, element: bytes) -> dict[str, Any]:
        try:
            shown: Any = element.decode("utf-8")
        except UnicodeDecodeError:
            shown = encode(element)
        return {"kind": KIND, "dlq": self.name, "redis_index": index, "element": shown}

    def _target(self, target: str) -> str:
        if not target:
            raise ActionRefused("move needs a target list")
        if target == self.name:
            raise ActionRefused(f"{target} is this DLQ")
        return target

    def _error(self, exc: BaseException) -> Exception:
        return translate(exc, self._secret)

    async def _llen(self) -> int:
        try:
            return int(await self._client.llen(self.name))
        except Exception as exc:  # noqa: BLE001 - every library error becomes one of ours
            raise self._error(exc) from None

    # --- reading ---------------------------------------------------------------------------------------

    async def count(self) -> int:
        return (await self.info(0)).count

    async def info(self, sample: int) -> DlqInfo:
        """LLEN, the oldest letter and the newest `sample` letters in one round trip."""
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.llen(self.name)
            pipe.lindex(self.name, -1)
            if sample > 0:  # LRANGE 0 -1 would read everything
                pipe.lrange(self.name, 0, sample - 1)
            results = await pipe.execute()
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from None
        count = int(results[0])
        oldest = self._read(_bytes(results[1]))[0].at if results[1] is not None else None
        letters = [self._read(_bytes(raw))[0] for raw in (results[2] if sample > 0 else [])]
        inflow: float | None = None
        note = ""
        if letters:
            since = datetime.now(UTC) - INFLOW_WINDOW
            recent = sum(1 for letter in letters if letter.at is not None and letter.at >= since)
            inflow = float(recent)
            if recent == len(letters) and count > len(letters):
                note = f"inflow counted in the newest {len(letters):,} letters only"
        return DlqInfo(
            kind=KIND,
            name=self.name,
            count=count,
            inflow_per_minute=inflow,
            oldest_at=oldest,
            by_origin=breakdown(letter.origin for letter in letters),
            by_reason=breakdown(letter.reason for letter in letters),
            sampled=len(letters),
            note=note,
        )

    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage:
        """Newest first. Unfiltered: LRANGE offset..offset+limit-1. Filtered (text, origin, reason or refs): the
        newest letters are read in chunks, at most SCAN_CAP of them, and `offset` counts matches."""
        offset, limit = max(0, offset), max(0, limit)
        filtered = selection.refs is not None or bool(selection.text or selection.origin or selection.reason)
        try:
            if not filtered:
                raws: list[Any] = []
                if limit:
                    pipe = self._client.pipeline(transaction=False)
                    pipe.llen(self.name)
                    pipe.lrange(self.name, offset, offset + limit - 1)
                    total, raws = await pipe.execute()
                else:
                    total = await self._llen()
                letters = tuple(self._read(_bytes(raw))[0] for raw in raws)
                return DeadLetterPage(self.name, KIND, int(total), letters, offset, scanned=len(letters))
            total = await self._llen()
            cap = min(total, SCAN_CAP)
            found: list[DeadLetter] = []
            matched = read = 0
            while read < cap and len(found) < limit:
                chunk = await self._client.lrange(self.name, read, read + min(CHUNK, cap - read) - 1)
                if not chunk:
                    break
                for raw in chunk:
                    read += 1
                    letter = self._read(_bytes(raw))[0]
                    if selection.wants(letter):
                        if matched >= offset:
                            found.append(letter)
                        matched += 1
                        if len(found) >= limit:
                            break
        except ConsoleError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from None
        note = ""
        if read >= SCAN_CAP and total > SCAN_CAP and len(found) < limit:
            note = f"searched the newest {read:,} of {total:,} letters; older ones were not searched"
        return DeadLetterPage(self.name, KIND, total, tuple(found), offset, scanned=read, note=note)

    async def _walk(self, selection: Selection, total: int, walk: _Walk, cap: int) -> AsyncGenerator[_Item, None]:
        """The selected letters, oldest first, read from the tail in chunks: at most `cap` elements.

        The consumer adds to `walk.removed` for each letter that left the list, which keeps the tail offset
        right. Refs are looked up with LPOS instead (they may be anywhere in a long list): present ones
        oldest first, then those no longer in the DLQ (index None).
        """
        taken = 0

        def enough() -> bool:
            return selection.limit is not None and taken >= selection.limit

        if selection.refs is not None:
            elements = [element_of(ref) for ref in sorted(selection.refs)[:SCAN_CAP]]
            positions: list[Any] = []
            for start in range(0, len(elements), CHUNK):
                pipe = self._client.pipeline(transaction=False)
                for element in elements[start : start + CHUNK]:
                    pipe.lpos(self.name, element, rank=-1)  # type: ignore[arg-type]
                positions.extend(await pipe.execute())
            walk.read = len(elements)
            found = sorted(
                ((int(pos), element) for pos, element in zip(positions, elements, strict=True) if pos is not None),
                key=lambda pair: -pair[0],
            )
            gone = [element for pos, element in zip(positions, elements, strict=True) if pos is None]
            candidates: list[tuple[int | None, bytes]] = [*found, *((None, element) for element in gone)]
            for index, element in candidates:
                letter, event = self._read(element)
                if selection.wants(letter):
                    yield _Item(index, element, letter, event)
                    taken += 1
                    if enough():
                        return
            return
        while walk.read < cap:
            size = min(CHUNK, cap - walk.read)
            kept = walk.read - walk.removed  # letters already seen that are still at the tail
            chunk = await self._client.lrange(self.name, -(kept + size), -(kept + 1))
            if not chunk:
                break
            for raw in reversed(chunk):
                element = _bytes(raw)
                index = total - 1 - walk.read
                walk.read += 1
                letter, event = self._read(element)
                if selection.wants(letter):
                    yield _Item(index, element, letter, event)
                    taken += 1
                    if enough():
                        return
        walk.capped = walk.read >= cap and cap < total

    # --- plans -----------------------------------------------------------------------------------------

    async def plan(self, verb: str, selection: Selection, target: str = "") -> Plan:
        """A dry run: reads at most SCAN_CAP letters, oldest first (the order actions take them).

        For a move, export or purge of everything the count is the whole list even when only SCAN_CAP were
        itemised; for a replay of everything beyond SCAN_CAP the unread letters are counted as movable (the
        replay takes them, skipping any without a destination) and the plan is marked capped.
        """
        if verb not in VERBS:
            raise ActionRefused(f"unknown DLQ action {verb!r}")
        if verb == "move":
            target = self._target(target)
        if verb == "purge" and not selection.everything:
            raise ActionRefused("a Redis list DLQ is purged whole: select every letter")
        fixed = f"list {target}" if verb == "move" else "backup file"
        total = await self._llen()
        walk = _Walk()
        letters: list[PlannedLetter] = []
        try:
            async for item in self._walk(selection, total, walk, min(total, SCAN_CAP)):
                problem, destination = "", fixed
                if item.index is None:
                    problem, destination = "no longer in the DLQ", ""
                elif verb == "replay":
                    name, problem = self._replay_route(item.event)
                    destination = "" if problem else f"{self.config.replay_to} {name}"
                letter = item.letter
                letters.append(
                    PlannedLetter(letter.ref, letter.message_id, letter.origin, letter.reason, destination, problem)
                )
        except ConsoleError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from None
        unread = total - walk.read if selection.everything else 0
        if unread <= 0:
            note = ""
            if walk.capped:
                note = f"read the oldest {walk.read:,} of {total:,} letters: newer ones are not in this {verb}"
            return make_plan(letters, walk.read, walk.capped, note)
        plan = make_plan(letters, walk.read, False)
        if verb == "replay":
            return replace(
                plan,
                count=plan.count + unread,
                capped=True,
                note=f"planned the oldest {walk.read:,} of {total:,} letters; the replay takes the other "
                f"{unread:,} too, skipping any without a destination",
            )
        return replace(
            plan,
            count=total,
            destinations=((fixed, total),),
            note=f"itemised the oldest {walk.read:,} of {total:,} letters; the {verb} takes all of them",
        )

    # --- actions ---------------------------------------------------------------------------------------

    async def transfer(
        self,
        verb: str,
        selection: Selection,
        mark: Mark,
        target: str = "",
        rate: float = 200.0,
        abort: asyncio.Event | None = None,
        progress: Progress | None = None,
    ) -> ReplayProgress:
        """Replay letters to their channel or list, or move them unchanged to the list `target`.

        Oldest first, paced at `rate` letters/s, bounded by the LLEN read at the start (a selection by filter
        also by SCAN_CAP). `abort` (an asyncio.Event) is checked between letters. `done` counts letters that
        left the DLQ; `failed` those that stayed because their copy could not be delivered (no subscriber,
        a target that is not a list); `skipped` those with no destination or already gone. On a Redis error
        the counts so far are reported through `progress` (note "stopped: …") and the error is raised.
        """
        if verb not in ("replay", "move"):
            raise ActionRefused(f"{verb} is not a transfer (replay or move)")
        if verb == "move":
            target = self._target(target)
        length = await self._llen()
        pacer = Pacer(rate)
        if verb == "move" and selection.everything:
            return await self._move_all(target, length, pacer, abort, progress)
        cap = length if selection.everything else min(length, SCAN_CAP)
        tally = ReplayProgress(total=length)
        if not selection.everything:
            counted = _Walk()
            try:
                total = sum([1 async for _ in self._walk(selection, length, counted, cap)])
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc) from None
            tally = ReplayProgress(total=total)
        done = failed = skipped = attempted = 0
        unheard: list[str] = []
        refused: list[str] = []
        aborted = False
        walk = _Walk()

        def snapshot(note: str = "") -> ReplayProgress:
            return replace(tally, done=done, failed=failed, skipped=skipped, note=note)

        try:
            async with aclosing(self._walk(selection, length, walk, cap)) as items:
                async for item in items:
                    if abort is not None and abort.is_set():
                        aborted = True
                        break
                    if item.index is None:
                        skipped += 1
                    elif verb == "replay" and (item.event is None or self._replay_route(item.event)[1]):
                        skipped += 1
                    else:
                        await pacer.wait(attempted)
                        attempted += 1
                        where, outcome = await self._send(verb, item, mark, target)
                        if outcome in ("done", "gone"):
                            walk.removed += 1  # either way it left the list: keeps the tail offset right
                        if outcome == "done":
                            done += 1
                        elif outcome == "gone":  # someone else took it meanwhile
                            skipped += 1
                        elif outcome == "unheard":
                            failed += 1
                            if where not in unheard:
                                unheard.append(where)
                        else:
                            failed += 1
                            refusal = f"{where}: {outcome}"
                            if refusal not in refused:
                                refused.append(refusal)
                    if progress is not None and (done + failed + skipped) % PROGRESS_EVERY == 0:
                        progress(snapshot())
        except Exception as exc:  # noqa: BLE001
            error = exc if isinstance(exc, ConsoleError) else self._error(exc)
            if progress is not None:
                progress(snapshot(f"stopped: {error}"))
            raise error from None
        notes = []
        if aborted:
            notes.append(f"aborted after {done + failed + skipped:,} of {tally.total:,}")
        if unheard:
            notes.append(_listed("no subscriber on", unheard))
        if refused:
            notes.append(_listed("refused by", refused))
        if walk.capped:
            notes.append(f"the selection scan stopped at {walk.read:,} letters")
        final = snapshot("; ".join(notes))
        final = replace(final, total=max(final.total, done + failed + skipped))
        if progress is not None:
            progress(final)
        return final

    async def _send(self, verb: str, item: _Item, mark: Mark, target: str) -> tuple[str, str]:
        """(where, outcome) for one letter: outcome "done" (it left the DLQ), "gone" (it was no longer there),
        "unheard" (PUBLISH reached nobody: it stays) or the target's refusal (it stays)."""
        if verb == "move":
            where, push = target, item.element
        else:
            assert item.event is not None
            where, push = self._replay_route(item.event)[0], self._copy(item.event, mark)
            if self.config.replay_to == "channel":
                receivers = int(await self._publish(keys=[self.name], args=[item.element, where, push]))
                return where, "gone" if receivers < 0 else ("done" if receivers > 0 else "unheard")
        result = await self._move(keys=[self.name, where], args=[item.element, push])
        if isinstance(result, int):
            return where, "done" if result == 1 else "gone"
        return where, _bytes(result).decode("utf-8", "replace")[:REASON_CAP]

    async def _move_all(
        self, target: str, total: int, pacer: Pacer, abort: asyncio.Event | None, progress: Progress | None
    ) -> ReplayProgress:
        """LMOVE dlq target RIGHT LEFT, oldest first: each letter atomically in one list or the other, and
        the target ends up in the DLQ's own order."""
        done = 0
        note = ""
        try:
            while done < total:
                if abort is not None and abort.is_set():
                    note = f"aborted after {done:,} of {total:,}"
                    break
                await pacer.wait(done)
                moved = await self._client.lmove(self.name, target, "RIGHT", "LEFT")
                if moved is None:
                    note = f"the DLQ ran empty after {done:,}"
                    break
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(ReplayProgress(total, done))
        except Exception as exc:  # noqa: BLE001
            error = self._error(exc)
            if progress is not None:
                progress(ReplayProgress(total, done, note=f"stopped: {error}"))
            raise error from None
        final = ReplayProgress(total, done, note=note)
        if progress is not None:
            progress(final)
        return final

    async def export(self, selection: Selection, path: Path) -> int:
        """The selected letters to a new NDJSON file, head first (as `purge` writes them), without touching
        the list. Everything is read when everything is selected; a filter reads at most SCAN_CAP."""
        length = await self._llen()
        cap = length if selection.everything else min(length, SCAN_CAP)
        items: list[tuple[int, bytes]] = []
        try:
            async for item in self._walk(selection, length, _Walk(), cap):
                if item.index is not None:
                    items.append((item.index, item.element))
        except ConsoleError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from None
        items.sort(key=lambda pair: pair[0])
        try:
            return write_ndjson(path, (self._record(index, element) for index, element in items))
        except OSError as exc:
            raise ActionRefused(f"cannot write {path}: {exc.strerror or exc}") from None

    async def purge(self, backup: Path) -> int:
        """Empty the DLQ with a backup first: RENAME it to `<key>:purging:<unix ms>` (letters arriving meanwhile
        start a fresh list), read it all, write and fsync `backup`, and only then delete the renamed list.

        An empty or missing list still gets an (empty) backup file and returns 0. If anything fails before
        the delete, the renamed letters are put back behind whatever arrived since; if even that fails, the
        error names the key that holds them. The backup restores with `restore`.
        """
        if backup.exists():
            raise ActionRefused(f"{backup} already exists")
        purging = f"{self.name}:purging:{int(time.time() * 1000)}"
        try:
            count = int(await self._purge_rename(keys=[self.name, purging]))
            if count == 0:
                try:
                    write_ndjson(backup, [])
                except OSError as exc:
                    raise ActionRefused(f"cannot write {backup}: {exc.strerror or exc}") from None
                return 0
            elements: list[bytes] = []
            while len(elements) < count:
                start = len(elements)
                chunk = await self._client.lrange(purging, start, min(start + CHUNK, count) - 1)
                if not chunk:
                    raise BadResponse(f"{purging} holds {start:,} letters, expected {count:,}")
                elements.extend(_bytes(raw) for raw in chunk)
            try:
                written = write_ndjson(backup, (self._record(index, element) for index, element in enumerate(elements)))
            except ActionRefused as exc:  # the file could not be created: nothing of ours to clean up
                raise ActionRefused(f"{exc}; nothing was purged") from None
            except OSError as exc:  # a partial file of ours: the letters go back below
                with suppress(OSError):
                    backup.unlink()
                raise ActionRefused(f"cannot write {backup}: {exc.strerror or exc}; nothing was purged") from None
            if written != count:
                raise BadResponse(f"backup holds {written:,} of {count:,} letters; nothing was purged")
            await self._client.unlink(purging)
        except BaseException as exc:
            try:
                await self._undo_purge(keys=[self.name, purging])
            except Exception as undo:  # noqa: BLE001
                cause = (
                    exc if isinstance(exc, ConsoleError) else self._error(exc) if isinstance(exc, Exception) else exc
                )
                raise SourceError(
                    f"purge failed ({cause}) and its letters could not be put back: they are in {purging} "
                    f"({self._error(undo)})"
                ) from None
            if isinstance(exc, Exception) and not isinstance(exc, ConsoleError):
                raise self._error(exc) from None
            raise
        return count

    async def restore(self, records: list[dict[str, Any]]) -> int:
        """RPUSH the records' elements back, exact bytes, in file order: a backup lists the newest first and its
        letters are older than anything that arrived since, so they go behind it. Every record is checked
        before anything is pushed."""
        elements: list[bytes] = []
        for number, record in enumerate(records, 1):
            kind = record.get("kind")
            if kind != KIND:
                raise ActionRefused(f"record {number} is from a {kind!r} DLQ, not a Redis list")
            dlq = record.get("dlq", self.name)
            if dlq != self.name:
                raise ActionRefused(f"record {number} is from the Redis DLQ {dlq!r}, not {self.name!r}")
            element = record.get("element")
            try:
                if isinstance(element, str):
                    elements.append(element.encode("utf-8", "surrogateescape"))
                    continue
                value = decode(element) if isinstance(element, dict) else None
            except (UnicodeEncodeError, ValueError) as exc:
                raise ActionRefused(f"record {number}: unreadable element ({exc})") from None
            if not isinstance(value, bytes | bytearray):
                raise ActionRefused(f"record {number}: no element")
            elements.append(bytes(value))
        pushed = 0
        try:
            while pushed < len(elements):
                batch: list[bytes] = []
                size = 0
                for element in elements[pushed : pushed + CHUNK]:
                    if batch and size + len(element) > RESTORE_BATCH_BYTES:
                        break
                    batch.append(element)
                    size += len(element)
                await self._client.rpush(self.name, *batch)
                pushed += len(batch)
        except Exception as exc:  # noqa: BLE001
            error = self._error(exc)
            raise type(error)(f"restored {pushed:,} of {len(elements):,}, then: {error}") from None
        return pushed

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        except Exception:  # noqa: BLE001, S110 - a broken pool is dropped either way
            pass


def _listed(prefix: str, names: list[str], shown: int = 3) -> str:
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return f"{prefix} {', '.join(names[:shown])}{more}"
