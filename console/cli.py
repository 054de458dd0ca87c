"""`opsconsole` command line: the TUI, `config check`, `snapshot`, and the demo stack.

Textual is imported only on the TUI path, so `snapshot` and `config check` stay fast in runbooks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from console.errors import ActionRefused, ConfigError
from console.secrets import redact_url

if TYPE_CHECKING:
    from console.config import Settings

# The config schema, its checks and the client libraries load on the path that needs them: the TUI paints its
# first frame before any of it (see OpsConsoleApp._boot).

EXIT_CONFIG = 3  # Nagios UNKNOWN: we could not even look


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Subcommands accept the same options; SUPPRESS keeps them from erasing values given before the subcommand.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=default,
        help="TOML config (default: $OPSCONSOLE_CONFIG, then ~/.config/opsconsole/config.toml)",
    )
    parser.add_argument(
        "--env", "-e", metavar="NAME", default=default, help="environment to use (default: console.default_env)"
    )
    parser.add_argument(
        "--refresh", type=float, metavar="SECONDS", default=default, help="poll interval for every health target"
    )


def _tui_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write", action="store_true", default=argparse.SUPPRESS, help="start in write mode (needs --reason)"
    )
    parser.add_argument("--reason", default=argparse.SUPPRESS, help="why write mode is on (audit journal)")


# Every subcommand's name (a test holds this to build_parser's): a command line naming none opens the console.
SUBCOMMANDS = frozenset({"tui", "dlq", "config", "snapshot", "act", "audit", "demo", "record", "replay"})


class _NotOurs(Exception):
    """The console-only parser met something it should not judge: the full parser reads (and explains) it."""


class _ConsoleOnlyParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse reports some mistakes (an ambiguous abbreviation, say) through error() even with
        # exit_on_error off: never exit from here, with a usage line that lists no subcommands.
        raise _NotOurs(message)


def parse_tui_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The console's own command line (no subcommand, only the top-level options) without building every
    subcommand's parser first (~5 ms of start-up); None when argv is anything else, for the full parser
    to read (and to explain, if it is wrong)."""
    if any(token in SUBCOMMANDS or token.startswith(("-h", "--h")) for token in argv):
        return None
    parser = _ConsoleOnlyParser(prog="opsconsole", add_help=False, exit_on_error=False)
    _common(parser, top=True)
    _tui_options(parser)
    try:
        args, unknown = parser.parse_known_args(argv)
    except (argparse.ArgumentError, _NotOurs):
        return None
    if unknown:
        return None
    args.command = None
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsconsole",
        description="Terminal console for on-call triage: health, traffic, caches, queues, DLQs, breakers, MongoDB.",
        epilog="Run without a subcommand to open the console. Keys inside: ? for help, q to quit.",
    )
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the console (the default)")
    _common(tui)
    for parser_ in (parser, tui):
        _tui_options(parser_)

    from console.dlq_args import add_parser as add_dlq_parser

    add_dlq_parser(sub, _common)

    config = sub.add_parser("config", help="validate or show the configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="validate a config; every problem names file, key and expectation")
    _common(check)
    show = config_sub.add_parser("show", help="print the effective settings (secrets masked)")
    _common(show)

    snap = sub.add_parser(
        "snapshot",
        help="one collection round, printed; exit 0 ok, 1 warning, 2 critical, 3 unknown",
        description="Poll every source once and print the readings. Exit code follows the Nagios convention.",
    )
    _common(snap)
    snap.add_argument("--json", action="store_true", help="print the documented JSON document instead of text")

    act = sub.add_parser("act", help="run an action (read-only unless --write; dry-run first; audited)")
    act_sub = act.add_subparsers(dest="action", metavar="ACTION", required=True)
    inv = act_sub.add_parser(
        "cache-invalidate",
        help="delete the keys matching a pattern (SCAN + UNLINK in throttled batches; never KEYS or FLUSHDB)",
        description="Preview, then delete the keys matching --pattern. Without --write this is a dry-run. "
        "Above console confirm_above keys or on a protected environment --confirm must repeat the pattern; "
        "otherwise --yes confirms. Ctrl-C aborts between batches and reports exactly what was deleted.",
    )
    _common(inv)
    inv.add_argument("--pattern", required=True, help="glob pattern, e.g. 'user:*' ('*' alone is refused)")
    inv.add_argument("--instance", help="Redis instance name (default: the first one configured)")
    inv.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    inv.add_argument("--write", action="store_true", help="allow the change (needs --reason)")
    inv.add_argument("--reason", default="", help="why (goes to the audit journal)")
    inv.add_argument("--yes", action="store_true", help="confirm a small invalidation")
    inv.add_argument("--confirm", metavar="PATTERN", help="typed confirmation: repeat the pattern exactly")

    qa = act_sub.add_parser(
        "queue",
        help="BullMQ pause / resume / retry failed / clean completed; RabbitMQ purge (backup first)",
        description="Dry-run first; without --write nothing changes. Purges and more than 1000 jobs, or a "
        "protected environment, need --confirm QUEUE; otherwise --yes confirms.",
    )
    _common(qa)
    qa.add_argument("verb", choices=["pause", "resume", "retry", "clean", "purge", "restore"])
    qa.add_argument("--kind", choices=["bullmq", "rabbitmq"], required=True)
    qa.add_argument("--queue", required=True)
    qa.add_argument("--count", type=int, help="retry: at most N failed jobs (default: all)")
    qa.add_argument("--file", help="restore: the NDJSON backup a purge wrote")
    qa.add_argument(
        "--backup-dir", help="purge: folder for the NDJSON backup (default: ~/.local/state/opsconsole/backups)"
    )
    qa.add_argument("--dry-run", action="store_true", help="only show what would change")
    qa.add_argument("--write", action="store_true", help="allow the change (needs --reason)")
    qa.add_argument("--reason", default="", help="why (goes to the audit journal)")
    qa.add_argument("--yes", action="store_true", help="confirm a small action")
    qa.add_argument("--confirm", metavar="QUEUE", help="typed confirmation: repeat the queue name exactly")

    br = act_sub.add_parser(
        "breaker",
        help="circuit breaker: force-open (for --minutes), close, reset, disable",
        description="Dry-run first; without --write nothing changes. --yes confirms; on a protected environment "
        "--confirm must repeat the breaker name. A registry force-open expires in Redis by itself; resilience4j "
        "actuators have no timer, so a CLI force-open there stays until `act breaker close`.",
    )
    _common(br)
    br.add_argument("verb", choices=["force-open", "close", "reset", "disable"])
    br.add_argument("--service", required=True)
    br.add_argument("--name", required=True, help="the breaker's name")
    br.add_argument("--source", choices=["redis", "actuator"], help="when the same breaker is seen by several")
    br.add_argument("--minutes", type=float, help="force-open / disable: how long (force-open default: 10)")
    br.add_argument("--dry-run", action="store_true", help="only show what would change")
    br.add_argument("--write", action="store_true", help="allow the change (needs --reason)")
    br.add_argument("--reason", default="", help="why (goes to the audit journal)")
    br.add_argument("--yes", action="store_true", help="confirm")
    br.add_argument("--confirm", metavar="NAME", help="typed confirmation on a protected environment")

    audit = sub.add_parser(
        "audit",
        help="list the audit journal of actions, dry-runs and refusals",
        description="List the local audit journal, or with --shared the team's journal in MongoDB "
        '([env.NAME.mongo] audit = "database.collection"). Filters combine; --last applies after them.',
    )
    _common(audit)
    audit.add_argument("--last", type=int, default=20, metavar="N", help="show the last N records (default 20)")
    audit.add_argument("--action", help="only this action")
    audit.add_argument("--environment", metavar="NAME", help="only records of this environment")
    audit.add_argument("--outcome", help="only this outcome: dry-run, refused, started, done, aborted, failed")
    audit.add_argument("--target", metavar="SUBSTRING", help="only targets containing this (case-insensitive)")
    audit.add_argument(
        "--since", metavar="WHEN", help="only records since: a duration ago (30m, 1h, 2d) or an ISO time (UTC)"
    )
    audit.add_argument("--user", help="only this operator ($USER at the time)")
    audit.add_argument("--shared", action="store_true", help="read the shared MongoDB journal instead")
    audit.add_argument("--json", action="store_true", help="one JSON record per line")

    from console.demo.incidents import INCIDENTS

    demo = sub.add_parser("demo", help="the local demo stack (health endpoints of every format)")
    demo.add_argument(
        "--incident",
        choices=[*INCIDENTS, "clear"],
        help="start an incident on the running demo stack (" + ", ".join(INCIDENTS) + "), or clear them",
    )
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION")
    demo_sub.add_parser("serve", help="run the demo backend in the foreground")
    demo_sub.add_parser("up", help="start the demo backend in the background unless it runs already")
    demo_sub.add_parser("down", help="stop the background demo backend")
    ctl = demo_sub.add_parser("ctl", help="change a demo service: stop, start, degrade, fail, heal")
    ctl.add_argument("verb", choices=["stop", "start", "degrade", "fail", "heal", "list"])
    ctl.add_argument("service", nargs="?", help="service name (see `opsconsole demo ctl list`)")

    record = sub.add_parser("record", help="write every reading and action to a compressed recording (headless)")
    _common(record)
    record.add_argument("file", help="where to write (.jsonl.gz); never overwritten")
    record.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: ctrl+c)")
    replay = sub.add_parser("replay", help="play a recording in the console: pause, step, seek, speed")
    replay.add_argument("file", help="a recording written by `opsconsole record` or ctrl+r")
    replay.add_argument("--speed", type=float, default=1.0, help="playback speed (0.25 … 64, default 1)")
    replay.add_argument("--at", metavar="HH:MM:SS", help="start at this moment of the recording")
    replay.add_argument("--paused", action="store_true", help="open paused")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from console.config import load_settings
    from console.config_checks import secret_values
    from console.log_redaction import redact_logs

    settings = load_settings(args.config, args.env, refresh=args.refresh)
    redact_logs(secret_values(settings))  # libraries log URLs with their passwords (httpx at INFO)
    return settings


