"""Events this service publishes: the Records are the events package's
(`users_service_events`, the distribution other teams install), generated there from each
message's one definition (`users_service_events.values`, `.envelope`) and re-exported here.

The service encodes every event through these Records when it writes it to the outbox
(`RecordEncoder`), and the verifier checks published messages against the shape derived
from them (`USER_CREATED_SHAPE`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from users_service_events.records import (
    UserCreated,
    UserCreatedData,
    UserCreateRejected,
    UserDeleted,
    UserDeletedData,
    field_names,
)

from users_service.domain.clock import isoformat
from users_service.domain.model import (
    USER_CREATE_REJECTED,
    USER_CREATED,
    USER_DELETED,
    Rejection,
    User,
)
from users_service.domain.verification import EventShape

__all__ = [
    "USER_CREATED_SHAPE",
    "RecordEncoder",
    "UserCreateRejected",
    "UserCreated",
    "UserCreatedData",
    "UserDeleted",
    "UserDeletedData",
    "field_names",
]

USER_CREATED_SHAPE = EventShape(
    event_type=USER_CREATED,
    fields=field_names(UserCreated),
    data_fields=field_names(UserCreatedData),
)


class RecordEncoder:
    """The service layer's EventEncoder and ErasureEncoder: each value serialized by its
    Record."""

    def user_created(self, user: User, *, event_id: str, at: datetime) -> bytes:
        public: dict[str, Any] = user.public()  # the fields of the one definition of a user
        return UserCreated(
            eventType=USER_CREATED,
            eventId=event_id,
            timestamp=isoformat(at),
            data=UserCreatedData(**public),
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

    def user_deleted(self, user_id: str, *, event_id: str, at: datetime) -> bytes:
        return UserDeleted(
            eventType=USER_DELETED,
            eventId=event_id,
            timestamp=isoformat(at),
            data=UserDeletedData(id=user_id),
        ).dumps()
