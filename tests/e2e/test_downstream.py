"""The downstream example (`examples/downstream`) beside the service, on the real broker:
another team's Faust app reads `user.created` through the Record and counts once, with
the service's events compressed (KAFKA_COMPRESSION). It runs as that team would run it:
from a virtualenv holding the events wheel only, out of the repository's tree, so it can
import nothing of the service (tests/support/consumer_venv.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.downstream import running_downstream
from tests.support.failures import FAILED
from tests.support.kafka import (
    compression_codecs,
    group_partitions,
    produce,
    read_topic,
    topic_listed,
)
from tests.support.waiting import eventually
from tests.support.worker import Worker


@pytest.fixture
def downstream(
    worker_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Path]]:
    """The example's worker: its own group and port; killed afterwards, its log printed
    if the test failed."""
    with running_downstream(
        worker_env, tmp_path, lambda: request.node.stash.get(FAILED, False)
    ) as running:
        yield running


async def domains(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_a_downstream_app_counts_each_user_once_by_domain(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    downstream: tuple[str, Path],
) -> None:
    url, log_path = downstream
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    group = f"signups-{worker_env['KAFKA_GROUP_ID']}"
    # The example started before the topic exists, as when it is deployed before the
    # service: the service creates the topic below. (Before: the example subscribed to a
    # topic its broker did not list, was assigned none of it, and counted nothing until
    # its consumer's next metadata refresh, five minutes later.)
    assert not await topic_listed(topic)
    # zstd: what the consumers of this repository (this example, the service's verifier)
    # must read if an operator turns compression on.
    worker = Worker({**worker_env, "KAFKA_COMPRESSION": "zstd"}, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()

    # Both streams of the example: the topic it reads, and its repartition topic.
    repartition = f"{group}-signups-by-domain-repartition"

    async def downstream_holds_its_topics() -> bool:
        held = await group_partitions(group)
        source = {tp.partition for tp in held if tp.topic == topic}
        return source == {0, 1, 2} and any(tp.topic == repartition for tp in held)

    await eventually(
        downstream_holds_its_topics,
        timeout=60,
        what=f"the downstream group holding {topic} and {repartition}",
    )
    emails = ["ana@example.com", "bea@example.com", "cris@example.org"]
    ids = {}
    for email in emails:
        status, user, _ = await worker.post_user(
            {"nombre": "N", "email": email, "password": "correct-horse"}
        )
        assert status == 201
        ids[email] = user["id"]

    expected = {"example.com": 2, "example.org": 1}

    async def counted() -> bool:
        return bool((await domains(url))["domains"] == expected)

    await eventually(counted, timeout=30, interval=0.2, what=f"counts {expected}")
    assert compression_codecs(topic) == {"zstd"}

    # A redelivery (as after a relay retry) is recognized by its eventId and not counted.
    first = (await read_topic(topic, expect=3, timeout=30))[0]
    await produce(topic, first.value, key=first.key, headers=first.headers)

    async def ignored() -> bool:
        return bool((await domains(url))["duplicatesIgnored"] == 1)

    await eventually(ignored, timeout=30, interval=0.2, what="the duplicate ignored")
    assert (await domains(url))["domains"] == expected, log_path.read_text()[-3000:]

    # The service's own verifier saw the copy as what it is: a duplicate, not a failure.
    async def verifier_saw_the_duplicate() -> bool:
        return bool((await worker.verification())["duplicates"] == 1)

    await eventually(verifier_saw_the_duplicate, timeout=30, what="the verifier's duplicate")
    assert (await worker.verification())["failed"] == 0

    # Erasure (docs/erasure.md): on USER_DELETED the example forgets the user's count; a
    # USER_CREATED of the erased user read again (a replay) is not counted again.
    for email in ("bea@example.com", "cris@example.org"):
        assert await worker.erase_user(ids[email]) == 204
    forgotten = {"example.com": 1}

    async def counted_down() -> bool:
        return bool((await domains(url))["domains"] == forgotten)

    await eventually(counted_down, timeout=60, interval=0.2, what=f"counts {forgotten}")
    # A USER_CREATED of the erased user with a new eventId (as a backfill would write),
    # then, on the same key (its partition, in order), a new example.com user's: once that
    # one is counted, the erased user's copy has been read and must not have counted.
    bea = ids["bea@example.com"]
    [original] = [
        m for m in await read_topic(topic, expect=4, timeout=30) if m.key == bea.encode()
    ][:1]
    copy = json.loads(original.value)
    copy["eventId"] = str(uuid.uuid4())
    marker = json.loads(original.value)
    marker["eventId"] = str(uuid.uuid4())
    marker["data"] = {**marker["data"], "id": str(uuid.uuid4()), "email": "dan@example.com"}
    for value in (copy, marker):
        headers = {**original.headers, "eventId": value["eventId"].encode()}
        await produce(topic, json.dumps(value).encode(), key=original.key, headers=headers)

    async def marker_counted() -> bool:
        return bool((await domains(url))["domains"].get("example.com", 0) >= 2)

    await eventually(marker_counted, timeout=60, interval=0.2, what="the marker counted")
    assert (await domains(url))["domains"] == {"example.com": 2}
