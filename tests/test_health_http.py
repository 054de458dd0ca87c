"""Integration: the HTTP health adapter against real servers on loopback (good, bad and hostile)."""

from __future__ import annotations

import asyncio
import base64
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest

from console.adapters.http_health import (
    MAX_BODY_BYTES,
    ProbeClient,
    check_target,
    make_client,
    make_probe_client,
    probe,
)
from console.collector import Collector
from console.config import Environment, HealthTargetConfig, Settings
from console.demo.backend import DemoStack
from console.model import HealthTarget, ProbeResult, Reading, Status
from console.sources import HealthSource, build_sources
from tests.fixtures.http_targets import (  # noqa: F401 - the *_fixture imports register fixtures
    HUGE_BYTES,
    Hang,
    TargetServer,
    demo_stack_fixture,
    json_reply,
    make_target_server_fixture,
    target_server_fixture,
)
from tests.fixtures.net import free_port

TIMEOUT = 1.0
SAFETY = TIMEOUT + 3.0  # outer bound only: a probe that never returns fails instead of hanging the suite
PASSWORD = "s3cr3t-Pa55"


@pytest.fixture(params=["probe", "general"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The health sources' client (lean HTTP/1.1 transport) and the general one: probes read alike on both."""
    http = make_probe_client() if request.param == "probe" else make_client()
    try:
        yield http
    finally:
        await http.aclose()


async def run_probe(client: httpx.AsyncClient, url: str, timeout: float = TIMEOUT, kind: str = "health") -> ProbeResult:
    return await asyncio.wait_for(probe(client, kind, url, timeout), timeout=timeout + 3.0)


def checks_by_name(result: ProbeResult) -> dict[str, Status]:
    return {c.name: c.status for c in result.checks}


# --- The three document formats and the status-code fallback ---------------------------------------------


async def test_seed_document_ok(client: httpx.AsyncClient, target_server: TargetServer) -> None:
    result = await run_probe(client, target_server.url("/seed"))
    assert (result.status, result.format, result.http_status) == (Status.OK, "seed", 200)
    assert checks_by_name(result) == {"database": Status.OK, "redis": Status.OK, "queue": Status.OK}
    database = next(c for c in result.checks if c.name == "database")
    assert database.latency_ms == pytest.approx(3.2)
    assert result.message == "ok (HTTP 200)"
    assert result.latency_ms is not None and result.latency_ms >= 0
    assert result.url == target_server.url("/seed")


async def test_seed_document_degraded_names_the_slow_check(
    client: httpx.AsyncClient, target_server: TargetServer
) -> None:
    result = await run_probe(client, target_server.url("/seed-degraded"))
    assert (result.status, result.format) == (Status.WARN, "seed")
    assert checks_by_name(result) == {"database": Status.OK, "redis": Status.WARN}
    assert result.message == "redis: slow"


async def test_spring_document_nested_components(client: httpx.AsyncClient, target_server: TargetServer) -> None:
    result = await run_probe(client, target_server.url("/spring"))
    assert (result.status, result.format, result.http_status) == (Status.CRIT, "spring", 503)
    assert checks_by_name(result) == {
        "db": Status.CRIT,
        "db/primary": Status.OK,
        "db/secondary": Status.CRIT,
        "diskSpace": Status.OK,
    }
    secondary = next(c for c in result.checks if c.name == "db/secondary")
    assert secondary.detail == "Connection refused"


async def test_ietf_document_per_component_checks(client: httpx.AsyncClient, target_server: TargetServer) -> None:
    result = await run_probe(client, target_server.url("/ietf"))
    assert (result.status, result.format, result.http_status) == (Status.WARN, "ietf", 200)
    assert checks_by_name(result) == {
        "cassandra:responseTime [node-1]": Status.OK,
        "cassandra:responseTime [node-2]": Status.WARN,
        "uptime": Status.OK,
    }
    latencies = {c.name: c.latency_ms for c in result.checks}
    assert latencies["cassandra:responseTime [node-2]"] == 480
    assert latencies["uptime"] is None  # observedUnit "s" on a non-responseTime check is not a latency
    assert result.message == "cassandra:responseTime [node-2]: slow"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ok-text", Status.OK, "HTTP 200"),
        ("/fail-text", Status.CRIT, "HTTP 503"),
        ("/empty-204", Status.OK, "HTTP 204"),
    ],
)
async def test_plain_status_code_fallback(
    client: httpx.AsyncClient, target_server: TargetServer, path: str, status: Status, message: str
) -> None:
    result = await run_probe(client, target_server.url(path))
    assert (result.status, result.format, result.message, result.checks) == (status, "status-code", message, ())


