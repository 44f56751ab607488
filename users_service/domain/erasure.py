"""Erasure (GDPR Art. 17): the EraseUser command, its outcome, and the USER_DELETED envelope.

What the service keeps of an erased user is the id and the time only (`Erasure`): enough
to say "erased" rather than "unknown", to skip the user in replays, never a name or email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from users_service_events import envelope
from users_service_events.envelope import USER_DELETED

from users_service.domain.commands import Poison
from users_service.domain.model import (
    USER_AGGREGATE,
    OutboxMessage,
    _key,
    is_uuid,
    is_uuid_text,
)

# "rejected": the command id was recorded by a command of another kind (a CreateUser's).
EraseResult = Literal["erased", "not_found", "rejected"]
# What the command log records for an erase command (processed_commands.outcome).
ERASED = "erased"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Erasure:
    """One erased user: its id and when it was erased, nothing else."""

    user_id: str
    erased_at: datetime


@dataclass(frozen=True)
class EraseOutcome:
    """What an erase command produced; `duplicate`: handled before, nothing new written."""

    command_id: str
    result: EraseResult
    user_id: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class EraseUserCommand:
    """A decoded EraseUser (`{"commandId", "userId"}`), both ids valid."""

    command_id: str
    user_id: str


def parse_erase_user(body: Mapping[str, Any]) -> EraseUserCommand | Poison:
    """The command in a JSON object: a canonical UUID for each of `commandId` and `userId`,
    or why it is not one (`invalid`, naming the fields: the command is parked)."""
    problems: dict[str, str] = {}
    command_id = body.get("commandId")
    if not is_uuid_text(command_id):
        problems["commandId"] = "must be a UUID in its 36-character form"
    user_id = body.get("userId")
    if not is_uuid(user_id, canonical=True):
        problems["userId"] = "must be a user id (a lower-case UUID)"
    if problems:
        return Poison("invalid", f"problems: {dict(sorted(problems.items()))}")
    return EraseUserCommand(str(command_id), str(user_id))


def user_deleted(
    user_id: str,
    *,
    topic: str,
    event_id: str,
    at: datetime,
    payload: bytes,
    command_id: str | None = None,
) -> OutboxMessage:
    """USER_DELETED for an erased user, keyed by the user id like its USER_CREATED; an
    erasure asked by a command carries its `commandId` in a header."""
    message = envelope.USER_DELETED_MESSAGE
    return OutboxMessage(
        event_id=event_id,
        event_type=USER_DELETED,
        aggregate_type=USER_AGGREGATE,
        aggregate_id=user_id,
        topic=topic,
        key=_key(message, {"data": {"id": user_id}}),
        payload=payload,
        headers=message.headers(event_id, command_id),
        created_at=at,
    )
