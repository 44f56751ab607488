"""One background loop: a task that repeats a cycle, waits between cycles, and lives on
through a cycle's error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class BackgroundLoop:
    """Run `cycle` in a task until stopped (or while `running()` holds), `every` seconds
    apart: at once again when the cycle returns True, sooner when woken.

    An exception of a cycle goes to `on_error` and the loop carries on: a database or a
    broker that is away now is the common cause, and the next cycle tries again.
    With `wait_first`, the loop waits before its first cycle (a renewal, say).
    """

    def __init__(
        self,
        cycle: Callable[[], Awaitable[bool | None]],
        *,
        every: float,
        on_error: Callable[[Exception], None],
        running: Callable[[], bool] = lambda: True,
        wait_first: bool = False,
    ) -> None:
        self._cycle = cycle
        self._every = every
        self._on_error = on_error
        self._running = running
        self._wait_first = wait_first
        self._stopped = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called (until the next `start()`)."""
        return self._stopped.is_set()

    @property
    def active(self) -> bool:
        """True while the task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task, unless it runs already."""
        self._stopped.clear()
        if not self.active:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Run the next cycle now rather than after the wait."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Let the cycle in flight finish, then end the task."""
        self._stopped.set()
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def cancel(self) -> None:
        """End the task now, the cycle in flight included."""
        self._stopped.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _go_on(self) -> bool:
        return not self._stopped.is_set() and self._running()

    async def _run(self) -> None:
        again = not self._wait_first
        while self._go_on():
            if not again:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._every)
                if not self._go_on():
                    return
            try:
                again = bool(await self._cycle())
            except Exception as exc:
                again = False
                self._on_error(exc)
