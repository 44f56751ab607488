"""VERIFIER_ENABLED=false: a worker that serves HTTP and commands but leaves verification
to another worker of the same group (a verifier role), on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.waiting import eventually
from tests.support.worker import Worker


@pytest.mark.both_routes
async def test_a_worker_without_the_verifier_leaves_user_created_to_the_verifier_role(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    front = Worker({**worker_env, "VERIFIER_ENABLED": "false"}, tmp_path, name="front")
    verifier = Worker(worker_env, tmp_path, name="verifier")
    workers += [front, verifier]
    front.start()
    verifier.start()
    await front.wait_serving()
    await verifier.wait_serving()
    created = 0
    for n in range(6):
        status, _, _ = await front.post_user(
            {"nombre": "Ana", "email": f"role-{n}@example.com", "password": "pw-123456"}
        )
        assert status == 201
        created += 1

    async def all_verified() -> bool:
        return bool((await verifier.verification())["verified"] == created)

    await eventually(all_verified, timeout=30, what="the verifier role verified every event")
    front_status = await front.verification()
    assert front_status["received"] == 0  # it never subscribed to user.created
    assert front_status["reconciliation"]["unverifiedUsers"] == 0  # cluster-wide, from the database
    # Partitions: the front holds only its share of the commands' topics (user.create and
    # user.erase); the verifier all of user.created besides its own share of those.
    partitions = int(worker_env.get("KAFKA_PARTITIONS", "3"))
    commands_topics = 2
    assert (await verifier.verification())["worker"]["partitionsAssigned"] >= partitions
    assert front_status["worker"]["partitionsAssigned"] <= commands_topics * partitions
