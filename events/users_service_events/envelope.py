"""Each message, defined once: its value (`values`), its key, its headers, its CloudEvents
attributes, its topic and the setting that renames it.

Standard library only, so any consumer (Faust or not) can read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from users_service_events import values
from users_service_events.values import Shape

USER_CREATED = "USER_CREATED"
USER_CREATE_REJECTED = "USER_CREATE_REJECTED"
USER_DELETED = "USER_DELETED"

# The service's own headers (UTF-8 strings), on every event since the first release.
EVENT_TYPE_HEADER = "eventType"
EVENT_ID_HEADER = "eventId"
# On an event that answers a command (user.created from a command, user.create.rejected).
COMMAND_ID_HEADER = "commandId"

# CloudEvents 1.0, Kafka protocol binding, binary content mode: the attributes are headers
# named `ce_<attribute>`, the value is the event's data as it always was.
CE_SPECVERSION = "ce_specversion"
CE_ID = "ce_id"
CE_SOURCE = "ce_source"
CE_TYPE = "ce_type"
CE_TIME = "ce_time"
CE_SUBJECT = "ce_subject"
CE_DATASCHEMA = "ce_dataschema"
CONTENT_TYPE = "content-type"
SPECVERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"

# Defaults of the service's CLOUDEVENTS_TYPE_PREFIX and CLOUDEVENTS_SOURCE settings.
DEFAULT_TYPE_PREFIX = "com.example.users"
DEFAULT_SOURCE = "urn:com.example.users:users-service"


@dataclass(frozen=True)
class Message:
    """One kind of message: where it goes (and the service's setting that names its topic),
    what it is called, its value, its key, its current schema version and the
    compatibility its topic promises between versions.

    `version` counts the schema's released revisions, each compatible with every earlier
    one as `compatibility` says. `major` is part of the event type's name and never
    changes: a change that breaks compatibility is a new event type (`…v2`) on a new topic.
    """

    name: str  # the default topic, and the schema's name (schemas/<name>.json)
    event_type: str | None  # the `eventType` field and header; None for a command
    version: int
    compatibility: str  # FULL_TRANSITIVE, BACKWARD_TRANSITIVE (as in schema registries)
    key: str  # what the key is (UTF-8)
    topic_setting: str  # the service's environment variable naming the topic
    value: Shape
    # Where the key is in the value: the first of these (dotted) paths that is set.
    key_from: tuple[str, ...] = ()
    major: int = 1

    def key_of(self, value: Mapping[str, Any]) -> str | None:
        """The key a message with this `value` is sent with (None: the producer's choice)."""
        for path in self.key_from:
            found: Any = value
            for step in path.split("."):
                found = found.get(step) if isinstance(found, Mapping) else None
            if found:
                return str(found)
        return None

    def headers(self, event_id: str, command_id: str | None = None) -> dict[str, str]:
        """The service's own headers of an event: its type and id; an answer to a command,
        the command's id too."""
        if self.event_type is None:
            raise ValueError(f"{self.name} is a command: the service sends it no headers")
        headers = {EVENT_TYPE_HEADER: self.event_type, EVENT_ID_HEADER: event_id}
        if command_id:
            headers[COMMAND_ID_HEADER] = command_id
        return headers

    def cloud_event_attributes(self, source: str, type_prefix: str) -> dict[str, str]:
        """The CloudEvents attributes every event of this kind shares (the per-event ones,
        `ce_id`, `ce_subject` and `ce_time`, are the event's id, key and timestamp)."""
        return {
            CE_SPECVERSION: SPECVERSION,
            CE_SOURCE: source,
            CE_TYPE: self.ce_type(type_prefix),
            CE_DATASCHEMA: self.dataschema,
            CONTENT_TYPE: DATA_CONTENT_TYPE,
        }

    def ce_type(self, prefix: str = DEFAULT_TYPE_PREFIX) -> str:
        """`com.example.users.user.created.v1`: what a consumer routes on."""
        return f"{prefix}.{self.name}.v{self.major}"

    @property
    def dataschema(self) -> str:
        """The schema's `$id`, sent as `ce_dataschema`: `schemas.by_id()` finds it."""
        return f"urn:users-service-events:schema:{self.name}:v{self.version}"


# A consumer on any released version reads every new event, and a new consumer reads every
# old one: events are kept on the topic and replayed.
USER_CREATED_MESSAGE = Message(
    "user.created",
    USER_CREATED,
    1,
    "FULL_TRANSITIVE",
    "the user id",
    "KAFKA_USER_CREATED_TOPIC",
    values.USER_CREATED,
    key_from=("data.id",),
)
# Keyed by the command id, so every outcome of one command keeps its order (by the event
# id when the command had no usable id).
USER_CREATE_REJECTED_MESSAGE = Message(
    "user.create.rejected",
    USER_CREATE_REJECTED,
    1,
    "FULL_TRANSITIVE",
    "the command id (the event id when the command had none)",
    "KAFKA_USER_CREATE_REJECTED_TOPIC",
    values.USER_CREATE_REJECTED,
    key_from=("commandId", "eventId"),
)
# The service reads every command any released version allowed; producers upgrade at will.
CREATE_USER_MESSAGE = Message(
    "user.create",
    None,
    1,
    "BACKWARD_TRANSITIVE",
    "optional",
    "KAFKA_USER_CREATE_TOPIC",
    values.CREATE_USER,
)

# Published when a user is erased (GDPR Art. 17): the user id, nothing personal. Keyed
# like its USER_CREATED, so a consumer reads the two of one user in order.
USER_DELETED_MESSAGE = Message(
    "user.deleted",
    USER_DELETED,
    1,
    "FULL_TRANSITIVE",
    "the user id",
    "KAFKA_USER_DELETED_TOPIC",
    values.USER_DELETED,
    key_from=("data.id",),
)
# Erase a user, once per command id (the HTTP API's DELETE, for services without HTTP).
ERASE_USER_MESSAGE = Message(
    "user.erase",
    None,
    1,
    "BACKWARD_TRANSITIVE",
    "optional",
    "KAFKA_USER_ERASE_TOPIC",
    values.ERASE_USER,
)

MESSAGES = {
    m.name: m
    for m in (
        USER_CREATED_MESSAGE,
        USER_CREATE_REJECTED_MESSAGE,
        CREATE_USER_MESSAGE,
        USER_DELETED_MESSAGE,
        ERASE_USER_MESSAGE,
    )
}
EVENTS = {m.event_type: m for m in MESSAGES.values() if m.event_type is not None}
