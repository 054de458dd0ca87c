"""`[env.NAME.dlq]`: which dead-letter queues the DLQ pane watches and how hard actions may push.

RabbitMQ DLQs are named here or discovered from queues whose arguments carry `x-dead-letter-exchange`;
BullMQ failed sets come from `[env.NAME.bullmq]`; Redis list DLQs hold seed-style JSON events
(eventId, event, payload, error, failedAt, retryCount, traceId) and replay to a channel or list named
from the event's own fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.config import _Checker

REPLAY_TO = ("channel", "list")
_DLQ_KEYS = {
    "rabbitmq",
    "discover",
    "bullmq",
    "redis",
    "sample",
    "sample_every",
    "replay_rate",
    "confirm_above",
    "interval",
    "timeout",
}
_REDIS_DLQ_KEYS = {"key", "redis_url", "replay_to", "target", "strip"}


@dataclass(frozen=True)
class RedisDlqConfig:
    key: str
    redis_url: str
    replay_to: str = "channel"  # channel: PUBLISH; list: LPUSH
    target: str = "{event}"  # channel / list name, formatted with the event's fields
    strip: tuple[str, ...] = ("error", "failedAt")  # fields the bus added when it dead-lettered the event


@dataclass(frozen=True)
class DlqConfig:
    rabbitmq: tuple[str, ...] = ()  # named DLQs, besides the discovered ones
    discover: bool = True  # queues whose arguments name an x-dead-letter-exchange lead to their DLQs
    bullmq: bool = True  # failed sets of the [env.NAME.bullmq] queues
    redis: tuple[RedisDlqConfig, ...] = ()
    sample: int = 100  # messages read per DLQ for the origin / reason breakdown
    sample_every: float = 30.0  # RabbitMQ peeks requeue: not every poll
    replay_rate: float = 200.0  # messages per second
    confirm_above: int = 10  # more messages than this: type the queue name or the count
    interval: float = 5.0
    timeout: float = 5.0


def parse_dlq(check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]) -> DlqConfig | None:
    if "dlq" not in env:
        return None
    key = f"{prefix}.dlq"
    table = check.table(env["dlq"], key)
    check.known(table, key, _DLQ_KEYS)
    names = table.get("rabbitmq", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        check.fail(f"{key}.rabbitmq", "expected an array of queue names")
        names = []
    redis = []
    raw_redis = table.get("redis", [])
    if not isinstance(raw_redis, list):
        check.fail(f"{key}.redis", "expected an array of tables ([[env.NAME.dlq.redis]])")
        raw_redis = []
    for index, item in enumerate(raw_redis):
        item_key = f"{key}.redis[{index}]"
        if not isinstance(item, dict):
            check.fail(item_key, "expected a table")
            continue
        check.known(item, item_key, _REDIS_DLQ_KEYS)
        list_key = check.string(item, "key", item_key, required=True)
        url = check.url(item, "redis_url", item_key, ("redis", "rediss", "unix")) or env.get("redis_url")
        if not url:
            check.fail(f"{item_key}.redis_url", "is required (or set redis_url for the environment)")
        replay_to = check.string(item, "replay_to", item_key) or "channel"
        if replay_to not in REPLAY_TO:
            check.fail(f"{item_key}.replay_to", f"expected one of {', '.join(REPLAY_TO)}, got {replay_to!r}")
        strip = item.get("strip", ["error", "failedAt"])
        if not isinstance(strip, list) or not all(isinstance(s, str) for s in strip):
            check.fail(f"{item_key}.strip", "expected an array of field names")
            strip = []
        if list_key and url:
            redis.append(
                RedisDlqConfig(
                    key=list_key,
                    redis_url=url,
                    replay_to=replay_to,
                    target=check.string(item, "target", item_key) or "{event}",
                    strip=tuple(strip),
                )
            )
    sample = table.get("sample", 100)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= 10_000:
        check.fail(f"{key}.sample", "expected a whole number from 1 to 10000")
        sample = 100
    confirm_above = table.get("confirm_above", 10)
    if isinstance(confirm_above, bool) or not isinstance(confirm_above, int) or confirm_above < 0:
        check.fail(f"{key}.confirm_above", "expected a whole number >= 0")
        confirm_above = 10
    return DlqConfig(
        rabbitmq=tuple(names),
        discover=check.boolean(table, "discover", key, True),
        bullmq=check.boolean(table, "bullmq", key, True),
        redis=tuple(redis),
        sample=sample,
        sample_every=check.number(table, "sample_every", key, 30.0, minimum=1),
        replay_rate=check.number(table, "replay_rate", key, 200.0, minimum=1),
        confirm_above=confirm_above,
        interval=check.number(table, "interval", key, max(options["refresh"], 5.0), minimum=0.2),
        timeout=check.number(table, "timeout", key, max(options["timeout"], 5.0)),
    )
