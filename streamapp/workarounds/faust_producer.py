"""Faust's aiokafka producer, idempotent, and renewed when aiokafka's sender has died.

Faust turns idempotence on only inside its transactions (exactly-once processing). This
service needs it for every send: a retried send after a lost acknowledgement (a broker
restarting, a leader moving) must not write a second copy, and the order of one key must
hold across those retries. acks=all is Faust's default already (PRODUCER_ACKS).

An idempotent aiokafka producer does not recover from `OutOfOrderSequenceNumber` (a broker
restarted under load can answer it for batches that were in flight): every later batch of
that partition is refused the same way, or the sender task ends and every send fails, for
good (aio-libs/aiokafka#1017, open). Java's producer bumps its epoch instead; Spring Kafka
closes the producer and makes a new one (spring-projects/spring-kafka#1441). So does this
one: once a send has failed so, or the sender has ended, the next send first replaces the
producer with a new one (a new producer id); the sends that failed are the outbox's to
retry.

Upstream for idempotence: no issue asks for it; the nearest, faust-streaming/faust#177, is
about sends outside the exactly-once transactions. Written for faust-streaming 0.15.3 and
aiokafka 0.14.0; relies on `Producer._settings_extra` being merged into aiokafka's producer
arguments, on `Producer._producer` and `_new_producer()`, and on aiokafka's
`AIOKafkaProducer._sender.sender_task` (tests/unit/test_workaround_canaries.py holds them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, cast

from aiokafka.errors import OutOfOrderSequenceNumber, UnknownProducerId
from faust.transport.drivers.aiokafka import Producer

log = logging.getLogger(__name__)


# Errors that say the producer's idempotence state is broken, not the message's fault.
PRODUCER_STATE_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId)


def sender_failure(producer: Any) -> BaseException | None:
    """Why aiokafka `producer`'s sender task ended, or None while it runs (or was stopped)."""
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if task is None or not task.done() or task.cancelled():
        return None
    return cast(BaseException | None, task.exception())


class IdempotentProducer(Producer):
    """`enable_idempotence` with `acks=all` on every producer this app creates; a producer
    whose idempotence state broke is replaced before the next send."""

    _renewal: asyncio.Lock | None = None
    _broken: str | None = None  # why the current producer must be replaced

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self._producer is not None:
            failure = sender_failure(self._producer)
            if failure is not None and self._broken is None:
                self._broken = type(failure).__name__
            if self._broken is not None:
                await self._renew()
        future: Any = await super().send(*args, **kwargs)
        producer = self._producer
        future.add_done_callback(lambda done: self._watch(done, producer))
        return future

    def _watch(self, future: asyncio.Future[Any], producer: Any) -> None:
        if future.cancelled() or producer is not self._producer:
            return
        exc = future.exception()
        if isinstance(exc, PRODUCER_STATE_ERRORS) and self._broken is None:
            self._broken = type(exc).__name__

    async def _renew(self) -> None:
        if self._renewal is None:
            self._renewal = asyncio.Lock()
        async with self._renewal:
            if self._broken is None or self._producer is None:
                return  # another send renewed it meanwhile
            log.warning("the Kafka producer is broken (%s); starting a new one", self._broken)
            fresh = self._new_producer()
            await fresh.start()  # raises while Kafka is away: the send fails as an outage
            dead, self._producer, self._broken = self._producer, fresh, None
            # Its batches fail at once (broken) or were failed already (sender ended).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(dead.stop(), timeout=10)
