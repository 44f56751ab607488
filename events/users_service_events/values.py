"""The fields of each message's value, each with its JSON Schema and its Python type: the one
definition the JSON Schemas (`schemas.generate`), the Faust Records (`records`, generated
source) and the service's public view of a user are made from.

Standard library only, so any consumer (Faust or not) can read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A JSON Schema as nested mappings (frozen in spirit: nothing here mutates one).
Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Field:
    """One JSON key of a value: its schema (a nested object's Shape), its Python type as a
    Faust Record annotates it (a nested object's is its Shape's Record), and whether it may
    be left out (`optional`: a Record's default is None)."""

    name: str
    schema: Schema | Shape
    python: str = ""
    optional: bool = False

    @property
    def annotation(self) -> str:
        """The Record's annotation of this field."""
        return self.schema.title if isinstance(self.schema, Shape) else self.python


@dataclass(frozen=True)
class Shape:
    """A JSON object: its fields in wire order (the order a Record serializes them).

    `always_present`: every field is written, a default too (an event), so every field is
    required; else only those that are not optional (a command). `closed`: no other key
    is allowed (`additionalProperties: false`); an event's is open, so that a later version
    may add an optional field.
    """

    title: str  # the schema's title, the Record's name
    fields: tuple[Field, ...]
    doc: str = ""  # the Record's docstring
    always_present: bool = True
    closed: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The JSON keys, in wire order."""
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        """The keys every value carries."""
        return tuple(f.name for f in self.fields if self.always_present or not f.optional)

    def schema(self) -> dict[str, Any]:
        """This object's JSON Schema (Draft 2020-12), without `$id`/`$schema`/`title`."""
        schema: dict[str, Any] = {"type": "object"}
        if self.closed:
            schema["additionalProperties"] = False
        schema["required"] = list(self.required)
        schema["properties"] = {f.name: _plain(f.schema) for f in self.fields}
        return schema


def _plain(node: Any) -> Any:
    """`node` as JSON values (dicts, lists), a nested Shape as its schema."""
    if isinstance(node, Shape):
        return node.schema()
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


_UUID: Schema = {"type": "string", "format": "uuid"}
_TIME: Schema = {"type": "string", "format": "date-time"}
# Faust reads each annotation at runtime, and faust-streaming 0.15 does not read `X | None`.
_OPTIONAL_STR = "Optional[str]"

USER = Shape(
    "UserCreatedData",
    (
        Field("id", _UUID, "str"),
        Field("nombre", {"type": "string", "minLength": 1}, "str"),
        Field("email", {"type": "string", "format": "email"}, "str"),
        Field("createdAt", _TIME, "str"),
    ),
    "The public view of a user: never the password or its hash.",
)
"""The `data` of user.created, and what the HTTP API answers for a user."""


def _event(event_type: str) -> tuple[Field, ...]:
    return (
        Field("eventType", {"const": event_type}, "str"),
        Field("eventId", _UUID, "str"),
        Field("timestamp", _TIME, "str"),
    )


USER_CREATED = Shape(
    "UserCreated",
    (*_event("USER_CREATED"), Field("data", USER)),
    "Value of a `user.created` message; the key is `data.id`.",
)

USER_CREATE_REJECTED = Shape(
    "UserCreateRejected",
    (
        *_event("USER_CREATE_REJECTED"),
        Field("commandId", {"type": ["string", "null"], "format": "uuid"}, _OPTIONAL_STR),
        Field(
            "reason",
            {
                "type": "object",
                "required": ["code"],
                "properties": {
                    "code": {"enum": ["invalid", "duplicate_email"]},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "dict[str, Any]",
        ),
        Field("email", {"type": ["string", "null"]}, _OPTIONAL_STR, optional=True),
    ),
    "Value of a `user.create.rejected` message; the key is the command id.\n\n"
    '`reason` is `{"code": "invalid", "fields": {name: problem}}` or '
    '`{"code": "duplicate_email"}`; `email` is the normalized email when one was given.',
)

CREATE_USER = Shape(
    "CreateUser",
    (
        Field("commandId", _UUID, "str"),
        Field("nombre", {"type": "string"}, "str"),
        Field("email", {"type": "string"}, "str"),
        Field(
            "passwordHash",
            {
                "type": "string",
                "pattern": r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$",
                "description": "A bcrypt hash of the password, made by the producer; its cost "
                "must be at least the service's BCRYPT_ROUNDS. Preferred: no plaintext "
                "password rests on the topic.",
            },
            _OPTIONAL_STR,
            optional=True,
        ),
        Field(
            "password",
            {
                "type": "string",
                "description": "The plaintext password; refused when "
                "COMMANDS_ACCEPT_PLAINTEXT_PASSWORD=false. Send exactly one of password and "
                "passwordHash.",
            },
            _OPTIONAL_STR,
            optional=True,
        ),
        Field(
            "requestedAt",
            {"type": ["string", "null"], "format": "date-time"},
            _OPTIONAL_STR,
            optional=True,
        ),
    ),
    "Value of a `user.create` message: create this user, once per `commandId`.\n\n"
    "A Faust producer can send `CreateUser(...)`; any producer can send the same JSON. One "
    "of the two: a bcrypt `passwordHash` the producer made (cost at least the service's "
    "BCRYPT_ROUNDS), so no plaintext password rests on the topic; or the `password`, where "
    "the service accepts it (COMMANDS_ACCEPT_PLAINTEXT_PASSWORD).",
    always_present=False,
    closed=True,
)

ERASED_USER = Shape(
    "UserDeletedData",
    (Field("id", _UUID, "str"),),
    "Who was erased: the id only, never a name or an email.",
)
"""The `data` of user.deleted."""

USER_DELETED = Shape(
    "UserDeleted",
    (*_event("USER_DELETED"), Field("data", ERASED_USER)),
    "Value of a `user.deleted` message; the key is `data.id`. The user was erased (GDPR Art. "
    "17): forget everything derived from its USER_CREATED.",
)

ERASE_USER = Shape(
    "EraseUser",
    (Field("commandId", _UUID, "str"), Field("userId", _UUID, "str")),
    "Value of a `user.erase` message: erase this user, once per `commandId`.",
    always_present=False,
)

# Every value with a Record, each after the ones it nests.
SHAPES = (
    USER,
    USER_CREATED,
    USER_CREATE_REJECTED,
    CREATE_USER,
    ERASED_USER,
    USER_DELETED,
    ERASE_USER,
)
