"""The `opsconsole dlq` argument parser, apart from the commands so building the CLI imports no client library."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any, common: Any) -> None:
    dlq = sub.add_parser(
        "dlq",
        help="dead-letter queues: list, browse, show, replay, move, export, purge, restore",
        description="DLQ is KIND:NAME (rabbitmq:orders.dlq, bullmq:emails, redis:events:dlq) or a bare name. "
        "Changes need --write --reason; the dry-run (--dry-run) lists every letter and where it would go.",
    )
    verbs = dlq.add_subparsers(dest="dlq_command", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="every DLQ: count, inflow, oldest, top origin and reason")
    common(listing)
    listing.add_argument("--json", action="store_true")
    for verb, text in (
        ("browse", "letters newest first (RabbitMQ: a bounded peek that requeues)"),
        ("show", "one letter in full"),
        ("replay", "send letters back to their origin (x-death exchange + key, BullMQ retry, event channel)"),
        ("move", "send letters to another queue or list"),
        ("export", "write letters to an NDJSON file (nothing changes)"),
        ("purge", "empty the DLQ after writing an NDJSON backup"),
    ):
        parser = verbs.add_parser(verb, help=text)
        common(parser)
        parser.add_argument("dlq", metavar="DLQ")
        if verb == "show":
            parser.add_argument("ref", metavar="ID", help="message id / job id / eventId")
            continue
        parser.add_argument(
            "--filter", default="", metavar="TEXT", help="letters whose id/origin/reason/body contain this"
        )
        parser.add_argument("--origin", default="", help="only letters from this origin")
        parser.add_argument("--reason-is", dest="reason_is", default="", metavar="REASON", help="only this reason")
        if verb == "browse":
            parser.add_argument("--offset", type=int, default=0)
            parser.add_argument("--limit", type=int, default=20)
            parser.add_argument("--json", action="store_true")
            continue
        if verb != "purge":
            parser.add_argument("--ids", default="", help="comma-separated ids (refs) to take")
            parser.add_argument("--max", type=int, dest="max_count", help="take at most N letters")
        if verb == "move":
            parser.add_argument("--to", required=True, metavar="TARGET", help="queue (RabbitMQ/BullMQ) or list (Redis)")
        if verb in ("replay", "move"):
            parser.add_argument("--rate", type=float, help="letters per second (default: dlq.replay_rate)")
        if verb in ("export", "purge"):
            parser.add_argument("--out", metavar="FILE", help="NDJSON file (default: under ~/.local/state/opsconsole)")
        parser.add_argument("--dry-run", action="store_true", help="only show which letters would go where")
        parser.add_argument("--write", action="store_true", help="allow the change (needs --reason)")
        parser.add_argument("--reason", default="", help="why (goes to the audit journal)")
        parser.add_argument("--yes", action="store_true", help="confirm a small action")
        parser.add_argument("--confirm", metavar="NAME|COUNT", help="typed confirmation: the DLQ name or the count")
    restore = verbs.add_parser("restore", help="put a purge backup (or an export) back exactly")
    common(restore)
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--dlq", help="KIND:NAME to restore into (default: the one the file names)")
    restore.add_argument("--write", action="store_true")
    restore.add_argument("--reason", default="")
