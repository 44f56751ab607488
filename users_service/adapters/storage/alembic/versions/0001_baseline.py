"""Baseline: the schema as the pre-Alembic migrations left it (their version 5).

Revision ID: 0001
Revises:
Created: 2026-11-29

Frozen: these operations are written out, never derived from today's tables. A database
built by the old migrations is stamped at this revision instead of running it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schema_migrations",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("applied_at", UTC_DATETIME, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("nombre", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(60), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.UniqueConstraint("email", name="users_email_key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("aggregate_type", sa.String(50), nullable=False),
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("published_at", UTC_DATETIME, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", UTC_DATETIME, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    unpublished = sa.text("published_at IS NULL")
    claimed = sa.text("claimed_until IS NOT NULL AND published_at IS NULL")
    op.create_index(
        "outbox_pending_idx",
        "outbox",
        ["id"],
        postgresql_where=unpublished,
        sqlite_where=unpublished,
    )
    op.create_index("outbox_published_at_idx", "outbox", ["published_at"])
    op.create_index("outbox_key_idx", "outbox", ["topic", "message_key"])
    op.create_index(
        "outbox_claimed_idx",
        "outbox",
        ["topic", "message_key"],
        postgresql_where=claimed,
        sqlite_where=claimed,
    )
    op.create_table(
        "outbox_relay_leases",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=True),
        sa.Column("expires_at", UTC_DATETIME, nullable=True),
    )
    op.create_table(
        "event_verifications",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("aggregate_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("verified_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("event_verifications_aggregate_idx", "event_verifications", ["aggregate_id"])
    op.create_table(
        "processed_commands",
        sa.Column("command_id", sa.String(36), primary_key=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("code", sa.String(50), nullable=True),
        sa.Column("processed_at", UTC_DATETIME, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "processed_commands",
        "event_verifications",
        "outbox_relay_leases",
        "outbox",
        "users",
        "schema_migrations",
    ):
        op.drop_table(table)
