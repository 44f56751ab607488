"""Refusals for overload are paced past a burst, and logged as one line at the start of a
storm, then one line per window with the count, and nothing once a window passes without
any."""

from __future__ import annotations

import logging

import pytest

from tests.support.waiting import eventually
from web.shedding import RefusalLog, RefusalPace


async def test_a_storm_is_one_line_then_a_count_per_window_then_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.refusals")
    refusals = RefusalLog(logger, window=0.2)

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == logger.name]

    with caplog.at_level(logging.INFO, logger=logger.name):
        for _ in range(50):
            refusals.refused()
        assert len(lines()) == 1 and lines()[0].startswith("refusing sign-ups: overloaded")

        async def counted() -> bool:
            return len(lines()) == 2

        await eventually(counted, timeout=5, what="the window's count")
        assert lines()[1].startswith("49 sign-ups refused as overloaded in the last 0.2 s (50 ")

        async def closed() -> bool:
            return refusals._timer is None

        await eventually(closed, timeout=5, what="the window to close with nothing in it")
        assert len(lines()) == 2
        refusals.refused()  # a new storm is announced again
        assert len(lines()) == 3 and lines()[2].startswith("refusing sign-ups")
    assert refusals.total == 51


def test_refusals_past_the_burst_wait_their_turn_never_longer_than_retry_after() -> None:
    now = [100.0]
    pace = RefusalPace(per_second=10, burst=3, max_wait=1.0, clock=lambda: now[0])
    assert [pace.delay() for _ in range(3)] == [0.0, 0.0, 0.0]  # the burst
    assert [round(pace.delay(), 3) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    for _ in range(7):
        pace.delay()
    # Past a second of turns taken: held the whole Retry-After, and no turn is taken.
    assert pace.delay() == 1.0
    assert pace.delay() == 1.0
    now[0] += 5.0  # quiet for a while: a new burst is answered at once
    assert [pace.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
