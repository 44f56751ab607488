"""The relay and fast path against fake stores and publishers: order, failure, lease."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from users_service.domain.model import OutboxMessage
from users_service.service_layer.outbox.fast_path import FastPath
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Backlog, PendingMessage
from users_service.service_layer.outbox.relay import OutboxRelay


def message(n: int, key: str = "k") -> PendingMessage:
    return PendingMessage(
        event_id=f"e{n}", event_type="T", topic="t", key=key, payload=f'{{"n":{n}}}'.encode()
    )


class FakeStore:
    def __init__(self, pending: list[PendingMessage]) -> None:
        self.waiting = list(pending)
        self.published: list[str] = []
        self.failed: list[str] = []
        self.lease_holder: str | None = None

    async def acquire_lease(self, holder: str, ttl: float) -> bool:
        if self.lease_holder in (None, holder):
            self.lease_holder = holder
            return True
        return False

    async def release_lease(self, holder: str) -> None:
        if self.lease_holder == holder:
            self.lease_holder = None

    async def pending(self, limit: int) -> list[PendingMessage]:
        return self.waiting[:limit]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        self.published.extend(event_ids)
        self.waiting = [m for m in self.waiting if m.event_id not in event_ids]

    async def mark_failed(self, event_ids: Sequence[str], error: str) -> None:
        self.failed.extend(event_ids)

    async def purge_published(self, older_than: datetime) -> int:
        return 0

    async def backlog(self) -> Backlog:
        return Backlog(len(self.waiting), None)


class FakePublisher:
    def __init__(self, fail_from: int | None = None) -> None:
        self.sent: list[str] = []
        self.fail_from = fail_from

    async def __call__(self, messages: Sequence[PendingMessage]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for m in messages:
            if self.fail_from is not None and len(self.sent) >= self.fail_from:
                results.append(ConnectionError("broker down"))
            else:
                self.sent.append(m.event_id)
                results.append(None)
        return results


def relay(
    store: FakeStore,
    publisher: FakePublisher,
    health: PublishHealth,
    holder: str = "w1",
    batch: int = 2,
) -> OutboxRelay:
    return OutboxRelay(store, publisher, health, holder=holder, batch_size=batch)


async def test_relay_publishes_oldest_first_in_batches() -> None:
    store, publisher, health = (
        FakeStore([message(i) for i in range(5)]),
        FakePublisher(),
        PublishHealth(),
    )
    r = relay(store, publisher, health)
    assert [await r.run_once() for _ in range(4)] == [2, 2, 1, 0]
    assert publisher.sent == ["e0", "e1", "e2", "e3", "e4"] == store.published
    assert health.published_total == 5


async def test_only_the_lease_holder_publishes() -> None:
    store = FakeStore([message(1)])
    first, second = FakePublisher(), FakePublisher()
    health = PublishHealth()
    assert await relay(store, first, health, holder="w1").run_once() == 1
    store.waiting = [message(2)]
    other = relay(store, second, health, holder="w2")
    assert await other.run_once() == 0 and not other.is_leader
    assert second.sent == []


async def test_failed_messages_stay_pending_and_close_the_fast_path() -> None:
    store, health = FakeStore([message(1), message(2)]), PublishHealth(producer_started=True)
    r = relay(store, FakePublisher(fail_from=1), health)
    assert await r.run_once() == 1
    assert store.failed == ["e2"] and [m.event_id for m in store.waiting] == ["e2"]
    assert health.failing and not health.fast_path_open
    r._publish = FakePublisher()
    assert await r.run_once() == 1
    assert not health.failing and health.fast_path_open


async def test_drain_stops_when_nothing_is_left() -> None:
    store = FakeStore([message(i) for i in range(7)])
    assert await relay(store, FakePublisher(), PublishHealth(), batch=3).drain(5.0) == 7
    assert store.waiting == []


def test_failures_are_logged_once_then_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    health = PublishHealth(log_every=30.0, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="outbox"):
        for second in range(100):
            now[0] = float(second)
            health.failed(1, ConnectionError("down"))
    # t=0, t=30, t=60, t=90: four reports for 100 failures, with counts in between.
    assert len(caplog.records) == 4
    assert "29 more failure(s)" in caplog.records[1].getMessage()
    assert health.failures_total == 100


async def test_fast_path_marks_acknowledged_messages_published() -> None:
    store, publisher = FakeStore([]), FakePublisher()
    health = PublishHealth(producer_started=True)
    fast = FastPath(store, publisher, health, owner="w1")
    assert fast.fast_path_owner == "w1"
    event = OutboxMessage("e1", "T", "user", "u1", "t", "u1", b'{"a":1}', {}, datetime.now(UTC))
    fast.dispatch([event])
    assert await fast.wait_idle(1.0)
    assert publisher.sent == ["e1"] and store.published == ["e1"]


async def test_fast_path_failure_releases_the_claim_and_wakes_the_relay() -> None:
    woken: list[bool] = []
    store, health = FakeStore([]), PublishHealth(producer_started=True)
    fast = FastPath(
        store, FakePublisher(fail_from=0), health, owner="w1", on_failure=lambda: woken.append(True)
    )
    event = OutboxMessage("e1", "T", "user", "u1", "t", "u1", b'{"a":1}', {}, datetime.now(UTC))
    fast.dispatch([event])
    assert await fast.wait_idle(1.0)
    assert store.failed == ["e1"] and woken == [True]
    assert fast.fast_path_owner is None  # until the relay gets a message through


def test_fast_path_is_closed_until_the_producer_started() -> None:
    fast = FastPath(FakeStore([]), FakePublisher(), PublishHealth(), owner="w1")
    assert fast.fast_path_owner is None


async def test_leader_purges_rows_older_than_the_retention_at_most_once_per_period() -> None:
    purged: list[datetime] = []

    class RetentionStore(FakeStore):
        async def purge_published(self, older_than: datetime) -> int:
            purged.append(older_than)
            return 0

    now = datetime(2026, 1, 2, tzinfo=UTC)
    r = OutboxRelay(
        RetentionStore([]),
        FakePublisher(),
        PublishHealth(),
        holder="w1",
        retention=3600.0,
        purge_every=60.0,
        clock=lambda: now,
    )
    await r.run_once()
    await r.run_once()
    assert purged == [datetime(2026, 1, 2, tzinfo=UTC) - timedelta(hours=1)]
