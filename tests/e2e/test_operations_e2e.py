"""What an operator sees of a real worker (`users-service worker`) on the real broker and
PostgreSQL: JSON logs, readiness through a SIGTERM, metrics that move, static membership,
and Kafka's state reported as it is."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kafka import produce, read_topic
from tests.support.services import KAFKA, kafka_script
from tests.support.waiting import eventually
from tests.support.worker import Worker


async def get(worker: Worker, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(worker.base + path, timeout=aiohttp.ClientTimeout(total=5)) as resp,
    ):
        return resp.status, await resp.text()


async def scrape(worker: Worker) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, text = await get(worker, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(scrape: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`; none at all fails (a
    missing metric is not a zero)."""
    wanted = set(labels.items())
    found = [v for (n, lbls), v in scrape.items() if n == name and wanted <= lbls]
    assert found, f"no sample {name}{labels} in the scrape"
    return sum(found)


async def member_ids(group: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        [description] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    return [m["member_id"] for m in description.to_object()["groups"][0]["members"]]


async def test_a_worker_as_operators_see_it(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    instance = f"users-static-{uuid.uuid4().hex[:6]}"
    env = {**worker_env, "LOG_FORMAT": "json", "KAFKA_GROUP_INSTANCE_ID": instance}
    worker = Worker(env, tmp_path, via_cli=True)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()

    async def ready() -> bool:
        status, text = await get(worker, "/readyz")
        return status == 200 and json.loads(text)["status"] == "ready"

    await eventually(ready, timeout=30, what="/readyz 200")
    # A static member's id is its group.instance.id and a suffix the broker adds (aiokafka
    # speaks DescribeGroups up to v3, which does not carry the instance id itself).
    [member] = await member_ids(env["KAFKA_GROUP_ID"])
    assert member.startswith(f"{instance}-"), member

    # Traffic: two sign-ups over HTTP (one with a request id of ours), one command.
    status, created, _ = await worker.post_user(
        {"nombre": "Ana", "email": "ana@example.com", "password": "pw-123456"},
        headers={"X-Request-ID": "req-ops-1"},
    )
    assert status == 201
    await worker.post_user({"nombre": "Bo", "email": "bo@example.com", "password": "pw-123456"})
    command_id = str(uuid.uuid4())
    command = {
        "commandId": command_id,
        "nombre": "Cy",
        "email": "cy@example.com",
        "password": "pw-123456",
    }
    await produce(env["KAFKA_USER_CREATE_TOPIC"], json.dumps(command).encode())
    await read_topic(env["KAFKA_USER_CREATED_TOPIC"], expect=3, timeout=60)

    async def counted() -> dict[Any, float] | None:
        metrics = await scrape(worker)
        done = (
            total(metrics, "users_created_total", channel="http") == 2
            and total(metrics, "users_created_total", channel="command") == 1
            and total(metrics, "commands_processed_total", outcome="created") == 1
            and total(metrics, "verifier_events_total", outcome="verified") == 3
            and total(metrics, "outbox_published_total") == 3
        )
        return metrics if done else None

    metrics = await eventually(counted, timeout=30, what="the metrics to count the traffic")
    assert metrics is not None
    # Faust's sensor, corrected: real request latencies, not ~0 ms.
    assert total(metrics, "faust_http_latency_count") >= 2
    assert total(metrics, "faust_http_latency_sum") > 1.0  # ms; two bcrypt hashes alone

    # Consumer lag per partition that received messages, once Faust has committed (every
    # 2.8 s by default): caught up, since everything was handled.
    async def lags() -> dict[Any, float]:
        metrics = await scrape(worker)
        found = {k: v for k, v in metrics.items() if k[0] == "kafka_consumer_lag"}
        topics = {dict(k[1])["topic"] for k in found}
        caught_up = all(v == 0 for v in found.values())
        wanted = {env["KAFKA_USER_CREATE_TOPIC"], env["KAFKA_USER_CREATED_TOPIC"]}
        return found if wanted <= topics and caught_up else {}

    await eventually(lags, timeout=20, what="consumer lag reported and caught up")
    assert total(metrics, "outbox_relay_leader") == 1
    assert total(metrics, "outbox_pending") == 0
    assert total(metrics, "hash_queue_depth") == 0
    # Debian's libcrypt passes the start-up self-test, so it hashes.
    assert total(metrics, "users_password_hasher_info", implementation="libxcrypt") == 1

    # SIGTERM: readiness says 503 before the worker closes anything, then it exits cleanly.
    assert worker.process is not None
    worker.process.send_signal(15)
    seen: list[int] = []

    async def answered_503_or_gone() -> bool:
        try:
            status, _ = await get(worker, "/readyz")
        except aiohttp.ClientError:
            return True
        seen.append(status)
        return status == 503

    await eventually(answered_503_or_gone, timeout=20, interval=0.01, what="readiness 503")
    assert 503 in seen, f"never saw 503 before the worker went away: {seen}"
    assert await asyncio.to_thread(worker.process.wait, 30) == 0

    # The whole log, Faust's banner and shutdown included: one JSON object per line.
    lines = worker.log_text().splitlines()
    assert len(lines) > 20
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message", "worker_id"} <= set(r) for r in records)
    requests = [r for r in records if r.get("request_id") == "req-ops-1"]
    assert any(
        r["logger"] == "users.http"
        and r["level"] == "INFO"
        and r.get("user_id") == created["id"]
        and "POST /users/v1/users 201" in r["message"]
        for r in requests
    ), requests
    assert any(
        r.get("command_id") == command_id
        and r["level"] == "INFO"
        and "created user" in r["message"]
        for r in records
    )
    starting = [r for r in records if "starting" in r["message"] and r["logger"] == "users"]
    assert starting and "loop asyncio" in starting[0]["message"], starting
    assert "(libxcrypt)" in starting[0]["message"], starting
    text = worker.log_text()
    assert "pw-123456" not in text and "$2b$" not in text


async def test_kafka_state_is_reported_as_it_is(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Nothing is being published: the status must still see the broker go and come back
    (before, it said available for as long as nothing was sent)."""
    worker = Worker(worker_env, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    await asyncio.to_thread(kafka_script, "down")
    try:

        async def unavailable() -> bool:
            return (await worker.verification())["outbox"]["kafkaAvailable"] is False

        await eventually(unavailable, timeout=5, what="kafkaAvailable false without any send")
    finally:
        await asyncio.to_thread(kafka_script, "up")

    async def available() -> bool:
        return (await worker.verification())["outbox"]["kafkaAvailable"] is True

    await eventually(available, timeout=60, what="kafkaAvailable true again")
