"""Hostile data: every parser and renderer fed whatever a broken or malicious backend can send.

Property-based (hypothesis) over health JSON of every format, Prometheus results, resilience4j actuator JSON,
RabbitMQ management answers, DLQ payloads and headers (RabbitMQ, BullMQ, Redis list), /metrics exposition text,
MongoDB serverStatus / replSetGetStatus, and config files. Each property says the same two things:

- never crash: a parser returns model objects or raises one of the documented `ConsoleError`s (whose message is
  the "clear message" the pane or CLI shows) — never a raw `TypeError`, `OverflowError`, …;
- never let the data drive the terminal: everything it produces, and every renderable the widgets build from it,
  reaches the terminal without a control character, escape sequence, bidi override or smuggled markup link.

Runs deterministically (derandomized, no example database) with moderate example counts: CI has 2 cores.
Parsers and renderers are pure; nothing here talks to a server.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from console.adapters.breaker_actuator import parse_circuitbreakers
from console.adapters.breaker_prometheus import PrometheusBreakers
from console.adapters.dlq_bull import BullFailedSet, first_frame, first_line
from console.adapters.dlq_rabbit import deaths_of, letter_from_api
from console.adapters.dlq_redis import RedisListDlq, parse_event, reason_of, route
from console.adapters.http_health import health_response, parse_health
from console.adapters.metrics_scrape import parse_sample
from console.adapters.mongo import MongoMonitor, replica_members
from console.adapters.prometheus import FleetQuery, TrafficQuery, histogram_quantile, matrix_by, vector_by
from console.adapters.rabbitmq import parse_queues
from console.board import Board
from console.config import BullConfig, PrometheusConfig, TrafficConfig, load_settings, parse_config, read_toml
from console.config_dlq import RedisDlqConfig
from console.dlq_cli import _letter_line
from console.errors import BadResponse, ConfigError
from console.model import (
    BreakerSnapshot,
    DeadLetter,
    DlqInfo,
    DlqSnapshot,
    HealthTarget,
    ProbeResult,
    QueueSnapshot,
    Reading,
    Status,
)
from console.model import (
    HealthCheck as Check,
)
from console.screens.health_detail import breakdown
from console.screens.letter_detail import LetterDetailScreen
from tests.fixtures.hostile import INJECTIONS, assert_terminal_safe, hostile_text, render_terminal
from widgets.breakers_pane import breaker_cells
from widgets.dlq_pane import breakdown_line, dlq_cells
from widgets.health_pane import row_cells
from widgets.mongo_pane import render_mongo
from widgets.queues_pane import queue_cells

HOSTILE = hsettings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

# --- strategies ----------------------------------------------------------------------------------------------

text = hostile_text()
# Numbers servers really send that break naive code: NaN / Infinity (valid JSON to Python, valid BSON doubles),
# timestamps from the year 10^20, counters past 2^63, negative sizes.
nasty_numbers = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e20, 2**63, -1, 0, 0.5, True])
numbers = nasty_numbers | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**30), 10**30)
scalars = (
    nasty_numbers
    | st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)
# Python's json module reads NaN / Infinity, and servers do send them.
json_docs = json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())


def rendered_safe(*renderables: Any) -> None:
    """Every renderable, as a colour terminal receives it, carries no control byte of the data's."""
    for renderable in renderables:
        assert_terminal_safe(render_terminal(renderable), allow_newline=True)


def reading(kind: str, value: Any, source: str = "s") -> Reading:
    return Reading(source=f"{kind}:{source}", kind=kind, at=NOW, value=value)


# --- health JSON of every format -----------------------------------------------------------------------------


def _health_doc(style: str, name: str, message: str, status: Any, extra: Any) -> bytes:
    if style == "seed":
        doc: Any = {"status": status, "message": message, "checks": {name: {"status": "error", "message": message}}}
    elif style == "spring":
        doc = {"status": status, "components": {name: {"status": "DOWN", "details": {"error": message, "x": extra}}}}
    else:
        doc = {"status": status, "output": message, "checks": {f"{name}:responseTime": [{"status": "fail"}]}}
    return json.dumps(doc).encode()


