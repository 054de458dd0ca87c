"""Terminal injection: the real console, under a pseudo-terminal, against backends whose data attacks the terminal.

Hostile backends started here:

- an HTTP health target answering seed, Spring actuator and IETF health+json documents whose messages and check
  names carry ESC / CSI / OSC sequences (OSC 52 clipboard write, window titles, OSC 8 links, cursor moves, screen
  clear), C1 controls, bidi overrides and Rich markup (`[link=…]`, `[/]`); it also serves a resilience4j actuator
  whose breaker names do the same;
- a private `redis-server` holding a Redis-list DLQ of such events (JSON and raw bytes), a BullMQ queue whose name,
  job name, failedReason and stack trace carry them, and Redis lists used as queues named with them;
- RabbitMQ queues on the shared broker named with them (declared through the management API: the AMQP client
  refuses such names, the broker does not) and a DLQ holding a letter whose body, headers and `x-death` carry
  them. Every queue is `oc-test-<hex>`-prefixed and deleted afterwards.

`python -m console` runs on a pty (xterm-256color, 160x50 set with TIOCSWINSZ before it starts). Every byte it
writes is captured while it shows the data, while the health breakdown, every DLQ's browser and a letter's
detail are open (opened with keys), and until it quits on `q`. Then: none of the injected sequences is in the
byte stream, no C1 control or bidi override was written, the screen (replayed through `pyte`, a virtual
terminal) still has its banner, pane borders and footer where they belong, and the hostile data *was* shown — as
visible escapes (`\\x1b]52;…`) and literal markup text.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.hostile import INJECTIONS
from tests.fixtures.http_targets import TargetServer, json_reply
from tests.fixtures.rabbit import MANAGEMENT_AUTH, MANAGEMENT_URL, rabbitmq_missing, unique_prefix
from tests.fixtures.redis_server import PrivateRedis, requires_redis_server

pyte = pytest.importorskip("pyte")

COLUMNS, LINES = 160, 50
START_TIMEOUT = 30.0
STEP_TIMEOUT = 15.0
I = INJECTIONS  # noqa: E741 - short, read everywhere below

# What must never reach the terminal: the attack sequences themselves, as bytes.
FORBIDDEN_BYTES = {
    "OSC 52 clipboard write": b"\x1b]52;",
    "OSC 0 window title": b"\x1b]0;pwned",
    "OSC 2 window title": b"\x1b]2;pwned",
    # Escaped or smuggled as `[link=…]` markup: either way a hyperlink (OSC 8). The console has none of its own.
    "OSC 8 hyperlink": b"\x1b]8;",
    "screen clear": b"\x1b[2J",
    "cursor up": b"\x1b[5A",
    "concealed text": b"\x1b[8mhidden",
    "bell + backspace": b"\x07\x08",
}
# C1 controls and bidi overrides, as the UTF-8 the console writes.
FORBIDDEN_CHARS = ("\x9b", "\x9d", "\x9c", "\x85", "\u202e", "\u2067", "\u2069", "\x00")


def hostile(tag: str, *names: str) -> str:
    """A visible marker (so the test can see the text was shown) followed by attack sequences."""
    return f"{tag}" + "".join(I[n] for n in names)


HEALTH_MESSAGE = hostile("HMSG", "osc52-clipboard", "osc0-title", "rich-link", "c1-csi")
CHECK_NAME = hostile("HCHK", "osc8-link", "bidi-rlo", "rich-close-all")
SPRING_ERROR = hostile("SPRG", "csi-clear", "csi-cursor", "rich-style")
IETF_OUTPUT = hostile("IETF", "osc2-title-st", "c1-osc", "textual-action")
BREAKER_NAME = hostile("BRKR", "osc0-title", "rich-link")


def health_routes() -> dict[str, object]:
    return {
        "/seed": json_reply(
            {
                "status": "error",
                "message": HEALTH_MESSAGE,
                "checks": {CHECK_NAME: {"status": "error", "message": hostile("HDET", "csi-sgr-hide", "c1-nel")}},
            },
            503,
        ),
        "/spring": json_reply(
            {
                "status": "DOWN",
                "components": {hostile("SPCO", "bidi-isolate"): {"status": "DOWN", "details": {"error": SPRING_ERROR}}},
            },
            503,
            "application/vnd.spring-boot.actuator.v3+json",
        ),
        "/ietf": json_reply(
            {
                "status": "warn",
                "output": IETF_OUTPUT,
                "checks": {"db:responseTime": [{"status": "warn", "output": I["bell-bs-cr"]}]},
            },
            200,
            "application/health+json",
        ),
        "/actuator/circuitbreakers": json_reply(
            {"circuitBreakers": {BREAKER_NAME: {"state": "OPEN", "failureRate": "75.0%", "bufferedCalls": 4}}}
        ),
    }


# --- backends -----------------------------------------------------------------------------------------------


def seed_redis(server: PrivateRedis) -> dict[str, str]:
    """A Redis-list DLQ, a BullMQ queue with a failed job, and list queues, all hostile. Returns the names."""
    client = server.client()
    now_ms = int(time.time() * 1000)
    events = [
        {
            "eventId": hostile("EVID", "osc52-clipboard"),
            "event": hostile("order.", "osc0-title", "rich-link"),
            "payload": {"note": hostile("PAY", "csi-clear", "c1-csi", "bidi-rlo")},
            "error": hostile("RERR", "osc8-link", "rich-close-all") + "\nTraceback …",
            "failedAt": "2025-01-01T00:00:00Z",
            "retryCount": 3,
            "traceId": hostile("TRC", "c1-osc"),
        },
    ]
    for event in events:
        client.lpush("events:dlq", json.dumps(event))
    # Not JSON at all: raw escape bytes as the element.
    client.lpush("events:dlq", ("RAW " + I["osc52-clipboard"] + I["csi-clear"] + I["bidi-rlo"]).encode())
    bull = "mail" + I["osc0-title"] + I["rich-link"]
    base = f"bull:{bull}"
    client.hset(f"{base}:meta", mapping={"opts.maxLenEvents": "10000"})
    client.zadd(f"{base}:failed", {"1": now_ms})
    client.hset(
        f"{base}:1",
        mapping={
            "name": hostile("JOB", "osc52-clipboard", "bidi-isolate"),
            "data": json.dumps({"to": hostile("DATA", "osc8-link")}),
            "failedReason": hostile("BREA", "csi-cursor", "c1-csi", "rich-style"),
            "stacktrace": json.dumps(["Error: x\n    at " + hostile("FRAME", "osc2-title-st") + " (a.js:1:1)"]),
            "finishedOn": str(now_ms),
            "timestamp": str(now_ms - 1000),
            "atm": "1",
        },
    )
    for name in ("osc52-clipboard", "rich-link", "bidi-rlo", "c1-csi"):
        client.rpush("oc:q:" + name + I[name], "job")
    client.close()
    return {"bull": bull}


def management(method: str, path: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(base_url=MANAGEMENT_URL, auth=MANAGEMENT_AUTH, timeout=10, trust_env=False) as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def seed_rabbit(prefix: str) -> dict[str, str]:
    """Hostile queue names and a DLQ letter, through the management API (the broker takes any UTF-8 name)."""
    dlq = f"{prefix}.dlq" + I["osc0-title"] + I["rich-link"]
    names = [dlq] + [f"{prefix}-{n}" + I[n] for n in ("osc52-clipboard", "c1-csi", "bidi-rlo", "rich-close-all")]
    for name in names:
        response = management("PUT", f"/api/queues/%2F/{quote(name, safe='')}", json={"durable": False})
        assert response.status_code in (201, 204), response.text
    body = "RBODY " + I["osc52-clipboard"] + I["csi-clear"] + I["c1-csi"] + I["bidi-rlo"] + I["rich-link"]
    properties = {
        "message_id": hostile("RMID", "osc8-link"),
        "content_type": hostile("CT", "osc0-title"),
        "headers": {
            hostile("HKEY", "osc52-clipboard"): hostile("HVAL", "csi-clear", "rich-link"),
            "x-death": [
                {
                    "queue": hostile("orders", "osc2-title-st", "rich-close-all"),
                    "reason": "rejected" + I["c1-osc"],
                    "exchange": hostile("EXCH", "bidi-isolate"),
                    "routing-keys": [hostile("RKEY", "csi-cursor")],
                    "count": 1,
                    "time": int(time.time()),
                }
            ],
        },
    }
    published = management(
        "POST",
        "/api/exchanges/%2F/amq.default/publish",
        json={
            "properties": properties,
            "routing_key": dlq,
            "payload": base64.b64encode(body.encode()).decode(),
            "payload_encoding": "base64",
        },
    )
    assert published.status_code == 200 and published.json().get("routed"), published.text
    return {"dlq": dlq}


def delete_queues(prefix: str) -> None:
    listing = management("GET", "/api/queues/%2F", params={"columns": "name"})
    for queue in listing.json():
        name = queue.get("name", "")
        if name.startswith(prefix):
            management("DELETE", f"/api/queues/%2F/{quote(name, safe='')}")


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escaping is valid TOML for the BMP (control characters as \\uXXXX)."""
    return json.dumps(value)


