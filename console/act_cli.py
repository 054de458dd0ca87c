"""`opsconsole act …`: the same action specs the console uses, driven from a shell."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from console.actions import CacheInvalidation, WriteMode
from console.audit import AuditError, audit_log_for
from console.config import Settings
from console.errors import ActionRefused, ConsoleError
from console.sanitize import clean
from console.units import human_bytes

EXIT_REFUSED = 2


def report_failure(exc: ConsoleError) -> int:
    """One wording and exit code per failure kind, for every `act` subcommand."""
    if isinstance(exc, ActionRefused):
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if isinstance(exc, AuditError):
        print(f"opsconsole act: {exc} — nothing was changed", file=sys.stderr)
        return 1
    print(f"opsconsole act: {exc}", file=sys.stderr)
    return 1


async def cache_invalidate(settings: Settings, args: argparse.Namespace) -> int:
    instances = settings.redis_instances
    if not instances:
        print("opsconsole act: no Redis configured (redis_url, REDIS_URL or [[env.NAME.redis]])", file=sys.stderr)
        return EXIT_REFUSED
    instance = next((r for r in instances if r.name == args.instance), None) if args.instance else instances[0]
    if instance is None:
        print(
            f"opsconsole act: no Redis instance {args.instance!r} ({', '.join(r.name for r in instances)})",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    action = CacheInvalidation(settings, instance, args.pattern, audit_log_for(settings))
    write = WriteMode()
    try:
        if args.write and not args.dry_run:
            write.enable(args.reason, settings.write_minutes)
        plan = await action.dry_run()
        env = settings.env
        print(
            f"{env.name}{' (PROTECTED)' if env.protected else ''} · {instance.name} · pattern {clean(plan.pattern)!r}"
        )
        print(
            f"  matches {plan.matched}{'+ (scan capped)' if plan.capped else ''} keys, "
            f"~{human_bytes(plan.estimated_bytes, 'unknown')}"
        )
        for key in plan.sample[:10]:
            print(f"  e.g. {clean(key, 120)}")
        if args.dry_run:
            print("dry-run: nothing deleted")
            return 0
        if plan.matched == 0:
            print("nothing to delete")
            return 0
        abort = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, abort.set)

        def progress(deleted: int, batches: int) -> None:
            print(f"\r  deleted {deleted}/{plan.matched} …", end="", file=sys.stderr, flush=True)

        if action.confirmation().level == "typed" and args.confirm is None:
            print(f"typed confirmation required: add --confirm {plan.pattern!r}", file=sys.stderr)
        result = await action.execute(write, given=args.confirm, yes=args.yes, abort=abort, progress=progress)
        print(file=sys.stderr)
        verb = "ABORTED after deleting" if result.aborted else "deleted"
        print(f"{verb} {result.deleted} keys in {result.seconds:.1f}s ({result.batches} batches)")
        return 130 if result.aborted else 0
    except ConsoleError as exc:
        return report_failure(exc)
    finally:
        await action.aclose()


async def queue_action(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from console.queue_actions import QueueAction, restore_backup

    if args.verb == "restore":
        rabbit = settings.env.rabbitmq
        if rabbit is None or not rabbit.amqp_url or not args.file:
            print("restore needs [env.NAME.rabbitmq] amqp_url and --file BACKUP", file=sys.stderr)
            return EXIT_REFUSED
        write = WriteMode()
        if not args.write:
            print("refused: read-only mode: add --write --reason …", file=sys.stderr)
            return EXIT_REFUSED
        write.enable(args.reason or "restore", settings.write_minutes)
        log = audit_log_for(settings)
        from console.audit import AuditRecord

        try:
            log.append(
                AuditRecord(
                    "queue-restore",
                    f"rabbitmq:{args.queue}",
                    settings.env.name,
                    "started",
                    parameters={"file": args.file},
                    reason=write.reason,
                )
            )
            restored = await restore_backup(rabbit.amqp_url, Path(args.file), args.queue)
        except (ActionRefused, ConsoleError, OSError) as exc:
            print(f"opsconsole act: {exc}", file=sys.stderr)
            return 1
        log.append(
            AuditRecord(
                "queue-restore",
                f"rabbitmq:{args.queue}",
                settings.env.name,
                "done",
                parameters={"file": args.file},
                counts={"restored": restored},
                reason=write.reason,
            )
        )
        print(f"restored {restored} messages to {args.queue}")
        return 0

    action = QueueAction(
        settings,
        args.verb,
        args.kind,
        args.queue,
        audit_log_for(settings),
        count=args.count,
        backup_dir=Path(args.backup_dir) if args.backup_dir else None,
    )
    write = WriteMode()
    try:
        if args.write and not args.dry_run:
            write.enable(args.reason, settings.write_minutes)
        plan = await action.dry_run()
        protected = " (PROTECTED)" if settings.env.protected else ""
        print(f"{settings.env.name}{protected} · {clean(plan.summary, 300)}")
        if args.dry_run:
            print("dry-run: nothing changed")
            return 0
        result = await action.execute(write, given=args.confirm, yes=args.yes)
        print("done: " + ", ".join(f"{k}={clean(v, 200)}" for k, v in result.items()))
        return 0
    except ConsoleError as exc:
        return report_failure(exc)


async def breaker_action(settings: Settings, args: argparse.Namespace) -> int:
    from console.breaker_actions import BreakerAction
    from console.breaker_source import BreakerSource

    if settings.env.breakers is None:
        print("opsconsole act: no [env.NAME.breakers] configured", file=sys.stderr)
        return EXIT_REFUSED
    source = BreakerSource(settings)
    try:
        snapshot = await source.poll()
    except ConsoleError as exc:
        return report_failure(exc)
    finally:
        await source.aclose()
    found = [
        b
        for b in snapshot.breakers
        if b.service == args.service
        and b.name == args.name
        and b.source != "prometheus"
        and (args.source is None or b.source == args.source)
    ]
    if len(found) != 1:
        known = ", ".join(sorted({f"{b.source}:{b.key}" for b in snapshot.breakers})) or "none"
        what = "no" if not found else "more than one (add --source)"
        print(
            f"opsconsole act: {what} breaker {clean(args.service)}/{clean(args.name)} (known: {clean(known, 300)})",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    action = BreakerAction(settings, found[0], args.verb, audit_log_for(settings), minutes=args.minutes)
    write = WriteMode()
    try:
        if args.write and not args.dry_run:
            write.enable(args.reason, settings.write_minutes)
        plan = action.dry_run()
        protected = " (PROTECTED)" if settings.env.protected else ""
        print(f"{settings.env.name}{protected} · {clean(plan.summary, 400)}")
        if args.dry_run:
            print("dry-run: nothing changed")
            return 0
        result = await action.execute(write, given=args.confirm, yes=args.yes)
        print("done: " + ", ".join(f"{k}={clean(v, 200)}" for k, v in result.items()))
        return 0
    except ConsoleError as exc:
        return report_failure(exc)
