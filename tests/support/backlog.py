"""A backlog written straight to the database, in bulk: users and their pending events,
as if Kafka had been down while they were created."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from tests.support.messages import user_created_message
from tests.support.services import direct_url
from tests.support.waiting import eventually
from users_service.adapters.storage import schema
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import migrate
from users_service.adapters.storage.outbox_store import encode_headers
from users_service.domain.clock import utc_now_ms
from users_service.domain.model import User, new_id
from users_service.domain.sharding import key_hash

FAKE_HASH = "$2b$04$" + "b" * 53


@dataclass(frozen=True)
class Seeded:
    """One pending event as stored: its id, key and exact value."""

    event_id: str
    key: str
    value: bytes


async def seed_backlog(
    url: str, topic: str, count: int, prefix: str = "backlog", *, held: bool = False
) -> list[Seeded]:
    """`count` users and their pending USER_CREATED rows, 1,000 per transaction; with
    `held`, parked, out of every relay's sight until `release_backlog`."""
    await migrate(direct_url(url))
    db = make_database(direct_url(url))
    await db.connect()
    seeded: list[Seeded] = []
    try:
        for start in range(0, count, 1000):
            users, rows = [], []
            for n in range(start, min(start + 1000, count)):
                user = User(
                    new_id(), f"{prefix} {n}", f"{prefix}{n}@example.com", utc_now_ms(), FAKE_HASH
                )
                event = user_created_message(user, topic)
                users.append(
                    {
                        "id": user.id,
                        "nombre": user.nombre,
                        "email": user.email,
                        "password_hash": user.password_hash,
                        "created_at": user.created_at,
                    }
                )
                rows.append(
                    {
                        "event_id": event.event_id,
                        "aggregate_type": event.aggregate_type,
                        "aggregate_id": user.id,
                        "event_type": event.event_type,
                        "topic": topic,
                        "message_key": event.key,
                        "key_hash": key_hash(event.key),
                        "payload": event.payload.decode(),
                        "headers": encode_headers(event.headers),
                        "created_at": event.created_at,
                        "parked_at": event.created_at if held else None,
                    }
                )
                seeded.append(Seeded(event.event_id, event.key, event.payload))
            async with db.transaction():
                await db.execute_many(schema.users.insert(), users)
                await db.execute_many(schema.outbox.insert(), rows)
    finally:
        await db.disconnect()
    return seeded


async def release_backlog(url: str) -> None:
    """Make a held backlog pending, all of it at once (one statement)."""
    db = make_database(direct_url(url))
    await db.connect()
    try:
        await db.execute(schema.outbox.update().values(parked_at=None))
    finally:
        await db.disconnect()


async def unpublished(url: str) -> int:
    """Outbox rows no relay has had acknowledged yet (parked ones aside), counted in the
    database itself: a worker's status caches its count for up to a second."""
    db = make_database(url)
    await db.connect()
    try:
        query = (
            sa.select(sa.func.count())
            .select_from(schema.outbox)
            .where(schema.outbox.c.published_at.is_(None), schema.outbox.c.parked_at.is_(None))
        )
        return int(await db.fetch_val(query))
    finally:
        await db.disconnect()


async def wait_published(url: str, timeout: float) -> None:
    """Until every outbox row is acknowledged by Kafka: from then on, every copy a relay
    wrote (retries included) is below the topic's end offsets, and `read_topic` sees it."""

    async def none_left() -> bool:
        return await unpublished(url) == 0

    await eventually(none_left, timeout=timeout, interval=0.1, what="every outbox row published")
