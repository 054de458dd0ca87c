"""Access: read-only by default on every action path, write mode that expires, typed confirmation on protected
environments, a warning for config files others can read that hold secrets, and TLS verification on by default
with a visible opt-out.

The per-action suites (test_cache_*, test_queue_actions, test_dlq_*, test_breaker_*) prove each action's own
refusal; here one matrix runs EVERY mutating `opsconsole act` / `opsconsole dlq` command against one private Redis
holding a cache key, a BullMQ queue with a failed job, a Redis-list DLQ and a registered breaker, and proves that
without `--write` each is refused — even with `--yes` and the typed confirmation — and that not one byte of Redis
changed. The TUI half presses every action key and runs the palette's action command in read-only mode.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from console.adapters.breaker import Breaker, BreakerSettings
from console.adapters.http_health import make_client
from console.adapters.redis import connect
from console.app import make_app
from console.cli import main
from console.config import load_settings
from console.config_checks import config_warnings, permission_warning, tls_opt_outs
from console.safety import READ_ONLY, WriteMode
from tests.fixtures.redis_server import PrivateRedis, requires_redis_server
from widgets.env_banner import EnvBanner

PASSWORD = "AccessTestPw1"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def state(client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key's serialized value: equal before and after means nothing changed."""
    return {key: client.dump(key) for key in sorted(client.scan_iter(count=1000))}


@pytest.fixture(scope="module")
def backend() -> Iterator[PrivateRedis]:
    with PrivateRedis(password=PASSWORD) as server:
        client = server.client()
        client.set("sessions:1", "a")
        client.set("sessions:2", "b")
        client.lpush("events:dlq", json.dumps({"eventId": "e1", "event": "order.paid", "error": "boom"}))
        # A BullMQ queue with one failed and one completed job, in BullMQ's documented key layout.
        client.hset("bull:emails:meta", mapping={"opts.maxLenEvents": "10000"})
        client.zadd("bull:emails:failed", {"1": 1_700_000_000_000})
        client.zadd("bull:emails:completed", {"2": 1_700_000_000_000})
        client.lpush("bull:emails:wait", "3")
        for job in ("1", "2", "3"):
            client.hset(f"bull:emails:{job}", mapping={"name": "send", "data": "{}", "timestamp": "1700000000000"})
        client.hset("bull:emails:1", mapping={"failedReason": "smtp down", "finishedOn": "1700000000000"})

        async def register() -> None:
            async_client = aioredis.Redis.from_url(server.url)
            try:
                breaker = Breaker(async_client, "checkout", "payments", BreakerSettings())
                async with breaker:
                    pass
            finally:
                await async_client.aclose()

        asyncio.run(register())
        yield server