@HOSTILE
@given(
    style=st.sampled_from(["seed", "spring", "ietf"]),
    name=text,
    message=text,
    status=st.sampled_from(["ok", "UP", "pass", "fail", "DOWN", "degraded"]) | json_values,
    extra=json_values,
    code=st.integers(min_value=100, max_value=599),
)
def test_health_documents_of_every_format_render_safely(
    style: str, name: str, message: str, status: Any, extra: Any, code: int
) -> None:
    content_type = "application/health+json" if style == "ietf" else "application/json"
    verdict, fmt, checks, summary = parse_health(code, content_type, _health_doc(style, name, message, status, extra))
    assert isinstance(verdict, Status)
    assert_terminal_safe(summary, *(c.name for c in checks), *(c.detail for c in checks))
    # The pane row and the breakdown dialog, as the terminal receives them.
    board = Board()
    probe = ProbeResult("health", f"http://h/{name}", verdict, fmt, code, 1.0, summary, checks)
    board.apply(reading("health", HealthTarget(name, (probe,)), source=name))
    (row,) = board.health_rows()
    rendered_safe(*row_cells(row), breakdown(row))


@HOSTILE
@given(style=st.sampled_from(["seed", "spring", "ietf"]), names=st.lists(text, max_size=4), detail=text)
def test_health_documents_written_by_the_backend_side_read_back(style: str, names: list[str], detail: str) -> None:
    """`health_response` (the adapter the demo and Python services answer with) and `parse_health` agree, and
    whatever a service puts in a check's name or detail comes back neutralised."""
    checks = [Check(n or "x", Status.CRIT, detail) for n in names]
    code, content_type, body = health_response(style, checks)
    verdict, _, parsed, summary = parse_health(code, content_type, body)
    if checks:
        assert verdict is Status.CRIT
    assert_terminal_safe(summary, *(c.name for c in parsed), *(c.detail for c in parsed))


# --- Prometheus results --------------------------------------------------------------------------------------

samples = st.tuples(numbers, numbers | numbers.map(str) | text).map(list) | st.lists(scalars, max_size=3) | scalars
series = st.fixed_dictionaries(
    {"metric": st.dictionaries(st.sampled_from(["job", "route", "name", "state", "instance", "kind"]) | text, text)},
    optional={"value": samples, "values": st.lists(samples, max_size=4) | scalars | samples},
)
prom_results = st.lists(series | json_values, max_size=6) | json_values


def _prometheus() -> PrometheusConfig:
    return PrometheusConfig(url="http://127.0.0.1:9", timeout=0.5)


@HOSTILE
@given(result=prom_results)
def test_prometheus_vectors_and_matrices_never_crash(result: Any) -> None:
    for parse in (lambda: vector_by(result, ("job", "route")), lambda: matrix_by(result, "job")):
        try:
            parsed = parse()
        except BadResponse as exc:
            assert_terminal_safe(str(exc))
            continue
        for key in parsed:
            assert_terminal_safe(*(key if isinstance(key, tuple) else (key,)))


@HOSTILE
@given(results=st.lists(prom_results, min_size=6, max_size=6))
def test_traffic_fleet_and_breaker_queries_take_any_answer(results: list[Any]) -> None:
    """The three Prometheus consumers with every query answering something arbitrary (the HTTP client is
    replaced, the parsing is real): a result or BadResponse, and names fit for the terminal."""
    answers = iter(results * 4)

    def answer(*_: Any, **__: Any) -> Any:
        return next(answers)

    traffic = TrafficQuery(_prometheus(), TrafficConfig())
    fleet = FleetQuery(_prometheus(), "up", ("job", "instance"))
    breakers = PrometheusBreakers(_prometheus())
    try:
        for query in (traffic, fleet._traffic, breakers._traffic):
            query._query = answer  # type: ignore[method-assign]
            query._query_range = answer  # type: ignore[method-assign]
        for run in (
            traffic.collect,
            lambda: traffic.backfill(NOW, 15),
            fleet.collect,
            breakers.collect,
        ):
            try:
                value = run()
            except BadResponse as exc:
                assert_terminal_safe(str(exc))
                continue
            if isinstance(value, tuple) and value and isinstance(value[0], tuple):  # traffic rows
                assert_terminal_safe(*(r.service for level in value for r in level))
            elif isinstance(value, tuple):  # breakers
                board = Board()
                board.apply(reading("breakers", BreakerSnapshot("prometheus", value)))
                rendered_safe(*(c for row in board.breaker_rows() for c in breaker_cells(row, NOW, 30)))
            elif hasattr(value, "targets"):  # fleet
                assert_terminal_safe(
                    *(t.name for t in value.targets), *(p.message for t in value.targets for p in t.probes)
                )
    finally:
        traffic.close()
        fleet.close()
        breakers.close()


