"""Settings layering and validation: defaults → TOML file → environment variables → command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from console.config import (
    DEFAULT_REFRESH,
    DEFAULT_TIMEOUT,
    HealthTargetConfig,
    default_config_path,
    load_settings,
    parse_config,
    resolve_config_path,
    url_problem,
)
from console.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

TWO_ENVS = """
[console]
default_env = "staging"
refresh = 5.0
timeout = 1.5
history = 50

[env.staging]
label = "Staging"
redis_url = "redis://staging-redis:6379/0"

[[env.staging.health]]
name = "api"
url = "http://staging-api/health"

[env.prod]
label = "Production"
protected = true
amqp_url = "amqp://guest:guest@prod-mq:5672/"
prometheus_url = "https://prom.prod:9090"

[[env.prod.health]]
name = "api"
url = "https://prod-api/health"
liveness = "https://prod-api/live"
readiness = "https://prod-api/ready"
interval = 10
timeout = 0.5
verify_tls = false
headers = { Authorization = "Bearer abc" }

[[env.prod.health]]
name = "billing"
readiness = "https://billing/ready"

[env.prod.mongo]
uri = "mongodb://prod-db:27017"
name = "main"
"""


def write(directory: Path, text: str, name: str = "config.toml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(text: str, tmp_path: Path) -> tuple[Path, list[str]]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={})
    return path, info.value.problems


def isolated_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose XDG default path points into tmp_path (and exists only if a test creates it)."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **extra}


# --- Locating the file ------------------------------------------------------------------------------


def test_default_config_path_prefers_xdg_config_home() -> None:
    path = default_config_path({"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/me"})
    assert path == Path("/xdg/opsconsole/config.toml")


def test_default_config_path_falls_back_to_home_dot_config() -> None:
    assert default_config_path({"HOME": "/home/me"}) == Path("/home/me/.config/opsconsole/config.toml")
    assert default_config_path({"HOME": "/home/me", "XDG_CONFIG_HOME": ""}) == Path(
        "/home/me/.config/opsconsole/config.toml"
    )


def test_resolve_config_path_precedence(tmp_path: Path) -> None:
    environ = isolated_environ(tmp_path, OPSCONSOLE_CONFIG=str(tmp_path / "from-env.toml"))
    xdg = write(tmp_path / "xdg" / "opsconsole", "", "config.toml")
    assert resolve_config_path("cli.toml", environ) == Path("cli.toml")
    assert resolve_config_path(None, environ) == tmp_path / "from-env.toml"
    del environ["OPSCONSOLE_CONFIG"]
    assert resolve_config_path(None, environ) == xdg


def test_resolve_config_path_ignores_missing_xdg_default(tmp_path: Path) -> None:
    assert resolve_config_path(None, isolated_environ(tmp_path)) is None


# --- Layering ---------------------------------------------------------------------------------------


def test_defaults_without_any_file(tmp_path: Path) -> None:
    settings = load_settings(environ=isolated_environ(tmp_path))
    assert settings.path is None
    assert settings.env_name == "default"
    assert settings.environments == ("default",)
    assert settings.refresh == DEFAULT_REFRESH
    assert settings.timeout == DEFAULT_TIMEOUT
    assert settings.history == 30
    assert settings.env.protected is False
    assert settings.env.health == ()
    assert settings.env.mongo is None


def test_default_run_uses_process_environment_isolated_by_conftest() -> None:
    # conftest points HOME/XDG at an empty temp dir, so no developer config leaks in.
    settings = load_settings()
    assert settings.path is None
    assert settings.env_name == "default"


def test_file_via_cli_path(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_ENVS)
    settings = load_settings(str(path), environ=isolated_environ(tmp_path))
    assert settings.path == path
    assert settings.environments == ("staging", "prod")
    assert settings.env_name == "staging"  # default_env
    assert settings.env.label == "Staging"
    assert settings.refresh == 5.0
    assert settings.timeout == 1.5
    assert settings.history == 50
    assert settings.env.redis_url == "redis://staging-redis:6379/0"
    (api,) = settings.env.health
    # Per-target interval/timeout inherit console values when not given.
    assert api == HealthTargetConfig(name="api", url="http://staging-api/health", interval=5.0, timeout=1.5)


def test_file_via_opsconsole_config_variable(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_ENVS, "elsewhere.toml")
    settings = load_settings(environ=isolated_environ(tmp_path, OPSCONSOLE_CONFIG=str(path)))
    assert settings.path == path
    assert settings.env_name == "staging"


def test_file_via_xdg_default_path(tmp_path: Path) -> None:
    path = write(tmp_path / "xdg" / "opsconsole", TWO_ENVS)
    settings = load_settings(environ=isolated_environ(tmp_path))
    assert settings.path == path
    assert settings.refresh == 5.0


def test_cli_path_beats_variable_beats_xdg(tmp_path: Path) -> None:
    write(tmp_path / "xdg" / "opsconsole", "[console]\nrefresh = 3.0\n")
    from_var = write(tmp_path, "[console]\nrefresh = 4.0\n", "var.toml")
    from_cli = write(tmp_path, "[console]\nrefresh = 6.0\n", "cli.toml")
    environ = isolated_environ(tmp_path, OPSCONSOLE_CONFIG=str(from_var))
    assert load_settings(str(from_cli), environ=environ).refresh == 6.0
    assert load_settings(None, environ=environ).refresh == 4.0
    del environ["OPSCONSOLE_CONFIG"]
    assert load_settings(None, environ=environ).refresh == 3.0


def test_env_choice_order(tmp_path: Path) -> None:
    path = str(write(tmp_path, TWO_ENVS))
    environ = isolated_environ(tmp_path)
    assert load_settings(path, environ=environ).env_name == "staging"
    assert load_settings(path, "prod", environ=environ).env_name == "prod"
    environ["OPSCONSOLE_ENV"] = "prod"
    assert load_settings(path, environ=environ).env_name == "prod"
    # --env beats $OPSCONSOLE_ENV
    assert load_settings(path, "staging", environ=environ).env_name == "staging"


def test_first_environment_when_no_default_env(tmp_path: Path) -> None:
    path = write(tmp_path, '[env.b]\nlabel = "B"\n[env.a]\nlabel = "A"\n')
    settings = load_settings(str(path), environ={})
    assert settings.env_name == "b"
    assert settings.environments == ("b", "a")


def test_label_defaults_to_environment_name(tmp_path: Path) -> None:
    path = write(tmp_path, "[env.qa]\n")
    assert load_settings(str(path), environ={}).env.label == "qa"


def test_selected_environment_details(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path, TWO_ENVS)), "prod", environ={})
    env = settings.env
    assert env.protected is True
    assert env.label == "Production"
    assert env.amqp_url == "amqp://guest:guest@prod-mq:5672/"
    assert env.prometheus_url == "https://prom.prod:9090"
    api, billing = env.health
    assert api.interval == 10.0 and api.timeout == 0.5
    assert api.verify_tls is False
    assert dict(api.headers) == {"Authorization": "Bearer abc"}
    assert api.probe_urls() == [
        ("health", "https://prod-api/health"),
        ("liveness", "https://prod-api/live"),
        ("readiness", "https://prod-api/ready"),
    ]
    assert billing.probe_urls() == [("readiness", "https://billing/ready")]
    assert billing.verify_tls is True
    assert env.mongo is not None
    assert env.mongo.uri == "mongodb://prod-db:27017"
    assert env.mongo.name == "main"
    assert env.mongo.interval == 5.0  # max(refresh, 5.0)
    assert env.mongo.timeout == 1.5


def test_protected_defaults_to_false(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path, TWO_ENVS)), "staging", environ={})
    assert settings.env.protected is False


def test_unknown_env_names_file_and_defined_environments(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_ENVS)
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), "qa", environ={})
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: --env: ")
    assert "'qa'" in problem
    assert "staging, prod" in problem


def test_unknown_env_without_file_names_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, "prod", environ=isolated_environ(tmp_path))
    assert info.value.problems == ["command line: --env: no environment 'prod' (defined: default)"]


def test_env_vars_override_file_values(tmp_path: Path) -> None:
    environ = {
        "REDIS_URL": "rediss://cache:6380/1",
        "AMQP_URL": "amqps://mq:5671/",
        "MONGO_URI": "mongodb+srv://cluster.example.net/",
        "PROMETHEUS_URL": "http://prom:9090",
    }
    settings = load_settings(str(write(tmp_path, TWO_ENVS)), "prod", environ=environ)
    env = settings.env
    assert env.redis_url == "rediss://cache:6380/1"
    assert env.amqp_url == "amqps://mq:5671/"
    assert env.prometheus_url == "http://prom:9090"
    assert env.mongo is not None
    assert env.mongo.uri == "mongodb+srv://cluster.example.net/"
    # The rest of the [mongo] table is kept; only the URI is replaced.
    assert env.mongo.name == "main"
    assert env.mongo.timeout == 1.5


def test_mongo_uri_variable_creates_mongo_source_when_file_has_none(tmp_path: Path) -> None:
    settings = load_settings(environ=isolated_environ(tmp_path, MONGO_URI="mongodb://localhost:27017"))
    assert settings.env.mongo is not None
    assert settings.env.mongo.uri == "mongodb://localhost:27017"
    assert settings.env.mongo.name == "mongo"


def test_empty_env_var_is_ignored(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path, TWO_ENVS)), environ={"REDIS_URL": ""})
    assert settings.env.redis_url == "redis://staging-redis:6379/0"


def test_env_vars_apply_only_to_the_chosen_environment(tmp_path: Path) -> None:
    path = str(write(tmp_path, TWO_ENVS))
    settings = load_settings(path, "staging", environ={"AMQP_URL": "amqp://mq/"})
    assert settings.env.amqp_url == "amqp://mq/"
    assert load_settings(path, "prod", environ={}).env.amqp_url == "amqp://guest:guest@prod-mq:5672/"


def test_bad_env_var_url_names_variable_and_hides_secret(tmp_path: Path) -> None:
    environ = isolated_environ(tmp_path, REDIS_URL="http://user:hunter2@cache:6379")
    with pytest.raises(ConfigError) as info:
        load_settings(environ=environ)
    (problem,) = info.value.problems
    assert problem.startswith("environment: REDIS_URL: ")
    assert "redis://" in problem and "'http'" in problem
    assert "hunter2" not in problem


def test_all_bad_env_vars_reported_together(tmp_path: Path) -> None:
    environ = isolated_environ(
        tmp_path, REDIS_URL="nope", AMQP_URL="http://mq", MONGO_URI="mongodb://h:port", PROMETHEUS_URL="ftp://p"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(environ=environ)
    variables = [p.split(": ")[1] for p in info.value.problems]
    assert variables == ["REDIS_URL", "AMQP_URL", "MONGO_URI", "PROMETHEUS_URL"]
    assert "invalid" in info.value.problems[2]


def test_refresh_argument_overrides_file_and_target_intervals(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path, TWO_ENVS)), "prod", environ={}, refresh=0.5)
    assert settings.refresh == 0.5
    assert [t.interval for t in settings.env.health] == [0.5, 0.5]
    # Timeouts are untouched by --refresh.
    assert [t.timeout for t in settings.env.health] == [0.5, 1.5]


def test_refresh_argument_without_file(tmp_path: Path) -> None:
    assert load_settings(environ=isolated_environ(tmp_path), refresh=7).refresh == 7


def test_refresh_argument_too_small(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=isolated_environ(tmp_path), refresh=0.1)
    assert info.value.problems == ["command line: --refresh: expected a number >= 0.2, got 0.1"]


def test_parse_config_directly() -> None:
    options, environments = parse_config(
        {"console": {"refresh": 3}, "env": {"x": {"health": [{"name": "a", "url": "http://a"}]}}}, "mem"
    )
    assert options == {
        "refresh": 3.0,
        "timeout": DEFAULT_TIMEOUT,
        "default_env": None,
        "history": 30,
        "audit_log": None,
        "write_minutes": 15.0,
    }
    assert list(environments) == ["x"]
    assert environments["x"].health[0].interval == 3.0


def test_empty_file_is_valid(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path, "")), environ={})
    assert settings.env_name == "default"
    assert settings.refresh == DEFAULT_REFRESH


# --- Validation: every problem names file, key and expectation ----------------------------------------

HEALTH = '[[env.prod.health]]\nname = "api"\n'

BAD_CONFIGS = [
    pytest.param("bogus = 1\n", "bogus", "unknown key (expected one of: console, env)", id="unknown-top-key"),
    pytest.param("[console]\ncolour = 1\n", "console.colour", "unknown key", id="unknown-console-key"),
    pytest.param(
        "[env.prod]\ncolour = 1\n", "env.prod.colour", "unknown key (expected one of: amqp_url", id="unknown-env-key"
    ),
    pytest.param(
        HEALTH + 'url = "http://a"\ncolour = 1\n', "env.prod.health[0].colour", "unknown key", id="unknown-health-key"
    ),
    pytest.param(
        '[env.prod.mongo]\nuri = "mongodb://h"\ncolour = 1\n',
        "env.prod.mongo.colour",
        "unknown key",
        id="unknown-mongo-key",
    ),
    pytest.param("console = 5\n", "console", "expected a table, got int", id="console-not-table"),
    pytest.param('env = "x"\n', "env", "expected a table, got string 'x'", id="env-not-table"),
    pytest.param("[env]\nprod = 3\n", "env.prod", "expected a table, got int", id="env-entry-not-table"),
    pytest.param(
        '[console]\nrefresh = "fast"\n',
        "console.refresh",
        "expected a number of seconds, got string 'fast'",
        id="refresh-string",
    ),
    pytest.param(
        "[console]\nrefresh = true\n",
        "console.refresh",
        "expected a number of seconds, got a boolean",
        id="refresh-bool",
    ),
    pytest.param(
        "[console]\nrefresh = 0.1\n", "console.refresh", "expected a number >= 0.2, got 0.1", id="refresh-too-small"
    ),
    pytest.param("[console]\ntimeout = 0\n", "console.timeout", "expected a number >= 0.05, got 0", id="timeout-zero"),
    pytest.param(
        "[console]\ntimeout = [1]\n",
        "console.timeout",
        "expected a number of seconds, got an array",
        id="timeout-array",
    ),
    pytest.param(
        "[console]\nhistory = 1\n", "console.history", "expected a whole number from 2 to 1000", id="history-too-small"
    ),
    pytest.param(
        "[console]\nhistory = 5000\n",
        "console.history",
        "expected a whole number from 2 to 1000",
        id="history-too-large",
    ),
    pytest.param("[console]\nhistory = 2.5\n", "console.history", "got float", id="history-float"),
    pytest.param("[console]\nhistory = true\n", "console.history", "got a boolean", id="history-bool"),
    pytest.param(
        "[console]\ndefault_env = 5\n",
        "console.default_env",
        "expected a non-empty string, got int",
        id="default-env-int",
    ),
    pytest.param(
        '[console]\ndefault_env = "  "\n', "console.default_env", "expected a non-empty string", id="default-env-blank"
    ),
    pytest.param(
        '[console]\ndefault_env = "prod"\n[env.staging]\n',
        "console.default_env",
        "names environment 'prod', which is not defined under [env]",
        id="default-env-undefined",
    ),
    pytest.param(
        '[env.prod]\nprotected = "yes"\n',
        "env.prod.protected",
        "expected true or false, got string 'yes'",
        id="protected-string",
    ),
    pytest.param("[env.prod]\nlabel = 5\n", "env.prod.label", "expected a string, got int", id="label-int"),
    pytest.param(
        '[env.prod]\nhealth = "http://a"\n', "env.prod.health", "expected an array of tables", id="health-not-array"
    ),
    pytest.param(
        '[env.prod]\nhealth = ["x"]\n',
        "env.prod.health[0]",
        "expected a table, got string 'x'",
        id="health-entry-not-table",
    ),
    pytest.param(
        '[[env.prod.health]]\nurl = "http://a"\n',
        "env.prod.health[0].name",
        "is required (expected a string)",
        id="health-name-missing",
    ),
    pytest.param(
        HEALTH, "env.prod.health[0]", "needs at least one of url, liveness, readiness", id="health-url-missing"
    ),
    pytest.param(
        HEALTH + 'url = "not a url"\n',
        "env.prod.health[0].url",
        "expected a URL starting with http:// or https://, got scheme ''",
        id="url-no-scheme",
    ),
    pytest.param(
        HEALTH + 'url = "ftp://host/health"\n',
        "env.prod.health[0].url",
        "expected a URL starting with http:// or https://, got scheme 'ftp'",
        id="url-bad-scheme",
    ),
    pytest.param(
        HEALTH + 'liveness = "http://host:abc/live"\n',
        "env.prod.health[0].liveness",
        "expected a URL, got an invalid one",
        id="url-bad-port",
    ),
    pytest.param(
        HEALTH + 'readiness = "http://[::1/ready"\n',
        "env.prod.health[0].readiness",
        "expected a URL, got an invalid one",
        id="url-bad-ipv6",
    ),
    pytest.param(
        HEALTH + 'url = "http://"\n', "env.prod.health[0].url", "expected a URL with a host", id="url-no-host"
    ),
    pytest.param(HEALTH + 'url = ""\n', "env.prod.health[0].url", "expected a non-empty string", id="url-empty"),
    pytest.param(HEALTH + "url = 5\n", "env.prod.health[0].url", "expected a non-empty string, got int", id="url-int"),
    pytest.param(
        HEALTH + 'url = "http://a"\n' + HEALTH + 'url = "http://b"\n',
        "env.prod.health[1].name",
        "duplicate target name 'api'",
        id="duplicate-target",
    ),
    pytest.param(
        HEALTH + 'url = "http://a"\nheaders = { X-Retries = 3 }\n',
        "env.prod.health[0].headers",
        "expected a table of string values",
        id="headers-not-strings",
    ),
    pytest.param(
        HEALTH + 'url = "http://a"\nheaders = "Bearer x"\n',
        "env.prod.health[0].headers",
        "expected a table of string values",
        id="headers-not-table",
    ),
    pytest.param(
        HEALTH + 'url = "http://a"\nverify_tls = "no"\n',
        "env.prod.health[0].verify_tls",
        "expected true or false",
        id="verify-tls-string",
    ),
    pytest.param(
        HEALTH + 'url = "http://a"\ninterval = 0.1\n',
        "env.prod.health[0].interval",
        "expected a number >= 0.2, got 0.1",
        id="health-interval-too-small",
    ),
    pytest.param(
        HEALTH + 'url = "http://a"\ntimeout = "3s"\n',
        "env.prod.health[0].timeout",
        "expected a number of seconds, got string '3s'",
        id="health-timeout-string",
    ),
    pytest.param('[env.prod.mongo]\nname = "db"\n', "env.prod.mongo.uri", "is required", id="mongo-uri-missing"),
    pytest.param(
        '[env.prod.mongo]\nuri = "http://db:27017"\n',
        "env.prod.mongo.uri",
        "expected a URL starting with mongodb:// or mongodb+srv://, got scheme 'http'",
        id="mongo-uri-bad-scheme",
    ),
    pytest.param(
        '[env.prod]\nmongo = "mongodb://db"\n', "env.prod.mongo", "expected a table, got a string", id="mongo-not-table"
    ),
    pytest.param(
        '[env.prod.mongo]\nuri = "mongodb://db"\ninterval = 0\n',
        "env.prod.mongo.interval",
        "expected a number >= 0.2",
        id="mongo-interval",
    ),
    pytest.param(
        '[env.prod]\nredis_url = "http://cache"\n',
        "env.prod.redis_url",
        "expected a URL starting with redis:// or rediss:// or unix://, got scheme 'http'",
        id="redis-bad-scheme",
    ),
    pytest.param(
        '[env.prod]\namqp_url = "redis://mq"\n',
        "env.prod.amqp_url",
        "expected a URL starting with amqp:// or amqps://, got scheme 'redis'",
        id="amqp-bad-scheme",
    ),
    pytest.param(
        '[env.prod]\nprometheus_url = "prom:9090"\n',
        "env.prod.prometheus_url",
        "expected a URL starting with http:// or https://",
        id="prometheus-bad-scheme",
    ),
]


@pytest.mark.parametrize(("text", "key", "expectation"), BAD_CONFIGS)
def test_validation_problem_names_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expectation: str
) -> None:
    path, problems = problems_of(text, tmp_path)
    prefix = f"{path}: {key}: "
    matching = [p for p in problems if p.startswith(prefix)]
    assert matching, f"no problem for {key!r} in {problems}"
    assert any(expectation in p for p in matching), matching
    assert all(p.startswith(f"{path}: ") for p in problems)


def test_config_error_message_lists_every_problem_on_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[console]\nrefresh = 0\ntimeout = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={})
    assert str(info.value).splitlines() == info.value.problems
    assert len(info.value.problems) == 2


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = """
bogus = true

