"""`opsconsole act cache-invalidate` and `opsconsole audit` as subprocesses against a private, password-protected
`redis-server` (REDIS_URL carries the password; it must never reach the output or the journal).

The shared Redis on 127.0.0.1:6379 is never used; skipped, with the reason, when `redis-server` is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.fixtures.redis_server import (
    PrivateRedis,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    requires_redis_server,
)

pytestmark = requires_redis_server

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Cli-s3cret-pw-9931"
PATTERN = "user:*"
_DROPPED = (
    "OPSCONSOLE_CONFIG",
    "OPSCONSOLE_ENV",
    "MONGO_URI",
    "REDIS_URL",
    "AMQP_URL",
    "PROMETHEUS_URL",
    "SSH_CONNECTION",
)


@pytest.fixture
def server(make_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    """Eight `user:*` keys and four others, behind a password."""
    server = make_redis(password=SECRET)
    client = server.client()
    client.mset({f"user:{i}": f"profile-{i}" for i in range(8)})
    client.mset({"session:1": "s", "session:2": "s", "users:1": "look-alike", "order:1": "o"})
    return server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def opsconsole(home: Path, server: PrivateRedis, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m console …` with a private HOME / XDG state and REDIS_URL pointing at `server`."""
    environ = {k: v for k, v in os.environ.items() if k.upper() not in _DROPPED}
    environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        USER="cli-operator",
        REDIS_URL=server.url,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def invalidate(home: Path, server: PrivateRedis, *args: str) -> subprocess.CompletedProcess[str]:
    return opsconsole(home, server, "act", "cache-invalidate", "--pattern", PATTERN, *args)


def user_keys(server: PrivateRedis) -> int:
    return sum(1 for _ in server.client().scan_iter(match=PATTERN))


def audit_json(home: Path, server: PrivateRedis) -> list[dict[str, object]]:
    done = opsconsole(home, server, "audit", "--json", "--last", "100")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


def test_the_fixture_url_carries_the_password(server: PrivateRedis) -> None:
    assert SECRET in server.url
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(server.url_for(credentials=False), socket_timeout=5.0).ping()


def test_dry_run_counts_and_deletes_nothing(home: Path, server: PrivateRedis) -> None:
    done = invalidate(home, server, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "matches 8 keys" in done.stdout
    assert "dry-run: nothing deleted" in done.stdout
    assert "e.g. user:" in done.stdout
    assert server.client().dbsize() == 12
    no_secret(done.stdout, done.stderr)
    records = audit_json(home, server)
    assert [r["outcome"] for r in records] == ["dry-run"]
    assert records[0]["counts"]["matched"] == 8  # type: ignore[index]


def test_without_write_it_is_refused_and_journaled(home: Path, server: PrivateRedis) -> None:
    done = invalidate(home, server, "--yes", "--reason", "cleanup")
    assert done.returncode == 2
    assert "refused: read-only" in done.stderr
    assert "matches 8 keys" in done.stdout  # the preview is still shown
    assert server.client().dbsize() == 12
    listing = opsconsole(home, server, "audit")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 2
    assert "dry-run" in lines[0]
    assert "cache-invalidate redis:user:* refused" in lines[1] and "read-only" in lines[1]
    assert "cli-operator@" in lines[1]
    no_secret(done.stdout, done.stderr, listing.stdout)


def test_write_without_reason_is_refused(home: Path, server: PrivateRedis) -> None:
    done = invalidate(home, server, "--write", "--yes")
    assert done.returncode == 2
    assert "reason" in done.stderr
    assert server.client().dbsize() == 12


def test_write_reason_yes_deletes_under_the_threshold(home: Path, server: PrivateRedis) -> None:
    done = invalidate(home, server, "--write", "--reason", "x", "--yes")
    assert done.returncode == 0, done.stderr
    assert "deleted 8 keys" in done.stdout
    assert user_keys(server) == 0
    assert server.client().dbsize() == 4
    assert server.client().get("users:1") == b"look-alike"
    records = audit_json(home, server)
    assert [r["outcome"] for r in records] == ["dry-run", "started", "done"]
    assert records[-1]["counts"] == {"matched_before": 8, "deleted": 8}
    assert records[-1]["reason"] == "x"


def test_typed_confirmation_above_the_threshold(home: Path, server: PrivateRedis, tmp_path: Path) -> None:
    config = tmp_path / "opsconsole.toml"
    config.write_text('[console]\ndefault_env = "x"\n\n[env.x]\nlabel = "x"\n\n[env.x.cache]\nconfirm_above = 5\n')

    refused = invalidate(home, server, "--config", str(config), "--write", "--reason", "x", "--yes")
    assert refused.returncode == 2
    assert "--confirm 'user:*'" in refused.stderr
    assert "refused: confirmation required" in refused.stderr
    assert user_keys(server) == 8

    mistyped = invalidate(home, server, "--config", str(config), "--write", "--reason", "x", "--confirm", "user:")
    assert mistyped.returncode == 2
    assert user_keys(server) == 8

    done = invalidate(home, server, "--config", str(config), "--write", "--reason", "x", "--confirm", PATTERN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("x · redis · pattern 'user:*'")
    assert "deleted 8 keys" in done.stdout
    assert user_keys(server) == 0 and server.client().dbsize() == 4

    records = audit_json(home, server)
    assert {r["environment"] for r in records} == {"x"}
    assert [r["outcome"] for r in records] == ["dry-run", "refused", "dry-run", "refused", "dry-run", "started", "done"]


def test_audit_json_parses_and_holds_no_password(home: Path, server: PrivateRedis) -> None:
    invalidate(home, server, "--dry-run")
    invalidate(home, server, "--yes")
    invalidate(home, server, "--write", "--reason", "x", "--yes")
    done = opsconsole(home, server, "audit", "--json")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 6
    records = [json.loads(line) for line in lines]
    assert [r["outcome"] for r in records] == ["dry-run", "dry-run", "refused", "dry-run", "started", "done"]
    for record in records:
        assert record["action"] == "cache-invalidate"
        assert record["who"]["user"] == "cli-operator" and record["who"]["host"]
    no_secret(done.stdout, done.stderr)
    journal = home / ".state" / "opsconsole" / "audit.jsonl"
    assert journal.is_file()
    no_secret(journal.read_text())


def test_redis_down_is_an_error_not_a_hang(home: Path, server: PrivateRedis) -> None:
    server.stop()
    done = invalidate(home, server, "--dry-run")
    assert done.returncode == 1
    assert "connection refused" in done.stderr
    no_secret(done.stdout, done.stderr)
