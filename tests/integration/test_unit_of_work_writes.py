"""The unit of work's writes, held to the commit (`storage.writes`): on PostgreSQL chained
into one statement where they can be, else one by one in a transaction; all or nothing
either way, and a conflict is the service layer's error whichever write it hit."""

from __future__ import annotations

from dataclasses import replace

import databases
import pytest
import sqlalchemy as sa

from tests.support.messages import user_created_message
from users_service.adapters.storage import schema
from users_service.adapters.storage.errors import UNIQUE_VIOLATIONS
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.writes import MAX_CHAINED
from users_service.domain.clock import utc_now_ms
from users_service.domain.commands import CommandOutcome
from users_service.domain.errors import CommandAlreadyHandled, IdempotencyKeyTaken
from users_service.domain.model import User, new_id


def a_user(email: str) -> User:
    return User(new_id(), "Ana", email, utc_now_ms(), "$2b$04$" + "h" * 53)


async def count(db: databases.Database, table: sa.Table) -> int:
    return int(await db.fetch_val(sa.select(sa.func.count()).select_from(table)))


async def test_a_conflict_on_the_event_leaves_no_user(database: databases.Database) -> None:
    first = a_user("a@example.com")
    event = user_created_message(first)
    async with DatabaseUnitOfWork(database, "w1") as uow:
        await uow.users.add(first)
        await uow.outbox.add(event)
    second = a_user("b@example.com")
    reused = replace(user_created_message(second), event_id=event.event_id)
    # Not a conflict the service layer knows: the driver's own error (a bug, a 500).
    with pytest.raises(UNIQUE_VIOLATIONS):
        async with DatabaseUnitOfWork(database, "w1") as uow:
            await uow.users.add(second)
            await uow.outbox.add(reused)
    assert await count(database, schema.users) == 1
    assert await count(database, schema.outbox) == 1


async def create_by_command(database: databases.Database, email: str, command_id: str) -> None:
    user = a_user(email)
    async with DatabaseUnitOfWork(database, "w1") as uow:
        await uow.users.add(user)
        await uow.outbox.add(user_created_message(user))
        await uow.commands.record(CommandOutcome(command_id, "created", user_id=user.id))


async def test_a_command_handled_twice_writes_nothing_the_second_time(
    database: databases.Database,
) -> None:
    command_id = new_id()
    await create_by_command(database, "a@example.com", command_id)
    with pytest.raises(CommandAlreadyHandled):
        await create_by_command(database, "b@example.com", command_id)
    assert await count(database, schema.users) == 1
    assert await count(database, schema.outbox) == 1
    assert await count(database, schema.processed_commands) == 1


async def test_a_live_idempotency_key_taken_again_writes_nothing(
    database: databases.Database,
) -> None:
    now = utc_now_ms()
    for email in ("a@example.com", "b@example.com"):
        user = a_user(email)
        try:
            async with DatabaseUnitOfWork(database) as uow:
                await uow.users.add(user)
                await uow.outbox.add(user_created_message(user))
                await uow.idempotency.save("key-1", "f" * 64, user.id, now, 3600)
        except IdempotencyKeyTaken:
            assert email == "b@example.com"
    assert await count(database, schema.users) == 1
    assert await count(database, schema.idempotency_keys) == 1


async def test_more_writes_than_one_statement_chains_all_commit(
    database: databases.Database,
) -> None:
    users = [a_user(f"{n}@example.com") for n in range(MAX_CHAINED + 3)]
    async with DatabaseUnitOfWork(database) as uow:
        for user in users:
            await uow.outbox.add(user_created_message(user))
    assert await count(database, schema.outbox) == len(users)
