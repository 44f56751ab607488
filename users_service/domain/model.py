"""The user aggregate and the envelope of the messages it emits, as plain data.

Each message is defined once, in the events package (`users_service_events.envelope`:
value, key, headers, topic setting); the value's bytes are made by its Record (`models/`),
through the encoder the service layer receives. This module applies those definitions to
a user or a rejection: the outbox message with its key and headers.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from users_service_events import envelope, values
from users_service_events.envelope import USER_CREATE_REJECTED, USER_CREATED, USER_DELETED, Message

from users_service.domain.clock import isoformat

__all__ = [
    "USER_CREATED",
    "USER_CREATE_REJECTED",
    "USER_DELETED",
]  # the events package's, re-exported
USER_AGGREGATE = "user"
COMMAND_AGGREGATE = "command"


@dataclass(frozen=True)
class User:
    """A stored user. The password hash never leaves the storage layer and this object."""

    id: str
    nombre: str
    email: str
    created_at: datetime
    password_hash: str = field(repr=False)

    def public(self) -> dict[str, str]:
        """The user as clients and events see it, the fields of `values.USER` in their
        order (`createdAt` is the attribute `created_at`): never the password or its hash."""
        return {name: _public(getattr(self, _attribute(name))) for name in values.USER.names}


def _attribute(field: str) -> str:
    """The attribute behind a JSON field: `createdAt` -> `created_at`."""
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in field)


def _public(value: str | datetime) -> str:
    return isoformat(value) if isinstance(value, datetime) else value


@dataclass(frozen=True)
class OutboxMessage:
    """A message to publish, stored in the same transaction as the state it describes.

    `payload` is the exact value to send, encoded once when the message is written."""

    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    topic: str
    key: str
    payload: bytes
    headers: dict[str, str]
    created_at: datetime
    # The W3C trace context it was created in, set by the outbox as it stores the message
    # (none while tracing is off); published with it as `traceparent`/`tracestate`.
    traceparent: str | None = None
    tracestate: str | None = None


def new_id() -> str:
    """A UUIDv7 (RFC 9562): random, but sorted by creation time, which keeps indexes compact."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def is_uuid(value: Any, *, canonical: bool = False) -> bool:
    """True for a string that is a UUID; with `canonical`, only in its lower-case hyphenated
    form (the form ids are stored in)."""
    if not isinstance(value, str):
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return not canonical or str(parsed) == value


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_HYPHENS = (8, 13, 18, 23)


def is_uuid_text(value: Any) -> bool:
    """True for a UUID written in its 36-character hyphenated form, in either case (RFC 9562
    reads hex digits case-insensitively): the form a `varchar(36)` id column holds. Not the
    forms `uuid.UUID` also parses (braces, `urn:uuid:`, no hyphens or extra ones)."""
    return (
        isinstance(value, str)
        and len(value) == 36
        and all(value[i] == "-" for i in _HYPHENS)
        and all(ch in _HEX_DIGITS for i, ch in enumerate(value) if i not in _HYPHENS)
    )


def _key(message: Message, value: dict[str, Any]) -> str:
    """The key `message`'s definition finds in (the part of) its value given."""
    key = message.key_of(value)
    if key is None:
        raise ValueError(f"{message.name} has no key in {sorted(value)}")
    return key


@dataclass(frozen=True)
class CloudEvents:
    """Where this service's events come from, as CloudEvents say it (`ce_source`), and the
    reverse-DNS prefix of their `ce_type`s."""

    source: str = envelope.DEFAULT_SOURCE
    type_prefix: str = envelope.DEFAULT_TYPE_PREFIX

    def headers(
        self, *, event_type: str, event_id: str, subject: str, at: datetime | None
    ) -> dict[str, str]:
        """The CloudEvents attributes of an event (Kafka binding, binary content mode: the
        value stays the event's JSON as it is); none for a type that is not an event."""
        constant = _constant_attributes(self, event_type)
        if constant is None:
            return {}
        headers = {**constant, envelope.CE_ID: event_id, envelope.CE_SUBJECT: subject}
        if at is not None:
            headers[envelope.CE_TIME] = isoformat(at)
        return headers


@cache
def _constant_attributes(cloud_events: CloudEvents, event_type: str) -> dict[str, str] | None:
    """The attributes every event of a type shares (made once: the relay sends many)."""
    message = envelope.EVENTS.get(event_type)
    if message is None:
        return None
    return message.cloud_event_attributes(cloud_events.source, cloud_events.type_prefix)


def user_created(
    user: User,
    *,
    topic: str,
    event_id: str,
    at: datetime,
    payload: bytes,
    command_id: str | None = None,
) -> OutboxMessage:
    """USER_CREATED for a newly stored user, keyed by the user id; a user created by a
    command carries its `commandId` in a header (the value keeps its shape)."""
    message = envelope.USER_CREATED_MESSAGE
    return OutboxMessage(
        event_id=event_id,
        event_type=USER_CREATED,
        aggregate_type=USER_AGGREGATE,
        aggregate_id=user.id,
        topic=topic,
        key=_key(message, {"data": {"id": user.id}}),
        payload=payload,
        headers=message.headers(event_id, command_id),
        created_at=at,
    )


def user_create_rejected(
    *, topic: str, event_id: str, at: datetime, payload: bytes, command_id: str | None
) -> OutboxMessage:
    """USER_CREATE_REJECTED, keyed by the command id, so every outcome of one command keeps
    its order (by the event id when the command had no usable id)."""
    message = envelope.USER_CREATE_REJECTED_MESSAGE
    key = _key(message, {"commandId": command_id, "eventId": event_id})
    return OutboxMessage(
        event_id=event_id,
        event_type=USER_CREATE_REJECTED,
        aggregate_type=COMMAND_AGGREGATE,
        aggregate_id=key,
        topic=topic,
        key=key,
        payload=payload,
        headers=message.headers(event_id, command_id),
        created_at=at,
    )


@dataclass(frozen=True)
class Rejection:
    """A command refused: why (`code`, and the bad `fields` for `invalid`), and the email
    it named, normalized (None when it named none)."""

    event_id: str
    at: datetime
    command_id: str | None
    code: str
    fields: dict[str, str] | None = None
    email: str | None = None

    @property
    def reason(self) -> dict[str, Any]:
        """`{"code": …}`, with `"fields"` naming each bad field when there are any."""
        reason: dict[str, Any] = {"code": self.code}
        if self.fields:
            reason["fields"] = dict(self.fields)
        return reason
