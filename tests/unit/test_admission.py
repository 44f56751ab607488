"""Bounded hashing: a fixed number at once, a bounded number waiting, the rest refused."""

from __future__ import annotations

import asyncio

import pytest

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

    running = asyncio.create_task(hold("running", shed=True))
    await asyncio.sleep(0)
    queued = asyncio.create_task(hold("queued", shed=True))
    await asyncio.sleep(0)
    assert (slots.running, slots.waiting) == (1, 1)

    with pytest.raises(Overloaded):
        async with slots.slot(shed=True):
            pass
    patient = asyncio.create_task(hold("patient", shed=False))  # a command: it waits
    await asyncio.sleep(0)
    assert slots.waiting == 2

    release.set()
    await asyncio.gather(running, queued, patient)
    assert entered == ["running", "queued", "patient"]
    assert (slots.running, slots.waiting) == (0, 0)
