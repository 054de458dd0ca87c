"""Verdicts for circuit breakers: open (tripped or forced) is an incident, half-open or disabled is worth a
look. State history is kept per breaker from successive readings, so sources without their own history
(actuator, Prometheus) still get a transition strip and transitions can be announced."""

from __future__ import annotations

import math

from console.model import BreakerInfo, BreakerRow, BreakerState, Status

VERDICT = {
    BreakerState.CLOSED: Status.OK,
    BreakerState.METRICS_ONLY: Status.OK,
    BreakerState.HALF_OPEN: Status.WARN,
    BreakerState.DISABLED: Status.WARN,
    BreakerState.OPEN: Status.CRIT,
    BreakerState.FORCED_OPEN: Status.CRIT,
    BreakerState.UNKNOWN: Status.UNKNOWN,
}
# Open first, then half-open, forced, disabled: what needs eyes now at the top.
ORDER = {
    BreakerState.OPEN: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.FORCED_OPEN: 2,
    BreakerState.DISABLED: 3,
    BreakerState.UNKNOWN: 4,
    BreakerState.METRICS_ONLY: 5,
    BreakerState.CLOSED: 6,
}


def history_key(info: BreakerInfo) -> str:
    """A breaker's states are kept per source: the same service/name can be read from several."""
    return f"{info.source}:{info.key}"


# Within a state, failure rates in bands this wide, then names: rows hold still while rates jitter (a reorder
# rebuilds the table and moves the eye), and a breaker failing a fifth of its calls still rises above the quiet.
FAILURE_BAND = 20.0


def breaker_rows(infos: list[BreakerInfo], history: dict[str, list[BreakerState]]) -> list[BreakerRow]:
    rows = [BreakerRow(info, VERDICT[info.state], tuple(history.get(history_key(info), ()))) for info in infos]
    return sorted(rows, key=_worst_first)


def _worst_first(row: BreakerRow) -> tuple[int, int, str]:
    rate = row.info.failure_rate
    if rate is None or math.isnan(rate):  # a recording can carry a NaN the live adapters would have dropped
        rate = 0.0
    band = int(min(max(rate, 0.0), 100.0) // FAILURE_BAND)
    return ORDER[row.info.state], -band, row.info.key
