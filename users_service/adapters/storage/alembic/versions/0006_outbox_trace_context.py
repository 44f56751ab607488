"""Outbox trace context: the W3C `traceparent`/`tracestate` a message was created in.

Revision ID: 0006
Revises: 0005
Created: 2026-12-03

Frozen: written out, never derived from today's tables. Nullable: rows written while
tracing is off (and every row before this) carry none, and are published without one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        # W3C limits: traceparent is 55 characters in version 00; tracestate at most 512.
        batch.add_column(sa.Column("traceparent", sa.String(55), nullable=True))
        batch.add_column(sa.Column("tracestate", sa.String(512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("tracestate")
        batch.drop_column("traceparent")
