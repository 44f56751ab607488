"""The relay: publishes whatever the fast path did not, oldest first, in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping

from users_service.service_layer.background import BackgroundLoop
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import (
    Fence,
    OtherShardSetting,
    OutboxStore,
    PendingMessage,
    Publisher,
    Purge,
    Sent,
)
from users_service.service_layer.ports import NO_TRACING, Tracing

log = logging.getLogger("outbox")


class OutboxRelay:
    """At-least-once delivery of the outbox.

    One relay per database publishes at a time: it holds a lease row, timed by the
    database's clock, renewed every cycle and every third of its lifetime while a batch is
    in flight. A single publisher is what keeps per-key order across workers (as
    Debezium's and Eventuate's single readers do); the others stand by and take over when
    the lease lapses. Each change of hands increments the lease's generation, and a relay
    marks rows published only while its generation still holds the lease (fencing).

    One cycle runs at a time: the loop, and at shutdown `stop()`, then `drain()`, then
    `release()`, in that order, so a peer never takes over a batch still in flight.

    While full batches come, the loop chains them (`run_chain`): the next batch is read
    while Kafka acknowledges the current one, and the current one is marked while the next
    is sent. A batch is sent only once the one before it is acknowledged, and without the
    messages whose key failed earlier in the chain, so each key keeps its order.
    """

    def __init__(
        self,
        store: OutboxStore,
        publish: Publisher,
        health: PublishHealth,
        *,
        holder: str,
        batch_size: int = 500,
        chain_batches: int = 20,
        lease_ttl: float = 15.0,
        poll_interval: float = 1.0,
        max_attempts: int = 10,
        purges: Mapping[str, Purge] | None = None,
        purge_every: float = 60.0,
        purge_batch: int = 1000,
        purge_rounds: int = 10,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._store = store
        self._tracing = tracing
        self._publish = publish
        self._health = health
        self.holder = holder
        self._batch_size = batch_size
        self._chain_batches = chain_batches
        self._lease_ttl = lease_ttl
        self._poll_interval = poll_interval
        self._max_attempts = max_attempts
        self._purges = dict(purges or {})
        self._purge_every = purge_every
        self._purge_batch = purge_batch
        self._purge_rounds = purge_rounds
        self._cycle = asyncio.Lock()
        # Cycle until stopped: at once again while full batches come, else every poll.
        self._loop = BackgroundLoop(
            self._run_cycle, every=poll_interval, on_error=self._cycle_failed
        )
        self._last_purge = float("-inf")
        self._last_error_log = float("-inf")
        self._last_conflict_log = float("-inf")
        self.is_leader = False
        self.shard_conflict: str | None = None

    @property
    def shards_held(self) -> list[int]:
        """The one shard (the whole outbox) while this relay leads."""
        return [0] if self.is_leader else []

    async def acquire(self) -> bool:
        """Take (or renew) the lease now; True when this relay holds it."""
        async with self._cycle:
            generation = await self._take_lease()
            self.is_leader = generation is not None
            return self.is_leader

    async def _take_lease(self) -> int | None:
        """The lease's generation while this relay holds it; None when another relay does,
        or when relays with another OUTBOX_SHARDS are in force (said loudly: this worker
        then relays nothing)."""
        try:
            generation = await self._store.acquire_lease(self.holder, self._lease_ttl)
        except OtherShardSetting as exc:
            self.shard_conflict = exc.in_force
            if time.monotonic() - self._last_conflict_log >= 30.0:
                self._last_conflict_log = time.monotonic()
                log.error(
                    "outbox relay: relays with %s are live; this worker (%s) relays nothing "
                    "until every worker has the same setting",
                    exc.in_force,
                    exc.ours,
                )
            return None
        self.shard_conflict = None
        return generation

    def wake(self) -> None:
        """Run the next cycle now rather than at the next poll."""
        self._loop.wake()

    def start(self) -> None:
        """Start cycling in the background (once the producer is up)."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop cycling and wait for the cycle in flight to finish (with its marks)."""
        await self._loop.stop()

    async def run_once(self) -> int:
        """One cycle: renew the lease, publish one batch; return how many were acknowledged."""
        async with self._cycle:
            return await self._cycle_once(max_batches=1)

    async def run_chain(self) -> int:
        """One cycle of up to `chain_batches` batches back to back (see the class)."""
        async with self._cycle:
            return await self._cycle_once(max_batches=self._chain_batches)

    async def drain(self, timeout: float) -> int:
        """Publish until nothing is pending or `timeout` passes (at shutdown, after stop())."""
        deadline = time.monotonic() + timeout
        total = 0
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                published = await asyncio.wait_for(self.run_once(), timeout=remaining)
            except Exception as exc:  # TimeoutError included: what is left waits for a peer
                log.warning("outbox drain stopped: %s", type(exc).__name__)
                break
            total += published
            if published == 0:
                break
        return total

    async def release(self) -> None:
        """Give up the lease so a surviving worker takes over without waiting for it to lapse."""
        async with self._cycle:
            if self.is_leader:
                await self._store.release_lease(self.holder)
                self.is_leader = False

    async def _cycle_once(self, max_batches: int) -> int:
        generation = await self._take_lease()
        self.is_leader = generation is not None
        if generation is None:
            return 0
        fence = Fence(self.holder, generation)
        await self._maybe_purge()
        batch = await self._store.pending(self._batch_size)
        if not batch:
            return 0
        # One span a cycle, linking to the first batch's messages' creation contexts (each
        # message's own publish span sits in its creator's trace: adapters.kafka).
        batch_span = self._tracing.span(
            "outbox relay batch",
            attributes={"messaging.batch.message_count": len(batch), "outbox.relay": self.holder},
            links=[m.traceparent for m in batch],
        )
        with batch_span:
            return await self._publish_chain(batch, fence, max_batches)

    async def _publish_chain(
        self, batch: list[PendingMessage], fence: Fence, max_batches: int
    ) -> int:
        acked = 0
        failed_keys: set[tuple[str, str]] = set()
        marking: asyncio.Future[int] | None = None
        async with self._lease_kept(fence):
            try:
                for number in range(max_batches):
                    publishing = asyncio.ensure_future(self._publish(batch))
                    await asyncio.sleep(0)  # let it hand the batch to the producer first
                    following: list[PendingMessage] = []
                    if number + 1 < max_batches and len(batch) >= self._batch_size:
                        # Read while Kafka acknowledges: what this batch holds is still
                        # pending, so the read starts after its last position.
                        try:
                            following = await self._store.pending(
                                self._batch_size, after=batch[-1].position
                            )
                        except Exception:
                            # The chain ends here; this batch is still marked below (or, if
                            # the database is gone, published again by the next cycle).
                            following = []
                    results = await publishing
                    if marking is not None:
                        await marking
                    sent = Sent.of(batch, results)
                    acked += len(sent.acked)
                    marking = asyncio.ensure_future(self._settle(sent, fence))
                    failed_keys.update(
                        (m.topic, m.key)
                        for m, r in zip(batch, results, strict=True)
                        if r is not None
                    )
                    if sent.outages or not self.is_leader or self._loop.stopping:
                        break
                    # A key that failed in the chain keeps its order: its later messages
                    # wait for the next cycle, behind the failed one.
                    batch = [m for m in following if (m.topic, m.key) not in failed_keys]
                    if not batch:
                        break
            finally:
                if marking is not None:
                    await marking
        return acked

    async def _settle(self, sent: Sent, fence: Fence) -> int:
        """Mark what Kafka acknowledged (while `fence` holds) and record what failed."""
        marked = 0
        if sent.acked:
            marked = await self._store.mark_published(sent.acked, fence)
            if marked < len(sent.acked):
                # Another relay holds the lease now and will publish these again: a
                # duplicate, which at-least-once allows and consumers dedup by eventId.
                log.warning(
                    "relay lease lost during a batch; %d acknowledged message(s) left to the "
                    "new leader",
                    len(sent.acked) - marked,
                )
                self.is_leader = False
            self._health.published(marked)
        await sent.record_failures(self._store, self._health, self._max_attempts)
        return marked

    @contextlib.asynccontextmanager
    async def _lease_kept(self, fence: Fence) -> AsyncIterator[None]:
        """Renew the lease every third of its lifetime while a batch is in flight: waiting
        for metadata, sending and acknowledgements can each take a whole request timeout."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self._lease_ttl / 3)
                generation = await self._take_lease()
                if generation != fence.generation:
                    log.warning("relay lease lost while a batch was in flight")
                    return

        renewing = asyncio.get_running_loop().create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewing

    async def _run_cycle(self) -> bool:
        """One background cycle; True when it published a full batch (more may wait)."""
        return await self.run_chain() >= self._batch_size

    def _cycle_failed(self, exc: Exception) -> None:
        # Most likely the database is unreachable; the next cycle tries again.
        if time.monotonic() - self._last_error_log >= 30.0:
            self._last_error_log = time.monotonic()
            log.exception("outbox relay cycle failed; retrying every %.1fs", self._poll_interval)

    async def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < self._purge_every:
            return
        self._last_purge = now
        for name, purge in self._purges.items():
            removed = 0
            # Bounded: a few thousand rows a minute, in short statements, never all at once.
            for _ in range(self._purge_rounds):
                count = await purge(self._purge_batch)
                removed += count
                if count < self._purge_batch:
                    break
            if removed:
                log.info("retention removed %d %s", removed, name)
