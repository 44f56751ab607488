"""Erasure: the record of erased users, their ids and times only.

Revision ID: 0005
Revises: 0004
Created: 2026-12-03

Frozen: written out, never derived from today's tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_users",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("erased_users_erased_at_idx", "erased_users", ["erased_at"])


def downgrade() -> None:
    op.drop_index("erased_users_erased_at_idx", table_name="erased_users")
    op.drop_table("erased_users")
