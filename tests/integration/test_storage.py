"""Persistence on both real databases: the unit of work, the outbox store, verifications."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import databases
import pytest
import sqlalchemy as sa

from tests.support.fakes import FakeDispatcher
from tests.support.messages import user_created_message
from tests.support.services import POSTGRES_URL
from tests.support.tcp_proxy import TcpProxy
from users_service.adapters.storage import schema
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import migrate
from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.domain.clock import utc_now_ms
from users_service.domain.errors import EmailAlreadyRegistered, StorageUnavailable
from users_service.domain.model import User, new_id
from users_service.domain.verification import VerificationOutcome as Outcome


def a_user(email: str = "ana@example.com") -> User:
    return User(new_id(), "Ana", email, utc_now_ms(), "$2b$04$" + "h" * 53)


async def count(db: databases.Database, table: sa.Table) -> int:
    return int(await db.fetch_val(sa.select(sa.func.count()).select_from(table)))


async def store_user(db: databases.Database, user: User, *, claimed_by: str | None = None) -> str:
    event = user_created_message(user)
    async with DatabaseUnitOfWork(db, FakeDispatcher(claimed_by)) as uow:
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
    dispatcher = FakeDispatcher("w1")
    user, event = a_user(), None
    async with DatabaseUnitOfWork(database, dispatcher) as uow:
        event = user_created_message(user)
        await uow.users.add(user)
        await uow.outbox.add(event)
        assert dispatcher.dispatched == []  # not before the commit
    assert dispatcher.dispatched == [event]
    row = await database.fetch_one(schema.outbox.select())
    assert row is not None and row["claimed_by"] == "w1"

    with pytest.raises(RuntimeError):
        async with DatabaseUnitOfWork(database, dispatcher) as uow:
            await uow.outbox.add(user_created_message(a_user("b@example.com")))
            raise RuntimeError("rolled back")
    assert dispatcher.dispatched == [event]  # a rolled-back message is never published

    closed = FakeDispatcher(owner=None)  # the fast path is closed: the relay's job
    await store_user(database, a_user("c@example.com"), claimed_by=None)
    async with DatabaseUnitOfWork(database, closed) as uow:
        await uow.outbox.add(user_created_message(a_user("d@example.com")))
    assert closed.dispatched == []


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
    await store.mark_published([first])
    assert [m.event_id for m in await store.pending(10)] == [third]
    await store.mark_failed([claimed], "broker down")  # releases the fast-path claim
    assert [m.event_id for m in await store.pending(10)] == [claimed, third]
    backlog = await store.backlog()
    assert backlog.pending == 2 and backlog.oldest_pending_created_at is not None


async def test_a_claimed_older_message_holds_back_its_key(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    user = a_user()
    dispatcher = FakeDispatcher("w1")
    async with DatabaseUnitOfWork(database, dispatcher) as uow:
        await uow.users.add(user)
        older = user_created_message(user, topic="t")
        await uow.outbox.add(older)
        newer = user_created_message(user, topic="t")
        # An older message of this key is pending: no fast path for the newer one.
        await uow.outbox.add(newer)
    assert dispatcher.dispatched == [older]
    assert await store.pending(10) == []
    await store.mark_failed([older.event_id], "x")
    assert [m.event_id for m in await store.pending(10)] == [older.event_id, newer.event_id]


async def test_one_lease_holder_at_a_time(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    assert await store.acquire_lease("w1", ttl=30)
    assert not await store.acquire_lease("w2", ttl=30)
    assert await store.acquire_lease("w1", ttl=30)  # renewal
    await store.release_lease("w1")
    assert await store.acquire_lease("w2", ttl=30)


async def test_an_expired_lease_can_be_taken_over(database: databases.Database) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = DatabaseOutboxStore(database, clock=lambda: now[0])
    assert await store.acquire_lease("w1", ttl=10)
    now[0] += timedelta(seconds=9)
    assert not await store.acquire_lease("w2", ttl=10)
    now[0] += timedelta(seconds=2)  # w1 did not renew: its lease lapsed
    assert await store.acquire_lease("w2", ttl=10)


async def test_concurrent_lease_attempts_elect_exactly_one(postgres_url: str) -> None:
    dbs = [make_database(postgres_url) for _ in range(5)]
    for db in dbs:
        await db.connect()
    try:
        await migrate(postgres_url)
        results = await asyncio.gather(
            *(DatabaseOutboxStore(db).acquire_lease(f"w{i}", ttl=30) for i, db in enumerate(dbs))
        )
        assert sum(results) == 1
    finally:
        for db in dbs:
            await db.disconnect()


async def test_retention_purges_only_old_published_rows(database: databases.Database) -> None:
    store = DatabaseOutboxStore(database)
    ids = [await store_user(database, a_user(f"{n}@example.com")) for n in "abc"]
    await store.mark_published(ids[:2])
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert await store.purge_published(older_than=later) == 2
    assert [m.event_id for m in await store.pending(10)] == [ids[2]]


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
    from users_service.adapters.storage.log_redaction import redact_query_logs

    redact_query_logs()
    user = a_user()
    with caplog.at_level(logging.DEBUG):
        await store_user(database, user)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "INSERT INTO users" in text  # the queries are still logged...
    assert user.password_hash not in text  # ...but not their parameters
    assert user.email not in text