@HOSTILE
@given(buckets=st.dictionaries(st.floats(allow_nan=False), st.floats(allow_nan=False), max_size=6), q=st.floats(0, 1))
def test_histogram_quantile_takes_any_buckets(buckets: dict[float, float], q: float) -> None:
    value = histogram_quantile(q, buckets)
    assert value is None or isinstance(value, float)


# --- resilience4j actuator JSON ------------------------------------------------------------------------------

breaker_details = st.fixed_dictionaries(
    {},
    optional={
        key: numbers | numbers.map(lambda n: f"{n}%") | scalars
        for key in (
            "state",
            "failureRate",
            "slowCallRate",
            "failureRateThreshold",
            "slowCallRateThreshold",
            "bufferedCalls",
            "failedCalls",
            "slowCalls",
            "notPermittedCalls",
        )
    },
)
actuator_docs = (
    st.fixed_dictionaries({"circuitBreakers": st.dictionaries(text, breaker_details | json_values, max_size=4)})
    | st.fixed_dictionaries({"circuitBreakers": st.lists(text | json_values, max_size=4)})
    | json_values
)


@HOSTILE
@given(doc=actuator_docs, service=text)
def test_actuator_documents_parse_or_say_why_and_render_safely(doc: Any, service: str) -> None:
    try:
        infos = parse_circuitbreakers(doc, service)
    except BadResponse as exc:
        assert_terminal_safe(str(exc))
        return
    board = Board()
    board.apply(reading("breakers", BreakerSnapshot("actuator", tuple(infos.values()))))
    rows = board.breaker_rows()
    assert len(rows) == len(infos)
    for row in rows:
        for width in (12, 40):
            rendered_safe(*breaker_cells(row, NOW, width))


# --- RabbitMQ management API ---------------------------------------------------------------------------------

queue_items = st.fixed_dictionaries(
    {"name": text},
    optional={
        k: numbers | scalars | json_values
        for k in ("messages_ready", "messages_unacknowledged", "consumers", "arguments", "message_stats")
    },
)


@HOSTILE
@given(payload=st.lists(queue_items | json_values, max_size=5) | json_values)
def test_rabbitmq_queue_lists_parse_or_say_why_and_render_safely(payload: Any) -> None:
    try:
        queues = parse_queues(payload)
    except BadResponse as exc:
        assert_terminal_safe(str(exc))
        return
    board = Board()
    board.apply(reading("queues", QueueSnapshot("rabbitmq", queues)))
    for row in board.queue_rows():
        assert_terminal_safe(row.queue.name, row.queue.dead_letter_exchange)
        rendered_safe(*queue_cells(row, 30))


# --- DLQ payloads and headers --------------------------------------------------------------------------------

x_death = st.fixed_dictionaries(
    {},
    optional={
        "queue": scalars,
        "reason": scalars,
        "exchange": scalars,
        "routing-keys": st.lists(scalars, max_size=3) | scalars,
        "count": numbers | scalars,
        "time": numbers | st.datetimes() | scalars,
    },
)
rabbit_headers = st.dictionaries(text, json_values, max_size=4).flatmap(
    lambda h: st.lists(x_death | json_values, max_size=3).map(lambda d: {**h, "x-death": d}) | st.just(h)
)
api_items = st.fixed_dictionaries(
    {},
    optional={
        "payload": st.binary(max_size=200).map(lambda b: __import__("base64").b64encode(b).decode()) | scalars,
        "payload_bytes": numbers | scalars,
        "redelivered": scalars,
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "headers": rabbit_headers | json_values,
                "message_id": scalars,
                "timestamp": numbers | scalars,
                "content_type": scalars,
                "correlation_id": scalars,
                "app_id": scalars,
            },
        )
        | json_values,
    },
)


def assert_letter_safe(letter: DeadLetter) -> None:
    """Every way a letter reaches the terminal: the detail dialog, the CLI listing."""
    rendered_safe(*LetterDetailScreen(letter).body())
    assert_terminal_safe(_letter_line(letter))


@HOSTILE
@given(item=api_items)
def test_rabbitmq_letters_from_any_management_answer(item: dict[str, Any]) -> None:
    letter = letter_from_api("dlq", item)
    assert isinstance(letter.size, int) and not isinstance(letter.size, bool) and letter.size >= 0
    assert letter.at is None or letter.at.tzinfo is not None
    assert_letter_safe(letter)


