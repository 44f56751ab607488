"""Persistence on both real databases: the unit of work, the outbox store, verifications."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import databases
import pytest
import sqlalchemy as sa

from tests.support.messages import user_created_message
from tests.support.services import POSTGRES_URL
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually
from users_service.adapters.storage import schema
from users_service.adapters.storage.database import make_database, read_timestamp
from users_service.adapters.storage.idempotency_keys import DatabaseIdempotencyKeys
from users_service.adapters.storage.migrations import migrate
from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.users import DatabaseUsers
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.domain.clock import utc_now_ms
from users_service.domain.errors import EmailAlreadyRegistered, StorageUnavailable
from users_service.domain.model import User, new_id
from users_service.domain.verification import VerificationOutcome as Outcome
from users_service.service_layer.outbox.ports import Fence


def a_user(email: str = "ana@example.com") -> User:
    return User(new_id(), "Ana", email, utc_now_ms(), "$2b$04$" + "h" * 53)


async def count(db: databases.Database, table: sa.Table) -> int:
    return int(await db.fetch_val(sa.select(sa.func.count()).select_from(table)))


async def store_user(db: databases.Database, user: User, *, claimed_by: str | None = None) -> str:
    event = user_created_message(user)
    async with DatabaseUnitOfWork(db, claimed_by) as uow:
        await uow.users.add(user)
        await uow.outbox.add(event)
    return event.event_id


async def test_user_and_outbox_row_commit_together(database: databases.Database) -> None:
    user = a_user()
    event_id = await store_user(database, user)
    async with DatabaseUnitOfWork(database) as uow:
        stored = await uow.users.get(user.id)
    assert stored == user
    row = await database.fetch_one(schema.outbox.select())
    assert row is not None
    assert (row["event_id"], row["message_key"], row["aggregate_id"]) == (
        event_id,
        user.id,
        user.id,
    )
    assert json.loads(row["payload"])["data"] == user.public()
    assert "h" * 53 not in row["payload"]


async def test_the_relay_reads_back_the_exact_bytes_written(database: databases.Database) -> None:
    user = a_user()
    user = User(
        user.id, "José Núñez-Ångström 山田", user.email, user.created_at, user.password_hash
    )
    event = user_created_message(user)
    async with DatabaseUnitOfWork(database) as uow:
        await uow.users.add(user)
        await uow.outbox.add(event)
    [pending] = await DatabaseOutboxStore(database).pending(10)
    assert pending.payload == event.payload
    assert pending.headers == event.headers and pending.key == user.id


async def test_claimed_messages_are_dispatched_after_commit_only(
    database: databases.Database,
) -> None:
    user, event = a_user(), None
    async with DatabaseUnitOfWork(database, "w1") as uow:
        event = user_created_message(user)
        await uow.users.add(user)
        await uow.outbox.add(event)
        assert uow.collect_claimed() == []  # not before the commit
    assert uow.collect_claimed() == [event]
    assert uow.collect_claimed() == []  # handed over once
    row = await database.fetch_one(schema.outbox.select())
    assert row is not None and row["claimed_by"] == "w1"

    with pytest.raises(RuntimeError):
        async with DatabaseUnitOfWork(database, "w1") as rolled_back:
            await rolled_back.outbox.add(user_created_message(a_user("b@example.com")))
            raise RuntimeError("rolled back")
    assert rolled_back.collect_claimed() == []  # a rolled-back message is never published

    # The fast path closed (no owner): the relay's job.
    await store_user(database, a_user("c@example.com"), claimed_by=None)
    async with DatabaseUnitOfWork(database, None) as closed:
        await closed.outbox.add(user_created_message(a_user("d@example.com")))
    assert closed.collect_claimed() == []


async def test_a_failure_after_the_user_insert_leaves_neither_row(
    database: databases.Database,
) -> None:
    user = a_user()
    with pytest.raises(RuntimeError, match="boom"):
        async with DatabaseUnitOfWork(database) as uow:
            await uow.users.add(user)
            await uow.outbox.add(user_created_message(user, topic="t"))
            raise RuntimeError("boom")
    assert await count(database, schema.users) == 0
    assert await count(database, schema.outbox) == 0


async def test_duplicate_email_raises_and_rolls_back(database: databases.Database) -> None:
    await store_user(database, a_user("dup@example.com"))
    with pytest.raises(EmailAlreadyRegistered):
        await store_user(database, a_user("dup@example.com"))
    assert await count(database, schema.users) == 1
    assert await count(database, schema.outbox) == 1


async def test_pending_is_oldest_first_and_skips_claimed_rows(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    first = await store_user(database, a_user("a@example.com"))
    claimed = await store_user(database, a_user("b@example.com"), claimed_by="w1")
    third = await store_user(database, a_user("c@example.com"))
    assert [m.event_id for m in await store.pending(10)] == [first, third]
    assert await store.mark_published([first]) == 1
    assert [m.event_id for m in await store.pending(10)] == [third]
    # An outage: the fast-path claim is released, no attempt counted.
    await store.mark_failed([claimed], "broker down", count_attempt=False, max_attempts=1)
    assert [m.event_id for m in await store.pending(10)] == [claimed, third]
    backlog = await store.backlog()
    assert backlog.pending == 2 and backlog.oldest_pending_created_at is not None
    assert backlog.parked == 0


async def test_a_claim_lapses_by_the_databases_clock(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    user = a_user()
    async with DatabaseUnitOfWork(database, "w1", claim_ttl=0.3) as uow:
        await uow.users.add(user)
        await uow.outbox.add(user_created_message(user))
    assert await store.pending(10) == []  # claimed by w1's fast path

    async def lapsed() -> bool:
        return len(await store.pending(10)) == 1

    await eventually(lapsed, timeout=10, what="the claim lapsed")


async def test_only_the_owner_extends_a_claim_and_only_while_unpublished(
    database: databases.Database,
) -> None:
    store = DatabaseOutboxStore(database)
    users = [a_user(f"{n}@example.com") for n in "ab"]
    events = []
    for user in users:
        async with DatabaseUnitOfWork(database, "w1", claim_ttl=2) as uow:
            await uow.users.add(user)
            event = user_created_message(user)
            await uow.outbox.add(event)
            events.append(event.event_id)

    async def claimed_until() -> dict[str, datetime]:
        rows = await database.fetch_all(
            sa.select(schema.outbox.c.event_id, schema.outbox.c.claimed_until)
        )
        return {row[0]: read_timestamp(row[1]) for row in rows}  # type: ignore[misc]

    before = await claimed_until()
    await store.mark_published([events[1]])
    await store.extend_claims(events, "w2", ttl=600)  # not w2's: nothing changes
    assert await claimed_until() == {events[0]: before[events[0]], events[1]: None}
    await store.extend_claims(events, "w1", ttl=600)
    after = await claimed_until()
    assert after[events[0]] > before[events[0]] + timedelta(seconds=500)
    assert after[events[1]] is None  # published: its claim is over


async def test_a_row_that_keeps_failing_is_parked_and_leaves_the_rest(
    database: databases.Database,
) -> None:
    store = DatabaseOutboxStore(database)
    bad = await store_user(database, a_user("a@example.com"))
    good = await store_user(database, a_user("b@example.com"))
    for _ in range(3):
        await store.mark_failed(
            [bad], "MessageSizeTooLargeError", count_attempt=True, max_attempts=3
        )
    assert [m.event_id for m in await store.pending(10)] == [good]
    backlog = await store.backlog()
    assert (backlog.pending, backlog.parked) == (1, 1)
    row = await database.fetch_one(schema.outbox.select().where(schema.outbox.c.event_id == bad))
    assert row is not None and row["attempts"] == 3 and row["parked_at"] is not None
    assert row["last_error"] == "MessageSizeTooLargeError"


async def test_a_claimed_older_message_holds_back_its_key(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    user = a_user()
    async with DatabaseUnitOfWork(database, "w1") as uow:
        await uow.users.add(user)
        older = user_created_message(user, topic="t")
        await uow.outbox.add(older)
        newer = user_created_message(user, topic="t")
        # An older message of this key is pending: no fast path for the newer one.
        await uow.outbox.add(newer)
    assert uow.collect_claimed() == [older]
    assert await store.pending(10) == []
    await store.mark_failed([older.event_id], "x", count_attempt=False, max_attempts=10)
    assert [m.event_id for m in await store.pending(10)] == [older.event_id, newer.event_id]


async def test_one_lease_holder_at_a_time_and_each_change_of_hands_a_new_generation(
    database: databases.Database,
) -> None:
    store = DatabaseOutboxStore(database)
    first = await store.acquire_lease("w1", ttl=30)
    assert first is not None
    assert await store.acquire_lease("w2", ttl=30) is None
    assert await store.acquire_lease("w1", ttl=30) == first  # a renewal keeps it
    await store.release_lease("w1")
    assert await store.acquire_lease("w2", ttl=30) == first + 1


async def test_marks_count_only_while_the_relays_generation_holds_the_lease(
    database: databases.Database,
) -> None:
    store = DatabaseOutboxStore(database)
    ids = [await store_user(database, a_user(f"{n}@example.com")) for n in "ab"]
    old = await store.acquire_lease("w1", ttl=30)
    assert old is not None
    await store.release_lease("w1")
    new = await store.acquire_lease("w2", ttl=30)
    assert new is not None
    assert await store.mark_published(ids, Fence("w1", old)) == 0  # fenced out
    assert len(await store.pending(10)) == 2
    assert await store.mark_published(ids, Fence("w2", new)) == 2


async def test_a_worker_clock_30s_ahead_cannot_take_a_live_lease(
    database: databases.Database,
) -> None:
    """Leases are timed by the database: a worker's own clock, however wrong, changes
    nothing (before, a host 30 s ahead saw every live lease as lapsed)."""
    punctual = DatabaseOutboxStore(database)
    ahead = DatabaseOutboxStore(database, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    assert await punctual.acquire_lease("w1", ttl=15) is not None
    assert await ahead.acquire_lease("w2", ttl=15) is None


async def test_an_expired_lease_can_be_taken_over(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    first = await store.acquire_lease("w1", ttl=0.5)
    assert first is not None
    assert await store.acquire_lease("w2", ttl=10) is None

    async def taken_over() -> bool:  # w1 does not renew: by the database's clock it lapses
        return await store.acquire_lease("w2", ttl=10) == first + 1

    await eventually(taken_over, timeout=10, what="w2 takes the lapsed lease")


async def test_concurrent_lease_attempts_elect_exactly_one(postgres_url: str) -> None:
    dbs = [make_database(postgres_url) for _ in range(5)]
    for db in dbs:
        await db.connect()
    try:
        await migrate(postgres_url)
        results = await asyncio.gather(
            *(DatabaseOutboxStore(db).acquire_lease(f"w{i}", ttl=30) for i, db in enumerate(dbs))
        )
        assert sum(result is not None for result in results) == 1
    finally:
        for db in dbs:
            await db.disconnect()


async def test_retention_purges_only_old_published_rows_in_bounded_chunks(
    database: databases.Database,
) -> None:
    store = DatabaseOutboxStore(database)
    ids = [await store_user(database, a_user(f"{n}@example.com")) for n in "abcd"]
    await store.mark_published(ids[:3])
    assert await store.purge_published(3600.0, limit=10) == 0  # none older than an hour
    # A negative retention reaches into the future: every published row is past it.
    assert await store.purge_published(-5.0, limit=2) == 2
    assert await store.purge_published(-5.0, limit=2) == 1
    assert [m.event_id for m in await store.pending(10)] == [ids[3]]


async def test_expired_idempotency_keys_are_purged_in_bounded_chunks(
    database: databases.Database,
) -> None:
    keys = DatabaseIdempotencyKeys(database)
    past = utc_now_ms() - timedelta(days=2)
    for n in range(5):
        await keys.save(f"k{n}", "f" * 64, "u", past, ttl=60)  # expired a day ago
    await keys.save("live", "f" * 64, "u", utc_now_ms(), ttl=3600)
    assert await keys.purge_expired(limit=3) == 3
    assert await keys.purge_expired(limit=3) == 2
    assert await keys.purge_expired(limit=3) == 0
    assert await keys.find("live", utc_now_ms()) is not None


async def test_verifications_reconcile_users_without_verified_events(
    database: databases.Database,
) -> None:
    verifications = DatabaseVerificationStore(database)
    u1, u2 = a_user("a@example.com"), a_user("b@example.com")
    e1 = await store_user(database, u1)
    await store_user(database, u2)
    assert await verifications.record_many([Outcome(e1, u1.id, None)]) == {e1}
    assert await verifications.record_many([Outcome(e1, u1.id, None)]) == set()
    ghost = new_id()
    assert await verifications.record_many([Outcome(ghost, "ghost", "user_not_stored")]) == {ghost}
    assert await verifications.get_users([u1.id, u2.id, "nobody"]) == {u1.id: u1, u2.id: u2}
    result = await verifications.reconcile()
    assert result.unverified_users == 1
    assert result.oldest_unverified_created_at == u2.created_at
    assert result.events_without_user == 1


async def test_unreachable_postgres_is_storage_unavailable(postgres_url: str) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    db = make_database(POSTGRES_URL.replace(":5432/", f":{proxy.port}/"))
    await migrate(postgres_url)
    await db.connect()
    try:
        await proxy.cut()
        with pytest.raises(StorageUnavailable):
            await store_user(db, a_user())
    finally:
        await db.disconnect()


async def test_query_logs_never_carry_parameters(
    database: databases.Database, caplog: pytest.LogCaptureFixture
) -> None:
    from users_service.adapters.log_redaction import install_log_redaction

    install_log_redaction()
    user = a_user()
    with caplog.at_level(logging.DEBUG):
        await store_user(database, user)
        # On PostgreSQL the hot statements go to asyncpg directly (unlogged); this one
        # goes through `databases`, which logs every query at DEBUG.
        await DatabaseUsers(database).get(user.id)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "FROM users" in text  # the queries are still logged...
    assert user.password_hash not in text  # ...but not their parameters
    assert user.email not in text
