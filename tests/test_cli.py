"""Integration: `python -m console …` as a subprocess, against real loopback servers and the demo stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from console.demo.backend import DemoStack
from tests.fixtures.http_targets import (  # noqa: F401 - the *_fixture imports register fixtures
    TargetServer,
    demo_stack_fixture,
    make_target_server_fixture,
    target_server_fixture,
)
from tests.fixtures.net import free_port

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Sup3r-Secret-pw"
_DROPPED = (
    "OPSCONSOLE_CONFIG",
    "OPSCONSOLE_ENV",
    "OPSCONSOLE_DEMO_PORT",
    "MONGO_URI",
    "REDIS_URL",
    "AMQP_URL",
    "PROMETHEUS_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run opsconsole in a child interpreter with a private HOME; killed (by subprocess.run) on timeout."""
    environ = {k: v for k, v in os.environ.items() if k.upper() not in _DROPPED}
    environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    environ.update(env or {})
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def toml_value(value: object) -> str:
    if isinstance(value, dict):  # an inline table
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings and numbers: JSON spelling is valid TOML


def write_config(directory: Path, targets: list[dict[str, Any]], extra: str = "", env: str = "prod") -> Path:
    lines = ["[console]", f'default_env = "{env}"', "timeout = 2.0", "", f"[env.{env}]", 'label = "production"', extra]
    for target in targets:
        lines.append(f"[[env.{env}.health]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in target.items())
    path = directory / "opsconsole.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def snapshot_json(home: Path, config: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli(home, "snapshot", "--json", "--config", str(config))
    assert result.stderr == ""
    return result.returncode, json.loads(result.stdout)


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {entry["source"]: entry["status"] for entry in document["sources"]}


# --- help and config --------------------------------------------------------------------------------------


def test_help_lists_every_subcommand(home: Path) -> None:
    result = run_cli(home, "--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert {"tui", "config", "snapshot", "demo"} <= listed
    assert "exit 0 ok, 1 warning, 2" in result.stdout


def test_config_check_accepts_a_good_file(home: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        [
            {"name": "api", "url": "http://127.0.0.1:1/health", "readiness": "http://127.0.0.1:1/ready"},
            {"name": "billing", "url": "https://billing.internal/actuator/health"},
        ],
        extra="protected = true",
    )
    result = run_cli(home, "config", "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"ok: {config}" in result.stdout
    assert "using 'prod' (protected)" in result.stdout
    assert "health targets: 2; mongo: no" in result.stdout


def test_config_check_accepts_the_shipped_demo_config(home: Path) -> None:
    result = run_cli(home, "config", "check", "--config", str(ROOT / "examples" / "demo.toml"))
    assert result.returncode == 0, result.stderr
    assert "health targets: 4" in result.stdout


def test_config_check_names_file_key_and_expectation_for_every_problem(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(
        "[console]\n"
        'refresh = "fast"\n'
        "\n"
        "[env.prod]\n"
        'colour = "red"\n'
        "\n"
        "[[env.prod.health]]\n"
        'name = "api"\n'
        'url = "ftp://api.internal/health"\n'
        "timeout = -1\n"
    )
    result = run_cli(home, "config", "check", "--config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 4, result.stderr
    assert all(str(config) in line for line in problems)
    text = result.stderr
    assert "console.refresh: expected a number of seconds, got string 'fast'" in text
    assert "env.prod.colour: unknown key (expected one of:" in text
    assert "env.prod.health[0].url: expected a URL starting with http:// or https://, got scheme 'ftp'" in text
    assert "env.prod.health[0].timeout: expected a number >= 0.05, got -1" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[env.prod\nlabel = 1\n", "invalid TOML"),
        (None, "file not found"),
    ],
)
def test_config_check_unreadable_file(home: Path, tmp_path: Path, content: str | None, expected: str) -> None:
    config = tmp_path / "bad.toml"
    if content is not None:
        config.write_text(content)
    result = run_cli(home, "config", "check", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}: {expected}" in result.stderr


def test_unknown_environment_is_a_config_error(home: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, [{"name": "api", "url": "http://127.0.0.1:1/"}])
    check = run_cli(home, "config", "check", "--config", str(config), "--env", "staging")
    assert check.returncode == 2
    assert "--env: no environment 'staging' (defined: prod)" in check.stderr
    snapshot = run_cli(home, "snapshot", "--config", str(config), "--env", "staging")
    assert snapshot.returncode == 3  # Nagios UNKNOWN: the snapshot could not even look


# --- snapshot against live servers ------------------------------------------------------------------------


def test_snapshot_json_live_and_dead_target(home: Path, tmp_path: Path, target_server: TargetServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/health"
    config = write_config(
        tmp_path, [{"name": "live", "url": target_server.url("/seed")}, {"name": "dead", "url": dead}]
    )
    code, document = snapshot_json(home, config)
    assert code == 2
    assert document["schema"] == "opsconsole.snapshot/1"
    assert document["environment"] == {"name": "prod", "label": "production", "protected": False}
    assert (document["status"], document["exit_code"]) == ("crit", 2)
    assert statuses(document) == {"health:live": "ok", "health:dead": "crit"}
    by_source = {entry["source"]: entry for entry in document["sources"]}
    live_probe = by_source["health:live"]["data"]["probes"][0]
    assert (live_probe["format"], live_probe["http_status"], live_probe["status"]) == ("seed", 200, "ok")
    assert {c["name"] for c in live_probe["checks"]} == {"database", "redis", "queue"}
    dead_probe = by_source["health:dead"]["data"]["probes"][0]
    assert (dead_probe["status"], dead_probe["message"]) == ("crit", "connection refused")
    assert target_server.hits["/seed"] == 1


@pytest.mark.parametrize(
    ("paths", "code", "overall"),
    [
        (["/seed", "/ok-text"], 0, "ok"),
        (["/seed", "/seed-degraded"], 1, "warn"),
        (["/ietf", "/spring"], 2, "crit"),
    ],
)
def test_snapshot_exit_code_follows_the_worst_source(
    home: Path, tmp_path: Path, target_server: TargetServer, paths: list[str], code: int, overall: str
) -> None:
    targets = [{"name": f"svc{i}", "url": target_server.url(path)} for i, path in enumerate(paths)]
    returncode, document = snapshot_json(home, write_config(tmp_path, targets))
    assert returncode == code
    assert (document["status"], document["exit_code"]) == (overall, code)
    assert len(document["sources"]) == len(paths)


def test_snapshot_with_no_sources_is_unknown(home: Path, tmp_path: Path) -> None:
    code, document = snapshot_json(home, write_config(tmp_path, []))
    assert code == 3
    assert (document["status"], document["sources"]) == ("unknown", [])
    # Without any config file at all (empty HOME): same verdict, in text.
    bare = run_cli(home, "snapshot")
    assert bare.returncode == 3
    assert "UNKNOWN no sources configured" in bare.stdout


def test_snapshot_text_prints_one_line_per_source(home: Path, tmp_path: Path, target_server: TargetServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/health"
    config = write_config(
        tmp_path,
        [
            {"name": "live", "url": target_server.url("/seed")},
            {"name": "slowish", "url": target_server.url("/seed-degraded")},
            {"name": "dead", "url": dead},
        ],
    )
    result = run_cli(home, "snapshot", "--config", str(config))
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "opsconsole snapshot · env prod"
    assert lines[-1] == "overall: CRIT (exit 2)"
    body = lines[1:-1]
    assert len(body) == 3
    for name in ("health:live", "health:slowish", "health:dead"):
        assert sum(name in line for line in body) == 1
    # Worst first, each with its status word and a reason.
    assert body[0].startswith("CRIT") and "health:dead" in body[0] and "connection refused" in body[0]
    assert body[1].startswith("WARN") and "health:slowish" in body[1] and "redis: slow" in body[1]
    assert body[2].startswith("OK") and "health:live" in body[2]


def test_snapshot_against_the_demo_stack(home: Path, tmp_path: Path, demo_stack: DemoStack) -> None:
    targets = []
    for entry in demo_stack.describe():
        probes = entry["probes"]
        assert isinstance(probes, dict)
        targets.append({"name": str(entry["name"]), **{("url" if k == "health" else k): v for k, v in probes.items()}})
    config = write_config(tmp_path, targets)
    code, document = snapshot_json(home, config)
    assert (code, statuses(document)) == (
        0,
        {"health:api": "ok", "health:billing": "ok", "health:search": "ok", "health:legacy": "ok"},
    )
    demo_stack.apply("fail", "api")
    demo_stack.stop_service("legacy")
    code, document = snapshot_json(home, config)
    assert code == 2
    assert statuses(document) == {
        "health:api": "crit",
        "health:billing": "ok",
        "health:search": "ok",
        "health:legacy": "crit",
    }
    api = next(e for e in document["sources"] if e["source"] == "health:api")
    assert {p["probe"]: p["status"] for p in api["data"]["probes"]} == {
        "health": "crit",
        "liveness": "ok",
        "readiness": "crit",
    }


# --- secrets in the environment ---------------------------------------------------------------------------


def test_config_show_masks_passwords_from_the_environment(home: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        [{"name": "api", "url": f"http://probe:{PASSWORD}@api.internal/health", "headers": {"X-Token": PASSWORD}}],
    )
    env = {
        "MONGO_URI": f"mongodb://admin:{PASSWORD}@db.internal:27017/admin?authSource=admin",
        "REDIS_URL": f"redis://:{PASSWORD}@cache.internal:6379/0",
        "AMQP_URL": f"amqp://guest:{PASSWORD}@mq.internal:5672/%2F",
    }
    result = run_cli(home, "config", "show", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["mongo"]["uri"] == "mongodb://admin:***@db.internal:27017/admin?authSource=admin"
    assert doc["redis_url"] == "redis://:***@cache.internal:6379/0"
    assert doc["amqp_url"] == "amqp://guest:***@mq.internal:5672/%2F"
    assert doc["health"][0]["probes"] == {"health": "http://probe:***@api.internal/health"}
    assert doc["health"][0]["headers"] == {"X-Token": "***"}


def test_config_show_accepts_a_replica_set_mongo_uri(home: Path) -> None:
    uri = f"mongodb://admin:{PASSWORD}@db1.internal:27017,db2.internal:27017/admin?replicaSet=rs0"
    result = run_cli(home, "config", "show", env={"MONGO_URI": uri})
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mongo"]["uri"].startswith("mongodb://admin:***@db1.internal:27017,")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("REDIS_URL", f"http://:{PASSWORD}@cache.internal:6379", "expected a URL starting with redis://"),
        ("MONGO_URI", f"mongodb://admin:{PASSWORD}@db.internal:notaport/admin", "expected a URL, got an invalid one"),
    ],
)
def test_invalid_url_in_the_environment_is_a_clear_error(home: Path, variable: str, value: str, expected: str) -> None:
    result = run_cli(home, "config", "show", env={variable: value})
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"environment: {variable}: {expected}" in result.stderr
    assert PASSWORD not in result.stderr
    snapshot = run_cli(home, "snapshot", env={variable: value})
    assert snapshot.returncode == 3
    assert variable in snapshot.stderr and PASSWORD not in snapshot.stderr


# --- demo control -----------------------------------------------------------------------------------------


IGNORING_SIGINT = "import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_demo_backend_stops_on_a_signal_even_when_started_with_sigint_ignored(signum: int) -> None:
    """What a non-interactive shell's `cmd &` hands its children (and Python keeps): SIGINT ignored."""
    code = (
        IGNORING_SIGINT
        + (
            "from console.demo.backend import stop_on_signals; stop_on_signals()\n"
            "try:\n    print('ready', flush=True)\n    time.sleep(30)\n"  # ready inside the try: SIGINT may follow
            "except KeyboardInterrupt:\n    print('stopping', flush=True)"
        )
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        child.send_signal(signum)
        assert child.wait(timeout=5) == 0 and child.stdout.read() == "stopping\n"
    finally:
        child.kill()
        child.wait()


def test_demo_down_kills_a_stack_that_does_not_stop_on_sigint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from console.demo import control

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(control, "STOP_WAIT", 0.5)
    stuck = subprocess.Popen(  # noqa: S603 - a stand-in for a stack that ignores SIGINT, in a session of its own
        [sys.executable, "-c", IGNORING_SIGINT + "print('ready', flush=True); time.sleep(60)"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stuck.stdout is not None and stuck.stdout.readline() == "ready\n"
        (tmp_path / "opsconsole").mkdir()
        (tmp_path / "opsconsole" / "demo.pid").write_text(str(stuck.pid))
        assert control.down() == 0
        assert stuck.poll() is not None  # reaped by `down`: gone, not left answering
        assert "did not stop within 0.5 s of SIGINT: killed" in capsys.readouterr().out
        assert not (tmp_path / "opsconsole" / "demo.pid").exists()
    finally:
        stuck.kill()
        stuck.wait()


def test_demo_ctl_without_a_running_demo(home: Path) -> None:
    port = free_port()
    result = run_cli(home, "demo", "ctl", "list", env={"OPSCONSOLE_DEMO_PORT": str(port)})
    assert result.returncode == 1
    assert f"demo stack not reachable on http://127.0.0.1:{port}" in result.stderr
    assert "opsconsole demo up" in result.stderr


def test_demo_ctl_needs_a_service_name(home: Path) -> None:
    result = run_cli(home, "demo", "ctl", "fail", env={"OPSCONSOLE_DEMO_PORT": str(free_port())})
    assert result.returncode == 2
    assert "name a service" in result.stderr


def test_demo_ctl_steers_a_running_stack(home: Path, demo_stack: DemoStack) -> None:
    env = {"OPSCONSOLE_DEMO_PORT": str(demo_stack.base)}
    listing = run_cli(home, "demo", "ctl", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line.split()[1:] for line in listing.stdout.splitlines()}
    assert rows == {
        "api": ["seed", "running", "ok"],
        "billing": ["spring", "running", "ok"],
        "search": ["ietf", "running", "ok"],
        "legacy": ["plain", "running", "ok"],
    }
    failed = run_cli(home, "demo", "ctl", "fail", "api", env=env)
    assert failed.returncode == 0, failed.stderr
    assert demo_stack.services["api"].condition == "failing"
    unknown = run_cli(home, "demo", "ctl", "stop", "nosuch", env=env)
    assert unknown.returncode == 1
    assert "no service 'nosuch'" in unknown.stderr
