"""Circuit breakers whose state lives in Redis: the service side (`Breaker`) and the console side (`BreakerRegistry`).

Every process of a service, and the console, see one state because every decision is one Lua script run
atomically by Redis; times come from the caller's clock (passed as ARGV, never Redis `TIME`) so tests can drive
them. Layout under `prefix` (default `opsconsole:breaker`):

* `{prefix}:registry` — SET of `service/name`; a breaker adds itself on first use.
* `{prefix}:{service}:{name}` — HASH: `state` (CLOSED|OPEN|HALF_OPEN), `since_ms`, `rejected` (calls not
  permitted), `probes` (HALF_OPEN probes in flight), `probe_ok`, `probe_ms`, `epoch` (bumped at every transition),
  `override` (marker of an override that may expire unseen), and the breaker's settings so the console can show them.
* `{prefix}:{service}:{name}:calls` — LIST of the last `window` outcomes, newest first: `s` success, `f` failure,
  `S` slow success, `F` slow failure.
* `{prefix}:{service}:{name}:override` — HASH {state FORCED_OPEN|DISABLED, by, reason, at_ms, until_ms} with a
  Redis PEXPIRE: a forced state reverts by itself even if no console is running (no expiry = until cleared).
* `{prefix}:{service}:{name}:transitions` — LIST of JSON {at_ms, from, to, reason}, newest first, last 50.

CLOSED opens when the failure rate or the slow-call rate over the window reaches its threshold (judged from
`minimum_calls` on); OPEN rejects until `open_ms` passed, then HALF_OPEN permits `half_open_probes` calls at a
time: one failed or slow probe re-opens, that many successful ones close with an empty window. A probe slot nobody
gives back for `open_ms` (its process died mid-call) is presumed lost. Every transition bumps `epoch`, and an
outcome counts only in the episode that permitted its call. All keys of one breaker and the registry are touched
by one script, so a Redis Cluster (keys in different slots) is not supported.

The breaker never takes its service down: when Redis fails, calls are permitted and the error is kept in
`Breaker.last_error` (a breaker that fails closed would turn a Redis outage into an outage of every service).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from console.adapters.redis import translate
from console.errors import ActionRefused
from console.model import BreakerInfo, BreakerState, BreakerTransition
from console.sanitize import clean

DEFAULT_PREFIX = "opsconsole:breaker"
TRANSITIONS_KEPT = 50
_NAME = re.compile(r"[^\s:/\x00-\x1f\x7f]{1,100}")  # ':' and '/' would make keys and registry members ambiguous
_REDIS_ERRORS = (redis_errors.RedisError, OSError)  # OSError covers socket errors and TimeoutError

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


# --- Lua: every state decision is one script, atomic across processes --------------------------------------------
# KEYS (every script): 1 hash, 2 calls, 3 override, 4 transitions, 5 registry.
# ARGV (acquire, record): 1 now_ms, 2 member, 3 register ("1" on a process's first use), 4..10 the settings in
# `BreakerSettings` field order; record adds 11 epoch of the permit, 12 outcome s|f|x, 13 duration_ms.

_PRELUDE = """
local hash, calls, override, transitions, registry = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function log(now_s, from, to, reason)
  -- at_ms is spliced in as written: cjson would print a 13-digit number with 14 significant digits at most
  redis.call("LPUSH", transitions, '{"at_ms":' .. now_s .. ',"from":' .. cjson.encode(from) .. ',"to":'
    .. cjson.encode(to) .. ',"reason":' .. cjson.encode(reason) .. '}')
  redis.call("LTRIM", transitions, 0, 49)
end

-- A new episode: outcomes of calls permitted in an earlier one no longer count (they carry an older epoch).
local function enter(now_s, from, to, reason)
  redis.call("HSET", hash, "state", to, "since_ms", now_s, "probes", 0, "probe_ok", 0, "probe_ms", now_s)
  redis.call("HINCRBY", hash, "epoch", 1)
  log(now_s, from, to, reason)
end

-- An override that expired by itself (PEXPIRE) leaves its marker: log the end once and start a fresh episode.
local function settle(now_s)
  local marker = redis.call("HGET", hash, "override")
  if marker and redis.call("EXISTS", override) == 0 then
    redis.call("HDEL", hash, "override")
    redis.call("HSET", hash, "probes", 0, "probe_ok", 0, "probe_ms", now_s)
    redis.call("HINCRBY", hash, "epoch", 1)
    log(now_s, marker, redis.call("HGET", hash, "state") or "CLOSED", "override expired")
  end
