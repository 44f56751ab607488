"""The Faust side of publishing: `send_message` and the outbox's Publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

import faust
from faust.types import RecordMetadata, TopicT

from models.events import as_record
from outbox.ports import PendingMessage


class TopicCache:
    """One Faust Topic object per name: raw bytes keys, JSON values."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, TopicT] = {}

    def get(self, name: str) -> TopicT:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._app.topic(name, key_serializer="raw", value_serializer="json")
            self._topics[name] = topic
        return topic


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
    return await _send(TopicCache(app).get(topic), key, value, headers)


async def _send(
    topic: TopicT, key: str | bytes | None, value: Any, headers: Mapping[str, str] | None
) -> RecordMetadata:
    future = await _enqueue(topic, key, value, headers)
    return await future


async def _enqueue(
    topic: TopicT, key: str | bytes | None, value: Any, headers: Mapping[str, str] | None
) -> asyncio.Future[RecordMetadata]:
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    # Faust resolves this future when Kafka acknowledges the message.
    return cast(
        "asyncio.Future[RecordMetadata]",
        await topic.send(key=raw_key, value=value, headers=_header_bytes(headers)),
    )


class KafkaPublisher:
    """The outbox Publisher: typed Records for known event types, the stored bytes otherwise."""

    def __init__(self, app: faust.App) -> None:
        self._topics = TopicCache(app)

    async def __call__(self, messages: Sequence[PendingMessage]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(messages)
        futures: list[tuple[int, asyncio.Future[RecordMetadata]]] = []
        for index, message in enumerate(messages):
            record = as_record(message.event_type, message.payload)
            value: Any = record if record is not None else message.payload.encode("utf-8")
            try:
                futures.append(
                    (
                        index,
                        await _enqueue(
                            self._topics.get(message.topic), message.key, value, message.headers
                        ),
                    )
                )
            except Exception as exc:
                # Usually no metadata within the request timeout: Kafka is unreachable,
                # and the rest of the batch would only wait for the same timeout again.
                for rest in range(index, len(messages)):
                    results[rest] = exc
                break
        for index, future in futures:
            try:
                await future
            except Exception as exc:
                results[index] = exc
        return results
