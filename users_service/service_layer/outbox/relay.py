"""The relay: publishes whatever the fast path did not, oldest first, in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from users_service.domain.clock import utc_now
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import OutboxStore, Publisher, Sent

log = logging.getLogger("outbox")


class OutboxRelay:
    """At-least-once delivery of the outbox.

    One relay per database publishes at a time: it holds a lease row that it renews every
    cycle. A single publisher is what keeps per-key order across workers (as Debezium's and
    Eventuate's single readers do); the others stand by and take over when the lease lapses.
    """

    def __init__(
        self,
        store: OutboxStore,
        publish: Publisher,
        health: PublishHealth,
        *,
        holder: str,
        batch_size: int = 500,
        lease_ttl: float = 15.0,
        poll_interval: float = 1.0,
        retention: float = 7 * 24 * 3600.0,
        purge_every: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._publish = publish
        self._health = health
        self.holder = holder
        self._batch_size = batch_size
        self._lease_ttl = lease_ttl
        self._poll_interval = poll_interval
        self._retention = timedelta(seconds=retention)
        self._purge_every = purge_every
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._last_purge = float("-inf")
        self._last_error_log = float("-inf")
        self.is_leader = False

    def wake(self) -> None:
        """Run the next cycle now rather than at the next poll."""
        self._wakeup.set()

    async def run_once(self) -> int:
        """One cycle: renew the lease, publish one batch; return how many were acknowledged."""
        self.is_leader = await self._store.acquire_lease(self.holder, self._lease_ttl)
        if not self.is_leader:
            return 0
        await self._maybe_purge()
        batch = await self._store.pending(self._batch_size)
        if not batch:
            return 0
        results = await self._publish(batch)
        sent = Sent.of(batch, results)
        if sent.acked:
            await self._store.mark_published(sent.acked)
            self._health.published(len(sent.acked))
        await sent.record_failures(self._store, self._health)
        return len(sent.acked)

    async def run(self, stopped: asyncio.Event) -> None:
        """Cycle until `stopped` is set: at once while full batches come, else every poll."""
        while not stopped.is_set():
            published = 0
            try:
                published = await self.run_once()
            except Exception:
                # Most likely the database is unreachable; the next cycle tries again.
                if time.monotonic() - self._last_error_log >= 30.0:
                    self._last_error_log = time.monotonic()
                    log.exception(
                        "outbox relay cycle failed; retrying every %.1fs", self._poll_interval
                    )
            if published >= self._batch_size:
                continue
            self._wakeup.clear()
            waiters = {
                asyncio.ensure_future(self._wakeup.wait()),
                asyncio.ensure_future(stopped.wait()),
            }
            _, pending = await asyncio.wait(
                waiters, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()

    async def drain(self, timeout: float) -> int:
        """Publish until nothing is pending or `timeout` passes (used at shutdown)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            try:
                published = await asyncio.wait_for(self.run_once(), timeout=remaining)
            except (TimeoutError, Exception) as exc:
                log.warning("outbox drain stopped: %s", type(exc).__name__)
                break
            total += published
            if published == 0:
                break
        return total

    async def release(self) -> None:
        """Give up the lease so a surviving worker takes over without waiting for it to lapse."""
        if self.is_leader:
            await self._store.release_lease(self.holder)
            self.is_leader = False

    async def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < self._purge_every:
            return
        self._last_purge = now
        removed = await self._store.purge_published(self._clock() - self._retention)
        if removed:
            log.info("outbox retention removed %d published message(s)", removed)
