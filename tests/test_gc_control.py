"""The collector hold (one owner for a process-wide switch) and the frozen start-up heap."""

from __future__ import annotations

import asyncio
import gc

import pytest

from console import gc_control
from console.gc_control import CollectorHold


@pytest.fixture(autouse=True)
def collector_on():
    gc.enable()
    yield
    gc.enable()


def test_off_while_any_holder_holds_it() -> None:
    async def scenario() -> list[bool]:
        hold, first, second = CollectorHold(), object(), object()
        seen = [gc.isenabled()]
        hold.hold(first, 5)
        hold.hold(second, 5)
        seen.append(gc.isenabled())
        hold.release(first)
        seen.append(gc.isenabled())  # the second still holds it
        hold.release(second)
        seen.append(gc.isenabled())
        hold.release(second)  # a second release is harmless
        seen.append(gc.isenabled())
        return seen

    assert asyncio.run(scenario()) == [True, False, False, True, True]


def test_time_limit_turns_it_back_on_and_restarts_with_each_hold() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        # Margins of 0.4 s either way: a loaded 2-core machine delayed the 30 ms steps past a 50 ms limit.
        hold, holder = CollectorHold(), object()
        hold.hold(holder, 1.0)
        await asyncio.sleep(0.6)
        hold.hold(holder, 1.0)  # the limit counts from the latest request
        await asyncio.sleep(0.6)  # 1.2 s after the first request, 0.6 s after the latest
        still_off = not gc.isenabled()
        await asyncio.sleep(1.0)
        return still_off, gc.isenabled(), hold.held

    still_off, back_on, held = asyncio.run(scenario())
    assert still_off and back_on and not held


def test_never_turns_on_a_collector_someone_else_turned_off() -> None:
    async def scenario() -> bool:
        hold, holder = CollectorHold(), object()
        gc.disable()  # e.g. Textual pausing it while scrolling
        hold.hold(holder, 5)
        hold.release(holder)
        return gc.isenabled()

    assert asyncio.run(scenario()) is False


def test_frozen_heap_is_out_of_the_collectors_reach_until_thawed() -> None:
    before = gc.get_freeze_count()
    gc_control.freeze_heap()
    try:
        assert gc.get_freeze_count() > before
        assert gc.get_count()[0] < 100  # collected first: the young generation starts empty
    finally:
        gc_control.thaw_heap()
    assert gc.get_freeze_count() == 0
