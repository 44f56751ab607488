"""Commands that arrive on Kafka: the CreateUser envelope and the outcomes of handling it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

COMMAND_FIELDS = {"commandId", "requestedAt"}

Outcome = Literal["created", "rejected"]


@dataclass(frozen=True)
class CommandOutcome:
    """What handling a command produced. `duplicate` means it had been handled before and
    nothing new was written: the first outcome stands."""

    command_id: str | None
    outcome: Outcome
    user_id: str | None = None
    code: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class CreateUserCommand:
    """A decoded CreateUser: the envelope checked, the registration fields still raw."""

    command_id: str | None
    registration: dict[str, Any]
    problems: dict[str, str]

    @property
    def email_hint(self) -> str | None:
        """The email as sent, for the rejection event and for ordering within a batch."""
        email = self.registration.get("email")
        return email.strip().lower() if isinstance(email, str) else None


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def parse_create_user(body: Mapping[str, Any]) -> CreateUserCommand:
    """Split a JSON object into the command envelope and the registration fields."""
    problems: dict[str, str] = {}
    command_id = body.get("commandId")
    if "commandId" not in body:
        problems["commandId"] = "is required"
        command_id = None
    elif not _is_uuid(command_id):
        problems["commandId"] = "must be a UUID string"
        command_id = None
    requested_at = body.get("requestedAt")
    if requested_at is not None:
        try:
            datetime.fromisoformat(str(requested_at).replace("Z", "+00:00"))
            if not isinstance(requested_at, str):
                raise ValueError
        except ValueError:
            problems["requestedAt"] = "must be an ISO 8601 timestamp"
    registration = {k: v for k, v in body.items() if k not in COMMAND_FIELDS}
    return CreateUserCommand(command_id, registration, problems)
