"""The messages as Faust Records (needs the `faust` extra).

Generated from their definitions (`users_service_events.values`) by
`python -m users_service.contracts.generate`: edit those, not this file.

`include_metadata=False` keeps Faust's `__faust` type tag out of the JSON, so consumers
that are not Faust read plain JSON. A Record reads a value with fields it does not declare
(a later minor version's) and keeps them as attributes: an added optional field never
breaks a consumer on an older version of this package.
"""

from __future__ import annotations

from typing import Any, Optional

import faust


class UserCreatedData(faust.Record, include_metadata=False, serializer="json"):
    """The public view of a user: never the password or its hash."""

    id: str
    nombre: str
    email: str
    createdAt: str


class UserCreated(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.created` message; the key is `data.id`."""

    eventType: str
    eventId: str
    timestamp: str
    data: UserCreatedData


class UserCreateRejected(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.create.rejected` message; the key is the command id.

    `reason` is `{"code": "invalid", "fields": {name: problem}}` or `{"code":
    "duplicate_email"}`; `email` is the normalized email when one was given.
    """

    eventType: str
    eventId: str
    timestamp: str
    commandId: Optional[str]  # noqa: UP045 - Faust reads the annotation at runtime
    reason: dict[str, Any]
    email: Optional[str] = None  # noqa: UP045 - Faust reads the annotation at runtime


class CreateUser(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.create` message: create this user, once per `commandId`.

    A Faust producer can send `CreateUser(...)`; any producer can send the same JSON. One of
    the two: a bcrypt `passwordHash` the producer made (cost at least the service's
    BCRYPT_ROUNDS), so no plaintext password rests on the topic; or the `password`, where
    the service accepts it (COMMANDS_ACCEPT_PLAINTEXT_PASSWORD).
    """

    commandId: str
    nombre: str
    email: str
    passwordHash: Optional[str] = None  # noqa: UP045 - Faust reads the annotation at runtime
    password: Optional[str] = None  # noqa: UP045 - Faust reads the annotation at runtime
    requestedAt: Optional[str] = None  # noqa: UP045 - Faust reads the annotation at runtime


class UserDeletedData(faust.Record, include_metadata=False, serializer="json"):
    """Who was erased: the id only, never a name or an email."""

    id: str


class UserDeleted(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.deleted` message; the key is `data.id`. The user was erased (GDPR Art.
    17): forget everything derived from its USER_CREATED.
    """

    eventType: str
    eventId: str
    timestamp: str
    data: UserDeletedData


class EraseUser(faust.Record, include_metadata=False, serializer="json"):
    """Value of a `user.erase` message: erase this user, once per `commandId`."""

    commandId: str
    userId: str


def field_names(record: type[faust.Record]) -> frozenset[str]:
    """The JSON keys a Record declares."""
    return frozenset(record._options.fields)
