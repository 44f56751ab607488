"""Events this service publishes, as typed Faust Records.

`include_metadata=False` keeps Faust's `__faust` type tag out of the JSON: downstream
consumers that are not Faust read plain JSON.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import faust


class UserCreatedData(faust.Record, include_metadata=False, serializer="json"):
    """The public view of a user: never the password or its hash."""

    id: str
    nombre: str
    email: str
    createdAt: str


class UserCreated(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.created` message; the key is `data.id`."""

    eventType: str
    eventId: str
    timestamp: str
    data: UserCreatedData


class UserCreateRejected(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.create.rejected` message; the key is the command id.

    `reason` is `{"code": "invalid", "fields": {name: problem}}` or
    `{"code": "duplicate_email"}`; `email` is the normalized email when one was given.
    """

    eventType: str
    eventId: str
    timestamp: str
    commandId: Optional[str]  # noqa: UP045 - Faust reads the annotation at runtime
    reason: dict[str, Any]
    email: Optional[str] = None  # noqa: UP045


EVENT_RECORDS: dict[str, type[faust.Record]] = {
    "USER_CREATED": UserCreated,
    "USER_CREATE_REJECTED": UserCreateRejected,
}


def as_record(event_type: str, payload: str) -> faust.Record | None:
    """The typed Record for a stored JSON payload, or None for an event type without one."""
    record_type = EVENT_RECORDS.get(event_type)
    if record_type is None:
        return None
    return record_type.from_data(json.loads(payload))
