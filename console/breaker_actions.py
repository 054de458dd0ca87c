"""Breaker actions as specs: force open (for a duration), close, reset, disable — dry-run, confirmation,
write mode, journal, exactly like the queue and DLQ actions.

Where the state lives decides how a timed force-open ends:
- the Redis registry (the backend's own `Breaker`): the override key carries a Redis expiry, so it reverts
  by itself even if the console is closed;
- a resilience4j actuator: resilience4j has no timed force-open, so FORCE_OPEN is sent and a detached
  reverter process (`console.breaker_revert`) sends CLOSE when the time is up, whether or not the console
  is still open; any later action on the breaker supersedes it;
- Prometheus gauges are read-only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from console.audit import AuditLog, AuditRecord, operator
from console.config import Settings
from console.errors import ActionRefused
from console.model import BreakerInfo, BreakerState
from console.safety import Confirmation, WriteMode, refusal

VERBS = ("force-open", "close", "reset", "disable")
AFTER = {
    "force-open": BreakerState.FORCED_OPEN,
    "close": BreakerState.CLOSED,
    "reset": BreakerState.CLOSED,
    "disable": BreakerState.DISABLED,
}
ACTUATOR_STATE = {"force-open": "FORCE_OPEN", "close": "CLOSE", "reset": "CLOSE", "disable": "DISABLE"}


@dataclass(frozen=True)
class BreakerPlan:
    verb: str
    before: BreakerState
    after: BreakerState
    until: datetime | None
    summary: str
    confirmation: Confirmation


@dataclass
class BreakerAction:
    settings: Settings
    info: BreakerInfo
    verb: str
    audit: AuditLog
    minutes: float | None = None  # force-open / disable: how long (force-open default: breakers.force_minutes)
    now: Any = None  # clock (datetime factory); the app passes its own
    plan: BreakerPlan | None = field(default=None, init=False)
    revert_at: datetime | None = field(default=None, init=False)  # actuator force-open: when to close it again
    reverter: Any = field(default=None, init=False)  # the detached process that will (subprocess.Popen)

    @property
    def target(self) -> str:
        return f"{self.info.source}:{self.info.service}/{self.info.name}"

    def _now(self) -> datetime:
        from datetime import UTC

        return self.now() if self.now is not None else datetime.now(UTC)

    def _record(self, outcome: str, **extra: Any) -> AuditRecord:
        parameters = {"verb": self.verb, "source": self.info.source}
        if self.minutes is not None:
            parameters["minutes"] = f"{self.minutes:g}"
        return AuditRecord(
            action=f"breaker-{self.verb}",
            target=self.target,
            environment=self.settings.env.name,
            outcome=outcome,
            parameters=parameters,
            **extra,
        )

    def _duration(self) -> float | None:
        config = self.settings.env.breakers
        if self.verb == "force-open":
            return self.minutes if self.minutes is not None else (config.force_minutes if config else 10.0)
        if self.verb == "disable":
            return self.minutes
        return None

    def dry_run(self) -> BreakerPlan:
        if self.verb not in VERBS:
            raise ActionRefused(f"breaker actions are {', '.join(VERBS)}")
        if self.info.source == "prometheus":
            raise ActionRefused("Prometheus gauges are read-only: act where the breaker lives (registry or actuator)")
        if self.verb in ("force-open", "disable") and self.minutes is not None and not 0 < self.minutes < math.inf:
            # 0 would force it for ever while the plan promises an expiry; negative would fail half-way.
            raise ActionRefused(f"{self.verb} needs a positive number of minutes, got {self.minutes:g}")
        minutes = self._duration()
        until = self._now() + timedelta(minutes=minutes) if minutes else None
        after = AFTER[self.verb]
        what = f"{self.info.service}/{self.info.name}: {self.info.state.value} → {after.value}"
        if until is not None:
            what += f" until {until.strftime('%H:%M:%S')} UTC"
        how = {
            "redis": {
                "force-open": "every process rejects calls; the override expires in Redis by itself",
                "close": "the override is cleared and the breaker closes; calls flow again",
                "reset": "closed, its call window emptied and its rejected count zeroed",
                "disable": "every call is permitted and nothing is recorded"
                + ("; the override expires in Redis by itself" if until else " until closed"),
            },
            "actuator": {
                "force-open": "POST updateState FORCE_OPEN; resilience4j has no timer, so a detached reverter on "
                "this host sends CLOSE at the end (console closed or not) unless a later action takes over",
                "close": "POST updateState CLOSE (resets its metrics)",
                "reset": "POST updateState CLOSE: resilience4j resets a breaker by closing it",
                "disable": "POST updateState DISABLE (until closed)",
            },
        }[self.info.source][self.verb]
        typed = self.settings.env.protected
        confirmation = Confirmation("typed" if typed else "key", self.info.name)
        self.plan = BreakerPlan(self.verb, self.info.state, after, until, f"{what} — {how}", confirmation)
        self.audit.append(self._record("dry-run", detail=self.plan.summary, counts={"before": self.info.state.value}))
        return self.plan

    def authorise(self, write: WriteMode, given: str | None = None, yes: bool = False) -> None:
        why = refusal(
            write, self.plan.confirmation if self.plan else None, given, yes, f"the breaker name {self.info.name!r}"
        )
        if why:
            self.audit.append(self._record("refused", detail=why, reason=write.reason))
            raise ActionRefused(why)

    async def execute(self, write: WriteMode, given: str | None = None, yes: bool = False) -> dict[str, Any]:
        self.authorise(write, given, yes)
        assert self.plan is not None
        self.audit.append(self._record("started", reason=write.reason, counts={"before": self.info.state.value}))
        started = time.monotonic()
        try:
            after = await self._apply(write.reason)
        except Exception as exc:
            self.audit.append(
                self._record(
                    "failed", reason=write.reason, detail=str(exc), duration_seconds=time.monotonic() - started
                )
            )
            raise
        result: dict[str, Any] = {"before": self.info.state.value, "after": after}
        if self.plan.until is not None:
            result["until"] = self.plan.until.isoformat(timespec="seconds")
        self.audit.append(
            self._record("done", reason=write.reason, counts=result, duration_seconds=time.monotonic() - started)
        )
        return result

    async def _apply(self, reason: str) -> str:
        config = self.settings.env.breakers
        if config is None:
            raise ActionRefused("no [env.NAME.breakers] configured")
        who = operator()
        by = f"{who['user']}@{who['host']}"
        assert self.plan is not None
        if self.info.source == "redis":
            from console.adapters.breaker import BreakerRegistry
            from console.adapters.redis import connect

            if not config.redis_url:
                raise ActionRefused("no breakers.redis_url configured")
            client = connect(config.redis_url, config.timeout)
            try:
                registry = BreakerRegistry(client, config.prefix)
                seconds = (self.plan.until - self._now()).total_seconds() if self.plan.until else None
                if self.verb == "force-open":
                    change = await registry.force(
                        self.info.service, self.info.name, BreakerState.FORCED_OPEN, seconds, by, reason
                    )
                elif self.verb == "disable":
                    change = await registry.force(
                        self.info.service, self.info.name, BreakerState.DISABLED, seconds, by, reason
                    )
                elif self.verb == "close":
                    change = await registry.clear_override(self.info.service, self.info.name, by, reason)
                else:
                    change = await registry.reset(self.info.service, self.info.name, by, reason)
            finally:
                await client.aclose()
            return str(getattr(change, "after", change))
        target = next((t for t in config.actuator if t.service == self.info.service), None)
        if target is None:
            raise ActionRefused(f"no actuator configured for service {self.info.service!r}")
        import httpx

        from console import breaker_revert
        from console.adapters.breaker_actuator import ActuatorBreakers

        async with httpx.AsyncClient(verify=target.verify_tls, trust_env=False) as http:
            actuator = ActuatorBreakers(target.url, target.service, http, config.timeout, dict(target.headers))
            state = await actuator.update(self.info.name, ACTUATOR_STATE[self.verb])
        if self.verb == "force-open" and self.plan.until is not None:
            # resilience4j has no timer: a detached reverter closes it at the deadline, console open or not.
            self.reverter = breaker_revert.schedule(self.settings, self.info, target, self.plan.until, reason, by)
            self.revert_at = self.plan.until
        else:
            breaker_revert.take_over(self.settings, self.info)  # a later action supersedes a pending revert
        return str(getattr(state, "value", state))