def write_config(tmp_path: Path, target: TargetServer, redis_url: str, rabbit: dict[str, str] | None) -> Path:
    lines = [
        "[console]",
        f"audit_log = {toml_string(str(tmp_path / 'audit.jsonl'))}",
        "refresh = 1.0",
        "",
        "[env.hostile]",
        f"redis_url = {toml_string(redis_url)}",
        "",
        "[[env.hostile.health]]",
        'name = "evil"',
        f"url = {toml_string(target.url('/seed'))}",
        f"liveness = {toml_string(target.url('/spring'))}",
        f"readiness = {toml_string(target.url('/ietf'))}",
        "",
        "[env.hostile.bullmq]",
        f"redis_url = {toml_string(redis_url)}",
        "",
        "[env.hostile.lists]",
        f"redis_url = {toml_string(redis_url)}",
        'pattern = "oc:q:*"',
        "",
        "[env.hostile.breakers]",
        "[[env.hostile.breakers.actuator]]",
        'service = "evil"',
        f"url = {toml_string(target.url('/'))}",
        "",
        "[env.hostile.dlq]",
        "discover = false",  # never peek other tests' DLQs on the shared broker
        f"rabbitmq = [{toml_string(rabbit['dlq'])}]" if rabbit else "rabbitmq = []",
        "",
        "[[env.hostile.dlq.redis]]",
        'key = "events:dlq"',
        f"redis_url = {toml_string(redis_url)}",
    ]
    if rabbit:
        lines[6:6] = [
            "[env.hostile.rabbitmq]",
            f"management_url = {toml_string('http://guest:guest@127.0.0.1:15672')}",
            "",
        ]
    path = tmp_path / "hostile.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the console on a pty ------------------------------------------------------------------------------------