@pytest.mark.parametrize(
    ("path", "status", "code"), [("/invalid-json", Status.OK, 200), ("/invalid-json-503", Status.CRIT, 503)]
)
async def test_invalid_json_falls_back_to_status_code(
    client: httpx.AsyncClient, target_server: TargetServer, path: str, status: Status, code: int
) -> None:
    result = await run_probe(client, target_server.url(path))
    assert (result.status, result.format, result.http_status) == (status, "status-code", code)
    assert result.message == f"HTTP {code} (invalid JSON body)"
    assert result.checks == ()


async def test_html_with_html_content_type_is_not_called_invalid_json(
    client: httpx.AsyncClient, target_server: TargetServer
) -> None:
    result = await run_probe(client, target_server.url("/wrong-type-html"))
    assert (result.status, result.format, result.message) == (Status.OK, "status-code", "HTTP 200")


async def test_json_document_with_wrong_content_type_is_still_read(
    client: httpx.AsyncClient, target_server: TargetServer
) -> None:
    result = await run_probe(client, target_server.url("/json-as-text"))
    assert (result.status, result.format) == (Status.WARN, "seed")
    assert checks_by_name(result)["redis"] is Status.WARN


# --- Hostile and broken servers ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/hang", "/slowloris"])
async def test_hanging_and_dribbling_servers_are_bounded_by_the_timeout(
    client: httpx.AsyncClient, target_server: TargetServer, path: str
) -> None:
    result = await asyncio.wait_for(probe(client, "health", target_server.url(path), TIMEOUT), timeout=SAFETY)
    assert result.status is Status.CRIT
    assert "timeout" in result.message
    assert (result.format, result.http_status, result.checks) == ("none", None, ())
    assert target_server.hits[path] == 1  # the request did reach the server: this is not a connect failure


async def test_slowloris_hits_the_overall_deadline_not_a_per_read_timeout(
    client: httpx.AsyncClient, target_server: TargetServer
) -> None:
    # A byte every 0.2 s keeps every single read under the per-phase httpx timeout; only the overall
    # deadline can end this probe.
    result = await asyncio.wait_for(probe(client, "health", target_server.url("/slowloris"), TIMEOUT), timeout=SAFETY)
    assert result.message == f"timeout after {TIMEOUT:g}s"


async def test_huge_body_is_cut_not_downloaded(client: httpx.AsyncClient, target_server: TargetServer) -> None:
    tracemalloc.start()
    try:
        result = await asyncio.wait_for(probe(client, "health", target_server.url("/huge"), 10.0), timeout=13.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.status, result.format, result.http_status) == (Status.OK, "status-code", 200)
    assert result.message == f"HTTP 200 (body over {MAX_BODY_BYTES // 1024} KiB, not parsed)"
    assert result.checks == ()
    assert peak < 16 * 1024 * 1024, f"probe held {peak} bytes for a {HUGE_BYTES}-byte body"
    target_server.close()  # joins the streaming handler: the count below is final
    assert target_server.bytes_sent < HUGE_BYTES // 4, "the client kept reading after the cap"


async def test_server_closing_the_connection(client: httpx.AsyncClient, target_server: TargetServer) -> None:
    result = await run_probe(client, target_server.url("/close"))
    assert (result.status, result.format, result.http_status) == (Status.CRIT, "none", None)
    assert result.message == "connection closed by server"


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    result = await run_probe(client, f"http://127.0.0.1:{free_port()}/health")
    assert (result.status, result.format, result.http_status) == (Status.CRIT, "none", None)
    assert result.message == "connection refused"


