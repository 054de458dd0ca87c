"""What a valid config may still get wrong on a shared bastion: secrets in a file others can read, and TLS
verification turned off. Both are warnings (the console still runs), shown by `config check`, `config show`,
`snapshot` (on stderr) and at console start, so an opt-out is never silent.

`secret_values` lists every credential the settings carry (URL passwords, sensitive query values, tokens,
header values), for the permission check and for scrubbing crash reports.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from console.config import Settings
from console.secrets import url_password

# Header values that are never credentials (every other configured header value is treated as one).
_PLAIN_HEADERS = {"accept", "content-type", "user-agent", "accept-encoding", "accept-language"}
_SENSITIVE_KEYS = {"password", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "secret", "auth"}
# URL options that switch certificate checks off (pymongo, aiormq / aio-pika, redis-py).
_TLS_OFF_OPTIONS = re.compile(
    r"(?i)^(tlsinsecure|tlsallowinvalidcertificates|tlsallowinvalidhostnames|no_verify_ssl|ssl_cert_reqs|tls|ssl)$"
)


def _urls(settings: Settings) -> Iterator[tuple[str, str, bool]]:
    """(what, url, verify_tls) for every URL the settings connect to."""
    env = settings.env
    for target in env.health:
        for kind, url in target.probe_urls():
            yield f"health {target.name!r} {kind}", url, target.verify_tls
    for instance in settings.redis_instances:
        yield f"redis {instance.name!r}", instance.url, instance.verify_tls
    if env.amqp_url:
        yield "amqp_url", env.amqp_url, True
    if env.rabbitmq is not None:
        if env.rabbitmq.management_url:
            yield "rabbitmq management_url", env.rabbitmq.management_url, env.rabbitmq.verify_tls
        if env.rabbitmq.amqp_url:
            yield "rabbitmq amqp_url", env.rabbitmq.amqp_url, True
    if env.bullmq is not None:
        yield "bullmq redis_url", env.bullmq.redis_url, True
    if env.lists is not None:
        yield "lists redis_url", env.lists.redis_url, True
    if env.prometheus is not None:
        yield "prometheus", env.prometheus.url, env.prometheus.verify_tls
    elif env.prometheus_url:
        yield "prometheus_url", env.prometheus_url, True
    if env.mongo is not None:
        yield f"mongo {env.mongo.name!r}", env.mongo.uri, True
    if env.dlq is not None:
        for dlq in env.dlq.redis:
            yield f"dlq redis {dlq.key!r}", dlq.redis_url, True
    if env.breakers is not None:
        if env.breakers.redis_url:
            yield "breakers redis_url", env.breakers.redis_url, True
        for actuator in env.breakers.actuator:
            yield f"breakers actuator {actuator.service!r}", actuator.url, actuator.verify_tls


def _headers(settings: Settings) -> Iterator[tuple[str, str]]:
    for target in settings.env.health:
        yield from target.headers.items()
    if settings.env.breakers is not None:
        for actuator in settings.env.breakers.actuator:
            yield from actuator.headers


def secret_values(settings: Settings) -> tuple[str, ...]:
    """Every credential in the settings, as written and URL-decoded (at least 3 characters each)."""
    found: set[str] = set()
    for _, url, _ in _urls(settings):
        password = url_password(url)
        if password:
            found.update((password, unquote(password)))
        try:
            query = urlsplit(url).query
        except ValueError:
            continue
        for key, value in parse_qsl(query):
            if key.lower() in _SENSITIVE_KEYS and value:
                found.add(value)
    for name, value in _headers(settings):
        if name.lower() not in _PLAIN_HEADERS and value:
            found.add(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "basic", "token"):
                found.add(credential)
    prometheus = settings.env.prometheus
    if prometheus is not None:
        found.update(s for s in (prometheus.token, prometheus.password) if s)
    return tuple(sorted((s for s in found if len(s) >= 3), key=len, reverse=True))


PUBLIC_DEFAULTS = frozenset({"guest"})


def permission_warning(settings: Settings) -> str | None:
    """A warning when the config file holds a credential and users other than its owner may read it."""
    path: Path | None = settings.path
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    # RabbitMQ's built-in guest/guest (loopback-only by default) is public knowledge, not a secret to guard.
    if not any(secret in text for secret in secret_values(settings) if secret not in PUBLIC_DEFAULTS):
        return None
    who = "world" if mode & stat.S_IROTH else "group"
    return (
        f"{path} holds passwords or tokens and is {who}-readable (mode {stat.S_IMODE(mode):o}): "
        f"run chmod 600 {path}"
    )


def tls_opt_outs(settings: Settings) -> list[str]:
    """Every connection whose TLS certificate is not verified: `verify_tls = false` on a TLS URL, or a URL
    option (tlsInsecure, tlsAllowInvalidCertificates, no_verify_ssl, ssl_cert_reqs=none, tls=false …)."""
    found = []
    for what, url, verify in _urls(settings):
        try:
            parts = urlsplit(url)
            options = parse_qsl(parts.query)
        except ValueError:
            continue
        secure = parts.scheme in ("https", "rediss", "amqps", "mongodb+srv") or any(
            k.lower() in ("tls", "ssl") and v.lower() == "true" for k, v in options
        )
        if secure and not verify:
            found.append(f"{what}: TLS verification OFF (verify_tls = false)")
            continue
        for key, value in options:
            if not _TLS_OFF_OPTIONS.match(key):
                continue
            lowered = value.lower()
            off = (
                (key.lower() in ("tls", "ssl") and lowered == "false" and parts.scheme == "mongodb+srv")
                or (key.lower() == "ssl_cert_reqs" and lowered in ("none", "cert_none"))
                or (key.lower() == "no_verify_ssl" and lowered not in ("", "0", "false"))
                or (key.lower().startswith("tls") and key.lower() != "tls" and lowered == "true")
            )
            if off:
                found.append(f"{what}: TLS verification OFF ({key}={value} in the URL)")
                break
    return found


def config_warnings(settings: Settings) -> list[str]:
    """Everything an operator should know about this config before trusting the console with it."""
    warnings = tls_opt_outs(settings)
    permission = permission_warning(settings)
    return ([permission] if permission else []) + warnings
