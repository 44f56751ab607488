"""Outbox messages as the service writes them: envelope from the domain, value from the Record."""

from __future__ import annotations

from models.events import RecordEncoder
from users_service.domain.model import OutboxMessage, User, new_id, user_created


def user_created_message(user: User, topic: str = "user.created") -> OutboxMessage:
    """USER_CREATED for `user`, with a fresh event id, encoded as the service encodes it."""
    event_id = new_id()
    payload = RecordEncoder().user_created(user, event_id=event_id, at=user.created_at)
    return user_created(user, topic=topic, event_id=event_id, at=user.created_at, payload=payload)
