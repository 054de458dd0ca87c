"""The demo stack: a few services answering health probes in every format opsconsole understands.

Built on the backend side of `console.adapters.http_health`, the way a real Python service would use
it. A control endpoint stops, starts, degrades and fails services so a newcomer can watch the
console react without restarting it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from console.adapters.http_health import health_response
from console.adapters.http_metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from console.adapters.http_metrics import RequestMetrics
from console.demo import prometheus as demo_prometheus
from console.demo.breaker_traffic import BreakerTraffic
from console.demo.cache_traffic import CacheTraffic
from console.demo.queue_traffic import AMQP_URL, QueueTraffic
from console.demo.traffic import ROUTES, TrafficGenerator
from console.model import HealthCheck, Status

DEFAULT_BASE_PORT = 18080
PROMETHEUS_OFFSET = 10  # the demo's own Prometheus listens on base + 10 (18090)
DEMO_REDIS_URL = "redis://127.0.0.1:6379/15"  # the machine's Redis, a database of its own


def base_port() -> int:
    return int(os.environ.get("OPSCONSOLE_DEMO_PORT", DEFAULT_BASE_PORT))


@dataclass
class DemoService:
    """One fake service: its health style, paths, dependencies and current condition."""

    name: str
    style: str  # seed | spring | ietf | plain
    offset: int
    paths: dict[str, str]  # probe kind → path
    dependencies: tuple[str, ...] = ("database", "redis")
    condition: str = "ok"  # ok | degraded | failing | slow | erroring (the last two: incidents)
    server: _QuietServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    traffic: TrafficGenerator | None = None

    def current_condition(self) -> str:
        return "stopped" if self.server is None else self.condition

    def checks(self, probe: str) -> list[HealthCheck]:
        if probe == "liveness":  # the process is alive even when its dependencies are not
            return [HealthCheck("process", Status.OK, "alive", round(random.uniform(0.1, 0.5), 2))]
        result = []
        for index, dependency in enumerate(self.dependencies):
            latency = random.uniform(1.5, 12.0)
            status, detail = Status.OK, "connected"
            if self.condition in ("degraded", "slow") and index == len(self.dependencies) - 1:
                status, detail, latency = Status.WARN, "slow responses", random.uniform(300, 450)
            elif self.condition == "failing" and index == 0:
                status, detail, latency = Status.CRIT, "connection refused", random.uniform(0.5, 2.0)
            result.append(HealthCheck(dependency, status, detail, round(latency, 1)))
        return result


def demo_services() -> list[DemoService]:
    return [
        DemoService(
            "api",
            "seed",
            1,
            {"health": "/api/health/detailed", "liveness": "/api/health/live", "readiness": "/api/health/ready"},
            ("mongodb", "redis", "rabbitmq"),
        ),
        DemoService(
            "billing",
            "spring",
            2,
            {
                "health": "/actuator/health",
                "liveness": "/actuator/health/liveness",
                "readiness": "/actuator/health/readiness",
            },
            ("db", "paymentGateway"),
        ),
        DemoService("search", "ietf", 3, {"health": "/health"}, ("elasticsearch", "cache")),
        DemoService("legacy", "plain", 4, {"health": "/healthz"}, ()),
    ]


class DemoStack:
    """Runs every service plus the control endpoint, each on its own port in its own thread."""

    def __init__(self, base: int | None = None):
        self.base = base_port() if base is None else base
        self.services = {s.name: s for s in demo_services()}
        self._control: _QuietServer | None = None
        # The traffic generators an incident may steer (set by `serve_forever`, or by tests).
        self.queues: QueueTraffic | None = None
        self.cache: CacheTraffic | None = None
        self.breakers: BreakerTraffic | None = None
        self.incidents: list[str] = []

    def incident(self, name: str) -> None:
        """Start a named incident (see console.demo.incidents), or `clear` them all."""
        from console.demo import incidents

        incidents.start(self, name)
        if name == "clear":
            self.incidents = []

    def url(self, service: DemoService, probe: str) -> str:
        return f"http://127.0.0.1:{self.base + service.offset}{service.paths[probe]}"

    def start(self) -> None:
        for service in self.services.values():
            self.start_service(service.name)
            if service.name in ROUTES and service.traffic is None:
                service.traffic = TrafficGenerator(service.name, service.metrics, service.current_condition)
                service.traffic.start()
        self._control = _serve(self.base, _control_handler(self))

    def metrics_url(self, service: DemoService) -> str:
        return f"http://127.0.0.1:{self.base + service.offset}/metrics"

    def stop(self) -> None:
        for service in self.services.values():
            self.stop_service(service.name)
            if service.traffic is not None:
                service.traffic.stop()
                service.traffic = None
        if self._control is not None:
            self._control.close_everything()

    def start_service(self, name: str) -> None:
        service = self.services[name]
        with service.lock:
            if service.server is None:
                service.server = _serve(self.base + service.offset, _service_handler(service))

    def stop_service(self, name: str) -> None:
        service = self.services[name]
        with service.lock:
            server, service.server = service.server, None
        if server is not None:
            server.close_everything()

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                "name": s.name,
                "style": s.style,
                "running": s.server is not None,
                "condition": s.condition,
                "probes": {k: self.url(s, k) for k in s.paths},
            }
            for s in self.services.values()
        ]

    def apply(self, verb: str, name: str) -> None:
        if name not in self.services:
            raise KeyError(name)
        if verb == "stop":
            self.stop_service(name)
        elif verb == "start":
            self.start_service(name)
        elif verb in ("degrade", "fail", "heal"):
            self.services[name].condition = {"degrade": "degraded", "fail": "failing", "heal": "ok"}[verb]
        else:
            raise ValueError(verb)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 drops SYNs when a console connects to many at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self._connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[no-untyped-def]
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_everything(self) -> None:
        """Stop like a killed process: listener and every kept-alive connection go away."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections, self.connections = list(self.connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-request are normal when the console stops or times out


