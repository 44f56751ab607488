"""Commands other services send us, as typed Faust Records (the wire contract)."""

from __future__ import annotations

from typing import Optional

import faust


class CreateUser(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.create` message: create this user, once per `commandId`.

    A Faust producer can send `CreateUser(...)`; any producer can send the same JSON.
    """

    commandId: str
    nombre: str
    email: str
    # One of the two: a bcrypt hash the producer made (cost at least BCRYPT_ROUNDS), so no
    # plaintext password rests on the topic; or the password, where the service accepts it
    # (COMMANDS_ACCEPT_PLAINTEXT_PASSWORD).
    passwordHash: Optional[str] = None  # noqa: UP045 - Faust reads the annotation at runtime
    password: Optional[str] = None  # noqa: UP045
    requestedAt: Optional[str] = None  # noqa: UP045
