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
    password: str
    requestedAt: Optional[str] = None  # noqa: UP045 - Faust reads the annotation at runtime
