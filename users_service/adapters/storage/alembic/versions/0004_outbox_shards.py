"""Outbox shards: a stable hash of each row's key, and longer lease names.

Revision ID: 0004
Revises: 0003
Created: 2026-11-29

Frozen: written out, never derived from today's tables.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 1000


def _key_hash(key: str) -> int:
    # As users_service.domain.sharding.key_hash on the day this was written.
    return zlib.crc32(key.encode("utf-8")) & 0x7FFFFFFF


def upgrade() -> None:
    op.add_column("outbox", sa.Column("key_hash", sa.Integer, nullable=False, server_default="0"))
    # Rows still waiting get their real hash, so a key's old and new rows share a shard.
    # Published rows are never read by a relay again: they keep 0.
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.BigInteger),
        sa.column("message_key", sa.String),
        sa.column("key_hash", sa.Integer),
        sa.column("published_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    last = -1
    while True:
        rows = connection.execute(
            sa.select(outbox.c.id, outbox.c.message_key)
            .where(outbox.c.published_at.is_(None), outbox.c.id > last)
            .order_by(outbox.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            outbox.update()
            .where(outbox.c.id == sa.bindparam("row_id"))
            .values(key_hash=sa.bindparam("hash")),
            [{"row_id": row_id, "hash": _key_hash(key)} for row_id, key in rows],
        )
        last = rows[-1][0]
    with op.batch_alter_table("outbox_relay_leases") as batch:
        batch.alter_column("name", type_=sa.String(150), existing_type=sa.String(50))


def downgrade() -> None:
    op.execute("DELETE FROM outbox_relay_leases WHERE name <> 'outbox-relay'")
    with op.batch_alter_table("outbox_relay_leases") as batch:
        batch.alter_column("name", type_=sa.String(50), existing_type=sa.String(150))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("key_hash")
