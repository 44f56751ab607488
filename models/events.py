"""Events this service publishes, as typed Faust Records: the one definition of their JSON.

`include_metadata=False` keeps Faust's `__faust` type tag out of the JSON: downstream
consumers that are not Faust read plain JSON. The service encodes every event through
these Records when it writes it to the outbox (`RecordEncoder`), the verifier checks
published messages against the shape derived from them (`USER_CREATED_SHAPE`), and a test
holds the AsyncAPI document to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import faust

from users_service.domain.clock import isoformat
from users_service.domain.model import USER_CREATE_REJECTED, USER_CREATED, Rejection, User
from users_service.domain.verification import EventShape


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


def field_names(record: type[faust.Record]) -> frozenset[str]:
    """The JSON keys of a Record's value."""
    return frozenset(record._options.fields)


USER_CREATED_SHAPE = EventShape(
    event_type=USER_CREATED,
    fields=field_names(UserCreated),
    data_fields=field_names(UserCreatedData),
)


class RecordEncoder:
    """The service layer's EventEncoder: each value serialized by its Record."""

    def user_created(self, user: User, *, event_id: str, at: datetime) -> bytes:
        return UserCreated(
            eventType=USER_CREATED,
            eventId=event_id,
            timestamp=isoformat(at),
            data=UserCreatedData(
                id=user.id,
                nombre=user.nombre,
                email=user.email,
                createdAt=isoformat(user.created_at),
            ),
        ).dumps()

    def user_create_rejected(self, rejection: Rejection) -> bytes:
        return UserCreateRejected(
            eventType=USER_CREATE_REJECTED,
            eventId=rejection.event_id,
            timestamp=isoformat(rejection.at),
            commandId=rejection.command_id,
            reason=rejection.reason,
            email=rejection.email,
        ).dumps()
