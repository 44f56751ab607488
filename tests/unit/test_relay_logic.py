"""The relay and fast path against fake stores and publishers: order, failure, lease,
fencing, parking, retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.support.waiting import eventually
from users_service.domain.model import OutboxMessage
from users_service.service_layer.outbox.fast_path import FastPath
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Backlog, Fence, PendingMessage, SendFailure
from users_service.service_layer.outbox.relay import OutboxRelay

OUTAGE = SendFailure("KafkaTimeoutError: no metadata", outage=True)
TOO_LARGE = SendFailure("MessageSizeTooLargeError: 1100000 bytes")


def message(n: int, key: str = "k") -> PendingMessage:
    return PendingMessage(
        event_id=f"e{n}",
        event_type="T",
        topic="t",
        key=key,
        payload=f'{{"n":{n}}}'.encode(),
        position=n,
    )


class FakeStore:
    """The outbox and its lease, in memory, with a generation bumped on each change of hands."""

    def __init__(self, pending: list[PendingMessage]) -> None:
        self.waiting = list(pending)
        self.published: list[str] = []
        self.released_claims: list[str] = []
        self.attempts: dict[str, int] = {}
        self.parked: set[str] = set()
        self.lease_holder: str | None = None
        self.generation = 0
        self.lease_calls = 0
        self.reads: list[int | None] = []
        self.extended: list[tuple[list[str], str, float]] = []

    async def acquire_lease(self, holder: str, ttl: float) -> int | None:
        self.lease_calls += 1
        if self.lease_holder not in (None, holder):
            return None
        if self.lease_holder != holder:
            self.generation += 1
        self.lease_holder = holder
        return self.generation

    def take_over(self, holder: str) -> None:
        """Another worker takes the lease (after it lapsed)."""
        self.lease_holder, self.generation = holder, self.generation + 1

    async def release_lease(self, holder: str) -> None:
        if self.lease_holder == holder:
            self.lease_holder = None

    async def pending(self, limit: int, after: int | None = None) -> list[PendingMessage]:
        self.reads.append(after)
        return [
            m
            for m in self.waiting
            if m.event_id not in self.parked and (after is None or (m.position or 0) > after)
        ][:limit]

    async def mark_published(self, event_ids: Sequence[str], fence: Fence | None = None) -> int:
        if fence is not None and (fence.holder, fence.generation) != (
            self.lease_holder,
            self.generation,
        ):
            return 0
        self.published.extend(event_ids)
        self.waiting = [m for m in self.waiting if m.event_id not in event_ids]
        return len(event_ids)

    async def extend_claims(self, event_ids: Sequence[str], owner: str, ttl: float) -> None:
        self.extended.append((list(event_ids), owner, ttl))

    async def mark_failed(
        self, event_ids: Sequence[str], error: str, *, count_attempt: bool, max_attempts: int
    ) -> None:
        self.released_claims.extend(event_ids)
        for event_id in event_ids:
            if count_attempt:
                self.attempts[event_id] = self.attempts.get(event_id, 0) + 1
                if self.attempts[event_id] >= max_attempts:
                    self.parked.add(event_id)

    async def backlog(self) -> Backlog:
        return Backlog(len(self.waiting) - len(self.parked), None, len(self.parked))


class FakePublisher:
    """Acknowledges everything, except what `fail` says for a message (by event id); with
    `hold`, only once that returns: Kafka's latency, under the test's control."""

    def __init__(
        self,
        fail: dict[str, SendFailure] | None = None,
        hold: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.sent: list[str] = []
        self.fail = dict(fail or {})
        self.hold = hold
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = asyncio.Event()

    async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
        self.in_flight += 1
        self.started.set()
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold()
            results: list[SendFailure | None] = []
            for m in messages:
                failure = self.fail.get(m.event_id)
                if failure is None:
                    self.sent.append(m.event_id)
                results.append(failure)
            return results
        finally:
            self.in_flight -= 1


def relay(
    store: FakeStore,
    publisher: FakePublisher,
    health: PublishHealth,
    holder: str = "w1",
    batch: int = 2,
    **kwargs: object,
) -> OutboxRelay:
    return OutboxRelay(store, publisher, health, holder=holder, batch_size=batch, **kwargs)  # type: ignore[arg-type]


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


async def test_an_outage_keeps_messages_pending_closes_the_fast_path_and_counts_no_attempt() -> (
    None
):
    store, health = FakeStore([message(1), message(2)]), PublishHealth(producer_started=True)
    r = relay(store, FakePublisher(fail={"e2": OUTAGE}), health)
    assert await r.run_once() == 1
    assert store.released_claims == ["e2"] and [m.event_id for m in store.waiting] == ["e2"]
    assert store.attempts == {}  # an outage is not the message's fault
    assert health.failing and not health.fast_path_open
    r._publish = FakePublisher()
    assert await r.run_once() == 1
    assert not health.failing and health.fast_path_open


async def test_a_message_kafka_refuses_is_retried_then_parked_while_the_rest_flow() -> None:
    store = FakeStore([message(1, key="a"), message(2, key="b"), message(3, key="c")])
    health = PublishHealth(producer_started=True)
    r = relay(store, FakePublisher(fail={"e1": TOO_LARGE}), health, batch=10, max_attempts=3)
    assert await r.run_once() == 2
    assert store.published == ["e2", "e3"]
    assert health.fast_path_open  # one bad message does not close the fast path
    await r.run_once()
    await r.run_once()
    assert store.attempts == {"e1": 3} and store.parked == {"e1"}
    assert await r.run_once() == 0  # parked: out of the relay's way
    assert (await store.backlog()).parked == 1


async def test_after_a_refused_message_the_later_ones_of_its_key_are_held_back() -> None:
    # The publisher holds back e2 (same key as the refused e1): order within a key.
    store = FakeStore([message(1, key="a"), message(2, key="a"), message(3, key="b")])
    held = SendFailure("an older message of its key failed", held_back=True)
    r = relay(store, FakePublisher(fail={"e1": TOO_LARGE, "e2": held}), PublishHealth(), batch=10)
    assert await r.run_once() == 1
    assert store.published == ["e3"]
    assert store.attempts == {"e1": 1}  # held back is not an attempt
    assert "e2" in store.released_claims


async def test_marks_are_fenced_by_the_lease_generation() -> None:
    store = FakeStore([message(1), message(2)])

    class TakenOverWhilePublishing(FakePublisher):
        async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
            store.take_over("w2")  # our lease lapsed mid-batch and w2 took it
            return await super().__call__(messages)

    r = relay(store, TakenOverWhilePublishing(), PublishHealth())
    await r.run_once()
    assert store.published == []  # w2 will publish them again: never marked by w1
    assert not r.is_leader


async def test_the_lease_is_renewed_while_a_batch_is_in_flight() -> None:
    store = FakeStore([message(1)])

    class AcknowledgedAfterTwoRenewals(FakePublisher):
        """Kafka answers only once the relay has renewed its lease twice meanwhile."""

        async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
            async def renewed_twice() -> bool:
                return store.lease_calls >= 3

            await eventually(renewed_twice, timeout=5, interval=0.01, what="lease renewals")
            return await super().__call__(messages)

    r = relay(store, AcknowledgedAfterTwoRenewals(), PublishHealth(), lease_ttl=0.3)
    # One renewal to start the cycle, then every ttl/3 (0.1 s) while the batch is in flight.
    assert await r.run_once() == 1
    assert store.lease_calls >= 3 and store.published == ["e1"]


async def test_one_cycle_at_a_time() -> None:
    store = FakeStore([message(i) for i in range(6)])
    kafka_answers = asyncio.Event()
    publisher = FakePublisher(hold=kafka_answers.wait)
    r = relay(store, publisher, PublishHealth())
    cycles = asyncio.gather(r.run_once(), r.run_once(), r.drain(5.0))
    await asyncio.wait_for(publisher.started.wait(), timeout=5)
    # The first batch is held. Every cycle has had its turn meanwhile: one that did not
    # wait for it would be in the publisher too by now.
    kafka_answers.set()
    await cycles
    assert publisher.most_in_flight == 1
    assert store.published == [f"e{i}" for i in range(6)]  # each once, in order


async def test_stop_waits_for_the_batch_in_flight_then_drain_then_release() -> None:
    store = FakeStore([message(i) for i in range(3)])
    kafka_answers = asyncio.Event()
    publisher = FakePublisher(hold=kafka_answers.wait)
    r = relay(store, publisher, PublishHealth(), batch=1, poll_interval=0.01)
    r.start()
    await asyncio.wait_for(publisher.started.wait(), timeout=5)
    stopping = asyncio.ensure_future(r.stop())
    # Kafka answers only after stop() has begun (its first step was queued first): a stop
    # that did not wait for the batch in flight would return with it still in flight.
    kafka_answers.set()
    await stopping
    assert publisher.in_flight == 0  # the batch in flight finished, and was marked
    assert store.published == publisher.sent and len(store.published) >= 1
    await r.drain(5.0)
    await r.release()
    assert store.lease_holder is None and store.waiting == []
    assert store.published == publisher.sent == ["e0", "e1", "e2"]  # each once


async def test_drain_stops_when_nothing_is_left() -> None:
    store = FakeStore([message(i) for i in range(7)])
    assert await relay(store, FakePublisher(), PublishHealth(), batch=3).drain(5.0) == 7
    assert store.waiting == []


def test_outages_are_logged_once_then_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    health = PublishHealth(log_every=30.0, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="outbox"):
        for second in range(100):
            now[0] = float(second)
            health.failed(1, "ConnectionError: down")
    # t=0, t=30, t=60, t=90: four reports for 100 failures, with counts in between.
    assert len(caplog.records) == 4
    assert "29 more failure(s)" in caplog.records[1].getMessage()
    assert health.failures_total == 100


def test_fast_path_is_closed_until_the_producer_started() -> None:
    fast = FastPath(FakeStore([]), FakePublisher(), PublishHealth(), owner="w1")
    assert fast.fast_path_owner is None


def test_the_fast_path_reopens_by_itself_after_an_outage() -> None:
    """A worker that is not the relay's leader publishes nothing else: without this, one
    Kafka blip closed its fast path for good."""
    now = [100.0]
    health = PublishHealth(producer_started=True, reopen_after=5.0, clock=lambda: now[0])
    fast = FastPath(FakeStore([]), FakePublisher(), health, owner="w1")
    health.failed(1, "KafkaConnectionError: down")
    assert fast.fast_path_owner is None
    now[0] += 5.0
    assert fast.fast_path_owner == "w1"  # it tries again; a success clears the outage
    health.failed(1, "KafkaConnectionError: still down")
    assert fast.fast_path_owner is None


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
        store,
        FakePublisher(fail={"e1": OUTAGE}),
        health,
        owner="w1",
        on_failure=lambda: woken.append(True),
    )
    event = OutboxMessage("e1", "T", "user", "u1", "t", "u1", b'{"a":1}', {}, datetime.now(UTC))
    fast.dispatch([event])
    assert await fast.wait_idle(1.0)
    assert store.released_claims == ["e1"] and woken == [True]
    assert fast.fast_path_owner is None  # until the outage's cool-down passes


async def test_the_fast_path_keeps_its_claims_while_their_sends_are_in_flight() -> None:
    """With the broker away, aiokafka holds a message for longer than any fixed claim and
    delivers it when the broker is back; a claim that lapsed meanwhile let the relay send a
    second copy. So claims are extended, every third of their lifetime, until the send
    ends, and no longer."""
    release = asyncio.Event()

    class Held(FakePublisher):
        async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
            await release.wait()
            return await super().__call__(messages)

    store = FakeStore([])
    fast = FastPath(store, Held(), PublishHealth(producer_started=True), owner="w1", claim_ttl=0.15)
    event = OutboxMessage("e1", "T", "user", "u1", "t", "u1", b'{"a":1}', {}, datetime.now(UTC))
    fast.dispatch([event])

    async def extended_twice() -> bool:
        return len(store.extended) >= 2

    await eventually(extended_twice, timeout=5, interval=0.01, what="claims extended")
    assert store.extended[0] == (["e1"], "w1", 0.15)
    release.set()
    assert await fast.wait_idle(1.0)
    assert store.published == ["e1"]
    after = len(store.extended)

    async def renewer_stopped() -> bool:
        return not fast._renewing.active

    await eventually(renewer_stopped, timeout=5, interval=0.01, what="renewal stopped")
    assert len(store.extended) == after  # nothing extended once the send was over


async def test_the_leader_purges_in_bounded_chunks_at_most_once_per_period() -> None:
    calls: list[int] = []

    async def purge(limit: int) -> int:
        calls.append(limit)
        return limit  # always a full chunk: there is always more

    r = relay(
        FakeStore([]),
        FakePublisher(),
        PublishHealth(),
        purges={"old rows": purge},
        purge_every=60.0,
        purge_batch=100,
        purge_rounds=4,
    )
    await r.run_once()
    await r.run_once()
    assert calls == [100, 100, 100, 100]  # 4 chunks in the first cycle, none in the second


async def test_a_chain_publishes_full_batches_back_to_back_in_order() -> None:
    store = FakeStore([message(i) for i in range(5)])
    publisher, health = FakePublisher(), PublishHealth()
    r = relay(store, publisher, health, batch=2)
    assert await r.run_chain() == 5
    assert publisher.sent == ["e0", "e1", "e2", "e3", "e4"] == store.published
    # Each next batch is read from after the last position of the one before it.
    assert store.reads == [None, 1, 3]
    assert publisher.most_in_flight == 1  # a batch is sent only once the last is acknowledged


async def test_the_next_batch_is_read_while_kafka_acknowledges_the_current_one() -> None:
    store = FakeStore([message(i) for i in range(4)])
    next_read = asyncio.Event()

    async def until_the_next_read() -> None:
        # Kafka acknowledges a batch once the relay has started reading the next one, or
        # after 5 s if it never does (a relay that reads only after the acknowledgement).
        next_read.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(next_read.wait(), timeout=5)

    publisher = FakePublisher(hold=until_the_next_read)
    in_flight_at_read: list[int] = []
    read = store.pending

    async def watched(limit: int, after: int | None = None) -> list[PendingMessage]:
        in_flight_at_read.append(publisher.in_flight)
        next_read.set()
        return await read(limit, after)

    store.pending = watched  # type: ignore[method-assign]
    r = relay(store, publisher, PublishHealth(), batch=2)
    assert await r.run_chain() == 4
    # Every read after the first overlapped the sending of the batch before it.
    assert in_flight_at_read == [0, 1, 1]


async def test_a_key_that_failed_in_the_chain_keeps_its_order() -> None:
    store = FakeStore(
        [message(0, "a"), message(1, "b"), message(2, "a"), message(3, "c"), message(4, "d")]
    )
    publisher = FakePublisher(fail={"e0": TOO_LARGE})
    r = relay(store, publisher, PublishHealth(), batch=2)
    await r.run_chain()
    # e2 is key a's next message: not sent ahead of e0, which Kafka refused.
    assert "e2" not in publisher.sent
    assert publisher.sent == ["e1", "e3"]  # the chain ends on its short batch; e4 waits
    assert {"e0", "e2"} <= {m.event_id for m in store.waiting}


async def test_an_outage_ends_the_chain() -> None:
    store = FakeStore([message(i) for i in range(6)])
    publisher = FakePublisher(fail={"e0": OUTAGE, "e1": OUTAGE})
    health = PublishHealth()
    r = relay(store, publisher, health, batch=2)
    assert await r.run_chain() == 0
    assert publisher.sent == [] and store.reads == [None, 1]
    assert health.failing


async def test_a_chain_stops_when_its_lease_is_lost() -> None:
    store = FakeStore([message(i) for i in range(8)])
    publisher = FakePublisher()
    r = relay(store, publisher, PublishHealth(), batch=2)
    marked = store.mark_published

    async def lose_after_first(event_ids: Sequence[str], fence: Fence | None = None) -> int:
        count = await marked(event_ids, fence)
        store.take_over("w2")
        return count

    store.mark_published = lose_after_first  # type: ignore[method-assign]
    await r.run_chain()
    assert not r.is_leader
    # What was sent after the loss is not marked by this relay: the new leader sends it again.
    assert store.published == ["e0", "e1"]
    assert len(publisher.sent) <= 6


class RecordingTracing:
    """The service layer's Tracing port, recording the spans asked for."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, str | int], list[str | None]]] = []
        self.open = 0

    def current(self) -> tuple[str | None, str | None]:
        return None, None

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        attributes: Mapping[str, str | int] | None = None,
        links: Sequence[str | None] = (),
    ) -> Iterator[None]:
        self.spans.append((name, dict(attributes or {}), list(links)))
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1


async def test_a_relay_cycle_is_a_span_linking_the_creation_contexts_of_its_batch() -> None:
    parents = [f"00-{n:032x}-{n:016x}-01" for n in (1, 2)]
    pending = [replace(message(n), traceparent=p) for n, p in zip((1, 2), parents, strict=True)]
    tracing, seen_open = RecordingTracing(), []

    class Watching(FakePublisher):
        async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
            seen_open.append(tracing.open)  # published inside the batch's span
            return await super().__call__(messages)

    r = relay(FakeStore(pending), Watching(), PublishHealth(), tracing=tracing)
    assert await r.run_once() == 2
    assert tracing.spans == [
        ("outbox relay batch", {"messaging.batch.message_count": 2, "outbox.relay": "w1"}, parents)
    ]
    assert seen_open == [1] and tracing.open == 0
    # A cycle with nothing to publish is no span.
    assert await r.run_once() == 0 and len(tracing.spans) == 1
