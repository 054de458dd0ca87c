"""parse_health: seed JSON, Spring actuator, IETF health+json, fallbacks and hostile content."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.adapters.http_health import health_response, parse_health, status_from_code
from console.model import HealthCheck, Status

JSON = "application/json"
SPRING = "application/vnd.spring-boot.actuator.v3+json"
IETF = "application/health+json"
UNSAFE_CHARS = ("\x1b", "\x9b", "\x07", "\x00", "\u202e", "\u2066", "\x7f")


def parse(doc: Any, code: int = 200, content_type: str = JSON) -> tuple[Status, str, tuple[HealthCheck, ...], str]:
    return parse_health(code, content_type, json.dumps(doc).encode())


def by_name(checks: tuple[HealthCheck, ...]) -> dict[str, HealthCheck]:
    return {c.name: c for c in checks}


def assert_terminal_safe(*texts: str) -> None:
    for text in texts:
        for char in UNSAFE_CHARS:
            assert char not in text, f"{char!r} survived in {text!r}"


# --- status_from_code -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (200, Status.OK),
        (204, Status.OK),
        (299, Status.OK),
        (301, Status.WARN),
        (399, Status.WARN),
        (400, Status.CRIT),
        (404, Status.CRIT),
        (500, Status.CRIT),
        (503, Status.CRIT),
        (100, Status.CRIT),
    ],
)
def test_status_from_code(code: int, status: Status) -> None:
    assert status_from_code(code) is status


# --- Seed style --------------------------------------------------------------------------------------


def test_seed_ok_with_string_and_informational_checks() -> None:
    doc = {
        "status": "ok",
        "checks": {"database": "connected", "memory": {"heapUsed": 1234, "rss": 5678, "unit": "kB"}},
    }
    status, fmt, checks, message = parse(doc)
    assert (status, fmt) == (Status.OK, "seed")
    named = by_name(checks)
    assert named["database"] == HealthCheck("database", Status.OK, "connected")
    # A block of figures without its own verdict is informational (OK), its figures become the detail.
    assert named["memory"].status is Status.OK
    assert named["memory"].detail == "heapUsed=1234, rss=5678, unit=kB"
    assert message == "ok (HTTP 200)"


def test_seed_degraded() -> None:
    doc = {"status": "degraded", "checks": {"database": "connected", "cache": "connecting"}}
    status, fmt, checks, message = parse(doc)
    assert (status, fmt) == (Status.WARN, "seed")
    assert by_name(checks)["cache"].status is Status.WARN
    assert message == "cache: connecting"


def test_seed_error_on_503() -> None:
    doc = {"status": "error", "checks": {"database": "disconnected", "queue": "connected"}}
    status, fmt, checks, message = parse(doc, code=503)
    assert (status, fmt) == (Status.CRIT, "seed")
    assert by_name(checks)["database"].status is Status.CRIT
    assert message == "database: disconnected"


def test_seed_checks_as_objects_with_latency_and_message() -> None:
    doc = {
        "status": "degraded",
        "checks": {
            "database": {"status": "ok", "latencyMs": 12.5},
            "redis": {"status": "degraded", "latencyMs": "850ms", "message": "slow replies"},
            "search": {"status": "error", "error": "connection refused"},
        },
    }
    status, _, checks, message = parse(doc)
    assert status is Status.WARN  # the document's word wins over a 200
    named = by_name(checks)
    assert named["database"].status is Status.OK and named["database"].latency_ms == 12.5
    assert named["redis"] == HealthCheck("redis", Status.WARN, "slow replies", 850.0)
    assert named["search"] == HealthCheck("search", Status.CRIT, "connection refused", None)
    # The worst failing check explains the verdict.
    assert message == "search: connection refused"


def test_seed_check_status_may_use_connection_words() -> None:
    doc = {"status": "ok", "checks": {"db": {"status": "connected"}, "mq": {"status": "timeout"}}}
    _, _, checks, _ = parse(doc)
    assert by_name(checks)["db"].status is Status.OK
    assert by_name(checks)["mq"].status is Status.CRIT


def test_seed_checks_as_list() -> None:
    doc = {
        "status": "ok",
        "checks": [
            {"name": "database", "status": "up", "latency_ms": 3},
            {"name": "disk", "status": "warning", "message": "85% full"},
            {"status": "ok"},
            "loose",
        ],
    }
    status, fmt, checks, message = parse(doc)
    assert fmt == "seed"
    assert [c.name for c in checks] == ["database", "disk", "2", "3"]
    assert checks[0].latency_ms == 3.0
    assert checks[1].status is Status.WARN and checks[1].detail == "85% full"
    assert checks[3].status is Status.UNKNOWN
    # "ok" at the top, but a check is unknown: the top-level word decides, message names the worst check.
    assert status is Status.OK
    assert message == "3: loose"


def test_seed_boolean_and_unknown_checks() -> None:
    doc = {"status": "ok", "checks": {"db": True, "mq": False, "odd": "banana", "num": 5}}
    _, _, checks, _ = parse(doc)
    named = by_name(checks)
    assert named["db"] == HealthCheck("db", Status.OK, "true")
    assert named["mq"] == HealthCheck("mq", Status.CRIT, "false")
    assert named["odd"] == HealthCheck("odd", Status.UNKNOWN, "banana")
    assert named["num"] == HealthCheck("num", Status.UNKNOWN, "5")


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("ok", Status.OK),
        ("OK", Status.OK),
        ("healthy", Status.OK),
        ("Up", Status.OK),
        ("degraded", Status.WARN),
        ("warning", Status.WARN),
        ("error", Status.CRIT),
        ("unhealthy", Status.CRIT),
        ("critical", Status.CRIT),
        ("banana", Status.UNKNOWN),
    ],
)
def test_seed_top_level_words(word: str, status: Status) -> None:
    assert parse({"status": word})[0] is status


def test_top_level_message_is_preferred() -> None:
    doc = {"status": "degraded", "message": "read-only mode", "checks": {"db": "disconnected"}}
    assert parse(doc)[3] == "read-only mode"


def test_seed_without_checks() -> None:
    status, fmt, checks, message = parse({"status": "ok"})
    assert (status, fmt, checks, message) == (Status.OK, "seed", (), "ok (HTTP 200)")


def test_non_string_status_is_unknown() -> None:
    status, fmt, _, message = parse({"status": 1})
    assert status is Status.UNKNOWN
    assert fmt == "seed"
    assert message == "1 (HTTP 200)"


def test_too_many_checks_are_capped() -> None:
    doc = {"status": "ok", "checks": {f"c{i}": "connected" for i in range(500)}}
    assert len(parse(doc)[2]) == 100


# --- Spring actuator ---------------------------------------------------------------------------------


def test_spring_up_with_nested_components_and_details() -> None:
    doc = {
        "status": "UP",
        "components": {
            "db": {
                "status": "UP",
                "components": {
                    "primary": {"status": "UP", "details": {"database": "PostgreSQL", "validationQuery": "isValid()"}},
                    "replica": {"status": "UP", "details": {"latency_ms": 7}},
                },
            },
            "diskSpace": {"status": "UP", "details": {"total": 1000, "free": 400, "threshold": 10, "exists": True}},
            "ping": {"status": "UP"},
        },
    }
    status, fmt, checks, message = parse(doc, content_type=SPRING)
    assert (status, fmt) == (Status.OK, "spring")
    assert [c.name for c in checks] == ["db", "db/primary", "db/replica", "diskSpace", "ping"]
    named = by_name(checks)
    assert named["db/primary"].detail == "database=PostgreSQL, validationQuery=isValid()"
    assert named["db/replica"].latency_ms == 7.0
    assert named["diskSpace"].detail == "total=1000, free=400, threshold=10"  # booleans are left out
    assert all(c.status is Status.OK for c in checks)
    assert message == "UP (HTTP 200)"


@pytest.mark.parametrize(("word", "code"), [("DOWN", 503), ("OUT_OF_SERVICE", 503), ("DOWN", 200)])
def test_spring_down_and_out_of_service(word: str, code: int) -> None:
    doc = {
        "status": word,
        "components": {"db": {"status": word, "details": {"error": "java.net.ConnectException: refused"}}},
    }
    status, fmt, checks, message = parse(doc, code=code, content_type=JSON)
    assert (status, fmt) == (Status.CRIT, "spring")
    assert checks[0].status is Status.CRIT
    assert message == "db: java.net.ConnectException: refused"


def test_spring_detected_by_components_even_with_lowercase_status() -> None:
    doc = {"status": "up", "components": {"redis": {"status": "DOWN"}}}
    status, fmt, checks, message = parse(doc)
    assert fmt == "spring"
    assert status is Status.OK  # top-level word "up" maps case-insensitively; components don't override it
    assert checks[0].status is Status.CRIT
    assert message == "redis: crit"


def test_spring_unknown_component_status() -> None:
    doc = {"status": "UNKNOWN", "components": {"x": {"status": "WEIRD"}, "y": "not-a-dict"}}
    status, _, checks, _ = parse(doc)
    assert status is Status.UNKNOWN
    assert [(c.name, c.status) for c in checks] == [("x", Status.UNKNOWN)]


def test_spring_without_components() -> None:
    status, fmt, checks, message = parse({"status": "UP"})
    assert (status, fmt, checks, message) == (Status.OK, "spring", (), "UP (HTTP 200)")


# --- IETF application/health+json ------------------------------------------------------------------


def test_ietf_pass_with_response_time_checks() -> None:
    doc = {
        "status": "pass",
        "version": "1",
        "checks": {
            "postgres:responseTime": [
                {"componentId": "db-1", "status": "pass", "observedValue": 12, "observedUnit": "ms"},
                {"componentId": "db-2", "status": "pass", "observedValue": 30, "observedUnit": "ms"},
            ],
            "memory:utilization": [{"status": "pass", "observedValue": 40, "observedUnit": "percent"}],
            "uptime": {"status": "pass", "observedValue": 1209600, "observedUnit": "s"},
        },
    }
    status, fmt, checks, message = parse(doc, content_type=IETF)
    assert (status, fmt) == (Status.OK, "ietf")
    named = by_name(checks)
    assert set(named) == {
        "postgres:responseTime [db-1]",
        "postgres:responseTime [db-2]",
        "memory:utilization",
        "uptime",
    }
    assert named["postgres:responseTime [db-1]"].latency_ms == 12.0
    assert named["postgres:responseTime [db-2]"].latency_ms == 30.0
    # Only response-time measurements in ms are latencies.
    assert named["memory:utilization"].latency_ms is None
    assert named["memory:utilization"].detail == "observedValue=40"
    assert named["uptime"].latency_ms is None
    assert message == "pass (HTTP 200)"


def test_ietf_warn() -> None:
    doc = {"status": "warn", "checks": {"disk:utilization": [{"status": "warn", "output": "91% used"}]}}
    status, fmt, checks, message = parse(doc, content_type=IETF)
    assert (status, fmt) == (Status.WARN, "ietf")
    assert checks[0].detail == "91% used"
    assert message == "disk:utilization: 91% used"


def test_ietf_fail_with_top_level_output() -> None:
    doc = {
        "status": "fail",
        "output": "database unreachable",
        "checks": {"db:connections": [{"status": "fail", "output": "refused"}]},
    }
    status, fmt, checks, message = parse(doc, code=503, content_type=IETF)
    assert (status, fmt) == (Status.CRIT, "ietf")
    assert checks[0].status is Status.CRIT
    assert message == "database unreachable"


def test_ietf_recognised_by_pass_fail_words_without_content_type() -> None:
    assert parse({"status": "fail"})[:2] == (Status.CRIT, "ietf")
    assert parse({"status": "PASS"})[:2] == (Status.OK, "ietf")


def test_ietf_non_dict_entries_are_skipped() -> None:
    doc = {"status": "pass", "checks": {"a": ["x", 1, {"status": "pass"}], "b": "nope"}}
    _, _, checks, _ = parse(doc, content_type=IETF)
    assert [c.name for c in checks] == ["a"]


# --- Fallbacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "content_type", "body", "status", "message"),
    [
        (200, "text/plain", b"ok", Status.OK, "HTTP 200"),
        (503, "text/plain", b"ok", Status.CRIT, "HTTP 503"),
        (200, JSON, b"", Status.OK, "HTTP 200"),
        (200, JSON, b"{not json", Status.OK, "HTTP 200 (invalid JSON body)"),
        (500, JSON, b"<html>oops</html>", Status.CRIT, "HTTP 500 (invalid JSON body)"),
        (200, JSON, b"[1, 2, 3]", Status.OK, "HTTP 200"),
        (200, JSON, b'"ok"', Status.OK, "HTTP 200"),
        (302, JSON, b'{"healthy": true}', Status.WARN, "HTTP 302"),
        (404, "text/html", b"\xff\xfe\x00garbage", Status.CRIT, "HTTP 404"),
        (200, JSON, b"\xff\xfe\xfa", Status.OK, "HTTP 200 (invalid JSON body)"),
    ],
)
def test_unknown_shapes_fall_back_to_status_code(
    code: int, content_type: str, body: bytes, status: Status, message: str
) -> None:
    assert parse_health(code, content_type, body) == (status, "status-code", (), message)


@pytest.mark.parametrize(
    "doc",
    [{"status": "ok"}, {"status": "UP"}, {"status": "pass"}, {"status": "ok", "checks": {"db": "connected"}}],
)
def test_body_claiming_ok_on_503_is_still_critical(doc: dict[str, Any]) -> None:
    status, _, _, message = parse(doc, code=503)
    assert status is Status.CRIT
    assert message.endswith("(HTTP 503)")


def test_body_ok_on_redirect_is_warn() -> None:
    assert parse({"status": "ok"}, code=307)[0] is Status.WARN


def test_document_worse_than_code_wins() -> None:
    assert parse({"status": "error"}, code=200)[0] is Status.CRIT
    assert parse({"status": "bogus"}, code=200)[0] is Status.UNKNOWN


# --- Hostile content ---------------------------------------------------------------------------------

HOSTILE = [
    "\x1b[2J\x1b[31mpwned\x1b[0m",
    "\x1b]52;c;ZWNobyBoaQ==\x07",  # OSC 52: write the clipboard
    "\x9b31m C1 CSI",
    "\x1b]0;title\x1b\\",
    "safe\u202eexe.txt",
    "\u2066isolate\u2069",
    "nul\x00del\x7fbell\x07",
]


@pytest.mark.parametrize("evil", HOSTILE)
@pytest.mark.parametrize(
    ("content_type", "make"),
    [
        pytest.param(JSON, lambda e: {"status": e, "checks": {e: e, f"x{e}": {"status": e, "message": e}}}, id="seed"),
        pytest.param(
            JSON, lambda e: {"status": "ok", "message": e, "checks": [{"name": e, "status": "error"}]}, id="seed-list"
        ),
        pytest.param(
            SPRING,
            lambda e: {
                "status": "DOWN",
                "components": {e: {"status": "DOWN", "details": {e: e}}, "x": {"components": {e: {"status": e}}}},
            },
            id="spring",
        ),
        pytest.param(
            IETF,
            lambda e: {"status": "fail", "checks": {e: [{"status": "fail", "componentId": e, "output": e}]}},
            id="ietf",
        ),
        pytest.param(IETF, lambda e: {"status": "warn", "description": e}, id="ietf-description"),
    ],
)
def test_hostile_strings_are_neutralised(content_type: str, make: Any, evil: str) -> None:
    status, _, checks, message = parse(make(evil), content_type=content_type)
    assert isinstance(status, Status)
    assert_terminal_safe(message)
    for check in checks:
        assert_terminal_safe(check.name, check.detail)


def test_escape_is_shown_visibly_not_dropped() -> None:
    _, _, _, message = parse({"status": "error", "message": "\x1b[31mred"})
    assert message == "\\x1b[31mred"


def test_rich_markup_is_kept_as_literal_text() -> None:
    # Markup is not interpreted here (widgets render with rich Text); it must survive verbatim.
    _, _, checks, message = parse({"status": "error", "message": "[bold]x[/]", "checks": {"[red]db[/]": "down"}})
    assert message == "[bold]x[/]"
    assert checks[0].name == "[red]db[/]"


def test_long_strings_are_capped() -> None:
    doc = {"status": "error", "message": "m" * 10_000, "checks": {"n" * 500: {"status": "error", "message": "d" * 999}}}
    _, _, checks, message = parse(doc)
    assert len(message) <= 200
    assert len(checks[0].name) <= 60
    assert len(checks[0].detail) <= 200


# --- Round trip with the backend-side renderer --------------------------------------------------------

CHECKS = [
    HealthCheck("database", Status.OK, "connected", 4.2),
    HealthCheck("cache", Status.OK, "connected"),
    HealthCheck("queue", Status.OK, "", 12.0),
]


@pytest.mark.parametrize("style", ["seed", "spring", "ietf"])
@pytest.mark.parametrize("worst_status", [Status.OK, Status.WARN, Status.CRIT], ids=["all-ok", "one-warn", "one-crit"])
def test_health_response_round_trip(style: str, worst_status: Status) -> None:
    checks = [*CHECKS[:-1], HealthCheck("queue", worst_status, "slow" if worst_status is not Status.OK else "", 9.0)]
    code, content_type, body = health_response(style, checks)
    assert code == (503 if worst_status is Status.CRIT else 200)
    status, fmt, parsed, _ = parse_health(code, content_type, body)
    assert fmt == style
    # Spring has no "degraded" word: WARN is rendered (and so read back) as UP.
    expected = Status.OK if style == "spring" and worst_status is Status.WARN else worst_status
    assert status is expected
    # IETF keys are "component:measurement"; the component part is the check name.
    names = [c.name.split(":")[0] for c in parsed] if style == "ietf" else [c.name for c in parsed]
    assert names == [c.name for c in checks]
    assert [c.status for c in parsed] == [Status.OK, Status.OK, expected]


@pytest.mark.parametrize("style", ["seed", "spring", "ietf"])
def test_health_response_round_trip_keeps_latency(style: str) -> None:
    code, content_type, body = health_response(style, [HealthCheck("db", Status.OK, "fine", 7.5)])
    _, _, (check,), _ = parse_health(code, content_type, body)
    assert check.latency_ms == 7.5


def test_health_response_without_checks_is_ok() -> None:
    for style in ("seed", "spring", "ietf"):
        code, content_type, body = health_response(style, [])
        assert code == 200
        assert parse_health(code, content_type, body)[0] is Status.OK


def test_health_response_rejects_unknown_style() -> None:
    with pytest.raises(ValueError, match="unknown health style"):
        health_response("xml", CHECKS)


def test_health_response_extra_fields_survive() -> None:
    _, _, body = health_response("seed", CHECKS, extra={"version": "1.2.3"})
    assert json.loads(body)["version"] == "1.2.3"


# --- Never raises --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
words = st.sampled_from(["ok", "UP", "DOWN", "pass", "fail", "warn", "degraded", "error", "OUT_OF_SERVICE", "x"])
documents = st.fixed_dictionaries(
    {"status": words | json_values},
    optional={
        "checks": json_values
        | st.dictionaries(st.text(max_size=10), json_values | st.lists(json_values, max_size=3), max_size=5),
        "components": json_values | st.dictionaries(st.text(max_size=10), json_values, max_size=5),
        "message": json_values,
        "output": json_values,
    },
)
content_types = st.sampled_from([JSON, SPRING, IETF, "text/plain", ""])
codes = st.integers(min_value=100, max_value=599)


def check_result(result: Any) -> None:
    status, fmt, checks, message = result
    assert isinstance(status, Status)
    assert fmt in {"seed", "spring", "ietf", "status-code"}
    assert isinstance(message, str)
    for check in checks:
        assert isinstance(check, HealthCheck) and isinstance(check.status, Status)
        assert_terminal_safe(check.name, check.detail)
    assert_terminal_safe(message)


@settings(max_examples=300, deadline=None)
@given(code=codes, content_type=content_types, doc=json_values | documents)
def test_parse_health_never_raises_on_json(code: int, content_type: str, doc: Any) -> None:
    result = parse_health(code, content_type, json.dumps(doc).encode())
    check_result(result)
    # The verdict is never better than the status code says.
    assert result[0].rank >= status_from_code(code).rank


@settings(max_examples=300, deadline=None)
@given(code=codes, content_type=content_types, body=st.binary(max_size=300))
def test_parse_health_never_raises_on_bytes(code: int, content_type: str, body: bytes) -> None:
    check_result(parse_health(code, content_type, body))


# --- Regression tests for source bugs found in review ---------------------------------


def test_deeply_nested_body_falls_back_to_status_code() -> None:
    assert parse_health(200, JSON, b"[" * 100_000)[1] == "status-code"


@pytest.mark.parametrize("style", ["seed", "ietf"])
def test_health_response_code_agrees_with_body_for_unknown(style: str) -> None:
    code, content_type, body = health_response(style, [HealthCheck("x", Status.UNKNOWN)])
    body_status = parse_health(200, content_type, body)[0]
    assert (code == 503) == (body_status is Status.CRIT)
