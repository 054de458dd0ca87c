"""`opsconsole dlq …`: list, browse, show, replay, move, export, purge and restore from a shell, through
the same stores and action specs as the DLQ pane (read-only unless --write; dry-run first; journaled)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console.adapters.dlq_base import DeadLetterStore, Selection
from console.audit import audit_log_for
from console.config import Settings
from console.dlq import StoreCatalog
from console.errors import ActionRefused, ConsoleError
from console.model import DeadLetter, ReplayProgress
from console.safety import WriteMode
from console.sanitize import clean as _clean

EXIT_REFUSED = 2


def clean(text: object, max_len: int = 500) -> str:
    """`sanitize.clean`, with lone surrogates as "?": a Redis letter's ref keeps undecodable bytes as
    surrogates (surrogateescape), and print() cannot encode them."""
    s = text if isinstance(text, str) else str(text)
    return _clean(s.encode("utf-8", "replace").decode("utf-8"), max_len)


async def resolve(catalog: StoreCatalog, text: str) -> DeadLetterStore:
    kind, _, name = text.partition(":")
    if kind in ("rabbitmq", "bullmq", "redis") and name:
        return catalog.get(kind, name)
    matches = [s for s in await catalog.refresh() if s.name == text]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ActionRefused(f"no DLQ named {text!r}: see `opsconsole dlq list`, or write KIND:NAME")
    raise ActionRefused(f"{text!r} is ambiguous: write one of {', '.join(f'{s.kind}:{s.name}' for s in matches)}")


@dataclass(frozen=True)
class _ById(Selection):
    """Letters whose id (message id / job id / eventId) or ref is exactly `ident`: a Redis letter's ref is the
    whole element, so the id the listings show must be looked up (and a substring filter would take evt-11
    for evt-1)."""

    ident: str = ""

    def wants(self, letter: DeadLetter) -> bool:
        return self.ident in (letter.message_id, letter.ref)


async def _by_id(store: DeadLetterStore, ident: str, limit: int) -> list[DeadLetter]:
    return list((await store.page(0, limit, _ById(text=ident, ident=ident))).letters)


async def _resolve_ids(store: DeadLetterStore, selection: Selection) -> Selection:
    """`--ids` names letters as the listings do; for a Redis list DLQ those ids become the refs (elements)."""
    if selection.refs is None or store.kind != "redis":
        return selection
    refs: set[str] = set()
    for ident in selection.refs:
        found = await _by_id(store, ident, 100)
        if found:
            refs.update(letter.ref for letter in found)
        else:
            refs.add(ident)  # perhaps a ref already; if not, the plan says it is no longer in the DLQ
    return replace(selection, refs=frozenset(refs))


def _selection(args: argparse.Namespace) -> Selection:
    ids = frozenset(i.strip() for i in getattr(args, "ids", "").split(",") if i.strip())
    return Selection(
        refs=ids or None,
        text=args.filter,
        origin=args.origin,
        reason=args.reason_is,
        limit=getattr(args, "max_count", None),
    )


def _letter_line(letter: DeadLetter) -> str:
    at = letter.at.strftime("%Y-%m-%d %H:%M:%S") if letter.at else "-"
    body = clean(letter.body[:200].decode("utf-8", "replace"), 60)
    ident, origin = clean(letter.message_id or letter.ref, 36), clean(letter.origin, 24)
    reason = clean(letter.reason, 20)
    return f"{at}  {ident:36}  {origin:24}  {reason:20}  {letter.size:>9,}  {body}"


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "ref": letter.ref,
        "message_id": letter.message_id,
        "origin": letter.origin,
        "reason": letter.reason,
        "at": letter.at.isoformat() if letter.at else None,
        "size": letter.size,
        "destination": letter.destination,
        "body_preview": letter.body[:2000].decode("utf-8", "replace"),
        "headers": dict(letter.headers),
        "properties": dict(letter.properties),
    }


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.dlq is None:
        print("opsconsole dlq: no DLQs configured ([env.NAME.dlq], rabbitmq management_url or bullmq)", file=sys.stderr)
        return EXIT_REFUSED
    catalog = StoreCatalog(settings)
    try:
        return await _run(settings, catalog, args)
    except ConsoleError as exc:
        if isinstance(exc, ActionRefused):
            print(f"refused: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"opsconsole dlq: {exc}", file=sys.stderr)
        return 1
    finally:
        await catalog.aclose()


async def _run(settings: Settings, catalog: StoreCatalog, args: argparse.Namespace) -> int:
    command = args.dlq_command
    if command == "list":
        return await _list(catalog, args.json)
    if command == "restore":
        return await _restore(settings, catalog, args)
    store = await resolve(catalog, args.dlq)
    if command == "browse":
        page = await store.page(args.offset, args.limit, _selection(args))
        if args.json:
            print(
                json.dumps({"total": page.total, "note": page.note, "letters": [_letter_json(x) for x in page.letters]})
            )
            return 0
        print(
            f"{store.kind}:{clean(store.name, 100)} · {page.total:,} letters" + (f" · {page.note}" if page.note else "")
        )
        for letter in page.letters:
            print(_letter_line(letter))
        return 0
    if command == "show":
        letters = list((await store.page(0, 1, Selection(refs=frozenset({args.ref})))).letters)
        if not letters:
            letters = await _by_id(store, args.ref, 1)
        if not letters:
            letters = list((await store.page(0, 1, Selection(text=args.ref))).letters)
        if not letters:
            print(f"no letter {clean(args.ref, 80)!r} in {clean(store.name, 80)}", file=sys.stderr)
            return 1
        print(json.dumps(_letter_json(letters[0]), indent=2, ensure_ascii=True))
        return 0
    return await _act(settings, store, command, args)


async def _list(catalog: StoreCatalog, as_json: bool) -> int:
    stores = await catalog.refresh()
    infos = await asyncio.gather(*(s.info(20) for s in stores), return_exceptions=True)
    rows: list[dict[str, Any]] = []
    for store, info in zip(stores, infos, strict=True):
        if isinstance(info, BaseException):
            rows.append({"kind": store.kind, "name": store.name, "error": clean(str(info), 160)})
            continue
        rows.append(
            {
                "kind": info.kind,
                "name": info.name,
                "count": info.count,
                "inflow_per_minute": info.inflow_per_minute,
                "oldest_at": info.oldest_at.isoformat() if info.oldest_at else None,
                "by_origin": dict(info.by_origin),
                "by_reason": dict(info.by_reason),
            }
        )
    if as_json:
        print(json.dumps({"dlqs": rows, "problems": catalog.problems}))
        return 0
    for row in rows:
        name = clean(f"{row['kind']}:{row['name']}", 50)
        if "error" in row:
            print(f"{name:50}  error: {row['error']}")
            continue
        origin = next(iter(row["by_origin"]), "-")
        reason = next(iter(row["by_reason"]), "-")
        inflow = "-" if row["inflow_per_minute"] is None else f"{row['inflow_per_minute']:.1f}/min"
        print(f"{name:50}  {row['count']:>8,}  {inflow:>10}  {clean(origin, 24):24}  {clean(reason, 30)}")
    for problem in catalog.problems:
        print(f"warning: {clean(problem, 200)}", file=sys.stderr)
    if not rows:
        print("no DLQs found", file=sys.stderr)
    return 0


def _write_mode(settings: Settings, args: argparse.Namespace) -> WriteMode:
    write = WriteMode()
    if getattr(args, "write", False) and not getattr(args, "dry_run", False):
        write.enable(args.reason, settings.write_minutes)  # no reason: ActionRefused
    return write


async def _act(settings: Settings, store: DeadLetterStore, verb: str, args: argparse.Namespace) -> int:
    from console.dlq_actions import DlqAction

    target = getattr(args, "to", None) or getattr(args, "out", None) or ""
    selection = await _resolve_ids(store, _selection(args))
    action = DlqAction(settings, store, verb, audit_log_for(settings), selection, target)
    action.rate = getattr(args, "rate", None)
    write = _write_mode(settings, args)
    plan = await action.dry_run()
    protected = " (PROTECTED)" if settings.env.protected else ""
    print(f"{settings.env.name}{protected} · {clean(plan.summary, 300)}")
    for letter in plan.plan.letters:
        where = letter.destination or f"STAYS: {letter.problem}"
        print(f"  {clean(letter.message_id or letter.ref, 36):36}  {clean(letter.origin, 24):24}  → {clean(where, 60)}")
    if len(plan.plan.letters) < plan.plan.count + plan.plan.skipped:
        print(f"  … and {plan.plan.count + plan.plan.skipped - len(plan.plan.letters):,} more")
    if args.dry_run:
        print("dry-run: nothing changed")
        return 0
    if verb != "export" and plan.confirmation.level == "typed" and args.confirm is None:
        print(f"typed confirmation required: add --confirm {plan.confirmation.text!r} (or the count)", file=sys.stderr)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, action.abort.set)

    def progress(value: ReplayProgress) -> None:
        print(
            f"\r  {value.done:,} done, {value.failed:,} failed, {value.skipped:,} skipped of {value.total:,} …",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        # An export changes nothing: like its missing write mode, it needs no --yes either.
        yes = args.yes or verb == "export"
        result = await action.execute(write, given=args.confirm, yes=yes, on_progress=progress)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    print(file=sys.stderr)
    ended = "ABORTED" if action.abort.is_set() else "done"
    print(f"{ended}: " + ", ".join(f"{k}={clean(v, 200)}" for k, v in result.items()))
    return 130 if action.abort.is_set() else 0


async def _restore(settings: Settings, catalog: StoreCatalog, args: argparse.Namespace) -> int:
    from console.dlq_actions import backup_dlq, restore

    path = Path(args.file).expanduser()
    if args.dlq:
        store = await resolve(catalog, args.dlq)
    else:
        kind, name = backup_dlq(path)
        store = catalog.get(kind, name)
    write = WriteMode()
    if args.write:
        write.enable(args.reason, settings.write_minutes)
    counts = await restore(settings, store, path, audit_log_for(settings), write)
    print(f"restored {counts['restored']:,} of {counts['records']:,} letters to {store.kind}:{clean(store.name, 100)}")
    return 0
