"""What surrounds each message's value: its key, its headers, its CloudEvents attributes.

Standard library only, so any consumer (Faust or not) can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """One kind of message: where it goes, what it is called, its current schema version
    and the compatibility its topic promises between versions.

    `version` counts the schema's released revisions, each compatible with every earlier
    one as `compatibility` says. `major` is part of the event type's name and never
    changes: a change that breaks compatibility is a new event type (`…v2`) on a new topic.
    """

    name: str  # the default topic, and the schema's name (schemas/<name>.json)
    event_type: str | None  # the `eventType` field and header; None for a command
    version: int
    compatibility: str  # FULL_TRANSITIVE, BACKWARD_TRANSITIVE (as in schema registries)
    key: str  # what the key is (UTF-8)
    major: int = 1

    def ce_type(self, prefix: str = DEFAULT_TYPE_PREFIX) -> str:
        """`com.example.users.user.created.v1`: what a consumer routes on."""
        return f"{prefix}.{self.name}.v{self.major}"

    @property
    def dataschema(self) -> str:
        """The schema's `$id`, sent as `ce_dataschema`: `schemas.by_id()` finds it."""
        return f"urn:users-service-events:schema:{self.name}:v{self.version}"


# A consumer on any released version reads every new event, and a new consumer reads every
# old one: events are kept on the topic and replayed.
USER_CREATED_MESSAGE = Message("user.created", USER_CREATED, 1, "FULL_TRANSITIVE", "user id")
USER_CREATE_REJECTED_MESSAGE = Message(
    "user.create.rejected", USER_CREATE_REJECTED, 1, "FULL_TRANSITIVE", "command id"
)
# Published when a user is erased (GDPR Art. 17): the user id, nothing personal.
# Consumers delete what they derived from the user's USER_CREATED.
USER_DELETED_MESSAGE = Message("user.deleted", USER_DELETED, 1, "FULL_TRANSITIVE", "user id")
# The service reads every command any released version allowed; producers upgrade at will.
CREATE_USER_MESSAGE = Message("user.create", None, 1, "BACKWARD_TRANSITIVE", "optional")

MESSAGES = {
    m.name: m
    for m in (
        USER_CREATED_MESSAGE,
        USER_CREATE_REJECTED_MESSAGE,
        CREATE_USER_MESSAGE,
        USER_DELETED_MESSAGE,
    )
}
EVENTS = {m.event_type: m for m in MESSAGES.values() if m.event_type is not None}
