"""Settings, layered: defaults → TOML file → environment variables → command line.

Every validation problem names the file, the key and what was expected, and all problems are
reported at once so a broken config is fixed in one pass.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.config_breakers import BreakersConfig, parse_breakers
from console.config_dlq import DlqConfig, parse_dlq
from console.errors import ConfigError

DEFAULT_REFRESH = 2.0
DEFAULT_TIMEOUT = 3.0
ENV_URL_VARIABLES = {
    "REDIS_URL": "redis_url",
    "AMQP_URL": "amqp_url",
    "MONGO_URI": "mongo_uri",
    "PROMETHEUS_URL": "prometheus_url",
}


@dataclass(frozen=True)
class HealthTargetConfig:
    name: str
    url: str | None = None
    liveness: str | None = None
    readiness: str | None = None
    interval: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT
    headers: Mapping[str, str] = field(default_factory=dict)
    verify_tls: bool = True

    def probe_urls(self) -> list[tuple[str, str]]:
        pairs = [("health", self.url), ("liveness", self.liveness), ("readiness", self.readiness)]
        return [(kind, url) for kind, url in pairs if url]


@dataclass(frozen=True)
class MongoConfig:
    uri: str
    name: str = "mongo"
    interval: float = 5.0
    timeout: float = DEFAULT_TIMEOUT
    audit: str = ""  # "database.collection": the team's shared audit journal ("" = local journal only)


@dataclass(frozen=True)
class PrometheusConfig:
    """Where Prometheus is and how to authenticate (basic auth may also sit in the URL)."""

    url: str
    token: str | None = None  # bearer token
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    verify_tls: bool = True
    timeout: float = DEFAULT_TIMEOUT


DEFAULT_QUERIES = {
    # {by}: grouping labels, {window}: rate window, {q}: quantile, {requests}/{duration}: metric names,
    # {status}: the status-code label. Aggregation happens in Prometheus, so a tick costs the same few
    # queries whatever the fleet size.
    "rate": "sum by ({by}) (rate({requests}[{window}]))",
    "errors": 'sum by ({by}) (rate({requests}{{{status}=~"5.."}}[{window}]))',
    "quantile": "histogram_quantile({q}, sum by ({by}, le) (rate({duration}_bucket[{window}])))",
}


@dataclass(frozen=True)
class ScrapeTarget:
    name: str
    url: str


@dataclass(frozen=True)
class TrafficConfig:
    interval: float = 5.0
    window: str = "1m"
    history_minutes: float = 15.0
    service_label: str = "job"
    route_label: str = "route"
    status_label: str = "status_code"
    requests_metric: str = "http_requests_total"
    duration_metric: str = "http_request_duration_seconds"
    queries: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_QUERIES))
    p95_warn_ms: float = 200.0
    p95_crit_ms: float = 1000.0
    error_warn: float = 0.01
    error_crit: float = 0.05
    # Direct /metrics scrape when there is no Prometheus.
    scrape: tuple[ScrapeTarget, ...] = ()


@dataclass(frozen=True)
class FleetConfig:
    """Health targets judged by Prometheus: one row per series of `query`."""

    name: str
    query: str = "up"
    labels: tuple[str, ...] = ("job", "instance")  # what names a row
    interval: float = 10.0


@dataclass(frozen=True)
class RedisConfig:
    name: str
    url: str
    interval: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT
    verify_tls: bool = True


@dataclass(frozen=True)
class CacheConfig:
    hit_warn: float = 0.80  # the seeds' target: hit ratio above 80 %
    memory_warn: float = 0.90  # used / maxmemory
    stats_key: str = "opsconsole:cache:stats"
    confirm_above: int = 1000  # more keys than this: type the pattern to confirm
    scan_cap: int = 100_000
    batch: int = 500
    pause_ms: float = 5.0


@dataclass(frozen=True)
class RabbitConfig:
    management_url: str | None = None  # http(s)://user:pass@host:15672
    amqp_url: str | None = None  # fallback: passive declares of `queues`
    vhost: str = "/"
    queues: tuple[str, ...] = ()
    interval: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT
    verify_tls: bool = True


@dataclass(frozen=True)
class BullConfig:
    redis_url: str
    prefix: str = "bull"
    queues: tuple[str, ...] = ()  # empty: discovered from bull:*:meta
    interval: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class ListQueuesConfig:
    redis_url: str
    keys: tuple[str, ...] = ()
    pattern: str = ""
    interval: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Environment:
    name: str
    label: str = ""
    protected: bool = False
    health: tuple[HealthTargetConfig, ...] = ()
    mongo: MongoConfig | None = None
    redis_url: str | None = None
    amqp_url: str | None = None
    prometheus_url: str | None = None
    prometheus: PrometheusConfig | None = None
    traffic: TrafficConfig | None = None
    fleet: tuple[FleetConfig, ...] = ()
    redis: tuple[RedisConfig, ...] = ()
    cache: CacheConfig = field(default_factory=CacheConfig)
    rabbitmq: RabbitConfig | None = None
    bullmq: BullConfig | None = None
    lists: ListQueuesConfig | None = None
    dlq: DlqConfig | None = None
    breakers: BreakersConfig | None = None
    # The demo stack's control endpoint: its incidents show up in the command palette.
    demo_control: str | None = None


@dataclass(frozen=True)
class Settings:
    env: Environment
    environments: tuple[str, ...]
    refresh: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT
    history: int = 30
    path: Path | None = None
    audit_log: Path | None = None  # default: $XDG_STATE_HOME/opsconsole/audit.jsonl
    write_minutes: float = 15.0

    @property
    def env_name(self) -> str:
        return self.env.name

    @property
    def redis_instances(self) -> tuple[RedisConfig, ...]:
        """[[env.NAME.redis]] instances plus the redis_url shorthand (named "redis")."""
        instances = self.env.redis
        if self.env.redis_url and not any(r.url == self.env.redis_url for r in instances):
            instances = (
                RedisConfig(name="redis", url=self.env.redis_url, interval=self.refresh, timeout=self.timeout),
            ) + instances
        return instances

    @property
    def traffic(self) -> TrafficConfig | None:
        """Traffic is on when Prometheus is configured or there are /metrics targets to scrape."""
        if self.env.traffic is not None:
            return self.env.traffic
        return TrafficConfig(interval=max(self.refresh, 5.0)) if self.env.prometheus is not None else None

    @property
    def dlq(self) -> DlqConfig | None:
        """DLQs are watched when configured, or by default wherever RabbitMQ or BullMQ is."""
        if self.env.dlq is not None:
            return self.env.dlq
        if (self.env.rabbitmq is not None and self.env.rabbitmq.management_url) or self.env.bullmq is not None:
            return DlqConfig()
        return None


def default_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "opsconsole" / "config.toml"


def resolve_config_path(cli_path: str | None, environ: Mapping[str, str]) -> Path | None:
    """--config beats $OPSCONSOLE_CONFIG beats the XDG default (used only when it exists)."""
    if cli_path:
        return Path(cli_path)
    if environ.get("OPSCONSOLE_CONFIG"):
        return Path(environ["OPSCONSOLE_CONFIG"])
    default = default_config_path(environ)
    return default if default.exists() else None


class _Checker:
    """Collects problems as 'file: key: message' so all of them are reported together."""

    def __init__(self, origin: str):
        self.origin = origin
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.origin}: {key}: {message}")

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_kind(value)}")
            return {}
        return value

    def known(self, table: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                self.fail(
                    f"{key}.{name}" if key else name, f"unknown key (expected one of: {', '.join(sorted(allowed))})"
                )

    def number(self, table: Mapping[str, Any], key: str, prefix: str, default: float, minimum: float = 0.05) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{prefix}.{key}", f"expected a number of seconds, got {_kind(value)}")
            return default
        if not math.isfinite(value) or value < minimum:
            self.fail(f"{prefix}.{key}", f"expected a number >= {minimum}, got {value}")
            return default
        return float(value)

    def string(self, table: Mapping[str, Any], key: str, prefix: str, required: bool = False) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(f"{prefix}.{key}", "is required (expected a string)")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{prefix}.{key}", f"expected a non-empty string, got {_kind(value)}")
            return None
        return value

    def url(
        self, table: Mapping[str, Any], key: str, prefix: str, schemes: tuple[str, ...], required: bool = False
    ) -> str | None:
        value = self.string(table, key, prefix, required)
        if value is None:
            return None
        problem = url_problem(value, schemes)
        if problem:
            self.fail(f"{prefix}.{key}", problem)
            return None
        return value

    def boolean(self, table: Mapping[str, Any], key: str, prefix: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{prefix}.{key}", f"expected true or false, got {_kind(value)}")
            return default
        return value


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"string {value[:40]!r}" if "://" not in value else "a string"
    return {dict: "a table", list: "an array", bool: "a boolean"}.get(type(value), type(value).__name__)


def url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why `value` is not a usable URL of one of `schemes` (None when it is)."""
    try:
        parts = urlsplit(value)
        if parts.scheme.startswith("mongodb"):
            # A replica-set URI lists several hosts: mongodb://u:p@h1:27017,h2:27017/?replicaSet=rs0
            for host in parts.netloc.rpartition("@")[2].split(","):
                urlsplit("//" + host).port  # noqa: B018 - raises ValueError on a bad port
        else:
            parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"expected a URL, got an invalid one ({exc})"
    if parts.scheme not in schemes:
        return f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got scheme {parts.scheme!r}"
    if parts.scheme == "unix":
        return None if parts.path else "expected a socket path, e.g. unix:///run/redis.sock"
    if not parts.hostname and not parts.netloc:
        return "expected a URL with a host"
    return None


