"""Kafka client security on the local broker's SASL/SCRAM listener (kafka.sh): a worker
with the right credentials produces and consumes; with wrong ones it stops at start with
one line that says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.kafka import read_topic
from tests.support.services import KAFKA_SASL, require
from tests.support.waiting import eventually
from tests.support.worker import Worker

SCRAM = {
    "KAFKA_BROKER": KAFKA_SASL,
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "KAFKA_SASL_USERNAME": "users-service",
    "KAFKA_SASL_PASSWORD": "local-scram-secret",
}


def require_scram() -> None:
    host, port = KAFKA_SASL.rsplit(":", 1)
    require("Kafka's SASL listener", host, int(port), "make kafka-down kafka-up")


async def test_with_scram_credentials_the_worker_produces_and_consumes(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    require_scram()
    worker = Worker({**worker_env, **SCRAM}, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()  # its consumer joined its group through SCRAM
    status, _, _ = await worker.post_user(
        {"nombre": "Sasl", "email": "sasl@example.com", "password": "correct-horse"}
    )
    assert status == 201
    [event] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert b"sasl@example.com" in event.value

    async def verified() -> bool:  # consumed back through SCRAM by the verifier
        return bool((await worker.verification())["verified"] == 1)

    await eventually(verified, timeout=30, what="the event verified through SCRAM")


async def test_wrong_credentials_stop_the_worker_at_start_with_one_clear_line(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    require_scram()
    worker = Worker({**worker_env, **SCRAM, "KAFKA_SASL_PASSWORD": "wrong-password"}, tmp_path)
    workers.append(worker)
    worker.start()
    assert worker.process is not None
    code = await asyncio.to_thread(worker.process.wait, 60)
    assert code != 0
    lines = [line for line in worker.log_text().splitlines() if "refused this worker's" in line]
    assert lines and "KAFKA_SASL_USERNAME=users-service" in lines[0], worker.log_tail(20)
    assert "[ERROR]" in lines[0]
    assert "wrong-password" not in worker.log_text()
