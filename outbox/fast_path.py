"""Publishing a just-committed message at once, so latency stays low while Kafka is up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from outbox.encoding import as_pending
from outbox.health import PublishHealth
from outbox.ports import OutboxStore, PendingMessage, Publisher
from users.model import OutboxMessage

log = logging.getLogger("outbox")


class FastPath:
    """The service layer's EventDispatcher: hands claimed messages to the producer.

    A message reaches this only when its outbox row was claimed for this worker in the
    creating transaction; if publishing fails the claim is released and the relay retries.
    """

    def __init__(
        self,
        store: OutboxStore,
        publish: Publisher,
        health: PublishHealth,
        *,
        owner: str,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._publish = publish
        self._health = health
        self._owner = owner
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def fast_path_owner(self) -> str | None:
        return self._owner if self._health.fast_path_open else None

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        if not messages:
            return
        task = asyncio.get_running_loop().create_task(self._send([as_pending(m) for m in messages]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait for in-flight sends (at shutdown); True when none is left."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending

    async def _send(self, messages: list[PendingMessage]) -> None:
        try:
            results = await self._publish(messages)
            acked = [m.event_id for m, r in zip(messages, results, strict=True) if r is None]
            failed = [
                (m.event_id, r) for m, r in zip(messages, results, strict=True) if r is not None
            ]
            if acked:
                await self._store.mark_published(acked)
                self._health.published(len(acked))
            if failed:
                self._health.failed(len(failed), failed[0][1])
                await self._store.mark_failed([e for e, _ in failed], str(failed[0][1]))
                self._on_failure()
        except Exception:
            # The claim expires by itself and the relay publishes the message then.
            log.exception("fast path could not record a publish outcome")
