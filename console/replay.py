"""Playing readings back: a virtual clock over a recorded (or in-memory) sequence of readings.

`ReplayDriver` is pure: the app asks it which readings are due as real time passes (`advance`), where a
seek or step lands (`seek`, `step`), and what the virtual time is (`now`, used as the app's clock so ages
read "updated 4s ago" at the replayed moment). Going backwards means rebuilding the board from the start:
`readings_until(t)` gives what to apply.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta

from console.model import Reading

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


class ReplayDriver:
    def __init__(self, readings: Sequence[Reading], start: datetime | None = None, speed: float = 1.0):
        if not readings:
            raise ValueError("nothing to replay: the recording holds no readings")
        self.readings = sorted(readings, key=lambda r: r.at)
        self._times = [r.at for r in self.readings]
        self.first = self._times[0]
        self.last = self._times[-1]
        self.position = 0  # readings[:position] have been applied
        self._now = self.first
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed))
        self.paused = False
        if start is not None:
            self.seek(start)

    # --- time ---------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._now

    @property
    def finished(self) -> bool:
        return self.position >= len(self.readings)

    @property
    def fraction(self) -> float:
        span = (self.last - self.first).total_seconds()
        return 1.0 if span <= 0 else (self._now - self.first).total_seconds() / span

    def advance(self, real_seconds: float) -> list[Reading]:
        """Readings that became due after `real_seconds` of wall time at the current speed."""
        if self.paused or self.finished:
            return []
        self._now = min(self._now + timedelta(seconds=real_seconds * self.speed), self.last)
        return self._take_until(self._now)

    def _take_until(self, moment: datetime) -> list[Reading]:
        end = bisect.bisect_right(self._times, moment)
        due = self.readings[self.position : end] if end > self.position else []
        self.position = max(self.position, end)
        return due

    def step(self) -> list[Reading]:
        """Jump to the next reading's moment and apply everything recorded at that instant."""
        if self.finished:
            return []
        self._now = self._times[self.position]
        return self._take_until(self._now)

    def seek(self, moment: datetime) -> list[Reading]:
        """Move to `moment` (clamped to the recording); returns every reading up to it: rebuild from scratch."""
        moment = max(self.first, min(moment, self.last))
        self._now = moment
        self.position = bisect.bisect_right(self._times, moment)
        return self.readings[: self.position]

    def seek_forward(self, moment: datetime) -> list[Reading]:
        """Move forward to `moment`: only the readings in between need applying (no rebuild)."""
        moment = max(self._now, min(moment, self.last))
        self._now = moment
        return self._take_until(moment)

    def step_back(self) -> list[Reading]:
        """To the moment of the reading before the current one (a rebuild, like `seek`)."""
        earlier = bisect.bisect_left(self._times, self._now) - 1
        return self.seek(self._times[max(earlier, 0)])

    def faster(self) -> float:
        index = SPEEDS.index(self.speed)
        self.speed = SPEEDS[min(index + 1, len(SPEEDS) - 1)]
        return self.speed

    def slower(self) -> float:
        index = SPEEDS.index(self.speed)
        self.speed = SPEEDS[max(index - 1, 0)]
        return self.speed

    def describe(self) -> str:
        """`⏸ 10:14:38 ×4 42%` for the banner."""
        state = "⏸" if self.paused else ("■" if self.finished else "▶")
        speed = f"×{self.speed:g}"
        return f"{state} {self._now.strftime('%H:%M:%S')} {speed} {self.fraction:.0%}"
