"""A private Prometheus for the demo stack, scraping the demo services, when the binary is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRAPE_INTERVAL = "2s"


def config_text(targets: dict[str, str]) -> str:
    """Prometheus YAML with one job per service (job label = service name, as the Traffic pane groups)."""
    lines = [
        "global:",
        f"  scrape_interval: {SCRAPE_INTERVAL}",
        f"  evaluation_interval: {SCRAPE_INTERVAL}",
        "scrape_configs:",
    ]
    for job, address in targets.items():
        lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: ['{address}']"]
    return "\n".join(lines) + "\n"


def start(targets: dict[str, str], port: int, state_dir: Path) -> subprocess.Popen[bytes] | None:
    """Start Prometheus on 127.0.0.1:`port`; None (and a message) when the binary is not installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        print("prometheus not installed: the Traffic pane falls back to scraping /metrics directly", flush=True)
        return None
    folder = state_dir / "demo-prometheus"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(config_text(targets))
    log = (folder / "prometheus.log").open("ab")
    return subprocess.Popen(  # noqa: S603 - a fixed binary found on PATH, fixed arguments
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