async def test_unknown_path_is_critical(client: httpx.AsyncClient, target_server: TargetServer) -> None:
    result = await run_probe(client, target_server.url("/no-such-health"))
    assert (result.status, result.http_status) == (Status.CRIT, 404)


# --- Secrets -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/seed", "/spring", "/invalid-json", "/close", "/hang", "/huge"])
async def test_password_in_url_is_used_but_never_shown(
    client: httpx.AsyncClient, target_server: TargetServer, path: str
) -> None:
    url = target_server.url(path, userinfo=f"ops:{PASSWORD}")
    result = await asyncio.wait_for(probe(client, "health", url, TIMEOUT), timeout=SAFETY)
    assert PASSWORD not in result.url and PASSWORD not in result.message
    assert PASSWORD not in repr(result)
    assert result.url == target_server.url(path, userinfo="ops:***")
    # The credentials did reach the server as basic auth.
    expected = "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    assert target_server.authorizations == [expected]


@pytest.mark.parametrize(
    "url",
    [
        f"http://ops:{PASSWORD}@127.0.0.1:{{port}}/health",  # refused
        f"http://ops:{PASSWORD}@127.0.0.1:notaport/health",  # invalid port
        f"http://ops:{PASSWORD}@[::1/health",  # invalid IPv6 literal
    ],
)
async def test_failures_never_show_the_password(client: httpx.AsyncClient, url: str) -> None:
    result = await run_probe(client, url.format(port=free_port()))
    assert result.status is Status.CRIT
    assert PASSWORD not in result.url and PASSWORD not in result.message
    assert "ops:***@" in result.url


# --- Liveness vs readiness on the real demo stack ---------------------------------------------------------


def demo_urls(stack: DemoStack, name: str) -> list[tuple[str, str]]:
    service = stack.services[name]
    return [(kind, stack.url(service, kind)) for kind in service.paths]


async def test_demo_stack_serves_every_format(client: httpx.AsyncClient, demo_stack: DemoStack) -> None:
    formats = {}
    for name in demo_stack.services:
        target = await asyncio.wait_for(
            check_target(client, name, demo_urls(demo_stack, name), TIMEOUT), timeout=SAFETY
        )
        assert target.status is Status.OK, target
        formats[name] = {p.format for p in target.probes}
    assert formats == {"api": {"seed"}, "billing": {"spring"}, "search": {"ietf"}, "legacy": {"status-code"}}


async def test_failing_dependency_fails_readiness_not_liveness(
    client: httpx.AsyncClient, demo_stack: DemoStack
) -> None:
    demo_stack.apply("fail", "api")
    target = await asyncio.wait_for(check_target(client, "api", demo_urls(demo_stack, "api"), TIMEOUT), SAFETY)
    readiness, liveness, health = target.probe("readiness"), target.probe("liveness"), target.probe("health")
    assert readiness is not None and liveness is not None and health is not None
    assert (readiness.status, readiness.http_status) == (Status.CRIT, 503)
    assert checks_by_name(readiness)["mongodb"] is Status.CRIT
    assert (liveness.status, liveness.http_status) == (Status.OK, 200)
    assert health.status is Status.CRIT
    assert target.status is Status.CRIT

    demo_stack.apply("heal", "api")
    healed = await asyncio.wait_for(check_target(client, "api", demo_urls(demo_stack, "api"), TIMEOUT), SAFETY)
    assert healed.status is Status.OK


async def test_degraded_dependency_warns_readiness_not_liveness(
    client: httpx.AsyncClient, demo_stack: DemoStack
) -> None:
    demo_stack.apply("degrade", "api")
    api = await asyncio.wait_for(check_target(client, "api", demo_urls(demo_stack, "api"), TIMEOUT), SAFETY)
    assert {p.probe: p.status for p in api.probes} == {
        "health": Status.WARN,
        "liveness": Status.OK,
        "readiness": Status.WARN,
    }


