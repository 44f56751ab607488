"""USER_DELETED, the event of an erasure: the events package's Record, re-exported, and its
encoder (the service layer's DeletionEncoder)."""

from __future__ import annotations

from datetime import datetime

from users_service_events.envelope import USER_DELETED
from users_service_events.records import UserDeleted, UserDeletedData

from users_service.domain.clock import isoformat

__all__ = ["DeletionRecordEncoder", "UserDeleted", "UserDeletedData"]


class DeletionRecordEncoder:
    """USER_DELETED serialized by its Record: the user id, nothing personal."""

    def user_deleted(self, user_id: str, *, event_id: str, at: datetime) -> bytes:
        return UserDeleted(
            eventType=USER_DELETED,
            eventId=event_id,
            timestamp=isoformat(at),
            data=UserDeletedData(id=user_id),
        ).dumps()
