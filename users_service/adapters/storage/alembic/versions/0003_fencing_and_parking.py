"""A generation on the relay lease (a fencing token), and parked outbox rows.

Revision ID: 0003
Revises: 0002
Created: 2026-11-29

Frozen: written out, never derived from today's tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Incremented whenever the lease changes hands: a relay's marks carry the generation
    # it held, and count only while it still holds it.
    op.add_column(
        "outbox_relay_leases",
        sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
    )
    # A row that kept failing for reasons of its own is set aside here, out of the relay's
    # way, until an operator puts it back.
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parked_at")
    with op.batch_alter_table("outbox_relay_leases") as batch:
        batch.drop_column("generation")
