"""The shutdown drain (refuse, finish, publish, release) and the watchdog that bounds it."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass

from streamapp.lifecycle.relay import release_lease
from users_service.service_layer.lifecycle import Lifecycle
from users_service.service_layer.outbox.fast_path import FastPath
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Relay

log = logging.getLogger("users")


class ShutdownWatchdog:
    """Ends the process `grace` seconds after shutdown began, whatever still hangs (a
    database that does not answer, a broker that does not either): an orchestrator would
    SIGKILL it anyway, only later. Nothing is lost by it: a command whose outcome is not
    durable was never acknowledged, so its offset was never committed."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start counting (once); a daemon thread, so a normal exit is not held up."""
        if self._timer is None:
            self._timer = threading.Timer(self.grace, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.error("shutdown took longer than SHUTDOWN_GRACE=%gs; exiting now", self.grace)
        logging.shutdown()
        os._exit(70)  # EX_SOFTWARE: the orchestrator sees an unclean stop


@dataclass(frozen=True)
class ShutdownDrain:
    """Connected to the app's `on_before_shutdown`, which runs while the producer is still
    up: refuse new requests, give in-flight work a moment, publish what waits, each step
    bounded by `timeout`; what is left is delivered by a peer or after the next start."""

    lifecycle: Lifecycle
    fast_path: FastPath
    relay: Relay
    health: PublishHealth
    timeout: float
    watchdog: ShutdownWatchdog

    async def __call__(self) -> None:
        """Refuse new requests; let in-flight batches and fast-path sends finish; stop the
        relay's loop and wait for its batch in flight; publish what waits; then give up the
        lease. In that order, so that no peer takes over while a batch of ours is in flight."""
        self.watchdog.arm()
        self.lifecycle.start_draining()
        # One budget for all the steps, so that the drain ends well inside the grace.
        deadline = time.monotonic() + self.timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if not await self.lifecycle.wait_idle(left()):
            log.warning("shutdown: work still in flight; it is redelivered after the stop")
        await self.fast_path.wait_idle(left())
        try:
            await asyncio.wait_for(self.relay.stop(), timeout=max(left(), 0.1))
        except TimeoutError:
            log.warning("shutdown: the relay's batch did not finish; a peer publishes it again")
        if self.health.producer_started and left() > 0:
            published = await self.relay.drain(left())
            log.info("shutdown: published %d pending event(s) from the outbox", published)
        await release_lease(self.relay)
