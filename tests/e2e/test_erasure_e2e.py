"""Erasure end to end, on the real broker and PostgreSQL (docs/erasure.md): a worker
erases a user created by HTTP and one created by command, announces each on
`user.deleted`, and leaves nothing of them in the database; with Kafka down, an erased
user's pending USER_CREATED is never published and its USER_DELETED waits for Kafka."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamapp import operator_commands as ops
from streamapp.settings import load_settings
from tests.support.asyncapi import assert_conforms
from tests.support.backlog import wait_published
from tests.support.erasure import person, traces_of
from tests.support.kafka import produce, read_topic
from tests.support.services import KAFKA, direct_url, kafka_script
from tests.support.waiting import eventually
from tests.support.worker import Worker
from users_service.domain.clock import utc_now


async def start(workers: list[Worker], env: dict[str, str], tmp_path: Path) -> Worker:
    worker = Worker(env, tmp_path, name=f"worker{len(workers)}")
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    return worker


async def topic_config(topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {
            entry["config_names"]: entry["config_value"]
            for response in responses
            for resource in response.to_object()["resources"]
            for entry in resource["config_entries"]
        }
    finally:
        await admin.close()


@pytest.fixture
def kafka_restored() -> Any:
    """Whatever the test does to the broker, it is running again afterwards."""
    yield
    kafka_script("up")


def output() -> tuple[ops.Output, list[str]]:
    lines: list[str] = []
    return ops.Output(as_json=True, write=lines.append), lines


async def test_erased_users_are_announced_and_nothing_of_them_is_left(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    worker = await start(workers, worker_env, tmp_path)
    by_http, by_command = person("http"), person("command")
    status, created, _ = await worker.post_user(
        by_http, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert status == 201
    command_id = str(uuid.uuid4())
    await produce(
        worker_env["KAFKA_USER_CREATE_TOPIC"],
        json.dumps({"commandId": command_id, **by_command}).encode(),
    )
    events = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=2, timeout=60)
    ids = {json.loads(m.value)["data"]["email"]: json.loads(m.value)["data"]["id"] for m in events}
    http_id, command_user_id = ids[by_http["email"]], ids[by_command["email"]]
    assert http_id == created["id"]

    async def both_verified() -> bool:
        return bool((await worker.verification())["verified"] == 2)

    await eventually(both_verified, timeout=30, what="both users' events verified")

    assert await worker.erase_user(http_id) == 204
    await produce(
        worker_env["KAFKA_USER_ERASE_TOPIC"],
        json.dumps({"commandId": str(uuid.uuid4()), "userId": command_user_id}).encode(),
    )
    deleted = await read_topic(worker_env["KAFKA_USER_DELETED_TOPIC"], expect=2, timeout=60)
    assert sorted(m.key or b"" for m in deleted) == sorted(
        [http_id.encode(), command_user_id.encode()]
    )
    for message in deleted:
        assert_conforms(message, "UserDeleted")
        value = json.loads(message.value)
        assert value["eventType"] == "USER_DELETED"
        assert message.key is not None and value["data"] == {"id": message.key.decode()}
        assert message.headers["eventType"] == b"USER_DELETED"
    await wait_published(worker_env["DATABASE_URL"], timeout=60)
    url = direct_url(worker_env["DATABASE_URL"])
    assert traces_of(url, by_http, by_command) == []
    assert await worker.erase_user(http_id) == 404  # erased already

    settings = load_settings({**worker_env, "DATABASE_URL": url}, dotenv=None)
    out, lines = output()
    assert await ops.verify(settings, older_than=300, out=out) == 0, lines
    out, lines = output()
    since = utc_now().replace(year=2000)
    assert await ops.erasures(settings, since, out) == 0
    listed = {e["userId"] for e in json.loads(lines[-1])["erasures"]}
    assert listed == {http_id, command_user_id}
    # user.created was created with the retention erasure promises (30 days by default).
    config = await topic_config(worker_env["KAFKA_USER_CREATED_TOPIC"])
    assert config["retention.ms"] == str(30 * 24 * 3600 * 1000)
    worker.assert_alive()


async def test_erasure_while_kafka_is_down_waits_and_never_publishes_the_user(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, kafka_restored: Any
) -> None:
    """A worker serving while Kafka is down (it started without it): the user created then
    waits in the outbox, is erased, and only USER_DELETED is published when Kafka returns.

    Not covered, and documented (docs/erasure.md): a USER_CREATED a worker had already
    handed to its Kafka client when the user was erased is still delivered when Kafka
    returns; the topic's retention then bounds how long it stays."""
    kafka_script("down")
    worker = Worker(worker_env, tmp_path, name="worker0")
    workers.append(worker)
    worker.start()
    await worker.wait_serving(kafka=False)
    erased = person("erased")
    status, user, _ = await worker.post_user(erased)
    assert status == 201
    assert await worker.erase_user(user["id"]) == 204

    async def only_user_deleted_waits() -> bool:
        outbox = (await worker.verification())["outbox"]
        return bool(outbox["pending"] == 1 and outbox["kafkaAvailable"] is False)

    await eventually(only_user_deleted_waits, timeout=30, what="USER_DELETED alone waiting")
    assert traces_of(direct_url(worker_env["DATABASE_URL"]), erased) == []

    kafka_script("up")
    await wait_published(worker_env["DATABASE_URL"], timeout=90)
    [deleted] = await read_topic(worker_env["KAFKA_USER_DELETED_TOPIC"], expect=1, timeout=60)
    assert deleted.key == user["id"].encode()
    assert json.loads(deleted.value)["data"] == {"id": user["id"]}
    # A user created after Kafka is back is published; the erased one never was.
    later = person("later")
    assert (await worker.post_user(later))[0] == 201
    created = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=60)
    await wait_published(worker_env["DATABASE_URL"], timeout=30)
    created = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert [json.loads(m.value)["data"]["email"] for m in created] == [later["email"]]
    worker.assert_alive()
