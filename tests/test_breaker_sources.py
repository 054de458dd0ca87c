"""Circuit-breaker sources: the resilience4j actuator over real HTTP, and Prometheus state gauges scraped by a
real private Prometheus from resilience4j-style exporters."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from console.adapters.breaker_actuator import (
    MAX_BODY_BYTES,
    MAX_NAME_CHARS,
    ActuatorBreakers,
    parse_count,
    parse_rate,
    update_verb,
)
from console.adapters.breaker_prometheus import PrometheusBreakers, assemble
from console.adapters.http_health import make_client
from console.config import PrometheusConfig
from console.errors import ActionRefused, BadResponse, SourceError, SourceTimeout, SourceUnavailable
from console.model import BreakerInfo, BreakerState
from tests.fixtures.http_targets import (  # noqa: F401 - the *_fixture imports register fixtures
    HUGE_BYTES,
    Reply,
    TargetServer,
    json_reply,
    make_target_server_fixture,
)
from tests.fixtures.net import free_port
from tests.fixtures.prometheus_server import PrometheusServer, ScrapeTarget, find_prometheus, requires_prometheus
from tests.fixtures.resilience4j import (  # noqa: F401 - the *_fixture imports register fixtures
    ENDPOINT,
    ActuatorServer,
    BreakerExporter,
    details,
    make_actuator_fixture,
)

TIMEOUT = 1.0
QUICK = TIMEOUT + 1.5  # an error must arrive about when the timeout says, not after retries
PASSWORD = "s3cr3t-Pa55"
TOKEN = "tok-9f8e7d6c5b4a"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    http = make_client()
    try:
        yield http
    finally:
        await http.aclose()


def by_name(infos: tuple[BreakerInfo, ...]) -> dict[str, BreakerInfo]:
    return {info.name: info for info in infos}


async def expect_error(call: Callable[[], object], kind: type[SourceError], within: float = QUICK) -> str:
    """Await `call()`, expecting `kind` within `within` seconds; return the message."""
    started = time.monotonic()
    with pytest.raises(kind) as caught:
        await asyncio.wait_for(call(), timeout=within + 3.0)  # type: ignore[arg-type]
    assert time.monotonic() - started < within, f"{kind.__name__} took {time.monotonic() - started:.1f}s"
    return str(caught.value)


# --- Actuator: reading ------------------------------------------------------------------------------------


async def test_read_every_field(client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]) -> None:
    server = make_actuator()
    infos = await ActuatorBreakers(server.base_url, "checkout", client, TIMEOUT).read()
    assert [i.name for i in infos] == ["inventory", "payments", "shipping", "warmup"]
    assert {(i.source, i.service) for i in infos} == {("actuator", "checkout")}
    payments = by_name(infos)["payments"]
    assert payments == BreakerInfo(
        source="actuator",
        service="checkout",
        name="payments",
        state=BreakerState.OPEN,
        failure_rate=62.5,
        slow_call_rate=25.0,
        buffered_calls=16,
        failed_calls=10,
        slow_calls=4,
        not_permitted_calls=37,
        note="thresholds: failure 50%, slow calls 100%",
    )
    assert payments.forced_until is None and payments.since is None
    assert by_name(infos)["shipping"].state is BreakerState.HALF_OPEN
    assert by_name(infos)["inventory"].failure_rate == 12.5
    assert by_name(infos)["inventory"].slow_call_rate == 0.0  # 0 % is a real rate, not "unknown"
    warmup = by_name(infos)["warmup"]  # "-1.0%": not enough calls yet
    assert (warmup.state, warmup.failure_rate, warmup.slow_call_rate) == (BreakerState.CLOSED, None, None)
    assert server.requests[-1].method == "GET" and server.requests[-1].path == ENDPOINT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5%", 12.5),
        ("-1.0%", None),
        ("-1%", None),
        (-1, None),
        (-1.0, None),
        (" 7 % ", 7.0),
        ("12.5", 12.5),
        (33, 33.0),
        (0, 0.0),
        ("100.0%", 100.0),
        (150.0, None),
        ("NaN%", None),
        ("fast", None),
        ("", None),
        (None, None),
        (True, None),
        ([50], None),
    ],
)
def test_rates_parse_liberally(raw: object, expected: float | None) -> None:
    assert parse_rate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(10, 10), ("10", 10), (10.0, 10), (" 3 ", 3), (0, 0), (-1, None), ("x", None), (True, None), (None, None)],
)
def test_counts_parse_liberally(raw: object, expected: int | None) -> None:
    assert parse_count(raw) == expected


async def test_liberal_with_odd_documents(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    hostile = "evil\x1b]52;c;SGVsbG8=\x07" + "x" * 1000
    server = make_actuator(
        {
            "numbers": {"failureRate": 20, "slowCallRate": 0.5, "bufferedCalls": "5", "state": "half_open"},
            "sparse": {"state": "FORCED_OPEN"},
            "weird": {"state": "EXPLODED", "failedCalls": -4, "failureRate": "lots"},
            "nodetails": "CLOSED",
            hostile: {"state": "CLOSED"},
        }
    )
    infos = by_name(await ActuatorBreakers(server.base_url, "svc", client, TIMEOUT).read())
    assert infos["numbers"].state is BreakerState.HALF_OPEN
    assert (infos["numbers"].failure_rate, infos["numbers"].slow_call_rate) == (20.0, 0.5)
    assert infos["numbers"].buffered_calls == 5 and infos["numbers"].failed_calls is None
    assert infos["sparse"] == BreakerInfo("actuator", "svc", "sparse", BreakerState.FORCED_OPEN)
    assert (infos["weird"].state, infos["weird"].failed_calls, infos["weird"].failure_rate) == (
        BreakerState.UNKNOWN,
        None,
        None,
    )
    assert infos["nodetails"].state is BreakerState.UNKNOWN and infos["nodetails"].note == "no details"
    (capped,) = [name for name in infos if name.startswith("evil")]
    assert len(capped) == MAX_NAME_CHARS and capped.endswith("…")
    assert capped.startswith("evil\x1b]52")  # kept as sent: the widgets neutralise it when rendering


async def test_old_resilience4j_name_list(
    client: httpx.AsyncClient, make_target_server: Callable[..., TargetServer]
) -> None:
    server = make_target_server({ENDPOINT: json_reply({"circuitBreakers": ["backendA", "backendB", 3]})})
    infos = await ActuatorBreakers(server.url("/"), "legacy", client, TIMEOUT).read()
    assert [(i.name, i.state, i.note) for i in infos] == [
        ("backendA", BreakerState.UNKNOWN, "names only (old resilience4j)"),
        ("backendB", BreakerState.UNKNOWN, "names only (old resilience4j)"),
    ]


@pytest.mark.parametrize("suffix", ["", "/", "/actuator", "/actuator/", ENDPOINT, ENDPOINT + "/"])
def test_base_url_spellings(suffix: str) -> None:
    breakers = ActuatorBreakers(f"http://svc:8080{suffix}", "svc", None, TIMEOUT)  # type: ignore[arg-type]
    assert breakers.url == f"http://svc:8080{ENDPOINT}"


# --- Actuator: updating -----------------------------------------------------------------------------------


async def test_update_round_trip(client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]) -> None:
    server = make_actuator()
    breakers = ActuatorBreakers(server.base_url, "checkout", client, TIMEOUT)
    assert await breakers.update("inventory", "FORCE_OPEN") is BreakerState.FORCED_OPEN
    assert server.state("inventory") == "FORCED_OPEN"
    assert by_name(await breakers.read())["inventory"].state is BreakerState.FORCED_OPEN
    assert await breakers.update("inventory", "CLOSE") is BreakerState.CLOSED
    assert await breakers.update("payments", "DISABLE") is BreakerState.DISABLED
    assert await breakers.update("payments", BreakerState.FORCED_OPEN) is BreakerState.FORCED_OPEN
    assert await breakers.update("payments", BreakerState.CLOSED) is BreakerState.CLOSED
    posts = server.posts()
    assert [(p.path, json.loads(p.body)) for p in posts] == [
        (f"{ENDPOINT}/inventory", {"updateState": "FORCE_OPEN"}),
        (f"{ENDPOINT}/inventory", {"updateState": "CLOSE"}),
        (f"{ENDPOINT}/payments", {"updateState": "DISABLE"}),
        (f"{ENDPOINT}/payments", {"updateState": "FORCE_OPEN"}),
        (f"{ENDPOINT}/payments", {"updateState": "CLOSE"}),
    ]
    # Each update is: list (name check), POST, list (read back).
    assert [r.method for r in server.requests[:3]] == ["GET", "POST", "GET"]


async def test_update_name_is_path_encoded(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    server = make_actuator({"orders api": details("CLOSED")})
    breakers = ActuatorBreakers(server.base_url, "svc", client, TIMEOUT)
    assert await breakers.update("orders api", "FORCE_OPEN") is BreakerState.FORCED_OPEN
    assert server.posts()[0].path == f"{ENDPOINT}/orders%20api"


@pytest.mark.parametrize(
    "state", ["OPEN", "HALF_OPEN", "METRICS_ONLY", "force_open", "close", "", "RESET", BreakerState.OPEN, None, 1]
)
async def test_bad_state_refused_before_any_request(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer], state: object
) -> None:
    server = make_actuator()
    breakers = ActuatorBreakers(server.base_url, "checkout", client, TIMEOUT)
    with pytest.raises(ActionRefused, match="FORCE_OPEN, CLOSE, DISABLE"):
        await breakers.update("inventory", state)  # type: ignore[arg-type]
    assert server.requests == []


def test_update_verbs() -> None:
    assert [update_verb(s) for s in ("FORCE_OPEN", "CLOSE", "DISABLE")] == ["FORCE_OPEN", "CLOSE", "DISABLE"]
    assert [update_verb(s) for s in (BreakerState.FORCED_OPEN, BreakerState.CLOSED, BreakerState.DISABLED)] == [
        "FORCE_OPEN",
        "CLOSE",
        "DISABLE",
    ]


async def test_unknown_name_refused_not_created(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    server = make_actuator()
    breakers = ActuatorBreakers(server.base_url, "checkout", client, TIMEOUT)
    with pytest.raises(ActionRefused, match="no circuit breaker named 'invnetory'"):
        await breakers.update("invnetory", "FORCE_OPEN")
    assert server.posts() == [] and "invnetory" not in server.breakers


async def test_actuator_rejecting_a_body_is_a_bad_response(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    server = make_actuator()
    for body in (b"not json", b'{"updateState": "OPEN"}', b"{}"):
        answer = await client.post(f"{server.base_url}{ENDPOINT}/inventory", content=body)
        assert answer.status_code == 400 and answer.json()["error"] == "Bad Request"
    assert server.state("inventory") == "CLOSED"
    breakers = ActuatorBreakers(server.base_url, "checkout", client, TIMEOUT)
    message = await expect_error(
        lambda: breakers._request("POST", f"{breakers.url}/inventory", {"updateState": "HALF_OPEN"}), BadResponse
    )
    assert "refused the update with HTTP 400: Bad Request" in message


# --- Actuator: auth and secrets ---------------------------------------------------------------------------


async def test_bearer_header_sent_and_required(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    server = make_actuator(auth=f"Bearer {TOKEN}")
    ok = ActuatorBreakers(server.base_url, "svc", client, TIMEOUT, headers={"Authorization": f"Bearer {TOKEN}"})
    assert len(await ok.read()) == 4
    assert await ok.update("shipping", "FORCE_OPEN") is BreakerState.FORCED_OPEN
    assert {r.authorization for r in server.requests} == {f"Bearer {TOKEN}"}
    for headers in (None, {"Authorization": "Bearer wrong-token-123456"}):
        breakers = ActuatorBreakers(server.base_url, "svc", client, TIMEOUT, headers=headers)
        message = await expect_error(breakers.read, BadResponse)
        assert "HTTP 401, not authorised" in message and "wrong-token-123456" not in message


async def test_url_password_used_for_basic_auth(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    basic = "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    server = make_actuator(auth=basic)
    breakers = ActuatorBreakers(server.url("", userinfo=f"ops:{PASSWORD}"), "svc", client, TIMEOUT)
    assert len(await breakers.read()) == 4
    assert PASSWORD not in breakers._where and "ops:***@" in breakers._where


async def test_no_secret_in_any_error(
    client: httpx.AsyncClient,
    make_actuator: Callable[..., ActuatorServer],
    make_target_server: Callable[..., TargetServer],
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": "key-5e6f7a8b9c"}
    echo = {"error": "Unauthorized", "message": f"token Bearer {TOKEN} rejected, key key-5e6f7a8b9c unknown"}
    target = make_target_server({ENDPOINT: json_reply(echo, 401)})
    hanging = make_actuator()
    hanging.mode = "hang"
    bases = [
        f"http://ops:{PASSWORD}@127.0.0.1:{free_port()}",  # refused
        target.url("", userinfo=f"ops:{PASSWORD}"),  # 401 echoing the credentials
        hanging.url("", userinfo=f"ops:{PASSWORD}"),  # timeout
    ]
    messages = []
    for base in bases:
        breakers = ActuatorBreakers(base, "svc", client, 0.5, headers=headers)
        with pytest.raises(SourceError) as caught:
            await breakers.read()
        messages.append(str(caught.value))
    for message in messages:
        assert PASSWORD not in message and TOKEN not in message and "key-5e6f7a8b9c" not in message, message
        assert "ops:***@127.0.0.1" in message
    assert "rejected" in messages[1] and "***" in messages[1].split("not authorised")[1]


# --- Actuator: down, slow, hostile ------------------------------------------------------------------------


async def test_unreachable_is_unavailable_quickly(client: httpx.AsyncClient) -> None:
    breakers = ActuatorBreakers(f"http://127.0.0.1:{free_port()}", "gone", client, TIMEOUT)
    message = await expect_error(breakers.read, SourceUnavailable, within=1.0)
    assert message.startswith("gone actuator at http://127.0.0.1:") and message.endswith("connection refused")
    with pytest.raises(SourceUnavailable):
        await breakers.update("x", "CLOSE")


async def test_hanging_actuator_times_out(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    server = make_actuator()
    server.mode = "hang"
    breakers = ActuatorBreakers(server.base_url, "stuck", client, 0.5)
    message = await expect_error(breakers.read, SourceTimeout, within=1.5)
    assert "no answer within 0.5s" in message or "timeout" in message
    await expect_error(lambda: breakers.update("payments", "FORCE_OPEN"), SourceTimeout, within=1.5)
    assert server.posts() == []


async def test_garbage_is_a_bad_response(
    client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]
) -> None:
    server = make_actuator()
    server.mode = "garbage"
    breakers = ActuatorBreakers(server.base_url, "svc", client, TIMEOUT)
    assert "answer is not JSON" in await expect_error(breakers.read, BadResponse)


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (json_reply({"status": "UP"}), BadResponse, 'no "circuitBreakers"'),
        (json_reply({"circuitBreakers": "all fine"}), BadResponse, "neither an object nor a list"),
        (json_reply([1, 2, 3]), BadResponse, "not a resilience4j breaker list"),
        (Reply(503, "text/html", b"<html>down</html>"), SourceUnavailable, "HTTP 503"),
        (Reply(500, "application/json", b'{"error": "Internal Server Error"}'), BadResponse, "HTTP 500"),
    ],
)
async def test_wrong_answers(
    client: httpx.AsyncClient,
    make_target_server: Callable[..., TargetServer],
    reply: Reply,
    kind: type[SourceError],
    words: str,
) -> None:
    server = make_target_server({ENDPOINT: reply})
    breakers = ActuatorBreakers(server.url("/"), "svc", client, TIMEOUT)
    assert words in await expect_error(breakers.read, kind)


async def test_missing_endpoint_says_so(
    client: httpx.AsyncClient, make_target_server: Callable[..., TargetServer]
) -> None:
    server = make_target_server({})
    message = await expect_error(ActuatorBreakers(server.url("/"), "svc", client, TIMEOUT).read, BadResponse)
    assert "HTTP 404, no circuitbreakers endpoint" in message


async def test_huge_answer_is_capped(client: httpx.AsyncClient, make_actuator: Callable[..., ActuatorServer]) -> None:
    server = make_actuator()
    server.mode = "huge"
    breakers = ActuatorBreakers(server.base_url, "svc", client, 5.0)
    message = await expect_error(breakers.read, BadResponse, within=3.0)
    assert f"answer over {MAX_BODY_BYTES // 1024} KiB" in message
    assert server.bytes_sent < HUGE_BYTES // 4  # stopped reading early; did not swallow 100 MiB


# --- Prometheus: pure assembly ----------------------------------------------------------------------------


def test_assemble_value_convention_and_disagreement() -> None:
    states = {
        ("", "inv", "a:1", "legacy", ""): 2.0,  # no state label: 0 closed, 1 open, 2 half-open
        ("", "inv", "a:1", "zeros", "open"): 0.0,  # every state gauge at 0
        ("", "inv", "a:1", "zeros", "closed"): 0.0,
        ("app", "j", "a:1", "db", "closed"): 1.0,
        ("app", "j", "a:2", "db", "open"): 1.0,
        ("app", "j", "a:3", "db", "closed"): 1.0,
    }
    failure = {("app", "j", "a:1", "db"): 10.0, ("app", "j", "a:2", "db"): 80.0, ("app", "j", "a:3", "db"): -1.0}
    infos = {i.key: i for i in assemble([states], failure_rate=failure)}
    assert infos["inv/legacy"].state is BreakerState.HALF_OPEN
    assert infos["inv/zeros"].state is BreakerState.UNKNOWN
    assert infos["app/db"].state is BreakerState.OPEN and infos["app/db"].failure_rate == 80.0
    assert infos["app/db"].note == "open on 1, closed on 2 of 3 instances"


def test_unknown_query_name_refused() -> None:
    with pytest.raises(ValueError, match="unknown breaker queries"):
        PrometheusBreakers(PrometheusConfig(url="http://127.0.0.1:9"), queries={"stat": "up"})


def test_prometheus_down_is_unavailable_quickly() -> None:
    config = PrometheusConfig(url=f"http://ops:{PASSWORD}@127.0.0.1:{free_port()}", timeout=1.0)
    source = PrometheusBreakers(config)
    started = time.monotonic()
    try:
        with pytest.raises(SourceUnavailable) as caught:
            source.collect()
    finally:
        source.close()
    assert time.monotonic() - started < 2.0
    assert PASSWORD not in str(caught.value)


# --- Prometheus: a real server scraping resilience4j-style exporters --------------------------------------


@pytest.fixture(scope="module")
def exporters() -> Iterator[dict[str, BreakerExporter]]:
    """Two instances of payments-api (with the `application` label), one inventory service (without)."""
    made = {
        "payments-a": BreakerExporter(application="payments-api"),
        "payments-b": BreakerExporter(application="payments-api"),
        "inventory": BreakerExporter(),  # no application label: the service falls back to the job
    }
    try:
        pay_a, pay_b, inventory = made.values()
        pay_a.set("stripe", "open", failure_rate=75.0, slow_call_rate=10.0, failed=6, successful=2, not_permitted=12)
        pay_b.set("stripe", "closed", failure_rate=5.0, slow_call_rate=0.0, failed=1, successful=19, not_permitted=3)
        for exporter in (pay_a, pay_b):
            exporter.set("ledger", "closed")  # rates -1: not enough calls
            exporter.set("fraud", "forced_open")
        inventory.set("warehouse", "half_open", failure_rate=40.0, failed=2, successful=3)
        inventory.set("audit", "disabled")
        inventory.set("metrics", "metrics_only")
        inventory.set("legacy", "open", family="generic")
        inventory.set("toggle", "closed")
        yield made
    finally:
        for exporter in made.values():
            exporter.close()


@pytest.fixture(scope="module")
def prometheus(exporters: dict[str, BreakerExporter]) -> Iterator[PrometheusServer]:
    find_prometheus()
    targets = [ScrapeTarget.from_url(job, exporter.metrics_url) for job, exporter in exporters.items()]
    with PrometheusServer(targets) as server:
        server.wait_until(
            "breaker gauges from every exporter",
            lambda: len(server.query("count by (job) (resilience4j_circuitbreaker_state)")) == 3
            and server.query("circuit_breaker_state"),
            timeout=60,
        )
        yield server


def collect(server: PrometheusServer, **options: object) -> dict[str, BreakerInfo]:
    source = PrometheusBreakers(PrometheusConfig(url=server.url), timeout=5.0, **options)  # type: ignore[arg-type]
    try:
        return {info.key: info for info in source.collect()}
    finally:
        source.close()


@requires_prometheus
def test_prometheus_states_and_services(prometheus: PrometheusServer) -> None:
    infos = collect(prometheus)
    assert set(infos) == {
        "payments-api/stripe",
        "payments-api/ledger",
        "payments-api/fraud",
        "inventory/warehouse",
        "inventory/audit",
        "inventory/metrics",
        "inventory/legacy",
        "inventory/toggle",
    }
    assert {i.source for i in infos.values()} == {"prometheus"}
    stripe = infos["payments-api/stripe"]  # two instances disagree: the open one wins
    assert stripe.state is BreakerState.OPEN
    assert (stripe.failure_rate, stripe.slow_call_rate) == (75.0, 10.0)
    assert (stripe.buffered_calls, stripe.failed_calls, stripe.not_permitted_calls) == (28, 7, 15)
    assert stripe.note == "open on 1, closed on 1 of 2 instances"
    ledger = infos["payments-api/ledger"]
    assert (ledger.state, ledger.failure_rate, ledger.slow_call_rate, ledger.note) == (
        BreakerState.CLOSED,
        None,
        None,
        "2 instances",
    )
    assert infos["payments-api/fraud"].state is BreakerState.FORCED_OPEN
    warehouse = infos["inventory/warehouse"]
    assert (warehouse.state, warehouse.failure_rate, warehouse.failed_calls) == (BreakerState.HALF_OPEN, 40.0, 2)
    assert infos["inventory/audit"].state is BreakerState.DISABLED
    assert infos["inventory/metrics"].state is BreakerState.METRICS_ONLY
    legacy = infos["inventory/legacy"]  # circuit_breaker_state{name,state}: state only
    assert (legacy.state, legacy.failure_rate, legacy.not_permitted_calls) == (BreakerState.OPEN, None, None)


@requires_prometheus
def test_prometheus_service_label(prometheus: PrometheusServer) -> None:
    by_job = collect(prometheus, service_label="job")
    assert by_job["payments-a/stripe"].state is BreakerState.OPEN
    assert by_job["payments-b/stripe"].state is BreakerState.CLOSED
    assert by_job["payments-b/stripe"].note == "" and by_job["payments-b/stripe"].not_permitted_calls == 3
    absent = collect(prometheus, service_label="team")  # no such label anywhere: job
    assert {key.split("/")[0] for key in absent} == {"payments-a", "payments-b", "inventory"}


@requires_prometheus
def test_prometheus_queries_configurable(prometheus: PrometheusServer) -> None:
    infos = collect(prometheus, queries={"generic_state": "", "failure_rate": ""})
    assert "inventory/legacy" not in infos
    assert infos["payments-api/stripe"].failure_rate is None
    assert infos["payments-api/stripe"].slow_call_rate == 10.0


@requires_prometheus
async def test_prometheus_follows_a_state_change(
    prometheus: PrometheusServer, exporters: dict[str, BreakerExporter]
) -> None:
    exporters["inventory"].set("toggle", "open", not_permitted=4)
    source = PrometheusBreakers(PrometheusConfig(url=prometheus.url), timeout=5.0)
    try:
        deadline = time.monotonic() + 20
        while True:
            toggle = {i.key: i for i in await source.read()}["inventory/toggle"]
            if toggle.state is BreakerState.OPEN or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        source.close()
    assert (toggle.state, toggle.not_permitted_calls) == (BreakerState.OPEN, 4)
