"""The Faust side of publishing: `send_message` and the outbox's Publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, cast

import faust
from aiokafka.errors import (
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from faust.exceptions import ProducerSendError
from faust.types import RecordMetadata, TopicT

from users_service.adapters.kafka.publish_spans import PublishSpans
from users_service.domain.model import CloudEvents
from users_service.service_layer.outbox.ports import PendingMessage, SendFailure


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


# The last three are the producer's state, not the message's fault: the producer is
# replaced before the next send (streamapp.workarounds.faust_producer), which sends it again.
_OUTAGES = (
    KafkaTimeoutError,
    OSError,
    asyncio.TimeoutError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    ProducerFenced,
)


def is_outage(exc: BaseException) -> bool:
    """True when Kafka could not be reached or did not answer in time, or the producer
    itself must be replaced (not the message's fault); aiokafka marks the first kind
    retriable. Faust's producer raises aiokafka's errors wrapped in its ProducerSendError,
    which says neither: the cause does."""
    if isinstance(exc, ProducerSendError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return isinstance(exc, _OUTAGES) or bool(getattr(exc, "retriable", False))


def describe(exc: BaseException) -> str:
    """`Name: message`, the name once: aiokafka's messages often start with it already."""
    name, text = type(exc).__name__, str(exc)
    if not text or text == name:
        return name
    return text if text.startswith(f"{name}:") else f"{name}: {text}"


def failure(exc: BaseException) -> SendFailure:
    """The SendFailure for an exception from the producer."""
    return SendFailure(describe(exc)[:500], outage=is_outage(exc))


class KafkaPublisher:
    """The outbox Publisher, straight to the app's producer, with the bytes as stored (they
    were encoded by the event's Record when the message was written).

    Each message's failure is its own: one that Kafka refuses (too large, say) does not fail
    the others, except later messages of its key in the batch, which are held back so the
    key keeps its order. An outage (no metadata, a timeout) fails the rest of the batch at
    once, since each would only wait for the same timeout again.

    Topics are declared at start (TopicsService), so the relay skips Faust's channel
    machinery, per-message work it does not need for bytes already encoded.

    With `cloud_events`, each event also carries its CloudEvents headers, made here from
    the row rather than stored with it: rows written before they existed get them too
    (no migration), and no row stores what its columns already say.
    """

    def __init__(self, app: faust.App, cloud_events: CloudEvents | None = None) -> None:
        self._app = app
        self._cloud_events = cloud_events

    def headers(
        self, message: PendingMessage, trace: tuple[str, str | None] | None = None
    ) -> list[tuple[str, bytes]]:
        """What `message` is sent with: its stored headers, after its CloudEvents ones, and
        the trace context it was created in, unchanged (when it has one), or `trace`
        instead (a replay's new context)."""
        headers = message.headers
        if self._cloud_events is not None:
            headers = {
                **self._cloud_events.headers(
                    event_type=message.event_type,
                    event_id=message.event_id,
                    subject=message.key,
                    at=message.created_at,
                ),
                **headers,
            }
        traceparent, tracestate = trace or (message.traceparent, message.tracestate)
        if traceparent is not None:
            trace_headers = {"traceparent": traceparent}
            if tracestate:
                trace_headers["tracestate"] = tracestate
            # Replaces any the row's headers carried: one traceparent a message, ever.
            headers = {**headers, **trace_headers}
        return list(_header_bytes(headers).items())

    async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
        results: list[SendFailure | None] = [None] * len(messages)
        futures: list[tuple[int, Awaitable[RecordMetadata]]] = []
        failed_keys: set[tuple[str, str]] = set()
        producer = self._app.producer
        spans = PublishSpans()
        try:
            await self._send_all(messages, results, futures, failed_keys, producer, spans)
            for index, future in futures:
                try:
                    metadata = await future
                except Exception as exc:
                    results[index] = failure(exc)
                else:
                    spans.acknowledged(index, metadata)
        finally:
            spans.end(results)
        return results

    async def _send_all(
        self,
        messages: Sequence[PendingMessage],
        results: list[SendFailure | None],
        futures: list[tuple[int, Awaitable[RecordMetadata]]],
        failed_keys: set[tuple[str, str]],
        producer: Any,
        spans: PublishSpans,
    ) -> None:
        for index, message in enumerate(messages):
            if (message.topic, message.key) in failed_keys:
                results[index] = SendFailure("an older message of its key failed", held_back=True)
                continue
            trace = spans.start(index, message)
            try:
                future = await producer.send(
                    message.topic,
                    message.key.encode("utf-8"),
                    message.payload,
                    partition=None,
                    timestamp=None,
                    headers=self.headers(message, trace),
                )
            except Exception as exc:
                results[index] = failure(exc)
                if is_outage(exc):
                    for rest in range(index + 1, len(messages)):
                        results[rest] = results[index]
                    break
                failed_keys.add((message.topic, message.key))
                continue
            futures.append((index, future))
