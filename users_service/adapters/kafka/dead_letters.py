"""Parking poison messages on a dead-letter topic."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from users_service.domain.clock import utc_now
from users_service.domain.commands import Poison
from users_service.domain.parking import (
    KEY_NOT_KEPT,
    ORIGINAL_HEADER_PREFIX,
    parkable_header_name,
    parkable_header_value,
    parkable_key,
    parkable_value,
)
from users_service.service_layer.retry import Backoff

log = logging.getLogger("users.dead_letters")

# Headers added to a parked message. The original ones follow, as `parking` keeps them.
DLQ_HEADER_PREFIX = "dlq."
HEADERS_SCRUBBED = b"%d original header name(s) or value(s) not kept as sent"
# Faust's producer sends requests of at most 1,000,000 bytes (`producer_max_request_size`),
# while the broker accepts messages of up to 1,048,588: a message in between came in but
# cannot go out whole. Every part of a parked record is bounded, so that their sum stays
# well inside the producer's limit: what is cut is identified by its size and digest.
DLQ_MAX_VALUE_BYTES = 512 * 1024
# What `parking` keeps of the key and of a header is short by construction: an email or a
# UUID, a plain name (prefixed when it is `dlq.*`), a short value or a length marker.
DLQ_MAX_KEY_BYTES = 254
DLQ_MAX_HEADER_NAME_BYTES = 256
DLQ_MAX_HEADER_VALUE_BYTES = 64
DLQ_MAX_HEADERS = 64  # of the original ones; past them, they are dropped (and counted)
DLQ_MAX_DETAIL_BYTES = 1024
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
# Kafka's framing of a record and its batch, and the headers parking adds, with room.
_FRAMING_BYTES = 16 * 1024

PARK_BACKOFF = Backoff(first=0.5, most=10.0)

Headers = list[tuple[str, bytes | None]]


class HasProducer(Protocol):
    """What parking needs of the Faust app: its producer, started with the worker."""

    @property
    def producer(self) -> Any: ...


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def _original_headers(message: Any) -> Headers:
    original = message.headers or []
    items = original.items() if isinstance(original, Mapping) else original
    return [(str(name), value) for name, value in items]


def _serialized(headers: Headers) -> bytes:
    return b"".join(
        b"%d:%s%d:%s"
        % (
            len(n.encode("utf-8", "surrogatepass")),
            n.encode("utf-8", "surrogatepass"),
            -1 if v is None else len(v),
            v or b"",
        )
        for n, v in headers
    )


def _parkable_headers(original: Headers) -> tuple[Headers, Headers]:
    """What may be kept of the original headers, and the headers that say what was not.

    Every value is the producer's, and any could be a secret: only harmless shapes are kept
    (see `parkable_header_value`), the others are replaced by their length. Names are kept
    when plain, and never as one of the service's own `dlq.*` headers."""
    kept: Headers = []
    replaced = 0
    for position, (name, value) in enumerate(original[:DLQ_MAX_HEADERS]):
        shown_name = parkable_header_name(name, position)
        shown_value = parkable_header_value(value)
        replaced += shown_name != name or shown_value != value
        kept.append((shown_name, shown_value))
    dropped = max(0, len(original) - DLQ_MAX_HEADERS)
    if not replaced and not dropped:
        return kept, []
    about: Headers = [
        (f"{DLQ_HEADER_PREFIX}original.headers.count", str(len(original)).encode()),
    ]
    if replaced:
        about.append((f"{DLQ_HEADER_PREFIX}headers.scrubbed", HEADERS_SCRUBBED % replaced))
    if dropped:
        about.append((f"{DLQ_HEADER_PREFIX}headers.truncated", b"%d header(s) dropped" % dropped))
    return kept, about


def _too_large(exc: BaseException | None) -> bool:
    # Faust wraps aiokafka's error in its ProducerSendError: look along the causes.
    while exc is not None:
        if isinstance(exc, MessageSizeTooLargeError | RecordTooLargeError):
            return True
        exc = exc.__cause__
    return False


