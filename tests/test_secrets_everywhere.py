"""Secrets: passwords and tokens configured in every kind of URL and header appear on no surface the console has.

One config (`world`) puts a distinct credential in every place one can go: user:password in redis / rediss /
amqp / http(s) / mongodb URLs (one of them with `@`, `:` and `/` percent-encoded), sensitive query parameters
(`?token=`, `?access_token=`), `Authorization: Bearer` / `Basic` and API-key headers on health targets and
resilience4j actuators, Prometheus basic auth and bearer token, and a `MONGO_URI` environment override. The
backends are real and unfriendly: a private Redis that refuses the wrong passwords, the shared RabbitMQ refusing
the wrong ones, closed ports, and an HTTP server that echoes the credentials it was sent back in its error
messages (as real services do: "invalid token abc…").

Each surface is one entry of `SURFACES`: a function from the world to the text the console produced there. The
test runs every surface and asserts no secret — as configured or URL-decoded — is in it, and that the surface
did produce output (a surface that printed nothing proves nothing), recordings and the exported Markdown and
SVG included.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from console.app import make_app
from console.cli import main
from console.config import Settings, load_settings
from console.config_checks import secret_values
from console.sources import build_sources
from tests.fixtures.http_targets import Behaviour, TargetServer
from tests.fixtures.net import free_port
from tests.fixtures.redis_server import PrivateRedis, requires_redis_server

pytestmark = requires_redis_server

# name -> value; every value is distinct so a leak names its source.
SECRETS = {
    "redis": "Sekr1tRedisPw",
    "bull": "Sekr1tBullWrongPw",
    "lists": "Sekr1t@Lists:Pw/x",  # goes into the URL percent-encoded
    "health-url": "Sekr1tHealthPw",
    "query-token": "Sekr1tQueryTok",
    "bearer": "Sekr1tBearerTok",
    "api-key": "Sekr1tApiKey",
    "mgmt": "Sekr1tMgmtPw",
    "amqp": "Sekr1tAmqpPw",
    "mongo-env": "Sekr1tEnvMongoPw",
    "mongo-file": "Sekr1tMongoPw",
    "prom-url": "Sekr1tPromUrlPw",
    "prom-token": "Sekr1tPromTok",
    "actuator-url": "Sekr1tActuatorPw",
    "actuator-basic": "U2VrcjF0QWN0dWF0b3I6cGFzcw",
}


class Echo:
    """A backend that quotes the credentials it received in its error answer (many real services do)."""

    def __init__(self, status: int, key: str):
        self.status, self.key = status, key

    def serve(self, handler: Any, server: TargetServer) -> None:
        sent = handler.headers.get("Authorization", "") + " " + handler.headers.get("X-Api-Key", "")
        body = json.dumps(
            {
                "status": "error" if self.key == "message" else "DOWN",
                self.key: f"invalid credentials: {sent} for {handler.path}",
                "checks": {"auth": {"status": "error", "message": f"rejected {sent}"}},
            }
        ).encode()
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@dataclass
class World:
    config: Path
    settings: Settings
    audit: Path
    redis: PrivateRedis


def _config_text(tmp_path: Path, redis: PrivateRedis, target: TargetServer) -> str:
    s = SECRETS
    closed = free_port()  # nothing listens there
    r = redis.port
    lists_password = quote(s["lists"], safe="")
    return f"""
[console]
audit_log = "{tmp_path / 'audit.jsonl'}"
timeout = 1.0
refresh = 1.0

[env.prod]
protected = true
redis_url = "redis://:{s['redis']}@127.0.0.1:{r}/0"

[[env.prod.health]]
name = "api"
url = "http://ops:{s['health-url']}@127.0.0.1:{target.port}/echo?token={s['query-token']}&v=1"
liveness = "https://ops:{s['health-url']}@127.0.0.1:{closed}/live?access_token={s['query-token']}"
readiness = "http://127.0.0.1:{target.port}/echo-spring"
headers = {{ Authorization = "Bearer {s['bearer']}", X-Api-Key = "{s['api-key']}", Accept = "application/json" }}

[env.prod.rabbitmq]
management_url = "http://guest:{s['mgmt']}@127.0.0.1:15672"
amqp_url = "amqp://guest:{s['amqp']}@127.0.0.1:5672/"

[env.prod.bullmq]
redis_url = "redis://:{s['bull']}@127.0.0.1:{r}/0"
queues = ["emails"]

[env.prod.lists]
redis_url = "redis://ops:{lists_password}@127.0.0.1:{r}/0"
keys = ["jobs"]

[env.prod.mongo]
uri = "mongodb://ops:{s['mongo-file']}@127.0.0.1:{closed}/admin?authSource=admin"
timeout = 1.0

