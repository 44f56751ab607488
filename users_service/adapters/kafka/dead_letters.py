"""Parking poison messages on a dead-letter topic."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from users_service.domain.clock import utc_now
from users_service.domain.commands import Poison, scrub_for_parking
from users_service.service_layer.retry import Backoff

log = logging.getLogger("users.dead_letters")

# Headers added to a parked message; the original ones are kept as they were.
DLQ_HEADER_PREFIX = "dlq."
# Faust's producer sends requests of at most 1,000,000 bytes, while the broker accepts
# messages of up to 1,048,588: a value in between came in but cannot go out whole. What
# is parked is its head, well inside the limit, with its size and digest beside it.
DLQ_MAX_VALUE_BYTES = 512 * 1024


PARK_BACKOFF = Backoff(first=0.5, most=10.0)


class HasProducer(Protocol):
    """What parking needs of the Faust app: its producer, started with the worker."""

    @property
    def producer(self) -> Any: ...


class DeadLetters:
    """Sends a message, as it came, to the dead-letter topic, with headers saying why and
    where from. `park` returns only once Kafka has acknowledged it: the caller may then let
    the message's offset be committed."""

    def __init__(
        self,
        app: HasProducer,
        topic: str,
        *,
        backoff: Backoff = PARK_BACKOFF,
        max_value_bytes: int = DLQ_MAX_VALUE_BYTES,
    ) -> None:
        self._app = app
        self.topic = topic
        self._backoff = backoff
        self._max_value_bytes = max_value_bytes
        # Acknowledged parkings by reason, since the worker started (the metrics read it).
        self.parked: Counter[str] = Counter()

    async def park(self, message: Any, poison: Poison) -> None:
        """`message` is the Faust message (key, value, headers, topic, partition, offset).

        Retries until Kafka acknowledges; cancelling the caller (the worker stopping) is
        the only way out before that, and then the message is not acknowledged either."""
        scrubbed, changed = scrub_for_parking(message.value)
        headers = self._headers(message, poison)
        if message.value is not None:
            # Identifies the original bytes, whatever was scrubbed or cut from them.
            digest = hashlib.sha256(message.value).hexdigest()
            headers.append((f"{DLQ_HEADER_PREFIX}original.sha256", digest.encode()))
            headers.append((f"{DLQ_HEADER_PREFIX}original.size", str(len(message.value)).encode()))
        if changed:
            headers.append((f"{DLQ_HEADER_PREFIX}scrubbed", b"password fields removed"))
        value, headers = self._bounded(scrubbed, headers)
        for attempt, delay in enumerate(self._backoff.delays(), start=1):
            try:
                future = await self._app.producer.send(
                    self.topic, message.key, value, partition=None, timestamp=None, headers=headers
                )
                await future
                self.parked[poison.reason] += 1
                return
            except Exception as exc:
                log.warning(
                    "could not park a message on %s (attempt %d: %s); retrying in %.1fs",
                    self.topic,
                    attempt,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    @staticmethod
    def _headers(message: Any, poison: Poison) -> list[tuple[str, bytes]]:
        original = message.headers or []
        headers = list(original.items() if isinstance(original, Mapping) else original)
        return [
            *headers,
            (f"{DLQ_HEADER_PREFIX}reason", poison.reason.encode()),
            (f"{DLQ_HEADER_PREFIX}detail", poison.detail.encode()),
            (f"{DLQ_HEADER_PREFIX}source.topic", str(message.topic).encode()),
            (f"{DLQ_HEADER_PREFIX}source.partition", str(message.partition).encode()),
            (f"{DLQ_HEADER_PREFIX}source.offset", str(message.offset).encode()),
            (f"{DLQ_HEADER_PREFIX}parked.at", utc_now().isoformat().encode()),
        ]

    def _bounded(
        self, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        if value is None or len(value) <= self._max_value_bytes:
            return value, headers
        return value[: self._max_value_bytes], [
            *headers,
            (f"{DLQ_HEADER_PREFIX}truncated", b"true"),
        ]
