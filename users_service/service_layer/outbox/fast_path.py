"""Publishing a just-committed message at once, so latency stays low while Kafka is up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from users_service.domain.model import OutboxMessage
from users_service.service_layer.background import BackgroundLoop
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import OutboxStore, PendingMessage, Publisher, Sent

log = logging.getLogger("outbox")


class FastPath:
    """The Dispatcher the use cases hand a committed unit of work's claimed messages to.

    A message reaches this only when its outbox row was claimed for this worker in the
    creating transaction; if publishing fails the claim is released and the relay retries.

    While sends are in flight their claims are extended every third of `claim_ttl`: with
    the broker away, aiokafka keeps a message queued (and delivers it once the broker is
    back) for longer than any fixed claim. A claim that lapsed under it would let the relay
    send a second copy while the first is still on its way (tests/e2e/test_kafka_e2e.py).
    """

    def __init__(
        self,
        store: OutboxStore,
        publish: Publisher,
        health: PublishHealth,
        *,
        owner: str,
        max_attempts: int = 10,
        claim_ttl: float = 30.0,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._publish = publish
        self._health = health
        self._owner = owner
        self._max_attempts = max_attempts
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()
        self._acked: list[str] = []
        self._marking: asyncio.Task[None] | None = None
        self._claim_ttl = claim_ttl
        self._in_flight: set[str] = set()
        # Extends the claims of the sends in flight, every third of their lifetime, until
        # none is left.
        self._renewing = BackgroundLoop(
            self._extend_claims,
            every=claim_ttl / 3,
            on_error=self._extension_failed,
            running=lambda: bool(self._in_flight),
            wait_first=True,
        )

    @property
    def fast_path_owner(self) -> str | None:
        return self._owner if self._health.fast_path_open else None

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        if not messages:
            return
        self._track(self._send([PendingMessage.of(m) for m in messages]))

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_idle(self, timeout: float) -> bool:
        """Wait for in-flight sends (at shutdown); True when none is left."""
        if not self._tasks:
            return True
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:  # marking may start new work while sends finish
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def _send(self, messages: list[PendingMessage]) -> None:
        ids = [m.event_id for m in messages]
        self._in_flight.update(ids)
        self._renewing.start()
        try:
            results = await self._publish(messages)
            sent = Sent.of(messages, results)
            if sent.acked:
                self._acked.extend(sent.acked)
                if self._marking is None or self._marking.done():
                    self._marking = self._track(self._mark_published())
            if sent.error is not None or sent.held_back:
                await sent.record_failures(self._store, self._health, self._max_attempts)
                self._on_failure()
        except Exception:
            # The claim expires by itself and the relay publishes the message then.
            log.exception("fast path could not record a publish outcome")
        finally:
            self._in_flight.difference_update(ids)

    async def _extend_claims(self) -> None:
        await self._store.extend_claims(sorted(self._in_flight), self._owner, self._claim_ttl)

    def _extension_failed(self, exc: Exception) -> None:
        # The database away: the claims may lapse, and the message be sent twice (at least once).
        log.warning("could not extend fast-path claims: %s", type(exc).__name__)

    async def _mark_published(self) -> None:
        # Acknowledgements that arrive while one UPDATE runs go together into the next:
        # under load that is one statement for many events, and no delay when idle.
        while self._acked:
            batch, self._acked = self._acked, []
            try:
                await self._store.mark_published(batch)
            except Exception:
                # Left claimed: once the claim lapses the relay publishes them again
                # (at least once), so nothing is lost.
                log.exception("could not mark %d published message(s)", len(batch))
                continue
            self._health.published(len(batch), path="fast")