[env.prod.prometheus]
url = "http://prom:{s['prom-url']}@127.0.0.1:{closed}"
token = "{s['prom-token']}"
timeout = 1.0

[env.prod.dlq]
rabbitmq = ["orders.dlq"]
discover = false

[[env.prod.dlq.redis]]
key = "events:dlq"
redis_url = "redis://:{s['redis']}@127.0.0.1:{r}/0"

[env.prod.breakers]
redis_url = "redis://:{s['redis']}@127.0.0.1:{r}/0"

[[env.prod.breakers.actuator]]
service = "billing"
url = "http://act:{s['actuator-url']}@127.0.0.1:{target.port}/"
headers = {{ Authorization = "Basic {s['actuator-basic']}" }}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("secrets")
    routes: dict[str, Behaviour] = {
        "/echo": Echo(401, "message"),
        "/echo-spring": Echo(503, "error"),
        "/actuator/circuitbreakers": Echo(401, "error"),
    }
    with contextlib.ExitStack() as stack:
        target = TargetServer(routes)
        stack.callback(target.close)
        redis = stack.enter_context(PrivateRedis(password=SECRETS["redis"]))
        client = redis.client()
        client.lpush("events:dlq", json.dumps({"eventId": "e1", "event": "order.paid", "error": "boom"}))
        config = tmp_path / "ops.toml"
        config.write_text(_config_text(tmp_path, redis, target), encoding="utf-8")
        config.chmod(0o600)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MONGO_URI", f"mongodb://ops:{SECRETS['mongo-env']}@127.0.0.1:{free_port()}/admin")
            settings = load_settings(str(config))
            yield World(config, settings, tmp_path / "audit.jsonl", redis)