[console]
refresh = "fast"
history = 0
default_env = "nowhere"

[env.prod]
protected = "yes"
redis_url = "http://cache"

[[env.prod.health]]
name = "api"
url = "ftp://api"

[[env.prod.health]]
name = "api"

[env.prod.mongo]
uri = "postgres://db"
"""
    path, problems = problems_of(text, tmp_path)
    keys = {p.removeprefix(f"{path}: ").split(": ")[0] for p in problems}
    assert keys == {
        "bogus",
        "console.refresh",
        "console.history",
        "console.default_env",
        "env.prod.protected",
        "env.prod.redis_url",
        "env.prod.health[0].url",
        "env.prod.health[1].name",
        "env.prod.health[1]",
        "env.prod.mongo.uri",
    }
    assert len(problems) == 10


def test_problems_in_several_environments_are_all_reported(tmp_path: Path) -> None:
    text = "[env.a]\nlabel = 1\n[env.b]\nlabel = 2\n[env.c]\nprotected = 0\n"
    _, problems = problems_of(text, tmp_path)
    assert [p.split(": ")[1] for p in problems] == ["env.a.label", "env.b.label", "env.c.protected"]


def test_url_problem_does_not_echo_credentials(tmp_path: Path) -> None:
    text = '[env.prod]\nredis_url = "http://admin:hunter2@cache"\namqp_url = "amqp://u:hunter2@mq:bad"\n'
    _, problems = problems_of(text, tmp_path)
    assert len(problems) == 2
    assert not any("hunter2" in p for p in problems)


def test_wrong_type_with_url_value_does_not_echo_it(tmp_path: Path) -> None:
    # The "got ..." part quotes short strings but never one that looks like a URL (may carry a password).
    _, problems = problems_of('[console]\nrefresh = "http://u:hunter2@h"\n', tmp_path)
    (problem,) = problems
    assert "hunter2" not in problem
    assert problem.endswith("expected a number of seconds, got a string")


def test_invalid_toml_names_file_and_position(tmp_path: Path) -> None:
    path, problems = problems_of("[console]\nrefresh = = 2\n", tmp_path)
    (problem,) = problems
    assert problem.startswith(f"{path}: invalid TOML: ")
    assert "line 2" in problem


def test_missing_file_given_on_command_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(str(missing), environ={})
    assert info.value.problems == [f"{missing}: file not found"]


def test_missing_file_named_by_variable_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(environ=isolated_environ(tmp_path, OPSCONSOLE_CONFIG=str(missing)))
    assert info.value.problems == [f"{missing}: file not found"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), environ={})
    assert info.value.problems == [f"{tmp_path}: is a directory, expected a TOML file"]


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[env.prod]\nlabel = "Pr\xf6d"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={})
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: not UTF-8 text")


def test_default_env_without_any_environment_fails_on_selection(tmp_path: Path) -> None:
    path = write(tmp_path, '[console]\ndefault_env = "prod"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={})
    (problem,) = info.value.problems
    assert problem.startswith(str(path))
    assert "'prod'" in problem


def test_file_problems_are_raised_before_env_var_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "[console]\nrefresh = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={"REDIS_URL": "nope"})
    assert info.value.problems == [f"{path}: console.refresh: expected a number >= 0.2, got 0"]


# --- url_problem -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "schemes"),
    [
        ("http://host", ("http", "https")),
        ("https://host:8443/health?x=1", ("http", "https")),
        ("http://[::1]:8080/", ("http", "https")),
        ("mongodb://u:p@a,b/?replicaSet=rs0", ("mongodb", "mongodb+srv")),
        ("mongodb://u:p@a:27017,b:27017/?replicaSet=rs0", ("mongodb", "mongodb+srv")),
        ("mongodb+srv://cluster.example.net/", ("mongodb", "mongodb+srv")),
        ("rediss://:secret@cache:6380/0", ("redis", "rediss", "unix")),
        ("amqp://guest:guest@mq:5672/%2f", ("amqp", "amqps")),
    ],
)
def test_url_problem_accepts_valid_urls(url: str, schemes: tuple[str, ...]) -> None:
    assert url_problem(url, schemes) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("host:80", "got scheme 'host'"),
        ("http://host:99999", "invalid"),
        ("http://", "with a host"),
        ("HTTPS://host", "got scheme 'https'"),  # urlsplit lower-cases the scheme
    ],
)
def test_url_problem_rejects(url: str, fragment: str) -> None:
    problem = url_problem(url, ("http",))
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("where", ["file", "MONGO_URI"])
def test_mongo_replica_set_seed_list_with_ports_is_accepted(tmp_path: Path, where: str) -> None:
    uri = "mongodb://db1:27017,db2:27017,db3:27017/?replicaSet=rs0"
    if where == "file":
        settings = load_settings(str(write(tmp_path, f'[env.prod.mongo]\nuri = "{uri}"\n')), environ={})
    else:
        settings = load_settings(environ=isolated_environ(tmp_path, MONGO_URI=uri))
    assert settings.env.mongo is not None and settings.env.mongo.uri == uri


def test_mongo_seed_list_with_one_bad_port_is_rejected() -> None:
    problem = url_problem("mongodb://u:hunter2@a:27017,b:notaport/?replicaSet=rs0", ("mongodb", "mongodb+srv"))
    assert problem is not None and problem.startswith("expected a URL, got an invalid one")
    assert "hunter2" not in problem


# --- Shipped examples -------------------------------------------------------------------------------


def test_repository_console_example_validates() -> None:
    path = REPO / "console.example.toml"
    if not path.exists():
        pytest.skip("console.example.toml not present yet")
    settings = load_settings(str(path), environ={})
    assert settings.path == path
    for name in settings.environments:
        env = load_settings(str(path), name, environ={}).env
        assert env.name == name


def test_demo_config_validates() -> None:
    path = REPO / "examples" / "demo.toml"
    settings = load_settings(str(path), environ={})
    assert settings.env_name == "demo"
    assert settings.env.protected is False
    assert [t.name for t in settings.env.health] == ["api", "billing", "search", "legacy"]
    assert all(t.probe_urls() for t in settings.env.health)
    assert settings.timeout == 2.0


# --- Regression tests for source bugs found in review ---------------------------------


def test_redis_unix_socket_url_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, '[env.prod]\nredis_url = "unix:///var/run/redis.sock"\n')
    assert load_settings(str(path), environ={}).env.redis_url == "unix:///var/run/redis.sock"


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_rejected(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"[console]\nrefresh = {value}\n")
    try:
        settings = load_settings(str(path), environ={})
    except ConfigError as exc:
        assert "console.refresh" in str(exc)
    else:
        assert math.isfinite(settings.refresh), "non-finite refresh accepted"


def test_empty_health_table_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "[[env.prod.health]]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={})
    assert any("env.prod.health[0]" in p for p in info.value.problems)
