"""The status query reads the database at most once per period, however many ask at once."""

from __future__ import annotations

import asyncio

from models.events import USER_CREATED_SHAPE
from tests.support.fakes import FakeVerificationStore
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Backlog
from users_service.service_layer.outbox.relay import OutboxRelay
from users_service.service_layer.ports import Reconciliation
from users_service.service_layer.status import ServiceStatus
from users_service.service_layer.verifier import Verifier


class CountingStore(FakeVerificationStore):
    """A query that stays in flight until the test lets it answer."""

    def __init__(self) -> None:
        super().__init__([])
        self.reads = 0
        self.started = asyncio.Event()
        self.answer = asyncio.Event()

    async def reconcile(self) -> Reconciliation:
        self.reads += 1
        self.started.set()
        await self.answer.wait()
        return await super().reconcile()


class Outbox:
    async def backlog(self) -> Backlog:
        return Backlog(pending=3, oldest_pending_created_at=None, parked=1)


async def test_a_flood_of_status_requests_is_one_read_per_period() -> None:
    now = [0.0]
    store = CountingStore()
    status = ServiceStatus(
        verifications=store,
        outbox=Outbox(),  # type: ignore[arg-type]
        verifier=Verifier(store, USER_CREATED_SHAPE),
        health=PublishHealth(),
        relay=OutboxRelay(None, None, PublishHealth(), holder="w1"),  # type: ignore[arg-type]
        partitions_assigned=lambda: 3,
        cache_for=1.0,
        monotonic=lambda: now[0],
    )
    flood = asyncio.gather(*(status.report() for _ in range(50)))
    # The first request's read is in flight; the other 49 ran before this test resumed
    # (they were scheduled first), so they all asked while it was.
    await store.started.wait()
    store.answer.set()
    reports = await flood
    assert store.reads == 1
    assert {(r.backlog.pending, r.backlog.parked) for r in reports} == {(3, 1)}
    now[0] += 0.5
    await status.report()
    assert store.reads == 1  # still fresh
    now[0] += 0.6
    await status.report()
    assert store.reads == 2