@pytest.fixture(autouse=True)
def _mongo_override(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    # conftest clears MONGO_URI for every test; the CLI surfaces must see the override the settings were built with.
    assert world.settings.env.mongo is not None
    monkeypatch.setenv("MONGO_URI", world.settings.env.mongo.uri)


# --- surfaces --------------------------------------------------------------------------------------------------


def cli(*argv: str) -> str:
    """stdout and stderr of `opsconsole ARGV`, run in-process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return f"[exit {code}]\n{out.getvalue()}\n{err.getvalue()}"


def config_show(w: World) -> str:
    return cli("config", "show", "--config", str(w.config))


def config_check(w: World) -> str:
    return cli("config", "check", "--config", str(w.config))


def snapshot_json(w: World) -> str:
    return cli("snapshot", "--json", "--config", str(w.config))


def snapshot_text(w: World) -> str:
    return cli("snapshot", "--config", str(w.config))


def dlq_list(w: World) -> str:
    return cli("dlq", "list", "--config", str(w.config)) + cli("dlq", "list", "--json", "--config", str(w.config))


def act_outputs_and_audit_journal(w: World) -> str:
    """Dry-runs and refusals through `opsconsole act` / `dlq`, then the journal file and `opsconsole audit`."""
    config = str(w.config)
    outputs = [
        cli("act", "cache-invalidate", "--pattern", "sessions:*", "--dry-run", "--config", config),
        cli("act", "cache-invalidate", "--pattern", "sessions:*", "--config", config, "--yes"),  # refused: read-only
        cli("act", "queue", "pause", "--kind", "bullmq", "--queue", "emails", "--dry-run", "--config", config),
        cli("dlq", "replay", "redis:events:dlq", "--dry-run", "--config", config),
        cli("act", "breaker", "close", "--service", "billing", "--name", "x", "--dry-run", "--config", config),
    ]
    journal = w.audit.read_text(encoding="utf-8") if w.audit.exists() else ""
    assert journal.strip(), "no action was journaled: the journal surface was not exercised"
    return (
        "\n".join(outputs)
        + journal
        + cli("audit", "--last", "100", "--config", config)
        + cli("audit", "--json", "--config", config)
    )


def logs(w: World) -> str:
    """Every log record any library emits at DEBUG during a full collection round."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        text = snapshot_json(w)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return buffer.getvalue() + text


def tui_screens(w: World) -> str:
    """Screen captures of the running console once every source has answered (or failed), with the health
    breakdown open, and with the notifications that the failures raised."""
    shots: list[str] = []

    async def run() -> None:
        app = make_app(w.settings, source_factory=lambda: build_sources(w.settings))
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(200):  # bounded: every source reported at least once
                await pilot.pause(0.05)
                if app.collector is not None and len(app.board.readings) >= len(app.collector.sources):
                    break
            await pilot.pause(0.3)
            shots.append(app.export_screenshot())
            await pilot.press("1", "enter")
            await pilot.pause(0.3)
            shots.append(app.export_screenshot())
            await pilot.press("escape", "5", "enter")
            await pilot.pause(0.5)
            shots.append(app.export_screenshot())
            await pilot.press("q")

    asyncio.run(run())
    return "\n".join(shots)


def cli_crash(w: World) -> str:
    """An unexpected exception in a command, whose message quotes a URL and a token (libraries do)."""
    import console.snapshot

    original = console.snapshot.run_snapshot

    async def crashing(settings: Settings, *args: Any, **kwargs: Any) -> Any:
        redis_url = settings.env.redis_url
        raise RuntimeError(f"pool broke for {redis_url} (auth {SECRETS['bearer']}, {SECRETS['mgmt']})")

    console.snapshot.run_snapshot = crashing  # type: ignore[assignment]
    try:
        text = cli("snapshot", "--config", str(w.config))
    finally:
        console.snapshot.run_snapshot = original
    assert "[exit 70]" in text and "Traceback" in text and "RuntimeError" in text, text
    return text


def tui_crash(w: World) -> str:
    """A crash inside the console: Textual's report would print every frame's locals (the settings)."""
    err = io.StringIO()

    def boom(settings: Settings = w.settings) -> None:
        url = settings.env.redis_url  # a local holding a secret, in the crashing frame
        raise RuntimeError(f"lost {url} and {SECRETS['prom-token']}")

    async def run() -> None:
        app = make_app(w.settings, collect=False)
        with contextlib.suppress(RuntimeError), contextlib.redirect_stderr(err):
            async with app.run_test(size=(120, 40)) as pilot:
                app.call_later(boom)
                await pilot.pause(0.2)

    asyncio.run(run())
    text = err.getvalue()
    assert "Traceback" in text and "RuntimeError" in text, text
    return text


def recording(w: World) -> str:
    """`opsconsole record` of the secret-laden world (errors quoting URLs and tokens), decompressed."""
    path = w.audit.parent / f"rec-{len(list(w.audit.parent.glob('rec-*')))}.jsonl.gz"
    out = cli("record", str(path), "--config", str(w.config), "--duration", "2")
    assert path.exists(), out
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return out + handle.read()


def export(w: World) -> str:
    """`x` in the console: the Markdown findings and the SVG screenshot, once every source has answered."""
    folder = w.audit.parent / "exports"
    texts: list[str] = []

    async def run() -> None:
        app = make_app(w.settings, source_factory=lambda: build_sources(w.settings))
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(200):
                await pilot.pause(0.05)
                if app.collector is not None and len(app.board.readings) >= len(app.collector.sources):
                    break
            await pilot.press("t", "escape", "x")
            for _ in range(100):
                if len(app.exports) == 2:
                    break
                await pilot.pause(0.05)
            texts.extend(path.read_text() for path in app.exports)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPSCONSOLE_EXPORT_DIR", str(folder))
        asyncio.run(run())
    assert len(texts) == 2 and texts[0].startswith("# opsconsole findings"), texts
    return "\n".join(texts)


# One entry per surface: (name, producer).
SURFACES: list[tuple[str, Callable[[World], str]]] = [
    ("config show", config_show),
    ("config check", config_check),
    ("snapshot --json", snapshot_json),
    ("snapshot text", snapshot_text),
    ("dlq list", dlq_list),
    ("act output and the audit journal", act_outputs_and_audit_journal),
    ("logs", logs),
    ("TUI screens", tui_screens),
    ("CLI crash report", cli_crash),
    ("TUI crash report", tui_crash),
    ("recording", recording),
    ("exported Markdown and SVG", export),
]


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret)}


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("surface", "produce"), SURFACES, ids=[name for name, _ in SURFACES])
def test_no_secret_on_any_surface(world: World, surface: str, produce: Callable[[World], str]) -> None:
    text = produce(world)
    assert text.strip(), f"{surface}: produced nothing"
    for name, secret in SECRETS.items():
        if name == "mongo-file":
            continue  # replaced by the MONGO_URI override: it is in no setting (checked below)
        for form in forms(secret):
            at = text.find(form)
            assert at < 0, f"{surface}: the {name} secret leaked: …{text[max(0, at - 120) : at + 60]!r}…"


def test_the_world_configures_every_secret(world: World) -> None:
    """The secrets are really in the settings (else the surfaces above prove nothing), and `secret_values`, which
    crash reports and the permission check rely on, knows each of them."""
    known = set(secret_values(world.settings))
    for name, secret in SECRETS.items():
        if name == "mongo-file":
            assert not any(secret in s for s in known)
            continue
        assert secret in known or quote(secret, safe="") in known, name
    assert "application/json" not in known  # a plain header is not a secret
