"""Who relays: each relay's heartbeat row, and the state of every shard's lease.

Rows of `outbox_relay_leases`, timed by the database's clock like the leases themselves:
a relay that stops beating lapses after its TTL, and the others then share its shards.
"""

from __future__ import annotations

import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, read_timestamp
from users_service.adapters.storage.db_clock import db_now, db_now_plus
from users_service.adapters.storage.outbox_store import SHARD_SETTING
from users_service.domain.sharding import Shard, setting_of, setting_of_lease
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
        """The OUTBOX_SHARDS of live relay leases (and of the setting row) other than
        `shards`: a worker configured otherwise, whose shards overlap ours."""
        ours = setting_of(shards)
        rows = await self._db.fetch_all(
            sa.select(_leases.c.name, _leases.c.holder).where(
                sa.or_(_leases.c.name == "outbox-relay", _leases.c.name.like("outbox-relay%")),
                _live(),
            )
        )
        found = {
            row["holder"] if row["name"] == SHARD_SETTING else setting_of_lease(row["name"])
            for row in rows
        }
        return sorted(setting for setting in found if setting and setting != ours)
