"""Python's cyclic garbage collector: held off around latency-critical frames, and the start-up heap frozen.

The collector is one switch for the whole process, so it has one owner here. A screen that must paint within
its budget (the DLQ browser's page turn) *holds* it; it is back on when the last holder releases it or its
time limit passes, and a collector someone else turned off is never turned on from here.

After start-up the app *freezes* the heap it built (modules, classes, widgets): a full collection then walks
only what was allocated since, ~40 ms instead of ~150 ms measured on the bench machine, so the pauses that do
happen are shorter. Frozen objects are still freed by reference counting; only cycles among them are not.
"""

from __future__ import annotations

import asyncio
import gc


class CollectorHold:
    """Holders keyed by identity; the collector stays off while any holds it."""

    def __init__(self) -> None:
        self._holders: dict[object, asyncio.TimerHandle] = {}
        self._turned_off = False  # only a collector this object turned off is turned back on

    @property
    def held(self) -> bool:
        return bool(self._holders)

    def hold(self, holder: object, limit: float) -> None:
        """Off until `release(holder)` or `limit` seconds from now (a new hold by the same holder restarts it).
        Call from the event loop."""
        if not self._holders and gc.isenabled():
            gc.disable()
            self._turned_off = True
        previous = self._holders.pop(holder, None)
        if previous is not None:
            previous.cancel()
        self._holders[holder] = asyncio.get_running_loop().call_later(limit, self.release, holder)

    def release(self, holder: object) -> None:
        timer = self._holders.pop(holder, None)
        if timer is not None:
            timer.cancel()
        if not self._holders and self._turned_off:
            self._turned_off = False
            gc.enable()


HOLD = CollectorHold()


def freeze_heap() -> None:
    """Collect once, then move every surviving object out of the collector's reach (see the module doc)."""
    gc.collect()
    gc.freeze()


def thaw_heap() -> None:
    """Undo `freeze_heap` (the app's exit: a process running several apps, like the tests, must not pile up
    frozen heaps)."""
    gc.unfreeze()