def _serve(port: int, handler: type[BaseHTTPRequestHandler]) -> _QuietServer:
    server = _QuietServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, delayed ACKs add ~40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _service_handler(service: DemoService) -> type[BaseHTTPRequestHandler]:
    by_path = {path: kind for kind, path in service.paths.items()}

    class Handler(_Handler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self.path.split("?")[0] == "/metrics":
                self.send(200, METRICS_CONTENT_TYPE, service.metrics.exposition())
                return
            probe = by_path.get(self.path.split("?")[0])
            if probe is None:
                self.send(404, "application/json", b'{"error":"not found"}')
                return
            time.sleep(random.uniform(0.002, 0.02))  # a little realistic latency
            if service.style == "plain":
                failing = service.condition == "failing"
                self.send(503 if failing else 200, "text/plain", b"FAIL" if failing else b"OK")
                return
            extra = {"version": "1.4.2", "uptime": int(time.monotonic())} if service.style != "spring" else None
            code, content_type, body = health_response(service.style, service.checks(probe), extra)
            self.send(code, content_type, body)

    return Handler


def _control_handler(stack: DemoStack) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        def do_GET(self) -> None:  # noqa: N802
            self.send(200, "application/json", json.dumps(stack.describe()).encode())

        def do_POST(self) -> None:  # noqa: N802 - POST /services/<name>/<verb> | /incidents/<name>
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "incidents":
                self._incident(parts[1])
                return
            if len(parts) != 3 or parts[0] != "services":
                self.send(404, "application/json", b'{"error":"POST /services/<name>/<verb> or /incidents/<name>"}')
                return
            try:
                stack.apply(parts[2], parts[1])
            except KeyError:
                self.send(404, "application/json", json.dumps({"error": f"no service {parts[1]!r}"}).encode())
                return
            except ValueError:
                self.send(400, "application/json", json.dumps({"error": f"unknown verb {parts[2]!r}"}).encode())
                return
            self.send(200, "application/json", json.dumps(stack.describe()).encode())

        def _incident(self, name: str) -> None:
            from console.demo.incidents import INCIDENTS, IncidentUnavailable

            try:
                stack.incident(name)
            except KeyError:
                known = ", ".join([*INCIDENTS, "clear"])
                self.send(404, "application/json", json.dumps({"error": f"no incident {name!r}; try {known}"}).encode())
                return
            except IncidentUnavailable as exc:
                self.send(409, "application/json", json.dumps({"error": str(exc)}).encode())
                return
            except Exception as exc:  # noqa: BLE001 - e.g. Redis down during cache-flush: say so
                self.send(500, "application/json", json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
                return
            self.send(200, "application/json", json.dumps({"active": stack.incidents}).encode())

    return Handler


def stop_on_signals() -> None:
    """SIGINT and SIGTERM end `serve_forever` through its clean-up. A process started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then leaves it ignored: `demo down` could not
    stop a stack started from a script (the benchmarks' left one running)."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)


def serve_forever(state_dir: Path | None = None) -> None:
    stop_on_signals()
    stack = DemoStack()
    stack.start()
    targets = {s.name: f"127.0.0.1:{stack.base + s.offset}" for s in stack.services.values() if s.name in ROUTES}
    prometheus = demo_prometheus.start(targets, stack.base + PROMETHEUS_OFFSET, state_dir or Path.cwd())
    redis_url = os.environ.get("OPSCONSOLE_DEMO_REDIS", DEMO_REDIS_URL)
    cache = CacheTraffic(redis_url)
    cache.start()
    queues = QueueTraffic(os.environ.get("OPSCONSOLE_DEMO_AMQP", AMQP_URL), redis_url)
    queues.start()
    breakers = BreakerTraffic(redis_url, lambda name: stack.services[name].current_condition())
    breakers.start()
    stack.cache, stack.queues, stack.breakers = cache, queues, breakers
    print(f"opsconsole demo stack on 127.0.0.1:{stack.base} (control) …", flush=True)
    for entry in stack.describe():
        print(f"  {entry['name']:8} {entry['style']:6} {entry['probes']}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        breakers.stop()
        queues.stop()
        cache.stop()
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(timeout=10)
        stack.stop()