class DeadLetters:
    """Sends a message to the dead-letter topic, with headers saying why and where from:
    its key, headers and value as `parking` keeps them (nothing that could be a secret).
    `park` returns only once Kafka has acknowledged it: the caller may then let the
    message's offset be committed."""

    def __init__(
        self,
        app: HasProducer,
        topic: str,
        *,
        backoff: Backoff = PARK_BACKOFF,
        max_value_bytes: int = DLQ_MAX_VALUE_BYTES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self._app = app
        self.topic = topic
        self._backoff = backoff
        self._max_request_bytes = max_request_bytes
        # Whatever is asked, the value leaves room for the bounded key and headers.
        others = DLQ_MAX_KEY_BYTES + DLQ_MAX_HEADERS * (
            DLQ_MAX_HEADER_NAME_BYTES + DLQ_MAX_HEADER_VALUE_BYTES
        )
        self._max_value_bytes = max(
            0, min(max_value_bytes, max_request_bytes - others - _FRAMING_BYTES)
        )
        # Acknowledged parkings by reason, since the worker started (the metrics read it).
        self.parked: Counter[str] = Counter()

    async def park(self, message: Any, poison: Poison) -> None:
        """`message` is the Faust message (key, value, headers, topic, partition, offset).

        Retries until Kafka acknowledges; cancelling the caller (the worker stopping) is
        the only way out before that, and then the message is not acknowledged either. A
        record the producer or broker refuses as too large is parked without the originals
        (its reason and their digests only): that refusal would not pass with time."""
        key, value, headers = self._record(message, poison)
        for attempt, delay in enumerate(self._backoff.delays(), start=1):
            try:
                future = await self._app.producer.send(
                    self.topic, key, value, partition=None, timestamp=None, headers=headers
                )
                await future
                self.parked[poison.reason] += 1
                return
            except Exception as exc:
                if not _too_large(exc):
                    log.warning(
                        "could not park a message on %s (attempt %d: %s); retrying in %.1fs",
                        self.topic,
                        attempt,
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                log.warning(
                    "a parked record for %s was refused as too large (%s); parking its "
                    "reason and digests only",
                    self.topic,
                    type(exc).__name__,
                )
                key, value = None, b""
                headers = [
                    (n, v)
                    for n, v in headers
                    if n.startswith(DLQ_HEADER_PREFIX) and not n.startswith(ORIGINAL_HEADER_PREFIX)
                ]

    def _record(self, message: Any, poison: Poison) -> tuple[bytes | None, bytes, Headers]:
        kept, about_headers = _parkable_headers(_original_headers(message))
        own = [*self._about(message, poison), *about_headers]
        original_key = message.key
        key = parkable_key(original_key)
        if original_key is not None and key is None:
            own += [
                (f"{DLQ_HEADER_PREFIX}key.scrubbed", KEY_NOT_KEPT.encode()),
                (f"{DLQ_HEADER_PREFIX}original.key.size", str(len(original_key)).encode()),
            ]
        original = message.value
        if original is not None:
            # No digest of the original: a SHA-256 of bytes holding a password is a fast
            # hash of it (guessed offline). dlq.source.* name the original.
            own.append((f"{DLQ_HEADER_PREFIX}original.size", str(len(original)).encode()))
        parkable = parkable_value(original)
        if parkable.note:
            own.append((f"{DLQ_HEADER_PREFIX}scrubbed", parkable.note.encode()))
        # Nothing kept is an empty value, never a null: a null is a tombstone to Kafka, and
        # with no key either aiokafka would not send the record at all.
        value = b"" if parkable.value is None else parkable.value
        if len(value) > self._max_value_bytes:
            value = value[: self._max_value_bytes]
            own.append((f"{DLQ_HEADER_PREFIX}truncated", b"true"))
        headers = [*kept, *own]
        if DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers) > (
            self._max_request_bytes
        ):
            # Only with a producer limit smaller than the bounds assume: keep the reason.
            key, value, headers = None, b"", own
        return key, value, headers

    @staticmethod
    def _about(message: Any, poison: Poison) -> Headers:
        detail = poison.detail.encode("utf-8", "replace")[:DLQ_MAX_DETAIL_BYTES]
        return [
            (f"{DLQ_HEADER_PREFIX}reason", poison.reason.encode()),
            (f"{DLQ_HEADER_PREFIX}detail", detail),
            (f"{DLQ_HEADER_PREFIX}source.topic", str(message.topic).encode()),
            (f"{DLQ_HEADER_PREFIX}source.partition", str(message.partition).encode()),
            (f"{DLQ_HEADER_PREFIX}source.offset", str(message.offset).encode()),
            (f"{DLQ_HEADER_PREFIX}parked.at", utc_now().isoformat().encode()),
        ]
