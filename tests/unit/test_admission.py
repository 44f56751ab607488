"""Bounded hashing: a fixed number at once, a bounded number waiting, the rest refused."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.waiting import eventually
from users_service.domain.errors import Overloaded
from users_service.service_layer.admission import HashingSlots


async def test_past_the_queue_a_shedding_caller_is_refused_and_a_waiting_one_waits() -> None:
    slots = HashingSlots(workers=1, queue=1)
    release = asyncio.Event()
    entered: list[str] = []

    async def hold(name: str, *, shed: bool) -> None:
        async with slots.slot(shed=shed):
            entered.append(name)
            await release.wait()

    async def state(running: int, waiting: int) -> bool:
        return (slots.running, slots.waiting) == (running, waiting)

    running = asyncio.create_task(hold("running", shed=True))
    await eventually(lambda: state(1, 0), timeout=5, what="one hashing")
    queued = asyncio.create_task(hold("queued", shed=True))
    await eventually(lambda: state(1, 1), timeout=5, what="one waiting")

    with pytest.raises(Overloaded):
        async with slots.slot(shed=True):
            pass
    patient = asyncio.create_task(hold("patient", shed=False))  # a command: it waits
    await eventually(lambda: state(1, 2), timeout=5, what="the command waiting too")

    release.set()
    await asyncio.gather(running, queued, patient)
    assert entered == ["running", "queued", "patient"]
    assert (slots.running, slots.waiting) == (0, 0)
