"""Parking poison messages on a dead-letter topic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust

from users_service.domain.clock import utc_now
from users_service.domain.commands import Poison

# Headers added to a parked message; the original ones are kept as they were.
DLQ_HEADER_PREFIX = "dlq."


class DeadLetters:
    """Sends a message, as it came, to the dead-letter topic, with headers saying why and
    where from; waits for Kafka's acknowledgement before the caller moves on."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self.topic = topic

    async def park(self, message: Any, poison: Poison) -> None:
        """`message` is the Faust message (key, value, headers, topic, partition, offset)."""
        original = message.headers or []
        headers = list(original.items() if isinstance(original, Mapping) else original)
        headers += [
            (f"{DLQ_HEADER_PREFIX}reason", poison.reason.encode()),
            (f"{DLQ_HEADER_PREFIX}detail", poison.detail.encode()),
            (f"{DLQ_HEADER_PREFIX}source.topic", str(message.topic).encode()),
            (f"{DLQ_HEADER_PREFIX}source.partition", str(message.partition).encode()),
            (f"{DLQ_HEADER_PREFIX}source.offset", str(message.offset).encode()),
            (f"{DLQ_HEADER_PREFIX}parked.at", utc_now().isoformat().encode()),
        ]
        future = await self._app.producer.send(
            self.topic, message.key, message.value, partition=None, timestamp=None, headers=headers
        )
        await future
