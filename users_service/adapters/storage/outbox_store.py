"""The outbox adapter: the writes of a unit of work (`DatabaseOutbox`, claiming for the fast
path), and the outbox as the relay sees it (`DatabaseOutboxStore`: pending rows, the relay
lease, parking, retention).

Every time here is the database's (`db_clock`): leases, claims and retention mean the same
on every worker, however far their own clocks drift apart.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import databases
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from users_service.adapters import trace_context
from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, is_sqlite, read_timestamp
from users_service.adapters.storage.db_clock import db_now, db_now_plus
from users_service.adapters.storage.errors import unavailable_as_storage_error
from users_service.adapters.storage.statements import Prepared
from users_service.adapters.storage.writes import Template, Write, Writes
from users_service.domain.clock import utc_now
from users_service.domain.model import OutboxMessage
from users_service.domain.sharding import Shard, key_hash, setting_of
from users_service.service_layer.outbox.ports import (
    Backlog,
    Fence,
    OtherShardSetting,
    PendingMessage,
)

WHOLE_OUTBOX = Shard(0, 1)
RELAY_LEASE = WHOLE_OUTBOX.lease_name

_o = schema.outbox
_leases = schema.relay_leases


def _pending_statement(*, sharded: bool) -> sa.Select[Any]:
    """Unpublished, unclaimed, unparked rows after `:after`, oldest first, `:limit` of them;
    with `sharded`, only those whose key hash is `:shard_index` modulo `:shard_count`."""
    now = db_now()
    older = _o.alias("older")
    # An older unpublished row of the same key that someone's fast path still holds
    # must go first; skipping its successors keeps per-key order.
    held_back = (
        sa.select(older.c.id)
        .where(older.c.topic == _o.c.topic, older.c.message_key == _o.c.message_key)
        .where(older.c.id < _o.c.id, older.c.published_at.is_(None))
        .where(older.c.claimed_until.is_not(None), older.c.claimed_until >= now)
        .exists()
    )
    query = (
        sa.select(
            _o.c.id,
            _o.c.event_id,
            _o.c.event_type,
            _o.c.topic,
            _o.c.message_key,
            _o.c.payload,
            _o.c.headers,
            _o.c.created_at,
            _o.c.traceparent,
            _o.c.tracestate,
        )
        .where(_o.c.published_at.is_(None), _o.c.parked_at.is_(None))
        .where(sa.or_(_o.c.claimed_until.is_(None), _o.c.claimed_until < now))
        .where(~held_back)
        .where(_o.c.id > sa.bindparam("after", type_=sa.BigInteger))
    )
    if sharded:
        # key_hash mod count, spelt without "%": `databases` formats SQLite's statements
        # with Python's "%", which would take it for a placeholder.
        count = sa.bindparam("shard_count", type_=sa.Integer)
        index = sa.bindparam("shard_index", type_=sa.Integer)
        query = query.where(_o.c.key_hash - (_o.c.key_hash // count) * count == index)
    return query.order_by(_o.c.id).limit(sa.bindparam("limit", type_=sa.Integer))


_PENDING = {sharded: Prepared(_pending_statement(sharded=sharded)) for sharded in (False, True)}


def _mark_statement(*, fenced: bool) -> sa.Update:
    """On PostgreSQL: mark the rows of `:ids` published; with `fenced`, only while
    `:holder` holds lease `:lease` at `:generation`."""
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String(36)))
    query = (
        _o.update()
        .where(_o.c.event_id == sa.any_(ids))
        .values(published_at=db_now(), claimed_by=None, claimed_until=None)
        .returning(_o.c.id)
    )
    if fenced:
        query = query.where(
            sa.select(_leases.c.name)
            .where(_leases.c.name == sa.bindparam("lease", type_=sa.String))
            .where(_leases.c.holder == sa.bindparam("holder", type_=sa.String))
            .where(_leases.c.generation == sa.bindparam("generation", type_=sa.BigInteger))
            .exists()
        )
    return query


_MARK_ON_POSTGRES = {fenced: Prepared(_mark_statement(fenced=fenced)) for fenced in (False, True)}


def _ensure_lease_row(insert: Any) -> Prepared:
    return Prepared(
        insert(_leases)
        .values(name=sa.bindparam("name", type_=sa.String), holder=None, expires_at=None)
        .on_conflict_do_nothing(index_elements=["name"])
    )


# Run on every relay cycle (per shard): compiled once. Keyed by "on SQLite".
_ENSURE_LEASE_ROW = {
    True: _ensure_lease_row(sqlite.insert),
    False: _ensure_lease_row(postgresql.insert),
}
_holder = sa.bindparam("holder", type_=sa.String)
_TAKE_OR_RENEW_LEASE = Prepared(
    _leases.update()
    .where(_leases.c.name == sa.bindparam("name", type_=sa.String))
    .where(
        sa.or_(
            _leases.c.holder == _holder,
            _leases.c.holder.is_(None),
            _leases.c.expires_at.is_(None),
            _leases.c.expires_at < db_now(),
        )
    )
    .values(
        holder=_holder,
        expires_at=db_now_plus(sa.bindparam("ttl", type_=sa.Float)),
        generation=sa.case(
            (_leases.c.holder == _holder, _leases.c.generation),
            else_=_leases.c.generation + 1,
        ),
    )
    .returning(_leases.c.generation)
)


# The OUTBOX_SHARDS in force: a row every relay claims (or renews) before it takes or
# renews a lease, in one statement, so that two settings can never both hold leases (a
# check of the live leases followed by a take let two relays starting at once both pass).
# It lapses a little after the last lease of its setting could, then any setting may claim it.
SHARD_SETTING = "outbox-relay-setting"
SETTING_MARGIN = 2.0  # seconds past the lease's TTL: SQLite's clock counts whole seconds


def _claim_setting(insert: Any) -> Prepared:
    claim = insert(_leases).values(
        name=SHARD_SETTING,
        holder=sa.bindparam("setting", type_=sa.String),
        expires_at=db_now_plus(sa.bindparam("ttl", type_=sa.Float)),
    )
    return Prepared(
        claim.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": claim.excluded.holder, "expires_at": claim.excluded.expires_at},
            where=sa.or_(
                _leases.c.holder == claim.excluded.holder,
                _leases.c.holder.is_(None),
                _leases.c.expires_at.is_(None),
                _leases.c.expires_at < db_now(),
            ),
        ).returning(_leases.c.name)
    )


_CLAIM_SETTING = {True: _claim_setting(sqlite.insert), False: _claim_setting(postgresql.insert)}
_SETTING_IN_FORCE = Prepared(sa.select(_leases.c.holder).where(_leases.c.name == SHARD_SETTING))


class DatabaseOutboxStore(DatabaseAccess):
    """OutboxStore on the `outbox` and `outbox_relay_leases` tables, for one shard.

    The whole outbox by default; `for_shard` gives the store of one shard, whose rows are
    those whose key hash falls in it and whose lease is that shard's own."""

    def __init__(
        self,
        database: databases.Database,
        clock: Callable[[], datetime] = utc_now,
        *,
        shard: Shard = WHOLE_OUTBOX,
    ) -> None:
        super().__init__(database, clock)
        self.shard = shard

    def for_shard(self, shard: Shard) -> DatabaseOutboxStore:
        """The same tables, seen by the relay of `shard`."""
        return DatabaseOutboxStore(self._db, self._clock, shard=shard)

    def _holds(self, fence: Fence) -> sa.ColumnElement[bool]:
        """True while `fence`'s holder still holds this shard's lease at its generation."""
        return (
            sa.select(_leases.c.name)
            .where(_leases.c.name == self.shard.lease_name)
            .where(_leases.c.holder == fence.holder, _leases.c.generation == fence.generation)
            .exists()
        )

    async def acquire_lease(self, holder: str, ttl: float) -> int | None:
        await self._claim_setting(ttl)
        name = self.shard.lease_name
        # The row exists but the first time: a plain INSERT failed on every relay cycle,
        # raising in the worker and logging an ERROR in PostgreSQL's log each time.
        await _ENSURE_LEASE_ROW[is_sqlite(str(self._db.url))].execute(self._db, name=name)
        # One atomic conditional update decides the leader; RETURNING tells us who won and
        # at which generation (unchanged on renewal, one more on every change of hands).
        row = await _TAKE_OR_RENEW_LEASE.fetch_one(
            self._db, name=name, holder=holder, ttl=float(ttl)
        )
        return None if row is None else int(row[0])

    async def _claim_setting(self, ttl: float) -> None:
        """Claim or renew this store's OUTBOX_SHARDS as the one in force; raise
        OtherShardSetting when another is."""
        ours = setting_of(self.shard.count)
        claimed = await _CLAIM_SETTING[is_sqlite(str(self._db.url))].fetch_one(
            self._db, setting=ours, ttl=float(ttl) + SETTING_MARGIN
        )
        if claimed is None:
            row = await _SETTING_IN_FORCE.fetch_one(self._db)
            raise OtherShardSetting(ours, row[0] if row is not None else "another setting")

    async def release_lease(self, holder: str) -> None:
        await self._db.execute(
            _leases.update()
            .where(_leases.c.name == self.shard.lease_name, _leases.c.holder == holder)
            .values(holder=None, expires_at=None)
        )

    async def pending(self, limit: int, after: int | None = None) -> list[PendingMessage]:
        # Compiled once (statements.Prepared) and read as plain rows: through `databases`
        # this read took as much of the relay's time as publishing (compiling, and type
        # processing on every column access).
        shard = self.shard
        rows = await _PENDING[shard.count > 1].fetch_all(
            self._db,
            limit=limit,
            after=-1 if after is None else after,
            **({"shard_count": shard.count, "shard_index": shard.index} if shard.count > 1 else {}),
        )
        return [
            PendingMessage(
                event_id=row["event_id"],
                event_type=row["event_type"],
                topic=row["topic"],
                key=row["message_key"],
                payload=row["payload"].encode("utf-8"),
                headers=orjson.loads(row["headers"]),
                created_at=read_timestamp(row["created_at"]),
                position=int(row["id"]),
                traceparent=row["traceparent"],
                tracestate=row["tracestate"],
            )
            for row in rows
        ]

    async def mark_published(self, event_ids: Sequence[str], fence: Fence | None = None) -> int:
        if not is_sqlite(str(self._db.url)):
            # One array parameter, compiled once: an IN list of a batch's 500 ids was
            # compiled again on every call.
            fencing = (
                {}
                if fence is None
                else {
                    "lease": self.shard.lease_name,
                    "holder": fence.holder,
                    "generation": fence.generation,
                }
            )
            rows = await _MARK_ON_POSTGRES[fence is not None].fetch_all(
                self._db, ids=list(event_ids), **fencing
            )
            return len(rows)
        query = (
            _o.update()
            .where(_o.c.event_id.in_(list(event_ids)))
            .values(published_at=db_now(), claimed_by=None, claimed_until=None)
            .returning(_o.c.id)
        )
        if fence is not None:
            query = query.where(self._holds(fence))
        return len(await self._db.fetch_all(query))

    async def extend_claims(self, event_ids: Sequence[str], owner: str, ttl: float) -> None:
        await self._db.execute(
            _o.update()
            .where(_o.c.event_id.in_(list(event_ids)), _o.c.claimed_by == owner)
            .where(_o.c.published_at.is_(None))
            .values(claimed_until=db_now_plus(float(ttl)))
        )

    async def mark_failed(
        self, event_ids: Sequence[str], error: str, *, count_attempt: bool, max_attempts: int
    ) -> None:
        attempts = _o.c.attempts + 1 if count_attempt else _o.c.attempts
        await self._db.execute(
            _o.update()
            .where(_o.c.event_id.in_(list(event_ids)), _o.c.published_at.is_(None))
            .values(
                attempts=attempts,
                last_error=error[:500],
                claimed_by=None,
                claimed_until=None,
                parked_at=sa.case((attempts >= max_attempts, db_now()), else_=_o.c.parked_at),
            )
        )

    async def purge_published(self, retention: float, limit: int) -> int:
        """Delete up to `limit` rows published more than `retention` seconds ago."""
        expired = (
            sa.select(_o.c.id)
            .where(_o.c.published_at.is_not(None), _o.c.published_at < db_now_plus(-retention))
            .order_by(_o.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        rows = await self._db.fetch_all(_o.delete().where(_o.c.id.in_(expired)).returning(_o.c.id))
        return len(rows)

    async def backlog(self) -> Backlog:
        waiting = _o.c.published_at.is_(None)
        async with unavailable_as_storage_error():
            row = await self._db.fetch_one(
                sa.select(
                    sa.func.count().filter(_o.c.parked_at.is_(None)),
                    sa.func.min(_o.c.created_at).filter(_o.c.parked_at.is_(None)),
                    sa.func.count().filter(_o.c.parked_at.is_not(None)),
                ).where(waiting)
            )
        assert row is not None
        return Backlog(
            pending=int(row[0]),
            oldest_pending_created_at=read_timestamp(row[1]),
            parked=int(row[2]),
        )


def encode_headers(headers: dict[str, str]) -> str:
    """Headers as stored: compact JSON with sorted keys."""
    return json.dumps(headers, separators=(",", ":"), sort_keys=True)


def outbox_row(message: OutboxMessage) -> dict[str, Any]:
    """The outbox row's values for `message`, as every writer of the outbox stores them."""
    return {
        "event_id": message.event_id,
        "aggregate_type": message.aggregate_type,
        "aggregate_id": message.aggregate_id,
        "event_type": message.event_type,
        "topic": message.topic,
        "message_key": message.key,
        "key_hash": key_hash(message.key),
        # The exact bytes to publish; every value is JSON, hence valid UTF-8.
        "payload": message.payload.decode("utf-8"),
        "headers": encode_headers(message.headers),
        "created_at": message.created_at,
        "traceparent": message.traceparent,
        "tracestate": message.tracestate,
    }


class DatabaseOutbox:
    """Outbox writes of a unit of work, held for its commit.

    A message is claimed for `owner`'s fast path when one is given and nothing older of its
    key is pending; the unit of work hands the claimed ones over once it has committed."""

    def __init__(
        self,
        writes: Writes,
        *,
        owner: str | None,
        claim_ttl: timedelta,
        current_context: Callable[[], tuple[str | None, str | None]] = trace_context.current,
    ) -> None:
        self._writes = writes
        self._current_context = current_context
        self._owner = owner
        self._claim_seconds = claim_ttl.total_seconds()
        self.claimed: list[OutboxMessage] = []

    async def add(self, message: OutboxMessage) -> None:
        # The message's creation context: the span current as it is written (the sign-up's
        # request, the command's handling), whenever it is published. None while tracing
        # is off: nothing stored, nothing sent.
        traceparent, tracestate = self._current_context()
        if traceparent is not None:
            message = dataclasses.replace(message, traceparent=traceparent, tracestate=tracestate)
        values = outbox_row(message)
        if self._owner is None:
            await self._writes.submit(Write(_INSERT_UNCLAIMED, values))
            return
        # Only when nothing older is pending for this key may the creating worker publish
        # it at once: otherwise it would overtake the older event. One statement decides
        # and inserts (the check sees the table as it was before this row), and says which.
        values.update(
            key_topic=message.topic,
            key_value=message.key,
            claimed_by=self._owner,
            claim_seconds=self._claim_seconds,
        )

        def claimed(row: Any) -> None:
            if row is not None and row[0] is not None:
                self.claimed.append(message)

        write = Write(_INSERT_CLAIMED_UNLESS_KEY_PENDING, values, returned=claimed)
        await self._writes.submit(write)


_oc = schema.outbox.c
_COLUMNS = (
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "topic",
    "message_key",
    "key_hash",
    "payload",
    "headers",
    "created_at",
    "traceparent",
    "tracestate",
)


def _columns(prefix: str) -> dict[str, Any]:
    return {c: sa.bindparam(prefix + c, type_=schema.outbox.c[c].type) for c in _COLUMNS}


def _insert_claimed_unless_key_pending(prefix: str) -> sa.Insert:
    older = schema.outbox.alias("older")
    key_free = ~(
        sa.select(older.c.id)
        .where(
            older.c.topic == sa.bindparam(prefix + "key_topic", type_=_oc.topic.type),
            older.c.message_key == sa.bindparam(prefix + "key_value", type_=_oc.message_key.type),
        )
        .where(older.c.published_at.is_(None))
        .exists()
    )
    claim_seconds = sa.bindparam(prefix + "claim_seconds", type_=sa.Float)
    return (
        schema.outbox.insert()
        .values(
            {
                **_columns(prefix),
                "claimed_by": sa.case(
                    # Cast: PostgreSQL infers a bare CASE parameter as text, not varchar.
                    (key_free, sa.cast(sa.bindparam(prefix + "claimed_by"), _oc.claimed_by.type)),
                    else_=None,
                ),
                "claimed_until": sa.case((key_free, db_now_plus(claim_seconds)), else_=None),
            }
        )
        .returning(_oc.claimed_by)
    )


_INSERT_UNCLAIMED = Template(lambda prefix: schema.outbox.insert().values(_columns(prefix)))
_INSERT_CLAIMED_UNLESS_KEY_PENDING = Template(_insert_claimed_unless_key_pending)