class Terminal:
    """The console's side of a pty pair, with every byte kept and replayed into a pyte screen."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        self.output = bytearray()
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)

    def pump(self, seconds: float) -> None:
        """Read whatever the console writes for up to `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the console exited and closed the pty
                return
            if not chunk:
                return
            self.output += chunk
            self.stream.feed(chunk)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, what: str, condition: Callable[[str], bool], timeout: float = STEP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            if condition(self.text()):
                return
            if self.process.poll() is not None:
                break
        raise AssertionError(
            f"console never showed {what} within {timeout:g}s (exit code {self.process.poll()}); screen:\n{self.text()}"
        )

    def settle(self, quiet: float = 0.4, limit: float = 5.0) -> None:
        """Until the console has written nothing for `quiet` seconds (bounded)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = len(self.output)
            self.pump(quiet)
            if len(self.output) == before:
                return

    def press(self, *keys: bytes) -> None:
        for key in keys:
            os.write(self.master, key)
            self.pump(0.1)

    def close(self) -> int | None:
        with contextlib.suppress(OSError):
            os.write(self.master, b"q")
        deadline = time.monotonic() + 10
        while self.process.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.pump(0.2)
        os.close(self.master)
        return self.process.returncode


@pytest.fixture
def hostile_backends(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    prefix = unique_prefix()
    rabbit = rabbitmq_missing() is None
    with contextlib.ExitStack() as stack:
        target = TargetServer(health_routes())  # type: ignore[arg-type]
        stack.callback(target.close)
        redis = stack.enter_context(PrivateRedis())  # its own server: the shared :6379 is never written
        assert redis.port not in (0, 6379)
        names = seed_redis(redis)
        if rabbit:
            stack.callback(delete_queues, prefix)
            names.update(seed_rabbit(prefix))
        yield write_config(tmp_path, target, redis.url, names if rabbit else None), names


def console_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "TEXTUAL", "NO_COLOR"))}
    env.update(
        TERM="xterm-256color",
        COLUMNS=str(COLUMNS),
        LINES=str(LINES),
        TEXTUAL_ANIMATIONS="none",
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_STATE_HOME=str(tmp_path / "home" / ".state"),
        COLORTERM="truecolor",
    )
    for variable in ("REDIS_URL", "AMQP_URL", "MONGO_URI", "PROMETHEUS_URL"):
        env.pop(variable, None)
    return env


def rows_with(text: str, needle: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if needle in line]


@requires_redis_server
@pytest.mark.timeout(180)
def test_hostile_data_never_reaches_the_terminal(hostile_backends: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    config, names = hostile_backends
    rabbit = "dlq" in names
    term = Terminal([sys.executable, "-m", "console", "--config", str(config)], console_env(tmp_path))
    screens: dict[str, str] = {}
    try:
        # The main screen with every pane's hostile data on it.
        term.wait_for("the banner", lambda s: "opsconsole │ hostile" in s, START_TIMEOUT)
        term.wait_for("the health message", lambda s: "HMSG" in s)
        term.wait_for("the hostile list queues", lambda s: "oc:q:rich-link" in s)
        term.wait_for("the DLQs", lambda s: "events:dlq" in s and (not rabbit or ".dlq" in s))
        term.wait_for("the breaker", lambda s: "BRKR" in s)
        term.settle()
        screens["main"] = term.text()

        # The health breakdown: every check name and detail.
        term.press(b"1", b"\r")
        term.wait_for("the health breakdown", lambda s: "HCHK" in s and "SPRG" in s and "esc to close" in s)
        term.settle()
        screens["health breakdown"] = term.text()
        term.press(b"\x1b")
        term.wait_for("the main screen again", lambda s: "esc to close" not in s)

        # Every DLQ's browser and its first letter in full. The pane orders DLQs worst first, and a reading
        # can reorder them between two key presses: each browser says which store it shows, and a row that
        # opened one already seen is tried again.
        kinds = {"redis", "bullmq", *(("rabbitmq",) if rabbit else ())}
        for attempt in range(4 * len(kinds)):
            if {k.removeprefix("dlq ") for k in screens if k.startswith("dlq ")} == kinds:
                break
            index = attempt % len(kinds)
            term.press(b"5")
            term.settle(0.3)
            term.press(*([b"\x1b[A"] * len(kinds)), *([b"\x1b[B"] * index), b"\r")  # from the first row
            term.wait_for(f"DLQ browser {index}", lambda s: "DLQ " in s and "loading …" not in s)
            term.settle()
            shown = re.search(r"DLQ .*? · (redis|bullmq|rabbitmq) · ", term.text())
            kind = shown.group(1) if shown else "?"
            if f"dlq {kind}" not in screens:
                screens[f"dlq {kind}"] = term.text()
                term.press(b"\r")
                term.wait_for(f"letter {kind}", lambda s: "esc to close" in s and "body" in s)
                term.settle()
                screens[f"letter {kind}"] = term.text()
                term.press(b"\x1b")
                term.wait_for("the browser again", lambda s: "esc to close" not in s)
            term.press(b"\x1b")
            term.settle(0.3)
        assert {k.removeprefix("dlq ") for k in screens if k.startswith("dlq ")} == kinds, sorted(screens)
        term.wait_for("the main screen", lambda s: "opsconsole │ hostile" in s and "1 Health" in s)
    finally:
        code = term.close()

    output = bytes(term.output)
    decoded = output.decode("utf-8", "replace")
    for what, sequence in FORBIDDEN_BYTES.items():
        assert (
            sequence not in output
        ), f"{what} reached the terminal: …{decoded[decoded.find(sequence.decode()) - 80:][:200]!r}"
    for char in FORBIDDEN_CHARS:
        assert char not in decoded, f"{char!r} reached the terminal"
    assert "Traceback" not in decoded, decoded[decoded.find("Traceback") :][:2000]
    assert code == 0, f"exit code {code}"

    main = screens["main"]
    # The data was shown — as visible escapes and literal markup, not interpreted.
    assert "\\x1b]52" in main or "\\x1b]0" in main
    assert "[link=" in "".join(screens.values())
    letters = "".join(v for k, v in screens.items() if k.startswith("letter"))
    assert "RBODY" in letters or not rabbit
    assert "\\x1b" in letters and "x9b" in letters.replace("\\", "")

    # The layout is intact: banner on top, footer at the bottom, pane borders closed on both sides.
    lines = main.splitlines()
    assert lines[0].lstrip().startswith("opsconsole │ hostile"), lines[0]
    assert "Quit" in lines[-1], lines[-1]
    for title in ("1 Health", "2 Traffic", "3 Cache", "4 Queues", "5 DLQ", "6 Breakers", "7 Mongo"):
        (row,) = rows_with(main, title)[:1] or [None]
        assert row is not None, f"pane {title!r} missing:\n{main}"
        assert lines[row].count("╭") >= 1, f"pane {title!r} lost its top border:\n{main}"
    for number, line in enumerate(lines[1:-1], 1):
        assert len(line) == COLUMNS
        # Every row inside the pane grid starts and ends on a border: no text spilled past a pane's frame.
        assert line[0] in "╭│╰" and line.rstrip()[-1] in "╮│╯", f"row {number} broke the frame: {line!r}\n{main}"