_TOP_KEYS = {"console", "env"}
_CONSOLE_KEYS = {"default_env", "refresh", "timeout", "history", "audit_log", "write_minutes"}
_REDIS_KEYS = {"name", "url", "interval", "timeout", "verify_tls"}
_CACHE_KEYS = {"hit_warn", "memory_warn", "stats_key", "confirm_above", "scan_cap", "batch", "pause_ms"}
_ENV_KEYS = {
    "label",
    "protected",
    "health",
    "mongo",
    "redis_url",
    "amqp_url",
    "prometheus_url",
    "prometheus",
    "traffic",
    "fleet",
    "redis",
    "cache",
    "rabbitmq",
    "bullmq",
    "lists",
    "dlq",
    "breakers",
    "demo_control",
}
_FLEET_KEYS = {"name", "query", "labels", "interval"}
_PROMETHEUS_KEYS = {"url", "token", "username", "password", "ca_file", "verify_tls", "timeout"}
_TRAFFIC_KEYS = {
    "interval",
    "window",
    "history_minutes",
    "service_label",
    "route_label",
    "status_label",
    "requests_metric",
    "duration_metric",
    "queries",
    "p95_warn_ms",
    "p95_crit_ms",
    "error_warn",
    "error_crit",
    "scrape",
}
_HEALTH_KEYS = {"name", "url", "liveness", "readiness", "interval", "timeout", "headers", "verify_tls"}
_MONGO_KEYS = {"uri", "name", "interval", "timeout", "audit"}
HTTP = ("http", "https")


