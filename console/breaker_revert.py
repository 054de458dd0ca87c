"""The end of a timed force-open on a resilience4j actuator, which has no timer of its own.

When a breaker is forced open for N minutes through its actuator, a small detached process is started
(`python -m console.breaker_revert`, its own session, so closing the console or the SSH connection does not
stop it). At the deadline it sends CLOSE — only if the breaker is still FORCED_OPEN and no later action on
the same breaker has taken over (every action rewrites the breaker's token file; the reverter acts only
while the file still holds its own token) — and journals the close like any action.

The spec (URL, headers, journal path) reaches the process on stdin, never on its command line, so no token
or password shows in `ps`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.audit import AuditLog, AuditRecord, default_path
from console.config import Settings
from console.config_breakers import ActuatorTarget
from console.model import BreakerInfo, BreakerState


def token_file(settings: Settings, info: BreakerInfo) -> Path:
    folder = (settings.audit_log or default_path()).parent / "reverts"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{info.service}--{info.name}")[:120]
    return folder / f"{settings.env.name}-{safe}.token"


def take_over(settings: Settings, info: BreakerInfo) -> str:
    """A new token for this breaker: any reverter scheduled before stands down."""
    path = token_file(settings, info)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    path.write_text(token, encoding="ascii")
    return token


def schedule(
    settings: Settings, info: BreakerInfo, target: ActuatorTarget, until: datetime, reason: str, by: str
) -> subprocess.Popen[bytes]:
    token = take_over(settings, info)
    config = settings.env.breakers
    spec = {
        "url": target.url,
        "service": info.service,
        "name": info.name,
        "headers": dict(target.headers),
        "verify_tls": target.verify_tls,
        "timeout": config.timeout if config else 3.0,
        "until": until.isoformat(),
        "token": token,
        "token_file": str(token_file(settings, info)),
        "audit_log": str(settings.audit_log or default_path()),
        "environment": settings.env.name,
        "reason": f"end of timed force-open ({reason})" if reason else "end of timed force-open",
        "by": by,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "console.breaker_revert"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives the console, its terminal and the SSH session
        close_fds=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec).encode())
    process.stdin.close()
    return process


def _still_ours(spec: dict[str, Any]) -> bool:
    try:
        return Path(spec["token_file"]).read_text(encoding="ascii").strip() == spec["token"]
    except OSError:
        return False


async def revert(spec: dict[str, Any]) -> str:
    """Wait for the deadline, then close the breaker if it is still ours and still forced open."""
    import httpx

    from console.adapters.breaker_actuator import ActuatorBreakers

    until = datetime.fromisoformat(spec["until"])
    delay = (until - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
    if not _still_ours(spec):
        return "superseded"
    audit = AuditLog(Path(spec["audit_log"]))
    target = f"actuator:{spec['service']}/{spec['name']}"
    async with httpx.AsyncClient(verify=spec["verify_tls"], trust_env=False) as client:
        actuator = ActuatorBreakers(spec["url"], spec["service"], client, spec["timeout"], spec["headers"])
        current = next((b for b in await actuator.read() if b.name == spec["name"]), None)
        if current is None or current.state is not BreakerState.FORCED_OPEN:
            return "not forced open any more"
        started = time.monotonic()
        record = {"action": "breaker-close", "target": target, "environment": spec["environment"]}
        parameters = {"verb": "close", "source": "actuator", "scheduled": spec["until"], "by": spec["by"]}
        audit.append(AuditRecord(**record, outcome="started", parameters=parameters, reason=spec["reason"]))
        after = await actuator.update(spec["name"], "CLOSE")
        audit.append(
            AuditRecord(
                **record,
                outcome="done",
                parameters=parameters,
                reason=spec["reason"],
                counts={"before": current.state.value, "after": after.value},
                duration_seconds=time.monotonic() - started,
            )
        )
    Path(spec["token_file"]).unlink(missing_ok=True)
    return "closed"


def main() -> int:
    spec = json.loads(sys.stdin.read())
    try:
        asyncio.run(revert(spec))
    except Exception as exc:  # noqa: BLE001 - detached: the journal is the only place anyone will look
        from console.sanitize import clean

        try:
            AuditLog(Path(spec["audit_log"])).append(
                AuditRecord(
                    "breaker-close",
                    f"actuator:{spec['service']}/{spec['name']}",
                    spec["environment"],
                    "failed",
                    reason=spec["reason"],
                    detail=clean(f"timed force-open could not be ended: {exc}", 300),
                )
            )
        except Exception:  # noqa: BLE001, S110 - nothing else can be done from a detached process
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