def write_config(tmp_path: Path, url: str, *, protected: bool = False) -> Path:
    path = tmp_path / f"access-{'protected' if protected else 'plain'}.toml"
    path.write_text(
        f"""
[console]
audit_log = "{tmp_path / 'audit.jsonl'}"

[env.ops]
protected = {str(protected).lower()}
redis_url = "{url}"

[env.ops.bullmq]
redis_url = "{url}"
queues = ["emails"]

[env.ops.dlq]
discover = false

[[env.ops.dlq.redis]]
key = "events:dlq"
redis_url = "{url}"
replay_to = "list"
target = "replayed:{{event}}"

[env.ops.breakers]
redis_url = "{url}"
""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


# Every mutating command, with everything a confirmation could want — but no --write.
ACTIONS: list[tuple[str, ...]] = [
    ("act", "cache-invalidate", "--pattern", "sessions:*", "--yes", "--confirm", "sessions:*"),
    *(
        ("act", "queue", verb, "--kind", "bullmq", "--queue", "emails", "--yes", "--confirm", "emails")
        for verb in ("pause", "resume", "retry", "clean")
    ),
    *(
        ("act", "breaker", verb, "--service", "checkout", "--name", "payments", "--yes", "--confirm", "payments")
        for verb in ("force-open", "close", "reset", "disable")
    ),
    ("dlq", "replay", "redis:events:dlq", "--yes", "--confirm", "events:dlq"),
    ("dlq", "move", "redis:events:dlq", "--to", "elsewhere", "--yes", "--confirm", "events:dlq"),
    ("dlq", "purge", "redis:events:dlq", "--yes", "--confirm", "events:dlq"),
    ("dlq", "replay", "bullmq:emails", "--yes", "--confirm", "emails"),
    ("dlq", "purge", "bullmq:emails", "--yes", "--confirm", "emails"),
]


@requires_redis_server
@pytest.mark.parametrize("argv", ACTIONS, ids=[" ".join(a[:3]) for a in ACTIONS])
def test_every_cli_action_is_refused_without_write(
    backend: PrivateRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, backend.url)
    client = backend.client()
    before = state(client)
    code, out, err = run_cli(capsys, *argv, "--config", str(config))
    assert code == 2, (out, err)
    assert "read-only" in err, err
    assert state(client) == before, "a refused action changed Redis"
    journal = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert journal[-1]["outcome"] == "refused" and "read-only" in journal[-1]["detail"]


@requires_redis_server
def test_write_without_a_reason_is_refused(
    backend: PrivateRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, backend.url)
    before = state(backend.client())
    code, _, err = run_cli(
        capsys, "act", "cache-invalidate", "--pattern", "sessions:*", "--write", "--yes", "-c", str(config)
    )
    assert code == 2 and "reason" in err
    code, _, err = run_cli(capsys, "tui", "--write", "-c", str(config))
    assert code == 2 and "reason" in err  # refused before the screen opens
    assert state(backend.client()) == before


@requires_redis_server
@pytest.mark.parametrize(
    "argv",
    [
        ("act", "cache-invalidate", "--pattern", "sessions:*"),
        ("act", "queue", "pause", "--kind", "bullmq", "--queue", "emails"),
        ("act", "breaker", "close", "--service", "checkout", "--name", "payments"),
        ("dlq", "replay", "redis:events:dlq"),
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_protected_environment_demands_the_typed_name(
    backend: PrivateRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """Write mode and --yes are not enough on a protected environment: the target must be typed."""
    config = write_config(tmp_path, backend.url, protected=True)
    before = state(backend.client())
    code, out, err = run_cli(capsys, *argv, "--write", "--reason", "INC-1", "--yes", "-c", str(config))
    assert code == 2, (out, err)
    assert "confirm" in err.lower() and "type" in err.lower(), err
    assert "PROTECTED" in out
    assert state(backend.client()) == before


@requires_redis_server
def test_protected_environment_proceeds_with_the_typed_name(
    backend: PrivateRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, backend.url, protected=True)
    client = backend.client()
    client.set("scratch:1", "x")
    code, out, err = run_cli(
        capsys, "act", "cache-invalidate", "--pattern", "scratch:*", "--write", "--reason", "INC-1", "--confirm",
        "scratch:*", "-c", str(config),
    )  # fmt: skip
    assert code == 0, (out, err)
    assert client.exists("scratch:1") == 0


# --- the TUI ---------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@requires_redis_server
async def test_tui_action_keys_and_palette_change_nothing_read_only(backend: PrivateRedis, tmp_path: Path) -> None:
    """Every action key of every pane, confirmed with `y` and the typed names, and the palette's invalidate
    command: the dialogs open, the action is refused read-only, Redis is unchanged."""
    from console.sources import build_sources

    config = write_config(tmp_path, backend.url)
    settings = load_settings(str(config), environ={})
    client = backend.client()
    before = state(client)
    app = make_app(settings, source_factory=lambda: build_sources(settings))
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.board.queue_rows() and app.board.breaker_rows() and app.board.dlq_rows():
                break
        assert not app.write.active()
        for pane, keys in (("4", "PRC"), ("6", "FCZD"), ("3", "i")):
            for key in keys:
                await pilot.press(pane, key)
                await pilot.pause(0.2)
                await pilot.press(*"sessions:*", "enter", "y", *"emails", "enter", *"payments", "enter")
                await pilot.pause(0.3)
                await pilot.press("escape", "escape")
        await pilot.press("5", "enter")  # the DLQ browser
        await pilot.pause(0.5)
        for key in "RMX":
            await pilot.press(key)
            await pilot.pause(0.3)
            await pilot.press("y", *"events:dlq", "enter")
            await pilot.pause(0.3)
            await pilot.press("escape")
        await pilot.press("escape")
        app._invalidate()  # the command palette's "Invalidate cache keys" runs this very handler
        await pilot.pause(0.2)
        await pilot.press(*"sessions:*", "enter", "y", "enter")
        await pilot.pause(0.3)
        await pilot.press("escape")
    assert state(client) == before
    journal = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    refused = [r for r in journal if r["outcome"] == "refused"]
    assert refused and all(READ_ONLY.split(":")[0] in r["detail"] for r in refused)
    assert not [r for r in journal if r["outcome"] in ("started", "done")]


async def test_write_mode_expires_back_to_read_only(tmp_path: Path) -> None:
    clock = Clock()
    settings = load_settings(None, environ={})
    app = make_app(settings, clock=clock, collect=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.write.enable("INC-7", settings.write_minutes)
        app._tick()
        await pilot.pause()
        assert "WRITE until" in str(app.screen.query_one("#banner").render())
        clock.now += timedelta(minutes=settings.write_minutes - 0.5)
        app._tick()
        assert app.write.active()
        clock.now += timedelta(minutes=1)
        app._tick()
        await pilot.pause()
        assert not app.write.active()
        assert "read-only" in str(app.screen.query_one("#banner").render())


def test_write_mode_refuses_after_its_deadline() -> None:
    mode = WriteMode()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    mode.enable("INC-7", 15, now=start)
    assert mode.active(start + timedelta(minutes=14, seconds=59))
    assert not mode.active(start + timedelta(minutes=15))


# --- config files holding secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "secret", "warned"),
    [(0o600, True, False), (0o640, True, True), (0o644, True, True), (0o644, False, False), (0o400, True, False)],
)
def test_readable_config_holding_secrets_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int, secret: bool, warned: bool
) -> None:
    path = tmp_path / "ops.toml"
    password = ":Sekr1tPw@" if secret else ""
    path.write_text(f'[env.a]\nredis_url = "redis://{password}127.0.0.1:6390/0"\n', encoding="utf-8")
    os.chmod(path, mode)
    settings = load_settings(str(path), environ={})
    assert (permission_warning(settings) is not None) is warned
    code, out, err = run_cli(capsys, "config", "check", "-c", str(path))
    assert code == 0 and out.startswith("ok:")
    assert ("readable" in err and "chmod 600" in err) is warned, err
    if warned:
        assert ("world-readable" if mode & 0o004 else "group-readable") in err
        assert "Sekr1tPw" not in err + out


def test_a_secret_from_the_environment_is_not_the_files_fault(tmp_path: Path) -> None:
    path = tmp_path / "ops.toml"
    path.write_text('[env.a]\nredis_url = "redis://127.0.0.1:6390/0"\n', encoding="utf-8")
    os.chmod(path, 0o644)
    settings = load_settings(str(path), environ={"REDIS_URL": "redis://:FromEnvPw@127.0.0.1:6390/0"})
    assert permission_warning(settings) is None


# --- TLS -------------------------------------------------------------------------------------------------------

TLS_CONFIG = """
[env.a]
redis_url = "rediss://:pw@cache.example:6380/0"
amqp_url = "amqps://u:p@mq.example:5671/"

[[env.a.health]]
name = "api"
url = "https://api.example/health"

[env.a.mongo]
uri = "mongodb+srv://u:p@cluster.example/"

[env.a.prometheus]
url = "https://prom.example"

[env.a.rabbitmq]
management_url = "https://mq.example:15671"

[env.a.breakers]
[[env.a.breakers.actuator]]
service = "billing"
url = "https://billing.example"
"""


def test_tls_is_verified_by_default_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "tls.toml"
    path.write_text(TLS_CONFIG, encoding="utf-8")
    settings = load_settings(str(path), environ={})
    env = settings.env
    assert tls_opt_outs(settings) == []
    assert all(t.verify_tls for t in env.health)
    assert all(r.verify_tls for r in settings.redis_instances)
    assert env.prometheus is not None and env.prometheus.verify_tls
    assert env.rabbitmq is not None and env.rabbitmq.verify_tls
    assert env.breakers is not None and all(a.verify_tls for a in env.breakers.actuator)
    # What the clients are built with: certificates required, host names checked.
    import ssl

    client = make_client()
    try:
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    finally:
        asyncio.run(client.aclose())
    rediss = connect("rediss://:pw@cache.example:6380/0", 1.0)
    assert rediss.connection_pool.connection_kwargs.get("ssl_cert_reqs", "required") == "required"
    # aiormq verifies amqps unless the URL says no_verify_ssl=1, pymongo turns TLS on for every mongodb+srv URI
    # unless it says tls=false / tlsInsecure: neither URL here does, and tls_opt_outs (above) found nothing.
    assert "no_verify_ssl" not in (env.amqp_url or "")
    assert env.mongo is not None and "tls" not in env.mongo.uri.lower()


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('[[env.a.health]]\nname = "api"\nurl = "https://api.example/h"\nverify_tls = false', "health 'api'"),
        ('[[env.a.redis]]\nname = "c"\nurl = "rediss://c.example:6380/0"\nverify_tls = false', "redis 'c'"),
        ('[env.a.prometheus]\nurl = "https://prom.example"\nverify_tls = false', "prometheus"),
        ('[env.a.rabbitmq]\nmanagement_url = "https://mq.example"\nverify_tls = false', "rabbitmq management_url"),
        ('amqp_url = "amqps://u:p@mq.example/?no_verify_ssl=1"', "amqp_url"),
        ('[env.a.mongo]\nuri = "mongodb+srv://u:p@c.example/?tlsInsecure=true"', "mongo"),
        ('[env.a.mongo]\nuri = "mongodb+srv://u:p@c.example/?tls=false"', "mongo"),
        ('redis_url = "rediss://c.example/0?ssl_cert_reqs=none"', "redis 'redis'"),
    ],
)
def test_tls_opt_out_is_explicit_and_visible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, expected: str
) -> None:
    path = tmp_path / "tls.toml"
    path.write_text(f"[env.a]\n{table}\n", encoding="utf-8")
    settings = load_settings(str(path), environ={})
    (warning,) = tls_opt_outs(settings)
    assert warning.startswith(expected) and "TLS verification OFF" in warning
    _, _, err = run_cli(capsys, "config", "check", "-c", str(path))
    assert "TLS verification OFF" in err
    _, out, _ = run_cli(capsys, "config", "show", "-c", str(path))
    assert any("TLS verification OFF" in w for w in json.loads(out)["warnings"])
    assert "u:p@" not in out and ":p@" not in err


def test_plain_http_with_verify_off_is_not_an_opt_out(tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text('[env.a]\n[[env.a.health]]\nname = "x"\nurl = "http://x/h"\nverify_tls = false\n')
    assert tls_opt_outs(load_settings(str(path), environ={})) == []


async def test_the_console_shows_the_opt_out_when_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "tls.toml"
    path.write_text('[env.a]\n[[env.a.health]]\nname = "api"\nurl = "https://127.0.0.1:9/h"\nverify_tls = false\n')
    settings = load_settings(str(path), environ={})
    assert config_warnings(settings)
    app = make_app(settings, collect=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        shown: list[Any] = [str(n.message) for n in app._notifications]
        banner = app.main_screen.query_one(EnvBanner)
        assert banner.tls_off and "TLS OFF" in str(banner.render())  # for as long as the console runs
    assert any("TLS verification OFF" in message for message in shown), shown
