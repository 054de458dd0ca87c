"""Programs under a real pseudo-terminal: window size set, bytes counted, screen parsed with pyte.

`Term.spawn(argv, cols, rows)` starts a program on the slave side of a fresh pty (its own session, so it
gets the pty as controlling terminal and sees the size through TIOCSWINSZ). Everything the program writes
is read from the master: `bytes_read` counts it, and `screen` (a pyte virtual terminal) shows what a user
would see. CPU and peak RSS come from /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pyte

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Term:
    """One program running under a pty of `cols` x `rows`."""

    def __init__(
        self, argv: Sequence[str], cols: int, rows: int, env: dict[str, str] | None = None, parse: bool = True
    ):
        self.argv = list(argv)
        self.cols, self.rows = cols, rows
        self.parse = parse
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.bytes_read = 0
        self.chunks: list[tuple[float, int]] = []  # (monotonic time, size) of every read
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = dict(os.environ)
        full_env.update({"TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)})
        full_env.pop("NO_COLOR", None)
        full_env.update(env or {})
        self.started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own benchmark programs
            self.argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        self.closed = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_available(self) -> int:
        """Read whatever the program wrote (non-blocking); returns the byte count. Everything waiting is read
        (and timed) before any of it is parsed: pyte takes ~1 ms per 4 KB, which would otherwise delay the
        arrival time of a big frame's later chunks (a terminal parses as it reads, in microseconds)."""
        total = 0
        arrived: list[bytes] = []
        while True:
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                break
            except OSError:  # EIO: the slave side closed (program exited)
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            total += len(data)
            self.chunks.append((time.monotonic(), len(data)))
            arrived.append(data)
        if self.parse and arrived:
            self.stream.feed(b"".join(arrived))
        self.bytes_read += total
        return total

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, predicate: Callable[[Term], bool], timeout: float) -> float | None:
        """Seconds since spawn at which `predicate(self)` first held after a read, or None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.closed:
                return None
            ready, _, _ = select.select([self.master], [], [], min(0.05, max(0.0, deadline - time.monotonic())))
            if ready and self.read_available() and predicate(self):
                return self.chunks[-1][0] - self.started
        return None

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def cpu_seconds(self) -> float:
        """User + system CPU of the process (threads included)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        """Stop the program (SIGTERM to its own session, then SIGKILL) and close the pty."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(3)
        with contextlib.suppress(OSError):
            self.read_available()
        with contextlib.suppress(OSError):
            os.close(self.master)

    def __enter__(self) -> Term:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pump(terms: Iterable[Term], seconds: float) -> None:
    """Read every terminal for `seconds` (keeps the programs from blocking on a full pty buffer)."""
    terms = [t for t in terms if not t.closed]
    deadline = time.monotonic() + seconds
    while terms and time.monotonic() < deadline:
        ready, _, _ = select.select([t.master for t in terms], [], [], min(0.1, max(0.0, deadline - time.monotonic())))
        for term in terms:
            if term.master in ready:
                term.read_available()
        terms = [t for t in terms if not t.closed]