@HOSTILE
@given(headers=st.dictionaries(text, json_values, max_size=3) | rabbit_headers)
def test_x_death_of_any_shape(headers: dict[str, Any]) -> None:
    for death in deaths_of(headers):
        assert isinstance(death.count, int)


@pytest.fixture(scope="module")
def redis_dlq() -> RedisListDlq:
    # The client is never used: `_read` only parses (no connection is opened).
    return RedisListDlq(RedisDlqConfig(key="events:dlq", redis_url="redis://127.0.0.1:9"), 0.5)


event_docs = st.fixed_dictionaries(
    {},
    optional={
        "eventId": scalars,
        "event": scalars,
        "payload": json_values,
        "error": scalars | st.fixed_dictionaries({"message": scalars}) | json_values,
        "failedAt": scalars | st.datetimes().map(lambda d: d.isoformat()),
        "retryCount": scalars,
        "traceId": scalars,
    },
)
elements = (
    st.binary(max_size=300)
    | event_docs.map(lambda d: json.dumps(d, allow_nan=True).encode())
    | json_docs
    | text.map(lambda t: t.encode("utf-8", "surrogatepass"))
)


@HOSTILE
@given(element=elements, template=st.sampled_from(["{event}", "events:{event}", "{payload[orderId]}", "x"]) | text)
def test_redis_list_letters_from_any_element(redis_dlq: RedisListDlq, element: bytes, template: str) -> None:
    parsed, event = parse_event(element)
    assert event is None or isinstance(event, dict)
    name, problem = route(template, event)
    assert isinstance(name, str) and isinstance(problem, str)
    letter, _ = redis_dlq._read(element)
    assert letter.body == element[: len(letter.body)]
    assert_letter_safe(letter)
    assert isinstance(reason_of(event.get("error") if event else element), str)


@pytest.fixture(scope="module")
def bull_failed() -> BullFailedSet:
    return BullFailedSet(BullConfig(redis_url="redis://127.0.0.1:9"), "emails", 0.5)


field_bytes = st.none() | st.binary(max_size=120) | text.map(lambda t: t.encode("utf-8", "surrogatepass"))
numbers_as_bytes = st.none() | st.integers(min_value=-(10**25), max_value=10**25).map(lambda n: str(n).encode())
stacktraces = (
    st.lists(text, max_size=3).map(lambda t: json.dumps(t).encode())
    | field_bytes
    | st.just(json.dumps(['Traceback (most recent call last):\n  File "\x1b]0;t\x07x.py", line 1\n']).encode())
)


@HOSTILE
@given(
    name=field_bytes,
    data=field_bytes | json_docs,
    reason=field_bytes,
    finished=numbers_as_bytes | field_bytes,
    created=numbers_as_bytes | field_bytes,
    attempts=field_bytes,
    stacktrace=stacktraces,
    size=st.integers(min_value=-5, max_value=10**9),
    score=st.floats(allow_nan=False, allow_infinity=False),
    job_id=text,
)
def test_bullmq_failed_jobs_of_any_content(
    bull_failed: BullFailedSet,
    name: bytes | None,
    data: bytes | None,
    reason: bytes | None,
    finished: bytes | None,
    created: bytes | None,
    attempts: bytes | None,
    stacktrace: bytes | None,
    size: int,
    score: float,
    job_id: str,
) -> None:
    fields = {
        "name": (name, len(name or b"")),
        "data": (data, size),
        "failedReason": (reason, len(reason or b"")),
        "finishedOn": (finished, 0),
        "timestamp": (created, 0),
        "atm": (attempts, 0),
        "attemptsMade": (None, 0),
        "stacktrace": (stacktrace, 0),
    }
    letter = bull_failed._letter(job_id, score, fields)
    assert_letter_safe(letter)
    assert_terminal_safe(first_line((reason or b"").decode("utf-8", "replace")), first_frame(stacktrace))


