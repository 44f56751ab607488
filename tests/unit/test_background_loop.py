"""The one background loop of the relay, the shard balancer and the fast path."""

from __future__ import annotations

import asyncio

from tests.support.waiting import eventually
from users_service.service_layer.background import BackgroundLoop


async def test_a_failing_cycle_is_reported_and_the_loop_goes_on() -> None:
    runs: list[int] = []
    errors: list[Exception] = []

    async def cycle() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("database away")

    loop = BackgroundLoop(cycle, every=0.01, on_error=errors.append)
    loop.start()

    async def ran_again() -> bool:
        return len(runs) >= 3

    await eventually(ran_again, timeout=5, interval=0.01, what="cycles after the error")
    await loop.stop()
    assert [str(e) for e in errors] == ["database away"]
    assert not loop.active and loop.stopping


async def test_stop_lets_the_cycle_in_flight_finish_and_cancel_does_not() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def cycle() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    loop = BackgroundLoop(cycle, every=60, on_error=lambda exc: None)
    loop.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.ensure_future(loop.stop())
    await asyncio.sleep(0)  # one turn: stop() reaches its wait (a negative, not a condition)
    assert not stopping.done()  # waits for the cycle
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == [True]

    started.clear()
    release.clear()
    loop.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(loop.cancel(), 5)
    assert finished == [True] and not loop.active


async def test_a_cycle_that_asks_again_runs_at_once_and_a_wake_cuts_the_wait() -> None:
    runs: list[int] = []

    async def cycle() -> bool:
        runs.append(len(runs))
        return len(runs) < 3  # three back to back, then the long wait

    loop = BackgroundLoop(cycle, every=60, on_error=lambda exc: None)
    loop.start()

    async def ran(n: int) -> bool:
        return len(runs) >= n

    await eventually(lambda: ran(3), timeout=5, interval=0.01, what="three cycles at once")
    loop.wake()
    await eventually(lambda: ran(4), timeout=5, interval=0.01, what="the woken cycle")
    await loop.stop()


async def test_a_loop_with_a_condition_waits_first_and_ends_when_it_fails() -> None:
    pending = {"e1"}
    runs: list[set[str]] = []

    async def cycle() -> None:
        runs.append(set(pending))
        pending.clear()

    loop = BackgroundLoop(
        cycle, every=0.05, on_error=lambda exc: None, running=lambda: bool(pending), wait_first=True
    )
    loop.start()
    assert runs == []  # the first cycle comes after one wait

    async def ended() -> bool:
        return not loop.active

    await eventually(ended, timeout=5, interval=0.01, what="the loop ended")
    assert runs == [{"e1"}]