end
"""

_REGISTER = """
local function register(now_s)
  if ARGV[3] == "1" or redis.call("EXISTS", hash) == 0 then
    redis.call("SADD", registry, ARGV[2])
    redis.call("HSET", hash, "failure_rate_threshold", ARGV[4], "slow_call_rate_threshold", ARGV[5],
      "slow_call_ms", ARGV[6], "window", ARGV[7], "minimum_calls", ARGV[8], "open_ms", ARGV[9],
      "half_open_probes", ARGV[10])
    if redis.call("HSETNX", hash, "state", "CLOSED") == 1 then
      redis.call("HSET", hash, "since_ms", now_s, "rejected", 0, "probes", 0, "probe_ok", 0, "epoch", 0)
    end
  end
end
"""

_ACQUIRE = (
    _PRELUDE
    + _REGISTER
    + """
local now_s = ARGV[1]
local now, open_ms, probes_max = tonumber(now_s), tonumber(ARGV[9]), tonumber(ARGV[10])
register(now_s)
settle(now_s)
local epoch = redis.call("HGET", hash, "epoch") or "0"
local forced = redis.call("HGET", override, "state")
if forced == "FORCED_OPEN" then
  redis.call("HINCRBY", hash, "rejected", 1)
  return {0, forced, redis.call("PTTL", override), epoch}
elseif forced == "DISABLED" then
  return {1, forced, -1, epoch}
end
local state = redis.call("HGET", hash, "state") or "CLOSED"
if state == "OPEN" then
  local waited = now - tonumber(redis.call("HGET", hash, "since_ms") or now_s)
  if waited < open_ms then
    redis.call("HINCRBY", hash, "rejected", 1)
    return {0, state, open_ms - waited, epoch}
  end
  enter(now_s, "OPEN", "HALF_OPEN", string.format("open for %d ms", waited))
  redis.call("DEL", calls)  -- the probes get a window of their own, as in resilience4j
  state, epoch = "HALF_OPEN", redis.call("HGET", hash, "epoch")
end
if state == "HALF_OPEN" then
  if tonumber(redis.call("HGET", hash, "probes") or "0") >= probes_max then
    if now - tonumber(redis.call("HGET", hash, "probe_ms") or now_s) < open_ms then
      redis.call("HINCRBY", hash, "rejected", 1)
      return {0, state, -1, epoch}
    end
    -- No probe started or finished for open_ms: their processes died. Start a fresh round.
    redis.call("HSET", hash, "probes", 0, "probe_ok", 0)
    epoch = tostring(redis.call("HINCRBY", hash, "epoch", 1))
  end
  redis.call("HINCRBY", hash, "probes", 1)
  redis.call("HSET", hash, "probe_ms", now_s)
  return {1, state, -1, epoch}
end
return {1, "CLOSED", -1, epoch}
"""
)

_RECORD = (
    _PRELUDE
    + _REGISTER
    + """
local now_s = ARGV[1]
local failure_pct, slow_pct, slow_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, minimum, probes_max = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[10])
register(now_s)
settle(now_s)
local state = redis.call("HGET", hash, "state") or "CLOSED"
-- An override freezes the computed state; an outcome from an earlier episode is stale.
if redis.call("EXISTS", override) == 1 or (redis.call("HGET", hash, "epoch") or "0") ~= ARGV[11] then
  return {state, 0}
end
if state == "HALF_OPEN" then
  if redis.call("HINCRBY", hash, "probes", -1) < 0 then redis.call("HSET", hash, "probes", 0) end
  redis.call("HSET", hash, "probe_ms", now_s)
elseif state ~= "CLOSED" then
  return {state, 0}
end
local outcome, duration = ARGV[12], tonumber(ARGV[13])
if outcome == "x" then return {state, 0} end  -- released: neither success nor failure
if duration >= slow_ms then outcome = string.upper(outcome) end
redis.call("LPUSH", calls, outcome)
redis.call("LTRIM", calls, 0, window - 1)
if state == "HALF_OPEN" then
  if outcome == "f" or outcome == "F" then
    enter(now_s, state, "OPEN", "probe failed")
    return {"OPEN", 1}
  elseif outcome == "S" then
    enter(now_s, state, "OPEN", string.format("probe slow (%d ms >= %d ms)", duration, slow_ms))
    return {"OPEN", 1}
  end
  local ok = redis.call("HINCRBY", hash, "probe_ok", 1)
  if ok >= probes_max then
    enter(now_s, state, "CLOSED", string.format("%d probes succeeded", ok))
    redis.call("DEL", calls)
    return {"CLOSED", 1}
  end
  return {state, 1}