def parse_config(data: Mapping[str, Any], origin: str) -> tuple[dict[str, Any], dict[str, Environment]]:
    """Validate a parsed TOML document; returns console options and environments, or raises ConfigError."""
    check = _Checker(origin)
    check.known(data, "", _TOP_KEYS)
    console = check.table(data.get("console", {}), "console")
    check.known(console, "console", _CONSOLE_KEYS)
    options: dict[str, Any] = {
        "refresh": check.number(console, "refresh", "console", DEFAULT_REFRESH, minimum=0.2),
        "timeout": check.number(console, "timeout", "console", DEFAULT_TIMEOUT),
        "default_env": check.string(console, "default_env", "console"),
    }
    history = console.get("history", 30)
    if isinstance(history, bool) or not isinstance(history, int) or not 2 <= history <= 1000:
        check.fail("console.history", f"expected a whole number from 2 to 1000, got {_kind(history)}")
        history = 30
    options["history"] = history
    audit_log = check.string(console, "audit_log", "console")
    options["audit_log"] = Path(audit_log).expanduser() if audit_log else None
    options["write_minutes"] = check.number(console, "write_minutes", "console", 15.0, minimum=1)

    environments: dict[str, Environment] = {}
    for env_name, raw_env in check.table(data.get("env", {}), "env").items():
        environments[env_name] = _parse_env(check, env_name, raw_env, options)
    if options["default_env"] and environments and options["default_env"] not in environments:
        check.fail(
            "console.default_env", f"names environment {options['default_env']!r}, which is not defined under [env]"
        )
    if check.problems:
        raise ConfigError(check.problems)
    return options, environments


