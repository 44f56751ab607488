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
from users_service.domain.parking import parkable_value
from users_service.service_layer.retry import Backoff

log = logging.getLogger("users.dead_letters")

# Headers added to a parked message; the original ones are kept, each within its bound.
DLQ_HEADER_PREFIX = "dlq."
# Faust's producer sends requests of at most 1,000,000 bytes (`producer_max_request_size`),
# while the broker accepts messages of up to 1,048,588: a message in between came in but
# cannot go out whole. Every part of a parked record is bounded, so that their sum stays
# well inside the producer's limit: what is cut is identified by its size and digest.
DLQ_MAX_VALUE_BYTES = 512 * 1024
DLQ_MAX_KEY_BYTES = 1024
DLQ_MAX_HEADER_NAME_BYTES = 256
DLQ_MAX_HEADER_VALUE_BYTES = 4096
DLQ_MAX_HEADERS = 64  # of the original ones; the total is at most 64 * (256 + 4096) bytes
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


def _bounded_headers(original: Headers) -> tuple[Headers, Headers]:
    """The original headers within their bounds, and the headers that say what was cut."""
    kept: Headers = []
    cut = 0
    for name, value in original[:DLQ_MAX_HEADERS]:
        name_bytes = name.encode("utf-8", "surrogatepass")
        if len(name_bytes) > DLQ_MAX_HEADER_NAME_BYTES:
            name = name_bytes[:DLQ_MAX_HEADER_NAME_BYTES].decode("utf-8", "ignore")
            cut += 1
        if value is not None and len(value) > DLQ_MAX_HEADER_VALUE_BYTES:
            value = bytes(value[:DLQ_MAX_HEADER_VALUE_BYTES])
            cut += 1
        kept.append((name, value))
    dropped = max(0, len(original) - DLQ_MAX_HEADERS)
    if not cut and not dropped:
        return kept, []
    serialized = b"".join(
        b"%d:%s%d:%s"
        % (
            len(n.encode("utf-8", "surrogatepass")),
            n.encode("utf-8", "surrogatepass"),
            -1 if v is None else len(v),
            v or b"",
        )
        for n, v in original
    )
    return kept, [
        (
            f"{DLQ_HEADER_PREFIX}headers.truncated",
            f"{cut} name(s) or value(s) cut to {DLQ_MAX_HEADER_NAME_BYTES} or "
            f"{DLQ_MAX_HEADER_VALUE_BYTES} bytes, {dropped} header(s) dropped".encode(),
        ),
        (f"{DLQ_HEADER_PREFIX}original.headers.count", str(len(original)).encode()),
        (f"{DLQ_HEADER_PREFIX}original.headers.sha256", _digest(serialized)),
    ]


def _too_large(exc: BaseException | None) -> bool:
    # Faust wraps aiokafka's error in its ProducerSendError: look along the causes.
    while exc is not None:
        if isinstance(exc, MessageSizeTooLargeError | RecordTooLargeError):
            return True
        exc = exc.__cause__
    return False


class DeadLetters:
    """Sends a message to the dead-letter topic, with headers saying why and where from:
    its key and headers as they came (within bounds), its value as `parkable_value` keeps
    it. `park` returns only once Kafka has acknowledged it: the caller may then let the
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
                headers = [(n, v) for n, v in headers if n.startswith(DLQ_HEADER_PREFIX)]

    def _record(self, message: Any, poison: Poison) -> tuple[bytes | None, bytes, Headers]:
        kept, cut = _bounded_headers(_original_headers(message))
        headers = [*kept, *self._about(message, poison), *cut]
        key = message.key
        if key is not None and len(key) > DLQ_MAX_KEY_BYTES:
            headers += [
                (f"{DLQ_HEADER_PREFIX}key.truncated", b"true"),
                (f"{DLQ_HEADER_PREFIX}original.key.size", str(len(key)).encode()),
                (f"{DLQ_HEADER_PREFIX}original.key.sha256", _digest(key)),
            ]
            key = bytes(key[:DLQ_MAX_KEY_BYTES])
        original = message.value
        if original is not None:
            # Identifies the original bytes, whatever was scrubbed or cut from them.
            headers.append((f"{DLQ_HEADER_PREFIX}original.sha256", _digest(original)))
            headers.append((f"{DLQ_HEADER_PREFIX}original.size", str(len(original)).encode()))
        parkable = parkable_value(original)
        if parkable.note:
            headers.append((f"{DLQ_HEADER_PREFIX}scrubbed", parkable.note.encode()))
        # Nothing kept is an empty value, never a null: a null is a tombstone to Kafka, and
        # with no key either aiokafka would not send the record at all.
        value = b"" if parkable.value is None else parkable.value
        if len(value) > self._max_value_bytes:
            value = value[: self._max_value_bytes]
            headers.append((f"{DLQ_HEADER_PREFIX}truncated", b"true"))
        if DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers) > (
            self._max_request_bytes
        ):
            # Only with a producer limit smaller than the bounds assume: keep the reason.
            key, value = None, b""
            headers = [(n, v) for n, v in headers if n.startswith(DLQ_HEADER_PREFIX)]
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