def _print_config_errors(error: ConfigError) -> None:
    print("opsconsole: invalid configuration:", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    origin = settings.path or "defaults and environment (no config file)"
    env = settings.env
    print(f"ok: {origin}")
    print(
        f"  environments: {', '.join(settings.environments)}; using {env.name!r}"
        + (" (protected)" if env.protected else "")
    )
    print(f"  health targets: {len(env.health)}; mongo: {'yes' if env.mongo else 'no'}")
    _print_warnings(settings)
    return 0


def _print_warnings(settings: Settings) -> None:
    """TLS opt-outs and a readable config file holding secrets: never silent (stderr, stdout stays data)."""
    from console.config_checks import config_warnings
    from console.sanitize import clean

    for warning in config_warnings(settings):
        print(f"opsconsole: warning: {clean(warning, 500)}", file=sys.stderr)


def cmd_config_show(args: argparse.Namespace) -> int:
    from console.config_checks import config_warnings

    settings = _settings(args)
    env = settings.env
    doc = {
        "path": str(settings.path) if settings.path else None,
        "environment": env.name,
        "label": env.label,
        "protected": env.protected,
        "refresh": settings.refresh,
        "timeout": settings.timeout,
        "health": [
            {
                "name": t.name,
                "probes": {k: redact_url(u) for k, u in t.probe_urls()},
                "interval": t.interval,
                "timeout": t.timeout,
                "headers": {k: "***" for k in t.headers},
            }
            for t in env.health
        ],
        "mongo": {"uri": redact_url(env.mongo.uri), "interval": env.mongo.interval} if env.mongo else None,
        "redis_url": redact_url(env.redis_url) if env.redis_url else None,
        "amqp_url": redact_url(env.amqp_url) if env.amqp_url else None,
        "prometheus_url": redact_url(env.prometheus_url) if env.prometheus_url else None,
        "dlq": _dlq_doc(settings),
        "breakers": _breakers_doc(settings),
        "warnings": config_warnings(settings),
    }
    print(json.dumps(doc, indent=2))
    return 0


def _dlq_doc(settings: Settings) -> dict[str, Any] | None:
    dlq = settings.dlq
    if dlq is None:
        return None
    return {
        "rabbitmq": list(dlq.rabbitmq),
        "discover": dlq.discover,
        "bullmq": dlq.bullmq,
        "redis": [
            {"key": r.key, "redis_url": redact_url(r.redis_url), "replay_to": r.replay_to, "target": r.target}
            for r in dlq.redis
        ],
        "replay_rate": dlq.replay_rate,
        "confirm_above": dlq.confirm_above,
    }


def _breakers_doc(settings: Settings) -> dict[str, Any] | None:
    breakers = settings.env.breakers
    if breakers is None:
        return None
    return {
        "redis_url": redact_url(breakers.redis_url) if breakers.redis_url else None,
        "prefix": breakers.prefix,
        "actuator": [
            {"service": a.service, "url": redact_url(a.url), "headers": {k: "***" for k, _ in a.headers}}
            for a in breakers.actuator
        ],
        "prometheus": breakers.prometheus,
        "force_minutes": breakers.force_minutes,
    }


def cmd_snapshot(args: argparse.Namespace) -> int:
    from console.snapshot import render_text, run_snapshot

    settings = _settings(args)
    _print_warnings(settings)
    document = asyncio.run(run_snapshot(settings))
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=True))
    else:
        print(render_text(document))
    return int(document["exit_code"])