def _parse_env(check: _Checker, env_name: str, raw: Any, options: Mapping[str, Any]) -> Environment:
    prefix = f"env.{env_name}"
    table = check.table(raw, prefix)
    check.known(table, prefix, _ENV_KEYS)
    health_raw = table.get("health", [])
    targets: list[HealthTargetConfig] = []
    if not isinstance(health_raw, list):
        check.fail(f"{prefix}.health", "expected an array of tables ([[env.NAME.health]])")
        health_raw = []
    seen: set[str] = set()
    for index, item in enumerate(health_raw):
        key = f"{prefix}.health[{index}]"
        if not isinstance(item, dict):
            check.fail(key, f"expected a table, got {_kind(item)}")
            continue
        entry = item
        check.known(entry, key, _HEALTH_KEYS)
        name = check.string(entry, "name", key, required=True) or f"target-{index}"
        if name in seen:
            check.fail(f"{key}.name", f"duplicate target name {name!r}")
        seen.add(name)
        urls = {k: check.url(entry, k, key, HTTP) for k in ("url", "liveness", "readiness")}
        if not any(k in entry for k in ("url", "liveness", "readiness")):
            check.fail(key, "needs at least one of url, liveness, readiness")
        headers = entry.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            check.fail(f"{key}.headers", "expected a table of string values")
            headers = {}
        targets.append(
            HealthTargetConfig(
                name=name,
                url=urls["url"],
                liveness=urls["liveness"],
                readiness=urls["readiness"],
                interval=check.number(entry, "interval", key, options["refresh"], minimum=0.2),
                timeout=check.number(entry, "timeout", key, options["timeout"]),
                headers=dict(headers),
                verify_tls=check.boolean(entry, "verify_tls", key, True),
            )
        )
    mongo = None
    if "mongo" in table:
        mkey = f"{prefix}.mongo"
        mtable = check.table(table["mongo"], mkey)
        check.known(mtable, mkey, _MONGO_KEYS)
        uri = check.url(mtable, "uri", mkey, ("mongodb", "mongodb+srv"), required=True)
        if uri:
            mongo = MongoConfig(
                uri=uri,
                name=check.string(mtable, "name", mkey) or "mongo",
                interval=check.number(mtable, "interval", mkey, max(options["refresh"], 5.0), minimum=0.2),
                timeout=check.number(mtable, "timeout", mkey, options["timeout"]),
                audit=_audit_collection(check, mtable, mkey),
            )
    label = table.get("label", env_name)
    if not isinstance(label, str):
        check.fail(f"{prefix}.label", f"expected a string, got {_kind(label)}")
        label = env_name
    return Environment(
        name=env_name,
        label=label,
        protected=check.boolean(table, "protected", prefix, False),
        health=tuple(targets),
        mongo=mongo,
        redis_url=check.url(table, "redis_url", prefix, ("redis", "rediss", "unix")),
        amqp_url=check.url(table, "amqp_url", prefix, ("amqp", "amqps")),
        prometheus_url=check.url(table, "prometheus_url", prefix, HTTP),
        prometheus=_parse_prometheus(check, prefix, table, options),
        traffic=_parse_traffic(check, prefix, table, options),
        fleet=_parse_fleet(check, prefix, table, options),
        redis=_parse_redis(check, prefix, table, options),
        cache=_parse_cache(check, prefix, table),
        **_parse_queues(check, prefix, table, options),
        dlq=parse_dlq(check, prefix, table, options),
        breakers=parse_breakers(check, prefix, table, options),
        demo_control=check.url(table, "demo_control", prefix, HTTP),
    )


def _audit_collection(check: _Checker, table: Mapping[str, Any], key: str) -> str:
    value = check.string(table, "audit", key) or ""
    if value and (value.count(".") < 1 or value.startswith(".") or value.endswith(".")):
        check.fail(f"{key}.audit", f'expected "database.collection", got {value!r}')
        return ""
    return value