@HOSTILE
@given(
    name=text,
    count=st.integers(min_value=0, max_value=10**12),
    origins=st.lists(st.tuples(text, st.integers(0, 10**6)), max_size=4),
    reasons=st.lists(st.tuples(text, st.integers(0, 10**6)), max_size=4),
    note=text,
    error=text,
    age=st.integers(min_value=-(10**6), max_value=10**9),
)
def test_dlq_rows_render_safely(
    name: str,
    count: int,
    origins: list[tuple[str, int]],
    reasons: list[tuple[str, int]],
    note: str,
    error: str,
    age: int,
) -> None:
    info = DlqInfo(
        "rabbitmq",
        name,
        count,
        oldest_at=NOW - timedelta(seconds=age),
        by_origin=tuple(origins),
        by_reason=tuple(reasons),
        sampled=3,
        note=note,
        error=error,
    )
    board = Board()
    board.apply(reading("dlq", DlqSnapshot("rabbitmq", (info,))))
    (row,) = board.dlq_rows()
    rendered_safe(*dlq_cells(row, NOW, 30), breakdown_line(row))


# --- /metrics exposition text --------------------------------------------------------------------------------

metric_lines = st.lists(
    st.sampled_from(
        [
            'http_requests_total{route="/a",status_code="500"} 3',
            'http_request_duration_seconds_bucket{route="/a",le="0.1"} 2',
            'http_request_duration_seconds_bucket{route="/a",le="+Inf"} 4',
            "http_request_duration_seconds_count 4",
            "# TYPE http_requests_total counter",
            "# HELP x y",
        ]
    )
    | st.builds(
        lambda name, route, le, value: f'{name}{{route="{route}",le="{le}"}} {value}',
        st.sampled_from(["http_request_duration_seconds_bucket", "http_requests_total", "x"]),
        text.map(lambda t: t.replace('"', "").replace("\\", "").replace("\n", "")),
        st.sampled_from(["0.5", "+Inf", "NaN", "abc", "", "-1", "1e999"]) | text,
        st.sampled_from(["1", "NaN", "+Inf", "-3", "x"]),
    )
    | text,
    max_size=6,
).map("\n".join)


@HOSTILE
@given(body=metric_lines)
def test_metrics_text_parses_or_says_why(body: str) -> None:
    try:
        sample = parse_sample(body, TrafficConfig(), 0.0)
    except BadResponse as exc:
        assert_terminal_safe(str(exc))
        return
    assert_terminal_safe(*sample.routes)


# --- MongoDB serverStatus / replSetGetStatus -----------------------------------------------------------------

bson_values = numbers | scalars | st.datetimes() | st.lists(scalars, max_size=3)
bson_numbers = numbers | bson_values
server_status = st.fixed_dictionaries(
    {},
    optional={
        "version": bson_values,
        "uptime": bson_numbers,
        "opcounters": st.dictionaries(st.sampled_from(["insert", "query", "update", "delete"]), bson_numbers) | scalars,
        "connections": st.dictionaries(st.sampled_from(["current", "available"]), bson_numbers) | scalars,
        "mem": st.dictionaries(st.sampled_from(["resident"]), bson_numbers) | scalars,
    },
)
members = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": bson_values,
            "stateStr": st.sampled_from(["PRIMARY", "SECONDARY", "ARBITER"]) | bson_values,
            "health": bson_numbers,
            "optimeDate": st.datetimes() | st.datetimes(timezones=st.just(UTC)) | bson_values,
            "self": bson_values,
        },
    )
    | bson_values,
    max_size=4,
)


@HOSTILE
@given(status=server_status, replset=st.fixed_dictionaries({"members": members}) | st.dictionaries(text, bson_values))
def test_mongo_documents_of_any_shape(status: dict[str, Any], replset: dict[str, Any]) -> None:
    monitor = MongoMonitor("mongodb://127.0.0.1:9")
    replica = replica_members(replset)
    first = monitor._build(1.0, status, "rs\x1b]0;x\x07", replica, 1.0)
    second = monitor._build(2.0, status, None, replica, 2.0)
    for reading_value in (first, second):
        assert_terminal_safe(reading_value.version, *(m.name for m in reading_value.members))
        rendered_safe(render_mongo(reading_value, Status.OK, ()))


# --- config files --------------------------------------------------------------------------------------------

toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | text
    | st.sampled_from(["redis://:pw@h:1/0", "http://h:1/health", "amqp://u:p@h/", "mongodb://h:1", "htp://x", "x"])
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=15,
)
section_keys = st.sampled_from(
    [
        "health",
        "redis",
        "redis_url",
        "rabbitmq",
        "bullmq",
        "lists",
        "dlq",
        "breakers",
        "mongo",
        "prometheus",
        "prometheus_url",
        "traffic",
        "fleet",
        "cache",
        "protected",
        "label",
    ]
)
environments = st.dictionaries(section_keys | text, toml_values | st.lists(st.dictionaries(text, toml_values)))
config_docs = st.fixed_dictionaries(
    {},
    optional={
        "console": st.dictionaries(
            st.sampled_from(["refresh", "timeout", "history", "default_env", "audit_log", "write_minutes"]) | text,
            toml_values,
        ),
        "env": st.dictionaries(text, environments | toml_values, max_size=2) | toml_values,
    },
) | st.dictionaries(text, toml_values, max_size=3)


