"""Outbox messages as the service writes them: envelope from the domain, value from the Record."""

from __future__ import annotations

from datetime import UTC, datetime

from models.events import RecordEncoder
from users_service.domain.model import OutboxMessage, User, new_id, user_created

ANA = User(
    "0190a0b0-0000-7000-8000-000000000001",
    "Ana",
    "ana@example.com",
    datetime(2026, 1, 1, tzinfo=UTC),
    "$2b$04$" + "a" * 53,
)


def user_created_message(user: User, topic: str = "user.created") -> OutboxMessage:
    """USER_CREATED for `user`, with a fresh event id, encoded as the service encodes it."""
    event_id = new_id()
    payload = RecordEncoder().user_created(user, event_id=event_id, at=user.created_at)
    return user_created(user, topic=topic, event_id=event_id, at=user.created_at, payload=payload)