def _names(check: _Checker, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get("queues", table.get("keys", []))
    field_name = "queues" if "queues" in table else "keys"
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        check.fail(f"{key}.{field_name}", "expected an array of names")
        return ()
    return tuple(value)


def _parse_queues(check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    redis_schemes = ("redis", "rediss", "unix")
    if "rabbitmq" in env:
        key = f"{prefix}.rabbitmq"
        table = check.table(env["rabbitmq"], key)
        check.known(table, key, {"management_url", "amqp_url", "vhost", "queues", "interval", "timeout", "verify_tls"})
        management = check.url(table, "management_url", key, HTTP)
        amqp = check.url(table, "amqp_url", key, ("amqp", "amqps"))
        result["rabbitmq"] = RabbitConfig(
            management_url=management,
            amqp_url=amqp,
            vhost=check.string(table, "vhost", key) or "/",
            queues=_names(check, table, key),
            interval=check.number(table, "interval", key, options["refresh"], minimum=0.2),
            timeout=check.number(table, "timeout", key, options["timeout"]),
            verify_tls=check.boolean(table, "verify_tls", key, True),
        )
    for name in ("bullmq", "lists"):
        if name not in env:
            continue
        key = f"{prefix}.{name}"
        table = check.table(env[name], key)
        allowed = {"redis_url", "interval", "timeout"} | (
            {"prefix", "queues"} if name == "bullmq" else {"keys", "pattern"}
        )
        check.known(table, key, allowed)
        url = check.url(table, "redis_url", key, redis_schemes) or env.get("redis_url")
        if not url:
            check.fail(f"{key}.redis_url", "is required (or set redis_url for the environment)")
            continue
        common: dict[str, Any] = {
            "redis_url": url,
            "interval": check.number(table, "interval", key, options["refresh"], minimum=0.2),
            "timeout": check.number(table, "timeout", key, options["timeout"]),
        }
        if name == "bullmq":
            result[name] = BullConfig(
                prefix=check.string(table, "prefix", key) or "bull", queues=_names(check, table, key), **common
            )
        else:
            result[name] = ListQueuesConfig(
                keys=_names(check, table, key), pattern=check.string(table, "pattern", key) or "", **common
            )
    return result


def _parse_redis(
    check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[RedisConfig, ...]:
    raw = env.get("redis", [])
    if not isinstance(raw, list):
        check.fail(f"{prefix}.redis", "expected an array of tables ([[env.NAME.redis]])")
        return ()
    result, seen = [], set()
    for index, item in enumerate(raw):
        key = f"{prefix}.redis[{index}]"
        if not isinstance(item, dict):
            check.fail(key, f"expected a table, got {_kind(item)}")
            continue
        check.known(item, key, _REDIS_KEYS)
        name = check.string(item, "name", key) or f"redis-{index}"
        if name in seen:
            check.fail(f"{key}.name", f"duplicate instance name {name!r}")
        seen.add(name)
        url = check.url(item, "url", key, ("redis", "rediss", "unix"), required=True)
        if url:
            result.append(
                RedisConfig(
                    name=name,
                    url=url,
                    interval=check.number(item, "interval", key, options["refresh"], minimum=0.2),
                    timeout=check.number(item, "timeout", key, options["timeout"]),
                    verify_tls=check.boolean(item, "verify_tls", key, True),
                )
            )
    return tuple(result)


def _parse_cache(check: _Checker, prefix: str, env: Mapping[str, Any]) -> CacheConfig:
    key = f"{prefix}.cache"
    table = check.table(env.get("cache", {}), key)
    check.known(table, key, _CACHE_KEYS)
    defaults = CacheConfig()
    whole = {}
    for name in ("confirm_above", "scan_cap", "batch"):
        value = table.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            check.fail(f"{key}.{name}", f"expected a whole number >= 1, got {_kind(value)}")
            value = getattr(defaults, name)
        whole[name] = value
    return CacheConfig(
        hit_warn=check.number(table, "hit_warn", key, defaults.hit_warn, minimum=0),
        memory_warn=check.number(table, "memory_warn", key, defaults.memory_warn, minimum=0),
        stats_key=check.string(table, "stats_key", key) or defaults.stats_key,
        pause_ms=check.number(table, "pause_ms", key, defaults.pause_ms, minimum=0),
        **whole,
    )


def _parse_fleet(
    check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[FleetConfig, ...]:
    raw = env.get("fleet", [])
    if not isinstance(raw, list):
        check.fail(f"{prefix}.fleet", "expected an array of tables ([[env.NAME.fleet]])")
        return ()
    if raw and "prometheus" not in env and "prometheus_url" not in env:
        check.fail(f"{prefix}.fleet", "needs Prometheus: set prometheus_url or [env.NAME.prometheus]")
    result = []
    for index, item in enumerate(raw):
        key = f"{prefix}.fleet[{index}]"
        if not isinstance(item, dict):
            check.fail(key, f"expected a table, got {_kind(item)}")
            continue
        check.known(item, key, _FLEET_KEYS)
        labels = item.get("labels", ["job", "instance"])
        if not isinstance(labels, list) or not labels or not all(isinstance(v, str) and v for v in labels):
            check.fail(f"{key}.labels", "expected a non-empty array of label names")
            labels = ["job", "instance"]
        result.append(
            FleetConfig(
                name=check.string(item, "name", key, required=True) or f"fleet-{index}",
                query=check.string(item, "query", key) or "up",
                labels=tuple(labels),
                interval=check.number(item, "interval", key, max(options["refresh"], 10.0), minimum=0.2),
            )
        )
    return tuple(result)


def _parse_prometheus(
    check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]
) -> PrometheusConfig | None:
    if "prometheus" not in env:
        url = env.get("prometheus_url")
        return PrometheusConfig(url=url, timeout=options["timeout"]) if isinstance(url, str) and url else None
    key = f"{prefix}.prometheus"
    table = check.table(env["prometheus"], key)
    check.known(table, key, _PROMETHEUS_KEYS)
    url = check.url(table, "url", key, HTTP, required=True)
    ca_file = check.string(table, "ca_file", key)
    if ca_file and not Path(ca_file).expanduser().is_file():
        check.fail(f"{key}.ca_file", f"expected a readable CA bundle file, {ca_file!r} does not exist")
    if not url:
        return None
    return PrometheusConfig(
        url=url,
        token=check.string(table, "token", key),
        username=check.string(table, "username", key),
        password=check.string(table, "password", key),
        ca_file=ca_file,
        verify_tls=check.boolean(table, "verify_tls", key, True),
        timeout=check.number(table, "timeout", key, options["timeout"]),
    )


def _parse_traffic(
    check: _Checker, prefix: str, env: Mapping[str, Any], options: Mapping[str, Any]
) -> TrafficConfig | None:
    if "traffic" not in env:
        return None
    key = f"{prefix}.traffic"
    table = check.table(env["traffic"], key)
    check.known(table, key, _TRAFFIC_KEYS)
    defaults = TrafficConfig()
    strings = {}
    for name in ("window", "service_label", "route_label", "status_label", "requests_metric", "duration_metric"):
        strings[name] = check.string(table, name, key) or getattr(defaults, name)
    if not re.fullmatch(r"\d+[smh]", strings["window"]):
        check.fail(f"{key}.window", f"expected a PromQL duration like 30s, 1m or 5m, got {strings['window']!r}")
    queries = dict(DEFAULT_QUERIES)
    raw_queries = check.table(table.get("queries", {}), f"{key}.queries")
    check.known(raw_queries, f"{key}.queries", set(DEFAULT_QUERIES))
    for name, value in raw_queries.items():
        if isinstance(value, str) and value.strip():
            queries[name] = value
        else:
            check.fail(f"{key}.queries.{name}", "expected a PromQL template string")
    scrape = []
    raw_scrape = table.get("scrape", [])
    if not isinstance(raw_scrape, list):
        check.fail(f"{key}.scrape", "expected an array of {name, url} tables")
        raw_scrape = []
    for index, item in enumerate(raw_scrape):
        item_key = f"{key}.scrape[{index}]"
        entry = check.table(item, item_key)
        check.known(entry, item_key, {"name", "url"})
        scrape_name = check.string(entry, "name", item_key, required=True)
        scrape_url = check.url(entry, "url", item_key, HTTP, required=True)
        if scrape_name and scrape_url:
            scrape.append(ScrapeTarget(scrape_name, scrape_url))
    return TrafficConfig(
        interval=check.number(table, "interval", key, max(options["refresh"], defaults.interval), minimum=0.2),
        history_minutes=check.number(table, "history_minutes", key, defaults.history_minutes, minimum=0),
        queries=queries,
        p95_warn_ms=check.number(table, "p95_warn_ms", key, defaults.p95_warn_ms, minimum=0),
        p95_crit_ms=check.number(table, "p95_crit_ms", key, defaults.p95_crit_ms, minimum=0),
        error_warn=check.number(table, "error_warn", key, defaults.error_warn, minimum=0),
        error_crit=check.number(table, "error_crit", key, defaults.error_crit, minimum=0),
        scrape=tuple(scrape),
        **strings,
    )


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except PermissionError:
        raise ConfigError([f"{path}: permission denied"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, expected a TOML file"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None


def apply_environment(env: Environment, environ: Mapping[str, str], origin: str = "environment") -> Environment:
    """12-factor overrides: REDIS_URL, AMQP_URL, MONGO_URI, PROMETHEUS_URL replace what the file says."""
    problems: list[str] = []
    updates: dict[str, Any] = {}
    schemes = {
        "REDIS_URL": ("redis", "rediss", "unix"),
        "AMQP_URL": ("amqp", "amqps"),
        "MONGO_URI": ("mongodb", "mongodb+srv"),
        "PROMETHEUS_URL": HTTP,
    }
    for variable, attribute in ENV_URL_VARIABLES.items():
        value = environ.get(variable)
        if not value:
            continue
        problem = url_problem(value, schemes[variable])
        if problem:
            problems.append(f"{origin}: {variable}: {problem}")
            continue
        if attribute == "redis_url":
            updates["redis_url"] = value
            others = tuple(r for r in env.redis if r.name != "redis")
            updates["redis"] = (RedisConfig(name="redis", url=value, interval=DEFAULT_REFRESH),) + others
        elif attribute == "mongo_uri":
            updates["mongo"] = replace(env.mongo, uri=value) if env.mongo else MongoConfig(uri=value)
        elif attribute == "prometheus_url":
            updates["prometheus_url"] = value
            updates["prometheus"] = (
                replace(env.prometheus, url=value) if env.prometheus else PrometheusConfig(url=value)
            )
        else:
            updates[attribute] = value
    if problems:
        raise ConfigError(problems)
    return replace(env, **updates)


def load_settings(
    cli_path: str | None = None,
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    refresh: float | None = None,
) -> Settings:
    """Build the effective settings from every layer; raises ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    path = resolve_config_path(cli_path, environ)
    options: dict[str, Any] = {
        "refresh": DEFAULT_REFRESH,
        "timeout": DEFAULT_TIMEOUT,
        "history": 30,
        "default_env": None,
    }
    environments: dict[str, Environment] = {}
    if path is not None:
        options, environments = parse_config(read_toml(path), str(path))
    if not environments:
        environments = {"default": Environment(name="default", label="default")}
    chosen = env_name or environ.get("OPSCONSOLE_ENV") or options["default_env"] or next(iter(environments))
    if chosen not in environments:
        origin = str(path) if path else "command line"
        raise ConfigError([f"{origin}: --env: no environment {chosen!r} (defined: {', '.join(environments)})"])
    env = apply_environment(environments[chosen], environ)
    if refresh is not None:
        if not math.isfinite(refresh) or refresh < 0.2:
            raise ConfigError([f"command line: --refresh: expected a number >= 0.2, got {refresh}"])
        options["refresh"] = refresh
        env = replace(env, health=tuple(replace(t, interval=refresh) for t in env.health))
    return Settings(
        env=env,
        environments=tuple(environments),
        refresh=options["refresh"],
        timeout=options["timeout"],
        history=options["history"],
        path=path,
        audit_log=options.get("audit_log"),
        write_minutes=options.get("write_minutes", 15.0),
    )
