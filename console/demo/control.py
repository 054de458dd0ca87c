"""`opsconsole demo serve | up | down | ctl`: run and steer the demo stack."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from console.demo.backend import base_port, serve_forever

STOP_WAIT = 15.0  # seconds `down` waits for the stack to stop on SIGINT before killing it


def _state_dir() -> Path:
    root = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    path = Path(root) / "opsconsole"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _control_url() -> str:
    return f"http://127.0.0.1:{base_port()}"


def is_running() -> bool:
    try:
        return httpx.get(f"{_control_url()}/services", timeout=0.5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def up() -> int:
    if is_running():
        print(f"demo stack already running on {_control_url()}")
        return 0
    log = (_state_dir() / "demo.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "console", "demo", "serve"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (_state_dir() / "demo.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if is_running():
            print(f"demo stack started (pid {process.pid}) on {_control_url()}; `make demo-stop` stops it")
            return 0
        if process.poll() is not None:
            break
        time.sleep(0.1)
    print(f"demo stack failed to start; see {_state_dir() / 'demo.log'}", file=sys.stderr)
    return 1


def down() -> int:
    pid_file = _state_dir() / "demo.pid"
    if not pid_file.exists():
        print("no background demo stack recorded")
        return 0
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        print("demo stack was not running")
        return 0
    if _gone_within(pid, STOP_WAIT):  # `down` then `up` must not find the old stack still answering
        print(f"demo stack (pid {pid}) stopped")
        return 0
    # Still there: its session (it leads one, with its Prometheus) is killed rather than left answering.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    gone = _gone_within(pid, 5.0)
    outcome = "killed" if gone else "still running"
    print(f"demo stack (pid {pid}) did not stop within {STOP_WAIT:g} s of SIGINT: {outcome}")
    return 0 if gone else 1


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            finished, _status = os.waitpid(pid, os.WNOHANG)  # our child (a test's): reap it
        except ChildProcessError:
            finished = 0
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        if finished == pid:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _control(method: str, path: str, timeout: float) -> httpx.Response | None:
    """A request to the control endpoint; None (after saying why on stderr) unless it answered 200."""
    try:
        response = httpx.request(method, f"{_control_url()}{path}", timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        print(
            f"demo stack not reachable on {_control_url()} ({type(exc).__name__}); run `opsconsole demo up`",
            file=sys.stderr,
        )
        return None
    if response.status_code != 200:
        try:
            print(response.json().get("error", response.text), file=sys.stderr)
        except ValueError:
            print(response.text, file=sys.stderr)
        return None
    return response


def ctl(verb: str, service: str | None) -> int:
    if verb != "list" and not service:
        print(f"opsconsole demo ctl {verb}: name a service (see `opsconsole demo ctl list`)", file=sys.stderr)
        return 2
    if verb == "list":
        response = _control("GET", "/services", timeout=2)
    else:
        response = _control("POST", f"/services/{service}/{verb}", timeout=5)
    if response is None:
        return 1
    for entry in response.json():
        state = "running" if entry["running"] else "STOPPED"
        print(f"{entry['name']:8} {entry['style']:6} {state:8} {entry['condition']}")
    return 0


def incident(name: str) -> int:
    """`opsconsole demo --incident NAME`: start one of the demo's incidents (or `clear`)."""
    response = _control("POST", f"/incidents/{name}", timeout=10)
    if response is None:
        return 1
    active = response.json().get("active", [])
    verb = "cleared" if name == "clear" else "started"
    print(f"incident {name}: {verb}; active: {', '.join(active) or 'none'}")
    return 0


def main(command: str | None, verb: str | None, service: str | None, incident_name: str | None = None) -> int:
    if incident_name:
        return incident(incident_name)
    if command == "serve":
        serve_forever(_state_dir())
        return 0
    if command == "up":
        return up()
    if command == "down":
        return down()
    return ctl(verb or "list", service)
