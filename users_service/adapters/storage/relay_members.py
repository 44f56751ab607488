"""Who relays: each relay's heartbeat row, and the state of every shard's lease.

Rows of `outbox_relay_leases`, timed by the database's clock like the leases themselves:
a relay that stops beating lapses after its TTL, and the others then share its shards.
"""

from __future__ import annotations

import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, read_timestamp
from users_service.adapters.storage.db_clock import db_now, db_now_plus
from users_service.domain.sharding import Shard
from users_service.service_layer.outbox.ports import ShardLease

MEMBER_PREFIX = "relay-member:"
_leases = schema.relay_leases


def _live() -> sa.ColumnElement[bool]:
    return sa.and_(
        _leases.c.holder.is_not(None),
        _leases.c.expires_at.is_not(None),
        _leases.c.expires_at >= db_now(),
    )


class DatabaseRelayMembers(DatabaseAccess):
    """RelayMembers on the lease table."""

    async def heartbeat(self, holder: str, ttl: float) -> int:
        name = MEMBER_PREFIX + holder
        renew = (
            _leases.update()
            .where(_leases.c.name == name)
            .values(holder=holder, expires_at=db_now_plus(float(ttl)))
            .returning(_leases.c.name)
        )
        if await self._db.fetch_one(renew) is None:
            await self._db.execute(
                _leases.insert().values(
                    name=name, holder=holder, expires_at=db_now_plus(float(ttl))
                )
            )
        count = await self._db.fetch_val(
            sa.select(sa.func.count())
            .select_from(_leases)
            .where(_leases.c.name.like(MEMBER_PREFIX + "%"), _live())
        )
        return int(count or 0)

    async def leave(self, holder: str) -> None:
        await self._db.execute(_leases.delete().where(_leases.c.name == MEMBER_PREFIX + holder))

    async def leases(self, shards: int) -> list[ShardLease]:
        names = {Shard(i, shards).lease_name: i for i in range(shards)}
        rows = await self._db.fetch_all(
            sa.select(
                _leases.c.name, _leases.c.holder, _leases.c.expires_at, _leases.c.generation
            ).where(_leases.c.name.in_(list(names)))
        )
        # Lapsed or not by the database's clock, as the relays themselves decide it.
        live = {
            row["name"]
            for row in await self._db.fetch_all(
                sa.select(_leases.c.name).where(_leases.c.name.in_(list(names)), _live())
            )
        }
        found = {
            names[row["name"]]: ShardLease(
                shard=names[row["name"]],
                holder=row["holder"] if row["name"] in live else None,
                expires_at=read_timestamp(row["expires_at"]),
                generation=int(row["generation"]),
            )
            for row in rows
        }
        return [found.get(i, ShardLease(i, None, None, 0)) for i in range(shards)]

    async def other_schemes(self, shards: int) -> list[str]:
        """Live relay leases that are not of `shards` shards: a worker configured with
        another OUTBOX_SHARDS, whose shards overlap ours."""
        ours = [Shard(i, shards).lease_name for i in range(shards)]
        rows = await self._db.fetch_all(
            sa.select(_leases.c.name).where(
                sa.or_(_leases.c.name == "outbox-relay", _leases.c.name.like("outbox-relay:%")),
                _leases.c.name.not_in(ours),
                _live(),
            )
        )
        return sorted(row["name"] for row in rows)
