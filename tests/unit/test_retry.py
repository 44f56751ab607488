"""The one retry policy: doubling delays, only for an unavailable database, with a ceiling."""

from __future__ import annotations

import logging

import pytest

from users_service.domain.errors import StorageUnavailable
from users_service.service_layer.retry import Backoff, retry_while_unavailable

log = logging.getLogger("test")


def test_delays_double_up_to_the_most() -> None:
    delays = Backoff(first=0.5, most=3.0).delays()
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_it_retries_an_outage_until_the_call_succeeds() -> None:
    slept: list[float] = []
    outages = [StorageUnavailable("down"), StorageUnavailable("down")]

    async def call() -> str:
        if outages:
            raise outages.pop(0)
        return "done"

    async def sleep(delay: float) -> None:
        slept.append(delay)

    assert await retry_while_unavailable(call, what="t", log=log, sleep=sleep) == "done"
    assert slept == [0.5, 1.0]


async def test_it_gives_up_after_the_ceiling_with_the_outage_itself() -> None:
    now = [0.0]

    async def call() -> None:
        raise StorageUnavailable("still down")

    async def sleep(delay: float) -> None:
        now[0] += delay

    with pytest.raises(StorageUnavailable, match="still down"):
        await retry_while_unavailable(
            call, what="t", log=log, sleep=sleep, give_up_after=5.0, clock=lambda: now[0]
        )
    assert now[0] >= 5.0


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await retry_while_unavailable(call, what="t", log=log)
    assert calls == 1
