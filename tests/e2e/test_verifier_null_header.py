"""The verifier on the real broker, given an event whose `eventId` header has no value
(aiokafka hands it over as None) among real users' events (issue 26, case 8)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from models.events import RecordEncoder
from tests.support.services import KAFKA, ROOT
from tests.support.waiting import eventually
from tests.support.worker import Worker
from users_service.domain.clock import utc_now
from users_service.domain.model import User, new_id


async def test_an_event_with_a_null_header_leaves_its_neighbours_verified(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Before: its whole batch was counted verifier_error and never recorded, so the users
    around it stayed unverified for good and `users-service verify` exited 1."""
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    worker = Worker(worker_env, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    await producer.start()
    try:

        async def create(n: int) -> User:
            status, body, _ = await worker.post_user(
                {"nombre": "Ana", "email": f"nullh-{n}@example.com", "password": "pw-123456"}
            )
            assert status == 201, body
            created_at = datetime.fromisoformat(body["createdAt"].replace("Z", "+00:00"))
            return User(body["id"], body["nombre"], body["email"], created_at, "")

        first = await asyncio.gather(*(create(n) for n in range(3)))
        # A well-formed event of a stored user, but its eventId header has no value.
        value = RecordEncoder().user_created(first[0], event_id=new_id(), at=utc_now())
        await producer.send_and_wait(
            topic,
            value,
            key=first[0].id.encode(),
            headers=[("eventId", None), ("eventType", b"USER_CREATED")],  # type: ignore[list-item]
        )
        await asyncio.gather(*(create(n) for n in range(3, 6)))
    finally:
        await producer.stop()

    async def all_judged() -> dict[str, Any] | None:
        status = await worker.verification()
        return status if status["verified"] + status["failed"] >= 7 else None

    status = await eventually(
        all_judged, timeout=30, what="seven events judged, no user unverified"
    )
    assert status is not None
    assert status["received"] == 7
    assert status["verified"] == 6
    assert status["failures"] == {"header_event_id_mismatch": 1}

    async def reconciled() -> bool:  # read from the database at most once a second
        return bool((await worker.verification())["reconciliation"]["unverifiedUsers"] == 0)

    await eventually(reconciled, timeout=10, what="no user left unverified")
    verify = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamapp.cli",
        "verify",
        "--older-than",
        "0",
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": worker_env["DATABASE_URL"]},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    printed, _ = await asyncio.wait_for(verify.communicate(), timeout=60)
    assert verify.returncode == 0, printed.decode()
