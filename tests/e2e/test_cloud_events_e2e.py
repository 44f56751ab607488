"""The events on the real broker, read as CloudEvents (Kafka binding, binary content mode)
by the CloudEvents SDK: the attributes in `ce_` headers, the value the event's JSON, byte
for byte what the service's Record writes; and by kafkajs, as a Node.js team reads them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from users_service_events import schemas

from models.events import RecordEncoder
from tests.support.asyncapi import assert_conforms
from tests.support.kafka import Consumed, produce, read_topic
from tests.support.kafkajs_reader import read_with_kafkajs
from tests.support.worker import Worker
from users_service.domain.model import User

SOURCE = "urn:test:users-service"


def as_cloud_event(message: Consumed) -> BaseCloudEvent:
    return from_binary(KafkaMessage(message.headers, message.key, message.value), JSONFormat())


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_published_events_are_cloud_events(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    env = {**worker_env, "CLOUDEVENTS_SOURCE": SOURCE, "CLOUDEVENTS_TYPE_PREFIX": "org.test.users"}
    worker = Worker(env, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    status, user, _ = await worker.post_user(
        {"nombre": "Zoë", "email": "zoe@example.com", "password": "correct-horse"}
    )
    assert status == 201
    command_id = str(uuid.uuid4())
    invalid = {"commandId": command_id, "nombre": "", "email": "nope", "password": "x"}
    await produce(worker_env["KAFKA_USER_CREATE_TOPIC"], json.dumps(invalid).encode())

    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    event = as_cloud_event(created)
    value = json.loads(created.value)
    assert event.get_specversion() == "1.0"
    assert event.get_id() == value["eventId"] == created.headers["eventId"].decode()
    assert event.get_type() == "org.test.users.user.created.v1"
    assert event.get_source() == SOURCE
    assert event.get_subject() == user["id"] == (created.key or b"").decode()
    assert event.get_time() == parse_time(value["timestamp"])
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == value and value["data"] == user
    assert schemas.by_id(str(event.get_dataschema())) == schemas.load("user.created")
    # The value is what the Record writes, byte for byte, as before CloudEvents.
    stored = User(
        user["id"], user["nombre"], user["email"], parse_time(user["createdAt"]), "unused"
    )
    expected = RecordEncoder().user_created(
        stored, event_id=value["eventId"], at=parse_time(value["timestamp"])
    )
    assert created.value == expected
    assert_conforms(created, "UserCreated")

    [rejected] = await read_topic(
        worker_env["KAFKA_USER_CREATE_REJECTED_TOPIC"], expect=1, timeout=30
    )
    event = as_cloud_event(rejected)
    value = json.loads(rejected.value)
    assert event.get_id() == value["eventId"]
    assert event.get_type() == "org.test.users.user.create.rejected.v1"
    assert event.get_source() == SOURCE
    assert event.get_subject() == command_id
    assert event.get_time() == parse_time(value["timestamp"])
    assert event.get_data() == value and value["commandId"] == command_id
    assert schemas.by_id(str(event.get_dataschema())) == schemas.load("user.create.rejected")
    assert_conforms(rejected, "UserCreateRejected")

    # A Node.js consumer on kafkajs reads the same bytes, key and headers, and its
    # JSON.parse the same event.
    [node] = read_with_kafkajs(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1)
    assert node.value == created.value
    assert node.key == user["id"]
    assert node.headers == {k: v.decode() for k, v in created.headers.items()}
    assert node.parsed == json.loads(created.value)