async def test_stopped_service_is_refused_and_recovers_with_the_same_client(
    client: httpx.AsyncClient, demo_stack: DemoStack
) -> None:
    url = demo_stack.url(demo_stack.services["search"], "health")
    demo_stack.stop_service("search")
    down = await run_probe(client, url)
    assert (down.status, down.message) == (Status.CRIT, "connection refused")

    demo_stack.start_service("search")
    up = await run_probe(client, url)
    assert (up.status, up.format) == (Status.OK, "ietf")

    demo_stack.stop_service("search")
    again = await run_probe(client, url)
    assert again.status is Status.CRIT


async def test_service_stopped_while_being_polled_goes_down(client: httpx.AsyncClient, demo_stack: DemoStack) -> None:
    url = demo_stack.url(demo_stack.services["legacy"], "health")
    # The first poll leaves a pooled keep-alive connection; stopping the service must end it too, or the
    # "stopped" service keeps answering through it.
    assert (await run_probe(client, url)).status is Status.OK
    demo_stack.stop_service("legacy")
    down = await run_probe(client, url)
    assert (down.status, down.http_status) == (Status.CRIT, None)
    assert down.message in ("connection refused", "connection closed by server")
    demo_stack.start_service("legacy")
    assert (await run_probe(client, url)).status is Status.OK


# --- Many targets through the collector ---------------------------------------------------------------------


async def test_collector_round_with_hanging_targets(
    client: httpx.AsyncClient, make_target_server, target_server: TargetServer
) -> None:
    hanging = make_target_server({"/health": Hang()})
    slow_ok = make_target_server({"/health": json_reply({"status": "ok"})})
    good_paths = ["/seed", "/ok-text", "/json-as-text", "/ietf"]  # ok, ok, warn, warn
    timeout = 2.0
    configs = []
    for index in range(50):
        if index % 10 == 3:
            url = hanging.url("/health")
        elif index % 2:
            url = slow_ok.url("/health")
        else:
            url = target_server.url(good_paths[0] if index % 4 == 0 else good_paths[1])
        configs.append(HealthTargetConfig(name=f"t{index:02d}", url=url, timeout=timeout))
    sources = [HealthSource(config, client) for config in configs]
    emitted: list[Reading] = []
    collector = Collector(sources, emitted.append)

    readings = await asyncio.wait_for(collector.collect_once(), timeout=timeout + 1.0 + 5.0)

    assert len(readings) == 50 and len(emitted) == 50
    assert {r.source for r in readings} == {f"health:t{i:02d}" for i in range(50)}
    hanging_names = {f"health:t{i:02d}" for i in range(50) if i % 10 == 3}
    assert len(hanging_names) == 5
    ok = [r for r in readings if r.error is None and isinstance(r.value, HealthTarget) and r.value.status is Status.OK]
    assert len(ok) == 45
    assert {r.source for r in ok}.isdisjoint(hanging_names)
    for reading in readings:
        if reading.source in hanging_names:
            assert isinstance(reading.value, HealthTarget)
            assert reading.value.status is Status.CRIT
            assert "timeout" in reading.value.probes[0].message
    assert hanging.hits["/health"] == 5
    await collector.stop()  # the shared client is not owned by any source: still usable afterwards
    assert not client.is_closed


async def test_every_target_shares_one_probe_client_per_tls_mode() -> None:
    targets = (
        HealthTargetConfig(name="a", url="http://127.0.0.1:1/health"),
        HealthTargetConfig(name="b", url="https://127.0.0.1:2/health", verify_tls=False),
        HealthTargetConfig(name="c", url="http://127.0.0.1:3/health"),
    )
    settings = Settings(env=Environment(name="t", health=targets), environments=("t",))
    sources = [s for s in build_sources(settings) if isinstance(s, HealthSource)]
    try:
        assert [type(s.client) for s in sources] == [ProbeClient] * 3
        assert sources[0].client is sources[2].client is not sources[1].client
        assert [s.owns_client for s in sources] == [True, True, False]  # each client closed exactly once
    finally:
        for source in sources:
            await source.aclose()
