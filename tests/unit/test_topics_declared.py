"""Each topic is declared in one place (streamapp.topics), named by the setting its
message's definition names: the wiring creates what it declares, the agents consume it."""

from __future__ import annotations

from typing import Any

import pytest
from users_service_events.envelope import MESSAGES

from agents.commands import create_user_topic
from agents.erasure import erase_user_topic
from agents.verifier import user_created_topic
from streamapp import topics
from streamapp.app import app
from streamapp.settings import load_settings


@pytest.mark.parametrize(
    "setting", [*(m.topic_setting for m in MESSAGES.values()), topics.DEAD_LETTER_SETTING]
)
def test_each_topic_is_named_by_the_setting_its_definition_names(setting: str) -> None:
    settings = load_settings({setting: "renamed.topic"}, dotenv=None)
    names = topics.topic_names(settings)
    assert names[setting] == "renamed.topic"
    assert sorted(names.values()).count("renamed.topic") == 1
    declared = [t.get_topic_name() for t in topics.declare(app, settings)]
    assert sorted(declared) == sorted(names.values())


def test_the_defaults_are_the_messages_names() -> None:
    names = topics.topic_names(load_settings({}, dotenv=None))
    for message in MESSAGES.values():
        assert names[message.topic_setting] == message.name


def test_the_agents_read_the_declared_topics_raw() -> None:
    declared = topics.declare(app, app.settings)
    for agent_topic, topic in (
        (create_user_topic, declared.user_create),
        (user_created_topic, declared.user_created),
        (erase_user_topic, declared.user_erase),
    ):
        read: Any = agent_topic
        assert read.get_topic_name() == topic.get_topic_name()
        assert read.key_serializer == read.value_serializer == "raw"
        assert read.partitions == app.settings.kafka.partitions


def test_only_user_created_is_created_with_a_retention_of_its_own() -> None:
    settings = load_settings({"KAFKA_USER_CREATED_RETENTION": "3600"}, dotenv=None)
    declared = topics.declare(app, settings)
    assert declared.user_created.config == {"retention.ms": "3600000"}
    assert [t.get_topic_name() for t in declared if t.config] == [settings.kafka.user_created_topic]
