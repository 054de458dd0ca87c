"""The demo stack and the bench configs: started when not running, stopped afterwards if we started it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
OPSCONSOLE = str(VENV_BIN / "opsconsole")
DEMO_TOML = ROOT / "examples" / "demo.toml"


class DemoStack:
    def __init__(self) -> None:
        self.started_here = False

    def up(self) -> None:
        from console.demo.control import is_running

        if is_running():
            return
        out = subprocess.run([OPSCONSOLE, "demo", "up"], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        if out.returncode != 0:
            raise RuntimeError(f"`opsconsole demo up` failed: {(out.stderr or out.stdout).strip()[:200]}")
        self.started_here = True
        time.sleep(3.0)  # let the demo's Prometheus scrape a few times and the queues fill

    def down(self) -> None:
        if self.started_here:
            subprocess.run([OPSCONSOLE, "demo", "down"], capture_output=True, timeout=30, check=False)  # noqa: S603
            self.started_here = False


def config_at(refresh: float | None = None) -> Path:
    """A private copy of examples/demo.toml (mode 0600: the console warns, with a toast over the panes, about a
    world-readable config holding passwords), with every interval it sets turned to `refresh` seconds."""
    text = DEMO_TOML.read_text()
    if refresh is not None:
        text = re.sub(r"(?m)^(refresh|interval)\s*=\s*[0-9.]+", lambda m: f"{m.group(1)} = {refresh}", text)
    folder = Path(tempfile.mkdtemp(prefix="oc-bench-"))
    path = folder / ("demo.toml" if refresh is None else f"demo-{refresh:g}s.toml")
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def configured_panes() -> int:
    """Panes the demo config fills: every one but MongoDB, unless MONGO_URI is set."""
    return 7 if os.environ.get("MONGO_URI") else 6