def cmd_tui(args: argparse.Namespace) -> int:
    from console.app import OpsConsoleApp

    write = getattr(args, "write", False)
    if write:
        from console.safety import WriteMode

        WriteMode().enable(getattr(args, "reason", ""), 1)  # no reason: refused before the screen opens

    def sources():  # type: ignore[no-untyped-def]
        from console.sources import build_sources

        return build_sources(app.settings)

    # The config is read after the first frame (a broken one ends the app at once, reported below).
    app = OpsConsoleApp(
        None, settings_loader=lambda: _settings(args), source_factory=sources, write_reason=args.reason if write else ""
    )
    app.run()
    if app.boot_error is not None:
        raise app.boot_error
    return app.return_code or 0


def cmd_act(args: argparse.Namespace) -> int:
    from console.act_cli import cache_invalidate, queue_action

    if args.action == "queue":
        return asyncio.run(queue_action(_settings(args), args))
    if args.action == "breaker":
        from console.act_cli import breaker_action

        return asyncio.run(breaker_action(_settings(args), args))
    return asyncio.run(cache_invalidate(_settings(args), args))


def cmd_audit(args: argparse.Namespace) -> int:
    from console.audit import AuditError, AuditFilter, AuditLog, parse_since, spool_path
    from console.sanitize import clean

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"opsconsole audit: --since: {exc}", file=sys.stderr)
        return 2
    where = AuditFilter(
        action=args.action,
        environment=args.environment,
        outcome=args.outcome,
        target=args.target,
        since=since,
        user=args.user,
    )
    settings = _settings(args)
    mongo = settings.env.mongo
    if args.shared:
        if mongo is None or not mongo.audit:
            print(
                f"opsconsole: no shared journal for environment {settings.env.name!r} "
                f'(set audit = "database.collection" in [env.{settings.env.name}.mongo])',
                file=sys.stderr,
            )
            return 1
        from console.audit_mongo import read_shared

        try:
            records = read_shared(mongo, where, args.last)
        except AuditError as exc:
            print(f"opsconsole: {exc}", file=sys.stderr)
            return 1
    else:
        log = AuditLog(settings.audit_log)
        records = [r for r in log.records() if where.matches(r)][-args.last :]
    for record in records:
        if args.json:
            print(json.dumps(record, sort_keys=True, ensure_ascii=True, default=str))
            continue
        who = record.get("who")
        who = who if isinstance(who, dict) else {}
        counts = record.get("counts")
        counts = counts if isinstance(counts, dict) else {}
        line = (
            f"{str(record.get('at', '?'))[:19]} {who.get('user', '?')}@{who.get('ssh_client') or who.get('host', '?')} "
            f"{record.get('environment')} {record.get('action')} {record.get('target')} {record.get('outcome')} "
            + " ".join(f"{k}={v}" for k, v in counts.items())
            + f" {record.get('reason') or ''} {record.get('detail') or ''}"
        )
        print(clean(" ".join(line.split()), 2000))  # journal text is untrusted: no escape sequences reach the tty
    if not records and not args.json:
        print("no audit records", file=sys.stderr)
    if not args.shared and mongo is not None and mongo.audit:
        try:
            with spool_path(log.path).open("rb") as spool:
                waiting = sum(1 for line in spool if line.strip())
        except OSError:
            waiting = 0
        if waiting:
            print(
                f"opsconsole: {waiting} record(s) not yet in the shared journal (MongoDB {mongo.audit}); "
                "they are sent when a console next starts",
                file=sys.stderr,
            )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from console.demo import control

    if not args.demo_command and not args.incident:
        print("opsconsole demo: name an action (serve, up, down, ctl) or --incident NAME", file=sys.stderr)
        return 2
    return control.main(args.demo_command, getattr(args, "verb", None), getattr(args, "service", None), args.incident)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = parse_tui_args(argv) or build_parser().parse_args(argv)
    try:
        if args.command == "config":
            return cmd_config_check(args) if args.config_command == "check" else cmd_config_show(args)
        if args.command == "snapshot":
            return cmd_snapshot(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "act":
            return cmd_act(args)
        if args.command == "audit":
            return cmd_audit(args)
        if args.command == "record":
            from console.record_cli import record

            return record(_settings(args), args.file, args.duration)
        if args.command == "replay":
            from console.record_cli import replay

            return replay(args.file, args.speed, args.at, args.paused)
        if args.command == "dlq":
            from console.dlq_cli import run as run_dlq

            return asyncio.run(run_dlq(_settings(args), args))
        return cmd_tui(args)
    except ActionRefused as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        _print_config_errors(error)
        return EXIT_CONFIG if args.command == "snapshot" else 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence: a report with credentials masked
        from console.crash import report_crash

        return report_crash(error, _known_secrets(args))


def _known_secrets(args: argparse.Namespace) -> tuple[str, ...]:
    """The configured credentials, to mask in a crash report (none if the config cannot even be read)."""
    from console.config_checks import secret_values

    try:
        return secret_values(_settings(args))
    except Exception:  # noqa: BLE001 - crashing while reporting a crash helps nobody
        return ()


if __name__ == "__main__":
    sys.exit(main())
