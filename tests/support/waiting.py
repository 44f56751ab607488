"""Awaiting a condition with a deadline, instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    last_error: BaseException | None = None
    while True:
        try:
            last = await probe()
            if last:
                return last
        except Exception as exc:  # the thing being waited for may not answer yet
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what} not reached within {timeout}s "
                f"(last value {last!r}, last error {last_error!r})"
            )
        await asyncio.sleep(interval)
