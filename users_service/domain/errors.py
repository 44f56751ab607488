"""Errors the service layer raises; the edges (HTTP, Kafka) translate them."""

from __future__ import annotations

from collections.abc import Mapping


class UsersError(Exception):
    """Base of the service layer's expected failures."""

    code = "error"


class InvalidInput(UsersError):
    """The request is well-formed JSON but a field is missing or invalid."""

    code = "invalid"

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        names = ", ".join(sorted(self.fields))
        super().__init__(f"invalid fields: {names}")


class EmailAlreadyRegistered(UsersError):
    """A user with this email (compared case-insensitively) already exists."""

    code = "duplicate_email"

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__("a user with this email already exists")


class CommandAlreadyHandled(UsersError):
    """Another delivery of this command was recorded first (a concurrent redelivery)."""

    code = "duplicate_command"


class IdempotencyKeyReused(UsersError):
    """The Idempotency-Key was first used with a different request body."""

    code = "idempotency_key_reused"


class IdempotencyKeyTaken(UsersError):
    """A concurrent request stored this Idempotency-Key first."""

    code = "idempotency_key_taken"


class StorageUnavailable(UsersError):
    """The database cannot be reached; nothing was written."""

    code = "database_unavailable"


class Overloaded(UsersError):
    """Too many requests are waiting for bcrypt already; this one was not started."""

    code = "overloaded"


class OutcomeUnknown(StorageUnavailable):
    """The connection broke while a transaction committed, and the database could not be
    asked since: the writes may or may not have happened. Retrying is safe only where the
    request is idempotent (an Idempotency-Key, a command id)."""

    code = "outcome_unknown"
