"""The service's Kafka topics, each declared here once, from its setting: the wiring creates
them at start (TopicsService), the agents consume them.

Raw keys and values everywhere: the agents decode what they read themselves (a poison
message must be parked, not crash the stream), and the producers send bytes encoded once,
by the Records, when the message was stored. `user.created` is created with the retention
erasure promises (KAFKA_USER_CREATED_RETENTION, docs/erasure.md): its events hold names and
emails.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TopicT
from users_service_events.envelope import (
    CREATE_USER_MESSAGE,
    ERASE_USER_MESSAGE,
    USER_CREATE_REJECTED_MESSAGE,
    USER_CREATED_MESSAGE,
    USER_DELETED_MESSAGE,
)

from streamapp.settings import Settings

# Not a message of the contract (the events package): what parking keeps of a command.
DEAD_LETTER_SETTING = "KAFKA_USER_CREATE_DLQ_TOPIC"


@dataclass(frozen=True)
class Topics:
    """Every topic the service reads or writes, by what flows on it."""

    user_created: TopicT
    user_create: TopicT
    user_create_rejected: TopicT
    user_create_dlq: TopicT
    user_deleted: TopicT
    user_erase: TopicT

    def __iter__(self) -> Iterator[TopicT]:
        return iter(
            (
                self.user_created,
                self.user_create,
                self.user_create_rejected,
                self.user_create_dlq,
                self.user_deleted,
                self.user_erase,
            )
        )


def topic_names(settings: Settings) -> dict[str, str]:
    """Each topic's name by the environment variable that sets it (the definition's
    `topic_setting`): the one mapping of a message to its settings field."""
    return {
        USER_CREATED_MESSAGE.topic_setting: settings.kafka.user_created_topic,
        CREATE_USER_MESSAGE.topic_setting: settings.kafka.user_create_topic,
        USER_CREATE_REJECTED_MESSAGE.topic_setting: settings.kafka.user_create_rejected_topic,
        DEAD_LETTER_SETTING: settings.kafka.user_create_dlq_topic,
        USER_DELETED_MESSAGE.topic_setting: settings.kafka.user_deleted_topic,
        ERASE_USER_MESSAGE.topic_setting: settings.kafka.user_erase_topic,
    }


def topic_configs(settings: Settings) -> dict[str, Mapping[str, Any]]:
    """The topic settings given at creation, by the setting naming the topic: user.created
    keeps its events (names, emails) for KAFKA_USER_CREATED_RETENTION only."""
    retention_ms = round(settings.kafka.user_created_retention * 1000)
    return {USER_CREATED_MESSAGE.topic_setting: {"retention.ms": str(retention_ms)}}


def declare(app: faust.App, settings: Settings) -> Topics:
    """The service's topics on `app`, as `settings` name and size them (nothing connects)."""
    names, configs = topic_names(settings), topic_configs(settings)

    def topic(setting: str) -> TopicT:
        return app.topic(
            names[setting],
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.kafka.partitions,
            replicas=settings.kafka.replication_factor,
            config=configs.get(setting),
        )

    return Topics(
        user_created=topic(USER_CREATED_MESSAGE.topic_setting),
        user_create=topic(CREATE_USER_MESSAGE.topic_setting),
        user_create_rejected=topic(USER_CREATE_REJECTED_MESSAGE.topic_setting),
        user_create_dlq=topic(DEAD_LETTER_SETTING),
        user_deleted=topic(USER_DELETED_MESSAGE.topic_setting),
        user_erase=topic(ERASE_USER_MESSAGE.topic_setting),
    )
