"""Parallel relays on both real databases: shards by key, fair shares that move when
relays come and go, each key published in order by one relay at a time."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import databases
import pytest

from tests.support.messages import ANA, user_created_message
from tests.support.waiting import eventually
from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
from users_service.adapters.storage.relay_members import DatabaseRelayMembers
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.domain.model import new_id
from users_service.domain.sharding import Shard, key_hash
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import PendingMessage, SendFailure
from users_service.service_layer.outbox.relay import OutboxRelay
from users_service.service_layer.outbox.shards import ShardedRelay

KEYS = [f"key-{n}" for n in range(12)]


async def store(db: databases.Database, keys: Sequence[str], per_key: int = 1) -> list[str]:
    """`per_key` events for each key, interleaved; their event ids in insertion order."""
    ids = []
    async with DatabaseUnitOfWork(db) as uow:
        for _ in range(per_key):
            for key in keys:
                message = replace(user_created_message(ANA), event_id=new_id(), key=key)
                await uow.outbox.add(message)
                ids.append(message.event_id)
    return ids


class Recorder:
    """A publisher that acknowledges everything and remembers who sent what, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # (relay, key, event id)

    def for_relay(self, holder: str):  # type: ignore[no-untyped-def]
        async def publish(messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
            self.sent.extend((holder, m.key, m.event_id) for m in messages)
            return [None] * len(messages)

        return publish


def sharded_relay(
    db: databases.Database, recorder: Recorder, holder: str, shards: int
) -> ShardedRelay:
    store = DatabaseOutboxStore(db)

    def lane(shard: Shard) -> OutboxRelay:
        return OutboxRelay(
            store.for_shard(shard),
            recorder.for_relay(holder),
            PublishHealth(),
            holder=holder,
            batch_size=5,
            poll_interval=0.05,
        )

    return ShardedRelay(lane, DatabaseRelayMembers(db), holder=holder, shards=shards, lease_ttl=30)


@pytest.fixture
async def relays() -> AsyncIterator[list[ShardedRelay]]:
    started: list[ShardedRelay] = []
    yield started
    for relay in started:
        await relay.stop()


async def balanced(relays: Sequence[ShardedRelay], shards: int) -> bool:
    """One balancing round each; True once every shard has exactly one holder and no relay
    holds more than its fair share."""
    for relay in relays:
        await relay.balance_once()
    held = [relay.shards_held for relay in relays]
    every = sorted(s for h in held for s in h)
    share = -(-shards // len(relays))
    return every == list(range(shards)) and all(len(h) <= share for h in held)


async def test_each_row_belongs_to_the_shard_of_its_key(database: databases.Database) -> None:
    ids = await store(database, KEYS, per_key=2)
    whole = DatabaseOutboxStore(database)
    per_shard = {i: await whole.for_shard(Shard(i, 4)).pending(100) for i in range(4)}
    seen = [m.event_id for rows in per_shard.values() for m in rows]
    assert sorted(seen) == sorted(ids)  # every row in exactly one shard
    for i, rows in per_shard.items():
        assert all(key_hash(m.key) % 4 == i for m in rows)
        positions = [m.position or 0 for m in rows]
        assert positions == sorted(positions)  # oldest first
    assert len([i for i, rows in per_shard.items() if rows]) > 1  # 12 keys do spread


async def test_relays_share_the_shards_and_take_over_from_one_that_leaves(
    database: databases.Database, relays: list[ShardedRelay]
) -> None:
    recorder = Recorder()
    relays.extend(sharded_relay(database, recorder, f"w{n}", shards=8) for n in range(3))
    await eventually(lambda: balanced(relays, 8), timeout=20, what="8 shards over 3 relays")
    assert sorted(len(r.shards_held) for r in relays) == [2, 3, 3]

    ids = await store(database, KEYS, per_key=3)
    for relay in relays:
        relay.wake()

    async def all_sent() -> bool:
        return {event for _, _, event in recorder.sent} >= set(ids)

    await eventually(all_sent, timeout=20, what="every event published")
    # Exactly once here (no failure), each key by one relay, in the order it was stored.
    assert sorted(event for _, _, event in recorder.sent) == sorted(ids)
    by_key: dict[str, list[str]] = defaultdict(list)
    relays_of_key: dict[str, set[str]] = defaultdict(set)
    for relay_name, key, event in recorder.sent:
        by_key[key].append(event)
        relays_of_key[key].add(relay_name)
    for key, events in by_key.items():
        assert events == [e for e in ids if e in set(events)], key
        assert len(relays_of_key[key]) == 1, key
    assert len({name for names in relays_of_key.values() for name in names}) > 1

    # One relay goes (a worker stopping): its shards are shared by the two left.
    leaving = relays.pop()
    await leaving.stop()
    await leaving.release()
    await eventually(lambda: balanced(relays, 8), timeout=20, what="8 shards over 2 relays")
    assert sorted(len(r.shards_held) for r in relays) == [4, 4]
    later = await store(database, KEYS)
    for relay in relays:
        relay.wake()

    async def later_sent() -> bool:
        return {event for _, _, event in recorder.sent} >= set(later)

    await eventually(later_sent, timeout=20, what="events after the change published")


async def test_a_relay_with_another_shard_count_takes_nothing(
    database: databases.Database, relays: list[ShardedRelay], caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    relays.append(sharded_relay(database, recorder, "w-four", shards=4))
    await relays[0].balance_once()
    assert relays[0].shards_held == [0, 1, 2, 3]
    relays.append(sharded_relay(database, recorder, "w-eight", shards=8))
    with caplog.at_level(logging.ERROR, logger="outbox"):
        await relays[1].balance_once()
    # Its shards would cut across the others': a key could be published twice at once.
    assert relays[1].shards_held == []
    assert "another shard count" in caplog.text and "OUTBOX_SHARDS=8" in caplog.text


async def test_a_stopped_relays_shards_are_taken_once_its_heartbeat_and_leases_lapse(
    database: databases.Database, relays: list[ShardedRelay]
) -> None:
    """A worker killed (no release): its shards come back when its leases lapse."""
    recorder = Recorder()
    store_ = DatabaseOutboxStore(database)
    crashed = ShardedRelay(
        lambda shard: OutboxRelay(
            store_.for_shard(shard),
            recorder.for_relay("dead"),
            PublishHealth(),
            holder="dead",
            lease_ttl=1.0,
        ),
        DatabaseRelayMembers(database),
        holder="dead",
        shards=4,
        lease_ttl=1.0,
    )
    await crashed.balance_once()
    assert crashed.shards_held == [0, 1, 2, 3]
    await crashed.stop()  # its loops end; its rows stay: as after a SIGKILL
    relays.append(sharded_relay(database, recorder, "alive", shards=4))

    async def took_all() -> bool:
        await relays[0].balance_once()
        return relays[0].shards_held == [0, 1, 2, 3]

    await eventually(took_all, timeout=15, what="the lapsed shards taken over")


def single_relay(db: databases.Database, recorder: Recorder, holder: str) -> OutboxRelay:
    """A worker's relay without OUTBOX_SHARDS (the default, 1): the single lease."""
    return OutboxRelay(
        DatabaseOutboxStore(db),
        recorder.for_relay(holder),
        PublishHealth(),
        holder=holder,
        batch_size=5,
        poll_interval=0.05,
    )


class Worker:
    """One worker's relay with OUTBOX_SHARDS=`shards`, as the wiring builds it."""

    def __init__(self, db: databases.Database, recorder: Recorder, shards: int) -> None:
        self.shards = shards
        self.name = f"w-{shards}"
        self.relay: OutboxRelay | ShardedRelay = (
            single_relay(db, recorder, self.name)
            if shards == 1
            else sharded_relay(db, recorder, self.name, shards=shards)
        )

    async def take(self) -> None:
        if isinstance(self.relay, OutboxRelay):
            await self.relay.run_once()
        else:
            await self.relay.balance_once()

    def holds(self) -> bool:
        return bool(self.relay.shards_held)


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        await worker.relay.stop()


@pytest.mark.parametrize(("in_force", "newcomer"), [(4, 1), (1, 4), (4, 8), (8, 1)])
async def test_a_relay_whose_shard_setting_differs_from_the_one_in_force_takes_nothing(
    database: databases.Database,
    workers: list[Worker],
    caplog: pytest.LogCaptureFixture,
    in_force: int,
    newcomer: int,
) -> None:
    """OUTBOX_SHARDS unset beside OUTBOX_SHARDS=4 once took the single lease and published
    what the shard lanes publish: duplicates, and no order between the two."""
    recorder = Recorder()
    first, second = Worker(database, recorder, in_force), Worker(database, recorder, newcomer)
    workers.extend([first, second])
    await first.take()
    assert first.holds()
    ids = await store(database, KEYS)
    with caplog.at_level(logging.ERROR, logger="outbox"):
        for _ in range(3):
            await second.take()
    assert not second.holds()
    assert second.relay.shard_conflict == f"OUTBOX_SHARDS={in_force}"
    assert first.relay.shard_conflict is None
    assert f"OUTBOX_SHARDS={newcomer}" in caplog.text and f"={in_force}" in caplog.text
    # Whatever is published comes from the relay in force alone.
    await first.take()
    assert {r for r, _, _ in recorder.sent} <= {first.name}
    assert {e for _, _, e in recorder.sent} <= set(ids)


class CheckedThenInterrupted(DatabaseRelayMembers):
    """Members whose check for other shard settings lets something happen right after it."""

    def __init__(self, db: databases.Database, meanwhile: Any) -> None:
        super().__init__(db)
        self.meanwhile = meanwhile

    async def other_schemes(self, shards: int) -> list[str]:
        found = await super().other_schemes(shards)
        await self.meanwhile()
        return found


async def test_two_shard_settings_starting_at_once_never_both_relay(
    database: databases.Database, workers: list[Worker]
) -> None:
    """The unsharded relay takes its lease just after the sharded one found none live: the
    check alone let both relay; the setting in force is decided atomically."""
    recorder = Recorder()
    single = Worker(database, recorder, 1)
    workers.append(single)
    sharded = ShardedRelay(
        lambda shard: OutboxRelay(
            DatabaseOutboxStore(database).for_shard(shard),
            recorder.for_relay("w-4"),
            PublishHealth(),
            holder="w-4",
        ),
        CheckedThenInterrupted(database, single.take),
        holder="w-4",
        shards=4,
        lease_ttl=30,
    )
    try:
        await sharded.balance_once()
        assert single.holds() != bool(sharded.shards_held), (
            single.holds(),
            sharded.shards_held,
        )
    finally:
        await sharded.stop()
