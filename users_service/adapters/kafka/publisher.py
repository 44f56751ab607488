"""The Faust side of publishing: `send_message` and the outbox's Publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, cast

import faust
from faust.types import RecordMetadata, TopicT

from users_service.service_layer.outbox.ports import PendingMessage


def _header_bytes(headers: Mapping[str, str] | None) -> dict[str, bytes]:
    return {k: v.encode("utf-8") for k, v in (headers or {}).items()}


async def send_message(
    app: faust.App,
    topic: str,
    key: str | bytes | None,
    value: Any,
    headers: Mapping[str, str] | None = None,
) -> RecordMetadata:
    """Send `value` (a Record, a JSON-able value, or bytes) to `topic` and wait for the ack."""
    channel: TopicT = app.topic(topic, key_serializer="raw", value_serializer="json")
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    # Faust resolves this future when Kafka acknowledges the message.
    future = await channel.send(key=raw_key, value=value, headers=_header_bytes(headers))
    return await cast("asyncio.Future[RecordMetadata]", future)


class KafkaPublisher:
    """The outbox Publisher, straight to the app's producer, with the bytes as stored (they
    were encoded by the event's Record when the message was written).

    Topics are declared at start (TopicsService), so the relay skips Faust's channel
    machinery, which took about half of the relay's CPU in the drain benchmark's profile.
    """

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def __call__(self, messages: Sequence[PendingMessage]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(messages)
        futures: list[tuple[int, Awaitable[RecordMetadata]]] = []
        producer = self._app.producer
        for index, message in enumerate(messages):
            try:
                future = await producer.send(
                    message.topic,
                    message.key.encode("utf-8"),
                    message.payload,
                    partition=None,
                    timestamp=None,
                    headers=list(_header_bytes(message.headers).items()),
                )
            except Exception as exc:
                # Usually no metadata within the request timeout: Kafka is unreachable,
                # and the rest of the batch would only wait for the same timeout again.
                for rest in range(index, len(messages)):
                    results[rest] = exc
                break
            futures.append((index, future))
        for index, future in futures:
            try:
                await future
            except Exception as exc:
                results[index] = exc
        return results