end
local outcomes = redis.call("LRANGE", calls, 0, -1)
local n = #outcomes
if n < minimum then return {state, 1} end
local failed, slow = 0, 0
for _, o in ipairs(outcomes) do
  if o == "f" or o == "F" then failed = failed + 1 end
  if o == "S" or o == "F" then slow = slow + 1 end
end
if failed * 100 >= failure_pct * n then
  enter(now_s, state, "OPEN", string.format("failure rate %.1f%% >= %s%% over %d calls", failed * 100 / n, ARGV[4], n))
  return {"OPEN", 1}
elseif slow * 100 >= slow_pct * n then
  enter(now_s, state, "OPEN", string.format("slow-call rate %.1f%% >= %s%% over %d calls", slow * 100 / n, ARGV[5], n))
  return {"OPEN", 1}
end
return {state, 1}
"""
)

# ARGV: 1 now_ms, 2 member, 3 action force|close|reset, 4 forced state, 5 ttl_ms (0: none), 6 until_ms,
# 7 by, 8 reason, 9 the transition's text. Returns {} for an unknown breaker, else {before, after}.
_MANUAL = (
    _PRELUDE
    + """
local now_s, action = ARGV[1], ARGV[3]
if redis.call("SISMEMBER", registry, ARGV[2]) == 0 then return {} end
settle(now_s)
local before = redis.call("HGET", override, "state") or redis.call("HGET", hash, "state") or "CLOSED"
if action == "force" then
  redis.call("DEL", override)
  redis.call("HSET", override, "state", ARGV[4], "by", ARGV[7], "reason", ARGV[8], "at_ms", now_s, "until_ms", ARGV[6])
  if tonumber(ARGV[5]) > 0 then redis.call("PEXPIRE", override, ARGV[5]) end
  redis.call("HSET", hash, "override", ARGV[4])
  log(now_s, before, ARGV[4], ARGV[9])
  return {before, ARGV[4]}
