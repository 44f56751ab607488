"""Commands that arrive on Kafka: the CreateUser envelope and the outcomes of handling it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from users_service.domain.clock import is_iso8601
from users_service.domain.model import is_uuid_text
from users_service.domain.patterns import linear
from users_service.domain.validation import normalize_email

# The envelope's own fields; the rest of a command is the registration.
COMMAND_FIELDS = frozenset({"commandId", "requestedAt"})

CommandResult = Literal["created", "rejected"]


@dataclass(frozen=True)
class CommandOutcome:
    """What handling a command produced. `duplicate` means it had been handled before and
    nothing new was written: the first outcome stands."""

    command_id: str | None
    result: CommandResult
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
        """The email as sent, normalized, for the rejection event and for ordering."""
        email = self.registration.get("email")
        return normalize_email(email) if isinstance(email, str) else None


def parse_create_user(body: Mapping[str, Any]) -> CreateUserCommand:
    """Split a JSON object into the command envelope and the registration fields."""
    problems: dict[str, str] = {}
    command_id = body.get("commandId")
    if "commandId" not in body:
        problems["commandId"] = "is required"
        command_id = None
    elif not is_uuid_text(command_id):
        # Only the stored form: braces or `urn:uuid:` would not fit the id column, and a
        # normalised id would not be the one the producer correlates its answer with.
        problems["commandId"] = (
            "must be a UUID in its 36-character form (8-4-4-4-12 hex digits, no braces "
            "or urn:uuid: prefix)"
        )
        command_id = None
    requested_at = body.get("requestedAt")
    if requested_at is not None and not is_iso8601(requested_at):
        problems["requestedAt"] = "must be an ISO 8601 timestamp"
    registration = {k: v for k, v in body.items() if k not in COMMAND_FIELDS}
    return CreateUserCommand(command_id, registration, problems)


@dataclass(frozen=True)
class Poison:
    """Why a message cannot be handled at all: `reason` is a code, `detail` says more."""

    reason: str
    detail: str


def decode_json_object(value: bytes | None, max_bytes: int) -> dict[str, Any] | Poison:
    """The JSON object in `value`, or why there is none."""
    if value is None:
        return Poison("empty", "the message has no value")
    if len(value) > max_bytes:
        return Poison("too_large", f"{len(value)} bytes, more than the {max_bytes} allowed")
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        return Poison("not_json", str(exc)[:200])
    except RecursionError:
        # About 1 KB of `[[[[…` is enough; it must be poison, not a crash of the batch.
        return Poison("not_json", "nested too deeply")
    if not isinstance(body, dict):
        return Poison("not_an_object", f"a JSON {type(body).__name__}, not an object")
    return body


# A rejection names the bad fields; a command's keys are the producer's, so both their
# number and their length are bounded (the rejection is an event any producer must send).
MAX_NAMED_PROBLEMS = 32
PROBLEM_NAME_CHARS = 64
_FIELDS_FIRST = ("commandId", "requestedAt", "nombre", "email", "password", "passwordHash")


# A name a rejection repeats as sent: letters, digits, `_`, `.` and `-`. Anything else (a
# bcrypt hash, with its `$` and `/`, or a password typed as a key) is the producer's text
# and could be a secret: it is named by its position and length only.
_PLAIN_NAME = linear(r"[A-Za-z0-9_.-]+")


def _shown_name(name: str, position: int) -> str:
    if not _PLAIN_NAME.fullmatch(name):
        return f"<field {position}: {len(name)} characters>"
    return name if len(name) <= PROBLEM_NAME_CHARS else name[: PROBLEM_NAME_CHARS - 1] + "…"


def bounded_problems(problems: Mapping[str, str]) -> dict[str, str]:
    """At most MAX_NAMED_PROBLEMS of `problems` (the command's own fields first), each
    name cut to PROBLEM_NAME_CHARS (one that is not a plain name replaced by its position
    and length), and an entry saying how many more there were."""
    ordered = [name for name in _FIELDS_FIRST if name in problems]
    ordered += [name for name in problems if name not in _FIELDS_FIRST]
    bounded: dict[str, str] = {}
    for position, name in enumerate(ordered[:MAX_NAMED_PROBLEMS]):
        shown = _shown_name(name, position)
        bounded.setdefault(shown, problems[name][:200])
    if len(ordered) > MAX_NAMED_PROBLEMS:
        bounded["…"] = f"and {len(ordered) - MAX_NAMED_PROBLEMS} more fields with problems"
    return bounded
