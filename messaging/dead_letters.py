"""Poison messages: recognizing them, and parking them on a dead-letter topic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

# Headers added to a parked message; the original ones are kept as they were.
DLQ_HEADER_PREFIX = "dlq."


@dataclass(frozen=True)
class Poison:
    """Why a message cannot be handled at all: `reason` is a code, `detail` says more."""

    reason: str
    detail: str


def decode_json_object(value: bytes | None, max_bytes: int) -> dict[str, Any] | Poison:
    """The JSON object in `value`, or why there is none."""
    if value is None:
        return Poison("empty", "the message has no value")
    if len(value) > max_bytes:
        return Poison("too_large", f"{len(value)} bytes, more than the {max_bytes} allowed")
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        return Poison("not_json", str(exc)[:200])
    if not isinstance(body, dict):
        return Poison("not_an_object", f"a JSON {type(body).__name__}, not an object")
    return body


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
            (f"{DLQ_HEADER_PREFIX}parked.at", datetime.now(UTC).isoformat().encode()),
        ]
        future = await self._app.producer.send(
            self.topic, message.key, message.value, partition=None, timestamp=None, headers=headers
        )
        await future