end
-- close and reset: back to a fresh CLOSED, or the old window would re-open it on the next failure
redis.call("DEL", override, calls)
redis.call("HDEL", hash, "override")
if action == "reset" then redis.call("HSET", hash, "rejected", 0) end
enter(now_s, before, "CLOSED", ARGV[9])
return {before, "CLOSED"}
"""
)


# --- settings, keys, errors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakerSettings:
    """resilience4j's count-based defaults; rates are percentages, times milliseconds."""

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_ms: int = 60_000
    window: int = 100  # calls
    minimum_calls: int = 100  # no rate is judged on fewer calls
    open_ms: int = 60_000
    half_open_probes: int = 10

    def __post_init__(self) -> None:
        for rate in ("failure_rate_threshold", "slow_call_rate_threshold"):
            if not 0 < getattr(self, rate) <= 100:
                raise ValueError(f"{rate} must be in (0, 100], got {getattr(self, rate)!r}")
        for count in ("slow_call_ms", "window", "minimum_calls", "open_ms", "half_open_probes"):
            if getattr(self, count) < 1:
                raise ValueError(f"{count} must be at least 1, got {getattr(self, count)!r}")
        if self.minimum_calls > self.window:
            raise ValueError(f"minimum_calls ({self.minimum_calls}) cannot exceed window ({self.window})")

    def as_argv(self) -> list[str]:
        """Script ARGV in field order; integers stay integers (`:g` would write 1e+06)."""
        values = [getattr(self, f.name) for f in fields(self)]
        return [f"{v:.12g}" if isinstance(v, float) else str(v) for v in values]

    def describe(self) -> str:
        return (
            f"opens at {self.failure_rate_threshold:g}% failed or {self.slow_call_rate_threshold:g}% slow "
            f"(>= {self.slow_call_ms} ms) of the last {self.window} calls (min {self.minimum_calls}); "
            f"open {self.open_ms} ms; {self.half_open_probes} probes"
        )

    @classmethod
    def from_fields(cls, raw: Mapping[str, str]) -> BreakerSettings | None:
        """The settings a breaker stored in its hash, None when missing or invalid."""
        try:
            values: dict[str, Any] = {
                f.name: (float if f.name.endswith("threshold") else int)(raw[f.name]) for f in fields(cls)
            }
            return cls(**values)
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class BreakerKeys:
    prefix: str
    service: str
    name: str

    @classmethod
    def of(cls, prefix: str, service: str, name: str) -> BreakerKeys:
        for label, value in (("service", service), ("name", name)):
            if not _NAME.fullmatch(value):
                raise ValueError(f"breaker {label} must be 1-100 characters without ':', '/' or spaces: {value!r}")
        if not prefix:
            raise ValueError("breaker key prefix must not be empty")
        return cls(prefix, service, name)

    @property
    def member(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def hash(self) -> str:
        return f"{self.prefix}:{self.service}:{self.name}"

    @property
    def all(self) -> list[str]:
        """KEYS of every script: hash, calls, override, transitions, registry."""
        base = self.hash
        return [base, f"{base}:calls", f"{base}:override", f"{base}:transitions", registry_key(self.prefix)]


def registry_key(prefix: str) -> str:
    return f"{prefix}:registry"


class BreakerOpen(Exception):
    """The breaker did not permit the call. Deliberately not a ConsoleError: it is the service's control flow."""

    def __init__(self, service: str, name: str, state: BreakerState, retry_after: float | None):
        self.service = service
        self.name = name
        self.state = state
        self.retry_after = retry_after  # seconds until a call may be permitted again, None when unknown
        wait = f"; retry in {retry_after:.1f} s" if retry_after is not None else ""
        super().__init__(f"breaker {service}/{name} is {state.value}{wait}")


class UnknownBreaker(ActionRefused):
    """An action named a breaker that never registered under this prefix."""


@dataclass(frozen=True)
class BreakerChange:
    """What an operator action changed, for the audit journal."""

    service: str
    name: str
    action: str  # force | close | reset
    before: BreakerState
    after: BreakerState
    by: str
    reason: str = ""
    until: datetime | None = None  # a forced state that reverts by itself


# --- the service side --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Permit:
    state: BreakerState
    epoch: str
    started: float  # clock seconds
    counts: bool  # False when nothing is to be recorded (DISABLED, Redis failed)


# Permits of the calls in progress in this task, innermost last: one Breaker serves many concurrent tasks, so a
# permit cannot live on the instance between __aenter__ and __aexit__.
_PERMITS: ContextVar[tuple[tuple[Breaker, _Permit], ...]] = ContextVar("opsconsole_breaker_permits", default=())


class Breaker:
    """`async with breaker:` or `@breaker` around calls to a dependency; raises `BreakerOpen` when not permitted.

    An exception inside counts as a failure unless it is an instance of `ignore` (then, like a cancellation, it
    counts as nothing). A call taking `slow_call_ms` or more, by `clock`, is slow.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        service: str,
        name: str,
        settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = DEFAULT_PREFIX,
        ignore: Sequence[type[BaseException]] = (),
    ):
        self.keys = BreakerKeys.of(prefix, service, name)
        self.settings = settings or BreakerSettings()
        self.ignore = tuple(ignore)
        # The last Redis failure as a console SourceError (secrets masked); None once Redis answers again.
        self.last_error: Exception | None = None
        self._client = client
        self._clock = clock
        self._argv = self.settings.as_argv()
        self._acquire_script = client.register_script(_ACQUIRE)
        self._record_script = client.register_script(_RECORD)
        self._registered = False

    @property
    def service(self) -> str:
        return self.keys.service

    @property
    def name(self) -> str:
        return self.keys.name

    def __repr__(self) -> str:
        return f"<Breaker {self.keys.member} prefix={self.keys.prefix!r}>"

    async def __aenter__(self) -> Self:
        permit = await self._acquire()
        _PERMITS.set((*_PERMITS.get(), (self, permit)))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        permit = self._pop_permit()
        if permit is not None and permit.counts:
            await self._record(permit, self._outcome(exc))

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """`@breaker` on an async function: every call runs inside `async with breaker`."""

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            async with self:
                return await fn(*args, **kwargs)

        return guarded

    async def _acquire(self) -> _Permit:
        started = self._clock()
        args = [str(int(started * 1000)), self.keys.member, "0" if self._registered else "1", *self._argv]
        try:
            allowed, state, retry_ms, epoch = await self._acquire_script(keys=self.keys.all, args=args)
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return _Permit(BreakerState.UNKNOWN, "", started, counts=False)
        self._redis_answered()
        self._registered = True
        parsed = BreakerState.parse(_text(state))
        if not int(allowed):
            retry = int(retry_ms)
            raise BreakerOpen(self.service, self.name, parsed, retry / 1000 if retry >= 0 else None)
        return _Permit(parsed, _text(epoch), started, counts=parsed is not BreakerState.DISABLED)

    def _pop_permit(self) -> _Permit | None:
        stack = _PERMITS.get()
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] is self:
                _PERMITS.set(stack[:index] + stack[index + 1 :])
                return stack[index][1]
        return None

    def _outcome(self, exc: BaseException | None) -> str:
        if exc is None:
            return "s"
        if isinstance(exc, Exception) and not isinstance(exc, self.ignore):
            return "f"
        return "x"  # ignored, cancelled, interrupted: neither success nor failure

    async def _record(self, permit: _Permit, outcome: str) -> None:
        if outcome == "x" and permit.state is not BreakerState.HALF_OPEN:
            return  # only a probe holds something (a slot) that must be given back
        ended = self._clock()
        duration_ms = max(0, int((ended - permit.started) * 1000))
        args = [str(int(ended * 1000)), self.keys.member, "0", *self._argv, permit.epoch, outcome, str(duration_ms)]
        try:
            await self._record_script(keys=self.keys.all, args=args)
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        self._redis_answered()

    def _redis_failed(self, exc: BaseException) -> None:
        error = translate(exc, _password(self._client))
        if self.last_error is None:  # log the start of an outage once, not every call
            log.warning("breaker %s: Redis failed, permitting calls: %s", self.keys.member, error)
        self.last_error = error

    def _redis_answered(self) -> None:
        if self.last_error is not None:
            log.info("breaker %s: Redis answers again", self.keys.member)
            self.last_error = None


# --- the console side --------------------------------------------------------------------------------------------


class BreakerRegistry:
    """Reads every breaker registered under `prefix` and acts on one; Redis errors leave as `SourceError`s."""

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX, *, clock: Callable[[], float] = time.time):
        if not prefix:
            raise ValueError("breaker key prefix must not be empty")
        self.prefix = prefix
        self._client = client
        self._clock = clock
        self._manual = client.register_script(_MANUAL)

    async def read(self) -> tuple[BreakerInfo, ...]:
        """Every registered breaker, sorted by service/name; two round trips (members, then one pipeline)."""
        try:
            members = sorted(_text(m) for m in await self._client.smembers(registry_key(self.prefix)))
            keys = [key for key in map(self._keys, members) if key is not None]
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                hash_key, calls, override, transitions, _ = key.all
                pipe.hgetall(hash_key)
                pipe.hgetall(override)
                pipe.lrange(calls, 0, -1)
                pipe.lrange(transitions, 0, TRANSITIONS_KEPT - 1)
            replies = await pipe.execute() if keys else []
        except _REDIS_ERRORS as exc:
            raise translate(exc, _password(self._client)) from None
        infos = []
        for index, key in enumerate(keys):
            raw_hash, raw_override, calls, transitions = replies[4 * index : 4 * index + 4]
            infos.append(
                breaker_info(key.service, key.name, _strings(raw_hash), _strings(raw_override), calls, transitions)
            )
        return tuple(infos)

    async def force(
        self, service: str, name: str, state: BreakerState | str, seconds: float | None, by: str, reason: str = ""
    ) -> BreakerChange:
        """Force FORCED_OPEN or DISABLED, for `seconds` (Redis expires it, console running or not) or until cleared."""
        forced = BreakerState.parse(state)
        if forced not in (BreakerState.FORCED_OPEN, BreakerState.DISABLED):
            raise ActionRefused(f"a breaker can be forced FORCED_OPEN or DISABLED, not {clean(state, 30)}")
        if seconds is not None and not seconds > 0:
            raise ActionRefused(f"a forced state needs a positive duration, got {seconds!r}")
        now_ms = self._now_ms()
        ttl_ms = max(1, int(seconds * 1000)) if seconds is not None else 0
        until_ms = now_ms + ttl_ms if ttl_ms else None
        verb = "forced open" if forced is BreakerState.FORCED_OPEN else "disabled"
        span = f" for {seconds:g} s" if seconds is not None else " until cleared"
        override = [forced.value, str(ttl_ms), "" if until_ms is None else str(until_ms), by, reason]
        text = _because(f"{verb} by {by}{span}", reason)
        before, after = await self._run(service, name, "force", now_ms, text, override)
        return BreakerChange(service, name, "force", before, after, by, reason, _datetime(until_ms))

    async def clear_override(self, service: str, name: str, by: str, reason: str = "") -> BreakerChange:
        """Close: drop any override and start a fresh CLOSED window."""
        text = _because(f"closed by {by}", reason)
        before, after = await self._run(service, name, "close", self._now_ms(), text)
        return BreakerChange(service, name, "close", before, after, by, reason)

    async def reset(self, service: str, name: str, by: str, reason: str = "") -> BreakerChange:
        """Like a new breaker: no override, CLOSED, empty window, rejected count 0."""
        text = _because(f"reset by {by}", reason)
        before, after = await self._run(service, name, "reset", self._now_ms(), text)
        return BreakerChange(service, name, "reset", before, after, by, reason)

    async def _run(
        self,
        service: str,
        name: str,
        action: str,
        now_ms: int,
        text: str,
        override: Sequence[str] = ("", "0", "", "", ""),
    ) -> tuple[BreakerState, BreakerState]:
        """One `_MANUAL` script run; `override` is (state, ttl_ms, until_ms, by, reason) when forcing."""
        keys = BreakerKeys.of(self.prefix, service, name)
        args = [str(now_ms), keys.member, action, *override, text]
        try:
            reply = await self._manual(keys=keys.all, args=args)
        except _REDIS_ERRORS as exc:
            raise translate(exc, _password(self._client)) from None
        if not reply:
            raise UnknownBreaker(f"no breaker {clean(keys.member, 120)} in {clean(registry_key(self.prefix), 120)}")
        return BreakerState.parse(_text(reply[0])), BreakerState.parse(_text(reply[1]))

    def _keys(self, member: str) -> BreakerKeys | None:
        service, _, name = member.partition("/")
        try:
            return BreakerKeys.of(self.prefix, service, name)
        except ValueError:
            return None  # a member no Breaker could have written: not ours to show

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def breaker_info(
    service: str,
    name: str,
    raw: Mapping[str, str],
    override: Mapping[str, str],
    calls: Sequence[Any],
    transitions: Sequence[Any],
) -> BreakerInfo:
    """One breaker from its Redis hash, override hash, calls list and transitions list (both newest first)."""
    settings = BreakerSettings.from_fields(raw)
    outcomes = [_text(call) for call in calls]
    failed = sum(1 for o in outcomes if o in ("f", "F"))
    slow = sum(1 for o in outcomes if o in ("S", "F"))
    judged = bool(outcomes) and len(outcomes) >= (settings.minimum_calls if settings else 1)
    forced = BreakerState.parse(override.get("state")) if override else None
    if forced in (BreakerState.FORCED_OPEN, BreakerState.DISABLED):
        state, since_ms, until_ms = forced, override.get("at_ms"), override.get("until_ms")
    else:
        state = BreakerState.parse(raw["state"]) if "state" in raw else BreakerState.UNKNOWN
        since_ms, until_ms = raw.get("since_ms"), None
    notes = []
    if forced is not None:
        who = clean(override.get("by", "?"), 60)
        why = clean(override.get("reason", ""), 200)
        notes.append(f"{forced.value} by {who}" + (f": {why}" if why else ""))
    if not raw:
        notes.append("registered, but no state in Redis")
    if settings is not None:
        notes.append(settings.describe())
    return BreakerInfo(
        source="redis",
        service=clean(service, 100),
        name=clean(name, 100),
        state=state,
        failure_rate=failed * 100 / len(outcomes) if judged else None,
        slow_call_rate=slow * 100 / len(outcomes) if judged else None,
        buffered_calls=len(outcomes),
        failed_calls=failed,
        slow_calls=slow,
        not_permitted_calls=_int(raw.get("rejected")),
        since=_datetime(_int(since_ms)),
        forced_until=_datetime(_int(until_ms)),
        transitions=tuple(t for t in map(_transition, reversed(transitions)) if t is not None),
        note="; ".join(notes),
    )


def _transition(raw: Any) -> BreakerTransition | None:
    try:
        entry = json.loads(_text(raw))
        return BreakerTransition(
            at=_datetime(int(entry["at_ms"])) or datetime.fromtimestamp(0, UTC),
            from_state=BreakerState.parse(entry.get("from")),
            to_state=BreakerState.parse(entry.get("to")),
            reason=clean(entry.get("reason", ""), 200),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # one unreadable entry must not hide the others


def _because(text: str, reason: str) -> str:
    return f"{text}: {reason}" if reason else text


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _strings(raw: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _datetime(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


def _password(client: aioredis.Redis) -> str:
    """The client's password, to be masked in error messages."""
    kwargs = getattr(client.connection_pool, "connection_kwargs", {})
    return str(kwargs.get("password") or "")