@HOSTILE
@given(doc=config_docs)
def test_config_documents_validate_or_list_every_problem(doc: dict[str, Any]) -> None:
    try:
        parse_config(doc, "ops.toml")
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith("ops.toml: "), problem
            assert_terminal_safe(problem)


@HOSTILE
@given(
    body=st.binary(max_size=300)
    | text.map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from(list(INJECTIONS.values())).map(lambda s: f'[env."{s}"]\nlabel = "{s}"\n'.encode())
)
def test_config_files_of_any_bytes(tmp_path_factory: pytest.TempPathFactory, body: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("cfg") / "ops.toml"
    path.write_bytes(body)
    try:
        read_toml(path)
        settings = load_settings(str(path), environ={})
    except ConfigError as exc:
        for problem in exc.problems:
            assert_terminal_safe(problem)
        return
    assert settings.env.name


def test_huge_numbers_and_nan_in_every_numeric_field_are_problems_not_crashes() -> None:
    doc = {
        "console": {"refresh": math.nan, "timeout": math.inf, "history": 10**30},
        "env": {"p": {"cache": {"batch": 10**40, "hit_warn": math.nan}, "dlq": {"sample": -(10**30)}}},
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(doc, "ops.toml")
    assert len(raised.value.problems) >= 5


# --- regressions: what these properties found in the parsers --------------------------------------------------


def test_x_death_time_from_the_far_future_is_no_time() -> None:
    for when in (1e20, 10**30, 253402300800):  # beyond time_t, beyond year 9999
        (death,) = deaths_of({"x-death": [{"queue": "q", "time": when}]})
        assert death.time is None


def test_management_payload_that_is_not_text_is_an_empty_body() -> None:
    letter = letter_from_api("dlq", {"payload": 5, "payload_bytes": True, "properties": {"timestamp": 1e30}})
    assert letter.body == b"" and letter.size == 0 and letter.at is None


def test_matrix_with_values_that_are_not_a_list_or_with_absurd_times() -> None:
    assert matrix_by([{"metric": {"job": "a"}, "values": True}], "job") == {"a": []}
    assert matrix_by([{"metric": {"job": "a"}, "values": [[1e300, "1"]]}], "job") == {"a": []}


def test_bucket_bound_that_is_not_a_number_is_a_bad_response() -> None:
    with pytest.raises(BadResponse, match="le="):
        parse_sample('http_request_duration_seconds_bucket{le="abc"} 1\n', TrafficConfig(), 0.0)


def test_mongo_nan_and_infinite_figures_are_unknown() -> None:
    status = MongoMonitor("mongodb://127.0.0.1:9")._build(
        1.0,
        {"opcounters": {"insert": math.inf}, "connections": {"current": math.nan}, "uptime": math.nan},
        None,
        (),
        1.0,
    )
    assert status.opcounters_total == {} and status.connections_current is None and status.uptime_seconds is None


def test_replica_lag_between_zoned_and_naive_optimes_is_unknown() -> None:
    primary = {"stateStr": "PRIMARY", "optimeDate": datetime(2024, 1, 1, tzinfo=UTC)}
    secondary = {"stateStr": "SECONDARY", "optimeDate": datetime(2024, 1, 1)}  # noqa: DTZ001 - pymongo: naive
    assert replica_members({"members": [primary, secondary]})[1].lag_seconds is None


def test_breaker_counters_summing_past_float_range_are_unknown() -> None:
    from console.adapters.breaker_prometheus import assemble

    (info,) = assemble(
        [{("s", "j", "i", "n", "open"): 1.0}],
        buffered={("s", "j", "i", "n", "x"): 1e308, ("s", "j", "i2", "n", "y"): 1e308},
    )
    assert info.buffered_calls is None


def test_config_problem_quoting_an_escape_sequence_key_is_printable() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({INJECTIONS["osc52-clipboard"]: []}, "ops.toml")
    (problem,) = raised.value.problems
    assert_terminal_safe(problem)
    assert "\\x1b]52" in problem  # still says which key
